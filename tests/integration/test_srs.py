"""SRS (Sender Rewriting Scheme) through the real binary: mail that an
alias or catch-all forwards to another domain goes out with the sender
rewritten to SRS0=HHHH=TT=domain=local@<srs_domain>, so the next hop's SPF
sees us; a bounce to that address comes back and is relayed to the
original sender; forged, altered or expired SRS addresses are refused.

The next hop (mx.remote.test, 127.0.0.2) and the original sender's server
(mx.origin.test, 127.0.0.3) are scripted SMTP servers; the hash is checked
here against our own implementation of the scheme with the daemon's
secret, read from data_dir/srs.secret."""
import base64
import hashlib
import hmac
import os
import pwd
import smtplib
import subprocess
import time

from conftest import BIN, Raw, restart, wait_until
from relay_env import host_records, relay, send  # noqa: F401

B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
FWD = "fwd@example.test: a@remote.test"
CATCH_ALL = "@example.org: b@remote.test"


def world(relay, settings=None, aliases=(FWD, CATCH_ALL)):
    relay.start_dns("--mx-host=remote.test,mx.remote.test,10",
                    host_records("mx.remote.test", "127.0.0.2"),
                    "--mx-host=origin.test,mx.origin.test,10",
                    host_records("mx.origin.test", "127.0.0.3"))
    nxt = relay.peer("127.0.0.2")
    origin = relay.peer("127.0.0.3")
    p = relay.postern(settings, aliases=list(aliases))
    return nxt, origin, p


def secret(p):
    return (p.data_dir / "srs.secret").read_bytes().rstrip(b"\r\n")


def srs_hash(key, *fields):
    data = b"".join(f.lower().encode() + b"\0" for f in fields)
    return base64.b64encode(hmac.new(key, data, hashlib.sha256).digest())[:4].decode()


def srs0(key, sender, srs_domain, day=None):
    local, domain = sender.rsplit("@", 1)
    day = int(time.time()) // 86400 % 1024 if day is None else day % 1024
    tt = B32[day >> 5] + B32[day & 31]
    return f"SRS0={srs_hash(key, 'SRS0', tt, domain, local)}={tt}={domain}={local}@{srs_domain}"


def forward_one(p, nxt, sender="sender@origin.test", rcpt="fwd@example.test"):
    n = len(nxt.transactions)
    with smtplib.SMTP("127.0.0.1", p.port, timeout=10) as s:
        s.sendmail(sender, [rcpt], b"Subject: fwd\r\n\r\nforwarded\r\n")
    nxt.wait_transactions(n + 1, log=p.log)
    return nxt.transactions[n]


def bounce_to(p, addr, sender=""):
    """A DSN-like message to addr from the null sender; the RCPT reply."""
    with Raw(p.port) as c:
        c.ehlo()
        c.expect(f"MAIL FROM:<{sender}>", 250)
        code, text = c.cmd(f"RCPT TO:<{addr}>")
        if code == 250:
            c.expect("DATA", 354)
            c.send(b"Subject: Undelivered Mail\r\n\r\nbounce\r\n.\r\n")
            assert c.reply()[0] == 250
        return code, text.decode()


def test_alias_forward_rewrites_the_sender_and_bounce_returns(relay):
    nxt, origin, p = world(relay)
    tx = forward_one(p, nxt)
    assert tx.rcpts == ["a@remote.test"]
    key = secret(p)
    # srs_domain defaults to the first local domain.
    assert tx.mail_from == srs0(key, "sender@origin.test", "example.test"), tx.mail_from
    wait_until(lambda: p.queue_ids() == [], what=p.log())
    # The next hop bounces to the SRS address: it reaches the original sender.
    code, text = bounce_to(p, tx.mail_from)
    assert code == 250, text
    [back] = origin.wait_transactions(1, log=p.log)
    assert back.rcpts == ["sender@origin.test"] and back.mail_from == ""
    assert b"bounce" in back.message
    assert "event=srs_reverse" in p.log()


