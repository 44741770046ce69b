"""Directory harvesting (issue 11): unknown-user RCPTs (550 5.1.1) count
toward [limits] bad_commands, so one connection can no longer try 100,000
names; a client with a few typos still gets its mail through."""
import time

from conftest import Raw


def test_100000_unknown_rcpts_closed_after_bad_commands(postern):
    with Raw(postern.port, timeout=30) as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@remote.test>", 250)
        t0 = time.monotonic()
        try:
            c.send(b"".join(b"RCPT TO:<u%06d@example.test>\r\n" % i for i in range(100000)))
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed while we were still writing: what we want
        assert c.closed(timeout=20)
        elapsed = time.monotonic() - t0
    replies = c.buf.split(b"\r\n")
    unknown = [r for r in replies if r.startswith(b"550 5.1.1")]
    assert len(unknown) == 10, (len(unknown), c.buf[-300:])
    assert replies[10].startswith(b"421 4.7.0") and b"Too many errors" in replies[10], replies[10]
    assert elapsed < 20
    assert "event=smtp_too_many_errors" in postern.log()
    assert postern.log().count("reason=unknown_user") == 10


def test_limit_follows_bad_commands(make_postern):
    p = make_postern(settings={"limits": {"bad_commands": "3"}})
    with Raw(p.port) as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@remote.test>", 250)
        c.expect("RCPT TO:<nobody1@example.test>", 550, "5.1.1")
        c.expect("RCPT TO:<nobody2@example.test>", 550, "5.1.1")
        c.send(b"RCPT TO:<nobody3@example.test>\r\n")
        assert c.reply()[0] == 550
        assert c.reply() == (421, b"4.7.0 mx.example.test Too many errors, closing connection")
        assert c.closed()


def test_a_few_typos_still_get_through(postern):
    with Raw(postern.port) as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@remote.test>", 250)
        for typo in ("alcie", "alicee", "allice"):
            c.expect(f"RCPT TO:<{typo}@example.test>", 550, "5.1.1")
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.expect("DATA", 354)
        c.send(b"Subject: typos\r\n\r\nstill here\r\n.\r\n")
        assert c.reply()[0] == 250
        c.expect("QUIT", 221)
    assert b"Subject: typos" in postern.wait_messages("alice@example.test", 1)[0]
