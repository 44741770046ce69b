"""IMAP before and at login, through the real binary: the greeting and
CAPABILITY, STARTTLS (and the plaintext injection it must discard), LOGIN
and AUTHENTICATE (SASL-IR, continuations, cancel) with real clients and raw
bytes, wrong passwords, the TLS policy, literals and their limits, bad
commands."""
import base64
import imaplib
import socket

import pytest

from conftest import wait_until
from imapenv import ALICE, BOB, RawImap, imap_server, ssl_client, starttls_client
from tlsenv import PASSWORDS, client_context


@pytest.fixture
def srv(make_postern, workdir):
    p = imap_server(make_postern, workdir)
    yield p
    p.stop()


def plain(user, password, authzid=""):
    return base64.b64encode(f"{authzid}\0{user}\0{password}".encode()).decode()


def test_greeting_and_capability_before_tls(srv):
    c = RawImap(srv.imap_port, srv.ca)
    assert c.greeting.startswith(b"* OK [CAPABILITY IMAP4rev1 IMAP4rev2 STARTTLS LOGINDISABLED")
    untagged, text = c.ok("CAPABILITY")
    caps = untagged[0].split()
    assert caps[:2] == [b"*", b"CAPABILITY"]
    assert b"LOGINDISABLED" in caps and b"STARTTLS" in caps
    assert not any(x.startswith(b"AUTH=") for x in caps)
    # Passwords are refused in plain text, with the code clients show.
    _, status, text = c.cmd(f'LOGIN "{ALICE}" "{PASSWORDS[ALICE]}"')
    assert status == "NO" and b"[PRIVACYREQUIRED]" in text
    _, status, text = c.cmd("AUTHENTICATE PLAIN " + plain(ALICE, PASSWORDS[ALICE]))
    assert status == "NO" and b"[PRIVACYREQUIRED]" in text
    assert "event=imap_login" not in srv.log()
    c.close()


def test_starttls_then_capability_changes(srv):
    c = RawImap(srv.imap_port, srv.ca)
    c.starttls()
    untagged, _ = c.ok("CAPABILITY")
    caps = untagged[0].split()
    assert b"AUTH=PLAIN" in caps and b"STARTTLS" not in caps and b"LOGINDISABLED" not in caps
    _, status, _ = c.cmd("STARTTLS")
    assert status == "BAD"
    c.login()
    c.close()


def test_starttls_injection_is_discarded(srv):
    """Commands pipelined behind STARTTLS in the same packet arrive before
    TLS: they must never run (CVE-2011-0411, CVE-2021-33515)."""
    c = RawImap(srv.imap_port, srv.ca)
    c.send(f'a STARTTLS\r\nb LOGIN "{ALICE}" "{PASSWORDS[ALICE]}"\r\nc CAPABILITY\r\n')
    assert c.line().startswith(b"a OK")
    c.sock = client_context(srv.ca).wrap_socket(c.sock, server_hostname="mx.example.test")
    untagged, status, _ = c.cmd("NOOP")
    assert status == "OK" and untagged == []
    # Still not logged in: the injected LOGIN did not run.
    _, status, text = c.cmd("SELECT INBOX")
    assert status == "BAD" and b"log in first" in text
    wait_until(lambda: "event=imap_starttls_input_discarded" in srv.log())
    assert "event=imap_login" not in srv.log()
    c.close()


def test_imaplib_starttls_and_imaps_login(srv):
    c = starttls_client(srv)
    typ, data = c.capability()
    assert typ == "OK" and b"IMAP4rev1" in data[0]
    assert c.logout()[0] == "BYE"
    c = ssl_client(srv, BOB)
    assert c.noop()[0] == "OK"
    c.logout()
    log = srv.log()
    assert f"event=imap_login client=127.0.0.1 user={ALICE}" in log
    assert f"event=imap_login client=127.0.0.1 user={BOB}" in log


def test_wrong_password_is_no_and_logged(srv):
    c = imaplib.IMAP4_SSL("127.0.0.1", srv.imaps_port, ssl_context=client_context(srv.ca))
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        c.login(ALICE, "wrong")
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        c.login("nobody@example.test", "wrong")
    # The session is still usable.
    assert c.login(ALICE, PASSWORDS[ALICE])[0] == "OK"
    c.logout()
    wait_until(lambda: "event=auth_failed" in srv.log() and "service=imap" in srv.log())
    assert "event=auth_failed client=127.0.0.1" in srv.log()


