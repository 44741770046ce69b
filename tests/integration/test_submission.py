"""Issue 3: submission with STARTTLS (587) and implicit TLS (465), SMTP AUTH,
the sender policy, and the `postern user` command, through the real binary
and real clients (smtplib with a CA-verifying context, swaks, msmtp)."""
import base64
import pathlib
import email
import smtplib
import socket
import ssl
import subprocess
import threading
import time

import pytest

from conftest import BIN, Raw, wait_until
from tlsenv import PASSWORDS, add_user, client_context, submission_server

ALICE, BOB = "alice@example.test", "bob@example.test"


@pytest.fixture
def sub(make_postern, workdir):
    # A resolver that never answers: remote copies stay queued (deferred),
    # and no test asks the machine's own DNS (DESIGN.md section 6).
    return submission_server(make_postern, workdir, {"relay": {"resolver": "127.0.0.1:9"}})


def msg(frm=ALICE, to=BOB, subject="hello", extra=b""):
    return (f"From: {frm}\r\nTo: {to}\r\nSubject: {subject}\r\n".encode() + extra +
            b"\r\nBody line.\r\n.dot line\r\n")


def starttls_client(p):
    s = smtplib.SMTP("127.0.0.1", p.sub_port, timeout=10)
    s.ehlo("client.example.test")
    s.starttls(context=client_context(p.ca))
    s.ehlo("client.example.test")
    return s


def test_587_starttls_auth_delivers_with_esmtpsa_and_added_headers(sub):
    s = smtplib.SMTP("127.0.0.1", sub.sub_port, timeout=10)
    code, caps = s.ehlo("client.example.test")
    assert b"STARTTLS" in caps and b"AUTH" not in caps  # no AUTH offered before TLS
    s.starttls(context=client_context(sub.ca))
    code, caps = s.ehlo("client.example.test")
    assert b"AUTH PLAIN LOGIN" in caps and b"STARTTLS" not in caps
    assert s.login(ALICE, PASSWORDS[ALICE])[0] == 235
    s.sendmail(ALICE, [BOB], msg())
    s.quit()
    [got] = sub.wait_messages(BOB, 1)
    m = email.message_from_bytes(got)
    assert "with ESMTPSA" in m["Received"] and "TLSv1." in m["Received"]
    assert m["Date"] and m["Message-ID"].endswith("@mx.example.test>")
    assert got.endswith(b"\nBody line.\n.dot line\n")


def test_465_implicit_tls(sub):
    with smtplib.SMTP_SSL("127.0.0.1", sub.subs_port, timeout=10,
                          context=client_context(sub.ca)) as s:
        s.ehlo("client.example.test")
        assert s.login(BOB, PASSWORDS[BOB])[0] == 235
        s.sendmail(BOB, [ALICE], msg(frm=BOB, to=ALICE,
                                     extra=b"Date: Thu, 1 Jan 2026 00:00:00 +0000\r\nMessage-ID: <x@y>\r\n"))
    [got] = sub.wait_messages(ALICE, 1)
    m = email.message_from_bytes(got)
    assert m["Message-ID"] == "<x@y>" and m["Date"] == "Thu, 1 Jan 2026 00:00:00 +0000"
    assert len(m.get_all("Message-ID")) == 1 and len(m.get_all("Date")) == 1


def test_login_mechanism_and_remote_recipient_is_queued(sub):
    s = starttls_client(sub)
    code, _ = s.docmd("AUTH LOGIN")
    assert code == 334
    assert s.docmd(base64.b64encode(ALICE.encode()).decode())[0] == 334
    assert s.docmd(base64.b64encode(PASSWORDS[ALICE].encode()).decode())[0] == 235
    s.sendmail(ALICE, ["someone@remote.test", BOB], msg(to="someone@remote.test"))
    s.quit()
    sub.wait_messages(BOB, 1)
    # The remote copy waits in the queue for the relay (issue 4).
    env = wait_until(lambda: [p.read_text() for p in (sub.data_dir / "queue" / "env").iterdir()],
                     what="a queued envelope")
    assert "someone@remote.test" in env[0] and "auth alice@example.test" in env[0]


def test_auth_before_tls_is_refused_538(sub):
    with Raw(sub.sub_port) as c:
        c.ehlo()
        code, text = c.cmd("AUTH PLAIN " + base64.b64encode(f"\0{ALICE}\0{PASSWORDS[ALICE]}".encode()).decode())
        assert code == 538 and text.startswith(b"5.7.11")
        code, text = c.cmd("MAIL FROM:<alice@example.test>")
        assert code == 530 and text.startswith(b"5.7.0")


