"""The mailbox store (src/store) against Dovecot's own imap, over the same
Maildir: what Postern's store writes, Dovecot reads with the same UIDs,
UIDVALIDITY, flags, keywords, folders and subscriptions; and what Dovecot
writes, the store reads the same. The store is driven by tests/tools/
store_cli (built beside the other test programs); Dovecot's imap runs
pre-authenticated from the tree scripts/deps unpacks (dovecot-imapd next to
dovecot-pop3d), as dovecot_pop3() runs pop3."""
import os
import pathlib
import re
import shutil
import subprocess
import tempfile

import pytest

from pop3env import DOVECOT_ROOT

ROOT = pathlib.Path(__file__).resolve().parents[2]
USER = "postern"
LETTERS = {"\\Seen": "S", "\\Answered": "R", "\\Flagged": "F", "\\Deleted": "T", "\\Draft": "D"}


def store_cli_path():
    b = pathlib.Path(os.environ.get("POSTERN_BIN", ROOT / "build-test" / "postern"))
    for p in (b.parent / "tests" / "store_cli", ROOT / "build-test" / "tests" / "store_cli"):
        if p.exists():
            return p
    raise AssertionError("store_cli not built (tests/CMakeLists.txt builds it)")


@pytest.fixture
def home():
    d = pathlib.Path(tempfile.mkdtemp(prefix="store-dovecot-", dir="/var/tmp"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def chown(path):
    subprocess.run(["chown", "-R", f"{USER}:{USER}", str(path)], check=True)


def cli(maildir, *args, stdin=b""):
    r = subprocess.run([str(store_cli_path()), str(maildir), *args], input=stdin,
                       capture_output=True, timeout=60)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    chown(maildir)  # Dovecot runs as the mail user
    return r.stdout.decode()


def dovecot_imap(home, commands):
    """Runs Dovecot's imap over home/Maildir, pre-authenticated; commands is
    a list of IMAP command lines (tags added). Returns the output text."""
    maildir, state, conf = home / "Maildir", home / "dovecot-state", home / "dovecot.conf"
    state.mkdir(exist_ok=True)
    chown(state)
    conf.write_text(
        f"base_dir = {state}\nstate_dir = {state}\nlog_path = /dev/stderr\nssl = no\n"
        f"protocols = imap\nmail_location = maildir:{maildir}:INDEX=MEMORY\n"
        f"mail_uid = {USER}\nmail_gid = {USER}\nfirst_valid_uid = 1\nfirst_valid_gid = 1\n"
        "namespace inbox {\n  inbox = yes\n  separator = .\n}\n")
    d = DOVECOT_ROOT
    imap, doveconf = d / "usr/lib/dovecot/imap", d / "usr/bin/doveconf"
    assert imap.exists() and doveconf.exists(), f"no Dovecot imap unpacked in {d}: run scripts/deps test"
    assert os.geteuid() == 0, "Dovecot's imap becomes mail_uid: the tests run as root"
    # One command at a time: Dovecot runs pipelined commands side by side.
    p = subprocess.Popen([str(doveconf), "-f", "service=imap", "-c", str(conf), "-m", "imap",
                          "-e", str(imap), "-c", str(conf)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env={"USER": USER, "HOME": str(state), "PATH": "/usr/bin:/bin",
                              "LD_LIBRARY_PATH": str(d / "usr/lib/dovecot")})
    out = []
    try:
        out.append(p.stdout.readline().decode())
        for i, c in enumerate(commands + ["LOGOUT"]):
            p.stdin.write(f"t{i} {c}\r\n".encode())
            p.stdin.flush()
            while True:
                line = p.stdout.readline().decode()
                assert line, ("Dovecot closed", c, "".join(out))
                out.append(line)
                if line.startswith(f"t{i} "):
                    assert line.startswith(f"t{i} OK"), (c, line)
                    break
        p.stdin.close()
        assert p.wait(timeout=30) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return "".join(out)


def dovecot_messages(out):
    """UID -> (flag letters, keywords, size) from FETCH (UID FLAGS RFC822.SIZE)."""
    msgs = {}
    for line in out.splitlines():
        if not re.match(r"\* \d+ FETCH", line) or "RFC822.SIZE" not in line:
            continue
        uid = int(re.search(r"UID (\d+)", line).group(1))
        flags = re.search(r"FLAGS \(([^)]*)\)", line).group(1).split()
        size = int(re.search(r"RFC822\.SIZE (\d+)", line).group(1))
        letters = "".join(sorted(LETTERS[f] for f in flags if f in LETTERS)) or "-"
        kws = sorted(f for f in flags if not f.startswith("\\"))
        msgs[uid] = (letters, kws, size)
    return msgs


def store_messages(dump):
    lines = dump.strip().splitlines()
    m = re.match(r"V(\d+) N(\d+)$", lines[0])
    msgs = {}
    for line in lines[1:]:
        uid, flags, kws, size = line.split()
        msgs[int(uid)] = (flags, sorted([] if kws == "-" else kws.split(",")), int(size))
    return int(m.group(1)), int(m.group(2)), msgs


def test_dovecot_reads_what_the_store_writes(home):
    md = home / "Maildir"
    cli(md, "setup")
    uv, uid = map(int, cli(md, "append", "INBOX", "S", "$Forwarded,Work", "1600000000",
                           stdin=b"Subject: one\r\n\r\nfirst\r\n").split())
    assert uid == 1
    assert cli(md, "append", "INBOX", "-", "-", "0", stdin=b"Subject: two\n\nsecond\n").split() == [
        str(uv), "2"]
    cli(md, "setflags", "INBOX", "2", "FT", "Later")
    cli(md, "create", "Foo.Bar")
    cli(md, "subscribe", "Foo.Bar")
    cli(md, "append", "Foo.Bar", "D", "-", "0", stdin=b"x\r\n")
    (md / "new" / "1700000000.M1P1Q1.elsewhere,S=6,W=7").write_text("third\n")  # a delivery
    chown(md)
    v, n, mine = store_messages(cli(md, "dump", "INBOX"))
    assert (v, n) == (uv, 4)
    assert mine == {1: ("S", ["$Forwarded", "Work"], 23), 2: ("FT", ["Later"], 24),
                    3: ("-", [], 7)}

    out = dovecot_imap(home, ["LIST \"\" \"*\"", "LSUB \"\" \"*\"", "EXAMINE INBOX",
                              "UID FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE)",
                              "STATUS Foo.Bar (MESSAGES UIDNEXT UIDVALIDITY)"])
    assert f"[UIDVALIDITY {uv}]" in out
    assert "[UIDNEXT 4]" in out
    assert dovecot_messages(out) == mine
    assert re.search(r'\* \d+ FETCH \(UID 1 .*INTERNALDATE "13-Sep-2020 12:26:40 \+0000"', out)
    listed = dict((m.group(2), m.group(1)) for m in re.finditer(r'^\* LIST \(([^)]*)\) "\." (\S+)',
                                                                out, re.M))
    assert set(listed) == {"INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive", "Foo", "Foo.Bar"}
    assert "\\Noselect" in listed["Foo"]
    lsub = set(re.findall(r'^\* LSUB \([^)]*\) "\." (\S+)', out, re.M))
    assert lsub == {"Sent", "Drafts", "Trash", "Junk", "Archive", "Foo.Bar"}
    fb_uv = re.search(r"STATUS Foo\.Bar \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY (\d+)\)", out)
    assert fb_uv and store_messages(cli(md, "dump", "Foo.Bar"))[0] == int(fb_uv.group(1))


def test_the_store_reads_what_dovecot_writes(home):
    md = home / "Maildir"
    md.mkdir()
    for sub in ("cur", "new", "tmp"):
        (md / sub).mkdir()
    chown(md)
    out = dovecot_imap(home, [
        "CREATE Work.Sub", "SUBSCRIBE Work.Sub", "CREATE \"&AOk-t&AOk-\"",
        "APPEND INBOX (\\Seen kw1) {10+}\r\nSubject:\r\n",
        "APPEND INBOX () {6+}\r\nhello\n",
        "APPEND INBOX (\\Answered $Junk) {4+}\r\nabc\n",
        "SELECT INBOX", "STORE 2 +FLAGS (\\Flagged kw2 \\Draft)", "STORE 3 -FLAGS ($Junk)",
        "STORE 1 +FLAGS (\\Deleted)", "EXPUNGE"])
    out = dovecot_imap(home, ["EXAMINE INBOX", "UID FETCH 1:* (UID FLAGS RFC822.SIZE)"])
    theirs = dovecot_messages(out)
    uv = int(re.search(r"\[UIDVALIDITY (\d+)\]", out).group(1))
    assert sorted(theirs) == [2, 3]
    chown(md)
    v, n, mine = store_messages(cli(md, "dump", "INBOX"))
    assert (v, n) == (uv, 4)
    assert mine == theirs
    listed = {}
    for line in cli(md, "list").splitlines():
        name, *attrs = line.split()
        listed[name] = attrs
    assert set(listed) == {"INBOX", "Work", "Work.Sub", "&AOk-t&AOk-"}
    assert "\\Noselect" in listed["Work"] and "\\HasChildren" in listed["Work"]
    assert "\\Subscribed" in listed["Work.Sub"]
    # And back: a message the store appends now gets the next UID for Dovecot too.
    assert cli(md, "append", "INBOX", "R", "kw2", "0", stdin=b"back\r\n").split() == [str(uv), "4"]
    out = dovecot_imap(home, ["EXAMINE INBOX", "UID FETCH 4 (UID FLAGS RFC822.SIZE)"])
    assert dovecot_messages(out) == {4: ("R", ["kw2"], 6)}
