"""Issue 6: mail delivered over SMTP and fetched over POP3 with real clients
(Python poplib with STLS and on pop3s, curl, fetchmail), trusting only the
test CA: the bytes that arrive are the bytes that were sent."""
import os
import random
import stat
import subprocess

import pytest

from conftest import wait_until
from pop3env import (ALICE, BOB, deliver, maildir_files, pop3_server, retr_bytes, ssl_client,
                     stls_client, strip_trace)
from tlsenv import PASSWORDS

DOTS = (b"Subject: dots\r\n\r\n.starts with a dot\r\n..two dots\r\n.\r\n"
        b"a line\r\n. space after the dot\r\n")
EIGHT_BIT = ("Subject: =?utf-8?q?8bit?=\r\nContent-Type: text/plain; charset=utf-8\r\n"
             "Content-Transfer-Encoding: 8bit\r\n\r\nGrüße, €100\r\n").encode() + \
    b"latin-1 \xe9\xe8\xff\r\n"


def long_message(size=2 * 1024 * 1024, seed=6):
    """About size octets of 998-octet lines, every seventh beginning with a dot."""
    rnd = random.Random(seed)
    lines = [b"Subject: long", b""]
    total = 0
    i = 0
    while total < size:
        body = bytes(rnd.choice(b"abcdefghijklmnopqrstuvwxyz0123456789 .") for _ in range(998))
        if i % 7 == 0:
            body = b"." + body[1:]
        lines.append(body)
        total += len(body) + 2
        i += 1
    return b"\r\n".join(lines) + b"\r\n"


@pytest.fixture
def pop(make_postern, workdir):
    return pop3_server(make_postern, workdir)


def test_poplib_stls_bytes_equal_and_sizes_are_crlf_octets(pop):
    sent = [DOTS, EIGHT_BIT, long_message()]
    for m in sent:
        deliver(pop, ALICE, m)
    c = stls_client(pop)
    count, octets = c.stat()
    assert count == 3
    resp, listing, _ = c.list()
    sizes = [int(line.split()[1]) for line in listing]
    assert sum(sizes) == octets
    for i, m in enumerate(sent, 1):
        resp, lines, _ = c.retr(i)
        got = b"".join(line + b"\r\n" for line in lines)
        assert strip_trace(got) == m
        # LIST/STAT count the message's CRLF octets, before dot-stuffing.
        assert len(got) == sizes[i - 1]
        assert resp == b"+OK %d octets" % sizes[i - 1]
    c.quit()


def test_pop3s_implicit_tls_stat_list_uidl_top(pop):
    deliver(pop, BOB, DOTS)
    deliver(pop, BOB, b"Subject: two\r\n\r\nl1\r\nl2\r\nl3\r\n")
    c = ssl_client(pop, BOB)
    assert c.stat()[0] == 2
    resp, uids, _ = c.uidl()
    names = [n.split(",")[0] for n in maildir_files(pop, BOB)["new"]]
    assert sorted(u.split()[1].decode() for u in uids) == sorted(names)
    resp, lines, _ = c.top(2, 2)
    assert strip_trace(b"".join(line + b"\r\n" for line in lines)) == b"Subject: two\r\n\r\nl1\r\nl2\r\n"
    resp, lines, _ = c.top(2, 0)
    assert strip_trace(b"".join(line + b"\r\n" for line in lines)) == b"Subject: two\r\n\r\n"
    resp, lines, _ = c.top(1, 100)  # more lines than the body has: all of it
    assert strip_trace(b"".join(line + b"\r\n" for line in lines)) == DOTS
    c.quit()
    # TOP is not a retrieval: nothing moved to cur/.
    assert len(maildir_files(pop, BOB)["new"]) == 2


def curl(pop, url, *args, user=ALICE):
    r = subprocess.run(
        ["curl", "-sS", "--max-time", "60", "--cacert", pop.ca, "-u", f"{user}:{PASSWORDS[user]}",
         *args, url], capture_output=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_curl_pop3s_and_stls(pop):
    big = long_message(300 * 1024, seed=7)
    for m in (DOTS, EIGHT_BIT, big):
        deliver(pop, ALICE, m)
    listing = curl(pop, f"pop3s://127.0.0.1:{pop.pop3s_port}/")
    assert [line.split()[0] for line in listing.splitlines()] == [b"1", b"2", b"3"]
    # curl undoes the dot-stuffing itself.
    assert strip_trace(curl(pop, f"pop3s://127.0.0.1:{pop.pop3s_port}/1")) == DOTS
    assert strip_trace(curl(pop, f"pop3s://127.0.0.1:{pop.pop3s_port}/2")) == EIGHT_BIT
    # STLS on the plain port, which curl must insist on.
    got = curl(pop, f"pop3://127.0.0.1:{pop.pop3_port}/3", "--ssl-reqd")
    assert strip_trace(got) == big
    assert "event=auth_ok" in pop.log() and "service=pop3 " in pop.log()


def fetchmail(pop, workdir, tls):
    """fetchmail into files, one per message, through an MDA command."""
    out = workdir / f"fetched-{tls}"
    out.mkdir()
    mda = workdir / "deliver.sh"
    mda.write_text(f'#!/bin/sh\nexec cat > "$(mktemp {out}/msg.XXXXXX)"\n')
    mda.chmod(0o755)
    port = pop.pop3s_port if tls == "ssl" else pop.pop3_port
    rc = workdir / f"fetchmailrc-{tls}"
    rc.write_text(
        f'poll 127.0.0.1 with proto POP3 service {port}\n'
        f'  user "{ALICE}" there with password "{PASSWORDS[ALICE]}" is root here\n'
        f'  {"ssl " if tls == "ssl" else ""}sslproto "tls1.2+" sslcertck '
        f'sslcertfile "{pop.ca}" sslcommonname "mx.example.test"\n'
        f'  mda "{mda}"\n')
    rc.chmod(stat.S_IRUSR | stat.S_IWUSR)
    r = subprocess.run(["fetchmail", "-f", str(rc), "--invisible", "--nosyslog", "-v",
                        "--pidfile", str(workdir / f"fetchmail-{tls}.pid")],
                       capture_output=True, env={**os.environ, "HOME": str(workdir)}, timeout=120)
    assert r.returncode == 0, r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
    return sorted((p.read_bytes() for p in out.iterdir()), key=len), r


@pytest.mark.parametrize("tls", ["ssl", "stls"])
def test_fetchmail_into_files_then_deleted(pop, workdir, tls):
    sent = [DOTS, EIGHT_BIT, long_message(500 * 1024, seed=8)]
    for m in sent:
        deliver(pop, ALICE, m)
    got, r = fetchmail(pop, workdir, tls)
    # fetchmail hands the MDA LF line endings; otherwise the same bytes.
    want = sorted((m.replace(b"\r\n", b"\n") for m in sent), key=len)
    assert [strip_trace(g.replace(b"\n", b"\r\n")).replace(b"\r\n", b"\n") for g in got] == want
    if tls == "stls":
        assert b"STLS" in r.stdout + r.stderr
    # fetchmail deletes what it fetched (DELE, then QUIT): the Maildir is empty.
    wait_until(lambda: maildir_files(pop, ALICE) == {"new": [], "cur": []},
               what=f"an empty Maildir\n{pop.log()}")
    assert "deleted=3" in pop.log()
