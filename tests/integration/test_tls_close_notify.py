"""TLS sessions end with close_notify (RFC 8446 6.1), not a bare TCP close:
after our 221 to QUIT (smtpd, STARTTLS and implicit TLS), after +OK to
QUIT (pop3d, STLS and implicit TLS), and after the next hop's 221 to our
QUIT (the outbound client). A peer that gets no close_notify cannot tell
the end of a session from a truncation (Exim logs "non-properly
terminated"); Python's ssl raises SSLEOFError then."""
import socket
import ssl

from pop3env import pop3_server
from relay_env import host_records, relay, self_signed, send  # noqa: F401
from tlsenv import client_context, submission_server


def strict(ctx):
    """Python sets OP_IGNORE_UNEXPECTED_EOF by default, which reports a bare
    TCP close as a clean EOF: clear it, so a missing close_notify shows."""
    ctx.options &= ~ssl.OP_IGNORE_UNEXPECTED_EOF
    return ctx


def read_line(tls):
    data = b""
    while not data.endswith(b"\n"):
        chunk = tls.recv(1)
        assert chunk, data
        data += chunk
    return data


def read_reply(tls):
    while True:
        line = read_line(tls)
        if line[3:4] != b"-":
            return line


def clean_end(tls):
    """After the server's goodbye: EOF must be a close_notify, then our
    unwrap() (which waits for the peer's close_notify) succeeds."""
    tls.suppress_ragged_eofs = False
    assert tls.recv(100) == b""  # raises SSLEOFError without close_notify
    tls.unwrap()


def test_smtp_starttls_quit_sends_close_notify(make_postern, workdir):
    p = submission_server(make_postern, workdir)
    with socket.create_connection(("127.0.0.1", p.port), timeout=10) as raw:
        f = raw.makefile("rb")
        assert f.readline().startswith(b"220")
        raw.sendall(b"EHLO client.test\r\n")
        while f.readline()[3:4] == b"-":
            pass
        raw.sendall(b"STARTTLS\r\n")
        assert f.readline().startswith(b"220")
        tls = strict(client_context(p.ca)).wrap_socket(raw, server_hostname="mx.example.test")
        tls.sendall(b"EHLO client.test\r\n")
        assert read_reply(tls).startswith(b"250")
        tls.sendall(b"QUIT\r\n")
        assert read_reply(tls).startswith(b"221")
        clean_end(tls)


def test_submissions_quit_sends_close_notify(make_postern, workdir):
    p = submission_server(make_postern, workdir)
    raw = socket.create_connection(("127.0.0.1", p.subs_port), timeout=10)
    with strict(client_context(p.ca)).wrap_socket(raw, server_hostname="mx.example.test") as tls:
        assert read_reply(tls).startswith(b"220")
        tls.sendall(b"QUIT\r\n")
        assert read_reply(tls).startswith(b"221")
        clean_end(tls)


def test_pop3s_and_stls_quit_send_close_notify(make_postern, workdir):
    p = pop3_server(make_postern, workdir)
    raw = socket.create_connection(("127.0.0.1", p.pop3s_port), timeout=10)
    with strict(client_context(p.ca)).wrap_socket(raw, server_hostname="mx.example.test") as tls:
        assert read_line(tls).startswith(b"+OK")
        tls.sendall(b"QUIT\r\n")
        assert read_line(tls).startswith(b"+OK")
        clean_end(tls)
    with socket.create_connection(("127.0.0.1", p.pop3_port), timeout=10) as raw:
        f = raw.makefile("rb")
        assert f.readline().startswith(b"+OK")
        raw.sendall(b"STLS\r\n")
        assert f.readline().startswith(b"+OK")
        tls = strict(client_context(p.ca)).wrap_socket(raw, server_hostname="mx.example.test")
        tls.sendall(b"QUIT\r\n")
        assert read_line(tls).startswith(b"+OK")
        clean_end(tls)


def test_outbound_client_sends_close_notify_after_quit(relay, workdir):
    relay.start_dns("--mx-host=remote.test,mx.remote.test,10",
                    host_records("mx.remote.test", "127.0.0.2"))
    peer = relay.peer("127.0.0.2")
    peer.tls_context = strict(self_signed(workdir))
    p = relay.postern(aliases=["fwd@example.test: a@remote.test"])
    send(p, "fwd@example.test")
    [tx] = peer.wait_transactions(1, log=p.log)
    assert tx.tls
    from conftest import wait_until
    assert wait_until(lambda: peer.tls_closes, what=p.log()) == [True], p.log()
