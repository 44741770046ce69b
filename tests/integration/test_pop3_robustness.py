"""Issue 6 and ROBUSTNESS.md checks 8 (STLS injection) and 15 (kill -9): the
POP3 service under hostile or broken input, timeouts, clients that stop
reading, shutdown with live sessions, and Maildirs other programs share."""
import os
import poplib
import socket
import subprocess
import time

import pytest

from conftest import BIN, wait_until
from pop3env import (ALICE, BOB, MAILDIR_NAME, RawPop3, deliver, dovecot_pop3,
                     maildir_files, pop3_server, retr_bytes, ssl_client, stls_client, strip_trace)
from tlsenv import PASSWORDS


@pytest.fixture
def pop(make_postern, workdir):
    return pop3_server(make_postern, workdir)


def test_stls_injection_is_never_answered(pop):
    with RawPop3(pop.pop3_port, pop.ca) as r:
        # CVE-2011-0411 in POP3 form: a command behind STLS in the same write.
        r.send(f"STLS\r\nCAPA\r\nUSER {ALICE}\r\n")
        assert r.line() == b"+OK Begin TLS negotiation"
        r.sock.settimeout(0.5)
        with pytest.raises(socket.timeout):
            r._fill()  # nothing else in plain text
        assert r.buf == b""
        r.sock.settimeout(10)
        r.sock = __import__("tlsenv").client_context(pop.ca).wrap_socket(
            r.sock, server_hostname="mx.example.test")
        # Neither injected command runs after the handshake either.
        r.err(f"PASS {PASSWORDS[ALICE]}", "USER first")
        assert r.cmd("QUIT") == b"+OK Bye"
    assert "event=pop3_stls_input_discarded" in pop.log()


def test_line_limits_and_malformed_commands(make_postern, workdir):
    pop = pop3_server(make_postern, workdir, {"limits": {"bad_commands": "100"}})
    with RawPop3(pop.pop3s_port, pop.ca, implicit_tls=True) as r:
        # RFC 2449 4: 255 octets with CRLF, and not one more.
        r.ok("USER " + "a" * 248)  # 5 + 248 + 2 = 255
        r.err("USER " + "a" * 249, "Line too long (the limit is 255 octets")
        r.err("X" * 65536, "Line too long")
        r.send("STAT\n")
        assert r.line() == b"-ERR Lines must end with CRLF"
        r.err("US\0ER x", "Control characters")
        r.err("XYZZY", "Unknown command")
        r.err("STAT", "Not logged in")
        r.err("LIST 1", "Not logged in")
        r.login()
        r.err("USER x", "not valid after login")
        for bad in ("RETR", "RETR 0", "RETR 99", "RETR abc", "RETR -1", "RETR 99999999999",
                    "TOP 1", "TOP 1 x", "LIST 1 2", "LIST  1", "STAT now", "DELE"):
            r.err(bad)
        r.ok("NOOP")
        r.ok("QUIT")


def test_too_many_errors_closes(pop):
    with RawPop3(pop.pop3s_port, pop.ca, implicit_tls=True) as r:
        for _ in range(9):
            r.err("BOGUS")
        r.err("BOGUS", "Unknown command")
        assert r.line() == b"-ERR Too many errors, closing connection"
        assert r.closed()


def test_inactivity_timeout(make_postern, workdir):
    pop = pop3_server(make_postern, workdir, {"pop3": {"timeout": "1s"}})
    with RawPop3(pop.pop3s_port, pop.ca, implicit_tls=True) as r:
        r.login()
        t = time.monotonic()
        assert r.closed(timeout=10)
        assert 0.8 <= time.monotonic() - t < 5
        assert r.buf == b"-ERR Disconnected for inactivity\r\n"
    assert "event=pop3_timeout" in pop.log()


def test_client_that_stops_reading_a_big_message(make_postern, workdir):
    pop = pop3_server(make_postern, workdir, {"pop3": {"timeout": "2s"}})
    body = b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 8000  # 8 MB
    deliver(pop, ALICE, body)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(10)
    s.connect(("127.0.0.1", pop.pop3_port))
    r = RawPop3.__new__(RawPop3)
    r.sock, r.buf, r.ca = s, b"", pop.ca
    r.line()
    r.starttls()
    r.login()
    r.send("RETR 1\r\n")
    time.sleep(0.5)  # read nothing: the server must not buffer all 8 MB
    wait_until(lambda: "event=pop3_timeout client=127.0.0.1 state=sending" in pop.log(),
               timeout=15, what=f"the stalled session to time out\n{pop.log()}")
    r.close()
    # The mailbox is free again and the message intact.
    c = ssl_client(pop)
    assert strip_trace(retr_bytes(c, 1)) == body
    c.quit()


def test_shutdown_frees_live_sessions(pop):
    deliver(pop, ALICE, b"Subject: big\r\n\r\n" + (b"y" * 998 + b"\r\n") * 3000)
    idle = RawPop3(pop.pop3s_port, pop.ca, implicit_tls=True)
    idle.login(BOB)
    reading = RawPop3(pop.pop3_port, pop.ca)
    reading.starttls()
    reading.login()
    reading.send("RETR 1\r\n")  # and never read the reply
    half = RawPop3(pop.pop3s_port, pop.ca, implicit_tls=True)
    half.send("USER x\r\n")
    time.sleep(0.3)
    t = time.monotonic()
    pop.stop()  # asserts no sanitizer report (leaks included)
    assert time.monotonic() - t < 12
    assert "event=stopped" in pop.log()
    for c in (idle, reading, half):
        c.close()


