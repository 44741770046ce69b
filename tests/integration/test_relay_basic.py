"""Outbound relay through the real binary: MX routing, delivery to scripted
peers, per-recipient results, retries and bounces."""
import email
import email.policy
import time

from conftest import wait_until
from relay_env import relay, send, host_records  # noqa: F401


def mx_world(relay, *extra):
    relay.start_dns(
        "--mx-host=remote.test,mx1.remote.test,10",
        host_records("mx1.remote.test", "127.0.0.2"),
        *extra,
    )


def test_relay_to_mx(relay):
    mx_world(relay)
    peer = relay.peer("127.0.0.2")
    p = relay.postern(aliases=["fwd@example.test: bob@remote.test"])
    body = b"From: alice@example.test\r\nSubject: hi\r\n\r\nHello.\r\n.leading dot\r\n"
    send(p, "fwd@example.test", body)
    [tx] = peer.wait_transactions(1, log=p.log)
    assert tx.mail_from == "alice@example.test"
    assert tx.rcpts == ["bob@remote.test"]
    assert tx.message.endswith(body.rstrip(b"\r\n"))
    assert b"\r\n..leading dot" in tx.wire
    wait_until(lambda: p.queue_ids() == [], what=f"queue empty\n{p.log()}")
    log = p.log()
    assert "event=delivered" in log and "relay=mx1.remote.test" in log
    assert "addr=127.0.0.2:" in log and "status=2.0.0" in log


