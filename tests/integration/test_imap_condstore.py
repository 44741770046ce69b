"""CONDSTORE and QRESYNC (RFC 7162) through the real binary, in raw
dialogues: MODSEQ, CHANGEDSINCE, UNCHANGEDSINCE and MODIFIED, SEARCH and
SORT MODSEQ, STATUS HIGHESTMODSEQ, the enabling commands, VANISHED (also
EARLIER), SELECT (QRESYNC ...), their refusals, modseqs across a restart,
and a kill -9 in the middle of a burst of STORE and EXPUNGE."""
import random
import re
import threading
import time

import pytest

from conftest import restart
from imapenv import ALICE, RawImap, imap_server

MODSEQ = re.compile(rb"MODSEQ \((\d+)\)")
HIGHEST = re.compile(rb"\[HIGHESTMODSEQ (\d+)\]")
UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")


def connect(p):
    c = RawImap(p.imaps_port, p.ca, implicit_tls=True)
    c.login()
    return c


def append(c, folder="INBOX", body=b"hello", flags=""):
    msg = b"From: a@remote.test\r\nSubject: s\r\n\r\n" + body + b"\r\n"
    tag = c.tag()
    c.send(b"%s APPEND %s %s{%d+}\r\n%s\r\n" % (tag.encode(), folder.encode(),
                                               (f"({flags}) " if flags else "").encode(),
                                               len(msg), msg))
    _, status, text = c.until_tagged(tag)
    assert status == "OK", text


def highest(lines):
    for line in lines:
        m = HIGHEST.search(line)
        if m:
            return int(m[1])
    return None


def modseqs(lines):
    """{uid: modseq} from FETCH responses that carry both."""
    out = {}
    for line in lines:
        u, m = re.search(rb"UID (\d+)", line), MODSEQ.search(line)
        if u and m:
            out[int(u[1])] = int(m[1])
    return out


@pytest.fixture
def server(make_postern, workdir):
    p = imap_server(make_postern, workdir)
    yield p
    p.stop()


@pytest.fixture
def box(server):
    c = connect(server)
    for i in range(4):
        append(c, body=b"message %d" % i)
    yield server, c
    c.close()


def test_advertised(server):
    c = connect(server)
    caps = c.ok("CAPABILITY")[0][0].split()
    assert b"CONDSTORE" in caps and b"QRESYNC" in caps
    c.close()


def test_fetch_store_search_status(box):
    p, c = box
    untagged, _ = c.ok("SELECT INBOX (CONDSTORE)")
    h0 = highest(untagged)
    assert h0 and h0 > 0
    untagged, _ = c.ok("FETCH 1:* (MODSEQ)")
    ms = [int(MODSEQ.search(line)[1]) for line in untagged]
    assert len(ms) == 4 and max(ms) == h0 and all(m >= 1 for m in ms)
    # A flag change: a new modseq above the old highest, with UID and MODSEQ.
    untagged, _ = c.ok("STORE 2 +FLAGS (\\Flagged)")
    assert len(untagged) == 1 and untagged[0].startswith(b"* 2 FETCH (UID 2 FLAGS (\\Flagged) MODSEQ (")
    m2 = int(MODSEQ.search(untagged[0])[1])
    assert m2 > h0
    # Setting flags that are already set changes nothing.
    untagged, _ = c.ok("STORE 2 +FLAGS (\\Flagged)")
    assert int(MODSEQ.search(untagged[0])[1]) == m2
    untagged, _ = c.ok("STATUS INBOX (HIGHESTMODSEQ MESSAGES)")
    assert untagged == [b'* STATUS "INBOX" (MESSAGES 4 HIGHESTMODSEQ %d)' % m2]
    # CHANGEDSINCE: only what changed, MODSEQ implied.
    untagged, _ = c.ok(f"FETCH 1:* (FLAGS) (CHANGEDSINCE {h0})")
    assert untagged == [b"* 2 FETCH (FLAGS (\\Flagged) MODSEQ (%d))" % m2]
    untagged, _ = c.ok(f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {m2})")
    assert untagged == []
    # SEARCH and SORT MODSEQ: the highest modseq of what was found.
    untagged, _ = c.ok(f"SEARCH MODSEQ {m2}")
    assert untagged == [b"* SEARCH 2 (MODSEQ %d)" % m2]
    untagged, _ = c.ok(f'SEARCH MODSEQ "/flags/\\\\Flagged" all {m2 + 1}')
    assert untagged == [b"* SEARCH"]
    untagged, _ = c.ok("UID SEARCH RETURN (COUNT) MODSEQ 1")
    assert untagged == [b'* ESEARCH (TAG "t%d") UID COUNT 4 MODSEQ %d' % (c.n, m2)]
    untagged, _ = c.ok("SORT (ARRIVAL) UTF-8 MODSEQ 1")
    assert untagged == [b"* SORT 1 2 3 4 (MODSEQ %d)" % m2]
    # A FETCH that sets \Seen says UID and MODSEQ with the new flags.
    untagged, _ = c.ok("FETCH 3 (BODY[TEXT])")
    assert b"UID 3" in untagged[0] and b"\\Seen" in untagged[0]
    assert int(MODSEQ.search(untagged[0])[1]) > m2


