"""IMAP on a real mailbox, through the real binary with Python's imaplib
and raw bytes: the default folders, SELECT/EXAMINE after delivery over
SMTP, FETCH of flags, sizes and bodies, STORE, SEARCH, COPY/MOVE with
COPYUID, APPEND with APPENDUID, folder management and its refusals,
STATUS, EXPUNGE/CLOSE/UNSELECT, and IDLE woken by an SMTP delivery."""
import imaplib
import os
import re
import smtplib
import time

import pytest

from conftest import wait_until
from imapenv import ALICE, BOB, RawImap, imap_server, ssl_client

MSG = (b"From: Carol <carol@remote.test>\r\nTo: alice@example.test\r\n"
       b"Subject: hello %d\r\nDate: Fri, 04 Dec 2026 10:00:00 +0000\r\n"
       b"Message-ID: <m%d@remote.test>\r\n\r\nbody line %d\r\nsecond line\r\n")


@pytest.fixture
def srv(make_postern, workdir):
    p = imap_server(make_postern, workdir)
    yield p
    p.stop()


def count(p, rcpt):
    box = p.maildir(rcpt)
    return sum(len(list((box / d).iterdir())) for d in ("new", "cur") if (box / d).is_dir())


def deliver(p, n, rcpt=ALICE, wait=True):
    """n messages, one at a time (each in the Maildir before the next is
    sent, so UIDs follow the subjects' numbers)."""
    with smtplib.SMTP("127.0.0.1", p.port, timeout=30) as s:
        for i in range(n):
            before = count(p, rcpt)
            s.sendmail("carol@remote.test", [rcpt], MSG % (i, i, i))
            if wait:
                wait_until(lambda: count(p, rcpt) > before, what=f"delivery\n{p.log()}")


def wait_delivered(p, rcpt, n):
    box = p.maildir(rcpt)
    wait_until(lambda: sum(len(list((box / d).iterdir())) for d in ("new", "cur")
                           if (box / d).is_dir()) >= n, what=f"{n} messages\n{p.log()}")


def test_default_folders_and_list(srv):
    c = ssl_client(srv)
    typ, data = c.list()
    assert typ == "OK"
    lines = [d.decode() for d in data]
    for name, use in (("Sent", "\\Sent"), ("Drafts", "\\Drafts"), ("Trash", "\\Trash"),
                      ("Junk", "\\Junk"), ("Archive", "\\Archive")):
        assert any(use in l and l.endswith(f'"{name}"') for l in lines), (name, lines)
    assert any(l.endswith('"INBOX"') for l in lines), lines
    typ, data = c.lsub()
    assert typ == "OK" and len(data) >= 5
    typ, data = c.list('""', '""')
    assert data == [b'(\\Noselect) "." ""']
    typ, data = c.list('""', "S%")
    assert [d.decode().rsplit(" ", 1)[1] for d in data] == ['"Sent"']
    typ, data = c.namespace()
    assert data == [b'(("" ".")) NIL NIL']
    # The Maildir++ layout Dovecot uses.
    box = srv.maildir(ALICE)
    assert (box / ".Sent" / "maildirfolder").exists()
    assert (box / "subscriptions").read_text().startswith("V\t2\n")
    c.logout()


