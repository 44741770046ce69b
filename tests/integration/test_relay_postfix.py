"""A real Postfix as the remote MX: what Postern relays is what Postfix
stores, byte for byte, over STARTTLS."""
import smtplib

import pytest

from conftest import wait_until
from postfix_peer import PostfixPeer
from relay_env import host_records, relay, self_signed  # noqa: F401
from tlsenv import make_ca


@pytest.fixture
def postfix(relay, workdir):
    peers = []

    def make(**kw):
        pf = PostfixPeer(workdir, "127.0.0.6", relay.port, "remote.test", ["bob", "carl"], **kw)
        peers.append(pf)
        return pf
    yield make
    for pf in peers:
        pf.stop()


def test_postfix_receives_byte_for_byte(relay, postfix, workdir):
    relay.start_dns("--mx-host=remote.test,mx.remote.test,10",
                    host_records("mx.remote.test", "127.0.0.6"))
    ca = make_ca(workdir / "pfca")
    pf = postfix(tls={"cert": ca["cert"], "key": ca["key"]})
    p = relay.postern(aliases=["fwd@example.test: bob@remote.test, carl@remote.test"])
    body = ("From: Alice <alice@example.test>\r\nTo: fwd@example.test\r\n"
            "Subject: to Postfix\r\nDate: Thu, 26 Nov 2026 12:00:00 +0000\r\n"
            "Message-ID: <byte-for-byte@example.test>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            "Gr\u00fc\u00dfe.\r\n.\r\n..two dots\r\n. dot space\r\n"
            + "z" * 998 + "\r\n\tindented\r\n\r\nlast line\r\n").encode()
    with smtplib.SMTP("127.0.0.1", p.port, timeout=10) as s:
        s.ehlo("client.example.test")
        s.sendmail("alice@example.test", ["fwd@example.test"], body,
                   mail_options=["BODY=8BITMIME"])
    for user in ("bob", "carl"):
        [got] = wait_until(lambda: pf.delivered(user), timeout=20,
                           what=f"Postfix delivery to {user}\n{p.log()}\n{pf.log()}")
        # Postfix prepends Return-Path, Delivered-To and its Received; then
        # comes Postern's Received, then the message exactly as sent.
        assert got.endswith(body.replace(b"\r\n", b"\n"))
        head = got[:-len(body.replace(b"\r\n", b"\n"))]
        assert head.startswith(b"Return-Path: <alice@example.test>\n")
        assert f"Delivered-To: {user}@remote.test\n".encode() in head
        assert b"from mx.example.test" in head and b"by mx.remote.test (Postfix)" in head
        assert b"by mx.example.test" in head
    wait_until(lambda: p.queue_ids() == [], what=p.log())
    log = p.log()
    assert "event=relay_tls relay=mx.remote.test[127.0.0.6]" in log
    assert "event=delivered" in log and 'reply="250 2.0.0 Ok: queued as' in log
    assert log.count("event=delivered") == 2
    pflog = pf.log()
    assert "TLS connection established from unknown[127.0.0.1]" in pflog
    assert "nrcpt=2" in pflog  # one transaction for both recipients


def test_postfix_rejects_unknown_user(relay, postfix):
    relay.start_dns("--mx-host=remote.test,mx.remote.test,10",
                    host_records("mx.remote.test", "127.0.0.6"))
    postfix()
    p = relay.postern(aliases=["fwd@example.test: nobody@remote.test"])
    with smtplib.SMTP("127.0.0.1", p.port, timeout=10) as s:
        s.sendmail("alice@example.test", ["fwd@example.test"], b"Subject: x\r\n\r\nx\r\n")
    [raw] = p.wait_messages("alice@example.test", 1, timeout=20)
    assert b"Status: 5.1.1" in raw
    assert b"Remote-MTA: dns; mx.remote.test" in raw
    assert b"Diagnostic-Code: smtp; 550 5.1.1 <nobody@remote.test>" in raw
