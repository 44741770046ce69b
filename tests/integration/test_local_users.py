"""Issue 11: what a local account can do to Postern, through the real binary
run as root, with a real unprivileged user made for the test: ownership at
start (nothing walked, nothing followed), the pid file, the identity of drop
files, DKIM signing of sendmail mail, mailq for everyone over the control
socket, and who may act on the queue."""
import email
import json
import os
import pwd
import secrets
import socket
import subprocess
import time

import dkim
import pytest

from conftest import BIN as _BIN, free_port, wait_until

BIN = os.path.abspath(_BIN)
BOB = "bob@example.test"


@pytest.fixture
def local_user():
    """A throwaway local account (no home, no shell), removed afterwards."""
    name = "pt" + secrets.token_hex(4)
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin",
                    "--user-group", name], check=True, capture_output=True)
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", name], capture_output=True)


def as_user(user, cmd, data=b"", conf=None):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
        if k in os.environ:
            env[k] = os.environ[k]
    if conf:
        env["POSTERN_CONF"] = str(conf)
    return subprocess.run(["runuser", "-u", user.pw_name, "--"] + cmd, input=data,
                          capture_output=True, env=env, timeout=60)


def as_root(cmd, data=b"", conf=None):
    env = dict(os.environ)
    if conf:
        env["POSTERN_CONF"] = str(conf)
    return subprocess.run(cmd, input=data, capture_output=True, env=env, timeout=60)


def no_sanitizer_report(r):
    for marker in (b"ERROR: AddressSanitizer", b"runtime error:", b"ERROR: LeakSanitizer"):
        assert marker not in r.stderr, r.stderr.decode(errors="replace")


def restart(p):
    """Starts p again and waits for this start (the log holds the last one's)."""
    p.log_path.write_text("")
    p.start()


def root_file(path, text=b"precious\n"):
    path.write_bytes(text)
    os.chmod(path, 0o600)
    return path


# --- ownership at start ------------------------------------------------------

def test_start_changes_no_owner_below_drop_and_follows_no_link(make_postern, workdir, local_user):
    p = make_postern()
    p.stop()
    drop = p.data_dir / "queue" / "drop"
    target = root_file(workdir / "root-only")
    # What a local user may leave in the world-writable drop/: a directory
    # of their own with a file in it, and a link to a root file; and a link
    # in data_dir itself (as if postern had been compromised).
    r = as_user(local_user, ["mkdir", str(drop / "mine")])
    assert r.returncode == 0, r.stderr
    r = as_user(local_user, ["sh", "-c", f"echo x > {drop}/mine/file"])
    assert r.returncode == 0, r.stderr
    r = as_user(local_user, ["ln", "-s", str(target), str(drop / "mine" / "link")])
    assert r.returncode == 0, r.stderr
    (p.data_dir / "link").symlink_to(target)
    for _ in range(3):
        restart(p)
        time.sleep(1.2)  # a pickup round goes by
        p.stop()
    st = os.stat(target)
    assert (st.st_uid, st.st_gid) == (0, 0) and target.read_bytes() == b"precious\n"
    for path in (drop / "mine", drop / "mine" / "file", drop / "mine" / "link"):
        assert os.lstat(path).st_uid == local_user.pw_uid, path
    assert os.lstat(p.data_dir / "link").st_uid == 0
    # Postern's own directories are the service user's, with their modes.
    postern = pwd.getpwnam("postern")
    for sub, mode in (("", 0o711), ("queue", 0o711), ("queue/drop", 0o1733), ("run", 0o711),
                      ("queue/env", 0o700), ("queue/msg", 0o700)):
        st = os.stat(p.data_dir / sub)
        assert st.st_uid == postern.pw_uid and (st.st_mode & 0o7777) == mode, sub


def test_first_start_on_a_root_owned_data_dir(make_postern):
    p = make_postern(start=False)
    (p.data_dir / "queue").mkdir(parents=True)
    os.chmod(p.data_dir, 0o755)
    p.start()
    postern = pwd.getpwnam("postern")
    for sub in ("", "queue", "queue/tmp", "queue/spare", "queue/corrupt", "run", "mail"):
        assert os.stat(p.data_dir / sub).st_uid == postern.pw_uid, sub
    r = as_root([BIN, "sendmail", BOB], b"Subject: first\n\nx\n", conf=p.conf_path)
    assert r.returncode == 0, r.stderr
    p.wait_messages(BOB, 1)


