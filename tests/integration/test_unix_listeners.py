"""Issue 11: `[listen] unix:PATH` sockets are made by the service user after
the privilege drop, never by root. Root unlinking and binding by path in a
directory the service user controls would let a compromised postern account
make root delete any file (a directory swapped for a symbolic link)."""
import os
import pwd
import socket

from conftest import wait_until

POSTERN_UID = pwd.getpwnam("postern").pw_uid


def postern_dir(path):
    path.mkdir()
    os.chown(path, POSTERN_UID, -1)
    os.chmod(path, 0o755)
    return path


def unix_smtp(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(str(path))
    f = s.makefile("rb")

    def reply():
        lines = []
        while True:
            line = f.readline()
            assert line, "connection closed"
            lines.append(line)
            if line[3:4] != b"-":
                return lines

    def cmd(text):
        s.sendall(text.encode() + b"\r\n")
        return reply()

    return s, reply, cmd


def test_unix_listener_is_made_by_the_service_user_and_serves_smtp(make_postern, workdir):
    sock = postern_dir(workdir / "sockets") / "smtp.sock"
    p = make_postern(start=False)
    p.settings["listen"]["smtp"] += f", unix:{sock}"
    p.write_conf()
    p.start()
    st = os.stat(sock)
    assert st.st_uid == POSTERN_UID, "the socket was made by root"
    s, reply, cmd = unix_smtp(sock)
    try:
        assert reply()[0].startswith(b"220 ")
        assert cmd("EHLO client.test")[0].startswith(b"250")
        assert cmd("MAIL FROM:<x@remote.test>")[0].startswith(b"250")
        assert cmd("RCPT TO:<alice@example.test>")[0].startswith(b"250")
        assert cmd("DATA")[0].startswith(b"354")
        assert cmd("Subject: over unix\r\n\r\nhello\r\n.")[0].startswith(b"250")
        cmd("QUIT")
    finally:
        s.close()
    [msg] = p.wait_messages("alice@example.test", 1)
    assert b"Subject: over unix" in msg
    # A restart replaces the old socket file (unlinked by the service user).
    p.stop()
    p.log_path.unlink()  # so that start() waits for this run's event=started
    p.start()
    s, reply, _ = unix_smtp(sock)
    assert reply()[0].startswith(b"220 ")
    s.close()


def test_root_never_unlinks_through_a_swapped_directory(make_postern, workdir):
    """The socket's directory is the service user's; it swaps a component
    for a link to a root-owned directory holding a file of the socket's
    name. The file stays (root unlinked it before); the daemon refuses to
    start and says why."""
    victim_dir = workdir / "rootdir"
    victim_dir.mkdir()
    os.chmod(victim_dir, 0o755)
    victim = victim_dir / "smtp.sock"
    victim.write_text("root's file\n")
    owned = postern_dir(workdir / "owned")
    (owned / "link").symlink_to(victim_dir)
    os.lchown(owned / "link", POSTERN_UID, -1)
    p = make_postern(start=False)
    p.settings["listen"]["smtp"] += f", unix:{owned / 'link' / 'smtp.sock'}"
    p.write_conf()
    p.start(wait=False)
    assert p.proc.wait(timeout=30) != 0
    assert victim.read_text() == "root's file\n"
    log = p.log()
    assert "smtp.sock: exists and is not a socket" in log, log


def test_unix_listener_in_a_directory_the_service_user_cannot_write(make_postern, workdir):
    d = workdir / "rootonly"
    d.mkdir()
    os.chmod(d, 0o755)
    p = make_postern(start=False)
    p.settings["listen"]["smtp"] += f", unix:{d / 'smtp.sock'}"
    p.write_conf()
    p.start(wait=False)
    assert p.proc.wait(timeout=30) != 0
    assert not (d / "smtp.sock").exists()
    wait_until(lambda: "smtp.sock: cannot listen: Permission denied" in p.log(),
               what="the reason in the log")
