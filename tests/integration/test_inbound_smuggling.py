"""SMTP smuggling (CVE-2023-51764/51766) through the real binary: only
CRLF.CRLF ends DATA; a message holding a bare CR or LF is refused with
554 5.6.0 after its real end, so no second message can be injected."""
import time

import pytest

from conftest import Raw, body_of, delivered_files, queue_files, wait_queue_empty

SEPARATORS = {
    "lf-dot-crlf": b"\n.\r\n",
    "cr-dot-crlf": b"\r.\r\n",
    "lf-dot-lf": b"\n.\n",
    "cr-dot-cr": b"\r.\r",
    "crlf-dot-lf": b"\r\n.\n",
    "crlf-dot-cr": b"\r\n.\r",
    "lf-dot-cr": b"\n.\r",
    "cr-dot-lf": b"\r.\n",
    "crlf-dot-crcrlf": b"\r\n.\r\r\n",
}

SMUGGLED = (
    b"MAIL FROM:<ceo@example.test>\r\n"
    b"RCPT TO:<bob@example.test>\r\n"
    b"DATA\r\n"
    b"From: ceo@example.test\r\nSubject: SMUGGLED\r\n\r\nwire the money\r\n"
)


def first_part():
    return b"From: x@remote.test\r\nSubject: first\r\n\r\nhello"


def assert_nothing_injected(p):
    time.sleep(0.1)  # a wrongly accepted message would be delivered by now
    wait_queue_empty(p)
    assert delivered_files(p) == []
    assert p.messages("bob@example.test") == []
    assert "SMUGGLED" not in p.log()
    assert queue_files(p) == []


@pytest.mark.parametrize("sep", SEPARATORS.values(), ids=SEPARATORS.keys())
@pytest.mark.parametrize("split", [False, True], ids=["one-write", "split"])
def test_smuggling_refused_and_nothing_injected(postern, sep, split):
    with Raw(postern.port) as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@remote.test>", 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.expect("DATA", 354)
        parts = [first_part(), sep, SMUGGLED, b"\r\n.\r\n"]
        if split:
            # Each piece in its own packet, as a smuggler timing its writes would.
            for part in parts:
                c.send(part)
                time.sleep(0.05)
        else:
            c.send(b"".join(parts))
        code, text = c.reply()
        assert code == 554 and text.startswith(b"5.6.0"), (code, text)
        # Exactly one reply for the whole thing: the smuggled commands were
        # content, never commands. The session is still in sync.
        c.expect("NOOP", 250)
        c.expect("QUIT", 221)
        assert c.closed()
        assert c.buf == b""
    assert_nothing_injected(postern)


@pytest.mark.parametrize("sep", [b"\n.\r\n", b"\r.\r\n", b"\n.\n"], ids=["lf-dot-crlf", "cr-dot-crlf", "lf-dot-lf"])
def test_smuggling_then_a_real_second_message(postern, sep):
    """After a refused smuggling attempt, a genuine second transaction in
    the same session is delivered: exactly one message results."""
    with Raw(postern.port) as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@remote.test>", 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.expect("DATA", 354)
        c.send(first_part() + sep + SMUGGLED + b"\r\n.\r\n")
        assert c.reply()[0] == 554
        c.expect("MAIL FROM:<x@remote.test>", 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.expect("DATA", 354)
        c.send(b"Subject: genuine\r\n\r\nreal\r\n.\r\n")
        assert c.reply()[0] == 250
    [got] = postern.wait_messages("alice@example.test", 1)
    assert body_of(got) == b"Subject: genuine\n\nreal\n"
    wait_queue_empty(postern)
    assert postern.messages("bob@example.test") == []
    assert len(delivered_files(postern)) == 1


def test_smuggling_in_pipelined_bdat(postern):
    chunk = first_part() + b"\n.\r\n" + SMUGGLED + b"\r\n.\r\n"
    with Raw(postern.port) as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@remote.test>", 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.send(b"BDAT %d LAST\r\n" % len(chunk) + chunk)
        code, text = c.reply()
        assert code == 554 and text.startswith(b"5.6.0"), text
        c.expect("NOOP", 250)
    assert_nothing_injected(postern)


def test_bare_lf_alone_refused(postern):
    """A message with a bare LF in a header (no dot at all) is refused too."""
    with Raw(postern.port) as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@remote.test>", 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.expect("DATA", 354)
        c.send(b"Subject: a\nX-Injected: b\r\n\r\nbody\r\n.\r\n")
        code, text = c.reply()
        assert code == 554 and text.startswith(b"5.6.0"), text
        c.expect("MAIL FROM:<x@remote.test>", 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.expect("DATA", 354)
        c.send(b"Subject: a\rX-Injected: b\r\n\r\nbody\r\n.\r\n")
        code, text = c.reply()
        assert code == 554 and text.startswith(b"5.6.0"), text
    assert_nothing_injected(postern)


def test_nul_in_data_refused(postern):
    with Raw(postern.port) as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@remote.test>", 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.expect("DATA", 354)
        c.send(b"Subject: nul\r\n\r\nbefore\x00after\r\n.\r\n")
        code, text = c.reply()
        assert code == 554 and text.startswith(b"5.6.0"), text
    assert_nothing_injected(postern)


def test_terminator_split_across_packets_and_dot_stuffing(postern):
    """The real end, CRLF.CRLF, arriving one octet per packet still ends the
    message, and dot-stuffed lines that look like terminators are content."""
    content = b"Subject: dots\r\n\r\n..\r\n...\r\n.. \r\n..\r\n.x\r\n"
    with Raw(postern.port) as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@remote.test>", 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.expect("DATA", 354)
        c.send(content)
        for octet in b".\r\n":
            time.sleep(0.02)
            c.send(bytes([octet]))
        code, text = c.reply()
        assert code == 250, text
    [got] = postern.wait_messages("alice@example.test", 1)
    assert body_of(got) == b"Subject: dots\n\n.\n..\n. \n.\nx\n"


def test_empty_message_and_immediate_terminator(postern):
    with Raw(postern.port) as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@remote.test>", 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.expect("DATA", 354)
        c.send(b".\r\n")
        code, text = c.reply()
        assert code == 250, text
    [got] = postern.wait_messages("alice@example.test", 1)
    assert body_of(got) == b""
    assert got.startswith(b"Return-Path: <x@remote.test>\n")