def test_a_directory_of_postern_replaced_by_a_link_stops_the_start(make_postern, workdir):
    p = make_postern()
    p.stop()
    elsewhere = workdir / "elsewhere"
    elsewhere.mkdir()
    os.chmod(elsewhere, 0o700)
    (p.data_dir / "mail").rename(workdir / "old-mail")
    (p.data_dir / "mail").symlink_to(elsewhere)
    proc = subprocess.run([BIN, "-c", str(p.conf_path), "serve"], capture_output=True, timeout=30)
    assert proc.returncode == 1
    assert b"mail" in proc.stderr and b"not a directory" in proc.stderr, proc.stderr
    assert os.stat(elsewhere).st_uid == 0


def test_a_data_dir_others_can_write_is_refused(make_postern):
    p = make_postern(start=False)
    p.data_dir.mkdir()
    os.chmod(p.data_dir, 0o777)
    proc = subprocess.run([BIN, "-c", str(p.conf_path), "serve"], capture_output=True, timeout=30)
    assert proc.returncode == 1 and b"writable by everyone" in proc.stderr, proc.stderr


def test_pid_file_link_to_a_root_file_is_not_followed(make_postern, workdir):
    p = make_postern()
    p.stop()
    target = root_file(workdir / "root-only")
    pid = p.data_dir / "run" / "postern.pid"
    pid.unlink()
    pid.symlink_to(target)
    proc = subprocess.run([BIN, "-c", str(p.conf_path), "serve"], capture_output=True, timeout=30)
    assert proc.returncode == 1 and b"postern.pid" in proc.stderr, proc.stderr
    st = os.stat(target)
    assert target.read_bytes() == b"precious\n" and (st.st_uid, st.st_mode & 0o777) == (0, 0o600)
    pid.unlink()
    restart(p)  # and without the link it starts
    assert os.stat(pid).st_uid == pwd.getpwnam("postern").pw_uid


# --- drop files and sendmail ---------------------------------------------------

def test_drop_file_left_while_down_keeps_its_owner_as_sender(make_postern, local_user):
    p = make_postern()
    p.stop()
    r = as_user(local_user, [BIN, "sendmail", "-f", "ceo@example.test", BOB],
                b"From: ceo@example.test\nSubject: while down\n\nx\n", conf=p.conf_path)
    assert r.returncode == 0, r.stderr
    restart(p)
    [got] = p.wait_messages(BOB, 1)
    m = email.message_from_bytes(got)
    assert m["Return-Path"] == f"<{local_user.pw_name}@mx.example.test>"
    assert f"from userid {local_user.pw_uid}" in m["Received"]


def test_hard_link_in_drop_is_set_aside(postern, workdir, local_user):
    drop = postern.data_dir / "queue" / "drop"
    # A drop-format file of someone else's, linked into drop/ (root can,
    # whatever fs.protected_hardlinks says): its owner is not who left it.
    other = workdir / "someone-elses"
    other.write_bytes(b"postern-drop 1\nsender ceo@example.test\nfullname -\nrcpt bob@example.test\n"
                      b"\nSubject: linked\r\n\r\nx\r\n")
    os.link(other, drop / "linked")
    wait_until(lambda: "event=pickup_rejected" in postern.log(), what="a rejected file")
    assert "hard link" in postern.log()
    assert postern.messages(BOB) == [] and other.exists()


class Signing:
    def __init__(self, make_postern, workdir, users=None):
        r = as_root([BIN, "dkim", "keygen", "example.test", "sel", "--dir", str(workdir)])
        assert r.returncode == 0, r.stderr
        self.txt = "".join(r.stdout.decode().split(" IN TXT ", 1)[1].replace('"', "").split())
        self.p = make_postern({"dkim": {"example.test": f"sel:{workdir}/example.test.sel.key"}},
                              users=users)

    def dns(self, name, timeout=5):
        assert name == b"sel._domainkey.example.test."
        return self.txt.encode()

    def send(self, user, from_field, subject):
        msg = f"From: {from_field}\nTo: {BOB}\nSubject: {subject}\n\nbody\n".encode()
        if user is None:
            r = as_root([BIN, "sendmail", BOB], msg, conf=self.p.conf_path)
        else:
            r = as_user(user, [BIN, "sendmail", BOB], msg, conf=self.p.conf_path)
        assert r.returncode == 0, r.stderr

    def received(self, n):
        got = self.p.wait_messages(BOB, n)
        return {email.message_from_bytes(m)["Subject"]: m for m in got}

    def verifies(self, raw):
        # The Maildir copy has LF endings and Postern's trace fields on top.
        lines = raw.replace(b"\r\n", b"\n").split(b"\n")
        while lines and not lines[0].lower().startswith(b"dkim-signature:"):
            lines.pop(0)
        return bool(lines) and dkim.verify(b"\r\n".join(lines), dnsfunc=self.dns)


