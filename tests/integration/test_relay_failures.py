"""Next hops that fail for real: silent servers, dropped connections,
crashes of our own daemon, and the end of the queue lifetime."""
import email
import email.policy
import time

from conftest import restart, wait_until
from relay_env import relay, send, host_records  # noqa: F401
from test_relay_basic import dsn_of, mx_world


def env_text(p):
    [qid] = p.queue_ids()
    return (p.data_dir / "queue" / "env" / qid).read_text()


def test_silent_server_times_out_then_bounces_at_lifetime(relay):
    mx_world(relay)
    peer = relay.peer("127.0.0.2")
    peer.greeting = None  # accepts the connection, never says a word
    p = relay.postern({"relay": {"greeting_timeout": "1s", "queue_lifetime": "4s"}},
                      aliases=["fwd@example.test: bob@remote.test"])
    send(p, "fwd@example.test", b"Subject: silent\r\n\r\nx\r\n")
    [raw] = p.wait_messages("alice@example.test", 1, timeout=20)
    _, rcpts, _, headers = dsn_of(raw)
    assert rcpts[0]["Status"] == "5.4.7"
    assert rcpts[0]["Action"] == "failed"
    assert "timeout waiting for the greeting" in rcpts[0]["Diagnostic-Code"]
    assert b"Subject: silent" in headers
    log = p.log()
    assert log.count("event=deferred") >= 2
    assert "event=expired" in log
    wait_until(lambda: p.queue_ids() == [], what=f"queue empty\n{p.log()}")


def test_close_mid_data_is_retried_and_delivered_once(relay):
    mx_world(relay)
    peer = relay.peer("127.0.0.2")
    peer.close_mid_data = 100
    p = relay.postern(aliases=["fwd@example.test: bob@remote.test"])
    body = b"Subject: big\r\n\r\n" + b"line of text\r\n" * 2000
    send(p, "fwd@example.test", body)
    wait_until(lambda: "event=deferred" in p.log(), what=f"a deferral\n{p.log()}")
    assert "status=4.4.2" in p.log()
    assert peer.transactions == []
    peer.close_mid_data = None
    [tx] = peer.wait_transactions(1, log=p.log)
    assert tx.message.endswith(body.rstrip(b"\r\n"))
    wait_until(lambda: p.queue_ids() == [], what=f"queue empty\n{p.log()}")
    time.sleep(1)
    assert len(peer.transactions) == 1


def test_drop_after_final_dot_stays_queued_then_bounces(relay):
    # ROBUSTNESS check 5: no reply after the dot -> queued, retried, bounced.
    mx_world(relay)
    peer = relay.peer("127.0.0.2")
    peer.data_end = lambda tx, n: None
    p = relay.postern({"relay": {"queue_lifetime": "5s"}},
                      aliases=["fwd@example.test: bob@remote.test"])
    send(p, "fwd@example.test")
    wait_until(lambda: peer.dots >= 2, timeout=15, what=f"two tries\n{p.log()}")
    assert "lost connection" in p.log() and "after end of data" in p.log()
    [raw] = p.wait_messages("alice@example.test", 1, timeout=20)
    _, rcpts, _, _ = dsn_of(raw)
    assert rcpts[0]["Status"] == "5.4.7"
    wait_until(lambda: p.queue_ids() == [], what=f"queue empty\n{p.log()}")


def test_attempts_survive_restart(relay):
    mx_world(relay)
    peer = relay.peer("127.0.0.2")
    peer.rcpt = lambda addr, n: "451 4.7.1 greylisted" if n <= 2 else "250 2.1.5 Ok"
    p = relay.postern({"relay": {"retry": "1s, 30s"}},
                      aliases=["fwd@example.test: bob@remote.test"])
    send(p, "fwd@example.test")
    # The log line comes first, the stored envelope right after: wait for
    # the stored state, which is what a crash leaves.
    wait_until(lambda: "rcpt pending 0 2 " in env_text(p), timeout=15,
               what=f"two stored attempts\n{p.log()}")
    assert "greylisted" in env_text(p)
    p.kill()
    restart(p)
    # Recovered with its state; the next try is still 30s away, so nothing yet.
    time.sleep(1.5)
    assert peer.rcpt_counts["bob@remote.test"] == 2
    assert "rcpt pending 0 2 " in env_text(p)


def test_null_sender_failure_never_bounces(relay):
    relay.start_dns("--mx-host=nullmx.test,.,0")
    p = relay.postern(aliases=["fwd@example.test: someone@nullmx.test"])
    send(p, "fwd@example.test", sender="")
    wait_until(lambda: "bounce_id=none-null-sender" in p.log(), what=p.log())
    wait_until(lambda: p.queue_ids() == [], what=f"queue empty\n{p.log()}")
    time.sleep(0.5)
    assert p.messages("alice@example.test") == []


def test_kill_during_relay_retries_after_restart(relay):
    # ROBUSTNESS.md check 4: a crash in the middle of a relay loses nothing;
    # the copy in flight may arrive twice (at least once, never zero).
    mx_world(relay)
    peer = relay.peer("127.0.0.2")

    def slow_first(tx, n):
        if n == 1:
            time.sleep(3)
        return "250 2.0.0 Ok"
    peer.data_end = slow_first
    p = relay.postern(aliases=["fwd@example.test: bob@remote.test"])
    send(p, "fwd@example.test")
    wait_until(lambda: peer.dots >= 1, what=p.log())
    p.kill()
    restart(p)
    wait_until(lambda: len(peer.transactions) >= 2, timeout=15, what=p.log())
    wait_until(lambda: p.queue_ids() == [], what=p.log())
    assert "event=delivered" in p.log()


def test_delay_warning_sent_once(relay):
    mx_world(relay)
    peer = relay.peer("127.0.0.2")
    peer.rcpt = lambda addr, n: "451 4.7.1 greylisted, come back later"
    p = relay.postern({"relay": {"delay_warning": "2s", "queue_lifetime": "1h"}},
                      aliases=["fwd@example.test: bob@remote.test"])
    send(p, "fwd@example.test", b"Subject: slow one\r\n\r\nx\r\n")
    [raw] = p.wait_messages("alice@example.test", 1, timeout=15)
    msg, rcpts, per_msg, headers = dsn_of(raw)
    assert msg["Subject"] == "Delayed Mail (still being retried)"
    assert rcpts[0]["Action"] == "delayed"
    assert rcpts[0]["Status"] == "4.7.1"
    assert rcpts[0]["Remote-MTA"] == "dns; mx1.remote.test"
    assert "greylisted" in rcpts[0]["Diagnostic-Code"]
    assert "Will-Retry-Until" in rcpts[0]
    assert b"Subject: slow one" in headers
    assert b"THIS IS A WARNING ONLY" in raw
    # More deferrals follow; the warning does not.
    n = p.log().count("event=deferred")
    wait_until(lambda: p.log().count("event=deferred") >= n + 2, timeout=15, what=p.log())
    assert len(p.messages("alice@example.test")) == 1
    assert p.log().count("event=delay_warning ") == 1
    assert len(p.queue_ids()) == 1  # still trying


def test_no_delay_warning_when_off(relay):
    mx_world(relay)
    peer = relay.peer("127.0.0.2")
    peer.rcpt = lambda addr, n: "451 4.3.0 later"
    p = relay.postern({"relay": {"delay_warning": "0"}},
                      aliases=["fwd@example.test: bob@remote.test"])
    send(p, "fwd@example.test")
    wait_until(lambda: p.log().count("event=deferred") >= 3, timeout=15, what=p.log())
    assert p.messages("alice@example.test") == []
    assert "event=delay_warning" not in p.log()
