"""Directory harvesting (issue 11): unknown-user RCPTs (550 5.1.1) count
toward [limits] bad_commands, so one connection can no longer try 100,000
names; past half of them each further guess waits [limits] error_delay
(Postfix's smtpd_error_sleep_time) on a timer, never blocking the loop; a
client with a few typos still gets its mail through at once."""
import threading
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
    # Unknown users 6 to 9 each waited 1 s (the default error_delay).
    assert 3.5 < elapsed < 20, elapsed
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
        t0 = time.monotonic()
        for typo in ("alcie", "alicee", "allice"):
            c.expect(f"RCPT TO:<{typo}@example.test>", 550, "5.1.1")
        assert time.monotonic() - t0 < 0.5  # no delay below half the limit
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.expect("DATA", 354)
        c.send(b"Subject: typos\r\n\r\nstill here\r\n.\r\n")
        assert c.reply()[0] == 250
        c.expect("QUIT", 221)
    assert b"Subject: typos" in postern.wait_messages("alice@example.test", 1)[0]


def test_error_delay_paces_guesses_without_blocking_others(make_postern):
    p = make_postern(settings={"limits": {"bad_commands": "20", "error_delay": "500ms"}})
    served = {}

    def other_client():
        time.sleep(0.3)
        t = time.monotonic()
        with Raw(p.port) as o:
            o.ehlo()
            o.expect("MAIL FROM:<x@remote.test>", 250)
            o.expect("RCPT TO:<alice@example.test>", 250)
            o.expect("QUIT", 221)
        served["latency"] = time.monotonic() - t

    with Raw(p.port) as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@remote.test>", 250)
        for i in range(10):  # up to half the limit: no delay
            c.expect(f"RCPT TO:<n{i}@example.test>", 550, "5.1.1")
        th = threading.Thread(target=other_client)
        th.start()
        # Pipelined: the replies come one per error_delay, not at once.
        c.send(b"".join(b"RCPT TO:<m%d@example.test>\r\n" % i for i in range(4)))
        t0 = time.monotonic()
        times = []
        for _ in range(4):
            assert c.reply()[0] == 550
            times.append(time.monotonic() - t0)
        th.join(timeout=10)
        # The one after the 11th error waits its 500 ms first.
        assert times[1] > 0.4 and times[3] > 1.3, times
        # A valid recipient is still taken (after the pause of the last error).
        c.expect("RCPT TO:<alice@example.test>", 250)
    assert served.get("latency", 99) < 0.3, served


def test_error_delay_0_turns_it_off(make_postern):
    p = make_postern(settings={"limits": {"error_delay": "0"}})
    with Raw(p.port) as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@remote.test>", 250)
        t0 = time.monotonic()
        for i in range(9):
            c.expect(f"RCPT TO:<n{i}@example.test>", 550, "5.1.1")
        assert time.monotonic() - t0 < 1.0
        c.expect("RCPT TO:<alice@example.test>", 250)