def test_sendmail_signs_only_a_local_users_own_from(make_postern, workdir, local_user):
    login = local_user.pw_name
    s = Signing(make_postern, workdir,
                users=["alice@example.test", "bob@example.test", f"{login}@example.test"])
    s.send(local_user, "Boss <ceo@example.test>", "forged")
    s.send(local_user, f"{login}@example.test", "own mailbox")
    s.send(local_user, f"{login}@mx.example.test", "own login")
    s.send(local_user, f"ceo@example.test, {login}@example.test", "one forged of two")
    s.send(None, "ceo@example.test", "root may")
    got = s.received(5)
    assert b"DKIM-Signature" not in got["forged"]
    assert b"DKIM-Signature" not in got["one forged of two"]
    for subject in ("own mailbox", "own login", "root may"):
        assert s.verifies(got[subject]), subject
    assert "event=dkim_not_signed" in s.p.log()


def test_a_mailbox_of_the_same_name_only_counts_when_it_exists(make_postern, workdir, local_user):
    s = Signing(make_postern, workdir)  # the users file has no LOGIN@example.test
    s.send(local_user, f"{local_user.pw_name}@example.test", "no such mailbox")
    got = s.received(1)
    assert b"DKIM-Signature" not in got["no such mailbox"]


# --- mailq and the control socket ----------------------------------------------

def queued_postern(make_postern):
    """A daemon whose mail stays queued: the smarthost refuses connections."""
    p = make_postern({"relay": {"smarthost": f"[127.0.0.1]:{free_port()}", "retry": "1h"}})
    r = as_root([BIN, "sendmail", "-f", "root@example.test", "someone@remote.test"],
                b"Subject: waiting\n\nx\n", conf=p.conf_path)
    assert r.returncode == 0, r.stderr
    wait_until(lambda: "event=queued" in p.log() and p.queue_ids(), what="a queued message")
    return p, p.queue_ids()[0]


def test_mailq_as_a_local_user_lists_the_queue(make_postern, local_user):
    p, qid = queued_postern(make_postern)
    r = as_user(local_user, [BIN, "queue", "list"], conf=p.conf_path)
    no_sanitizer_report(r)
    assert r.returncode == 0, r.stderr
    assert qid.encode() in r.stdout and b"someone@remote.test" in r.stdout
    assert b"1 Request." in r.stdout
    r = as_user(local_user, [BIN, "queue", "list", "--json"], conf=p.conf_path)
    assert r.returncode == 0, r.stderr
    [entry] = json.loads(r.stdout)
    assert entry["id"] == qid and entry["recipients"][0]["address"] == "someone@remote.test"
    # The same as root sees, and the queue's modes were not widened.
    root = as_root([BIN, "queue", "list", "--json"], conf=p.conf_path)
    assert [e["id"] for e in json.loads(root.stdout)] == [qid]
    assert os.stat(p.data_dir / "queue" / "env").st_mode & 0o777 == 0o700
    # mailq by its own name and sendmail -bp too
    r = as_user(local_user, [BIN, "sendmail", "-bp"], conf=p.conf_path)
    assert r.returncode == 0 and qid.encode() in r.stdout, r.stderr


def test_a_local_user_may_not_act_on_the_queue(make_postern, local_user):
    p, qid = queued_postern(make_postern)
    for args in (["flush"], ["flush", qid], ["delete", qid], ["hold", qid]):
        r = as_user(local_user, [BIN, "queue"] + args, conf=p.conf_path)
        no_sanitizer_report(r)
        assert r.returncode == 1 and b"permission denied" in r.stderr, (args, r.stderr)
    assert p.queue_ids() == [qid]
    # run/control is not theirs to open; run/query answers list alone
    st = os.stat(p.data_dir / "run" / "control")
    assert st.st_mode & 0o777 == 0o660 and st.st_uid == pwd.getpwnam("postern").pw_uid

    def ask(sock, line):
        return as_user(local_user, ["/usr/bin/python3", "-c",
                                    "import socket,sys; s=socket.socket(socket.AF_UNIX);"
                                    f"s.connect({str(p.data_dir / 'run' / sock)!r});"
                                    f"s.sendall({line!r}); s.shutdown(1);"
                                    "sys.stdout.write(s.recv(4096).decode())"])
    r = ask("control", b"reload-users\n")
    assert r.returncode == 1 and b"PermissionError" in r.stderr, r
    for line in (b"reload-users\n", b"flush\n", f"delete {qid}\n".encode()):
        r = ask("query", line)
        assert r.stdout.startswith(b"error permission denied"), r
    assert f"event=control_refused command=flush uid={local_user.pw_uid}" in p.log()
    assert p.queue_ids() == [qid]
    r = as_user(local_user, [BIN, "queue", "show", qid], conf=p.conf_path)
    assert r.returncode == 1
    # root still may
    r = as_root([BIN, "queue", "delete", qid], conf=p.conf_path)
    assert r.returncode == 0, r.stderr
    wait_until(lambda: p.queue_ids() == [], what="the deletion")


