"""Inbound limits through the real binary: line lengths, message size,
recipients, relay policy, timeouts and connection limits."""
import selectors
import socket
import threading
import time

import pytest

from conftest import Raw, body_of, delivered_files, queue_files, wait_queue_empty, wait_until


def start_measurable(make_postern, monkeypatch, settings=None):
    """A daemon whose RSS means something: under ASan, freed memory sits in
    a 256 MB quarantine unless told otherwise."""
    import os

    monkeypatch.setenv("ASAN_OPTIONS", os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=1")
    return make_postern(settings=settings)


def rss_kb(postern):
    for line in open(f"/proc/{postern.proc.pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def transaction_works(c, rcpt="alice@example.test", subject=b"after"):
    c.expect("MAIL FROM:<x@remote.test>", 250)
    c.expect(f"RCPT TO:<{rcpt}>", 250)
    c.expect("DATA", 354)
    c.send(b"Subject: " + subject + b"\r\n\r\nstill works\r\n.\r\n")
    code, text = c.reply()
    assert code == 250 and b"queued as" in text, text


# --- command lines ---------------------------------------------------------

def test_command_line_512_boundary(postern):
    with Raw(postern.port) as c:
        c.ehlo()
        c.expect("NOOP " + "x" * 505, 250)  # 510 + CRLF = 512 octets
        c.expect("NOOP " + "x" * 506, 500, "5.5.2")


def test_600_byte_command_500_and_session_usable(postern):
    with Raw(postern.port) as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@remote.test> " + "A" * 600, 500, "5.5.2")
        c.expect("NOOP", 250)
        # The over-long MAIL was not half-executed: MAIL is still allowed.
        transaction_works(c)
        c.expect("QUIT", 221)
    [got] = postern.wait_messages("alice@example.test", 1)
    assert body_of(got) == b"Subject: after\n\nstill works\n"


def test_64k_command_500(postern):
    with Raw(postern.port) as c:
        c.ehlo()
        # Split over several writes; pieces look like commands but are not
        # at the start of a line. A lone CR is not a line end either.
        c.send(b"NOOP " + b"y" * 30000)
        c.send(b"QUIT " + b"z" * 1000 + b"\rQUIT\r" + b"z" * 19000)
        c.send(b"z" * 15530 + b"\r\n")
        code, text = c.reply()
        assert code == 500 and text.startswith(b"5.5.2"), text
        c.expect("NOOP", 250)  # the QUITs inside the long line were not run
        transaction_works(c)
    postern.wait_messages("alice@example.test", 1)


def test_endless_line_without_newline_is_bounded(make_postern, monkeypatch):
    """10 MB with no line end: memory stays bounded; the line is refused."""
    postern = start_measurable(make_postern, monkeypatch)
    with Raw(postern.port) as c:
        c.ehlo()
        before = rss_kb(postern)
        chunk = b"w" * 65536
        for _ in range(160):
            c.send(chunk)
        c.send(b"\r\n")
        code, text = c.reply()
        assert code == 500 and text.startswith(b"5.5.2"), text
        c.expect("NOOP", 250)
        assert rss_kb(postern) - before < 20 * 1024


# --- message content ---------------------------------------------------------

def test_text_line_1000_boundary(postern):
    ok = b"Subject: ok\r\n\r\n" + b"a" * 998 + b"\r\n"
    with Raw(postern.port) as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@remote.test>", 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.expect("DATA", 354)
        c.send(ok + b".\r\n")
        assert c.reply()[0] == 250
    [got] = postern.wait_messages("alice@example.test", 1)
    assert body_of(got) == ok.replace(b"\r\n", b"\n")


def test_data_line_over_1000_octets_refused_after_end(postern):
    long_line = b"Subject: long\r\n\r\nshort\r\n" + b"b" * 999 + b"\r\nmore after\r\n"
    with Raw(postern.port) as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@remote.test>", 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.expect("DATA", 354)
        c.send(long_line)
        # Nothing is said before the real end of the data.
        c.sock.settimeout(0.3)
        with pytest.raises(socket.timeout):
            c.sock.recv(100)
        c.sock.settimeout(10)
        c.send(b".\r\n")
        code, text = c.reply()
        assert 500 <= code < 600, (code, text)
        # The session goes on.
        transaction_works(c, rcpt="bob@example.test")
    [got] = postern.wait_messages("bob@example.test", 1)
    wait_queue_empty(postern)
    assert postern.messages("alice@example.test") == []
    # A 5,000-octet line in the middle of a large message: refused too, not truncated.
    with Raw(postern.port) as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@remote.test>", 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.expect("DATA", 354)
        c.send(b"Subject: big\r\n\r\n" + b"line\r\n" * 20000 + b"c" * 5000 + b"\r\n" + b"line\r\n" * 20000 + b".\r\n")
        assert c.reply()[0] // 100 == 5
    time.sleep(0.3)
    assert postern.messages("alice@example.test") == []
    assert queue_files(postern) == []


@pytest.fixture
def small_postern(make_postern):
    return make_postern(settings={"limits": {"message_size": "10K"}})


def test_message_over_size_552_then_session_works(small_postern):
    p = small_postern
    with Raw(p.port) as c:
        ehlo = c.ehlo()
        assert b"SIZE 10240" in ehlo
        c.expect("MAIL FROM:<x@remote.test>", 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.expect("DATA", 354)
        c.send(b"Subject: big\r\n\r\n" + b"0123456789abcdef\r\n" * 1000 + b".\r\n")
        code, text = c.reply()
        assert code == 552 and text.startswith(b"5.3.4"), text
        transaction_works(c)
        # BDAT: said after the chunk that crosses the limit.
        c.expect("MAIL FROM:<x@remote.test>", 250)
        c.expect("RCPT TO:<bob@example.test>", 250)
        chunk = b"x" * 8000 + b"\r\n"
        c.send(b"BDAT %d\r\n" % len(chunk) + chunk)
        assert c.reply()[0] == 250
        c.send(b"BDAT %d\r\n" % len(chunk) + chunk)
        code, text = c.reply()
        assert code == 552 and text.startswith(b"5.3.4"), text
        c.send(b"BDAT %d LAST\r\n" % len(chunk) + chunk)
        assert c.reply()[0] == 503  # the transaction is gone
        transaction_works(c, subject=b"again")
        c.expect("QUIT", 221)
    got = p.wait_messages("alice@example.test", 2)
    assert sorted(body_of(g) for g in got) == [b"Subject: after\n\nstill works\n", b"Subject: again\n\nstill works\n"]
    wait_queue_empty(p)
    assert p.messages("bob@example.test") == []
    assert queue_files(p) == []


def test_size_parameter_checked_at_mail(small_postern):
    with Raw(small_postern.port) as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@remote.test> SIZE=10241", 552, "5.3.4")
        c.expect("MAIL FROM:<x@remote.test> SIZE=99999999999999999999999999", 552, "5.3.4")
        c.expect("MAIL FROM:<x@remote.test> SIZE=10240", 250)
        c.expect("RSET", 250)
        # 552 is not a protocol error: many of them do not close the session.
        for _ in range(12):
            c.expect("MAIL FROM:<x@remote.test> SIZE=20000", 552)
        transaction_works(c)


def test_huge_data_is_refused_with_bounded_memory(make_postern, monkeypatch):
    p = start_measurable(make_postern, monkeypatch, settings={"limits": {"message_size": "1M"}})
    with Raw(p.port) as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@remote.test>", 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.expect("DATA", 354)
        before = rss_kb(p)
        block = (b"z" * 98 + b"\r\n") * 655  # 65,500 octets
        for _ in range(512):  # 32 MB
            c.send(block)
        c.send(b".\r\n")
        code, text = c.reply()
        assert code == 552 and text.startswith(b"5.3.4"), text
        grew = rss_kb(p) - before
        assert grew < 24 * 1024, f"RSS grew by {grew} KB for a refused 32 MB message"
        transaction_works(c)
    p.wait_messages("alice@example.test", 1)
    wait_queue_empty(p)
    # Nothing of the refused message is left in the queue.
    assert queue_files(p) == []


# --- recipients and relay ------------------------------------------------------

def test_101_recipients_452_and_message_still_delivered(postern):
    with Raw(postern.port) as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@remote.test>", 250)
        c.send(b"".join(b"RCPT TO:<r%d@example.org>\r\n" % i for i in range(101)))
        codes = [c.reply() for _ in range(101)]
        assert [code for code, _ in codes[:100]] == [250] * 100
        assert codes[100][0] == 452 and codes[100][1].startswith(b"4.5.3"), codes[100]
        c.expect("RCPT TO:<alice@example.test>", 452, "4.5.3")
        c.expect("DATA", 354)
        c.send(b"Subject: many\r\n\r\nx\r\n.\r\n")
        assert c.reply()[0] == 250
        c.expect("QUIT", 221)
    wait_queue_empty(postern)
    assert len(postern.messages("carol@example.org")) == 1
    assert postern.messages("alice@example.test") == []


def test_recipients_limit_from_config(make_postern):
    p = make_postern(settings={"limits": {"recipients": "2"}})
    with Raw(p.port) as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@remote.test>", 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.expect("RCPT TO:<nobody@example.test>", 550)  # refused ones do not count
        c.expect("RCPT TO:<bob@example.test>", 250)
        c.expect("RCPT TO:<carol@example.org>", 452, "4.5.3")
        # A new transaction starts from zero.
        c.expect("RSET", 250)
        c.expect("MAIL FROM:<x@remote.test>", 250)
        c.expect("RCPT TO:<carol@example.org>", 250)


def test_100000_pipelined_recipients_bounded(make_postern, monkeypatch):
    """ROBUSTNESS 11: 100,000 RCPTs in one burst: 452s, bounded memory."""
    postern = start_measurable(make_postern, monkeypatch)
    n = 100_000
    with Raw(postern.port) as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@remote.test>", 250)
        before = rss_kb(postern)
        payload = b"".join(b"RCPT TO:<user%d@example.org>\r\n" % i for i in range(n))
        sender = threading.Thread(target=c.send, args=(payload,))
        sender.start()
        counts = {}
        for _ in range(n):
            code = c.reply()[0]
            counts[code] = counts.get(code, 0) + 1
        sender.join()
        assert counts == {250: 100, 452: n - 100}
        grew = rss_kb(postern) - before
        assert grew < 32 * 1024, f"RSS grew by {grew} KB"
        c.expect("DATA", 354)
        c.send(b"Subject: burst\r\n\r\nx\r\n.\r\n")
        assert c.reply()[0] == 250
    wait_queue_empty(postern)
    assert len(postern.messages("carol@example.org")) == 1


@pytest.mark.parametrize(
    "rcpt",
    [
        "someone@elsewhere.test",
        "alice@example.test.evil.test",
        "alice@sub.example.test",
        "alice@[127.0.0.1]",
        "alice@[IPv6:::1]",
        "alice@localhost",
    ],
)
def test_relay_denied_554_571(postern, rcpt):
    with Raw(postern.port) as c:
        c.ehlo()
        c.expect("MAIL FROM:<alice@example.test>", 250)  # a local sender changes nothing
        c.expect(f"RCPT TO:<{rcpt}>", 554, "5.7.1")
        c.expect("DATA", 503)
    assert "reason=relay_denied" in postern.log()


def test_percent_hack_and_unknown_user_550_511(postern):
    with Raw(postern.port) as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@remote.test>", 250)
        c.expect("RCPT TO:<nobody@example.test>", 550, "5.1.1")
        c.expect("RCPT TO:<someone%elsewhere.test@example.test>", 550, "5.1.1")
        c.expect("RCPT TO:<alice+tag@example.test>", 550, "5.1.1")
        c.expect("QUIT", 221)
    time.sleep(0.2)
    assert delivered_files(postern) == []


# --- timeouts --------------------------------------------------------------------

def test_idle_client_gets_421_442_at_command_timeout(make_postern):
    p = make_postern(settings={"smtpd": {"command_timeout": "1s"}})
    for after_ehlo in (False, True):
        with Raw(p.port) as c:
            if after_ehlo:
                c.ehlo()
                c.expect("MAIL FROM:<x@remote.test>", 250)
            t0 = time.monotonic()
            code, text = c.reply()
            waited = time.monotonic() - t0
            assert code == 421 and text.startswith(b"4.4.2"), text
            assert 0.7 < waited < 3.0, waited
            assert c.closed()
    assert "event=smtp_timeout" in p.log()


def test_data_timeout_drops_the_partial_message(make_postern):
    p = make_postern(settings={"smtpd": {"command_timeout": "5s", "data_timeout": "1s"}})
    with Raw(p.port) as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@remote.test>", 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.expect("DATA", 354)
        c.send(b"Subject: slow\r\n\r\n" + b"partial line\r\n" * 10000)
        t0 = time.monotonic()
        code, text = c.reply()
        assert code == 421 and text.startswith(b"4.4.2"), text
        assert time.monotonic() - t0 < 2.5
        assert c.closed()
    wait_until(lambda: queue_files(p) == [], timeout=3, what=f"tmp cleaned: {queue_files(p)}")
    assert delivered_files(p) == []


def test_slow_sender_closed_at_deadline_while_others_served(make_postern):
    """A client trickling one byte every 0.5 s never finishes its command:
    it is closed at its deadline, and meanwhile another client is served."""
    p = make_postern(settings={"smtpd": {"command_timeout": "2s"}})
    slow = Raw(p.port)
    slow.ehlo()
    t0 = time.monotonic()
    result = {}

    def trickle():
        line = b"MAIL FROM:<" + b"s" * 200 + b"@remote.test>"
        try:
            for byte in line:
                slow.sock.sendall(bytes([byte]))
                time.sleep(0.5)
        except OSError as e:
            result["error"] = e
        result["stopped"] = time.monotonic() - t0

    th = threading.Thread(target=trickle)
    th.start()
    # Meanwhile a normal client gets a whole transaction through, quickly.
    time.sleep(0.3)
    t1 = time.monotonic()
    with Raw(p.port) as c:
        c.ehlo()
        transaction_works(c)
        c.expect("QUIT", 221)
    assert time.monotonic() - t1 < 2.0
    code, text = slow.reply()
    closed_after = time.monotonic() - t0
    assert code == 421 and text.startswith(b"4.4.2"), text
    assert 1.5 < closed_after < 4.0, closed_after
    assert slow.closed(timeout=2)
    th.join(timeout=10)
    assert "error" in result  # the trickler's writes failed once we closed it
    slow.close()
    p.wait_messages("alice@example.test", 1)


def test_many_slow_connections_closed_by_deadline(make_postern):
    """ROBUSTNESS 12, scaled: 300 connections each sending a byte every
    0.4 s are all closed by their deadlines; a normal client is served."""
    n = 300
    p = make_postern(
        settings={
            "smtpd": {"command_timeout": "1500ms"},
            "limits": {"connections": "1000", "connections_per_ip": "1000"},
        }
    )
    sel = selectors.DefaultSelector()
    socks = []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", p.port), timeout=5)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, {"data": b"", "closed_at": None})
        socks.append(s)
    t0 = time.monotonic()
    served = {}

    def normal_client():
        time.sleep(0.5)
        t = time.monotonic()
        with Raw(p.port) as c:
            c.ehlo()
            transaction_works(c)
        served["latency"] = time.monotonic() - t

    th = threading.Thread(target=normal_client)
    th.start()
    next_byte = t0
    open_count = n
    while open_count and time.monotonic() - t0 < 8:
        now = time.monotonic()
        if now >= next_byte:
            for key in list(sel.get_map().values()):
                try:
                    key.fileobj.send(b"N")
                except OSError:
                    pass
            next_byte = now + 0.4
        for key, _ in sel.select(timeout=0.05):
            try:
                chunk = key.fileobj.recv(4096)
            except BlockingIOError:
                continue
            except ConnectionResetError:
                chunk = b""
            if chunk:
                key.data["data"] += chunk
            else:
                key.data["closed_at"] = time.monotonic() - t0
                assert b"421 4.4.2" in key.data["data"], key.data["data"]
                sel.unregister(key.fileobj)
                key.fileobj.close()
                open_count -= 1
    th.join(timeout=10)
    elapsed = time.monotonic() - t0
    assert open_count == 0, f"{open_count} slow connections still open after {elapsed:.1f}s"
    assert elapsed < 5.0, elapsed
    assert served.get("latency", 99) < 2.5, served
    p.wait_messages("alice@example.test", 1)


# --- connection limits --------------------------------------------------------------

def test_total_connection_limit_421_470(make_postern):
    # The whole is for smtp here; the holders are inside a transaction, so
    # none is idle and none is closed to make room (test_ops_limits.py).
    p = make_postern(settings={"limits": {"connections": "3", "connections_per_ip": "10",
                                          "connections_smtp": "3"}})
    held = [Raw(p.port) for _ in range(3)]
    for h in held:
        h.ehlo()
        h.expect("MAIL FROM:<x@remote.test>", 250)
    with Raw(p.port, greet=False) as extra:
        code, text = extra.reply()
        assert code == 421 and text.startswith(b"4.7.0"), text
        assert extra.closed()
    # Closing one frees a slot.
    held.pop().cmd("QUIT")
    time.sleep(0.2)
    with Raw(p.port) as c:
        assert c.greeting[0] == 220
        c.ehlo()
        transaction_works(c)
    for h in held:
        h.close()
    p.wait_messages("alice@example.test", 1)
    assert "reason=total_limit" in p.log()


def test_per_ip_connection_limit_421_470(make_postern):
    p = make_postern(settings={"limits": {"connections": "100", "connections_per_ip": "2"}})
    held = [Raw(p.port) for _ in range(2)]
    with Raw(p.port, greet=False) as extra:
        code, text = extra.reply()
        assert code == 421 and text.startswith(b"4.7.0"), text
        assert extra.closed()
    # Another address is not affected (all of 127/8 is loopback on Linux).
    with Raw(p.port, source="127.0.0.2") as other:
        assert other.greeting[0] == 220
        other.ehlo()
        transaction_works(other)
        other.expect("QUIT", 221)
    # A peer that vanishes without QUIT frees its slot as well.
    held.pop().close()
    time.sleep(0.2)
    with Raw(p.port) as c:
        assert c.greeting[0] == 220
    for h in held:
        h.close()
    assert "reason=per_ip_limit" in p.log()


def test_command_timeout_is_per_command(make_postern):
    """RFC 5321 4.5.3.2: the timeout runs for each command, so a client that
    keeps talking (a NOOP every 0.4 s) is not cut off at 1 s after the
    greeting."""
    p = make_postern(settings={"smtpd": {"command_timeout": "1s"}})
    with Raw(p.port) as c:
        c.ehlo()
        t0 = time.monotonic()
        while time.monotonic() - t0 < 3.0:
            time.sleep(0.4)
            c.expect("NOOP", 250)
        transaction_works(c)
