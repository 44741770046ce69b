"""Fixtures that run the real postern binary on loopback ports.

Every test gets its own data_dir, configuration, users and aliases files.
Nothing here asks the machine's DNS resolver: addresses are literal
loopback IPs, and tests that need DNS start their own server (dns.py).
"""
import os
import pathlib
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = os.environ.get("POSTERN_BIN", str(ROOT / "build" / "postern"))


def _runnable_by_anyone(path):
    """True when any local user may execute path (every directory above it
    searchable by others, the file executable by others)."""
    p = pathlib.Path(path).resolve()
    if not os.stat(p).st_mode & 0o001:
        return False
    return all(os.stat(d).st_mode & 0o001 for d in p.parents)


# The tests run sendmail, mailq and queue commands as ordinary local users.
# A checkout in a private home (/root is 0700 on a new machine) keeps them
# from executing the binary there: they get a copy in a world-readable
# directory instead, removed at the end.
if os.path.exists(BIN) and not _runnable_by_anyone(BIN):
    import atexit

    _bin_dir = tempfile.mkdtemp(prefix="postern-bin-", dir="/tmp")
    os.chmod(_bin_dir, 0o755)
    BIN = shutil.copy2(BIN, os.path.join(_bin_dir, "postern"))
    os.chmod(BIN, 0o755)
    atexit.register(shutil.rmtree, _bin_dir, True)


def pytest_sessionfinish(session, exitstatus):
    """No test may be skipped: a skip here is a missing tool or permission,
    which scripts/deps test and running as root provide. Fail the run."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped and session.exitstatus == 0:
        print(f"\n{len(skipped)} test(s) skipped: no test may be skipped (scripts/deps test, root)")
        session.exitstatus = 1


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout=10.0, step=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


DEFAULT_USERS = ["alice@example.test", "bob@example.test", "carol@example.org"]
DEFAULT_ALIASES = [
    "team@example.test: alice@example.test, bob@example.test",
    "postmaster@example.test: alice@example.test",
    "everyone@example.test: team@example.test, bob@example.test, alice@example.test",
    "@example.org: carol@example.org",
]


class Postern:
    """One postern daemon under test."""

    def __init__(self, workdir, settings=None, users=None, aliases=None):
        self.dir = pathlib.Path(workdir)
        self.data_dir = self.dir / "data"
        self.conf_path = self.dir / "postern.conf"
        self.log_path = self.dir / "postern.log"
        self.port = free_port()
        self.proc = None
        self.settings = {
            "server": {
                "hostname": "mx.example.test",
                "data_dir": str(self.data_dir),
                "user": "postern",
            },
            "listen": {"smtp": f"127.0.0.1:{self.port}"},
            "domains": {
                "local": "example.test, example.org",
                "users_file": "users",
                "aliases_file": "aliases",
            },
            "relay": {"retry": "1s, 2s"},
            # SPF/DKIM/DMARC ask DNS: only the tests that start a DNS server
            # of their own turn them on (test_mailauth_daemon.py).
            "mailauth": {"checks": "no"},
        }
        for section, values in (settings or {}).items():
            self.settings.setdefault(section, {}).update(values)
        users = DEFAULT_USERS if users is None else users
        aliases = DEFAULT_ALIASES if aliases is None else aliases
        (self.dir / "users").write_text("".join(f"{u}:!\n" for u in users))
        (self.dir / "aliases").write_text("".join(f"{a}\n" for a in aliases))
        self.write_conf()

    def write_conf(self):
        lines = []
        for section, values in self.settings.items():
            lines.append(f"[{section}]")
            lines += [f"{k} = {v}" for k, v in values.items()]
            lines.append("")
        self.conf_path.write_text("\n".join(lines))

    def start(self, wait=True):
        self.log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [BIN, "-c", str(self.conf_path), "serve"],
            stdout=self.log_file,
            stderr=self.log_file,
        )
        if wait:
            wait_until(self._ready, what=f"postern to listen\n{self.log()}")
        return self

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"postern exited with {self.proc.returncode}:\n{self.log()}")
        return "event=started" in self.log()

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._check_sanitizers()
        self.proc = None

    def kill(self):
        """kill -9: no chance to clean up."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def _check_sanitizers(self):
        log = self.log()
        for marker in ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer"):
            assert marker not in log, f"sanitizer report in postern's log:\n{log}"

    def connect(self):
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    # --- mailboxes -------------------------------------------------------
    def maildir(self, addr):
        local, domain = addr.split("@")
        return self.data_dir / "mail" / domain / local

    def messages(self, addr):
        new = self.maildir(addr) / "new"
        if not new.is_dir():
            return []
        return [p.read_bytes() for p in sorted(new.iterdir())]

    def wait_messages(self, addr, n, timeout=10.0):
        return wait_until(
            lambda: (m := self.messages(addr)) and len(m) >= n and m,
            timeout=timeout,
            what=f"{n} message(s) for {addr}\n{self.log()}",
        )

    def queue_ids(self):
        env = self.data_dir / "queue" / "env"
        return sorted(p.name for p in env.iterdir()) if env.is_dir() else []


