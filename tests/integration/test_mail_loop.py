"""Mail loops (issue 11): two servers with aliases pointing at each other
passed a message 1,566 times in 15 s. Now a message with [limits] max_hops
(100) Received: fields is refused with 554 5.4.6 (RFC 5321 6.3, Postfix's
hopcount_limit), and local delivery, which writes Delivered-To: ADDRESS,
bounces (5.4.6) a message that already carries its own Delivered-To:."""
import email
import time

from conftest import Raw, body_of, send_raw_message, wait_queue_empty, wait_until

ALICE, BOB = "alice@example.test", "bob@example.test"


def received(n):
    return b"".join(b"Received: from hop%d.remote.test by hop%d.remote.test; "
                    b"Thu, 3 Dec 2026 12:00:00 +0000\r\n" % (i, i + 1) for i in range(n))


def message(n_received, extra=b""):
    return received(n_received) + extra + b"Subject: hops\r\n\r\nbody\r\n"


def dsn_status(raw):
    m = email.message_from_bytes(raw)
    assert m.get_content_type() == "multipart/report", raw[:500]
    [report] = [p for p in m.walk() if p.get_content_type() == "message/delivery-status"]
    return report.as_string()


def test_99_received_accepted_100_refused_554_546(postern):
    assert send_raw_message(postern.port, [ALICE], message(99))[0] == 250
    code, text = send_raw_message(postern.port, [ALICE], message(100))
    assert (code, text[:5]) == (554, b"5.4.6") and b"Too many hops" in text, text
    code, text = send_raw_message(postern.port, [ALICE], message(250))
    assert code == 554 and text.startswith(b"5.4.6"), text
    [got] = postern.wait_messages(ALICE, 1)
    # Ours makes 100 on the delivered copy: the next server would refuse it.
    assert got.count(b"\nReceived: ") + got.startswith(b"Received: ") == 100
    time.sleep(0.3)
    assert len(postern.messages(ALICE)) == 1
    assert "event=mail_loop" in postern.log() and "hops=100 limit=100" in postern.log()


def test_folded_and_lower_case_received_count_too(postern):
    folded = b"".join(b"received: from x%d\r\n\tby y; Thu, 3 Dec 2026 12:00:00 +0000\r\n" % i
                      for i in range(100))
    code, text = send_raw_message(postern.port, [ALICE], folded + b"Subject: f\r\n\r\nx\r\n")
    assert code == 554 and text.startswith(b"5.4.6"), text
    # Received: in the body is not a hop.
    body = b"Subject: body\r\n\r\n" + received(150)
    assert send_raw_message(postern.port, [ALICE], body)[0] == 250
    postern.wait_messages(ALICE, 1)


def test_bdat_100_received_refused(postern):
    data = message(100)
    with Raw(postern.port) as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@remote.test>", 250)
        c.expect(f"RCPT TO:<{ALICE}>", 250)
        c.send(b"BDAT %d LAST\r\n" % len(data) + data)
        code, text = c.reply()
        assert code == 554 and text.startswith(b"5.4.6"), text
        # The session goes on: a normal message still works.
        c.expect("MAIL FROM:<x@remote.test>", 250)
        c.expect(f"RCPT TO:<{ALICE}>", 250)
        data = message(3)
        c.send(b"BDAT %d LAST\r\n" % len(data) + data)
        assert c.reply()[0] == 250
    postern.wait_messages(ALICE, 1)


def test_max_hops_is_configurable(make_postern):
    p = make_postern({"limits": {"max_hops": "5"}})
    assert send_raw_message(p.port, [ALICE], message(4))[0] == 250
    code, text = send_raw_message(p.port, [ALICE], message(5))
    assert code == 554 and text.startswith(b"5.4.6"), text


def test_own_delivered_to_coming_back_bounces_546(postern):
    looped = message(2, b"Delivered-To: alice@example.test\r\n")
    assert send_raw_message(postern.port, [ALICE], looped, sender=BOB)[0] == 250
    [dsn] = postern.wait_messages(BOB, 1)
    text = dsn_status(dsn)
    assert ALICE in text and "5.4.6" in text and "failed" in text, text
    assert email.message_from_bytes(dsn)["Return-Path"] == "<>"
    wait_queue_empty(postern)
    assert postern.messages(ALICE) == []
    assert "event=mail_loop" in postern.log() and "status=5.4.6" in postern.log()


def test_delivered_to_someone_else_is_delivered_with_ours_on_top(postern):
    content = message(1, b"Delivered-To: carol@example.org\r\n")
    assert send_raw_message(postern.port, [ALICE], content)[0] == 250
    [got] = postern.wait_messages(ALICE, 1)
    lines = got.split(b"\n")
    assert lines[0] == b"Return-Path: <x@remote.test>"
    assert lines[1] == b"Delivered-To: alice@example.test"
    assert b"Delivered-To: carol@example.org" in got
    assert body_of(got).startswith(b"Subject: hops")


def test_alias_loop_only_the_looping_copy_bounces(postern):
    # team -> alice, bob; the message was in alice's mailbox already.
    looped = message(1, b"Delivered-To: alice@example.test\r\n")
    assert send_raw_message(postern.port, ["team@example.test"], looped, sender=BOB)[0] == 250
    msgs = postern.wait_messages(BOB, 2)
    reports = [m for m in msgs if email.message_from_bytes(m).get_content_type() ==
               "multipart/report"]
    assert len(reports) == 1 and "5.4.6" in dsn_status(reports[0])
    wait_queue_empty(postern)
    assert postern.messages(ALICE) == []


def test_two_servers_with_aliases_at_each_other_stop_and_bounce(make_postern):
    a = make_postern(aliases=["loop@example.test: loop@b.test"], start=False)
    b = make_postern(
        {"domains": {"local": "b.test"}},
        users=["someone@b.test"], aliases=["loop@b.test: loop@example.test"], start=False)
    a.settings["relay"]["smarthost"] = f"[127.0.0.1]:{b.port}"
    b.settings["relay"]["smarthost"] = f"[127.0.0.1]:{a.port}"
    # The peers offer no STARTTLS (no [tls]): opportunistic, not the default verify.
    a.settings["relay"]["smarthost_tls"] = "may"
    b.settings["relay"]["smarthost_tls"] = "may"
    a.write_conf()
    b.write_conf()
    a.start()
    b.start()
    t0 = time.monotonic()
    assert send_raw_message(a.port, ["loop@example.test"], b"Subject: ping-pong\r\n\r\nx\r\n",
                            sender=ALICE)[0] == 250
    [dsn] = a.wait_messages(ALICE, 1, timeout=60)
    text = dsn_status(dsn)
    assert "5.4.6" in text and "failed" in text, text
    wait_queue_empty(a, timeout=30)
    wait_queue_empty(b, timeout=30)
    elapsed = time.monotonic() - t0
    hops = a.log().count("event=queued ") + b.log().count("event=queued ")
    # 100 transfers accepted (the first from the client), one refused, and
    # the bounce (queued by the refused side and, relayed, by a).
    assert 100 <= hops <= 103, hops
    refused = a.log().count("event=mail_loop") + b.log().count("event=mail_loop")
    assert refused == 1
    time.sleep(1)
    assert a.log().count("event=queued ") + b.log().count("event=queued ") == hops
    assert len(a.messages(ALICE)) == 1
    print(f"loop stopped after {hops} queued messages in {elapsed:.1f}s")