def test_unchangedsince_and_modified(box):
    p, c = box
    untagged, _ = c.ok("SELECT INBOX")
    assert highest(untagged) is None  # not CONDSTORE-aware yet
    untagged, _ = c.ok("FETCH 1:* (UID MODSEQ)")
    # The first enabling command while selected reports HIGHESTMODSEQ.
    h = highest(untagged)
    assert h is not None
    ms = modseqs(untagged)
    untagged, _ = c.ok("STORE 1 +FLAGS.SILENT (\\Answered)")
    m1 = modseqs(untagged)[1]  # .SILENT still sends UID and MODSEQ
    assert untagged == [b"* 1 FETCH (UID 1 MODSEQ (%d))" % m1] and m1 > h
    # Message 1 changed since h: it fails, 2 and 3 are stored.
    untagged, text = c.ok(f"STORE 1:3 (UNCHANGEDSINCE {h}) +FLAGS (\\Seen)")
    assert text.startswith(b"[MODIFIED 1]"), text
    got = {int(line.split()[1]): line for line in untagged}
    assert sorted(got) == [2, 3] and all(b"\\Seen" in line for line in got.values())
    untagged, _ = c.ok("FETCH 1 (FLAGS)")
    assert b"\\Seen" not in untagged[0] and b"\\Answered" in untagged[0]
    # UNCHANGEDSINCE 0 fails for every message; UID STORE reports UIDs.
    _, text = c.ok("UID STORE 1:4 (UNCHANGEDSINCE 0) +FLAGS (\\Draft)")
    assert text.startswith(b"[MODIFIED 1:4]"), text
    untagged, _ = c.ok("SEARCH DRAFT")
    assert untagged == [b"* SEARCH"]
    # Another session's change since our modseq makes ours fail.
    m4 = ms[4]
    other = connect(p)
    other.ok("SELECT INBOX")
    other.ok("STORE 4 +FLAGS (\\Flagged)")
    other.close()
    _, text = c.ok(f"STORE 4 (UNCHANGEDSINCE {m4}) -FLAGS (\\Flagged)")
    assert text.startswith(b"[MODIFIED 4]"), text
    # ... and NOOP reports it with UID and MODSEQ.
    untagged, _ = c.ok("FETCH 4 (FLAGS)")
    assert b"\\Flagged" in untagged[0] and b"MODSEQ" in untagged[0]


def test_enabling_and_unsolicited(box):
    p, c = box
    untagged, _ = c.ok("ENABLE CONDSTORE")
    assert b"* ENABLED CONDSTORE" in untagged
    untagged, _ = c.ok("SELECT INBOX")
    assert highest(untagged)
    other = connect(p)
    other.ok("SELECT INBOX")
    other.ok("STORE 3 +FLAGS (\\Deleted)")
    other.close()
    untagged, _ = c.ok("NOOP")
    assert len(untagged) == 1 and re.match(rb"\* 3 FETCH \(UID 3 FLAGS \(\\Deleted\) MODSEQ \(\d+\)\)",
                                           untagged[0]), untagged
    # Without CONDSTORE: no MODSEQ.
    plain = connect(p)
    plain.ok("SELECT INBOX")
    untagged, _ = plain.ok("FETCH 3 (FLAGS)")
    assert untagged == [b"* 3 FETCH (FLAGS (\\Deleted))"]
    plain.close()