def test_control_socket_refuses_bad_lines(postern):
    path = str(postern.data_dir / "run" / "control")

    def ask(data, path=path):
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(path)
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            out = b""
            while chunk := s.recv(65536):
                out += chunk
            return out

    assert ask(b"list yaml\n").startswith(b"error")
    assert ask(b"list json extra\n").startswith(b"error")
    assert ask(b"reload-users now\n").startswith(b"error")
    assert ask(b"\n").startswith(b"error")
    assert ask(b"x" * 300 + b"\n").startswith(b"error line too long")
    assert ask(b"list\n") == b"ok\nMail queue is empty\n"
    # a client that goes away while its listing is built
    for _ in range(20):
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(path)
            s.sendall(b"list\n")
    assert ask(b"list json\n") == b"ok\n[]\n"
    query = str(postern.data_dir / "run" / "query")
    assert os.stat(query).st_mode & 0o777 == 0o666
    assert ask(b"list\n", query) == b"ok\nMail queue is empty\n"
    assert ask(b"hold 0123\n", query).startswith(b"error permission denied")
    assert ask(b"bogus\n", query).startswith(b"error unknown command")


def test_mailq_while_the_daemon_is_down(make_postern, local_user):
    p, qid = queued_postern(make_postern)
    p.stop()
    r = as_root([BIN, "queue", "list"], conf=p.conf_path)  # root reads the files
    assert r.returncode == 0 and qid.encode() in r.stdout, r.stderr
    r = as_user(local_user, [BIN, "queue", "list"], conf=p.conf_path)
    assert r.returncode == 1 and b"not running" in r.stderr, r.stderr


def test_flush_of_a_held_message_says_it_is_not_tried(make_postern):
    p, qid = queued_postern(make_postern)
    r = as_root([BIN, "queue", "hold", qid], conf=p.conf_path)
    assert r.returncode == 0, r.stderr
    r = as_root([BIN, "queue", "flush", qid], conf=p.conf_path)
    assert r.returncode == 0 and b"is held and will not be tried" in r.stdout, r
    assert b"will be tried now" not in r.stdout
    r = as_root([BIN, "queue", "flush"], conf=p.conf_path)
    assert r.returncode == 0
    assert b"0 messages will be tried now; 1 held message will not" in r.stdout, r.stdout
    r = as_root([BIN, "queue", "release", qid], conf=p.conf_path)
    assert r.returncode == 0
    r = as_root([BIN, "queue", "flush", qid], conf=p.conf_path)
    assert r.returncode == 0 and b"1 message will be tried now" in r.stdout, r


def test_data_dir_may_be_the_administrators_link(make_postern, workdir):
    p = make_postern(start=False)
    real = workdir / "real-data"
    real.mkdir()
    p.data_dir.symlink_to(real)
    p.start()
    r = as_root([BIN, "sendmail", BOB], b"Subject: via a linked data_dir\n\nx\n", conf=p.conf_path)
    assert r.returncode == 0, r.stderr
    p.wait_messages(BOB, 1)
    assert os.stat(real).st_uid == pwd.getpwnam("postern").pw_uid
    assert os.lstat(p.data_dir).st_uid == 0


def test_root_sendmail_does_not_follow_a_link_for_drop(make_postern, workdir):
    p = make_postern()
    p.stop()
    elsewhere = workdir / "elsewhere"
    elsewhere.mkdir()
    drop = p.data_dir / "queue" / "drop"
    drop.rename(workdir / "old-drop")
    drop.symlink_to(elsewhere)  # as a compromised postern account could
    r = as_root([BIN, "sendmail", BOB], b"Subject: x\n\nx\n", conf=p.conf_path)
    assert r.returncode == 75 and b"cannot queue" in r.stderr, r.stderr
    assert list(elsewhere.iterdir()) == []