def test_select_fetch_store_search(srv):
    deliver(srv, 3)
    wait_delivered(srv, ALICE, 3)
    c = ssl_client(srv)
    typ, data = c.select("INBOX")
    assert typ == "OK" and data == [b"3"]
    assert c.untagged_responses.get("RECENT") == [b"3"]
    uv = int(c.untagged_responses["UIDVALIDITY"][0])
    assert uv > 0
    typ, data = c.fetch("1:*", "(UID FLAGS RFC822.SIZE)")
    assert typ == "OK" and len(data) == 3
    for i, d in enumerate(data):
        m = re.match(rb"(\d+) \(UID (\d+) FLAGS \(([^)]*)\) RFC822.SIZE (\d+)\)", d)
        assert m, d
        assert int(m[1]) == i + 1 and int(m[2]) == i + 1
        assert b"\\Recent" in m[3] and b"\\Seen" not in m[3]
    # PEEK leaves \Seen alone; BODY[] sets it.
    typ, data = c.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert data[0][1] == b"Subject: hello 0\r\n\r\n"
    typ, data = c.fetch("1", "(FLAGS)")
    assert b"\\Seen" not in data[0]
    typ, data = c.fetch("2", "(BODY[])")
    assert data[0][1].endswith(b"body line 1\r\nsecond line\r\n"), data
    size = int(re.search(rb"RFC822.SIZE (\d+)", c.fetch("2", "(RFC822.SIZE)")[1][0])[1])
    assert size == len(data[0][1])
    typ, data = c.fetch("2", "(FLAGS)")
    assert b"\\Seen" in data[0]
    typ, data = c.fetch("1", "(ENVELOPE)")
    assert b'"hello 0"' in data[0] and b'"Carol" NIL "carol" "remote.test"' in data[0]
    typ, data = c.fetch("1", "(BODYSTRUCTURE)")
    assert b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit"' in data[0]
    # STORE: flags and keywords.
    typ, data = c.store("3", "+FLAGS", r"(\Flagged $Label1)")
    assert typ == "OK" and b"\\Flagged" in data[0] and b"$Label1" in data[0]
    typ, data = c.store("3", "-FLAGS", r"(\Flagged)")
    assert b"\\Flagged" not in data[0] and b"$Label1" in data[0]
    # SEARCH
    assert c.search(None, "ALL") == ("OK", [b"1 2 3"])
    assert c.search(None, "SEEN") == ("OK", [b"2"])
    assert c.search(None, "UNSEEN") == ("OK", [b"1 3"])
    assert c.check()[0] == "OK" 
    assert c.search(None, "KEYWORD", "$Label1") == ("OK", [b"3"])
    assert c.search(None, "SUBJECT", '"hello 1"') == ("OK", [b"2"])
    assert c.search(None, "BODY", '"body line 2"') == ("OK", [b"3"])
    assert c.search(None, "OR", "SEEN", "KEYWORD", "$Label1") == ("OK", [b"2 3"])
    assert c.search(None, "NOT", "SEEN") == ("OK", [b"1 3"])
    assert c.uid("SEARCH", "UID", "2:*") == ("OK", [b"2 3"])
    typ, data = c.search("ISO-8859-2", "ALL")
    assert typ == "NO"
    with pytest.raises(imaplib.IMAP4.error):
        c.search(None, "FROBNICATE")
    c.logout()


def test_copy_move_append_expunge(srv):
    deliver(srv, 3)
    wait_delivered(srv, ALICE, 3)
    c = ssl_client(srv)
    c.select("INBOX")
    typ, data = c.copy("1:2", "Archive")
    assert typ == "OK" and b"[COPYUID " in data[0], data
    typ, data = c.uid("MOVE", "3", "Trash")
    assert typ == "OK"
    assert c.search(None, "ALL") == ("OK", [b"1 2"])
    st = c.status("Archive", "(MESSAGES UIDNEXT)")
    assert st[0] == "OK" and b"MESSAGES 2" in st[1][0] and b"UIDNEXT 3" in st[1][0]
    assert b"MESSAGES 1" in c.status("Trash", "(MESSAGES)")[1][0]
    # Copy to a folder that does not exist: TRYCREATE.
    typ, data = c.copy("1", "Nowhere")
    assert typ == "NO" and b"TRYCREATE" in data[0]
    # APPEND with flags and a date: APPENDUID.
    msg = b"Subject: appended\r\n\r\nappended body\r\n"
    typ, data = c.append("Drafts", r"(\Draft \Seen)", imaplib.Time2Internaldate(1764842400), msg)
    assert typ == "OK" and re.search(rb"\[APPENDUID \d+ 1\]", data[0]), data
    c.select("Drafts")
    typ, data = c.fetch("1", "(FLAGS INTERNALDATE BODY.PEEK[])")
    assert b"\\Draft" in data[0][0] and b"\\Seen" in data[0][0]
    assert data[0][1] == msg
    # EXPUNGE of \Deleted messages.
    c.select("INBOX")
    c.store("1", "+FLAGS", r"(\Deleted)")
    typ, data = c.expunge()
    assert typ == "OK" and data == [b"1"]
    assert c.search(None, "ALL") == ("OK", [b"1"])
    # CLOSE expunges silently; UNSELECT does not.
    c.store("1", "+FLAGS", r"(\Deleted)")
    c.unselect()
    c.select("INBOX")
    assert c.search(None, "ALL") == ("OK", [b"1"])
    c.close()
    c.select("INBOX")
    assert c.search(None, "ALL") == ("OK", [None]) or c.search(None, "ALL") == ("OK", [b""])
    c.logout()


