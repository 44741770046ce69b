"""Issue 7 through the running daemon: what Postern signs, independent
verifiers accept (python3-dkim); what others sign, Postern checks on port 25
with keys, SPF and DMARC records served by a dnsmasq on loopback, and the
results land in an Authentication-Results field (forged ones are removed)."""
import email
import smtplib

import dkim
import pytest

from conftest import Raw, wait_until
from relay_env import Dns
from test_dkim_cli import keygen, txt_arg
from tlsenv import PASSWORDS, client_context, submission_server

ALICE, BOB = "alice@example.test", "bob@example.test"


def crlf(maildir_bytes):
    """A delivered copy as it was on the wire: CRLF lines, our trace fields
    (Return-Path, Delivered-To) dropped, since nobody signs those."""
    lines = maildir_bytes.split(b"\n")
    while lines and lines[0].startswith((b"Return-Path:", b"Delivered-To:")):
        lines.pop(0)
    return b"\r\n".join(lines)


@pytest.fixture
def world(workdir):
    """Keys (ours for example.test, a remote sender's for remote.test made
    with python3-dkim's own RSA code via postern's keygen output) and DNS."""
    ours, ours_txt = keygen(workdir, "example.test", "sel", "rsa")
    theirs, theirs_txt = keygen(workdir, "remote.test", "r1", "rsa")
    records = {
        "sel._domainkey.example.test": ours_txt,
        "r1._domainkey.remote.test": theirs_txt,
        # 127.0.0.1 (the tests' client) may send for remote.test; not for bad.test.
        "remote.test": ["v=spf1 ip4:127.0.0.1 -all"],
        "_dmarc.remote.test": ["v=DMARC1; p=reject"],
        "bad.test": ["v=spf1 ip4:192.0.2.1 -all"],
        "_dmarc.bad.test": ["v=DMARC1; p=reject"],
        "lax.test": ["v=spf1 ip4:192.0.2.1 -all"],
        "_dmarc.lax.test": ["v=DMARC1; p=none"],
    }
    dns = Dns(workdir, ["--local=/test/"] + [txt_arg(n, s) for n, s in records.items()])
    yield {"dns": dns, "ours": ours, "theirs": theirs, "records": records}
    dns.stop()


def txt_of(world, name):
    name = name.decode() if isinstance(name, bytes) else name
    return "".join(world["records"][name.rstrip(".")]).encode()


def make_server(make_postern, workdir, world, extra=None):
    key = world["ours"]
    key.chmod(0o644)  # read before the privilege drop anyway; test files only
    settings = {"relay": {"resolver": world["dns"].server, "dns_timeout": "3s"},
                "dkim": {"example.test": f"sel:{key}"},
                "mailauth": {"checks": "yes"}}
    for section, values in (extra or {}).items():
        settings.setdefault(section, {}).update(values)
    return submission_server(make_postern, workdir, settings)


def test_submitted_mail_is_signed_and_python_dkim_verifies_it(make_postern, workdir, world):
    p = make_server(make_postern, workdir, world)
    with smtplib.SMTP_SSL("127.0.0.1", p.subs_port, timeout=10, context=client_context(p.ca)) as s:
        s.login(ALICE, PASSWORDS[ALICE])
        s.sendmail(ALICE, [BOB], b"From: Alice <alice@example.test>\r\nTo: bob@example.test\r\n"
                                 b"Subject: signed\r\n\r\nHello Bob.\r\n")
    [got] = p.wait_messages(BOB, 1)
    m = email.message_from_bytes(got)
    sig = m["DKIM-Signature"]
    assert sig and "d=example.test" in sig and "s=sel" in sig and "a=rsa-sha256" in sig
    assert dkim.verify(crlf(got), dnsfunc=lambda name, timeout=5: txt_of(world, name))
    # Tampering breaks it: the verifier is not a rubber stamp.
    assert not dkim.verify(crlf(got).replace(b"Hello Bob.", b"Hello Eve."),
                           dnsfunc=lambda name, timeout=5: txt_of(world, name))


