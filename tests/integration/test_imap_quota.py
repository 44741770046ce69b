"""QUOTA (RFC 9208) through the real binary: GETQUOTAROOT/GETQUOTA report
the sizes of the files really on disk (in KiB, rounded up) and the limit of
[imap] quota or the users file's quota=SIZE; APPEND, MULTIAPPEND and COPY
over the limit get NO [OVERQUOTA] and store nothing; MOVE is free; EXPUNGE
and DELETE give the space back; the maildirsize file is Maildir++'s; bad
limits are configuration errors with file:line."""
import re
import subprocess

import pytest

from conftest import BIN
from imapenv import ALICE, BOB, RawImap, imap_server

LIMIT = 20 * 1024


def message(n, tag="m"):
    """A message of n octets as sent (CRLF lines); on disk it has LF."""
    head = f"Subject: {tag}\r\nFrom: a@remote.test\r\n\r\n".encode()
    body_len = n - len(head) - 2
    lines, left = [], body_len
    while left > 0:
        k = min(76, left)
        lines.append(b"x" * k)
        left -= k
    text = head + b"\r\n".join(lines)
    text = text[:n - 2] + b"\r\n"
    assert len(text) == n
    return text


def disk_size(msg):
    return len(msg) - msg.count(b"\r\n")


def usage_on_disk(p, addr=ALICE):
    box = p.maildir(addr)
    total = count = 0
    for folder in [box] + [d for d in box.iterdir() if d.name.startswith(".") and d.is_dir()]:
        for sub in ("new", "cur"):
            d = folder / sub
            if d.is_dir():
                for f in d.iterdir():
                    total += f.stat().st_size
                    count += 1
    return total, count


def users_line(p, addr, extra):
    users = p.dir / "users"
    lines = users.read_text().splitlines()
    lines = [l + extra if l.split(":")[0] == addr else l for l in lines]
    users.write_text("\n".join(lines) + "\n")


@pytest.fixture
def srv(make_postern, workdir):
    p = imap_server(make_postern, workdir, {"imap": {"quota": "20k"}}, start=False)
    users_line(p, BOB, ":quota=0")
    p.start()
    yield p
    p.stop()


def login(p, user=ALICE):
    c = RawImap(p.imaps_port, p.ca, implicit_tls=True)
    _, text = c.login(user)
    return c, text


def append(c, folder, msg):
    c.send(b"%s APPEND %s {%d+}\r\n%s\r\n" % (b"ap", folder.encode(), len(msg), msg))
    return c.until_tagged("ap")


def quota_of(c, folder="INBOX"):
    untagged, _ = c.ok(f"GETQUOTAROOT {folder}")
    assert untagged[0] == f'* QUOTAROOT "{folder}" ""'.encode(), untagged
    m = re.fullmatch(rb'\* QUOTA "" \(STORAGE (\d+) (\d+)\)', untagged[1])
    assert m, untagged
    return int(m[1]), int(m[2])


def messages(c, folder):
    untagged, _ = c.ok(f"STATUS {folder} (MESSAGES)")
    return int(re.search(rb"MESSAGES (\d+)", untagged[0])[1])


def kib(n):
    return (n + 1023) // 1024


def test_capabilities_and_numbers(srv):
    c, text = login(srv)
    caps = text.split()
    assert b"QUOTA" in caps and b"QUOTA=RES-STORAGE" in caps
    assert b"QUOTASET" not in caps
    assert quota_of(c) == (0, 20)
    sizes = [3000, 1500, 777]
    for i, n in enumerate(sizes):
        _, status, t = append(c, ["INBOX", "Sent", "Drafts"][i], message(n))
        assert status == "OK", t
    on_disk, count = usage_on_disk(srv)
    assert on_disk == sum(disk_size(message(n)) for n in sizes) and count == 3
    # Every folder has the one root, with the same numbers.
    for folder in ("INBOX", "Sent", "Drafts", "Trash"):
        assert quota_of(c, folder) == (kib(on_disk), 20)
    untagged, _ = c.ok('GETQUOTA ""')
    assert untagged == [b'* QUOTA "" (STORAGE %d 20)' % kib(on_disk)]
    # The Maildir++ file, as Dovecot's maildir backend writes it.
    text = (srv.maildir(ALICE) / "maildirsize").read_text()
    lines = text.splitlines()
    assert lines[0] == "20480S", text
    assert sum(int(l.split()[0]) for l in lines[1:]) == on_disk
    assert sum(int(l.split()[1]) for l in lines[1:]) == 3
    # Refusals.
    _, status, t = c.cmd('GETQUOTA "user quota"')
    assert status == "NO" and b"NONEXISTENT" in t
    _, status, t = c.cmd('SETQUOTA "" (STORAGE 100)')
    assert status == "NO" and b"NOPERM" in t
    _, status, _ = c.cmd("SETQUOTA")
    assert status == "BAD"
    _, status, _ = c.cmd("GETQUOTAROOT")
    assert status == "BAD"
    _, status, _ = c.cmd("GETQUOTA (x)")
    assert status == "BAD"
    _, status, t = c.cmd("GETQUOTAROOT Nope")
    assert status == "NO" and b"NONEXISTENT" in t
    c.close()