def test_examine_is_read_only(srv):
    deliver(srv, 1)
    wait_delivered(srv, ALICE, 1)
    c = ssl_client(srv)
    typ, data = c.select("INBOX", readonly=True)
    assert typ == "OK"
    typ, data = c.fetch("1", "(BODY[])")
    typ, data = c.fetch("1", "(FLAGS)")
    assert b"\\Seen" not in data[0]
    typ, data = c.store("1", "+FLAGS", r"(\Seen)")
    assert typ == "NO" and b"[READ-ONLY]" in data[0]
    c.logout()


def test_folder_management_and_bad_names(srv):
    c = RawImap(srv.imaps_port, srv.ca, implicit_tls=True)
    c.login()
    c.ok('CREATE "Projects"')
    c.ok('CREATE "Projects.2026"')
    _, status, text = c.cmd('CREATE "Projects"')
    assert status == "NO" and b"[ALREADYEXISTS]" in text
    c.ok('RENAME "Projects.2026" "Projects.Done"')
    _, status, text = c.cmd('RENAME "Projects" "Sent"')
    assert status == "NO"
    untagged, _ = c.ok('LIST "" "Projects*"')
    names = [l.rsplit(b" ", 1)[1] for l in untagged]
    assert names == [b'"Projects"', b'"Projects.Done"'], untagged
    assert b"\\HasChildren" in untagged[0]
    # Names that would leave the Maildir, or are not valid.
    for bad in ['"../x"', '"a/b"', '".hidden"', '"~root"', '"/etc"', '"x.."', '"a..b"', '"&Jjo"']:
        _, status, text = c.cmd(f"CREATE {bad}")
        assert status in ("NO", "BAD"), (bad, status, text)
    assert not (srv.data_dir / "x").exists()
    _, status, text = c.cmd("DELETE INBOX")
    assert status == "NO"
    c.ok('DELETE "Projects.Done"')
    _, status, text = c.cmd('SELECT "Projects.Done"')
    assert status == "NO" and b"[NONEXISTENT]" in text
    c.ok('SUBSCRIBE "Projects"')
    untagged, _ = c.ok('LSUB "" "Proj*"')
    assert untagged == [b'* LSUB () "." "Projects"']
    c.ok('UNSUBSCRIBE "Projects"')
    untagged, _ = c.ok('LSUB "" "Proj*"')
    assert untagged == []
    # Modified UTF-7 names round-trip.
    c.ok('CREATE "Caf&AOk-"')
    untagged, _ = c.ok('LIST "" "Caf*"')
    assert untagged[0].endswith(b'"Caf&AOk-"')
    assert (srv.maildir(ALICE) / ".Caf&AOk-").is_dir()
    c.close()


def test_bad_message_sets_and_states(srv):
    deliver(srv, 1)
    wait_delivered(srv, ALICE, 1)
    c = RawImap(srv.imaps_port, srv.ca, implicit_tls=True)
    c.login()
    _, status, text = c.cmd("FETCH 1 FLAGS")
    assert status == "BAD" and b"select a folder first" in text
    c.ok("SELECT INBOX")
    for bad in ["FETCH 0 FLAGS", "FETCH 1: FLAGS", "FETCH 5 FLAGS", "FETCH 1 (FROB)",
                "FETCH 1 BODY[9.FOO]", "STORE 1 FLAGS \\Frob", "STORE 1 ZAP (\\Seen)",
                "FETCH 1:4294967296 FLAGS"]:
        _, status, text = c.cmd(bad)
        assert status == "BAD", (bad, status, text)
    # A huge set costs nothing.
    untagged, status, _ = c.cmd("UID FETCH 1:4294967295 (FLAGS)")
    assert status == "OK" and len(untagged) == 1
    untagged, status, _ = c.cmd("FETCH 1:* (FLAGS)")
    assert status == "OK"
    c.close()


