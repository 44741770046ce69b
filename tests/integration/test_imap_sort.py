"""SORT, ESORT, SORT=DISPLAY and THREAD (RFC 5256, 5267, 5957) through the
real binary on messages delivered over SMTP."""
import smtplib

import pytest

from conftest import wait_until
from imapenv import ALICE, RawImap, imap_server

# (from, subject, date, message-id, in-reply-to)
MESSAGES = [
    ("Zed <zed@remote.test>", "hello", "Mon, 02 Nov 2026 10:00:00 +0000", "<a@x.test>", None),
    ("amy@remote.test", "Re: hello", "Tue, 03 Nov 2026 10:00:00 +0000", "<b@x.test>", "<a@x.test>"),
    ("Bob <bob@remote.test>", "Another topic", "Sun, 01 Nov 2026 10:00:00 +0000", "<c@x.test>", None),
    ("carl@remote.test", "[list] Fwd: Re: hello (fwd)", "Wed, 04 Nov 2026 10:00:00 +0000",
     "<d@x.test>", "<b@x.test>"),
    ("=?UTF-8?Q?=C3=89mile?= <emile@remote.test>", "another topic",
     "Thu, 05 Nov 2026 10:00:00 +0000", "<e@x.test>", None),
]


@pytest.fixture
def box(make_postern, workdir):
    p = imap_server(make_postern, workdir)
    box = p.maildir(ALICE)
    with smtplib.SMTP("127.0.0.1", p.port, timeout=30) as s:
        for i, (frm, subj, date, mid, irt) in enumerate(MESSAGES):
            hdr = f"From: {frm}\r\nTo: alice@example.test\r\nSubject: {subj}\r\nDate: {date}\r\n"
            hdr += f"Message-ID: {mid}\r\n" + (f"In-Reply-To: {irt}\r\nReferences: {irt}\r\n" if irt else "")
            s.sendmail("x@remote.test", [ALICE], (hdr + "\r\n" + "x" * (100 * (5 - i)) + "\r\n").encode())
            wait_until(lambda: sum(len(list((box / d).iterdir())) for d in ("new", "cur")
                                   if (box / d).is_dir()) > i)
    c = RawImap(p.imaps_port, p.ca, implicit_tls=True)
    _, text = c.login()
    for cap in (b"SORT", b"SORT=DISPLAY", b"ESORT", b"THREAD=REFERENCES", b"THREAD=ORDEREDSUBJECT"):
        assert cap in text.split(), cap
    c.ok("SELECT INBOX")
    yield c
    c.close()
    p.stop()


def sort(c, args):
    untagged, _ = c.ok(args)
    return untagged


def test_sort_orders(box):
    c = box
    assert sort(c, "SORT (SUBJECT) UTF-8 ALL") == [b"* SORT 3 5 1 2 4"]
    assert sort(c, "SORT (DATE) UTF-8 ALL") == [b"* SORT 3 1 2 4 5"]
    assert sort(c, "SORT (REVERSE DATE) UTF-8 ALL") == [b"* SORT 5 4 2 1 3"]
    assert sort(c, "SORT (ARRIVAL) US-ASCII ALL") == [b"* SORT 1 2 3 4 5"]
    assert sort(c, "SORT (SIZE) UTF-8 ALL") == [b"* SORT 5 4 3 2 1"]
    # FROM sorts on the mailbox, DISPLAYFROM on the display name.
    assert sort(c, "SORT (FROM) UTF-8 ALL") == [b"* SORT 2 3 4 5 1"]
    assert sort(c, "SORT (DISPLAYFROM) UTF-8 ALL") == [b"* SORT 2 3 4 1 5"]
    assert sort(c, "SORT (SUBJECT DATE) UTF-8 SENTSINCE 2-Nov-2026") == [b"* SORT 5 1 2 4"]
    assert sort(c, "UID SORT (SIZE) UTF-8 UID 2:4") == [b"* SORT 4 3 2"]
    # Ties (the same arrival second) stay in mailbox order, REVERSE or not.
    assert sort(c, "SORT (REVERSE ARRIVAL) UTF-8 2:4") == [b"* SORT 2 3 4"]
    untagged = sort(c, "SORT RETURN (MIN MAX COUNT) (DATE) UTF-8 ALL")
    assert untagged == [b'* ESEARCH (TAG "t%d") MIN 3 MAX 5 COUNT 5' % c.n], untagged


def test_thread(box):
    c = box
    # The two "another topic" roots share a dummy parent (RFC 5256 4, step 5).
    assert sort(c, "THREAD REFERENCES UTF-8 ALL") == [b"* THREAD ((3)(5))(1 2 4)"]
    # ORDEREDSUBJECT: the first of a subject is the parent of the others.
    assert sort(c, "THREAD ORDEREDSUBJECT UTF-8 ALL") == [b"* THREAD (3 5)(1 (2)(4))"]
    # Without message 2 the reply 4 hangs on a missing parent, which is
    # pruned; its subject then puts it under 1.
    assert sort(c, "UID THREAD REFERENCES UTF-8 NOT UID 2") == [b"* THREAD ((3)(5))(1 4)"]


def test_sort_bad_input(box):
    c = box
    for bad in ("SORT () UTF-8 ALL", "SORT (FROBNICATE) UTF-8 ALL", "SORT (SUBJECT) UTF-8",
                "SORT SUBJECT UTF-8 ALL", "THREAD FROB UTF-8 ALL", "SORT (REVERSE) UTF-8 ALL"):
        _, status, text = c.cmd(bad)
        assert status == "BAD", (bad, status, text)
    _, status, text = c.cmd("SORT (SUBJECT) ALL")  # ALL read as the charset
    assert status == "NO" and b"BADCHARSET" in text
    _, status, text = c.cmd("SORT (SUBJECT) KOI8-R ALL")
    assert status == "NO" and b"BADCHARSET" in text
    _, status, text = c.cmd("THREAD REFERENCES KOI8-R ALL")
    assert status == "NO" and b"BADCHARSET" in text
