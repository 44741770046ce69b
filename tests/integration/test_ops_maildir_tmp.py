"""Stale Maildir tmp/ files (issue 11): kill -9 during a delivery leaves a
file in tmp/ that nothing removed (41 after 10 kills). The daemon now
removes files older than 36 hours from every Maildir's tmp/ and every
Maildir++ folder's .Folder/tmp/ at start (and once a day), in a worker."""
import os
import subprocess
import time

from conftest import restart, send_raw_message, wait_until

HOUR = 3600


def plant(path, age_hours):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"Subject: partial\n\nhalf a mess")
    t = time.time() - age_hours * HOUR
    os.utime(path, (t, t))
    return path


def chown_mail(p):
    subprocess.run(["chown", "-R", "postern:postern", str(p.data_dir / "mail")], check=True)


def test_old_tmp_files_removed_at_start_fresh_ones_kept(make_postern):
    p = make_postern(start=False)
    mail = p.data_dir / "mail"
    alice = mail / "example.test" / "alice"
    for d in ("new", "cur"):
        (alice / d).mkdir(parents=True)
    old = [
        plant(alice / "tmp" / "1700000000.M1P1Q1.host", 37),
        plant(alice / "tmp" / "1700000001.M2P2Q2.host", 24 * 30),
        plant(alice / ".Archive" / "tmp" / "1700000002.M3P3Q3.host", 40),
        plant(mail / "example.org" / "carol" / "tmp" / "1700000003.M4P4Q4.host", 37),
        plant(mail / "example.org" / "carol" / ".Lists.postern" / "tmp" / "x", 100),
    ]
    fresh = [
        plant(alice / "tmp" / "1800000000.M5P5Q5.host", 0),
        plant(alice / "tmp" / "1800000001.M6P6Q6.host", 35),
        plant(alice / ".Archive" / "tmp" / "1800000002.M7P7Q7.host", 1),
    ]
    # Not tmp/: a message in new/ and in a folder's cur/, however old, stays.
    kept = [plant(alice / "new" / "1600000000.M8P8Q8.host,S=20,W=21", 24 * 365),
            plant(alice / ".Archive" / "cur" / "1600000001.M9P9Q9.host:2,S", 24 * 365)]
    chown_mail(p)
    p.start()
    wait_until(lambda: "event=maildir_tmp_cleaned" in p.log(), what=f"the cleanup\n{p.log()}")
    for f in old:
        assert not f.exists(), f
    for f in fresh + kept:
        assert f.exists(), f
    assert "event=maildir_tmp_cleaned dirs=4 removed=5 failed=0" in p.log()
    assert p.log().count("event=maildir_tmp_removed") == 5
    # Delivery still works into the cleaned Maildir.
    assert send_raw_message(p.port, ["alice@example.test"], b"Subject: after\r\n\r\nx\r\n")[0] == 250
    wait_until(lambda: len(os.listdir(alice / "new")) == 2, what="the delivery")


def test_symlinks_and_directories_in_tmp_are_left_alone(make_postern, workdir):
    p = make_postern(start=False)
    alice = p.data_dir / "mail" / "example.test" / "alice"
    outside = plant(workdir / "outside" / "precious", 100)
    (alice / "tmp").mkdir(parents=True)
    link = alice / "tmp" / "link"
    os.symlink(outside, link)
    os.utime(link, (time.time() - 100 * HOUR,) * 2, follow_symlinks=False)
    sub = alice / "tmp" / "subdir"
    sub.mkdir()
    inner = plant(sub / "inner", 100)
    # A symlinked tmp/ itself is not followed either.
    bob = p.data_dir / "mail" / "example.test" / "bob"
    bob.mkdir(parents=True)
    os.symlink(outside.parent, bob / "tmp")
    chown_mail(p)
    p.start()
    wait_until(lambda: "event=maildir_tmp_cleaned" in p.log(), what=f"the cleanup\n{p.log()}")
    assert outside.exists() and link.is_symlink() and inner.exists()
    assert "removed=0" in p.log()


def test_kill_9_leftovers_go_at_the_next_start(make_postern):
    """A tmp/ file a crash left behind (made old here, not waited for)."""
    p = make_postern()
    assert send_raw_message(p.port, ["alice@example.test"], b"Subject: one\r\n\r\nx\r\n")[0] == 250
    p.wait_messages("alice@example.test", 1)
    p.kill()
    tmp = p.maildir("alice@example.test") / "tmp"
    left = plant(tmp / "1700000000.M1P99Q1.mx.example.test", 48)
    chown_mail(p)
    restart(p)
    wait_until(lambda: not left.exists(), what=f"the leftover to go\n{p.log()}")
    assert len(p.messages("alice@example.test")) == 1