def test_sendmail_mail_is_signed_too(make_postern, workdir, world):
    import os
    import subprocess

    from conftest import BIN
    p = make_server(make_postern, workdir, world)
    r = subprocess.run([BIN, "sendmail", "-f", ALICE, BOB], input=b"From: alice@example.test\n"
                       b"Subject: cron\n\nfrom a script\n", capture_output=True,
                       env=dict(os.environ, POSTERN_CONF=str(p.conf_path)))
    assert r.returncode == 0, r.stderr
    [got] = p.wait_messages(BOB, 1)
    assert b"DKIM-Signature:" in got
    assert dkim.verify(crlf(got), dnsfunc=lambda name, timeout=5: txt_of(world, name))


def signed_by_them(world, body=b"Remote body.\r\n", frm=b"carol@remote.test"):
    msg = (b"From: " + frm + b"\r\nTo: bob@example.test\r\nSubject: from afar\r\n\r\n" + body)
    sig = dkim.sign(msg, b"r1", b"remote.test", world["theirs"].read_bytes(),
                    canonicalize=(b"relaxed", b"relaxed"), include_headers=[b"from", b"to", b"subject"])
    return sig + msg


def send25(p, sender, msg):
    with smtplib.SMTP("127.0.0.1", p.port, timeout=20) as s:
        s.ehlo("mail.remote.test")
        return s.sendmail(sender, [BOB], msg)


def authres(got):
    return " ".join(email.message_from_bytes(got).get_all("Authentication-Results") or [])


def test_inbound_dkim_pass_fail_and_refolded(make_postern, workdir, world):
    p = make_server(make_postern, workdir, world)
    good = signed_by_them(world)
    send25(p, "carol@remote.test", good)
    tampered = good.replace(b"Remote body.", b"Remote b0dy.")
    send25(p, "carol@remote.test", tampered)
    refolded = good.replace(b"Subject: from afar", b"Subject: from\r\n   afar")
    send25(p, "carol@remote.test", refolded)
    got = p.wait_messages(BOB, 3)
    results = [authres(g) for g in got]
    by_body = {b"Remote b0dy." in g: r for g, r in zip(got, results)}
    assert "dkim=fail" in by_body[True]
    passes = [r for g, r in zip(got, results) if b"Remote b0dy." not in g]
    assert len(passes) == 2 and all("dkim=pass" in r and "header.d=remote.test" in r for r in passes)
    assert all(r.startswith("mx.example.test;") for r in results)
    assert all("spf=pass" in r and "dmarc=pass" in r for r in passes), results


def test_spf_fail_is_recorded_and_refused_when_configured(make_postern, workdir, world):
    p = make_server(make_postern, workdir, world)
    send25(p, "someone@lax.test", b"From: someone@lax.test\r\nSubject: x\r\n\r\nx\r\n")
    [got] = p.wait_messages(BOB, 1)
    assert "spf=fail" in authres(got) and "dmarc=fail" in authres(got)  # p=none: delivered
    strict = make_server(make_postern, workdir, world, {"mailauth": {"spf_reject": "yes"}})
    with pytest.raises(smtplib.SMTPDataError) as e:
        send25(strict, "someone@lax.test", b"From: someone@lax.test\r\nSubject: x\r\n\r\nx\r\n")
    assert e.value.smtp_code == 550 and e.value.smtp_error.startswith(b"5.7.23")


def test_dmarc_reject_is_honoured(make_postern, workdir, world):
    p = make_server(make_postern, workdir, world)
    with pytest.raises(smtplib.SMTPDataError) as e:
        send25(p, "ceo@bad.test", b"From: CEO <ceo@bad.test>\r\nSubject: wire money\r\n\r\nnow\r\n")
    assert e.value.smtp_code == 550 and e.value.smtp_error.startswith(b"5.7.1")
    assert b"DMARC" in e.value.smtp_error
    assert p.messages(BOB) == []
    # The session stays usable: an honest message follows.
    send25(p, "carol@remote.test", signed_by_them(world))
    p.wait_messages(BOB, 1)