def test_authenticate_plain_initial_response_and_continuation(srv):
    c = RawImap(srv.imaps_port, srv.ca, implicit_tls=True)
    assert b"AUTH=PLAIN" in c.greeting and b"SASL-IR" in c.greeting
    # A wrong one, then cancelled continuations, then the right one.
    _, status, text = c.cmd("AUTHENTICATE PLAIN " + plain(ALICE, "wrong"))
    assert status == "NO" and b"[AUTHENTICATIONFAILED]" in text
    c.send("x AUTHENTICATE PLAIN\r\n")
    assert c.line() == b"+ "
    c.send("*\r\n")
    _, status, text = c.until_tagged("x")
    assert status == "BAD" and b"cancelled" in text
    c.send("y AUTHENTICATE PLAIN\r\n")
    assert c.line() == b"+ "
    c.send("!!notbase64\r\n")
    _, status, _ = c.until_tagged("y")
    assert status == "BAD"
    # Acting as someone else is refused.
    _, status, text = c.cmd("AUTHENTICATE PLAIN " + plain(ALICE, PASSWORDS[ALICE], BOB))
    assert status == "NO"
    c.send("z AUTHENTICATE PLAIN\r\n")
    assert c.line() == b"+ "
    c.send(plain(ALICE, PASSWORDS[ALICE]) + "\r\n")
    _, status, text = c.until_tagged("z")
    assert status == "OK" and b"[CAPABILITY IMAP4rev1" in text
    _, status, text = c.cmd("LOGIN a b")
    assert status == "BAD" and b"already logged in" in text
    c.close()


def test_authenticate_login_mechanism(srv):
    c = RawImap(srv.imaps_port, srv.ca, implicit_tls=True)
    c.send("a AUTHENTICATE LOGIN\r\n")
    assert c.line() == b"+ " + base64.b64encode(b"Username:")
    c.send(base64.b64encode(ALICE.encode()) + b"\r\n")
    assert c.line() == b"+ " + base64.b64encode(b"Password:")
    c.send(base64.b64encode(PASSWORDS[ALICE].encode()) + b"\r\n")
    _, status, _ = c.until_tagged("a")
    assert status == "OK"
    _, status, text = c.cmd("AUTHENTICATE CRAM-MD5")
    assert status == "BAD" and b"already logged in" in text
    c.close()


def test_unknown_mechanism(srv):
    c = RawImap(srv.imaps_port, srv.ca, implicit_tls=True)
    _, status, text = c.cmd("AUTHENTICATE CRAM-MD5")
    assert status == "NO" and b"Unsupported" in text
    c.close()


def test_login_with_literals(srv):
    """Synchronising literals ("+" continuations) and LITERAL+ ones."""
    c = RawImap(srv.imaps_port, srv.ca, implicit_tls=True)
    user, pw = ALICE.encode(), PASSWORDS[ALICE].encode()
    c.send(b"a LOGIN {%d}\r\n" % len(user))
    assert c.line().startswith(b"+ ")
    c.send(user + b" {%d}\r\n" % len(pw))
    assert c.line().startswith(b"+ ")
    c.send(pw + b"\r\n")
    _, status, _ = c.until_tagged("a")
    assert status == "OK"
    c.close()
    c = RawImap(srv.imaps_port, srv.ca, implicit_tls=True)
    c.send(b"a LOGIN {%d+}\r\n%s {%d+}\r\n%s\r\n" % (len(user), user, len(pw), pw))
    _, status, _ = c.until_tagged("a")
    assert status == "OK"
    c.close()


def test_bad_input_gets_bad_with_a_reason(srv):
    c = RawImap(srv.imaps_port, srv.ca, implicit_tls=True)
    cases = [
        (b"a FROB", b"Unknown command"),
        (b'a LOGIN "unterminated', None),
        (b"a LOGIN (a b", None),
        (b"a LOGIN a b c", b"LOGIN expects"),
        (b"a NOOP extra", b"no arguments"),
        (b"a SELECT INBOX", b"log in first"),
        (b"a ID (\"name\")", b"ID"),
    ]
    for line, why in cases:
        c.send(line + b"\r\n")
        _, status, text = c.until_tagged("a")
        assert status == "BAD", (line, status, text)
        if why:
            assert why in text, (line, text)
    # No tag at all: an untagged BAD.
    c.send(b"\r\n")
    assert c.line().startswith(b"* BAD")
    untagged, _ = c.ok('ID ("name" "pytest" "version" "1")')
    assert untagged == [b'* ID ("name" "Postern")']
    c.close()


