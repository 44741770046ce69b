"""POP3 login to a Maildir that exists but holds no message: the normal
state after a client fetched and deleted everything (issue 11). The scan
used to hand qsort() a NULL array, which UBSan reports (and kills the
sanitizer build on)."""
import os
import subprocess

import pytest

from pop3env import ALICE, BOB, RawPop3, count_messages, deliver, pop3_server


@pytest.fixture
def pop(make_postern, workdir):
    return pop3_server(make_postern, workdir)


def test_login_to_existing_empty_maildir_stat_0_0(pop):
    box = pop.maildir(BOB)
    for sub in ("tmp", "new", "cur"):
        (box / sub).mkdir(parents=True)
    subprocess.run(["chown", "-R", "postern:postern", str(pop.data_dir / "mail")], check=True)
    with RawPop3(pop.pop3s_port, ca=pop.ca, implicit_tls=True) as c:
        assert c.login(BOB).startswith(b"+OK Logged in, 0 messages (0 octets)")
        assert c.cmd("STAT") == b"+OK 0 0"
        assert c.cmd("LIST").startswith(b"+OK")
        assert c.multiline() == []
        assert c.cmd("UIDL").startswith(b"+OK")
        assert c.multiline() == []
        c.err("RETR 1")
        c.ok("QUIT")
    pop.stop()  # checks the log for sanitizer reports
    assert "runtime error" not in pop.log()


def test_fetch_delete_all_then_log_in_again(pop):
    deliver(pop, ALICE, b"Subject: one\r\n\r\nbody\r\n")
    with RawPop3(pop.pop3s_port, ca=pop.ca, implicit_tls=True) as c:
        c.login(ALICE)
        assert c.cmd("STAT").startswith(b"+OK 1 ")
        c.ok("DELE 1")
        c.ok("QUIT")
    assert count_messages(pop, ALICE) == 0
    assert all((pop.maildir(ALICE) / d).is_dir() for d in ("tmp", "new", "cur"))
    for _ in range(2):
        with RawPop3(pop.pop3s_port, ca=pop.ca, implicit_tls=True) as c:
            c.login(ALICE)
            assert c.cmd("STAT") == b"+OK 0 0"
            c.ok("QUIT")
    pop.stop()
    assert "runtime error" not in pop.log()