def test_forged_authentication_results_are_removed(make_postern, workdir, world):
    p = make_server(make_postern, workdir, world)
    msg = (b"Authentication-Results: mx.example.test; dkim=pass header.d=bank.test\r\n"
           b"Authentication-Results: other.host.test; spf=pass\r\n" + signed_by_them(world))
    send25(p, "carol@remote.test", msg)
    [got] = p.wait_messages(BOB, 1)
    fields = email.message_from_bytes(got).get_all("Authentication-Results")
    ours = [f for f in fields if f.startswith("mx.example.test")]
    assert len(ours) == 1 and "bank.test" not in ours[0] and "dkim=pass" in ours[0]
    assert any(f.startswith("other.host.test") for f in fields)


# ---- Issue 11: mail authentication that cannot be sidestepped -------------
# bank.test publishes p=reject and signs its mail (key b1); attacker.test's
# SPF lets the tests' client (127.0.0.1) send, so every message below has an
# SPF pass for attacker.test, never aligned with bank.test. Before issue 11
# each bypass got 250 (DMARC permerror, or a DKIM pass riding on unsigned
# content); now each gets a 550 that says what is wrong.

@pytest.fixture
def bank(workdir):
    ours, ours_txt = keygen(workdir, "example.test", "sel", "rsa")
    key, key_txt = keygen(workdir, "bank.test", "b1", "rsa")
    records = {
        "sel._domainkey.example.test": ours_txt,
        "b1._domainkey.bank.test": key_txt,
        "bank.test": ["v=spf1 ip4:192.0.2.1 -all"],
        "_dmarc.bank.test": ["v=DMARC1; p=reject"],
        "attacker.test": ["v=spf1 ip4:127.0.0.1 -all"],
        "_dmarc.attacker.test": ["v=DMARC1; p=none"],
    }
    dns = Dns(workdir, ["--local=/test/"] + [txt_arg(n, s) for n, s in records.items()])
    yield {"dns": dns, "ours": ours, "bank_key": key}
    dns.stop()


def bank_signed(bank, length=False, body=b"Please pay invoice 42.\r\n"):
    msg = (b"From: CEO <ceo@bank.test>\r\nTo: bob@example.test\r\nSubject: invoice\r\n\r\n" + body)
    sig = dkim.sign(msg, b"b1", b"bank.test", bank["bank_key"].read_bytes(),
                    canonicalize=(b"relaxed", b"relaxed"), length=length,
                    include_headers=[b"from", b"to", b"subject"])
    return sig + msg


def refused(p, msg, sender="x@attacker.test"):
    """The (code, text) the smtp listener gives msg after DATA."""
    try:
        send25(p, sender, msg)
    except smtplib.SMTPDataError as e:
        return e.smtp_code, e.smtp_error.decode()
    return 250, ""


@pytest.mark.parametrize("msg, code, status, words", [
    (b"From: x@attacker.test\r\nFrom: CEO <ceo@bank.test>\r\nSubject: wire\r\n\r\nnow\r\n",
     550, "5.7.1", "more than one From: field"),
    (b"From: x@attacker.test\r\nFROM : CEO <ceo@bank.test>\r\nSubject: wire\r\n\r\nnow\r\n",
     550, "5.7.1", "more than one From: field"),
    (b"From: ceo@bank.test, x@attacker.test\r\nSubject: wire\r\n\r\nnow\r\n",
     550, "5.7.1", "more than one domain"),
    (b"From: \"Bank\" <ceo@bank.test>,\r\n (co-author) x@attacker.test\r\nSubject: wire\r\n\r\nnow\r\n",
     550, "5.7.1", "more than one domain"),
    (b"Subject: wire\r\n\r\nno From at all\r\n", 550, "5.6.0", "no From: field"),
    (b"From: ceo@bank.test <x@attacker.test>\r\nSubject: wire\r\n\r\nnow\r\n",
     550, "5.6.0", "not a valid address list"),
    (b"From: Bank:;\r\nSubject: wire\r\n\r\nnow\r\n", 550, "5.6.0", "holds no address"),
])
def test_from_that_dmarc_cannot_evaluate_is_refused(make_postern, workdir, bank, msg, code, status,
                                                    words):
    p = make_server(make_postern, workdir, bank)
    got = refused(p, msg)
    assert got[0] == code and got[1].startswith(status) and words in got[1], got
    assert p.messages(BOB) == []