def dsn_of(raw):
    """(message, [per-recipient status field dicts], per-message dict,
    headers part text) of a bounce as stored in a Maildir."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == [
        "text/plain", "message/delivery-status", "text/rfc822-headers"]
    blocks = parts[1].get_payload()
    per_msg = dict(blocks[0].items())
    per_rcpt = [dict(b.items()) for b in blocks[1:]]
    return msg, per_rcpt, per_msg, parts[2].get_payload(decode=True)


def test_mx_preference_and_fallback(relay):
    # Best MX refuses connections (nothing listens on 127.0.0.3); the next works.
    relay.start_dns(
        "--mx-host=remote.test,mx-dead.remote.test,5",
        "--mx-host=remote.test,mx-good.remote.test,20",
        "--mx-host=remote.test,mx-worse.remote.test,30",
        host_records("mx-dead.remote.test", "127.0.0.3"),
        host_records("mx-good.remote.test", "127.0.0.2"),
        host_records("mx-worse.remote.test", "127.0.0.4"),
    )
    good = relay.peer("127.0.0.2")
    worse = relay.peer("127.0.0.4")
    p = relay.postern(aliases=["fwd@example.test: bob@remote.test"])
    send(p, "fwd@example.test")
    good.wait_transactions(1, log=p.log)
    wait_until(lambda: p.queue_ids() == [], what=f"queue empty\n{p.log()}")
    assert worse.connections == 0
    log = p.log()
    assert "event=relay_connect_failed relay=mx-dead.remote.test[127.0.0.3]" in log
    assert "event=delivered" in log and "relay=mx-good.remote.test" in log


def test_implicit_mx_and_ipv6(relay):
    relay.start_dns(
        host_records("implicit.test", "127.0.0.5"),
        "--mx-host=six.test,mx.six.test,10",
        host_records("mx.six.test", "::1"),
    )
    v4 = relay.peer("127.0.0.5")
    v6 = relay.peer("::1")
    p = relay.postern(aliases=["fwd@example.test: carl@implicit.test, dora@six.test"])
    send(p, "fwd@example.test")
    [tx4] = v4.wait_transactions(1, log=p.log)
    [tx6] = v6.wait_transactions(1, log=p.log)
    assert tx4.rcpts == ["carl@implicit.test"]
    assert tx6.rcpts == ["dora@six.test"]
    wait_until(lambda: p.queue_ids() == [], what=f"queue empty\n{p.log()}")
    assert "addr=[::1]:" in p.log()


def test_null_mx_bounces_at_once(relay):
    relay.start_dns("--mx-host=nullmx.test,.,0")
    p = relay.postern(aliases=["fwd@example.test: someone@nullmx.test"])
    send(p, "fwd@example.test", b"Subject: to null MX\r\nMessage-ID: <nm@example.test>\r\n\r\nx\r\n")
    [raw] = p.wait_messages("alice@example.test", 1)
    msg, rcpts, per_msg, headers = dsn_of(raw)
    assert msg["From"].addresses[0].addr_spec == "MAILER-DAEMON@mx.example.test"
    assert rcpts[0]["Final-Recipient"] == "rfc822; someone@nullmx.test"
    assert rcpts[0]["Action"] == "failed"
    assert rcpts[0]["Status"] == "5.1.10"
    assert "null MX" in rcpts[0]["Diagnostic-Code"]
    assert per_msg["Reporting-MTA"] == "dns; mx.example.test"
    assert "Arrival-Date" in per_msg
    assert b"Message-ID: <nm@example.test>" in headers
    assert raw.startswith(b"Return-Path: <>\n")
    wait_until(lambda: p.queue_ids() == [], what=f"queue empty\n{p.log()}")


def test_nxdomain_bounces(relay):
    relay.start_dns("--address=/nx.test/")
    p = relay.postern(aliases=["fwd@example.test: someone@nx.test"])
    send(p, "fwd@example.test")
    [raw] = p.wait_messages("alice@example.test", 1)
    _, rcpts, _, _ = dsn_of(raw)
    assert rcpts[0]["Status"] == "5.1.2"
    assert "NXDOMAIN" in rcpts[0]["Diagnostic-Code"]


def test_servfail_defers_and_retries(relay):
    relay.start_dns()  # knows nothing: REFUSED, which the resolver reports as SERVFAIL
    p = relay.postern(aliases=["fwd@example.test: someone@unknown.test"])
    send(p, "fwd@example.test")
    wait_until(lambda: p.log().count("event=deferred") >= 2, timeout=15,
               what=f"two deferrals\n{p.log()}")
    log = p.log()
    assert "status=4.4.3" in log and "SERVFAIL" in log
    [qid] = p.queue_ids()
    path = p.data_dir / "queue" / "env" / qid
    env = wait_until(lambda: "SERVFAIL" in path.read_text() and path.read_text(), what=log)
    assert "rcpt pending" in env
    assert p.messages("alice@example.test") == []


def test_4xx_then_2xx(relay):
    mx_world(relay)
    peer = relay.peer("127.0.0.2")
    peer.rcpt = lambda addr, n: "451 4.3.0 try again later" if n == 1 else "250 2.1.5 Ok"
    p = relay.postern(aliases=["fwd@example.test: bob@remote.test"])
    send(p, "fwd@example.test")
    [tx] = peer.wait_transactions(1, log=p.log)
    wait_until(lambda: p.queue_ids() == [], what=f"queue empty\n{p.log()}")
    log = p.log()
    assert "event=deferred" in log and "status=4.3.0" in log and "451 4.3.0 try again later" in log
    assert log.count("event=delivered") == 1
    assert peer.rcpt_counts["bob@remote.test"] == 2


def test_5xx_to_one_of_three(relay):
    mx_world(relay)
    peer = relay.peer("127.0.0.2")
    peer.rcpt = lambda addr, n: ("550 5.1.1 <b2@remote.test>: Recipient address rejected: "
                                 "User unknown" if addr == "b2@remote.test" else "250 2.1.5 Ok")
    p = relay.postern(aliases=["fwd@example.test: b1@remote.test, b2@remote.test, b3@remote.test"])
    send(p, "fwd@example.test", b"Subject: three\r\n\r\nbody\r\n")
    [tx] = peer.wait_transactions(1, log=p.log)
    assert sorted(tx.rcpts) == ["b1@remote.test", "b3@remote.test"]
    [raw] = p.wait_messages("alice@example.test", 1)
    _, rcpts, _, headers = dsn_of(raw)
    assert len(rcpts) == 1
    r = rcpts[0]
    assert r["Final-Recipient"] == "rfc822; b2@remote.test"
    assert r["Action"] == "failed"
    assert r["Status"] == "5.1.1"
    assert r["Remote-MTA"] == "dns; mx1.remote.test"
    assert r["Diagnostic-Code"].startswith("smtp; 550 5.1.1 <b2@remote.test>: Recipient")
    assert b"Subject: three" in headers
    wait_until(lambda: p.queue_ids() == [], what=f"queue empty\n{p.log()}")
    time.sleep(1.5)  # no second transaction, no second bounce
    assert len(peer.transactions) == 1
    assert len(p.messages("alice@example.test")) == 1


def test_smarthost_takes_everything_without_mx(relay):
    # The recipient domains have no DNS at all: only the smarthost's name does.
    relay.start_dns(host_records("smart.test", "127.0.0.7"))
    smart = relay.peer("127.0.0.7")
    p = relay.postern({"relay": {"smarthost": f"smart.test:{relay.port}",
                                 "smarthost_tls": "may"}},  # a plain-text peer
                      aliases=["fwd@example.test: a@one.test, b@two.test"])
    send(p, "fwd@example.test")
    [tx] = smart.wait_transactions(1, log=p.log)
    assert sorted(tx.rcpts) == ["a@one.test", "b@two.test"]  # one transaction for both
    wait_until(lambda: p.queue_ids() == [], what=p.log())
    assert "relay=smart.test addr=127.0.0.7:" in p.log()


def test_smarthost_ip_literal(relay):
    relay.start_dns()
    smart = relay.peer("127.0.0.8")
    p = relay.postern({"relay": {"smarthost": f"[127.0.0.8]:{relay.port}",
                                 "smarthost_tls": "may"}},  # a plain-text peer
                      aliases=["fwd@example.test: a@one.test"])
    send(p, "fwd@example.test")
    smart.wait_transactions(1, log=p.log)


def test_relay_settings_checked_with_line_numbers(make_postern):
    import subprocess
    from conftest import BIN
    for key, value in [("smarthost", "bad host:25"), ("smarthost", "relay.test:99999"),
                       ("smarthost", "[::1"), ("resolver", "dns.example:53"),
                       ("connect_timeout", "soon"), ("connections_per_domain", "0")]:
        p = make_postern({"relay": {key: value}}, start=False, subdir=f"c-{key}-{len(value)}")
        r = subprocess.run([BIN, "-c", str(p.conf_path), "check"], capture_output=True, text=True)
        assert r.returncode == 1, (key, value, r.stderr)
        lines = p.conf_path.read_text().splitlines()
        n = next(i + 1 for i, l in enumerate(lines) if l.startswith(f"{key} = "))
        assert f"postern.conf:{n}: [relay] {key}:" in r.stderr, r.stderr
    for value in ["smart.test", "smart.test:2525", "[127.0.0.1]:2525", "[::1]:25"]:
        p = make_postern({"relay": {"smarthost": value}}, start=False, subdir=f"ok-{len(value)}")
        r = subprocess.run([BIN, "-c", str(p.conf_path), "check"], capture_output=True, text=True)
        assert r.returncode == 0, (value, r.stderr)


def test_smarthost_credentials_need_each_other(make_postern):
    import subprocess
    from conftest import BIN
    for relay_conf in [{"smarthost": "smart.test", "smarthost_user": "u"},
                       {"smarthost_user": "u", "smarthost_password": "p"}]:
        p = make_postern({"relay": relay_conf}, start=False, subdir=f"cred{id(relay_conf)}")
        r = subprocess.run([BIN, "-c", str(p.conf_path), "check"], capture_output=True, text=True)
        assert r.returncode == 1 and "smarthost_user and smarthost_password go together" in r.stderr