def test_idle_sees_delivery_at_once(srv):
    c = RawImap(srv.imaps_port, srv.ca, implicit_tls=True)
    c.login()
    c.ok("SELECT INBOX")
    c.send(b"i IDLE\r\n")
    assert c.line() == b"+ idling"
    deliver(srv, 1, wait=False)
    c.sock.settimeout(10)
    lines = []
    while not any(l.endswith(b"EXISTS") for l in lines):
        lines.append(c.line())
    assert b"* 1 EXISTS" in lines
    c.send(b"DONE\r\n")
    _, status, _ = c.until_tagged("i")
    assert status == "OK"
    untagged, _ = c.ok("FETCH 1 (UID)")
    assert untagged == [b"* 1 FETCH (UID 1)"]
    c.close()


def test_changes_by_another_session_are_reported(srv):
    deliver(srv, 2)
    wait_delivered(srv, ALICE, 2)
    a = RawImap(srv.imaps_port, srv.ca, implicit_tls=True)
    a.login()
    a.ok("SELECT INBOX")
    b = ssl_client(srv)
    b.select("INBOX")
    b.store("1", "+FLAGS", r"(\Flagged)")
    b.store("2", "+FLAGS", r"(\Deleted)")
    b.expunge()
    b.logout()
    untagged, _ = a.ok("NOOP")
    assert b"* 2 EXPUNGE" in untagged, untagged
    assert any(l.startswith(b"* 1 FETCH (FLAGS (\\Flagged") for l in untagged), untagged
    a.close()


def test_capabilities_after_login(srv):
    c = RawImap(srv.imaps_port, srv.ca, implicit_tls=True)
    assert b"IDLE" not in c.greeting  # before login: only what login needs
    _, text = c.login()
    caps = text.split(b"]")[0].split()
    for cap in (b"IDLE", b"NAMESPACE", b"UIDPLUS", b"MOVE", b"UNSELECT", b"CHILDREN",
                b"SPECIAL-USE", b"ESEARCH", b"LIST-EXTENDED", b"LIST-STATUS", b"STATUS=SIZE",
                b"UTF8=ACCEPT", b"LITERAL+", b"ID", b"ENABLE"):
        assert cap in caps, (cap, caps)
    assert b"APPENDLIMIT=%d" % (35 * 1024 * 1024) in caps
    c.close()


def test_list_extended_and_status(srv):
    deliver(srv, 2)
    wait_delivered(srv, ALICE, 2)
    c = RawImap(srv.imaps_port, srv.ca, implicit_tls=True)
    c.login()
    c.ok('CREATE "Lists.Rust"')
    c.ok('SUBSCRIBE "Lists.Rust"')
    c.ok('SUBSCRIBE "Gone"')
    # SPECIAL-USE selection.
    untagged, _ = c.ok('LIST (SPECIAL-USE) "" "*"')
    assert sorted(l.rsplit(b" ", 1)[1] for l in untagged) == [
        b'"Archive"', b'"Drafts"', b'"Junk"', b'"Sent"', b'"Trash"']
    # SUBSCRIBED selection shows a subscription whose folder is gone.
    untagged, _ = c.ok('LIST (SUBSCRIBED) "" "*"')
    gone = [l for l in untagged if l.endswith(b'"Gone"')]
    assert gone and b"\\NonExistent" in gone[0] and b"\\Subscribed" in gone[0]
    # RECURSIVEMATCH: "Lists" is not subscribed, its child is.
    untagged, _ = c.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"')
    lists = [l for l in untagged if b'"Lists"' in l]
    assert lists and b'CHILDINFO' in lists[0], untagged
    _, status, _ = c.cmd('LIST (RECURSIVEMATCH) "" "*"')
    assert status == "BAD"
    # Several patterns, RETURN (SUBSCRIBED STATUS ...).
    untagged, _ = c.ok('LIST "" ("INBOX" "Lists.*") RETURN (SUBSCRIBED STATUS (MESSAGES UIDNEXT SIZE))')
    assert any(l.startswith(b"* LIST") and l.endswith(b'"INBOX"') for l in untagged)
    status = [l for l in untagged if l.startswith(b'* STATUS "INBOX"')]
    assert status and b"MESSAGES 2" in status[0] and b"UIDNEXT 3" in status[0], untagged
    rust = [l for l in untagged if l.endswith(b'"Lists.Rust"')]
    assert rust and b"\\Subscribed" in rust[0]
    # Plain LIST does not show \Subscribed or folders that are gone.
    untagged, _ = c.ok('LIST "" "*"')
    assert not any(b"\\Subscribed" in l or l.endswith(b'"Gone"') for l in untagged)
    c.close()


