"""End-to-end: a message sent with smtplib lands, byte for byte, in Maildir."""
import smtplib

from conftest import body_of, wait_until


def test_plain_message_delivered_to_maildir(postern):
    msg = b"From: x@remote.test\r\nTo: alice@example.test\r\nSubject: hi\r\n\r\nHello.\r\n.leading dot\r\n"
    with smtplib.SMTP("127.0.0.1", postern.port) as s:
        code, text = s.ehlo("client.remote.test")
        assert code == 250
        for ext in (b"PIPELINING", b"SIZE", b"8BITMIME", b"ENHANCEDSTATUSCODES", b"SMTPUTF8", b"CHUNKING"):
            assert ext in text
        s.mail("x@remote.test")
        s.rcpt("alice@example.test")
        code, reply = s.data(msg)
        assert code == 250
        assert b"queued as" in reply
    [got] = postern.wait_messages("alice@example.test", 1)
    assert body_of(got) == msg.replace(b"\r\n", b"\n")
    assert got.startswith(b"Return-Path: <x@remote.test>\nDelivered-To: alice@example.test\nReceived: from client.remote.test (127.0.0.1)\n")
    wait_until(lambda: postern.queue_ids() == [], what="the queue to empty")
