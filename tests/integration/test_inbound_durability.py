"""Crash safety through the real binary (ROBUSTNESS 2): kill -9 at chosen
moments, restart on the same data_dir, and check that nothing
unacknowledged is ever delivered, that an acknowledged message waiting in
the queue is delivered after the restart, and that recovery cleans up.
The helpers here also serve the kill-after-250 loop."""
import os
import pwd
import re
import time

from conftest import (
    Raw,
    body_of,
    delivered_files,
    queue_files,
    restart,
    wait_queue_empty,
    wait_until,
)


def make_body(i, size):
    head = b"From: x@remote.test\r\nSubject: msg-%d\r\n\r\n" % i
    line = b"message %d line ............................................ end\r\n" % i
    return head + line * max(1, size // len(line)) + b"last line of msg-%d\r\n" % i


def send_and_get_250(port, rcpts, body):
    c = Raw(port)
    c.ehlo()
    c.expect("MAIL FROM:<x@remote.test>", 250)
    for r in rcpts:
        c.expect(f"RCPT TO:<{r}>", 250)
    c.expect("DATA", 354)
    c.send(body + b".\r\n")
    code, text = c.reply()
    assert code == 250, text
    return c, re.search(rb"queued as ([0-9A-Z]+)", text).group(1).decode()


def subjects(msgs):
    out = {}
    for m in msgs:
        s = re.search(rb"\nSubject: (msg-\d+)\n", m).group(1).decode()
        out.setdefault(s, []).append(m)
    return out


def block_maildir(p, user):
    """Makes user's Maildir impossible to create (a file where its directory
    should be): delivery to that user is deferred until it is removed."""
    domain = p.data_dir / "mail" / "example.test"
    domain.mkdir(parents=True, exist_ok=True)
    pw = pwd.getpwnam("postern")
    for d in (p.data_dir / "mail", domain):
        os.chown(d, pw.pw_uid, pw.pw_gid)
    blocker = domain / user
    blocker.write_text("not a directory\n")
    return blocker


def wait_envelope_updated(p, qid, also=None):
    """Waits until the deferral (and the also pattern, if given) is
    recorded in the envelope on disk."""
    path = p.data_dir / "queue" / "env" / qid

    def updated():
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        return "4.2.0" in text and (also is None or re.search(also, text, re.M)) and text

    return wait_until(updated, what=f"the deferral in {path}\n{p.log()}")


RCPTS = ["alice@example.test", "bob@example.test"]


def kill_after_250_loop(p, rounds=20):
    """Sends `rounds` messages to RCPTS, each followed at once by kill -9 and
    a restart on the same data_dir. Sizes vary so that some kills land in
    the middle of a Maildir write (ROBUSTNESS 4). Returns what was sent
    (subject -> expected Maildir body) and, per recipient, what arrived."""
    sent = {}
    for i in range(rounds):
        size = 1_500_000 if i % 4 == 0 else 20_000 + 997 * i
        body = make_body(i, size)
        c, qid = send_and_get_250(p.port, RCPTS, body)
        p.kill()
        c.close()
        sent[f"msg-{i}"] = body.replace(b"\r\n", b"\n")
        # Whatever the moment, the queue holds only whole entries: nothing
        # committed without its content.
        env = p.data_dir / "queue" / "env"
        for e in env.iterdir():
            assert (p.data_dir / "queue" / "msg" / e.name).is_file(), e.name
        restart(p)
    wait_queue_empty(p, timeout=30)
    assert queue_files(p) == []
    assert "event=queue_corrupt" not in p.log()
    return sent, {who: subjects(p.messages(who)) for who in RCPTS}


def test_kill9_right_after_250_loop_nothing_lost_or_truncated(make_postern):
    """ROBUSTNESS 1: every acknowledged message is delivered to every
    recipient, at least once, and every copy is whole."""
    p = make_postern()
    sent, got = kill_after_250_loop(p)
    for who in RCPTS:
        assert sorted(got[who]) == sorted(sent), f"{who}: missing {set(sent) - set(got[who])}"
        for name, copies in got[who].items():
            for msg in copies:
                assert body_of(msg) == sent[name], f"{who} {name}: content differs (truncated?)"
    # Maildir tmp/ may keep a file cut short by the kill (Maildir readers
    # ignore tmp/); new/ never does, as checked above.


def test_kill9_during_data_delivers_nothing(make_postern):
    """ROBUSTNESS 2: kill -9 in the middle of DATA (and of BDAT): the partial
    message stays in queue/tmp only, is removed at restart, and nothing of it
    is ever delivered."""
    p = make_postern()
    c = Raw(p.port)
    c.ehlo()
    c.expect("MAIL FROM:<x@remote.test>", 250)
    c.expect("RCPT TO:<alice@example.test>", 250)
    c.expect("DATA", 354)
    c.send(make_body(1, 300_000))  # no terminator
    b = Raw(p.port)
    b.ehlo()
    b.expect("MAIL FROM:<x@remote.test>", 250)
    b.expect("RCPT TO:<bob@example.test>", 250)
    chunk = make_body(2, 200_000)
    b.send(b"BDAT %d\r\n" % len(chunk) + chunk)
    assert b.reply()[0] == 250
    b.send(b"BDAT 500000 LAST\r\n" + chunk[:100_000])
    tmp = p.data_dir / "queue" / "tmp"
    wait_until(
        lambda: len([f for f in tmp.iterdir() if f.stat().st_size > 0]) == 2,
        what=f"both partial messages in queue/tmp: {queue_files(p)}",
    )
    p.kill()
    c.close()
    b.close()
    assert p.queue_ids() == []
    restart(p)
    assert list(tmp.iterdir()) == []
    assert p.log().count("action=remove_uncommitted") >= 2
    time.sleep(0.3)
    assert delivered_files(p) == []
    assert queue_files(p) == []
    # The daemon is healthy afterwards.
    c, _ = send_and_get_250(p.port, ["alice@example.test"], make_body(3, 1000))
    c.close()
    [got] = p.wait_messages("alice@example.test", 1)
    assert b"Subject: msg-3\n" in got


def plant_leftovers(q):
    """What a crash can leave behind, and a corrupt entry."""
    (q / "tmp" / "00000000000000000001.msg").write_bytes(b"half a message")
    (q / "tmp" / "00000000000000000001.env").write_bytes(b"half an envelope")
    (q / "msg" / "00000000000000000002").write_bytes(b"content whose envelope never made it\r\n")
    (q / "msg" / "00000000000000000003").write_bytes(b"Subject: corrupt\r\n\r\nx\r\n")
    (q / "env" / "00000000000000000003").write_bytes(b"this is not an envelope\n\x00\xff")
    (q / "env" / "not-a-queue-id").write_bytes(b"postern-envelope 1\n")


def check_leftovers_handled(p, q):
    assert list((q / "tmp").iterdir()) == []
    assert not (q / "msg" / "00000000000000000002").exists()
    corrupt = sorted(f.name for f in (q / "corrupt").iterdir())
    assert "00000000000000000003" in corrupt and "00000000000000000003.msg" in corrupt, corrupt
    assert "not-a-queue-id" in corrupt, corrupt
    assert "event=queue_corrupt" in p.log()


def test_recovery_cleans_leftovers_and_sets_aside_corrupt_entries(make_postern):
    """What a crash can leave (tmp files, content without an envelope) is
    removed at start; an unreadable envelope is moved to queue/corrupt/; the
    daemon starts and serves mail."""
    p = make_postern()
    p.kill()
    q = p.data_dir / "queue"
    plant_leftovers(q)
    restart(p)
    check_leftovers_handled(p, q)
    assert delivered_files(p) == []
    c, _ = send_and_get_250(p.port, ["alice@example.test"], make_body(5, 2000))
    c.close()
    [got] = p.wait_messages("alice@example.test", 1)
    assert b"Subject: msg-5\n" in got
    wait_queue_empty(p)




def test_committed_message_left_in_queue_is_delivered_after_restart(make_postern):
    """A message acknowledged but not delivered when the daemon dies (here:
    alice's Maildir cannot be made, so her copy waits for its retry in an
    while) is delivered after the restart, and bob, already served, does not
    get a second copy."""
    p = make_postern(settings={"relay": {"retry": "2s"}})
    blocker = block_maildir(p, "alice")
    blocker.write_text("not a directory\n")
    body = make_body(7, 50_000)
    c, qid = send_and_get_250(p.port, ["alice@example.test", "bob@example.test"], body)
    c.close()
    [bob] = p.wait_messages("bob@example.test", 1)
    # bob's copy is in his Maildir a moment before the envelope says done
    # (the copy is committed, then the envelope rewritten): wait for both.
    env = wait_envelope_updated(p, qid, also=r"^rcpt done .*bob@example\.test")
    assert re.search(r"^rcpt pending .*alice@example\.test", env, re.M), env
    p.kill()
    blocker.unlink()
    restart(p)
    [alice] = p.wait_messages("alice@example.test", 1)
    wait_queue_empty(p)
    assert body_of(alice) == body.replace(b"\r\n", b"\n")
    assert qid.encode() in alice  # the Received header names the queue id
    time.sleep(0.2)
    assert len(p.messages("bob@example.test")) == 1
    assert p.log().count("event=started") == 2 and "queued=1" in p.log()


def test_recovery_keeps_real_messages_among_leftovers(make_postern):
    """The same, with a real committed message waiting in the queue: it is
    delivered after the restart, once."""
    p = make_postern(settings={"relay": {"retry": "2s"}})
    blocker = block_maildir(p, "alice")
    c, qid = send_and_get_250(p.port, ["alice@example.test"], make_body(9, 5000))
    c.close()
    wait_envelope_updated(p, qid)
    p.kill()
    blocker.unlink()
    q = p.data_dir / "queue"
    plant_leftovers(q)
    restart(p)
    [got] = p.wait_messages("alice@example.test", 1)
    assert b"Subject: msg-9\n" in got
    wait_queue_empty(p)
    check_leftovers_handled(p, q)
    time.sleep(0.2)
    assert len(delivered_files(p)) == 1


def strace_calls(text):
    """The system calls of an `strace -f` log in the order they completed,
    with "<unfinished ...>" halves joined to their "resumed" halves."""
    pending, out = {}, []
    for line in text.splitlines():
        m = re.match(r"(\d+)\s+(.*)$", line)
        if not m:
            continue
        pid, rest = m.groups()
        if rest.endswith("<unfinished ...>"):
            pending[pid] = rest[: -len("<unfinished ...>")].rstrip()
            continue
        r = re.match(r"<\.\.\. \w+ resumed>(.*)$", rest)
        if r:
            rest = pending.pop(pid, "") + r.group(1)
        out.append(rest)
    return out


def run_under_strace(make_postern, work):
    """Runs work(p) against a daemon traced with `strace -f`, stops it, and
    returns the system calls (strace_calls) and p."""
    import shutil
    import signal
    import subprocess

    from conftest import BIN

    assert shutil.which("strace"), "strace is not installed (scripts/deps test installs it)"
    p = make_postern(start=False)
    trace = p.dir / "strace.log"
    p.log_file = open(p.log_path, "ab")
    p.proc = subprocess.Popen(
        ["strace", "-f", "-qq", "-y", "-s", "256", "-o", str(trace), "-e",
         "trace=fsync,fdatasync,rename,renameat,renameat2,writev,write,sendmsg,unlinkat,unlink",
         BIN, "-c", str(p.conf_path), "serve"],
        stdout=p.log_file, stderr=p.log_file,
    )
    strace_proc = p.proc
    try:
        wait_until(lambda: "event=started" in p.log(), what=f"postern under strace\n{p.log()}")
        work(p)
    finally:
        pid = int((p.data_dir / "run" / "postern.pid").read_text())
        os.kill(pid, signal.SIGTERM)
        strace_proc.wait(timeout=20)
        p.proc = None
    return strace_calls(trace.read_text()), p


def chain_of(calls, *patterns):
    """Indexes of calls matching each pattern in turn, each after the last."""
    at, found = -1, []
    for pattern in patterns:
        idx = [i for i, call in enumerate(calls) if i > at and re.search(pattern, call)]
        assert idx, f"no system call matches {pattern!r} after {calls[at] if at >= 0 else 'start'}" + (
            "\n" + "\n".join(c for c in calls if "fsync" in c or "rename" in c)[-3000:]
        )
        at = idx[0]
        found.append(at)
    return found


def check_durable_before_250(calls, p, qid):
    """The content and the envelope fsynced, the content renamed into msg/
    and an fsync of msg/ after that rename, then the envelope renamed into
    env/ (the commit point) and an fsync of env/ after it: all of it before
    the 250 naming qid. Under group commit one directory fsync may cover
    several messages; the first one after this message's rename is the one
    that makes it durable, and it must come before this message's 250."""
    q = re.escape(str(p.data_dir / "queue"))
    reply = chain_of(calls, rf"^(writev|write|sendmsg)\(\d+<socket:.*250 2\.0\.0 Ok: queued as {qid}")[0]
    steps = chain_of(
        calls,
        rf"^fsync\(\d+<{q}/tmp/{qid}\.msg>\)\s+= 0",
        rf"^fsync\(\d+<{q}/tmp/{qid}\.env>\)\s+= 0",
        rf'^renameat2?\(\d+<{q}/tmp>, "{qid}\.msg", \d+<{q}/msg>, "{qid}".*= 0',
        rf"^fsync\(\d+<{q}/msg>\)\s+= 0",
        rf'^renameat2?\(\d+<{q}/tmp>, "{qid}\.env", \d+<{q}/env>, "{qid}".*= 0',
        rf"^fsync\(\d+<{q}/env>\)\s+= 0",
    )
    assert steps[-1] < reply, "250 sent before the queue entry was durable:\n" + "\n".join(
        calls[steps[0] : reply + 1]
    )
    return steps


def test_250_only_after_fsync_and_rename(make_postern):
    """The order of system calls behind the 250 (DESIGN 4): content fsynced,
    renamed, directory fsynced, envelope renamed (the commit point), its
    directory fsynced; only then the reply. And the Maildir copy: fsync,
    rename into new/, fsync new/, and only then the queue entry goes (into
    queue/spare/, src/queue/spare.h)."""
    got = {}

    def work(p):
        c, got["qid"] = send_and_get_250(p.port, ["alice@example.test"], make_body(1, 3000))
        c.close()
        p.wait_messages("alice@example.test", 1)
        wait_queue_empty(p)

    calls, p = run_under_strace(make_postern, work)
    qid = got["qid"]
    check_durable_before_250(calls, p, qid)
    q = re.escape(str(p.data_dir / "queue"))
    box = re.escape(str(p.maildir("alice@example.test")))
    chain_of(
        calls,
        rf"^fsync\(\d+<{box}/tmp/[^>]+>\)\s+= 0",
        rf'^rename(at2?)?\(.*"{box}/tmp/[^"]+", .*"{box}/new/[^"]+,S=\d+,W=\d+"\)\s+= 0',
        rf"^fsync\(\d+<{box}/new>\)\s+= 0",
        # The queue entry goes: unlinked, or its file set aside for reuse.
        rf'^(unlinkat\(\d+<{q}/env>, "{qid}"|renameat2\(\d+<{q}/env>, "{qid}", \d+<{q}/spare>)',
    )


def test_250_only_after_fsync_and_rename_group_commit(make_postern):
    """The same for messages committed at the same moment (group commit:
    their renames share directory fsyncs): each one's files and directory
    entries are fsynced before its own 250."""
    import threading

    n = 8
    qids = []

    def work(p):
        clients = []
        for i in range(n):
            c = Raw(p.port)
            c.ehlo()
            c.expect("MAIL FROM:<x@remote.test>", 250)
            c.expect("RCPT TO:<alice@example.test>", 250)
            c.expect("DATA", 354)
            c.send(make_body(100 + i, 2000))
            clients.append(c)
        go = threading.Barrier(n)
        results = [None] * n

        def finish(i):
            go.wait()
            clients[i].send(b".\r\n")
            results[i] = clients[i].reply()

        threads = [threading.Thread(target=finish, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        for c, (code, text) in zip(clients, results):
            assert code == 250, text
            qids.append(re.search(rb"queued as ([0-9A-Z]+)", text).group(1).decode())
            c.close()
        p.wait_messages("alice@example.test", n)
        wait_queue_empty(p)

    calls, p = run_under_strace(make_postern, work)
    assert len(set(qids)) == n
    for qid in qids:
        check_durable_before_250(calls, p, qid)


def test_client_vanishing_mid_data_leaves_nothing(postern):
    """A client that disconnects in the middle of DATA or BDAT: its partial
    message is dropped from queue/tmp at once and never delivered."""
    p = postern
    c = Raw(p.port)
    c.ehlo()
    c.expect("MAIL FROM:<x@remote.test>", 250)
    c.expect("RCPT TO:<alice@example.test>", 250)
    c.expect("DATA", 354)
    c.send(make_body(1, 200_000))
    b = Raw(p.port)
    b.ehlo()
    b.expect("MAIL FROM:<x@remote.test>", 250)
    b.expect("RCPT TO:<bob@example.test>", 250)
    b.send(b"BDAT 300000 LAST\r\n" + make_body(2, 200_000)[:150_000])
    tmp = p.data_dir / "queue" / "tmp"
    wait_until(lambda: len(list(tmp.iterdir())) == 2, what=f"two partial messages: {queue_files(p)}")
    c.close()
    b.close()
    wait_until(lambda: list(tmp.iterdir()) == [], timeout=5, what=f"tmp cleaned: {queue_files(p)}")
    time.sleep(0.2)
    assert delivered_files(p) == []
    assert queue_files(p) == []


def test_hostile_sender_survives_restart_literally(make_postern):
    """Envelope fields are stored escaped (CVE-2020-8794): a sender full of
    quotes, spaces, '%', ';' and shell syntax, read back after kill -9 and
    restart, is still exactly what the client sent."""
    p = make_postern(settings={"relay": {"retry": "2s"}})
    blocker = block_maildir(p, "alice")
    sender = r'"a b%25\" c;|$(x) `id` %0D%0Aend: x"@remote.test'
    with Raw(p.port) as c:
        c.ehlo()
        c.expect(f"MAIL FROM:<{sender}>", 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.expect("DATA", 354)
        c.send(b"Subject: hostile sender\r\n\r\nx\r\n.\r\n")
        code, text = c.reply()
        assert code == 250, text
        qid = re.search(rb"queued as ([0-9A-Z]+)", text).group(1).decode()
    env = wait_envelope_updated(p, qid)
    # One line per field: nothing in the sender added a line or a field.
    [line] = [l for l in env.splitlines() if l.startswith("sender ")]
    assert len(line.split(" ")) == 2, line
    assert len([l for l in env.splitlines() if l.startswith("rcpt ")]) == 1
    p.kill()
    blocker.unlink()
    restart(p)
    [got] = p.wait_messages("alice@example.test", 1)
    assert got.startswith(f"Return-Path: <{sender}>\nDelivered-To: alice@example.test\n".encode()), got[:200]
    wait_queue_empty(p)


def test_kill9_right_after_250_loop_exactly_once(make_postern):
    """Issue 2: after kill -9 right after the 250, each acknowledged message
    is delivered exactly once (here to two recipients, 20 rounds): the
    Maildir copies are recorded in the envelope before they become visible."""
    p = make_postern()
    sent, got = kill_after_250_loop(p)
    for who in RCPTS:
        dup = {k: len(v) for k, v in got[who].items() if len(v) != 1}
        assert dup == {}, f"{who}: delivered more than once: {dup}"
        assert sorted(got[who]) == sorted(sent)