def test_line_and_literal_limits(make_postern, workdir):
    p = imap_server(make_postern, workdir,
                    {"imap": {"line_max": "2k"}, "limits": {"message_size": "10k"}})
    try:
        c = RawImap(p.imaps_port, p.ca, implicit_tls=True)
        c.send(b"a NOOP " + b"x" * 3000 + b"\r\n")
        line = c.line()
        assert line.startswith(b"a BAD [TOOBIG]") or line.startswith(b"* BAD [TOOBIG]"), line
        # A synchronising literal over the limit is refused before it is sent.
        c.send(b"b LOGIN {20000}\r\n")
        _, status, text = c.until_tagged("b")
        assert status == "NO" and b"[TOOBIG]" in text
        untagged, status, _ = c.cmd("NOOP")
        assert status == "OK"
        # A non-synchronising one is already on its way: the session ends.
        c.send(b"c LOGIN {20000+}\r\n" + b"y" * 100)
        assert c.line().startswith(b"* BYE")
        assert c.closed()
        # NUL is not allowed in a literal.
        c = RawImap(p.imaps_port, p.ca, implicit_tls=True)
        c.send(b"d LOGIN {3+}\r\na\0b x\r\n")
        assert c.line() == b"d BAD NUL in literal"
        untagged, status, _ = c.cmd("NOOP")  # and the session goes on
        assert status == "OK"
    finally:
        p.stop()


def test_too_many_bad_commands_closes(make_postern, workdir):
    p = imap_server(make_postern, workdir, {"limits": {"bad_commands": "3"}})
    try:
        c = RawImap(p.imaps_port, p.ca, implicit_tls=True)
        for i in range(3):
            c.send(b"a BOGUS\r\n")
        lines = [c.line() for _ in range(3)]
        assert lines[:2] == [b"a BAD Unknown command BOGUS"] * 2, lines
        assert lines[2].startswith(b"a BAD") or lines[2].startswith(b"* BYE")
        assert c.closed()
        assert b"* BYE Too many invalid commands" in b"\r\n".join(lines) + c.buf
    finally:
        p.stop()


def test_logout(srv):
    c = RawImap(srv.imaps_port, srv.ca, implicit_tls=True)
    untagged, status, _ = c.cmd("LOGOUT")
    assert untagged == [b"* BYE Logging out"] and status == "OK"
    assert c.closed()


def test_plaintext_auth_allowed_when_configured(make_postern, workdir):
    p = imap_server(make_postern, workdir, {"imap": {"allow_plaintext_auth": "yes"}})
    try:
        c = RawImap(p.imap_port, p.ca)
        assert b"LOGINDISABLED" not in c.greeting and b"AUTH=PLAIN" in c.greeting
        c.login()
        c.close()
    finally:
        p.stop()


def test_deep_nesting_and_huge_input_are_bad_not_fatal(srv):
    c = RawImap(srv.imaps_port, srv.ca, implicit_tls=True)
    c.login()
    c.ok("SELECT INBOX")
    _, status, text = c.cmd("SEARCH " + "(" * 200 + "ALL" + ")" * 200)
    assert status == "BAD" and b"nested" in text.lower(), text
    _, status, text = c.cmd("SEARCH " + "NOT " * 100 + "ALL")
    assert status == "BAD", text
    _, status, text = c.cmd("SEARCH " + " ".join(["OR ALL"] * 60) + " ALL")
    assert status == "BAD", text
    _, status, text = c.cmd("FETCH " + ",".join(str(i) for i in range(1, 5000)) + " FLAGS")
    assert status == "BAD"  # past the last message; and no memory per number
    untagged, status, _ = c.cmd("UID FETCH 1:4294967295,1:4294967295 (UID)")
    assert status == "OK" and untagged == []
    untagged, _ = c.ok("NOOP")
    c.close()


def test_huge_and_hostile_credentials(srv):
    """10 KB credentials, NUL, CR/LF inside literals: NO or BAD, never a
    login, never a crash; the session goes on."""
    c = RawImap(srv.imaps_port, srv.ca, implicit_tls=True)
    big = b"x" * 10000
    c.send(b"a LOGIN alice@example.test {%d+}\r\n%s\r\n" % (len(big), big))
    _, status, text = c.until_tagged("a")
    assert status == "NO" and b"AUTHENTICATIONFAILED" in text
    pw = PASSWORDS[ALICE].encode()
    for bad in (b"\r\n" + pw, pw + b"\r\n", b"\x00" + pw):
        c.send(b"b LOGIN {%d+}\r\n%s {%d+}\r\n%s\r\n" % (len(ALICE), ALICE.encode(), len(bad), bad))
        _, status, _ = c.until_tagged("b")
        assert status in ("NO", "BAD")
    c.send(b"c AUTHENTICATE PLAIN\r\n")
    assert c.line() == b"+ "
    c.send(base64.b64encode(b"\0alice@example.test\0" + big) + b"\r\n")
    _, status, _ = c.until_tagged("c")
    assert status in ("NO", "BAD")
    untagged, _ = c.ok("NOOP")
    c.login()
    c.close()
