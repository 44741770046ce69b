"""Issue 11: `postern user add/del/passwd` take effect at once: the command
asks the running daemon (control socket) to re-read the users file and
says so; no SIGHUP. Checked by logging in over submissions and POP3."""
import os
import poplib
import smtplib
import ssl
import subprocess

import pytest

from conftest import BIN as _BIN, free_port
from tlsenv import client_context, submission_server

BIN = os.path.abspath(_BIN)
DAVE = "dave@example.test"


def user(p, *args, password=None):
    r = subprocess.run([BIN, "-c", str(p.conf_path), "user", *args]
                       + (["--password-stdin"] if password is not None else []),
                       input=(password + "\n").encode() if password is not None else b"",
                       capture_output=True, timeout=60)
    for marker in (b"ERROR: AddressSanitizer", b"runtime error:", b"ERROR: LeakSanitizer"):
        assert marker not in r.stderr
    return r


def smtp_login(p, addr, password):
    with smtplib.SMTP_SSL("127.0.0.1", p.subs_port, context=client_context(p.ca), timeout=20) as s:
        try:
            s.login(addr, password)
            return True
        except smtplib.SMTPAuthenticationError:
            return False


def pop3_login(p, addr, password):
    pop = poplib.POP3_SSL("127.0.0.1", p.pop3s_port, context=client_context(p.ca), timeout=20)
    try:
        pop.user(addr)
        pop.pass_(password)
        return True
    except poplib.error_proto:
        return False
    finally:
        pop.close()


@pytest.fixture
def sub(make_postern, workdir):
    p = submission_server(make_postern, workdir, {"auth": {"failure_limit": "100"}}, start=False)
    p.pop3s_port = free_port()
    p.settings["listen"]["pop3s"] = f"127.0.0.1:{p.pop3s_port}"
    p.write_conf()
    p.start()
    return p


def test_add_passwd_del_apply_without_sighup(sub):
    assert not smtp_login(sub, DAVE, "first")
    r = user(sub, "add", DAVE, password="first")
    assert r.returncode == 0, r.stderr
    assert b"the running daemon has the new users" in r.stdout, r.stdout
    assert smtp_login(sub, DAVE, "first") and pop3_login(sub, DAVE, "first")

    r = user(sub, "passwd", DAVE, password="second")
    assert r.returncode == 0 and b"the running daemon has" in r.stdout, r
    assert not smtp_login(sub, DAVE, "first") and not pop3_login(sub, DAVE, "first")
    assert smtp_login(sub, DAVE, "second") and pop3_login(sub, DAVE, "second")

    r = user(sub, "del", DAVE)
    assert r.returncode == 0 and b"the running daemon has" in r.stdout, r
    assert not smtp_login(sub, DAVE, "second") and not pop3_login(sub, DAVE, "second")
    assert "event=users_reloaded" in sub.log() and "event=reloaded" not in sub.log()


def test_a_broken_file_is_refused_and_the_old_table_stays(sub):
    r = user(sub, "add", DAVE, password="first")
    assert r.returncode == 0, r.stderr
    with open(sub.dir / "aliases", "a") as f:
        f.write("this is not an alias line\n")
    r = user(sub, "passwd", DAVE, password="second")
    assert r.returncode == 1 and b"did not take it" in r.stderr, r
    assert "event=users_reload_failed" in sub.log()
    assert smtp_login(sub, DAVE, "first")  # the daemon keeps what it had


def test_without_a_daemon_the_command_says_so(make_postern):
    p = make_postern(start=False)
    r = user(p, "add", DAVE, password="first")
    assert r.returncode == 0 and b"the daemon is not running" in r.stdout, r
