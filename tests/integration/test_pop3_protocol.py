"""Issue 6: POP3 semantics through the real binary: deletions only at QUIT,
stable UIDLs, new/ to cur/, one session per mailbox, logins and their
refusals, AUTH PLAIN, snapshots."""
import base64
import poplib
import re
import time

import pytest

from conftest import restart, wait_until
from pop3env import (ALICE, BOB, MAILDIR_NAME, RawPop3, deliver, maildir_files, pop3_server,
                     retr_bytes, ssl_client, stls_client, strip_trace)
from tlsenv import PASSWORDS


@pytest.fixture
def pop(make_postern, workdir):
    return pop3_server(make_postern, workdir)


def msg(n):
    return b"Subject: message %d\r\n\r\nbody %d\r\n" % (n, n)


def fill(pop, addr, n):
    for i in range(1, n + 1):
        deliver(pop, addr, msg(i))


def test_dele_then_quit_removes_and_rset_restores(pop):
    fill(pop, ALICE, 3)
    c = stls_client(pop)
    assert c.dele(2).startswith(b"+OK")
    with pytest.raises(poplib.error_proto, match="deleted"):
        c.retr(2)
    with pytest.raises(poplib.error_proto, match="deleted"):
        c.dele(2)
    assert c.stat()[0] == 2
    assert [line.split()[0] for line in c.list()[1]] == [b"1", b"3"]
    c.rset()
    assert c.stat()[0] == 3
    c.dele(1)
    c.dele(3)
    assert len(maildir_files(pop, ALICE)["new"]) == 3  # nothing yet
    assert b"2 message(s) deleted" in c.quit()
    files = maildir_files(pop, ALICE)
    assert files["cur"] == [] and len(files["new"]) == 1
    c = stls_client(pop)
    assert strip_trace(retr_bytes(c, 1)) == msg(2)
    c.quit()


def test_dele_then_dropped_connection_removes_nothing(pop):
    fill(pop, ALICE, 2)
    before = maildir_files(pop, ALICE)
    with RawPop3(pop.pop3s_port, pop.ca, implicit_tls=True) as r:
        r.login()
        r.ok("RETR 1") and r.multiline()
        r.ok("DELE 1")
        r.ok("DELE 2")
    # Closed without QUIT: no UPDATE state, so nothing is removed or moved.
    wait_until(lambda: "reason=" in pop.log().split("event=pop3_login")[-1],
               what=f"the session to end\n{pop.log()}")
    assert maildir_files(pop, ALICE) == before
    assert "deleted=" not in pop.log()
    # And the mailbox is free again for the next session.
    c = ssl_client(pop)
    assert c.stat()[0] == 2
    c.quit()


def test_kill_9_mid_session_deletes_nothing(pop):
    fill(pop, ALICE, 3)
    c = stls_client(pop)
    uids_before = c.uidl()[1]
    for i in (1, 2, 3):
        c.dele(i)
    before = maildir_files(pop, ALICE)
    pop.kill()
    assert maildir_files(pop, ALICE) == before
    restart(pop)
    c = stls_client(pop)
    assert c.stat()[0] == 3
    assert c.uidl()[1] == uids_before  # stable across a restart
    c.quit()


def test_uidl_stable_and_retrieved_moved_to_cur_with_seen_flag(pop):
    fill(pop, ALICE, 3)
    c = ssl_client(pop)
    uids = c.uidl()[1]
    assert all(re.fullmatch(rb"\d+ [\x21-\x7e]{1,70}", u) for u in uids)
    assert len({u.split()[1] for u in uids}) == 3
    assert c.uidl(2) == b"+OK " + uids[1]
    retr_bytes(c, 1)
    retr_bytes(c, 3)
    c.top(2, 0)  # TOP does not count as reading it
    c.quit()
    files = maildir_files(pop, ALICE)
    assert len(files["new"]) == 1 and len(files["cur"]) == 2
    for name in files["cur"]:
        m = MAILDIR_NAME.match(name)
        assert m and m.group("info") == ":2,S", name
    # Same ids, same order, next session and after a restart.
    c = stls_client(pop)
    assert c.uidl()[1] == uids
    c.quit()
    pop.stop()
    restart(pop)
    c = stls_client(pop)
    assert c.uidl()[1] == uids
    c.quit()