def test_utf8_accept(srv):
    c = RawImap(srv.imaps_port, srv.ca, implicit_tls=True)
    c.login()
    c.ok('CREATE "Caf&AOk-"')
    untagged, _ = c.ok("ENABLE UTF8=ACCEPT")
    assert untagged == [b"* ENABLED UTF8=ACCEPT"]
    untagged, _ = c.ok('LIST "" "Caf*"')
    assert untagged[0].endswith(b"{5}") or untagged[0].endswith('"Café"'.encode())
    # Names are UTF-8 now: "Café" is the folder made as "Caf&AOk-".
    name = "Café".encode()
    c.send(b"s STATUS {%d+}\r\n%s (MESSAGES)\r\n" % (len(name), name))
    _, status, _ = c.until_tagged("s")
    assert status == "OK"
    msg = "Subject: Grüße\r\n\r\nUTF-8 body\r\n".encode()
    c.send(b'a APPEND INBOX UTF8 (~{%d+}\r\n%s)\r\n' % (len(msg), msg))
    _, status, text = c.until_tagged("a")
    assert status == "OK" and b"APPENDUID" in text, text
    c.close()


def test_big_message_streams_with_exact_size(srv):
    """A 3 MB message (stored with LF line ends, as delivery writes it) is
    sent from its file in pieces: the literal's size is the CRLF size and
    the bytes are the message's, whole or in any other fetch."""
    lines = [b"Subject: big\r\n", b"\r\n"] + [b"%07d " % i + b"x" * 70 + b"\r\n" for i in range(40000)]
    body = b"".join(lines)
    with smtplib.SMTP("127.0.0.1", srv.port, timeout=30) as s:
        s.sendmail("carol@remote.test", [ALICE], body)
    wait_delivered(srv, ALICE, 1)
    c = ssl_client(srv)
    c.select("INBOX")
    typ, data = c.fetch("1", "(BODY.PEEK[])")
    got = data[0][1]
    assert got.endswith(body), (len(got), len(body))
    size = int(re.search(rb"RFC822.SIZE (\d+)", c.fetch("1", "(RFC822.SIZE)")[1][0])[1])
    assert size == len(got)
    typ, data = c.fetch("1", "(RFC822)")
    assert data[0][1] == got and b"\\Seen" in data[0][0]
    typ, data = c.fetch("1", "(BODY.PEEK[]<100.50>)")
    assert data[0][1] == got[100:150]
    c.logout()


def test_envelope_and_bodystructure_come_from_the_index(srv):
    """Once computed, ENVELOPE and BODYSTRUCTURE are kept in postern-index:
    a later session answers without reading the message (shown by changing
    the file behind the index's back: Maildir files never change)."""
    deliver(srv, 1)
    c = ssl_client(srv)
    c.select("INBOX")
    _, first = c.fetch("1", "(ENVELOPE BODYSTRUCTURE)")
    c.close()
    c.logout()
    box = srv.maildir(ALICE)
    assert (box / "postern-index").exists()
    f = next((box / "cur").iterdir())
    st = f.stat()
    f.write_bytes(f.read_bytes().replace(b"hello 0", b"HIDDEN!"))
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    c = ssl_client(srv)
    c.select("INBOX")
    _, again = c.fetch("1", "(ENVELOPE BODYSTRUCTURE)")
    assert again == first and b"hello 0" in again[0]
    # The body itself is read from the file.
    _, body = c.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert b"HIDDEN!" in body[0][1]
    c.logout()


