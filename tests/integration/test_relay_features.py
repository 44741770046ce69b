"""What the outbound client negotiates: STARTTLS, PIPELINING or not, HELO
fallback, SIZE, 8BITMIME, SMTPUTF8; connection reuse and limits."""
import smtplib
import time

from conftest import wait_until
from relay_env import host_records, relay, send, self_signed  # noqa: F401
from test_relay_basic import dsn_of, mx_world

FWD = ["fwd@example.test: bob@remote.test"]


def test_opportunistic_starttls(relay, workdir):
    mx_world(relay)
    peer = relay.peer("127.0.0.2")
    peer.tls_context = self_signed(workdir)
    p = relay.postern(aliases=FWD)
    send(p, "fwd@example.test")
    [tx] = peer.wait_transactions(1, log=p.log)
    assert tx.tls
    wait_until(lambda: "event=delivered" in p.log(), what=p.log())
    log = p.log()
    assert "event=relay_tls relay=mx1.remote.test[127.0.0.2]" in log
    assert "version=TLSv1.3" in log
    assert 'peer_subject="/CN=peer.remote.test"' in log
    assert "verified=yes" not in log  # self-signed: logged, not fatal
    assert "tls=yes" in log
    # EHLO again after TLS (RFC 3207 4.2).
    assert [c.split()[0] for c in peer.commands].count("EHLO") == 2


def test_tls_handshake_failure_falls_back_to_plaintext(relay, workdir):
    mx_world(relay)
    peer = relay.peer("127.0.0.2")
    peer.tls_context = self_signed(workdir)
    peer.tls_break = True
    p = relay.postern(aliases=FWD)
    send(p, "fwd@example.test")
    [tx] = peer.wait_transactions(1, log=p.log)
    assert not tx.tls
    assert "event=relay_tls_failed" in p.log()
    assert peer.connections == 2


def test_no_pipelining_and_helo_fallback(relay):
    mx_world(relay)
    peer = relay.peer("127.0.0.2")
    peer.refuse_ehlo = True
    p = relay.postern(aliases=["fwd@example.test: b1@remote.test, b2@remote.test"])
    send(p, "fwd@example.test")
    [tx] = peer.wait_transactions(1, log=p.log)
    assert tx.helo == "mx.example.test"
    assert sorted(tx.rcpts) == ["b1@remote.test", "b2@remote.test"]
    assert tx.mail_params == ""  # no extensions without EHLO
    assert "HELO mx.example.test" in peer.commands


def test_size_and_8bitmime_declared(relay):
    mx_world(relay)
    peer = relay.peer("127.0.0.2")
    p = relay.postern(aliases=FWD)
    body = "Subject: caf\u00e9\r\n\r\nna\u00efve\r\n".encode()
    with smtplib.SMTP("127.0.0.1", p.port, timeout=10) as s:
        s.ehlo("c")
        s.sendmail("alice@example.test", ["fwd@example.test"], body, mail_options=["BODY=8BITMIME"])
    [tx] = peer.wait_transactions(1, log=p.log)
    assert "BODY=8BITMIME" in tx.mail_params
    assert "SIZE=" in tx.mail_params
    assert tx.message.endswith(body.rstrip(b"\r\n"))