def test_qresync(box):
    p, c = box
    untagged, _ = c.ok("ENABLE QRESYNC")
    assert b"* ENABLED QRESYNC" in untagged
    untagged, _ = c.ok("SELECT INBOX")
    h0, uv = highest(untagged), int(UIDVALIDITY.search(b"\n".join(untagged))[1])
    c.ok("LOGOUT")
    # Meanwhile: 2 is expunged, 3 flagged, a fifth message arrives.
    other = connect(p)
    other.ok("SELECT INBOX")
    other.ok("STORE 2 +FLAGS (\\Deleted)")
    other.ok("EXPUNGE")
    other.ok("STORE 2 +FLAGS (\\Flagged)")  # UID 3 is now number 2
    append(other)
    other.close()
    c = connect(p)
    c.ok("ENABLE QRESYNC")
    untagged, _ = c.ok(f"SELECT INBOX (QRESYNC ({uv} {h0} 1:4))")
    assert b"* VANISHED (EARLIER) 2" in untagged, untagged
    changed = modseqs(untagged)
    assert sorted(changed) == [3, 5] and all(m > h0 for m in changed.values())
    assert any(line.startswith(b"* 2 FETCH (UID 3 FLAGS (\\Flagged)") for line in untagged)
    # The known UIDs bound VANISHED.
    c.ok("UNSELECT")
    untagged, _ = c.ok(f"SELECT INBOX (QRESYNC ({uv} {h0} 3:4))")
    assert not any(b"VANISHED" in line for line in untagged)
    # A second SELECT says [CLOSED] first.
    untagged, _ = c.ok(f"SELECT INBOX (QRESYNC ({uv} {h0}))")
    assert untagged[0].startswith(b"* OK [CLOSED]"), untagged[0]
    # Another UIDVALIDITY: the client's cache is gone, nothing is resynced.
    untagged, _ = c.ok(f"SELECT INBOX (QRESYNC ({uv + 1} {h0}))")
    assert not any(b"VANISHED" in line or b"FETCH" in line for line in untagged)
    # UID FETCH (CHANGEDSINCE VANISHED).
    untagged, _ = c.ok(f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {h0} VANISHED)")
    assert untagged[0] == b"* VANISHED (EARLIER) 2", untagged
    assert sorted(modseqs(untagged)) == [3, 5]
    # Expunges are VANISHED (UIDs), and EXPUNGE's OK carries HIGHESTMODSEQ.
    c.ok("UID STORE 1,4 +FLAGS (\\Deleted)")
    untagged, text = c.ok("EXPUNGE")
    assert untagged == [b"* VANISHED 1,4"], untagged
    h = HIGHEST.search(text)
    assert h and int(h[1]) > h0
    untagged, _ = c.ok(f"UID FETCH 1:* (UID) (CHANGEDSINCE {h0} VANISHED)")
    assert untagged[0] == b"* VANISHED (EARLIER) 1:2,4", untagged


def refused(p, setup, commands):
    """Each command gets BAD; a fresh session every few (BADs are counted
    against [limits] bad_commands)."""
    for i in range(0, len(commands), 4):
        c = connect(p)
        for line in setup:
            c.ok(line)
        for bad in commands[i:i + 4]:
            _, status, text = c.cmd(bad)
            assert status == "BAD", (bad, status, text)
        # A BAD SELECT leaves the folder selected before it selected.
        c.ok("FETCH 1 (FLAGS)")
        c.close()


def test_refusals(box):
    p, c = box
    refused(p, ["SELECT INBOX"], [
        "FETCH 1 (FLAGS) (CHANGEDSINCE 0)",
        "FETCH 1 (FLAGS) (CHANGEDSINCE 9223372036854775808)",
        "FETCH 1 (FLAGS) (CHANGEDSINCE x)",
        "FETCH 1 (FLAGS) (CHANGEDSINCE)",
        "FETCH 1 (FLAGS) (CHANGEDSINCE 5 CHANGEDSINCE 6)",
        "FETCH 1 (FLAGS) (FOO 5)",
        "FETCH 1 (FLAGS) ()",
        "UID FETCH 1 (FLAGS) (CHANGEDSINCE 5 VANISHED)",  # QRESYNC not enabled
        "STORE 1 (UNCHANGEDSINCE -1) +FLAGS (\\Seen)",
        "STORE 1 (UNCHANGEDSINCE) +FLAGS (\\Seen)",
        "STORE 1 (FOO 1) +FLAGS (\\Seen)",
        "SEARCH MODSEQ",
        "SEARCH MODSEQ 1x",
        "SELECT INBOX (QRESYNC (1 1))",  # QRESYNC not enabled
        "SELECT INBOX (FOO)"])
    refused(p, ["ENABLE QRESYNC", "SELECT INBOX"], [
        "SELECT INBOX (QRESYNC)",
        "SELECT INBOX (QRESYNC (1))",
        "SELECT INBOX (QRESYNC (0 1))",
        "SELECT INBOX (QRESYNC (1 0))",
        "SELECT INBOX (QRESYNC (1 1 1:x))",
        "SELECT INBOX (QRESYNC (1 1 1:4 (1:2 5)))",  # two sets of different sizes
        "SELECT INBOX (QRESYNC (1 1) QRESYNC (1 1))",
        "FETCH 1 (FLAGS) (CHANGEDSINCE 5 VANISHED)",  # not UID FETCH
        "UID FETCH 1 (FLAGS) (VANISHED)"])  # without CHANGEDSINCE
    c.ok("ENABLE QRESYNC")
    untagged, _ = c.ok("SELECT INBOX (QRESYNC (1 1 1:4 (1:2 1,3)))")
    assert highest(untagged)


