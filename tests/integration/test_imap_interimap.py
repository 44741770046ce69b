"""interimap (Debian's), a client that cannot work without QRESYNC (RFC
7162), keeps a local Dovecot Maildir and Postern's INBOX in step: the first
run copies everything, later runs send only the changes on each side
(SELECT ... (QRESYNC (...)), VANISHED, CHANGEDSINCE), in both directions."""
import os
import re
import shutil
import subprocess

import pytest

from imapenv import ALICE, RawImap, imap_server
from pop3env import DOVECOT_ROOT
from tlsenv import PASSWORDS

USER = "postern"  # Dovecot's mail_uid for the local side, as in test_imap_dovecot.py


def append(c, body, flags=""):
    msg = b"From: a@remote.test\r\nSubject: %s\r\n\r\n%s\r\n" % (body, body)
    tag = c.tag()
    c.send(b"%s APPEND INBOX %s{%d+}\r\n%s\r\n" % (tag.encode(), (f"({flags}) " if flags else "").encode(),
                                                  len(msg), msg))
    _, status, text = c.until_tagged(tag)
    assert status == "OK", text


def postern_state(p):
    """{subject: flags} of alice's INBOX, seen through Postern."""
    c = RawImap(p.imaps_port, p.ca, implicit_tls=True)
    c.login()
    c.ok("EXAMINE INBOX")
    untagged, _ = c.ok("FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    c.close()
    return parse_state(untagged)


def parse_state(lines):
    out, flags = {}, None
    for line in lines:
        m = re.search(rb"FLAGS \(([^)]*)\)", line)
        if m:
            flags = frozenset(m[1].decode().split()) - {"\\Recent"}
        s = re.match(rb"Subject: (\S+)", line)
        if s:
            out[s[1].decode()] = flags
    return out


@pytest.fixture
def sync(make_postern, workdir):
    if shutil.which("interimap") is None:
        pytest.fail("interimap is missing: run scripts/deps test")
    imap, doveconf = DOVECOT_ROOT / "usr/lib/dovecot/imap", DOVECOT_ROOT / "usr/bin/doveconf"
    assert imap.exists(), "no Dovecot imap: run scripts/deps test"
    p = imap_server(make_postern, workdir)
    local = workdir / "local"
    (local / "Maildir").mkdir(parents=True)
    subprocess.run(["chown", "-R", f"{USER}:{USER}", str(local)], check=True)
    conf = local / "dovecot.conf"
    conf.write_text(
        f"base_dir = {local}\nstate_dir = {local}\nlog_path = /dev/stderr\nssl = no\n"
        f"protocols = imap\nmail_location = maildir:{local}/Maildir\n"
        f"mail_uid = {USER}\nmail_gid = {USER}\nfirst_valid_uid = 1\nfirst_valid_gid = 1\n"
        "namespace inbox {\n  inbox = yes\n  separator = .\n}\n")
    tunnel = local / "dovecot-imap"
    tunnel.write_text(
        "#!/bin/sh\n"
        f"export USER={USER} HOME={local} PATH=/usr/bin:/bin LD_LIBRARY_PATH={DOVECOT_ROOT}/usr/lib/dovecot\n"
        # Pipes, not interimap's socket: on a socket Dovecot's imap thinks
        # inetd started it and refuses.
        f"cat | {doveconf} -f service=imap -c {conf} -m imap -e {imap} -c {conf} | cat\n")
    tunnel.chmod(0o755)
    home = workdir / "interimap-home"
    home.mkdir()
    (home / "config").write_text(
        f"database = {home}/sync.db\nlist-mailbox = INBOX\n\n"
        f"[local]\ntype = tunnel\ncommand = {tunnel}\nnull-stderr = YES\n\n"
        f"[remote]\ntype = imaps\nhost = 127.0.0.1\nport = {p.imaps_port}\n"
        f"username = {ALICE}\npassword = {PASSWORDS[ALICE]}\nSSL_verify = NO\n")

    def run():
        r = subprocess.run(["interimap", f"--config={home}/config", "--debug"],
                           capture_output=True, text=True, timeout=120,
                           env={"PATH": os.environ["PATH"], "HOME": str(home)})
        assert r.returncode == 0, r.stderr[-4000:]
        return r.stderr

    def local(*commands):
        """Commands to the local Dovecot, one session: its output lines."""
        text = b"".join(b"x%d %s\r\n" % (i, cmd) for i, cmd in enumerate(commands)) + b"z LOGOUT\r\n"
        r = subprocess.run([str(tunnel)], input=text, capture_output=True, timeout=30)
        return r.stdout.split(b"\r\n")

    yield p, run, local
    p.stop()


def local_state(local):
    return parse_state(local(b"EXAMINE INBOX", b"FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))




def test_interimap_resyncs_both_ways(sync):
    p, run, local = sync
    c = RawImap(p.imaps_port, p.ca, implicit_tls=True)
    c.login()
    for name in (b"one", b"two", b"three"):
        append(c, name)
    log = run()
    assert re.search(r"remote: S: \* ENABLED QRESYNC", log), log[-3000:]
    assert local_state(local) == {"one": frozenset(), "two": frozenset(), "three": frozenset()}
    # Changes on Postern: a flag, an expunge, a new message.
    c.ok("SELECT INBOX")
    c.ok("STORE 1 +FLAGS (\\Flagged)")
    c.ok("STORE 2 +FLAGS (\\Deleted)")
    c.ok("EXPUNGE")
    append(c, b"four", "\\Answered")
    c.close()
    log = run()
    # interimap resynchronised from its stored HIGHESTMODSEQ and saw the
    # expunge as VANISHED.
    assert re.search(r"remote: C: \S+ SELECT INBOX \(QRESYNC \(\d+ \d+", log), log[-3000:]
    assert re.search(r"remote: S: \* VANISHED \(EARLIER\) 2\b", log), log[-3000:]
    assert local_state(local) == {"one": frozenset({"\\Flagged"}), "three": frozenset(),
                             "four": frozenset({"\\Answered"})}
    # A change on the local side goes the other way.
    local(b"SELECT INBOX", b"UID STORE 1:* +FLAGS (\\Seen)")
    run()
    seen = frozenset({"\\Seen"})
    assert postern_state(p) == {"one": frozenset({"\\Flagged"}) | seen, "three": seen,
                                "four": frozenset({"\\Answered"}) | seen}
    # Nothing changed: a third run sends nothing new.
    log = run()
    assert not re.search(r"C: \S+ (APPEND|UID STORE|UID EXPUNGE)", log), log[-3000:]