def test_searchres_saved_result(srv):
    deliver(srv, 4)
    c = RawImap(srv.imaps_port, srv.ca, implicit_tls=True)
    c.login()
    c.ok("SELECT INBOX")
    c.ok("STORE 2,4 +FLAGS (\\Flagged)")
    # SAVE alone: no ESEARCH now; "$" names the result later.
    untagged, _ = c.ok("SEARCH RETURN (SAVE) FLAGGED")
    assert untagged == []
    untagged, _ = c.ok("FETCH $ (UID)")
    assert untagged == [b"* 2 FETCH (UID 2)", b"* 4 FETCH (UID 4)"]
    untagged, _ = c.ok("UID SEARCH UID $ NOT UID 4")
    assert untagged == [b"* SEARCH 2"]
    untagged, _ = c.ok("SEARCH RETURN (SAVE COUNT) UNFLAGGED")
    assert untagged == [b'* ESEARCH (TAG "t%d") COUNT 2' % c.n], untagged
    _, text = c.ok("COPY $ Archive")
    assert b"COPYUID" in text
    untagged, _ = c.ok("STATUS Archive (MESSAGES)")
    assert b"MESSAGES 2" in untagged[0]
    # A failed SEARCH with SAVE empties the saved result.
    _, status, _ = c.cmd("SEARCH RETURN (SAVE) FROBNICATE")
    assert status == "BAD"
    untagged, _ = c.ok("FETCH $ (UID)")
    assert untagged == []
    c.close()


def test_imap4rev2_enabled(srv):
    deliver(srv, 2)
    c = RawImap(srv.imaps_port, srv.ca, implicit_tls=True)
    assert b"IMAP4rev2" in c.greeting
    c.login()
    untagged, _ = c.ok("ENABLE IMAP4rev2")
    assert untagged == [b"* ENABLED IMAP4rev2"]
    untagged, _ = c.ok("SELECT INBOX")
    assert not any(b"RECENT" in l or b"UNSEEN" in l for l in untagged), untagged
    assert b'* LIST () "." "INBOX"' in untagged
    untagged, _ = c.ok("FETCH 1:* (FLAGS)")
    assert not any(b"\\Recent" in l for l in untagged)
    untagged, _ = c.ok("SEARCH ALL")
    assert untagged == [b'* ESEARCH (TAG "t%d") ALL 1:2' % c.n], untagged
    c.ok("STORE 1 +FLAGS (\\Deleted)")
    untagged, _ = c.ok("STATUS INBOX (DELETED MESSAGES)")
    assert untagged == [b'* STATUS "INBOX" (MESSAGES 2 DELETED 1)'], untagged
    c.close()


def test_binary_append_and_fetch(srv):
    c = RawImap(srv.imaps_port, srv.ca, implicit_tls=True)
    c.login()
    msg = (b"Subject: bin\r\nMIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\nAAECA/8=\r\n")
    c.send(b"a APPEND INBOX ~{%d+}\r\n%s\r\n" % (len(msg), msg))
    _, status, text = c.until_tagged("a")
    assert status == "OK", text
    c.ok("SELECT INBOX")
    c.send(b"b FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[1])\r\n")
    line = c.line()
    assert line.startswith(b"* 1 FETCH (BINARY[1] ~{5}"), line
    data = c.buf[:5]
    assert data == b"\x00\x01\x02\x03\xff"
    c.buf = c.buf[5:]
    assert c.line() == b" BINARY.SIZE[1] 5)"
    _, status, _ = c.until_tagged("b")
    assert status == "OK"
    c.close()