def test_mail_before_auth_530_after_tls(sub):
    s = starttls_client(sub)
    code, text = s.mail(ALICE)
    assert code == 530 and text.startswith(b"5.7.0")
    s.quit()


def test_wrong_password_and_unknown_user_535_and_logged(sub):
    s = starttls_client(sub)
    t0 = time.monotonic()
    for user, pw in ((ALICE, "wrong"), ("nobody@example.test", "x")):
        code, text = s.docmd("AUTH PLAIN", base64.b64encode(f"\0{user}\0{pw}".encode()).decode())
        assert code == 535 and text.startswith(b"5.7.8")
    assert time.monotonic() - t0 >= 0.1  # failures are answered after a delay
    assert s.login(ALICE, PASSWORDS[ALICE])[0] == 235  # the session still works
    s.quit()
    assert "event=auth_failed client=127.0.0.1 user=alice@example.test" in sub.log()


def test_repeated_failures_lock_the_address_out(make_postern, workdir):
    p = submission_server(make_postern, workdir,
                          {"auth": {"failure_limit": "3", "lockout": "1m", "failure_delay": "10ms"}})
    s = starttls_client(p)
    for _ in range(2):
        assert s.docmd("AUTH PLAIN", base64.b64encode(b"\0alice@example.test\0bad").decode())[0] == 535
    code, text = s.docmd("AUTH PLAIN", base64.b64encode(b"\0alice@example.test\0bad").decode())
    assert code == 421 and text.startswith(b"4.7.0")
    # A new connection from the same address is refused even with the right password.
    s2 = starttls_client(p)
    code, _ = s2.docmd("AUTH PLAIN", base64.b64encode(f"\0{ALICE}\0{PASSWORDS[ALICE]}".encode()).decode())
    assert code == 421
    assert "event=auth_lockout client=127.0.0.1" in p.log()


@pytest.mark.parametrize("payload,code", [
    ("not base64!", 501),
    ("QUJD=", 501),                                             # bad length
    (base64.b64encode(b"\0" + b"u" * 8000 + b"\0pw").decode(), 501),  # 8 KB credentials
    (base64.b64encode(b"\0" + b"u" * 10000 + b"\0pw").decode(), 500),  # line over 12288
    (base64.b64encode(b"\0alice@example.test\0pa\r\nss").decode(), 501),
    (base64.b64encode(b"\0alice@example.test\0pa\0ss").decode(), 501),
    (base64.b64encode(b"onlyone").decode(), 501),
], ids=["not-base64", "bad-length", "8KB", "10KB", "crlf", "extra-nul", "no-separators"])
def test_malformed_auth_data(sub, payload, code):
    s = starttls_client(sub)
    got, text = s.docmd("AUTH PLAIN", payload)
    assert got == code, text
    assert s.login(ALICE, PASSWORDS[ALICE])[0] == 235
    s.quit()


def test_auth_cancel_and_unknown_mechanism(sub):
    s = starttls_client(sub)
    assert s.docmd("AUTH PLAIN")[0] == 334
    assert s.docmd("*")[0] == 501
    assert s.docmd("AUTH CRAM-MD5")[0] == 504
    assert s.login(ALICE, PASSWORDS[ALICE])[0] == 235
    assert s.docmd("AUTH PLAIN", "AA==")[0] == 503  # already authenticated
    s.quit()


def test_forged_envelope_sender_553_and_alias_sender_allowed(sub):
    s = starttls_client(sub)
    s.login(ALICE, PASSWORDS[ALICE])
    code, text = s.mail(BOB)
    assert code == 553 and text.startswith(b"5.7.1")
    s.rset()
    # postermaster@example.test is an alias that delivers to alice: hers to use.
    s.sendmail("postmaster@example.test", [BOB], msg(frm="Postmaster <postmaster@example.test>"))
    s.quit()
    sub.wait_messages(BOB, 1)


def test_forged_from_header_553(sub):
    s = starttls_client(sub)
    s.login(ALICE, PASSWORDS[ALICE])
    with pytest.raises(smtplib.SMTPDataError) as e:
        s.sendmail(ALICE, [BOB], msg(frm='"Bob" <bob@example.test>'))
    assert e.value.smtp_code == 553
    with pytest.raises(smtplib.SMTPDataError) as e:
        s.sendmail(ALICE, [BOB], b"Subject: no from\r\n\r\nx\r\n")
    assert e.value.smtp_code == 554
    s.quit()
    time.sleep(0.3)
    assert sub.messages(BOB) == []


