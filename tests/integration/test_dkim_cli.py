"""DKIM, SPF and DMARC through the real binary (issue 7), cross-checked with
an independent implementation, Debian's python3-dkim (dkimpy):

- `postern dkim keygen` keys, published in a dnsmasq on loopback, verify
  messages that `postern dkim sign` signed, read by dkimpy over DNS;
- messages dkimpy signed verify with `postern dkim verify` (the daemon's
  asynchronous resolver driven to completion), including a body changed
  after signing (fail) and re-folded headers (relaxed pass, simple fail);
- SPF pass, fail, softfail, neutral, none, temperror, permerror and a
  record with too many lookups; DMARC pass and fail under p=none,
  quarantine and reject; `postern check` loading the keys.

Every name lives under .test, which the dnsmasq answers alone (--local):
unknown names are NXDOMAIN; names under .invalid are REFUSED (temperror).
"""
import base64
import pwd
import re
import stat
import subprocess

import dkim
import dnslib
import pytest
from cryptography.hazmat.primitives import serialization

from conftest import BIN
from relay_env import Dns

MESSAGE = (b"From: Alice <alice@example.test>\r\n"
           b"To: Bob <bob@example.net>\r\n"
           b"Subject: the plan\r\n"
           b"Date: Thu, 26 Nov 2026 12:00:00 +0000\r\n"
           b"Message-ID: <plan-1@example.test>\r\n"
           b"MIME-Version: 1.0\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\n"
           b"\r\n"
           b"Meet at noon.\r\n"
           b"\r\n"
           b"-- \r\n"
           b"Alice\r\n")


def run(args, conf=None, stdin=b"", check=False):
    cmd = [BIN] + (["-c", str(conf)] if conf else []) + args
    r = subprocess.run(cmd, input=stdin, capture_output=True, timeout=60)
    for marker in (b"ERROR: AddressSanitizer", b"runtime error:", b"ERROR: LeakSanitizer"):
        assert marker not in r.stderr, r.stderr.decode(errors="replace")
    if check:
        assert r.returncode == 0, r.stderr.decode(errors="replace")
    return r


def keygen(d, domain, selector, kind):
    r = run(["dkim", "keygen", domain, selector, "--type", kind, "--dir", str(d)], check=True)
    line = r.stdout.decode().strip()
    name, rest = line.split(" IN TXT ", 1)
    assert name == f"{selector}._domainkey.{domain}."
    strings = re.findall(r'"([^"]*)"', rest)
    assert all(len(s) <= 255 for s in strings)
    key = d / f"{domain}.{selector}.key"
    # Run by root (as the tests are): readable by the service user's group,
    # so the daemon can read it again on SIGHUP after dropping root.
    st = key.stat()
    assert stat.S_IMODE(st.st_mode) == 0o640 and st.st_uid == 0
    assert st.st_gid == pwd.getpwnam("postern").pw_gid
    assert f"{domain} = {selector}:" in r.stderr.decode()
    return key, strings


def txt_arg(name, strings):
    """A dnsmasq --txt-record for a record made of these character-strings
    (dnsmasq would keep quotes given outside a configuration file; no
    string here holds a comma)."""
    assert not any("," in s for s in strings)
    return f"--txt-record={name}," + ",".join(strings)