def test_second_session_gets_in_use(pop):
    fill(pop, ALICE, 1)
    first = stls_client(pop)
    with pytest.raises(poplib.error_proto, match=r"\[IN-USE\]"):
        ssl_client(pop)
    # The loser stays in AUTHORIZATION and may try again later.
    with RawPop3(pop.pop3s_port, pop.ca, implicit_tls=True) as r:
        r.ok(f"USER {ALICE}")
        assert r.cmd(f"PASS {PASSWORDS[ALICE]}").startswith(b"-ERR [IN-USE]")
        # Another mailbox is not locked.
        r.login(BOB)
        r.ok("QUIT")
    first.quit()
    second = ssl_client(pop)  # free once the first said QUIT
    assert second.stat()[0] == 1
    second.quit()


def test_wrong_password_is_delayed_logged_and_locked_out(make_postern, workdir):
    pop = pop3_server(make_postern, workdir,
                      {"auth": {"failure_delay": "300ms", "failure_limit": "3"}})
    with RawPop3(pop.pop3s_port, pop.ca, implicit_tls=True) as r:
        r.ok(f"USER {ALICE}")
        t = time.monotonic()
        assert r.cmd("PASS wrong").startswith(b"-ERR [AUTH]")
        assert time.monotonic() - t >= 0.25
        r.ok("USER nobody@example.test")  # an unknown user looks the same
        assert r.cmd("PASS wrong").startswith(b"-ERR [AUTH]")
        # PASS without USER after a failure: start over at USER.
        r.err("PASS again", "USER first")
    assert re.search(r"event=auth_failed client=127\.0\.0\.1 user=\"?alice@example\.test\"? "
                     r"service=pop3s", pop.log())
    with RawPop3(pop.pop3_port, pop.ca) as r:
        r.starttls()
        r.ok(f"USER {ALICE}")
        # The third failure starts the lockout: the session is closed.
        assert r.cmd("PASS wrong").startswith(b"-ERR [SYS/TEMP]")
        assert r.closed()
    assert "service=pop3 " in pop.log() and "event=auth_lockout" in pop.log()
    with RawPop3(pop.pop3s_port, pop.ca, implicit_tls=True) as r:
        r.ok(f"USER {ALICE}")
        # Locked out: even the right password is not checked.
        assert r.cmd(f"PASS {PASSWORDS[ALICE]}").startswith(b"-ERR [SYS/TEMP]")


def test_empty_mailbox(pop):
    c = ssl_client(pop, BOB)  # no mail ever delivered: no Maildir at all
    assert c.stat() == (0, 0)
    resp, listing, _ = c.list()
    assert listing == [] and resp.startswith(b"+OK 0 messages")
    assert c.uidl()[1] == []
    with pytest.raises(poplib.error_proto, match="No such message"):
        c.retr(1)
    with pytest.raises(poplib.error_proto, match="No such message"):
        c.dele(1)
    assert c.quit().startswith(b"+OK")


def test_mail_delivered_during_a_session_appears_at_the_next(pop):
    fill(pop, ALICE, 1)
    c = stls_client(pop)
    deliver(pop, ALICE, msg(2))
    assert c.stat()[0] == 1
    c.quit()
    c = stls_client(pop)
    assert c.stat()[0] == 2
    c.quit()


def test_plaintext_login_refused_before_tls(pop):
    with RawPop3(pop.pop3_port, pop.ca) as r:
        r.send("CAPA\r\n")
        assert r.line().startswith(b"+OK")
        caps = r.multiline()
        assert b"STLS" in caps and b"USER" not in caps
        assert not any(c.startswith(b"SASL") for c in caps)
        r.err(f"USER {ALICE}", "[AUTH]")
        r.err(f"PASS {PASSWORDS[ALICE]}", "[AUTH]")
        r.err("AUTH PLAIN " + base64.b64encode(f"\0{ALICE}\0{PASSWORDS[ALICE]}".encode()).decode(),
              "[AUTH]")
        r.err("STAT", "Not logged in")
        r.starttls()
        caps = r.cmd("CAPA") and r.multiline()
        assert b"USER" in caps and b"SASL PLAIN" in caps and b"STLS" not in caps
        r.err("STLS", "already")
        r.login()
        r.ok("QUIT")
    assert "event=pop3_plaintext_refused" in pop.log()