def test_modseqs_survive_restart(box):
    p, c = box
    untagged, _ = c.ok("SELECT INBOX (CONDSTORE)")
    c.ok("STORE 1:2 +FLAGS (\\Seen)")
    untagged, _ = c.ok("FETCH 1:* (UID MODSEQ)")
    before = modseqs(untagged)
    status = c.ok("STATUS INBOX (HIGHESTMODSEQ)")[0][0]
    h = int(re.search(rb"HIGHESTMODSEQ (\d+)", status)[1])
    c.close()
    p.stop()
    restart(p)
    c = connect(p)
    untagged, _ = c.ok("SELECT INBOX (CONDSTORE)")
    assert highest(untagged) == h
    assert modseqs(c.ok("FETCH 1:* (UID MODSEQ)")[0]) == before
    untagged, _ = c.ok("STORE 3 +FLAGS (\\Seen)")
    assert modseqs(untagged)[3] > h
    c.close()


def test_kill9_during_store_and_expunge_burst(make_postern, workdir):
    """kill -9 while one client stores flags and expunges as fast as it can:
    after the restart no modseq is below what a client was told, no UID is
    given out twice, and every change that got its OK is there."""
    p = imap_server(make_postern, workdir)
    c = connect(p)
    for i in range(30):
        append(c, body=b"burst %d" % i)
    c.ok("ENABLE QRESYNC")
    c.ok("SELECT INBOX")
    flag_sets = ["\\Seen", "\\Flagged", "\\Answered", "\\Seen \\Flagged", "\\Draft", ""]
    acked = {}       # uid -> flags that got an OK
    in_flight = {}   # uid -> flags sent, no answer yet
    expunged = set()  # UIDs whose expunge got an OK
    told = {}        # uid -> highest modseq a client was told
    stop = threading.Event()
    rng = random.Random(7)
    errors = []

    def burst():
        try:
            uids = list(range(1, 31))
            while not stop.is_set():
                live = [u for u in uids if u not in expunged]
                if rng.random() < 0.1 and len(live) > 5:
                    u = rng.choice(live)
                    c.ok(f"UID STORE {u} +FLAGS.SILENT (\\Deleted)")
                    acked[u] = None
                    untagged, _ = c.ok(f"UID EXPUNGE {u}")
                    expunged.add(u)
                    continue
                u = rng.choice(live)
                fl = rng.choice(flag_sets)
                in_flight[u] = fl
                untagged, _ = c.ok(f"UID STORE {u} FLAGS ({fl})")
                for uid, m in modseqs(untagged).items():
                    told[uid] = max(told.get(uid, 0), m)
                acked[u] = fl
                del in_flight[u]
        except Exception as e:  # the connection dies with the server
            errors.append(e)

    t = threading.Thread(target=burst)
    t.start()
    time.sleep(1.5)
    p.kill()
    stop.set()
    t.join(timeout=10)
    assert errors, "the burst should end with the connection"
    assert len(acked) > 10, "too few changes before the kill to mean anything"
    restart(p)
    c2 = connect(p)
    c2.ok("ENABLE CONDSTORE")
    untagged, _ = c2.ok("SELECT INBOX")
    h_after = highest(untagged)
    assert h_after >= max(told.values())
    untagged, _ = c2.ok("UID FETCH 1:* (FLAGS MODSEQ)")
    now = {}
    for line in untagged:
        u = int(re.search(rb"UID (\d+)", line)[1])
        fl = re.search(rb"FLAGS \(([^)]*)\)", line)[1].decode().split()
        now[u] = (set(fl) - {"\\Recent"}, int(MODSEQ.search(line)[1]))
    for u in expunged:
        assert u not in now, f"UID {u} was expunged with an OK and is back"
    for u, fl in acked.items():
        if u in expunged or fl is None:
            continue
        want = {frozenset(fl.split())}
        if u in in_flight:
            want.add(frozenset(in_flight[u].split()))
        assert frozenset(now[u][0]) in want, (u, now[u], fl)
    for u, m in told.items():
        if u in now:
            assert now[u][1] >= m, f"UID {u}: modseq went back from {m} to {now[u][1]}"
    # No UID is given out twice.
    append(c2, body=b"after the crash")
    untagged, _ = c2.ok("UID SEARCH ALL")
    newest = max(int(x) for x in untagged[0].split()[2:])
    assert newest > 30
    c2.close()
    p.stop()