@pytest.fixture
def workdir():
    # World-traversable, so the daemon can still reach data_dir after it
    # drops root privileges to the postern user.
    d = tempfile.mkdtemp(prefix="postern-test-", dir="/tmp")
    os.chmod(d, 0o755)
    yield pathlib.Path(d)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def make_postern(workdir):
    made = []

    def make(settings=None, users=None, aliases=None, start=True, subdir=None):
        wd = workdir / (subdir or f"p{len(made)}")
        wd.mkdir()
        os.chmod(wd, 0o755)
        p = Postern(wd, settings, users, aliases)
        made.append(p)
        if start:
            p.start()
        return p

    yield make
    for p in made:
        p.stop()


@pytest.fixture
def postern(make_postern):
    return make_postern()


def body_of(maildir_bytes):
    """The message as we sent it: drop the trace headers Postern adds."""
    lines = maildir_bytes.split(b"\n")
    i = 0
    while i < len(lines) and (
        lines[i].startswith((b"Return-Path:", b"Delivered-To:", b"Received:"))
        or lines[i].startswith((b"\t", b" "))
    ):
        i += 1
    return b"\n".join(lines[i:])


# --- helpers for the inbound tests (test_inbound_*.py) ---------------------

class SocketClient:
    """What the raw protocol clients share: a socket (plain, or wrapped in
    TLS by the subclass), exact bytes out, a buffer of what came in."""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError(f"connection closed; unparsed input {self.buf!r}")
        self.buf += chunk

    def closed(self, timeout=5.0):
        """True once the server has closed the connection (EOF or reset).
        Anything it sent before is kept in self.buf."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
            return True
        except socket.timeout:
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Raw(SocketClient):
    """A raw SMTP client on a socket: send exact bytes, read whole replies.

    Replies are (code, text) where text holds every line of a multi-line
    reply (without the code), joined by newlines, as bytes.
    """

    def __init__(self, port, host="127.0.0.1", timeout=10, source=None, greet=True):
        self.sock = socket.create_connection(
            (host, port), timeout=timeout, source_address=(source, 0) if source else None
        )
        self.buf = b""
        self.greeting = self.reply() if greet else None

    def reply(self):
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                self._fill()
            line, self.buf = self.buf.split(b"\r\n", 1)
            assert len(line) >= 3 and line[:3].isdigit(), f"malformed reply line {line!r}"
            lines.append(line)
            if len(line) == 3 or line[3:4] == b" ":
                break
            assert line[3:4] == b"-", f"malformed reply line {line!r}"
        return int(lines[0][:3]), b"\n".join(l[4:] for l in lines)

    def cmd(self, line):
        if isinstance(line, str):
            line = line.encode()
        self.send(line + b"\r\n")
        return self.reply()

    def expect(self, line, code, enhanced=None):
        got, text = self.cmd(line)
        assert got == code, f"{line!r}: expected {code}, got {got} {text!r}"
        if enhanced:
            assert text.startswith(enhanced.encode()), f"{line!r}: expected {enhanced}: {text!r}"
        return text

    def ehlo(self, name="client.remote.test"):
        return self.expect(f"EHLO {name}", 250)


def send_raw_message(port, rcpts, content, sender="x@remote.test"):
    """One whole transaction with exact content bytes (already CRLF and
    dot-stuffed, without the final terminator). Returns the final reply."""
    with Raw(port) as c:
        c.ehlo()
        c.expect(f"MAIL FROM:<{sender}>", 250)
        for r in rcpts:
            c.expect(f"RCPT TO:<{r}>", 250)
        c.expect("DATA", 354)
        c.send(content + b"\r\n.\r\n")
        result = c.reply()
        c.expect("QUIT", 221)
        return result


def all_mail_files(postern):
    """Every file under data_dir/mail, as paths relative to it."""
    root = postern.data_dir / "mail"
    if not root.is_dir():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def delivered_files(postern):
    """Every message in any Maildir's new/ (relative paths)."""
    return [f for f in all_mail_files(postern) if f.split("/")[-2] == "new"]


def queue_files(postern):
    """Every file under data_dir/queue (relative paths) but queue/spare/,
    where removed files wait to be reused (src/queue/spare.h): those hold
    no queue entry and nothing reads them."""
    root = postern.data_dir / "queue"
    if not root.is_dir():
        return []
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and p.relative_to(root).parts[0] != "spare"
    )


def wait_queue_empty(postern, timeout=10.0):
    """Waits for no envelope and no content in the queue (an envelope goes
    first, its content an instant later)."""
    wait_until(
        lambda: postern.queue_ids() == []
        and not [f for f in queue_files(postern) if f.startswith(("env/", "msg/"))],
        timeout=timeout,
        what=f"the queue to empty: {queue_files(postern)}\n{postern.log()}",
    )


def restart(postern, timeout=10.0):
    """Starts a stopped or killed daemon again on the same data_dir and port,
    and waits for this start (not an earlier one) to be listening."""
    assert postern.proc is None or postern.proc.poll() is not None
    starts = postern.log().count("event=started")

    def ready():
        if postern.proc.poll() is not None:
            raise AssertionError(f"postern exited with {postern.proc.returncode}:\n{postern.log()}")
        return postern.log().count("event=started") > starts

    postern.start(wait=False)
    wait_until(ready, timeout=timeout, what=f"postern to restart\n{postern.log()}")
    return postern
