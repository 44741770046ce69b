"""RFC 3461 delivery status notifications through the real binary: DSN in
EHLO, success reports (delivered here, relayed to a server without DSN,
none when the next server takes NOTIFY itself), RET=FULL and RET=HDRS in
bounces, NOTIFY without DELAY, and the delay warning sent once across
restarts."""
import email
import email.policy
import smtplib
import time

from conftest import restart, wait_until
from relay_env import relay  # noqa: F401  (relay is a fixture)
from test_relay_basic import mx_world
from test_relay_failures import env_text

FWD = ["fwd@example.test: bob@remote.test"]


def submit(p, rcpt, body, mail_options=(), rcpt_options=(), sender="alice@example.test"):
    with smtplib.SMTP("127.0.0.1", p.port, timeout=10) as s:
        s.ehlo("client.example.test")
        assert s.has_extn("dsn")
        s.sendmail(sender, [rcpt], body, mail_options=list(mail_options),
                   rcpt_options=list(rcpt_options))


def report_of(raw):
    """(message, per-message fields, per-recipient field dicts, third part)."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts[:2]] == ["text/plain", "message/delivery-status"]
    blocks = parts[1].get_payload()
    return msg, dict(blocks[0].items()), [dict(b.items()) for b in blocks[1:]], parts[2]


def test_local_delivery_success_report(relay):
    mx_world(relay)
    p = relay.postern()
    body = b"Subject: tell me\r\n\r\nDid it arrive?\r\n"
    submit(p, "bob@example.test", body, mail_options=["ENVID=track+2D1"],
           rcpt_options=["NOTIFY=SUCCESS", "ORCPT=rfc822;bob@example.test"])
    [got] = p.wait_messages("bob@example.test", 1)
    assert b"Did it arrive?" in got
    [raw] = p.wait_messages("alice@example.test", 1)
    msg, per_msg, rcpts, third = report_of(raw)
    assert msg["Subject"] == "Successful Mail Delivery Report"
    assert msg["From"].addresses[0].username == "MAILER-DAEMON"
    assert per_msg["Original-Envelope-Id"] == "track+2D1"
    assert rcpts == [{
        "Final-Recipient": "rfc822; bob@example.test",
        "Original-Recipient": "rfc822;bob@example.test",
        "Action": "delivered",
        "Status": "2.0.0",
        "Last-Attempt-Date": rcpts[0]["Last-Attempt-Date"],
    }]
    assert third.get_content_type() == "text/rfc822-headers"
    assert b"Subject: tell me" in third.get_payload(decode=True)
    assert b"Did it arrive?" not in raw  # a success report quotes headers only
    wait_until(lambda: p.queue_ids() == [], what=p.log())
    # The report itself comes from the null sender: nothing reports on it.
    assert "report_id=" in p.log()
    time.sleep(0.3)
    assert len(p.messages("alice@example.test")) == 1


def test_no_success_report_without_notify_success(relay):
    mx_world(relay)
    p = relay.postern()
    submit(p, "bob@example.test", b"Subject: quiet\r\n\r\nx\r\n", rcpt_options=["NOTIFY=FAILURE"])
    p.wait_messages("bob@example.test", 1)
    wait_until(lambda: p.queue_ids() == [], what=p.log())
    time.sleep(0.3)
    assert p.messages("alice@example.test") == []


def test_relayed_report_when_next_hop_lacks_dsn(relay):
    mx_world(relay)
    peer = relay.peer("127.0.0.2")
    peer.ehlo_lines = ["PIPELINING", "ENHANCEDSTATUSCODES"]
    p = relay.postern(aliases=FWD)
    submit(p, "fwd@example.test", b"Subject: onward\r\n\r\nx\r\n",
           rcpt_options=["NOTIFY=SUCCESS,FAILURE"])
    [tx] = peer.wait_transactions(1, log=p.log)
    assert "RCPT TO:<bob@remote.test>" in peer.commands  # NOTIFY withheld
    [raw] = p.wait_messages("alice@example.test", 1)
    msg, per_msg, rcpts, third = report_of(raw)
    assert msg["Subject"] == "Successful Mail Delivery Report"
    [r] = rcpts
    assert r["Final-Recipient"] == "rfc822; bob@remote.test"
    assert r["Action"] == "relayed"
    assert r["Status"].startswith("2.")
    assert r["Remote-MTA"] == "dns; mx1.remote.test"
    assert r["Diagnostic-Code"].startswith("smtp; 250")
    wait_until(lambda: p.queue_ids() == [], what=p.log())


def test_no_report_when_next_hop_takes_notify(relay):
    mx_world(relay)
    peer = relay.peer("127.0.0.2")
    peer.ehlo_lines = ["PIPELINING", "DSN", "ENHANCEDSTATUSCODES"]
    p = relay.postern(aliases=FWD)
    submit(p, "fwd@example.test", b"Subject: onward\r\n\r\nx\r\n", rcpt_options=["NOTIFY=SUCCESS"])
    peer.wait_transactions(1, log=p.log)
    assert "RCPT TO:<bob@remote.test> NOTIFY=SUCCESS" in peer.commands
    wait_until(lambda: p.queue_ids() == [], what=p.log())
    time.sleep(0.3)
    assert p.messages("alice@example.test") == []
    assert "event=success_report" not in p.log()


def answering_world(relay, reply, conf=None):
    """A Postern whose fwd@ alias goes to a remote MX that answers every
    RCPT with reply."""
    mx_world(relay)
    peer = relay.peer("127.0.0.2")
    peer.rcpt = lambda addr, n: reply
    return relay.postern(conf, aliases=FWD)


def rejected_world(relay):
    return answering_world(relay, "550 5.1.1 no such user")


def greylisted_world(relay, delay_warning):
    return answering_world(relay, "451 4.7.1 greylisted", {"relay": {
        "delay_warning": delay_warning, "retry": "1s", "queue_lifetime": "1h"}})


BODY = b"Subject: return me\r\nX-Tag: 1\r\n\r\nFirst body line.\r\n\r\nLast body line.\r\n"


def test_ret_full_returns_the_whole_message(relay):
    p = rejected_world(relay)
    submit(p, "fwd@example.test", BODY, mail_options=["RET=FULL"])
    [raw] = p.wait_messages("alice@example.test", 1)
    msg, _, rcpts, third = report_of(raw)
    assert msg["Subject"] == "Undelivered Mail Returned to Sender"
    assert rcpts[0]["Action"] == "failed" and rcpts[0]["Status"] == "5.1.1"
    assert third.get_content_type() == "message/rfc822"
    [orig] = third.get_payload()
    assert orig["Subject"] == "return me" and orig["X-Tag"] == "1"
    assert orig.get_payload().replace("\r\n", "\n") == "First body line.\n\nLast body line.\n"


def test_ret_hdrs_and_default_return_headers_only(relay):
    p = rejected_world(relay)
    submit(p, "fwd@example.test", BODY, mail_options=["RET=HDRS"])
    submit(p, "fwd@example.test", BODY)
    raws = p.wait_messages("alice@example.test", 2)
    for raw in raws:
        _, _, _, third = report_of(raw)
        assert third.get_content_type() == "text/rfc822-headers"
        assert b"X-Tag: 1" in third.get_payload(decode=True)
        assert b"First body line" not in raw


def test_notify_failure_only_gets_no_delay_warning(relay):
    p = greylisted_world(relay, "1s")
    submit(p, "fwd@example.test", b"Subject: slow\r\n\r\nx\r\n", rcpt_options=["NOTIFY=FAILURE"])
    wait_until(lambda: p.log().count("event=deferred") >= 3, timeout=15, what=p.log())
    assert p.messages("alice@example.test") == []
    assert "event=delay_warning" not in p.log()


def test_delay_warning_after_downtime_and_only_once_across_restarts(relay):
    p = greylisted_world(relay, "3s")
    submit(p, "fwd@example.test", b"Subject: slow\r\n\r\nx\r\n")
    wait_until(lambda: "rcpt pending 0 1 " in env_text(p), timeout=15, what=p.log())
    # Down while the message crosses the threshold: the warning still
    # comes, from the daemon that finds it late.
    p.kill()
    time.sleep(3.5)
    restart(p)
    [raw] = p.wait_messages("alice@example.test", 1, timeout=15)
    _, _, rcpts, _ = report_of(raw)
    assert rcpts[0]["Action"] == "delayed"
    wait_until(lambda: "warned 1" in env_text(p), what=p.log())
    # The envelope remembers it: a restart never sends a second one.
    p.kill()
    restart(p)
    n = p.log().count("event=deferred")
    wait_until(lambda: p.log().count("event=deferred") >= n + 2, timeout=15, what=p.log())
    assert len(p.messages("alice@example.test")) == 1