def test_pop3_and_imap_on_the_same_mailbox(make_postern, workdir):
    """POP3's QUIT changes (retrieved messages to cur/ with \\Seen, deletions)
    reach an IMAP session on the same Maildir at its next command."""
    import poplib
    from tlsenv import PASSWORDS, client_context
    from conftest import free_port
    p = imap_server(make_postern, workdir, start=False)
    try:
        p.pop3s_port = free_port()
        p.settings["listen"]["pop3s"] = f"127.0.0.1:{p.pop3s_port}"
        p.write_conf()
        p.start()
        deliver(p, 3)
        c = RawImap(p.imaps_port, p.ca, implicit_tls=True)
        c.login()
        c.ok("SELECT INBOX")
        untagged, _ = c.ok("FETCH 1:* (UID FLAGS)")
        assert len(untagged) == 3
        pop = poplib.POP3_SSL("127.0.0.1", p.pop3s_port, context=client_context(p.ca), timeout=30)
        pop.user(ALICE)
        pop.pass_(PASSWORDS[ALICE])
        assert pop.stat()[0] == 3
        pop.retr(2)
        pop.dele(3)
        pop.quit()
        untagged, _ = c.ok("NOOP")
        assert b"* 3 EXPUNGE" in untagged, untagged
        untagged, _ = c.ok("FETCH 1:* (UID FLAGS)")
        assert untagged[0].startswith(b"* 1 FETCH (UID 1 FLAGS (")
        assert b"\\Seen" not in untagged[0]
        assert untagged[1].startswith(b"* 2 FETCH (UID 2 FLAGS (\\Seen")
        assert len(untagged) == 2
        c.close()
    finally:
        p.stop()


def test_create_special_use(srv):
    c = RawImap(srv.imaps_port, srv.ca, implicit_tls=True)
    _, text = c.login()
    assert b"CREATE-SPECIAL-USE" in text
    c.ok('CREATE "Old Mail" (USE (\\Archive))')
    untagged, _ = c.ok('LIST (SPECIAL-USE) "" "*"')
    old = [l for l in untagged if l.endswith(b'"Old Mail"')]
    assert old and b"\\Archive" in old[0], untagged
    _, status, text = c.cmd('CREATE "Everything" (USE (\\All))')
    assert status == "NO" and b"[USEATTR]" in text
    untagged, _ = c.ok('LIST "" "Everything"')
    assert untagged == []
    _, status, _ = c.cmd('CREATE "X" (FROB (\\Archive))')
    assert status == "BAD"
    # The attribute lives with the folder: it follows a RENAME.
    c.ok('RENAME "Old Mail" "Older Mail"')
    untagged, _ = c.ok('LIST "" "Older Mail"')
    assert b"\\Archive" in untagged[0]
    c.close()


def test_multiappend_all_or_nothing(srv):
    c = RawImap(srv.imaps_port, srv.ca, implicit_tls=True)
    _, text = c.login()
    assert b"MULTIAPPEND" in text.split()
    m1, m2 = b"Subject: one\r\n\r\n1\r\n", b"Subject: two\r\n\r\n2\r\n"
    c.send(b'a APPEND Drafts (\\Draft) {%d+}\r\n%s "04-Dec-2026 10:00:00 +0000" {%d+}\r\n%s\r\n'
           % (len(m1), m1, len(m2), m2))
    _, status, text = c.until_tagged("a")
    assert status == "OK" and re.search(rb"\[APPENDUID \d+ 1:2\]", text), text
    untagged, _ = c.ok('STATUS Drafts (MESSAGES)')
    assert b"MESSAGES 2" in untagged[0]
    # The second message cannot be stored (more keywords than Maildir has
    # letters): the first is taken back, nothing is appended.
    kws = " ".join(f"k{i}" for i in range(30))
    c.send(b'b APPEND Drafts (seen1) {%d+}\r\n%s (%s) {%d+}\r\n%s\r\n'
           % (len(m1), m1, kws.encode(), len(m2), m2))
    _, status, text = c.until_tagged("b")
    assert status == "NO", text
    untagged, _ = c.ok('STATUS Drafts (MESSAGES)')
    assert b"MESSAGES 2" in untagged[0], untagged
    # A bad second message is refused before anything is stored.
    c.send(b'c APPEND Drafts {%d+}\r\n%s (\\Bogus) {%d+}\r\n%s\r\n' % (len(m1), m1, len(m2), m2))
    _, status, _ = c.until_tagged("c")
    assert status == "BAD"
    untagged, _ = c.ok('STATUS Drafts (MESSAGES)')
    assert b"MESSAGES 2" in untagged[0]
    c.close()