def test_starttls_injection_is_never_answered(sub):
    with Raw(sub.sub_port) as c:
        c.ehlo()
        c.send(b"STARTTLS\r\nRSET\r\n")
        code, _ = c.reply()
        assert code == 554  # pipelined after STARTTLS: refused, nothing run
        assert c.closed() and c.buf == b""  # and RSET never got a reply


def test_starttls_then_buffered_plaintext_is_discarded(sub):
    """The bytes after STARTTLS that arrive in a separate segment, before the
    handshake, are not commands: they are never answered in plaintext."""
    raw = socket.create_connection(("127.0.0.1", sub.sub_port), timeout=5)
    f = raw.makefile("rb")
    f.readline()
    raw.sendall(b"EHLO x\r\n")
    while f.readline()[3:4] != b" ":
        pass
    raw.sendall(b"STARTTLS\r\n")
    assert f.readline().startswith(b"220 2.0.0")
    raw.sendall(b"RSET\r\n")  # not a ClientHello: the handshake must fail
    raw.settimeout(5)
    assert raw.recv(100) in (b"",) or not raw.recv(100).startswith(b"250")
    raw.close()


def test_starttls_twice_503(sub):
    s = starttls_client(sub)
    code, text = s.docmd("STARTTLS")
    assert code == 503
    s.quit()


def test_garbage_instead_of_client_hello_closes_only_that_connection(sub):
    bad = Raw(sub.subs_port, greet=False)
    bad.send(b"EHLO this is not TLS\r\n" * 10)
    assert bad.closed() and b"250" not in bad.buf
    bad.close()
    with smtplib.SMTP_SSL("127.0.0.1", sub.subs_port, timeout=10,
                          context=client_context(sub.ca)) as s:
        assert s.ehlo()[0] == 250
    wait_until(lambda: "reason=" in sub.log() and "handshake" in sub.log().lower()
               or "wrong version" in sub.log() or "SSL" in sub.log(), what="a TLS failure in the log")


def test_stalled_handshake_times_out(make_postern, workdir):
    p = submission_server(make_postern, workdir, {"smtpd": {"command_timeout": "1s"}})
    stall = socket.create_connection(("127.0.0.1", p.subs_port), timeout=20)
    stall.sendall(b"\x16\x03\x01\x00\xc8\x01")  # the first bytes of a ClientHello, then nothing
    t0 = time.monotonic()
    stall.settimeout(20)
    while stall.recv(1000):
        pass
    assert time.monotonic() - t0 < 15
    stall.close()


def test_200_concurrent_tls_sessions(make_postern, workdir):
    p = submission_server(make_postern, workdir, {"limits": {"connections_per_ip": "500"}})
    ctx = client_context(p.ca)
    errors = []

    def one(i):
        try:
            with smtplib.SMTP_SSL("127.0.0.1", p.subs_port, timeout=60, context=ctx) as s:
                s.ehlo("c%d.example.test" % i)
                s.login(BOB, PASSWORDS[BOB])
                s.sendmail(BOB, [ALICE], msg(frm=BOB, to=ALICE, subject=f"n{i}"))
        except Exception as e:  # collected, asserted below
            errors.append(repr(e))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    got = p.wait_messages(ALICE, 200, timeout=60)
    subjects = {email.message_from_bytes(m)["Subject"] for m in got}
    assert subjects == {f"n{i}" for i in range(200)}


def test_swaks_starttls_and_tls_on_connect(sub):
    for mode, port in (("--tls", sub.sub_port), ("--tlsc", sub.subs_port)):
        r = subprocess.run(["swaks", "--server", f"127.0.0.1:{port}", mode,
                            "--auth", "PLAIN", "--auth-user", ALICE, "--auth-password", PASSWORDS[ALICE],
                            "--from", ALICE, "--to", BOB, "--header", f"From: {ALICE}",
                            "--header", f"Subject: swaks {mode}", "--body", "via swaks"],
                           capture_output=True, timeout=60)
        assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
    got = sub.wait_messages(BOB, 2)
    assert {email.message_from_bytes(m)["Subject"] for m in got} == {"swaks --tls", "swaks --tlsc"}