def test_catch_all_forward_is_rewritten(relay):
    nxt, origin, p = world(relay)
    tx = forward_one(p, nxt, sender="Mixed.Case@origin.test", rcpt="anything@example.org")
    assert tx.rcpts == ["b@remote.test"]
    assert tx.mail_from == srs0(secret(p), "Mixed.Case@origin.test", "example.test")
    # The case of the original local part survives the round trip.
    assert bounce_to(p, tx.mail_from)[0] == 250
    [back] = origin.wait_transactions(1, log=p.log)
    assert back.rcpts == ["Mixed.Case@origin.test"]


def test_null_and_local_senders_are_not_rewritten(relay):
    nxt, origin, p = world(relay)
    assert forward_one(p, nxt, sender="").mail_from == ""
    assert forward_one(p, nxt, sender="alice@example.test").mail_from == "alice@example.test"


def test_forged_altered_and_expired_addresses_are_refused(relay):
    nxt, origin, p = world(relay)
    good = forward_one(p, nxt).mail_from
    key = secret(p)
    h = good.split("=")[1]
    other = ("x" if h[0] != "x" else "y") + h[1:]
    cases = {
        good.replace(h, other, 1): "wrong hash",
        good.replace("=origin.test=", "=evil.test=", 1): "wrong hash",
        srs0(b"not the secret, but long enough", "sender@origin.test", "example.test"): "wrong hash",
        srs0(key, "sender@origin.test", "example.test",
             day=int(time.time()) // 86400 - 22): "expired",
        "SRS0=abcd@example.test": "malformed",
        "SRS0=abcd=AA=@example.test": "malformed",
    }
    for addr, why in cases.items():
        code, text = bounce_to(p, addr)
        assert code == 550 and text.startswith("5.1.1") and why in text, (addr, code, text)
    # Only 21 days: the same address 21 days old is still good.
    old = srs0(key, "sender@origin.test", "example.test", day=int(time.time()) // 86400 - 21)
    assert bounce_to(p, old)[0] == 250
    # The hash is compared without regard to case (MTAs may fold it).
    local, dom = good.rsplit("@", 1)
    assert bounce_to(p, local.upper() + "@" + dom)[0] == 250
    origin.wait_transactions(2, log=p.log)
    assert "reason=srs_invalid" in p.log()


def test_secret_is_made_once_private_and_kept(relay):
    nxt, origin, p = world(relay)
    path = p.data_dir / "srs.secret"
    st = os.stat(path)
    assert st.st_mode & 0o777 == 0o600
    assert st.st_uid == pwd.getpwnam("postern").pw_uid
    key = secret(p)
    assert len(key) >= 32
    addr = forward_one(p, nxt).mail_from
    p.stop()
    restart(p)
    assert secret(p) == key  # kept across restarts
    assert bounce_to(p, addr)[0] == 250  # addresses handed out before still work
    origin.wait_transactions(1, log=p.log)


def test_srs_domain_outside_the_local_domains(relay):
    # Its MX points here; it need not be a mailbox domain.
    nxt, origin, p = world(relay, {"relay": {"srs_domain": "bounces.example.net"}})
    tx = forward_one(p, nxt)
    assert tx.mail_from.endswith("=origin.test=sender@bounces.example.net")
    assert bounce_to(p, tx.mail_from)[0] == 250
    origin.wait_transactions(1, log=p.log)
    # Other addresses there are still refused as relaying.
    assert bounce_to(p, "someone@bounces.example.net")[0] == 554


def test_srs_off(relay):
    nxt, origin, p = world(relay, {"relay": {"srs": "no"}})
    assert forward_one(p, nxt).mail_from == "sender@origin.test"
    code, text = bounce_to(p, srs0(b"x" * 32, "sender@origin.test", "example.test"))
    assert code == 550  # an ordinary unknown user of example.test


def test_check_validates_srs_keys(make_postern):
    for key, value in [("srs", "maybe"), ("srs_domain", "not a domain"), ("srs_domain", "nodot")]:
        p = make_postern({"relay": {key: value}}, start=False, subdir=f"c-{key}-{len(value)}")
        r = subprocess.run([BIN, "-c", str(p.conf_path), "check"], capture_output=True, text=True)
        assert r.returncode == 1, (key, value, r.stderr)
        lines = p.conf_path.read_text().splitlines()
        n = next(i + 1 for i, line in enumerate(lines) if line.startswith(f"{key} = "))
        assert f"postern.conf:{n}: [relay] {key}:" in r.stderr, r.stderr
