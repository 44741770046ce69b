"""COMPRESS=DEFLATE (RFC 4978) through the real binary, over TLS and in
clear: small commands each in its own sync flush, sent one octet at a
time, must be answered at once (a reader that waits for more input on a
partial flush hangs here), a big FETCH arrives whole, and a corrupt
stream ends the session."""
import socket
import zlib

import pytest

from imapenv import ALICE, RawImap, imap_server
from tlsenv import PASSWORDS


class Deflated:
    """The raw client after COMPRESS: deflate out, inflate in."""

    def __init__(self, raw):
        self.raw = raw
        self.out = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.inf = zlib.decompressobj(-15)
        self.buf = raw.buf  # anything already read is compressed
        raw.buf = b""
        self.buf = self.inf.decompress(self.buf)

    def send(self, data, bytewise=False):
        z = self.out.compress(data) + self.out.flush(zlib.Z_SYNC_FLUSH)
        if bytewise:
            for b in z:
                self.raw.sock.sendall(bytes([b]))
        else:
            self.raw.sock.sendall(z)

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.raw.sock.recv(65536)
            if not chunk:
                raise EOFError(self.buf)
            self.buf += self.inf.decompress(chunk)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read(self, n):
        while len(self.buf) < n:
            chunk = self.raw.sock.recv(65536)
            if not chunk:
                raise EOFError(len(self.buf))
            self.buf += self.inf.decompress(chunk)
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def until(self, tag):
        lines = []
        while True:
            l = self.line()
            lines.append(l)
            if l.startswith(tag.encode() + b" "):
                return lines


@pytest.fixture
def srv(make_postern, workdir):
    p = imap_server(make_postern, workdir, {"imap": {"allow_plaintext_auth": "yes"}})
    yield p
    p.stop()


def compressed_session(srv, tls):
    c = RawImap(srv.imaps_port if tls else srv.imap_port, srv.ca, implicit_tls=tls)
    _, text = c.login()
    assert b"COMPRESS=DEFLATE" in text
    untagged, status, text = c.cmd("COMPRESS DEFLATE")
    assert status == "OK", text
    return c, Deflated(c)


@pytest.mark.parametrize("tls", [True, False])
def test_small_commands_one_octet_at_a_time(srv, tls):
    c, d = compressed_session(srv, tls)
    c.sock.settimeout(10)
    for i in range(5):
        d.send(b"n%d NOOP\r\n" % i, bytewise=True)
        assert d.until("n%d" % i)[-1] == b"n%d OK NOOP completed" % i
    d.send(b"s SELECT INBOX\r\n")
    assert d.until("s")[-1].startswith(b"s OK [READ-WRITE]")
    d.send(b"z COMPRESS DEFLATE\r\n")
    assert d.until("z")[-1].startswith(b"z NO [COMPRESSIONACTIVE]")
    d.send(b"l LOGOUT\r\n")
    assert d.until("l")[-1] == b"l OK LOGOUT completed"
    c.close()


def test_big_fetch_through_deflate(srv):
    body = b"Subject: big\r\n\r\n" + b"".join(b"%06d %s\r\n" % (i, b"y" * 60) for i in range(30000))
    c = RawImap(srv.imaps_port, srv.ca, implicit_tls=True)
    c.login()
    c.send(b"a APPEND INBOX {%d+}\r\n%s\r\n" % (len(body), body))
    _, status, _ = c.until_tagged("a")
    assert status == "OK"
    c.ok("COMPRESS DEFLATE")
    d = Deflated(c)
    d.send(b"s SELECT INBOX\r\nf FETCH 1 BODY.PEEK[]\r\n")
    d.until("s")
    head = d.line()
    assert head == b"* 1 FETCH (BODY[] {%d}" % len(body), head
    assert d.read(len(body)) == body
    assert d.line() == b")"
    assert d.line().startswith(b"f OK")
    c.close()


def test_corrupt_stream_closes(srv):
    c, d = compressed_session(srv, True)
    c.sock.sendall(b"\xff\xfe\xfd garbage that is not deflate")
    assert c.closed()
    c.close()


def test_compress_needs_login_and_deflate(srv):
    c = RawImap(srv.imaps_port, srv.ca, implicit_tls=True)
    _, status, text = c.cmd("COMPRESS DEFLATE")
    assert status == "BAD" and b"log in first" in text
    c.login()
    _, status, _ = c.cmd("COMPRESS GZIP")
    assert status == "BAD"
    c.close()
