"""Large messages: past 64 KiB the content is written by a worker while the
event loop keeps reading (src/queue/queue.h, queue_incoming_async), with
back-pressure when the writes fall behind. Several big messages at once,
by DATA and by BDAT, sent in one go: every one is acknowledged and
delivered whole, and the loop keeps serving small mail meanwhile."""
import threading

from conftest import Raw, body_of, wait_queue_empty
from test_inbound_durability import make_body


def send_big(port, rcpt, body, bdat, results, i):
    c = Raw(port, timeout=60)
    c.ehlo()
    if bdat:
        half = len(body) // 2
        c.send(
            b"MAIL FROM:<x@remote.test>\r\nRCPT TO:<%s>\r\nBDAT %d\r\n" % (rcpt.encode(), half)
            + body[:half]
            + b"BDAT %d LAST\r\n" % (len(body) - half)
            + body[half:]
        )
        replies = [c.reply() for _ in range(4)]
    else:
        c.send(b"MAIL FROM:<x@remote.test>\r\nRCPT TO:<%s>\r\nDATA\r\n" % rcpt.encode())
        replies = [c.reply() for _ in range(3)]
        c.send(body + b".\r\n")
        replies.append(c.reply())
    c.close()
    results[i] = replies


def test_big_messages_in_parallel_arrive_whole(postern):
    p = postern
    bodies = [make_body(200 + i, 2_500_000 + 4099 * i) for i in range(6)]
    results = [None] * len(bodies)
    threads = [
        threading.Thread(
            target=send_big, args=(p.port, "alice@example.test", b, i % 2 == 1, results, i)
        )
        for i, b in enumerate(bodies)
    ]
    for t in threads:
        t.start()
    # Small mail is served while the big ones stream in.
    with Raw(p.port) as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@remote.test>", 250)
        c.expect("RCPT TO:<bob@example.test>", 250)
        c.expect("DATA", 354)
        c.send(make_body(299, 500) + b".\r\n")
        assert c.reply()[0] == 250
    for t in threads:
        t.join(timeout=120)
    for r in results:
        assert r is not None and all(code in (250, 354) for code, _ in r), r
        assert r[-1][0] == 250, r
    got = p.wait_messages("alice@example.test", len(bodies), timeout=60)
    want = sorted(b.replace(b"\r\n", b"\n") for b in bodies)
    assert sorted(body_of(m) for m in got) == want
    p.wait_messages("bob@example.test", 1)
    wait_queue_empty(p, timeout=30)