def test_smtputf8_to_server_without_it_bounces(relay):
    mx_world(relay)
    peer = relay.peer("127.0.0.2")
    peer.ehlo_lines = ["PIPELINING", "8BITMIME"]
    p = relay.postern(aliases=FWD)
    with smtplib.SMTP("127.0.0.1", p.port, timeout=10) as s:
        s.ehlo("c")
        s.sendmail("alice@example.test", ["fwd@example.test"],
                   "Subject: \u00e9\r\n\r\nx\r\n".encode(), mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    [raw] = p.wait_messages("alice@example.test", 1)
    _, rcpts, _, _ = dsn_of(raw)
    assert rcpts[0]["Status"] == "5.6.7"
    assert "SMTPUTF8" in rcpts[0]["Diagnostic-Code"]
    assert peer.transactions == []


def test_smtputf8_declared_when_offered(relay):
    mx_world(relay)
    peer = relay.peer("127.0.0.2")
    p = relay.postern(aliases=FWD)
    with smtplib.SMTP("127.0.0.1", p.port, timeout=10) as s:
        s.ehlo("c")
        s.sendmail("alice@example.test", ["fwd@example.test"],
                   "Subject: \u00e9\r\n\r\nx\r\n".encode(), mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    [tx] = peer.wait_transactions(1, log=p.log)
    assert "SMTPUTF8" in tx.mail_params


def test_message_over_remote_size_limit_bounces(relay):
    mx_world(relay)
    peer = relay.peer("127.0.0.2")
    peer.ehlo_lines = ["PIPELINING", "SIZE 1000"]
    p = relay.postern(aliases=FWD)
    send(p, "fwd@example.test", b"Subject: big\r\n\r\n" + (b"x" * 70 + b"\r\n") * 100)
    [raw] = p.wait_messages("alice@example.test", 1)
    _, rcpts, _, _ = dsn_of(raw)
    assert rcpts[0]["Status"] == "5.3.4"
    assert peer.transactions == []


def test_connection_reuse_and_per_domain_limit(relay):
    mx_world(relay)
    peer = relay.peer("127.0.0.2")

    def slow(tx, n):
        time.sleep(0.3)
        return "250 2.0.0 Ok"
    peer.data_end = slow
    p = relay.postern({"relay": {"connections_per_domain": "2"}}, aliases=FWD)
    with smtplib.SMTP("127.0.0.1", p.port, timeout=10) as s:
        s.ehlo("c")
        for i in range(8):
            s.sendmail("alice@example.test", ["fwd@example.test"],
                       f"Subject: m{i}\r\n\r\nx\r\n".encode())
    peer.wait_transactions(8, timeout=20, log=p.log)
    wait_until(lambda: p.queue_ids() == [], what=f"queue empty\n{p.log()}")
    assert peer.max_active <= 2
    assert peer.connections < 8  # at least one connection carried several messages
    assert p.log().count("event=delivered") == 8


def test_dsn_parameters_passed_on_when_offered(relay):
    mx_world(relay)
    peer = relay.peer("127.0.0.2")
    peer.ehlo_lines = ["PIPELINING", "DSN", "ENHANCEDSTATUSCODES"]
    p = relay.postern(aliases=FWD)
    with smtplib.SMTP("127.0.0.1", p.port, timeout=10) as s:
        s.ehlo("c")
        s.sendmail("alice@example.test", ["fwd@example.test"], b"Subject: dsn\r\n\r\nx\r\n",
                   mail_options=["RET=HDRS", "ENVID=env+2B1"],
                   rcpt_options=["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;fwd@example.test"])
    peer.wait_transactions(1, log=p.log)
    mail = [c for c in peer.commands if c.startswith("MAIL")][0]
    rcpt = [c for c in peer.commands if c.startswith("RCPT")][0]
    assert mail == "MAIL FROM:<alice@example.test> RET=HDRS ENVID=env+2B1"
    assert rcpt == "RCPT TO:<bob@remote.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;fwd@example.test"


def test_dsn_parameters_withheld_when_not_offered(relay):
    mx_world(relay)
    peer = relay.peer("127.0.0.2")
    peer.ehlo_lines = ["PIPELINING"]
    p = relay.postern(aliases=FWD)
    with smtplib.SMTP("127.0.0.1", p.port, timeout=10) as s:
        s.ehlo("c")
        s.sendmail("alice@example.test", ["fwd@example.test"], b"Subject: dsn\r\n\r\nx\r\n",
                   mail_options=["RET=FULL", "ENVID=e1"], rcpt_options=["NOTIFY=FAILURE"])
    peer.wait_transactions(1, log=p.log)
    assert "MAIL FROM:<alice@example.test>" in peer.commands
    assert "RCPT TO:<bob@remote.test>" in peer.commands


def test_notify_never_suppresses_the_bounce(relay):
    mx_world(relay)
    peer = relay.peer("127.0.0.2")
    peer.rcpt = lambda addr, n: "550 5.1.1 no such user"
    p = relay.postern(aliases=FWD)
    with smtplib.SMTP("127.0.0.1", p.port, timeout=10) as s:
        s.ehlo("c")
        s.sendmail("alice@example.test", ["fwd@example.test"], b"Subject: quiet\r\n\r\nx\r\n",
                   rcpt_options=["NOTIFY=NEVER"])
    wait_until(lambda: "bounce_id=none-notify" in p.log(), what=p.log())
    wait_until(lambda: p.queue_ids() == [], what=p.log())
    time.sleep(0.5)
    assert p.messages("alice@example.test") == []


def smarthost_world(relay, workdir, tls=True, password="s3cret pass"):
    relay.start_dns(host_records("smart.test", "127.0.0.7"))
    smart = relay.peer("127.0.0.7")
    smart.auth = ("relayuser", "s3cret pass")
    if tls:
        smart.tls_context = self_signed(workdir)
    # A self-signed peer (or none): "encrypt" accepts it but needs TLS for
    # the password, "may" lets the plain-text one be tried
    # (test_relay_tls_verify.py has the verifying default).
    p = relay.postern({"relay": {"smarthost": f"smart.test:{relay.port}",
                                 "smarthost_tls": "encrypt" if tls else "may",
                                 "smarthost_user": "relayuser",
                                 "smarthost_password": password}},
                      aliases=["fwd@example.test: a@one.test"])
    return smart, p


def test_smarthost_auth_over_tls(relay, workdir):
    smart, p = smarthost_world(relay, workdir)
    send(p, "fwd@example.test")
    [tx] = smart.wait_transactions(1, log=p.log)
    assert tx.tls
    assert smart.auth_seen == [("relayuser", "s3cret pass", True)]
    assert "event=relay_auth" in p.log() and "user=relayuser" in p.log()
    assert "s3cret" not in p.log()


def test_smarthost_credentials_never_sent_without_tls(relay, workdir):
    smart, p = smarthost_world(relay, workdir, tls=False)
    send(p, "fwd@example.test")
    wait_until(lambda: "event=deferred" in p.log(), what=p.log())
    assert "credentials were not sent" in p.log()
    assert smart.auth_seen == [] and smart.transactions == []
    assert len(p.queue_ids()) == 1


def test_smarthost_wrong_password_defers(relay, workdir):
    smart, p = smarthost_world(relay, workdir, password="wrong")
    send(p, "fwd@example.test")
    wait_until(lambda: "event=deferred" in p.log(), what=p.log())
    assert "refused our credentials: 535 5.7.8" in p.log()
    assert smart.transactions == []
    assert len(p.queue_ids()) == 1  # a configuration problem: kept, never bounced