def test_maildir_names_follow_dovecot_rules(pop):
    body = b"Subject: names\r\n\r\n.dot\r\nline\r\n"
    deliver(pop, ALICE, body)
    deliver(pop, ALICE, b"Subject: two\r\n\r\nx\r\n")
    box = pop.maildir(ALICE)
    for name in maildir_files(pop, ALICE)["new"]:
        m = MAILDIR_NAME.match(name)
        assert m and m.group("info") is None, name
        data = (box / "new" / name).read_bytes()
        assert b"\r" not in data and int(m.group("s")) == len(data)
        assert int(m.group("w")) == len(data) + data.count(b"\n")
    c = stls_client(pop)
    retr_bytes(c, 1)
    c.quit()
    files = maildir_files(pop, ALICE)
    assert len(files["new"]) == 1 and len(files["cur"]) == 1
    m = MAILDIR_NAME.match(files["cur"][0])
    assert m and m.group("info") == ":2,S"
    # Nothing but Maildir entries: tmp/ is empty, no extra files.
    assert os.listdir(box / "tmp") == [] and sorted(os.listdir(box)) == ["cur", "new", "tmp"]


def test_dovecot_reads_the_same_maildir(pop):
    sent = [b"Subject: one\r\n\r\n.dot line\r\n..two\r\n",
            "Subject: 8bit\r\n\r\nGrüße\r\n".encode(),
            b"Subject: three\r\n\r\n" + (b"z" * 900 + b"\r\n") * 50]
    for m in sent:
        deliver(pop, ALICE, m)
    c = stls_client(pop)
    ours = [int(line.split()[1]) for line in c.list()[1]]
    ours_msgs = [retr_bytes(c, i) for i in (1, 2, 3)]
    c.dele(3)
    c.quit()  # 1 and 2 now in cur/ with :2,S; 3 is gone
    pop.stop()
    out, err = dovecot_pop3(str(pop.maildir(ALICE)), b"LIST\r\nRETR 1\r\nRETR 2\r\nQUIT\r\n")
    assert b"rror" not in err, err.decode(errors="replace")  # e.g. "Broken physical size"
    lines = out.split(b"\r\n")
    assert lines[0].startswith(b"+OK 2 messages"), (out, err)
    assert [int(x.split()[1]) for x in lines[1:3]] == ours[:2]
    # Dovecot's RETR carries the same bytes as ours (still dot-stuffed here).
    first = out.split(b"+OK %d octets\r\n" % ours[0], 1)[1].split(b"\r\n.\r\n", 1)[0] + b"\r\n"
    assert first.replace(b"\r\n..", b"\r\n.") == ours_msgs[0]


def test_foreign_files_without_sizes_and_with_crlf(pop):
    """Files another program wrote: no W=, CRLF endings, no final newline."""
    deliver(pop, ALICE, b"Subject: ours\r\n\r\nx\r\n")
    new = pop.maildir(ALICE) / "new"
    foreign = {
        "1000000001.legacy.host,S=31": b"Subject: lf\n\n.dot\nno W= here\n",
        "1000000002.crlf.host": b"Subject: crlf\r\n\r\n.dot\r\nalready CRLF\r\n",
        "1000000003.nonl.host": b"Subject: no newline\n\nlast line",
        ".hidden": b"not a message",
    }
    for name, data in foreign.items():
        (new / name).write_bytes(data)
        subprocess.run(["chown", "postern:postern", str(new / name)], check=True)
    c = ssl_client(pop)
    resp, listing, _ = c.list()
    assert len(listing) == 4  # the dot file is not a message
    sizes = [int(line.split()[1]) for line in listing]
    got = [retr_bytes(c, i) for i in (1, 2, 3)]
    assert got[0] == b"Subject: lf\r\n\r\n.dot\r\nno W= here\r\n"
    assert got[1] == foreign["1000000002.crlf.host"]
    assert got[2] == b"Subject: no newline\r\n\r\nlast line\r\n"
    assert sizes[:2] == [len(got[0]), len(got[1])]
    assert sizes[2] == len(got[2]) - 2  # the CRLF that ends the last line is ours
    assert [u.split()[1] for u in c.uidl()[1][:3]] == [
        b"1000000001.legacy.host", b"1000000002.crlf.host", b"1000000003.nonl.host"]
    c.quit()
    assert "measured=3" in pop.log()


def check(conf_text, tmp_path):
    path = tmp_path / "postern.conf"
    path.write_text(conf_text)
    (tmp_path / "users").write_text("")
    return subprocess.run([BIN, "-c", str(path), "check"], capture_output=True, text=True)


@pytest.mark.parametrize("extra,error", [
    ("[listen]\npop3 = 127.0.0.1:1110\n", "needs [tls] cert and key"),
    ("[listen]\nsmtp = 127.0.0.1:2525\n[pop3]\ntimeout = 0\n", "[pop3] timeout"),
    ("[listen]\nsmtp = 127.0.0.1:2525\n[pop3]\nallow_plaintext_auth = maybe\n",
     "[pop3] allow_plaintext_auth"),
    ("[listen]\nsmtp = 127.0.0.1:2525\n[pop3]\nport = 110\n", "unknown key"),
])
def test_pop3_configuration_errors(workdir, extra, error):
    r = check(f"[server]\ndata_dir = {workdir}/d\n[domains]\nlocal = example.test\n{extra}",
              workdir)
    assert r.returncode == 1 and error in r.stderr, r.stderr


def test_pop3_without_tls_needs_allow_plaintext_auth(workdir):
    r = check(f"[server]\ndata_dir = {workdir}/d\n[domains]\nlocal = example.test\n"
              "[listen]\npop3 = 127.0.0.1:1110\n[pop3]\nallow_plaintext_auth = yes\n"
              "timeout = 10m\n", workdir)
    assert r.returncode == 0, r.stderr