class World:
    """Keys for example.test (rsa and ed25519 selectors, plus the extra
    records given), the records of the SPF and DMARC cases, a dnsmasq
    serving them and two configurations (signing with rsa, with ed)."""

    def __init__(self, workdir, extra_records):
        self.dir = workdir
        self.rsa_key, rsa_txt = keygen(workdir, "example.test", "rsa", "rsa")
        self.ed_key, ed_txt = keygen(workdir, "example.test", "ed", "ed25519")
        self.records = {"rsa._domainkey.example.test": rsa_txt,
                        "ed._domainkey.example.test": ed_txt,
                        "_dmarc.example.test": ["v=DMARC1; p=reject"],
                        "pass.spf.test": ["v=spf1 ip4:192.0.2.0/24 -all"],
                        "fail.spf.test": ["v=spf1 -all"],
                        "soft.spf.test": ["v=spf1 ~all"],
                        "neutral.spf.test": ["v=spf1 ?all"],
                        "perm.spf.test": ["v=spf1 ip4:192.0.2.300 -all"],
                        "mx.spf.test": ["v=spf1 mx a:a.spf.test -all"],
                        "many.spf.test": ["v=spf1 " + " ".join(f"include:i{i}.spf.test"
                                                               for i in range(11)) + " -all"],
                        "none.dmarc.test": ["v=spf1 -all"],
                        "_dmarc.none.dmarc.test": ["v=DMARC1; p=none"],
                        "quar.dmarc.test": ["v=spf1 -all"],
                        "_dmarc.quar.dmarc.test": ["v=DMARC1; p=quarantine"],
                        "rej.dmarc.test": ["v=spf1 ip4:192.0.2.1 -all"],
                        "_dmarc.dmarc.test": ["v=DMARC1; p=reject; sp=reject"]}
        for i in range(11):
            self.records[f"i{i}.spf.test"] = ["v=spf1 ?all"]
        for name, txt in extra_records.items():
            # dnsmasq splits nothing itself: long records go as 255-octet strings.
            self.records[name] = [txt[i:i + 255] for i in range(0, len(txt), 255)]
        args = ["--local=/test/", "--mx-host=mx.spf.test,mail.spf.test,10",
                "--address=/mail.spf.test/198.51.100.25", "--address=/a.spf.test/203.0.113.9"]
        args += [txt_arg(n, s) for n, s in self.records.items()]
        self.dns = Dns(workdir, args)
        self.conf = workdir / "postern.conf"
        self.conf.write_text(
            "[server]\nhostname = mx.example.test\n"
            f"data_dir = {workdir}/data\n"
            "[listen]\nsmtp = 127.0.0.1:2525\n"
            "[domains]\nlocal = example.test\n"
            f"[relay]\nresolver = {self.dns.server}\ndns_timeout = 5s\n"
            "[dkim]\n"
            f"example.test = rsa:{self.rsa_key.name}\n")
        (workdir / "users").write_text("")
        self.ed_conf = workdir / "ed.conf"
        self.ed_conf.write_text(self.conf.read_text().replace(
            f"rsa:{self.rsa_key.name}", f"ed:{self.ed_key.name}"))

    def dnsfunc(self, name, timeout=5):
        """dkimpy's key lookup, asked of the test dnsmasq with dnslib."""
        name = name.decode() if isinstance(name, bytes) else name
        q = dnslib.DNSRecord.question(name.rstrip("."), "TXT")
        reply = dnslib.DNSRecord.parse(q.send("127.0.0.1", self.dns.port, timeout=timeout))
        for rr in reply.rr:
            if rr.rtype == dnslib.QTYPE.TXT:
                return b"".join(rr.rdata.data)
        return b""

    def verify(self, msg, *extra, conf=None):
        r = run(["dkim", "verify", *extra], conf=conf or self.conf, stdin=msg)
        out = r.stdout.decode()
        assert "Authentication-Results: mx.example.test;" in out, r.stderr
        return r.returncode, out


def dkimpy_keypair(kind):
    """A key for dkimpy to sign with, and the record that publishes it."""
    if kind == "rsa":
        from cryptography.hazmat.primitives.asymmetric import rsa
        k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        priv = k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption())
        pub = k.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
        return priv, "v=DKIM1; k=rsa; p=" + base64.b64encode(pub).decode()
    from cryptography.hazmat.primitives.asymmetric import ed25519
    k = ed25519.Ed25519PrivateKey.generate()
    raw = k.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                          serialization.NoEncryption())
    pub = k.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw), "v=DKIM1; k=ed25519; p=" + base64.b64encode(pub).decode()


@pytest.fixture(scope="module")
def py_keys():
    return {"rsa": dkimpy_keypair("rsa"), "ed25519": dkimpy_keypair("ed25519")}


@pytest.fixture
def world(workdir, py_keys):
    w = World(workdir, {f"py{kind}._domainkey.example.test": txt
                        for kind, (_, txt) in py_keys.items()})
    yield w
    w.dns.stop()