def test_from_forms_that_are_fine_still_pass(make_postern, workdir, bank):
    p = make_server(make_postern, workdir, bank)
    # A quoted display name with a comma and an address in it, a comment,
    # two authors of one domain, a group: all one domain, checked and passed.
    fine = [b"From: \"ceo@bank.test, CEO\" <x@attacker.test>\r\n",
            b"From: x@attacker.test (ceo@bank.test)\r\n",
            b"From: x@attacker.test, Y <y@Attacker.test>\r\n",
            b"From: team: x@attacker.test;\r\n"]
    for f in fine:
        assert refused(p, f + b"Subject: ok\r\n\r\nfine\r\n") == (250, "")
    got = p.wait_messages(BOB, len(fine))
    assert all("dmarc=pass" in authres(g) and "header.from=attacker.test" in authres(g)
               for g in got), [authres(g) for g in got]


def test_dkim_l_and_unsigned_subject_do_not_pass_dmarc(make_postern, workdir, bank):
    p = make_server(make_postern, workdir, bank)
    # The bank's own message passes: DKIM aligned with From.
    assert refused(p, bank_signed(bank)) == (250, "")
    assert refused(p, bank_signed(bank, length=True)) == (250, "")
    got = p.wait_messages(BOB, 2)
    assert all("dkim=pass" in authres(g) and "dmarc=pass" in authres(g) for g in got)
    # Text appended after l=, and an unsigned Subject above the signed one.
    appended = bank_signed(bank, length=True) + b"\r\nAlso wire $1M to account 666.\r\n"
    resubjected = b"Subject: URGENT: wire $1M today\r\n" + bank_signed(bank)
    for msg in (appended, resubjected):
        code, text = refused(p, msg)
        assert code == 550 and text.startswith("5.7.1") and "DMARC" in text, (code, text)
    assert len(p.messages(BOB)) == 2
    # With dmarc_reject = no they are delivered, and Authentication-Results
    # says why the signature did not count.
    lax = make_server(make_postern, workdir, bank, {"mailauth": {"dmarc_reject": "no"}})
    assert refused(lax, appended) == (250, "")
    assert refused(lax, resubjected) == (250, "")
    got = lax.wait_messages(BOB, 2)
    results = sorted(authres(g) for g in got)
    assert any('dkim=policy reason="l= does not cover the whole body" header.d=bank.test' in r
               for r in results), results
    assert any('dkim=policy reason="h= leaves a Subject field unsigned" header.d=bank.test' in r
               for r in results), results
    assert all("dmarc=fail" in r for r in results), results


def test_from_is_not_checked_when_checks_are_off(make_postern, workdir, bank):
    # [mailauth] checks = no: no DMARC, so no From rule either (as Postfix).
    p = make_server(make_postern, workdir, bank, {"mailauth": {"checks": "no"}})
    assert refused(p, b"Subject: no From\r\n\r\nx\r\n") == (250, "")
    p.wait_messages(BOB, 1)


def test_from_hidden_past_a_huge_header_section_is_refused(make_postern, workdir, bank):
    # Over 1 MB of header fields, then a second From: what is checked would
    # end before it, so the message is refused rather than half checked.
    p = make_server(make_postern, workdir, bank)
    pad = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"x" * 900) for i in range(1200))
    msg = b"From: x@attacker.test\r\n" + pad + b"From: CEO <ceo@bank.test>\r\n\r\nwire\r\n"
    code, text = refused(p, msg)
    assert code == 550 and text.startswith("5.6.0") and "too large" in text, (code, text)
    # A large header section that is not over the limit is fine.
    half = pad[:pad.index(b"X-Pad-600:")]
    assert refused(p, b"From: x@attacker.test\r\n" + half + b"\r\nok\r\n") == (250, "")
