"""A malicious or broken next hop (CVE-2020-8794 family, ROBUSTNESS.md
check 13): odd, huge, endless or binary replies never crash the client,
never get into the envelope raw, and the queue still parses after a restart."""
import time

from conftest import restart, wait_until
from relay_env import relay, send  # noqa: F401
from test_relay_basic import mx_world


def check_survives(p, expect_in_log):
    wait_until(lambda: "event=deferred" in p.log(), timeout=15, what=f"a deferral\n{p.log()}")
    assert p.proc.poll() is None
    assert expect_in_log in p.log(), p.log()
    [qid] = p.queue_ids()
    p.kill()
    restart(p)
    assert p.queue_ids() == [qid]
    assert "queued=1" in p.log().split("event=privileges_dropped")[-1]
    assert not (p.data_dir / "queue" / "corrupt").exists() or \
        list((p.data_dir / "queue" / "corrupt").iterdir()) == []


def test_code_only_replies_are_valid(relay):
    mx_world(relay)
    peer = relay.peer("127.0.0.2")
    peer.greeting = "220"
    peer.ehlo_raw = b"250\r\n"
    peer.mail = lambda addr: "250"
    peer.rcpt = lambda addr, n: "250"
    peer.data_end = lambda tx, n: "250"
    p = relay.postern(aliases=["fwd@example.test: bob@remote.test"])
    send(p, "fwd@example.test")
    peer.wait_transactions(1, log=p.log)
    wait_until(lambda: p.queue_ids() == [], what=f"queue empty\n{p.log()}")
    assert 'reply=250 after="end of data"' in p.log()


def test_short_reply_line(relay):
    mx_world(relay)
    peer = relay.peer("127.0.0.2")
    peer.greeting = "2"
    p = relay.postern(aliases=["fwd@example.test: bob@remote.test"])
    send(p, "fwd@example.test")
    check_survives(p, "does not start with a 3-digit code")


def test_endless_continuation_lines(relay):
    mx_world(relay)
    peer = relay.peer("127.0.0.2")
    peer.ehlo_raw = b"250-PIPELINING\r\n" * 10000 + b"250 OK\r\n"
    p = relay.postern(aliases=["fwd@example.test: bob@remote.test"])
    send(p, "fwd@example.test")
    check_survives(p, "reply has too many lines")


def test_megabyte_line(relay):
    mx_world(relay)
    peer = relay.peer("127.0.0.2")
    peer.greeting = "220 " + "A" * (1024 * 1024)
    p = relay.postern(aliases=["fwd@example.test: bob@remote.test"])
    send(p, "fwd@example.test")
    check_survives(p, "reply line is too long")


def test_nul_and_bare_cr_lf_in_reply_text(relay):
    mx_world(relay)
    peer = relay.peer("127.0.0.2")
    peer.rcpt = lambda addr, n: "451 4.3.0 evil\x00text\rwith\nnewline\r\nrcpt bob 0 0 0 x@y"
    p = relay.postern(aliases=["fwd@example.test: bob@remote.test"])
    send(p, "fwd@example.test")
    [qid] = wait_until(p.queue_ids, what="a queued message")
    path = p.data_dir / "queue" / "env" / qid
    env = wait_until(lambda: "evil" in path.read_text() and path.read_text(), timeout=15,
                     what=f"the stored reply\n{p.log()}")
    # Sanitised, then escaped: one rcpt line, no injected field.
    assert env.count("\nrcpt ") == 1
    assert "evil?text?with?newline" in env
    # After the CRLF, "rcpt bob ..." is a malformed reply of its own: it can
    # only end the session, never become an envelope line.
    assert p.proc.poll() is None
    p.kill()
    restart(p)
    assert p.queue_ids() == [qid]


def test_extra_reply_after_final_dot(relay):
    mx_world(relay)
    peer = relay.peer("127.0.0.2")
    peer.data_end = lambda tx, n: "250 2.0.0 Ok\r\n250 2.0.0 and again"
    p = relay.postern(aliases=["fwd@example.test: bob@remote.test"])
    send(p, "fwd@example.test")
    peer.wait_transactions(1, log=p.log)
    wait_until(lambda: p.queue_ids() == [], what=f"queue empty\n{p.log()}")
    time.sleep(0.5)
    assert p.proc.poll() is None
    assert len(peer.transactions) == 1
