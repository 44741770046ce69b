"""A Postern with smtp, imap (STARTTLS) and imaps listeners, users with real
passwords, and the helpers the IMAP tests share: log in with imaplib over
TLS, talk raw IMAP on a socket (exact bytes out, tagged replies in)."""
import imaplib
import re

from conftest import SocketClient, free_port
from tlsenv import PASSWORDS, add_user, client_context, make_ca

ALICE, BOB = "alice@example.test", "bob@example.test"


def imap_server(make_postern, workdir, settings=None, start=True):
    ca = make_ca(workdir / "ca")
    base = {
        "tls": {"cert": ca["cert"], "key": ca["key"]},
        "auth": {"failure_delay": "50ms"},
    }
    for section, values in (settings or {}).items():
        base.setdefault(section, {}).update(values)
    p = make_postern(base, users=["carol@example.org"], start=False)
    p.imap_port, p.imaps_port = free_port(), free_port()
    p.settings["listen"]["imap"] = f"127.0.0.1:{p.imap_port}"
    p.settings["listen"]["imaps"] = f"127.0.0.1:{p.imaps_port}"
    p.write_conf()
    for addr, pw in PASSWORDS.items():
        r = add_user(p.conf_path, addr, pw)
        assert r.returncode == 0, r.stderr
    p.ca = ca["ca"]
    if start:
        p.start()
    return p


def starttls_client(p, user=ALICE, password=None):
    c = imaplib.IMAP4("127.0.0.1", p.imap_port, timeout=30)
    c.starttls(ssl_context=client_context(p.ca))
    if user:
        c.login(user, password or PASSWORDS[user])
    return c


def ssl_client(p, user=ALICE, password=None):
    c = imaplib.IMAP4_SSL("127.0.0.1", p.imaps_port, ssl_context=client_context(p.ca), timeout=30)
    if user:
        c.login(user, password or PASSWORDS[user])
    return c


TAGGED = re.compile(rb"^(?P<tag>[^ ]+) (?P<status>OK|NO|BAD) ?(?P<text>.*)$")


class RawImap(SocketClient):
    """IMAP on a raw socket (optionally TLS): exact bytes out; cmd() returns
    (untagged lines, status, text) for one tag."""

    def __init__(self, port, ca=None, implicit_tls=False, timeout=10):
        import socket
        self.ca = ca
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if implicit_tls:
            self.sock = client_context(ca).wrap_socket(self.sock, server_hostname="mx.example.test")
        self.buf = b""
        self.n = 0
        self.greeting = self.line()

    def line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def tag(self):
        self.n += 1
        return f"t{self.n}"

    def until_tagged(self, tag):
        """The lines up to the tagged reply for tag: (untagged, status, text)."""
        untagged = []
        tag = tag.encode() if isinstance(tag, str) else tag
        while True:
            line = self.line()
            m = TAGGED.match(line)
            if m and m["tag"] == tag:
                return untagged, m["status"].decode(), m["text"]
            untagged.append(line)

    def cmd(self, text):
        """Sends "TAG text" and returns (untagged, status, text)."""
        tag = self.tag()
        data = text if isinstance(text, bytes) else text.encode()
        self.send(tag.encode() + b" " + data + b"\r\n")
        return self.until_tagged(tag)

    def ok(self, text):
        untagged, status, rest = self.cmd(text)
        assert status == "OK", f"{text!r}: {status} {rest!r} {untagged!r}"
        return untagged, rest

    def starttls(self):
        _, status, text = self.cmd("STARTTLS")
        assert status == "OK", text
        assert self.buf == b"", f"server sent more in plain text: {self.buf!r}"
        self.sock = client_context(self.ca).wrap_socket(self.sock, server_hostname="mx.example.test")

    def login(self, user=ALICE, password=None):
        return self.ok(f'LOGIN "{user}" "{password or PASSWORDS[user]}"')
