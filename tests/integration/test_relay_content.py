"""ROBUSTNESS.md check 7: whatever the queued content holds (bare LF, bare
CR, 5,000-octet lines, lone dots), the next hop sees only CRLF, lines of at
most 1,000 octets with CRLF, and correct dot-stuffing. Inbound refuses such
content, so the test plants it in the queue file itself, as a foreign or
damaged queue entry would."""
from conftest import restart, wait_until
from relay_env import relay, send  # noqa: F401
from test_relay_basic import mx_world

HOSTILE = (b"Subject: hostile\r\n\r\nbare LF\nline\n.\nbare CR\r.\r"
           + b"y" * 5000 + b"\r\n.leading\r\nsmuggle\n.\r\nMAIL FROM:<evil@x>\r\nend")


def expected_wire(content):
    """The encoder's rules, restated: CR, LF or CRLF end a line; lines are
    broken at 998 octets with CRLF SP; leading dots doubled."""
    lines, cur, i = [], b"", 0
    while i < len(content):
        c = content[i:i + 1]
        if c in (b"\r", b"\n"):
            lines.append(cur)
            cur = b""
            i += 2 if content[i:i + 2] == b"\r\n" else 1
            continue
        cur += c
        i += 1
    if cur:
        lines.append(cur)
    out = []
    for line in lines:
        if line.startswith(b"."):
            line = b"." + line
        while len(line) > 998:
            out.append(line[:998])
            line = b" " + line[998:]
        out.append(line)
    return b"\r\n".join(out)


def test_hostile_queue_content_is_normalised(relay):
    mx_world(relay)
    peer = relay.peer("127.0.0.2")
    peer.rcpt = lambda addr, n: "451 4.3.0 later" if n == 1 else "250 2.1.5 Ok"
    p = relay.postern({"relay": {"retry": "3s"}}, aliases=["fwd@example.test: bob@remote.test"])
    send(p, "fwd@example.test")
    wait_until(lambda: "event=deferred" in p.log(), what=p.log())
    p.kill()
    [qid] = p.queue_ids()
    (p.data_dir / "queue" / "msg" / qid).write_bytes(HOSTILE)
    restart(p)
    [tx] = peer.wait_transactions(1, log=p.log)
    for line in tx.wire.split(b"\r\n"):
        assert b"\r" not in line and b"\n" not in line
        assert len(line) <= 998
    # Whatever the daemon prepends (trace fields) comes first, then the content.
    exp = expected_wire(HOSTILE)
    assert tx.wire == exp or tx.wire.endswith(b"\r\n" + exp)
    assert b"\r\n..\r\n" in tx.wire and b"\r\n..leading\r\n" in tx.wire
    assert b"\r\n.\r\n" not in tx.wire
    wait_until(lambda: p.queue_ids() == [], what=p.log())


def test_hostile_envelope_address_is_never_sent(relay):
    # A queue envelope whose recipient holds CR LF and a command: refused
    # (5.1.3, bounced) and never written to the next hop.
    mx_world(relay)
    peer = relay.peer("127.0.0.2")
    peer.rcpt = lambda addr, n: "451 4.3.0 later" if n == 1 else "250 2.1.5 Ok"
    p = relay.postern({"relay": {"retry": "3s"}},
                      aliases=["fwd@example.test: bob@remote.test, carl@remote.test"])
    send(p, "fwd@example.test")
    wait_until(lambda: p.log().count("event=deferred") >= 2, what=p.log())
    p.kill()
    [qid] = p.queue_ids()
    env = p.data_dir / "queue" / "env" / qid
    text = env.read_text()
    assert " bob@remote.test " in text
    env.write_text(text.replace(" bob@remote.test ", " bob@remote.test>%0D%0ARSET%0D%0ARCPT%20TO:<x@y ", 1))
    restart(p)
    [raw] = p.wait_messages("alice@example.test", 1, timeout=15)
    assert b"Status: 5.1.3" in raw
    [tx] = peer.wait_transactions(1, log=p.log)
    assert tx.rcpts == ["carl@remote.test"]
    assert not any(c.startswith("RSET") or "x@y" in c for c in peer.commands)
