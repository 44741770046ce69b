"""A full disk, for real (ROBUSTNESS 3): data_dir is a 4 MB tmpfs, filled
with a filler file. Postern must answer 452 4.3.1 at MAIL or after the data,
never 250; nothing half-written may be delivered; the queue stays
consistent; and once the filler is deleted mail flows again."""
import os
import re
import subprocess

import pytest

from conftest import Raw, body_of, delivered_files, queue_files, restart, wait_queue_empty, wait_until

MB = 1024 * 1024


# 4 MB: MAIL wants 1 MB free, so a message that fills the disk during DATA
# is over 1 MB, and once space is freed it must fit twice (queue + Maildir).
@pytest.fixture
def tmpfs_postern(make_postern):
    # Retries 3 s apart: a check right after a deferral never meets the next
    # attempt's file in tmp/.
    p = make_postern({"relay": {"retry": "3s"}}, start=False)
    p.data_dir.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0755", "tmpfs", str(p.data_dir)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, ("disk-full tests mount a 4 MB tmpfs as data_dir (root with mount "
                               f"permission); mount said: {r.stderr.strip() or r.returncode}")
    try:
        p.start()
        yield p
    finally:
        p.stop()
        if subprocess.run(["umount", str(p.data_dir)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(p.data_dir)], capture_output=True)


def free_bytes(p):
    st = os.statvfs(p.data_dir)
    return st.f_bavail * st.f_frsize


def fill_leaving(p, leave):
    """Grows the filler file until only about `leave` bytes are free."""
    filler = p.data_dir / "filler"
    with open(filler, "ab") as f:
        need = free_bytes(p) - leave
        while need > 0:
            n = min(need, 256 * 1024)
            f.write(b"\0" * n)
            f.flush()
            need -= n
    got = free_bytes(p)
    assert abs(got - leave) <= 64 * 1024, (got, leave)
    return filler