def test_keygen_refuses_bad_input(workdir):
    keygen(workdir, "example.test", "s1", "ed25519")
    r = run(["dkim", "keygen", "example.test", "s1", "--type", "ed25519", "--dir", str(workdir)])
    assert r.returncode == 1 and b"File exists" in r.stderr
    for args in (["example.test"], ["localhost", "s"], ["example.test", "bad selector"],
                 ["example.test", "s", "--type", "dsa"]):
        r = run(["dkim", "keygen", *args, "--dir", str(workdir)])
        assert r.returncode == 1, args


@pytest.mark.parametrize("conf_name", ["conf", "ed_conf"])
def test_postern_signs_dkimpy_verifies(world, conf_name):
    conf = getattr(world, conf_name)
    r = run(["dkim", "sign", "example.test"], conf=conf, stdin=MESSAGE, check=True)
    signed = r.stdout
    assert signed.startswith(b"DKIM-Signature: v=1; a=")
    assert signed.endswith(MESSAGE)
    assert dkim.verify(signed, dnsfunc=world.dnsfunc)
    # Independent checks of what dkimpy saw: relaxed/relaxed, From oversigned.
    sig = dkim.DKIM(signed)
    assert sig.verify(dnsfunc=world.dnsfunc)
    tags = dict(dkim.util.parse_tag_value(
        signed.split(b"\r\n\r\n")[0].split(b"DKIM-Signature:", 1)[1].split(b"\r\nFrom:")[0]))
    assert tags[b"c"] == b"relaxed/relaxed"
    assert tags[b"h"].replace(b" ", b"").replace(b"\r\n\t", b"").split(b":").count(b"from") == 2
    # Tampering is seen by dkimpy too; our own verify agrees.
    assert not dkim.verify(signed.replace(b"noon", b"one"), dnsfunc=world.dnsfunc)
    rc, out = world.verify(signed, conf=conf)
    assert rc == 0 and "dkim=pass d=example.test" in out
    # Bare-LF input is signed the same and printed with LF.
    r = run(["dkim", "sign", "example.test"], conf=conf, stdin=MESSAGE.replace(b"\r\n", b"\n"),
            check=True)
    assert b"\r" not in r.stdout
    assert dkim.verify(r.stdout.replace(b"\n", b"\r\n"), dnsfunc=world.dnsfunc)


def test_sign_without_a_key_for_the_domain(world):
    r = run(["dkim", "sign", "other.test"], conf=world.conf, stdin=MESSAGE)
    assert r.returncode == 1 and b"no [dkim] key for other.test" in r.stderr


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
@pytest.mark.parametrize("canon", [b"relaxed", b"simple"])
def test_dkimpy_signs_postern_verifies(world, py_keys, kind, canon):
    priv, _ = py_keys[kind]
    sig = dkim.sign(MESSAGE, f"py{kind}".encode(), b"example.test", priv,
                    canonicalize=(canon, canon),
                    signature_algorithm=b"ed25519-sha256" if kind == "ed25519" else b"rsa-sha256")
    msg = sig + MESSAGE
    assert dkim.verify(msg, dnsfunc=world.dnsfunc)
    rc, out = world.verify(msg)
    assert rc == 0, out
    assert f"dkim=pass d=example.test s=py{kind}" in out
    assert "dmarc=pass (p=reject dis=none) header.from=example.test" in out
    # The body changed after signing: fail, and DMARC fails with it.
    rc, out = world.verify(msg.replace(b"Meet at noon.", b"Meet at one."))
    assert rc == 1 and "dkim=fail" in out and "body hash mismatch" in out
    assert "dmarc=fail (p=reject dis=reject)" in out
    # Headers re-folded and re-spaced: relaxed passes, simple does not.
    refolded = msg.replace(b"Subject: the plan", b"Subject:   the\r\n\t plan ")
    refolded = refolded.replace(b"To: Bob <bob@example.net>", b"TO:\tBob\r\n <bob@example.net>")
    rc, out = world.verify(refolded)
    if canon == b"relaxed":
        assert rc == 0 and "dkim=pass" in out, out
        assert dkim.verify(refolded, dnsfunc=world.dnsfunc)
    else:
        assert rc == 1 and "signature mismatch" in out, out


