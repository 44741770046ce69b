"""Issue 5 against real relay state: a remote MX that defers (451) keeps
the message in the queue; the queue commands show it and act on it."""
import json
import subprocess
import threading
import time

from conftest import BIN, wait_until
from relay_env import relay, send  # noqa: F401  (relay is a fixture)
from test_relay_basic import mx_world


def queue(p, *args):
    return subprocess.run([BIN, "-c", str(p.conf_path), "queue", *args], capture_output=True,
                          timeout=30)


def test_deferring_peer_list_show_hold_release_flush_delete(relay):
    mx_world(relay)
    peer = relay.peer("127.0.0.2")
    answer = {"rcpt": "451 4.3.0 Try again later, greylisted"}
    peer.rcpt = lambda addr, n: answer["rcpt"]
    p = relay.postern({"relay": {"retry": "1h"}},
                      aliases=["fwd@example.test: bob@remote.test", "fwd2@example.test: carol@remote.test"])
    send(p, "fwd@example.test", b"Subject: one\r\n\r\nx\r\n")
    send(p, "fwd2@example.test", b"Subject: two\r\n\r\nx\r\n")
    wait_until(lambda: p.log().count("event=deferred") >= 2, what="two deferrals\n" + p.log())
    out = queue(p, "list").stdout.decode()
    assert "bob@remote.test" in out and "greylisted" in out and "next attempt in" in out
    data = {m["recipients"][0]["address"]: m for m in json.loads(queue(p, "list", "--json").stdout)}
    bob, carol = data["bob@remote.test"], data["carol@remote.test"]
    assert "451" in bob["recipients"][0]["last_error"]
    assert "Subject: one" in queue(p, "show", bob["id"]).stdout.decode()
    # hold one, then let the peer accept: a flush sends only the other
    assert queue(p, "hold", bob["id"]).returncode == 0
    answer["rcpt"] = "250 2.1.5 Ok"
    r = queue(p, "flush")
    assert r.returncode == 0
    [tx] = peer.wait_transactions(1, log=p.log)
    assert tx.rcpts == ["carol@remote.test"]
    # The peer records the transaction as it answers 250; Postern removes
    # carol's entry only after reading that reply, so wait for it.
    wait_until(lambda: p.queue_ids() == [bob["id"]], what="only bob's entry left\n" + p.log())
    # release: tried at once
    assert queue(p, "release", bob["id"]).returncode == 0
    txs = peer.wait_transactions(2, log=p.log)
    assert txs[1].rcpts == ["bob@remote.test"]
    wait_until(lambda: p.queue_ids() == [], what="the queue to empty\n" + p.log())


def test_delete_a_deferred_message(relay):
    mx_world(relay)
    peer = relay.peer("127.0.0.2")
    peer.rcpt = lambda addr, n: "451 4.3.0 later"
    p = relay.postern({"relay": {"retry": "1h"}}, aliases=["fwd@example.test: bob@remote.test"])
    send(p, "fwd@example.test", b"Subject: doomed\r\n\r\nx\r\n")
    wait_until(lambda: "event=deferred" in p.log(), what="a deferral\n" + p.log())
    [qid] = p.queue_ids()
    assert queue(p, "delete", qid).returncode == 0
    wait_until(lambda: p.queue_ids() == [], what="the queue to empty")
    assert "reason=deleted_by_operator" in p.log()


def test_delete_and_hold_during_an_attempt_wait_for_its_end(relay):
    mx_world(relay)
    peer = relay.peer("127.0.0.2")
    go = threading.Event()

    def slow_rcpt(addr, n):
        go.wait(10)
        return "451 4.3.0 later"

    peer.rcpt = slow_rcpt
    p = relay.postern({"relay": {"retry": "1s"}},
                      aliases=["fwd@example.test: bob@remote.test", "fwd2@example.test: carol@remote.test"])
    send(p, "fwd@example.test", b"Subject: doomed\r\n\r\nx\r\n")
    wait_until(lambda: any(c.startswith("RCPT") for c in peer.commands), what=p.log())
    [qid] = p.queue_ids()
    # The remote server is thinking: the delete is remembered, not refused.
    r = queue(p, "delete", qid)
    assert r.returncode == 0, r.stderr
    assert b"deleted when this attempt ends" in r.stdout
    assert p.queue_ids() == [qid]
    go.set()
    wait_until(lambda: p.queue_ids() == [], what="the queue to empty\n" + p.log())
    log = p.log()
    assert "event=deferred" in log and "reason=deleted_by_operator" in log
    assert p.messages("alice@example.test") == []  # deleted, not bounced
    # The same for hold: the message stays, untried, until released.
    go.clear()
    send(p, "fwd2@example.test", b"Subject: wait\r\n\r\nx\r\n")
    wait_until(lambda: peer.rcpt_counts.get("carol@remote.test") == 1, what=p.log())
    [qid] = p.queue_ids()
    r = queue(p, "hold", qid)
    assert r.returncode == 0 and b"held when this attempt ends" in r.stdout
    go.set()
    wait_until(lambda: "held 1" in (p.data_dir / "queue" / "env" / qid).read_text(), what=p.log())
    time.sleep(2.5)  # the 1s retry would have tried again by now
    assert peer.rcpt_counts["carol@remote.test"] == 1
    assert queue(p, "release", qid).returncode == 0
    wait_until(lambda: peer.rcpt_counts["carol@remote.test"] >= 2, what=p.log())
