"""Dovecot's quota plugin (`quota = maildir:User quota`, the Maildir++
backend, from the Dovecot scripts/deps unpacks) as the oracle for Postern's
maildirsize: on one Maildir, the usage Postern wrote is the usage Dovecot
reports, and what Dovecot wrote (appends, expunges, its own recalculation)
is what Postern reports. The limit is 20K in both (Postern's [imap] quota,
Dovecot's quota_rule), so both keep the same limits line "20480S"."""
import os
import re
import select
import subprocess

import pytest

from imapenv import ALICE, imap_server
from pop3env import DOVECOT_ROOT
from test_imap_dovecot import USER, ImapPeer, PosternImap, chown

STORAGE = re.compile(rb'\* QUOTA "[^"]*" \(STORAGE (\d+) (\d+)')


class DovecotQuotaImap(ImapPeer):
    """Dovecot's imap, pre-authenticated on stdin/stdout, with the quota
    and imap_quota plugins over a Maildir."""

    name = "Dovecot"

    def __init__(self, maildir, state):
        super().__init__()
        state.mkdir(exist_ok=True)
        chown(state)
        d = DOVECOT_ROOT
        modules = d / "usr/lib/dovecot/modules"
        if not (modules / "lib10_quota_plugin.so").exists():
            pytest.skip(f"Dovecot's quota plugin is not in {modules}")
        conf = state / "dovecot.conf"
        conf.write_text(
            f"base_dir = {state}\nstate_dir = {state}\nlog_path = /dev/stderr\nssl = no\n"
            f"protocols = imap\nmail_location = maildir:{maildir}:INDEX=MEMORY\n"
            f"mail_uid = {USER}\nmail_gid = {USER}\nfirst_valid_uid = 1\nfirst_valid_gid = 1\n"
            f"mail_plugin_dir = {modules}\nmail_plugins = quota\n"
            "protocol imap {\n  mail_plugins = $mail_plugins imap_quota\n}\n"
            "namespace inbox {\n  inbox = yes\n  separator = .\n}\n"
            "plugin {\n  quota = maildir:User quota\n  quota_rule = *:storage=20K\n}\n")
        imap, doveconf = d / "usr/lib/dovecot/imap", d / "usr/bin/doveconf"
        assert imap.exists() and doveconf.exists(), f"no Dovecot imap in {d}: run scripts/deps test"
        assert os.geteuid() == 0, "Dovecot's imap becomes mail_uid: the tests run as root"
        self.err = open(state / "stderr", "wb")
        self.p = subprocess.Popen(
            [str(doveconf), "-f", "service=imap", "-c", str(conf), "-m", "imap", "-e", str(imap),
             "-c", str(conf)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err,
            env={"USER": USER, "HOME": str(state), "PATH": "/usr/bin:/bin",
                 "LD_LIBRARY_PATH": str(d / "usr/lib/dovecot")})
        self.greeting = self.response()
        assert self.greeting.startswith(b"* PREAUTH"), (self.greeting, (state / "stderr").read_bytes())

    def _recv(self):
        fd = self.p.stdout.fileno()
        r, _, _ = select.select([fd], [], [], 30)
        assert r, f"Dovecot silent for 30s; unread {self.buf!r}"
        return os.read(fd, 65536)

    def _send(self, data):
        self.p.stdin.write(data)
        self.p.stdin.flush()

    def close(self):
        try:
            self.cmd("LOGOUT")
            self.p.stdin.close()
            self.p.wait(timeout=30)
        finally:
            if self.p.poll() is None:
                self.p.kill()
                self.p.wait()
            self.err.close()


def storage(peer):
    untagged, _ = peer.ok("GETQUOTAROOT INBOX")
    m = next((STORAGE.match(u) for u in untagged if STORAGE.match(u)), None)
    assert m, f"{peer.name}: {untagged!r}"
    return int(m[1]), int(m[2])


def append(peer, folder, n, tag):
    msg = (b"Subject: %s\r\n\r\n" % tag.encode()) + b"z" * 70 + b"\r\n"
    msg = msg * (n // len(msg))
    peer.ok(b"APPEND %s {%d+}\r\n%s" % (folder.encode(), len(msg), msg))


def usage_on_disk(md):
    total = 0
    for folder in [md] + [d for d in md.iterdir() if d.name.startswith(".") and d.is_dir()]:
        for sub in ("new", "cur"):
            if (folder / sub).is_dir():
                total += sum(f.stat().st_size for f in (folder / sub).iterdir())
    return total


@pytest.fixture
def env(make_postern, workdir):
    p = imap_server(make_postern, workdir, {"imap": {"quota": "20k"}})
    PosternImap(p).close()
    md = p.maildir(ALICE)
    chown(md)
    opened = []

    def dovecot():
        d = DovecotQuotaImap(md, workdir / "dovecot-state")
        opened.append(d)
        return d

    yield p, md, dovecot
    for d in opened:
        if d.p.poll() is None:
            d.close()
    p.stop()


def test_both_report_the_same_usage(env):
    p, md, dovecot = env
    ours = PosternImap(p)
    append(ours, "INBOX", 3000, "one")
    append(ours, "Sent", 2500, "two")
    mine = storage(ours)
    ours.close()
    assert mine[1] == 20
    text = (md / "maildirsize").read_text()
    assert text.splitlines()[0] == "20480S", text
    d = dovecot()
    assert storage(d) == mine
    # Dovecot's changes, appended to Postern's file, read by Postern.
    append(d, "INBOX", 4000, "three")
    d.ok("SELECT INBOX")
    d.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    d.ok("EXPUNGE")
    theirs = storage(d)
    d.close()
    ours = PosternImap(p)
    assert storage(ours) == theirs
    ours.close()
    assert theirs[0] == (usage_on_disk(md) + 1023) // 1024


def test_each_reads_the_others_recalculation(env):
    p, md, dovecot = env
    ours = PosternImap(p)
    append(ours, "INBOX", 5000, "one")
    append(ours, "Trash", 1200, "two")
    ours.close()
    (md / "maildirsize").unlink()
    d = dovecot()
    theirs = storage(d)  # Dovecot recalculates and writes the file
    d.close()
    written = (md / "maildirsize").read_text()
    assert written.splitlines()[0] == "20480S", written
    ours = PosternImap(p)
    assert storage(ours) == theirs
    ours.close()
    assert (md / "maildirsize").read_text() == written, "Postern trusted Dovecot's file"
    (md / "maildirsize").unlink()
    ours = PosternImap(p)
    assert storage(ours) == theirs  # Postern recalculates
    ours.close()
    assert (md / "maildirsize").read_text() == written, "the same file as Dovecot's"
    d = dovecot()
    assert storage(d) == theirs
    d.close()