def test_msmtp_as_a_user_would_configure_it(sub, workdir):
    rc = workdir / "msmtprc"
    rc.write_text(f"""defaults
tls on
tls_trust_file {sub.ca}
logfile {workdir}/msmtp.log

account postern
host mx.example.test
port {sub.sub_port}
tls_starttls on
auth on
user {ALICE}
password {PASSWORDS[ALICE]}
from {ALICE}

account default : postern
""")
    rc.chmod(0o600)
    hosts = workdir / "hosts"
    # msmtp resolves the host name: give it the test name via a literal IP instead.
    rc.write_text(rc.read_text().replace("host mx.example.test", "host 127.0.0.1\ntls_host_override mx.example.test"))
    r = subprocess.run(["msmtp", "-C", str(rc), "-t"], input=msg(), capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    [got] = sub.wait_messages(BOB, 1)
    assert b"with ESMTPSA" in got


def test_no_auth_on_the_mx_listener(sub):
    with Raw(sub.port) as c:
        caps = c.ehlo()
        code, _ = c.cmd("STARTTLS")
        assert code == 220
    # after TLS on port 25, AUTH is still not offered unless configured
    s = smtplib.SMTP("127.0.0.1", sub.port, timeout=10)
    s.starttls(context=client_context(sub.ca))
    code, caps = s.ehlo("x")
    assert b"AUTH" not in caps
    assert s.docmd("AUTH PLAIN", "AGFAYgBj")[0] == 503
    code, _ = s.mail("x@remote.test")
    assert code == 250
    assert s.rcpt("someone@remote.test")[0] == 554  # still no relay without AUTH
    s.quit()


def test_user_command(sub):
    conf = sub.conf_path
    r = add_user(conf, ALICE, "again")
    assert r.returncode == 1 and b"already exists" in r.stderr
    r = add_user(conf, "dave@elsewhere.test", "pw")
    assert r.returncode == 1 and b"not a local domain" in r.stderr
    r = add_user(conf, "../evil@example.test", "pw")
    assert r.returncode == 1
    r = add_user(conf, "dave@example.test", "")
    assert r.returncode == 1 and b"empty password" in r.stderr
    r = add_user(conf, "dave@example.test", "dave-pw")
    assert r.returncode == 0
    out = subprocess.run([BIN, "-c", str(conf), "user", "list"], capture_output=True, check=True).stdout
    assert b"dave@example.test\n" in out and b"alice@example.test\n" in out
    assert b"$y$" in (sub.dir / "users").read_bytes()  # yescrypt
    r = subprocess.run([BIN, "-c", str(conf), "user", "passwd", "dave@example.test", "--password-stdin"],
                       input=b"new-pw\n", capture_output=True)
    assert r.returncode == 0
    r = subprocess.run([BIN, "-c", str(conf), "user", "del", "dave@example.test"], capture_output=True)
    assert r.returncode == 0
    r = subprocess.run([BIN, "-c", str(conf), "user", "del", "dave@example.test"], capture_output=True)
    assert r.returncode == 1 and b"no such user" in r.stderr


def test_check_reports_bad_users_line_and_bad_tls(sub):
    (sub.dir / "users").write_text((sub.dir / "users").read_text() + "broken line without colon\n")
    r = subprocess.run([BIN, "-c", str(sub.conf_path), "check"], capture_output=True)
    lines = (sub.dir / "users").read_text().count("\n")
    assert r.returncode == 1 and f"users:{lines}:".encode() in r.stderr
    (sub.dir / "users").write_text((sub.dir / "users").read_text().replace("broken line without colon\n", ""))
    bad = sub.dir / "bad.conf"
    bad.write_text(sub.conf_path.read_text().replace(sub.settings["tls"]["key"], "/nonexistent.pem"))
    r = subprocess.run([BIN, "-c", str(bad), "check"], capture_output=True)
    assert r.returncode == 1 and b"[tls] key" in r.stderr


def test_sighup_reloads_the_certificate(sub, workdir):
    """Issue 3 + 5: a renewed certificate is taken on SIGHUP, without a restart;
    a session opened before keeps working."""
    import signal
    from tlsenv import make_ca
    old = starttls_client(sub)
    old_cert = old.sock.getpeercert(binary_form=True)
    new = make_ca(workdir / "ca2")
    # Renew in place, as certbot would: same paths, new files.
    (pathlib.Path(sub.settings["tls"]["cert"])).write_bytes(pathlib.Path(new["cert"]).read_bytes())
    (pathlib.Path(sub.settings["tls"]["key"])).write_bytes(pathlib.Path(new["key"]).read_bytes())
    sub.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "event=reloaded" in sub.log(), what="a reload")
    with smtplib.SMTP_SSL("127.0.0.1", sub.subs_port, timeout=10,
                          context=client_context(new["ca"])) as s:
        assert s.sock.getpeercert(binary_form=True) != old_cert
        assert s.login(ALICE, PASSWORDS[ALICE])[0] == 235
    assert old.login(ALICE, PASSWORDS[ALICE])[0] == 235  # the old session lives on
    old.quit()