def message(size, tag):
    head = b"Subject: %s\r\n\r\n" % tag
    line = b"%s " % tag + b"d" * 70 + b"\r\n"
    return head + line * (size // len(line))


def try_send(p, body, rcpt="alice@example.test", bdat=False):
    """One transaction; returns (stage, code, text) of the first refusal,
    or ("done", 250, text)."""
    with Raw(p.port) as c:
        c.ehlo()
        code, text = c.cmd("MAIL FROM:<x@remote.test>")
        if code != 250:
            return "mail", code, text
        c.expect(f"RCPT TO:<{rcpt}>", 250)
        if bdat:
            half = len(body) // 2
            c.send(b"BDAT %d\r\n" % half + body[:half])
            code, text = c.reply()
            if code != 250:
                return "bdat", code, text
            c.send(b"BDAT %d LAST\r\n" % (len(body) - half) + body[half:])
        else:
            c.expect("DATA", 354)
            c.send(body + b".\r\n")
        code, text = c.reply()
        c.expect("NOOP", 250)  # the session survives either way
        return ("done" if code == 250 else "data"), code, text


def test_mail_refused_452_when_nearly_full(tmpfs_postern):
    p = tmpfs_postern
    filler = fill_leaving(p, 300 * 1024)
    stage, code, text = try_send(p, message(10_000, b"small"))
    assert (stage, code) == ("mail", 452) and text.startswith(b"4.3.1"), (stage, code, text)
    with Raw(p.port) as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@remote.test> SIZE=1000", 452, "4.3.1")
        # Not a protocol error: many of them do not close the session.
        for _ in range(11):
            c.expect("MAIL FROM:<x@remote.test>", 452)
        c.expect("NOOP", 250)
    assert queue_files(p) == []
    filler.unlink()
    stage, code, text = try_send(p, message(10_000, b"small"))
    assert stage == "done", (stage, code, text)
    [got] = p.wait_messages("alice@example.test", 1)
    assert body_of(got) == message(10_000, b"small").replace(b"\r\n", b"\n")


@pytest.mark.parametrize("bdat", [False, True], ids=["data", "bdat"])
def test_disk_fills_during_data_452_never_250(tmpfs_postern, bdat):
    p = tmpfs_postern
    filler = fill_leaving(p, 1100 * 1024)  # enough for MAIL's check, not for the message
    big = message(1_500_000, b"big")
    stage, code, text = try_send(p, big, bdat=bdat)
    assert (stage, code) == ("data", 452) and text.startswith(b"4.3.1"), (stage, code, text)
    # Nothing half-written is left or delivered.
    wait_until(lambda: queue_files(p) == [], timeout=3, what=f"queue cleaned: {queue_files(p)}")
    assert delivered_files(p) == []
    assert "event=queue_write_failed" in p.log()
    # Small mail still fits and flows.
    stage, code, text = try_send(p, message(5_000, b"fits"), rcpt="bob@example.test", bdat=bdat)
    assert stage == "done", (stage, code, text)
    p.wait_messages("bob@example.test", 1)
    wait_queue_empty(p)
    # Space freed: the big message goes through, whole.
    filler.unlink()
    stage, code, text = try_send(p, big, bdat=bdat)
    assert stage == "done", (stage, code, text)
    [got] = p.wait_messages("alice@example.test", 1)
    assert body_of(got) == big.replace(b"\r\n", b"\n")
    wait_queue_empty(p)
    # The queue is consistent: a restart finds nothing to clean or set aside.
    p.stop()
    restart(p)
    log = p.log().split("event=stopped")[-1]
    assert "queued=0" in log and "queue_recover" not in log and "queue_corrupt" not in log


def test_maildir_full_defers_then_delivers_when_space_returns(tmpfs_postern):
    """The queue has room but the Maildir copy does not: the copy fails
    cleanly (nothing in new/ or tmp/), the message stays queued with the
    reason, and it is delivered once space is freed."""
    p = tmpfs_postern
    body = message(700_000, b"deferred")
    filler = fill_leaving(p, 1100 * 1024)
    with Raw(p.port) as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@remote.test>", 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.expect("DATA", 354)
        c.send(body + b".\r\n")
        code, text = c.reply()
        assert code == 250, text  # the queue did have room
        qid = re.search(rb"queued as ([0-9A-Z]+)", text).group(1).decode()
    env = p.data_dir / "queue" / "env" / qid
    wait_until(
        lambda: env.exists() and "No%20space%20left" in env.read_text(),
        what=f"the deferral recorded in {env}\n{p.log()}",
    )
    box = p.maildir("alice@example.test")
    assert list((box / "new").iterdir()) == []
    assert list((box / "tmp").iterdir()) == []
    assert sorted(queue_files(p)) == [f"env/{qid}", f"msg/{qid}"]
    filler.unlink()
    [got] = p.wait_messages("alice@example.test", 1, timeout=15)
    assert body_of(got) == body.replace(b"\r\n", b"\n")
    wait_queue_empty(p)
    assert queue_files(p) == []
    assert len(delivered_files(p)) == 1


def test_no_room_for_the_envelope_452_and_clean_queue(tmpfs_postern):
    """The content just fits (tmpfs counts 4 KB pages) but the envelope
    does not: the commit fails, the client gets 452 4.3.1, never 250, and
    neither the content nor a half envelope is left in the queue."""
    p = tmpfs_postern
    leave = MB + 64 * 1024
    fill_leaving(p, leave)
    assert free_bytes(p) == leave
    line = b"e" * 78 + b"\r\n"
    body = b"Subject: env\r\n\r\n" + line * ((leave - 2048 - 16) // len(line))
    with Raw(p.port) as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@remote.test>", 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.expect("DATA", 354)
        c.send(body + b".\r\n")
        code, text = c.reply()
        assert code == 452 and text.startswith(b"4.3.1"), text
        c.expect("NOOP", 250)
    assert "event=queue_commit_failed" in p.log()
    assert queue_files(p) == []
    assert free_bytes(p) == leave
    assert delivered_files(p) == []
