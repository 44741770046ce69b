"""QUOTA at SMTP delivery, through the real binary: RCPT TO a local mailbox
that is full gets 452 4.2.2, one whose limit is below MAIL FROM's SIZE= gets
552 5.2.2 (it can never fit), SIZE= plus the usage over the limit 452
4.2.2; a message already queued for a full mailbox is deferred (4.2.2) and
delivered once IMAP EXPUNGE frees space, or bounced with Status: 5.2.2
when it expires."""
import re
import signal
import smtplib

import pytest

from conftest import Raw, send_raw_message, wait_until
from imapenv import ALICE, BOB, RawImap, imap_server


def body(n, tag):
    line = b"y" * 70 + b"\r\n"
    text = b"Subject: %s\r\nFrom: x@remote.test\r\n\r\n" % tag.encode()
    return text + line * max(1, (n - len(text)) // len(line))


def users_line(p, addr, extra):
    users = p.dir / "users"
    lines = users.read_text().splitlines()
    lines = [l.split(":")[0] + ":" + l.split(":")[1] + extra if l.split(":")[0] == addr else l
             for l in lines]
    users.write_text("\n".join(lines) + "\n")


def count(p, addr):
    box = p.maildir(addr)
    return sum(len(list((box / d).iterdir())) for d in ("new", "cur") if (box / d).is_dir())


def rcpt(p, addr, size=None):
    with Raw(p.port) as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@remote.test>" + (f" SIZE={size}" if size else ""), 250)
        code, text = c.cmd(f"RCPT TO:<{addr}>")
        c.cmd("QUIT")
        return code, text


def server(make_postern, workdir, relay=None):
    p = imap_server(make_postern, workdir,
                    {"imap": {"quota": "10k"}, "relay": relay or {"retry": "1s"}}, start=False)
    users_line(p, "carol@example.org", ":quota=0")
    users_line(p, BOB, ":quota=100k")
    p.start()
    return p


@pytest.fixture
def srv(make_postern, workdir):
    p = server(make_postern, workdir)
    yield p
    p.stop()


def test_rcpt_size_and_full(srv):
    assert rcpt(srv, ALICE) == (250, b"2.1.5 Ok")
    code, text = rcpt(srv, ALICE, size=20000)
    assert code == 552 and text.startswith(b"5.2.2 <alice@example.test>: Mailbox full"), text
    assert rcpt(srv, ALICE, size=9000)[0] == 250
    assert rcpt(srv, "carol@example.org", size=20000)[0] == 250  # quota=0: unlimited
    with smtplib.SMTP("127.0.0.1", srv.port, timeout=30) as s:
        s.sendmail("x@remote.test", [ALICE], body(8500, "big"))
    wait_until(lambda: count(srv, ALICE) == 1, what=srv.log())
    code, text = rcpt(srv, ALICE, size=2000)  # usage + size over: for now
    assert code == 452 and text == b"4.2.2 <alice@example.test>: Mailbox full, try again later"
    assert rcpt(srv, ALICE, size=500)[0] == 250
    # The limit lowered under the usage (users file, reload): full.
    with smtplib.SMTP("127.0.0.1", srv.port, timeout=30) as s:
        s.sendmail("x@remote.test", [BOB], body(5000, "bob"))
    wait_until(lambda: count(srv, BOB) == 1, what=srv.log())
    users_line(srv, BOB, ":quota=2k")
    reloads = srv.log().count("event=reloaded")
    srv.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: srv.log().count("event=reloaded") > reloads, what=srv.log())
    code, text = rcpt(srv, BOB)
    assert code == 452 and text.startswith(b"4.2.2"), text
    code, text = rcpt(srv, BOB, size=3000)
    assert code == 552 and text.startswith(b"5.2.2"), text
    # Pipelined: the check waits in a worker, the replies stay in order.
    with Raw(srv.port) as c:
        c.ehlo()
        c.send(b"MAIL FROM:<x@remote.test>\r\nRCPT TO:<bob@example.test>\r\n"
               b"RCPT TO:<alice@example.test>\r\nRCPT TO:<nobody@example.test>\r\nRSET\r\n")
        assert c.reply()[0] == 250
        assert c.reply()[0] == 452
        assert c.reply()[0] == 250
        assert c.reply()[0] == 550
        assert c.reply()[0] == 250
    assert "reason=mailbox_full" in srv.log()


def test_queued_deferred_then_delivered(srv):
    with smtplib.SMTP("127.0.0.1", srv.port, timeout=30) as s:
        s.sendmail("x@remote.test", [ALICE], body(6000, "first"))
    wait_until(lambda: count(srv, ALICE) == 1, what=srv.log())
    # Without SIZE= it passes RCPT, and cannot fit.
    code, _ = send_raw_message(srv.port, [ALICE], body(6000, "second"))
    assert code == 250
    wait_until(lambda: srv.log().count("status=4.2.2 error=mailbox_full") >= 2, what=srv.log())
    assert count(srv, ALICE) == 1
    assert srv.queue_ids(), "the message must stay queued"
    assert not list((srv.maildir(ALICE) / "tmp").iterdir()), "no copy left in tmp/"
    c = RawImap(srv.imaps_port, srv.ca, implicit_tls=True)
    c.login()
    c.ok("SELECT INBOX")
    c.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    c.ok("EXPUNGE")
    c.close()
    wait_until(lambda: count(srv, ALICE) == 1 and not srv.queue_ids(), timeout=15, what=srv.log())
    files = [f for d in ("new", "cur") for f in (srv.maildir(ALICE) / d).iterdir()]
    assert b"Subject: second" in files[0].read_bytes()


def test_expired_bounce_says_5_2_2(make_postern, workdir):
    p = server(make_postern, workdir, {"retry": "1s", "queue_lifetime": "3s"})
    try:
        with smtplib.SMTP("127.0.0.1", p.port, timeout=30) as s:
            s.sendmail("x@remote.test", [ALICE], body(8000, "first"))
        wait_until(lambda: count(p, ALICE) == 1, what=p.log())
        code, _ = send_raw_message(p.port, [ALICE], body(6000, "never fits"),
                                   sender="carol@example.org")
        assert code == 250
        wait_until(lambda: count(p, "carol@example.org") == 1, timeout=20, what=p.log())
        dsn = next((p.maildir("carol@example.org") / "new").iterdir()).read_bytes()
        assert re.search(rb"Status: 5\.2\.2", dsn), dsn
        assert b"Mailbox full" in dsn
        assert count(p, ALICE) == 1
    finally:
        p.stop()