def test_allow_plaintext_auth(make_postern, workdir):
    pop = pop3_server(make_postern, workdir, {"pop3": {"allow_plaintext_auth": "yes"}})
    deliver(pop, ALICE, msg(1))
    c = poplib.POP3("127.0.0.1", pop.pop3_port, timeout=10)
    assert "USER" in c.capa()
    c.user(ALICE)
    c.pass_(PASSWORDS[ALICE])
    assert strip_trace(retr_bytes(c, 1)) == msg(1)
    c.quit()


def plain(authz, user, pw):
    return base64.b64encode(f"{authz}\0{user}\0{pw}".encode()).decode()


def test_auth_plain(pop):
    fill(pop, ALICE, 1)
    with RawPop3(pop.pop3s_port, pop.ca, implicit_tls=True) as r:
        r.send("AUTH\r\n")
        assert r.line().startswith(b"+OK") and r.multiline() == [b"PLAIN"]
        r.err("AUTH LOGIN", "PLAIN")
        # No initial response: "+ " then the response; "*" cancels.
        assert r.cmd("AUTH PLAIN") == b"+ "
        r.err("*", "cancelled")
        assert r.cmd("AUTH PLAIN") == b"+ "
        r.err("not base64!", "base64")
        r.err("AUTH PLAIN =", "Malformed")
        r.err("AUTH PLAIN " + plain(BOB, ALICE, PASSWORDS[ALICE]), "authzid")
        r.err("AUTH PLAIN " + plain("", ALICE, "wrong"), "[AUTH]")
        assert r.cmd("AUTH PLAIN") == b"+ "
        assert r.cmd(plain(ALICE, ALICE, PASSWORDS[ALICE])).startswith(b"+OK Logged in, 1 ")
        r.err("AUTH PLAIN", "not valid after login")
        r.ok("QUIT")
    # The initial response form (RFC 5034), as curl sends it with --sasl-ir.
    with RawPop3(pop.pop3s_port, pop.ca, implicit_tls=True) as r:
        r.ok("AUTH PLAIN " + plain("", ALICE.upper(), PASSWORDS[ALICE]))
        assert r.ok("STAT") == b"+OK 1 %d" % int(r.cmd("LIST 1").split()[2])
        r.ok("QUIT")


def test_pipelined_commands_are_answered_in_order(pop):
    fill(pop, ALICE, 2)
    with RawPop3(pop.pop3s_port, pop.ca, implicit_tls=True) as r:
        # RFC 2449 PIPELINING: a whole session in one write, RETR included.
        r.send(f"USER {ALICE}\r\nPASS {PASSWORDS[ALICE]}\r\nSTAT\r\nRETR 2\r\nTOP 1 0\r\n"
               "DELE 1\r\nLIST\r\nQUIT\r\n")
        assert r.line() == b"+OK Send PASS"
        assert r.line().startswith(b"+OK Logged in, 2 messages")
        assert r.line().startswith(b"+OK 2 ")
        assert r.line().endswith(b" octets")
        assert r.multiline()[-1] == b"body 2"
        assert r.line() == b"+OK Top of message follows"
        assert r.multiline()[-2:] == [b"Subject: message 1", b""]
        assert r.line().startswith(b"+OK Message 1 deleted")
        assert r.line().startswith(b"+OK 1 messages")
        assert [x.split()[0] for x in r.multiline()] == [b"2"]
        assert r.line() == b"+OK Logging out, 1 message(s) deleted"
    files = maildir_files(pop, ALICE)
    assert files["new"] == [] and len(files["cur"]) == 1
