"""queue/spare/ (src/queue/spare.h): the files of removed queue entries are
reused for new ones, overwritten in place. A reused file is cut to what was
written before its fsync, so nothing of the message that had it before can
leak into the next one; big files are not kept; spares survive a restart."""
import os

from conftest import body_of, restart, wait_queue_empty
from test_inbound_durability import make_body, send_and_get_250


def spares(p):
    d = p.data_dir / "queue" / "spare"
    return sorted(d.iterdir()) if d.is_dir() else []


def deliver(p, rcpt, body):
    """Sends body to rcpt, waits for it in the Maildir and for the queue to
    empty (its files then are spares); returns the delivered message."""
    c, _ = send_and_get_250(p.port, [rcpt], body)
    c.close()
    [got] = p.wait_messages(rcpt, 1)
    wait_queue_empty(p)
    return got


def test_reused_file_holds_only_the_new_message(make_postern):
    p = make_postern()
    big = make_body(1, 28_000)  # under the 32 KiB a spare may hold
    deliver(p, "alice@example.test", big)
    before = spares(p)
    assert before, "the removed entry's files were not kept for reuse"
    assert max(f.stat().st_size for f in before) > 20_000
    inodes = {f.stat().st_ino for f in before}
    small = make_body(2, 500)
    got = deliver(p, "bob@example.test", small)
    assert body_of(got) == small.replace(b"\r\n", b"\n")
    assert b"message 1 line" not in got  # nothing of the earlier message
    # The new entry's files were spares (the same inodes), and came back.
    assert {f.stat().st_ino for f in spares(p)} & inodes


def test_big_files_are_unlinked_not_kept(make_postern):
    p = make_postern()
    deliver(p, "alice@example.test", make_body(3, 300_000))
    assert all(f.stat().st_size <= 32 * 1024 for f in spares(p)), [
        (f.name, f.stat().st_size) for f in spares(p)
    ]


def test_spares_survive_a_restart_and_strangers_are_removed(make_postern):
    p = make_postern()
    deliver(p, "alice@example.test", make_body(4, 2000))
    kept = {f.name for f in spares(p)}
    assert kept
    p.kill()
    spare = p.data_dir / "queue" / "spare"
    (spare / "not-ours").write_bytes(b"x")
    (spare / "0123").write_bytes(b"x")  # not a name of ours (leading zero)
    target = p.dir / "elsewhere"
    target.write_bytes(b"must stay as it is\n")
    os.symlink(target, spare / "777")  # a number, but never written through
    restart(p)
    names = {f.name for f in spares(p)}
    assert names == kept, names
    assert target.read_bytes() == b"must stay as it is\n"
    got = deliver(p, "bob@example.test", make_body(5, 700))
    assert b"Subject: msg-5\n" in got
