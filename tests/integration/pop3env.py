"""A Postern with smtp, pop3 (STLS) and pop3s listeners, users with real
passwords, and the helpers the POP3 tests share: deliver over SMTP, log in
with poplib over TLS, talk raw POP3 on a socket."""
import os
import pathlib
import poplib
import re
import smtplib
import socket
import subprocess

from conftest import SocketClient, free_port, wait_until
from tlsenv import PASSWORDS, add_user, client_context, make_ca

ALICE, BOB = "alice@example.test", "bob@example.test"
TRACE = (b"Return-Path:", b"Delivered-To:", b"Received:")


def pop3_server(make_postern, workdir, settings=None, start=True):
    ca = make_ca(workdir / "ca")
    base = {
        "tls": {"cert": ca["cert"], "key": ca["key"]},
        "auth": {"failure_delay": "50ms"},
    }
    for section, values in (settings or {}).items():
        base.setdefault(section, {}).update(values)
    p = make_postern(base, users=["carol@example.org"], start=False)
    p.pop3_port, p.pop3s_port = free_port(), free_port()
    p.settings["listen"]["pop3"] = f"127.0.0.1:{p.pop3_port}"
    p.settings["listen"]["pop3s"] = f"127.0.0.1:{p.pop3s_port}"
    p.write_conf()
    for addr, pw in PASSWORDS.items():
        r = add_user(p.conf_path, addr, pw)
        assert r.returncode == 0, r.stderr
    p.ca = ca["ca"]
    if start:
        p.start()
    return p


def deliver(p, rcpt, content, n_before=None):
    """Sends content (bytes, CRLF) over SMTP and waits for it in rcpt's
    Maildir. Returns the number of messages now there."""
    if n_before is None:
        n_before = count_messages(p, rcpt)
    with smtplib.SMTP("127.0.0.1", p.port, timeout=30) as s:
        s.sendmail("sender@remote.test", [rcpt], content)
    wait_until(lambda: count_messages(p, rcpt) > n_before,
               what=f"delivery to {rcpt}\n{p.log()}")
    return n_before + 1


def count_messages(p, addr):
    box = p.maildir(addr)
    return sum(len(os.listdir(box / d)) for d in ("new", "cur") if (box / d).is_dir())


def maildir_files(p, addr):
    """{"new": [names], "cur": [names]}"""
    box = p.maildir(addr)
    return {d: sorted(os.listdir(box / d)) if (box / d).is_dir() else [] for d in ("new", "cur")}


def strip_trace(msg):
    """A retrieved message (CRLF) without the trace headers Postern adds."""
    lines = msg.split(b"\r\n")
    i = 0
    while i < len(lines) and (lines[i].startswith(TRACE) or lines[i].startswith((b"\t", b" "))):
        i += 1
    return b"\r\n".join(lines[i:])


def stls_client(p, user=ALICE, password=None):
    c = poplib.POP3("127.0.0.1", p.pop3_port, timeout=30)
    c.stls(context=client_context(p.ca))
    if user:
        c.user(user)
        c.pass_(password or PASSWORDS[user])
    return c


def ssl_client(p, user=ALICE, password=None):
    c = poplib.POP3_SSL("127.0.0.1", p.pop3s_port, timeout=30, context=client_context(p.ca))
    if user:
        c.user(user)
        c.pass_(password or PASSWORDS[user])
    return c


def retr_bytes(c, n):
    """RETR n through poplib (which undoes dot-stuffing) as CRLF bytes."""
    resp, lines, octets = c.retr(n)
    return b"".join(line + b"\r\n" for line in lines)


class RawPop3(SocketClient):
    """POP3 on a raw socket (optionally wrapped in TLS later): exact bytes
    out, whole lines in."""

    def __init__(self, port, ca=None, implicit_tls=False, timeout=10):
        self.ca = ca
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if implicit_tls:
            self.sock = client_context(ca).wrap_socket(self.sock, server_hostname="mx.example.test")
        self.buf = b""
        self.greeting = self.line()

    def line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def multiline(self):
        """The lines of a multi-line body up to "." (still dot-stuffed)."""
        lines = []
        while (line := self.line()) != b".":
            lines.append(line)
        return lines

    def cmd(self, line):
        self.send((line.encode() if isinstance(line, str) else line) + b"\r\n")
        return self.line()

    def ok(self, line):
        r = self.cmd(line)
        assert r.startswith(b"+OK"), f"{line!r}: {r!r}"
        return r

    def err(self, line, text=None):
        r = self.cmd(line)
        assert r.startswith(b"-ERR"), f"{line!r}: {r!r}"
        if text:
            assert text.encode() in r, f"{line!r}: expected {text!r} in {r!r}"
        return r

    def starttls(self):
        assert self.cmd("STLS").startswith(b"+OK")
        assert self.buf == b"", f"server sent more in plain text: {self.buf!r}"
        self.sock = client_context(self.ca).wrap_socket(self.sock, server_hostname="mx.example.test")

    def login(self, user=ALICE, password=None):
        self.ok(f"USER {user}")
        return self.ok(f"PASS {password or PASSWORDS[user]}")


# A Maildir file name as Dovecot writes and reads it: TIME.UNIQUE.HOST with
# ",S=<size>,W=<CRLF size>" and, in cur/, ":2,<flags>".
MAILDIR_NAME = re.compile(
    r"^(?P<base>\d+\.M\d+P\d+Q\d+\.[^/:,]+),S=(?P<s>\d+),W=(?P<w>\d+)(?P<info>:2,[A-Za-z]*)?$")

DOVECOT_ROOT = pathlib.Path(os.environ.get("POSTERN_DOVECOT_ROOT", "/var/tmp/postern-test-dovecot"))


def dovecot_pop3(maildir, commands, user="postern"):
    """Runs Dovecot's own pop3 binary (unpacked by scripts/deps, not
    installed) over a Maildir, pre-authenticated. Its doveconf, run from the
    unpacked tree, reads the configuration and execs pop3 (as pop3 -c would
    from /usr/bin/doveconf); the libraries come from the unpacked tree too.
    Returns (stdout, stderr)."""
    conf = pathlib.Path(maildir).parent / "dovecot.conf"
    state = pathlib.Path(maildir).parent / "dovecot-state"
    state.mkdir(exist_ok=True)
    subprocess.run(["chown", f"{user}:{user}", str(state)], check=True)
    conf.write_text(
        f"base_dir = {state}\nstate_dir = {state}\nlog_path = /dev/stderr\nssl = no\n"
        f"protocols = pop3\nmail_location = maildir:{maildir}:INDEX=MEMORY\n"
        f"mail_uid = {user}\nmail_gid = {user}\nfirst_valid_uid = 1\nfirst_valid_gid = 1\n"
        "pop3_uidl_format = %f\n")
    d = DOVECOT_ROOT
    pop3, doveconf = d / "usr/lib/dovecot/pop3", d / "usr/bin/doveconf"
    assert pop3.exists() and doveconf.exists(), f"no Dovecot unpacked in {d}: run scripts/deps test"
    assert os.geteuid() == 0, "Dovecot's pop3 becomes mail_uid: the tests run as root"
    r = subprocess.run([str(doveconf), "-f", "service=pop3", "-c", str(conf), "-m", "pop3",
                        "-e", str(pop3), "-c", str(conf)], input=commands, capture_output=True,
                       env={"USER": user, "HOME": str(state), "PATH": "/usr/bin:/bin",
                            "LD_LIBRARY_PATH": str(d / "usr/lib/dovecot")}, timeout=60)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return r.stdout, r.stderr