def test_dkim_key_problems(world, py_keys):
    priv, _ = py_keys["ed25519"]
    for selector, want in ((b"missing", "dkim=permerror"), (b"py_ed", "dkim=permerror")):
        msg = dkim.sign(MESSAGE, selector, b"example.test", priv,
                        signature_algorithm=b"ed25519-sha256") + MESSAGE
        rc, out = world.verify(msg)
        assert rc == 1 and want in out, out
    # A signing domain outside .test: the dnsmasq refuses, so temperror.
    msg = dkim.sign(MESSAGE.replace(b"alice@example.test", b"alice@example.invalid"), b"s",
                    b"example.invalid", priv, signature_algorithm=b"ed25519-sha256")
    rc, out = world.verify(msg + MESSAGE.replace(b"alice@example.test", b"alice@example.invalid"))
    assert rc == 1 and "dkim=temperror" in out and "dmarc=temperror" in out, out
    rc, out = world.verify(MESSAGE)
    assert rc == 1 and "dkim=none" in out


def spf(world, sender, ip="192.0.2.1", helo="client.example.test"):
    rc, out = world.verify(MESSAGE, "--ip", ip, "--helo", helo, "--mail-from", sender)
    m = re.search(r"spf=(\w+)", out)
    assert m, out
    return m.group(1), out


def test_spf_results(world):
    assert spf(world, "joe@pass.spf.test")[0] == "pass"
    assert spf(world, "joe@pass.spf.test", ip="198.51.100.1")[0] == "fail"
    assert spf(world, "joe@fail.spf.test")[0] == "fail"
    assert spf(world, "joe@soft.spf.test")[0] == "softfail"
    assert spf(world, "joe@neutral.spf.test")[0] == "neutral"
    assert spf(world, "joe@nothing.spf.test")[0] == "none"
    assert spf(world, "joe@example.invalid")[0] == "temperror"
    assert spf(world, "joe@perm.spf.test")[0] == "permerror"
    result, out = spf(world, "joe@many.spf.test")
    assert result == "permerror" and "more than 10 DNS lookups" in out
    assert spf(world, "joe@mx.spf.test", ip="198.51.100.25")[0] == "pass"
    assert spf(world, "joe@mx.spf.test", ip="203.0.113.9")[0] == "pass"
    assert spf(world, "joe@mx.spf.test", ip="2001:db8::1")[0] == "fail"
    # The null sender: HELO is checked.
    result, out = spf(world, "", helo="pass.spf.test")
    assert result == "pass" and "smtp.helo=pass.spf.test" in out


def dmarc(world, domain, ip="192.0.2.1"):
    msg = MESSAGE.replace(b"alice@example.test", f"alice@{domain}".encode())
    rc, out = world.verify(msg, "--ip", ip, "--helo", "client.example.test",
                           "--mail-from", f"bounce@{domain}")
    m = re.search(r"dmarc=(\w+)( \(p=(\w+) dis=(\w+)\))?", out)
    assert m, out
    return m.group(1), m.group(3), m.group(4)


def test_dmarc_results(world):
    # Aligned SPF pass, under p=reject.
    assert dmarc(world, "rej.dmarc.test") == ("pass", "reject", "none")
    # Failures under each policy; sp= of the organizational domain's record
    # applies to a subdomain without its own.
    assert dmarc(world, "none.dmarc.test") == ("fail", "none", "none")
    assert dmarc(world, "quar.dmarc.test") == ("fail", "quarantine", "quarantine")
    assert dmarc(world, "rej.dmarc.test", ip="198.51.100.1") == ("fail", "reject", "reject")
    assert dmarc(world, "sub.rej.dmarc.test", ip="198.51.100.1") == ("fail", "reject", "reject")
    assert dmarc(world, "no-dmarc.spf.test")[0] == "none"


def test_check_loads_the_keys(world):
    r = run(["check"], conf=world.conf, check=True)
    assert b"1 DKIM key" in r.stdout
    bad = world.dir / "bad.conf"
    bad.write_text(world.conf.read_text().replace(f"rsa:{world.rsa_key.name}", "rsa:postern.conf"))
    r = run(["check"], conf=bad)
    assert r.returncode == 1
    line = bad.read_text().splitlines().index("example.test = rsa:postern.conf") + 1
    assert f"bad.conf:{line}: [dkim] example.test:".encode() in r.stderr