def test_damaged_maildirsize_recalculated(srv):
    c, _ = login(srv)
    _, status, _ = append(c, "INBOX", message(4000))
    assert status == "OK"
    f = srv.maildir(ALICE) / "maildirsize"
    for damaged in ("20480S\n999999 oops\n", "garbage", "10240S\n1 1\n", ""):
        f.write_text(damaged)
        on_disk, _ = usage_on_disk(srv)
        assert quota_of(c) == (kib(on_disk), 20), damaged
        assert f.read_text() == f"20480S\n{on_disk} 1\n"
    f.unlink()
    assert quota_of(c) == (kib(usage_on_disk(srv)[0]), 20)
    assert f.exists()
    c.close()


def test_append_and_multiappend_over_quota(srv):
    c, _ = login(srv)
    _, status, _ = append(c, "INBOX", message(15000))
    assert status == "OK"
    _, status, t = append(c, "INBOX", message(8000))
    assert status == "NO" and t.startswith(b"[OVERQUOTA]"), t
    assert messages(c, "INBOX") == 1
    # To a folder that does not exist: TRYCREATE, not OVERQUOTA.
    _, status, t = append(c, "Nope", message(8000))
    assert status == "NO" and b"TRYCREATE" in t
    # MULTIAPPEND: the first fits, the second does not: nothing stays.
    m1, m2 = message(3000, "one"), message(3000, "two")
    c.send(b"mu APPEND Drafts {%d+}\r\n%s {%d+}\r\n%s\r\n" % (len(m1), m1, len(m2), m2))
    _, status, t = c.until_tagged("mu")
    assert status == "NO" and b"OVERQUOTA" in t, t
    assert messages(c, "Drafts") == 0
    on_disk, count = usage_on_disk(srv)
    assert count == 1 and quota_of(c) == (kib(on_disk), 20)
    # What fits still goes in.
    _, status, _ = append(c, "Drafts", message(3000))
    assert status == "OK"
    c.close()


def test_copy_move_expunge_delete(srv):
    c, _ = login(srv)
    for i in range(2):
        _, status, _ = append(c, "INBOX", message(6000, f"m{i}"))
        assert status == "OK"
    c.ok("SELECT INBOX")
    _, status, t = c.cmd("COPY 1:2 Archive")
    assert status == "NO" and t.startswith(b"[OVERQUOTA]"), t
    assert messages(c, "Archive") == 0
    _, rest = c.ok("COPY 1 Archive")  # 18000 of 20480
    assert b"COPYUID" in rest
    _, status, t = c.cmd("COPY 2 Archive")
    assert status == "NO" and b"OVERQUOTA" in t
    before = quota_of(c)
    c.ok("MOVE 2 Junk")  # the same octets elsewhere: allowed
    assert quota_of(c) == before
    # EXPUNGE gives the space back.
    c.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    c.ok("EXPUNGE")
    on_disk, count = usage_on_disk(srv)
    assert count == 2 and quota_of(c) == (kib(on_disk), 20)
    # And DELETE of a folder too.
    c.ok("DELETE Junk")
    on_disk, count = usage_on_disk(srv)
    assert count == 1 and quota_of(c) == (kib(on_disk), 20)
    _, status, _ = append(c, "INBOX", message(12000))
    assert status == "OK"
    c.close()


def test_users_file_override(srv):
    c, text = login(srv, BOB)  # quota=0: unlimited, whatever [imap] quota says
    assert b"QUOTA" in text.split()
    untagged, _ = c.ok("GETQUOTAROOT INBOX")
    assert untagged == [b'* QUOTAROOT "INBOX"']
    _, status, _ = c.cmd('GETQUOTA ""')
    assert status == "NO"
    _, status, _ = append(c, "INBOX", message(30000))
    assert status == "OK"
    assert not (srv.maildir(BOB) / "maildirsize").exists()
    c.close()


def test_bad_limits_are_config_errors(make_postern, workdir):
    p = make_postern({"imap": {"quota": "lots"}}, start=False)
    r = subprocess.run([BIN, "-c", str(p.conf_path), "check"], capture_output=True, text=True)
    assert r.returncode == 1
    assert re.search(r"postern\.conf:\d+: .*quota", r.stderr), r.stderr
    p.settings["imap"]["quota"] = "2G"
    p.write_conf()
    (p.dir / "users").write_text("a@example.test:!\nb@example.test:!:quota=9X\n")
    r = subprocess.run([BIN, "-c", str(p.conf_path), "check"], capture_output=True, text=True)
    assert r.returncode == 1
    assert "users:2:" in r.stderr and "quota=SIZE" in r.stderr, r.stderr
    (p.dir / "users").write_text("a@example.test:!\nb@example.test:!:quota=1G\n")
    r = subprocess.run([BIN, "-c", str(p.conf_path), "check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
