"""Postern's IMAP with the real clients from Debian, each on 127.0.0.1 over
TLS with only the test CA trusted, each run under a timeout: mbsync (isync)
and offlineimap3 syncing a mailbox both ways (delivery, flags, expunge,
upload with APPEND, folders), curl's imaps:// (LIST, a message by UID) and
fetchmail in IMAP mode (keep and no-keep). What a client got is compared
with what was sent byte for byte (minus Postern's trace headers), and what
the server holds afterwards is read back with imaplib."""
import os
import re
import smtplib
import stat
import subprocess

import pytest

from conftest import wait_until
from imapenv import ALICE, imap_server, ssl_client
from pop3env import count_messages, strip_trace
from tlsenv import PASSWORDS

CLIENT_TIMEOUT = 120


def message(i, subject=None):
    return (b"From: Carol <carol@remote.test>\r\nTo: alice@example.test\r\n"
            b"Subject: %s\r\nDate: Fri, 04 Dec 2026 10:00:%02d +0000\r\n"
            b"Message-ID: <c%d@remote.test>\r\n\r\nbody of message %d\r\n"
            b".a line with a dot\r\nlast line\r\n"
            % (subject or b"client %d" % i, i, i, i))


@pytest.fixture
def srv(make_postern, workdir):
    p = imap_server(make_postern, workdir, start=False)
    add_localhost_to_certificate(workdir / "ca")
    p.start()
    yield p
    p.stop()


def add_localhost_to_certificate(ca_dir):
    """Re-signs the test server's certificate with DNS:localhost added: mbsync
    1.4 checks only DNS names (not IP addresses) against the host it dialled,
    so it connects to "localhost", which /etc/hosts maps to 127.0.0.1."""
    ext = ca_dir / "ext-localhost.cnf"
    ext.write_text("subjectAltName=DNS:mx.example.test,DNS:localhost,IP:127.0.0.1\n"
                   "extendedKeyUsage=serverAuth\n")
    subprocess.run(["openssl", "x509", "-req", "-in", str(ca_dir / "server.csr"),
                    "-CA", str(ca_dir / "ca.crt"), "-CAkey", str(ca_dir / "ca.key"),
                    "-CAcreateserial", "-out", str(ca_dir / "server.crt"), "-days", "2",
                    "-extfile", str(ext)], check=True, capture_output=True)


def deliver(p, msgs, rcpt=ALICE):
    """Sends msgs over SMTP one by one, each waited for in rcpt's Maildir:
    Postern delivers a session's messages in parallel, and only this makes
    the order of the Maildir's file names (so of the UIDs) that of msgs."""
    with smtplib.SMTP("127.0.0.1", p.port, timeout=30) as s:
        for m in msgs:
            before = count_messages(p, rcpt)
            s.sendmail("carol@remote.test", [rcpt], m)
            wait_until(lambda: count_messages(p, rcpt) > before, what=f"a delivery\n{p.log()}")


def run_client(cmd, what, env=None, ok=True, **kw):
    r = subprocess.run(cmd, capture_output=True, timeout=CLIENT_TIMEOUT,
                       env={**os.environ, **(env or {})}, **kw)
    out = r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
    if ok:
        assert r.returncode == 0, f"{what} exited with {r.returncode}:\n{out}"
    return r, out


def server_view(p, folder, user=ALICE):
    """{uid: (flags set, body bytes)} of folder, read with imaplib (PEEK)."""
    c = ssl_client(p, user)
    typ, _ = c.select(folder, readonly=True)
    assert typ == "OK", folder
    typ, data = c.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[])")
    assert typ == "OK", data
    view = {}
    for item in data:
        if not isinstance(item, tuple):
            continue
        m = re.search(rb"UID (\d+)", item[0])
        f = re.search(rb"FLAGS \(([^)]*)\)", item[0])
        view[int(m[1])] = (set(f[1].decode().split()) - {"\\Recent"}, item[1])
    c.logout()
    return view


TUID = re.compile(rb"^X-TUID: [A-Za-z0-9+/]{12}\r?\n", re.M)


def strip_tuid(b):
    """Without the one X-TUID header mbsync writes into every message it
    copies (to find it again after a crash, or on a server without UIDPLUS)."""
    out, n = TUID.subn(b"", b, count=1)
    assert n == 1, f"no X-TUID header in {b!r}"
    return out


def lf(b):
    return b.replace(b"\r\n", b"\n")


# --- Maildir on the client's side ----------------------------------------

MAILDIR_FLAGS = {"D": "\\Draft", "F": "\\Flagged", "R": "\\Answered", "S": "\\Seen",
                 "T": "\\Deleted"}


def local_messages(folder):
    """{file path: (flags set as IMAP names, bytes)} of a client's Maildir folder."""
    out = {}
    for sub in ("new", "cur"):
        d = folder / sub
        if not d.is_dir():
            continue
        for f in d.iterdir():
            info = f.name.split(":2,", 1)[1] if ":2," in f.name else ""
            out[f] = ({MAILDIR_FLAGS[c] for c in info if c in MAILDIR_FLAGS}, f.read_bytes())
    return out


def by_subject(msgs):
    """{subject: (key, flags, bytes)} of {key: (flags, bytes)}."""
    out = {}
    for key, (flags, data) in msgs.items():
        m = re.search(rb"^Subject: (.*?)\r?$", data, re.M)
        assert m, data
        assert m[1] not in out, f"two messages with subject {m[1]!r}"
        out[m[1]] = (key, flags, data)
    return out


def set_local_flags(path, flags):
    """Renames a Maildir file to carry exactly flags (letters), into cur/."""
    base = path.name.split(":2,", 1)[0]
    target = path.parent.parent / "cur" / f"{base}:2,{''.join(sorted(flags))}"
    path.rename(target)
    return target


def put_local(folder, name, data, flags=""):
    """A new message in a client's Maildir folder, as a mail reader writes it."""
    for sub in ("tmp", "new", "cur"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    f = folder / "cur" / f"{name}:2,{flags}"
    f.write_bytes(data)
    return f


# --- mbsync (isync) --------------------------------------------------------

def mbsync_config(p, workdir, local, starttls=False, sync="All"):
    conf = workdir / "mbsyncrc"
    conf.write_text(
        "IMAPAccount alice\n"
        "Host localhost\n"
        f"Port {p.imap_port if starttls else p.imaps_port}\n"
        f"User {ALICE}\n"
        f"Pass {PASSWORDS[ALICE]}\n"
        f"SSLType {'STARTTLS' if starttls else 'IMAPS'}\n"
        f"CertificateFile {p.ca}\n"
        "\n"
        "IMAPStore remote\n"
        "Account alice\n"
        "\n"
        "MaildirStore local\n"
        f"Path {local}/\n"
        f"Inbox {local}/INBOX\n"
        "SubFolders Verbatim\n"
        "\n"
        "Channel alice\n"
        "Far :remote:\n"
        "Near :local:\n"
        "Patterns *\n"
        "Create Both\n"
        "Expunge Both\n"
        f"Sync {sync}\n"
        "SyncState *\n")
    conf.chmod(stat.S_IRUSR | stat.S_IWUSR)
    return conf


def mbsync(conf, workdir):
    r, out = run_client(["mbsync", "-c", str(conf), "-D", "-a"], "mbsync",
                        env={"HOME": str(workdir)})
    return out


def test_mbsync_two_way(srv, workdir):
    sent = [message(i) for i in range(1, 4)]
    deliver(srv, sent)
    local = workdir / "mbsync-mail"
    local.mkdir()
    conf = mbsync_config(srv, workdir, local)

    # 1. First sync: the delivered mail and the default folders arrive,
    # over a compressed stream (mbsync uses COMPRESS=DEFLATE when offered).
    out = mbsync(conf, workdir)
    assert re.search(r"COMPRESS DEFLATE\r?\n", out), out[-3000:]
    assert re.search(r"OK DEFLATE active", out), out[-3000:]
    for name in ("INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"):
        assert (local / name / "cur").is_dir(), (name, sorted(os.listdir(local)))
    inbox = by_subject(local_messages(local / "INBOX"))
    assert sorted(inbox) == [b"client 1", b"client 2", b"client 3"]
    for i, m in enumerate(sent, 1):
        path, flags, data = inbox[b"client %d" % i]
        assert flags == set(), (path, flags)
        assert strip_trace(strip_tuid(data).replace(b"\n", b"\r\n")) == m
    # mbsync only peeks: nothing \Seen on the server yet.
    view = server_view(srv, "INBOX")
    assert sorted(view) == [1, 2, 3]
    assert all(flags == set() for flags, _ in view.values()), view

    # 2. Flags changed locally go up: S on 1, F and R on 2.
    set_local_flags(inbox[b"client 1"][0], "S")
    set_local_flags(inbox[b"client 2"][0], "FR")
    mbsync(conf, workdir)
    view = server_view(srv, "INBOX")
    by_uid_subject = {re.search(rb"Subject: (.*?)\r\n", d)[1]: (u, f) for u, (f, d) in view.items()}
    assert by_uid_subject[b"client 1"][1] == {"\\Seen"}
    assert by_uid_subject[b"client 2"][1] == {"\\Flagged", "\\Answered"}
    assert by_uid_subject[b"client 3"][1] == set()

    # 3. Flags changed and a message expunged on the server come down.
    c = ssl_client(srv)
    c.select("INBOX")
    uid3 = by_uid_subject[b"client 3"][0]
    uid1 = by_uid_subject[b"client 1"][0]
    assert c.uid("STORE", str(uid3), "+FLAGS", r"(\Flagged)")[0] == "OK"
    assert c.uid("STORE", str(uid1), "+FLAGS", r"(\Deleted)")[0] == "OK"
    assert c.expunge()[0] == "OK"
    c.logout()
    mbsync(conf, workdir)
    inbox = by_subject(local_messages(local / "INBOX"))
    assert sorted(inbox) == [b"client 2", b"client 3"]
    assert inbox[b"client 3"][1] == {"\\Flagged"}
    assert inbox[b"client 2"][1] == {"\\Flagged", "\\Answered"}

    # 4. Messages written into local folders are uploaded (APPEND) with their flags.
    archived = message(10, b"archived locally")
    put_local(local / "Archive", "1764842400.M1P1.client", lf(archived), "S")
    draft = message(11, b"a local draft")
    put_local(local / "Drafts", "1764842401.M2P1.client", lf(draft), "DS")
    mbsync(conf, workdir)
    view = server_view(srv, "Archive")
    assert [(f, strip_tuid(d)) for f, d in view.values()] == [({"\\Seen"}, archived)], view
    view = server_view(srv, "Drafts")
    assert [(f, strip_tuid(d)) for f, d in view.values()] == [({"\\Draft", "\\Seen"}, draft)]

    # 5. A folder made locally is created on the server; one made on the
    #    server comes down, with its mail.
    put_local(local / "Projects", "1764842402.M3P1.client", lf(message(12, b"project")), "")
    put_local(local / "Projects" / "2026", "1764842403.M4P1.client",
              lf(message(14, b"project 2026")), "F")
    c = ssl_client(srv)
    assert c.create("Lists")[0] == "OK"
    assert c.create("Lists.debian")[0] == "OK"
    lists_msg = message(13, b"on a list")
    assert c.append("Lists", r"(\Seen)", None, lists_msg)[0] == "OK"
    debian_msg = message(15, b"on debian-devel")
    assert c.append("Lists.debian", r"(\Answered)", None, debian_msg)[0] == "OK"
    c.logout()
    mbsync(conf, workdir)
    view = server_view(srv, "Projects")
    assert [(f, strip_tuid(d)) for f, d in view.values()] == [(set(), message(12, b"project"))]
    # The local hierarchy (Projects/2026) is the server's, with its "." delimiter.
    view = server_view(srv, "Projects.2026")
    assert [(f, strip_tuid(d)) for f, d in view.values()] == [
        ({"\\Flagged"}, message(14, b"project 2026"))]
    got = by_subject(local_messages(local / "Lists"))
    assert list(got) == [b"on a list"]
    assert got[b"on a list"][1] == {"\\Seen"}
    assert strip_tuid(got[b"on a list"][2]).replace(b"\n", b"\r\n") == lists_msg
    got = by_subject(local_messages(local / "Lists" / "debian"))
    assert list(got) == [b"on debian-devel"]
    assert got[b"on debian-devel"][1] == {"\\Answered"}
    assert strip_tuid(got[b"on debian-devel"][2]).replace(b"\n", b"\r\n") == debian_msg
    c = ssl_client(srv)
    typ, data = c.list('""', "*")
    c.logout()
    listed = {d.decode().rsplit(" ", 1)[1].strip('"'): d.decode() for d in data}
    assert sorted(listed) == ["Archive", "Drafts", "INBOX", "Junk", "Lists", "Lists.debian",
                              "Projects", "Projects.2026", "Sent", "Trash"], data
    assert "\\HasChildren" in listed["Projects"] and "\\HasChildren" in listed["Lists"], data

    # 6. A message deleted locally is expunged on the server (mbsync marks it
    #    \Deleted, then expunges: CLOSE, as the server has no UIDPLUS).
    inbox = by_subject(local_messages(local / "INBOX"))
    inbox[b"client 2"][0].unlink()
    mbsync(conf, workdir)
    view = server_view(srv, "INBOX")
    assert [(f, strip_trace(d)) for f, d in view.values()] == [({"\\Flagged"}, sent[2])]
    assert sorted(by_subject(local_messages(local / "INBOX"))) == [b"client 3"]

    # 7. A sync with nothing changed changes nothing either side.
    before_local = {k: v for k, v in local_messages(local / "INBOX").items()}
    before_server = server_view(srv, "INBOX")
    mbsync(conf, workdir)
    assert local_messages(local / "INBOX") == before_local
    assert server_view(srv, "INBOX") == before_server


EIGHT_BIT = ("From: carol@remote.test\r\nSubject: 8bit\r\nContent-Type: text/plain; charset=utf-8\r\n"
             "Content-Transfer-Encoding: 8bit\r\n\r\nGr\u00fc\u00dfe, \u20ac100\r\n").encode() + \
    b"latin-1 \xe9\xe8\xff\r\n"


def big_message(lines=20000):
    """About 1.5 MB: many 76-octet lines, some starting with a dot or "From "."""
    body = b"".join((b"." if i % 7 == 0 else b"From " if i % 11 == 0 else b"") +
                    b"%06d " % i + b"y" * 64 + b"\r\n" for i in range(lines))
    return b"From: carol@remote.test\r\nSubject: big\r\n\r\n" + body


def test_mbsync_starttls_pull_8bit_and_big(srv, workdir):
    sent = [EIGHT_BIT, big_message()]
    deliver(srv, sent)
    local = workdir / "mbsync-pull"
    local.mkdir()
    conf = mbsync_config(srv, workdir, local, starttls=True, sync="Pull")
    out = mbsync(conf, workdir)
    assert "STARTTLS" in out
    got = by_subject(local_messages(local / "INBOX"))
    assert sorted(got) == [b"8bit", b"big"]
    assert strip_trace(strip_tuid(got[b"8bit"][2]).replace(b"\n", b"\r\n")) == EIGHT_BIT
    assert strip_trace(strip_tuid(got[b"big"][2]).replace(b"\n", b"\r\n")) == sent[1]
    # Pull only: a local flag stays local.
    set_local_flags(got[b"big"][0], "F")
    mbsync(conf, workdir)
    assert all(f == set() for f, _ in server_view(srv, "INBOX").values())


# --- curl ---------------------------------------------------------------------

def curl(p, url, *args, user=ALICE, ok=True):
    r, out = run_client(["curl", "-sS", "-v", "--max-time", "60", "--cacert", p.ca,
                         "-u", f"{user}:{PASSWORDS[user]}", *args, url], "curl", ok=ok)
    return r


def test_curl_imaps_list_fetch_by_uid_search_and_append(srv, workdir):
    sent = [message(1), message(2) + (b"x" * 70 + b"\r\n") * 100, message(3)]
    deliver(srv, sent)
    base = f"imaps://127.0.0.1:{srv.imaps_port}"
    # The folders: LIST "" *, one line per folder as the server sent it.
    lines = curl(srv, f"{base}/").stdout.decode().splitlines()
    names = sorted(line.rsplit(" ", 1)[1].strip('"') for line in lines)
    assert names == ["Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"], lines
    assert all(line.startswith("* LIST (") for line in lines), lines
    # Take message 1 out, so that UIDs and sequence numbers differ.
    c = ssl_client(srv)
    c.select("INBOX")
    c.store("1", "+FLAGS", r"(\Deleted)")
    c.expunge()
    c.logout()
    # UID=3 is now sequence number 2: curl's ;UID= is UID FETCH.
    r = curl(srv, f"{base}/INBOX;UID=3")
    assert strip_trace(r.stdout) == sent[2]
    assert b"UID FETCH 3 BODY[]" in r.stderr, r.stderr
    assert strip_trace(curl(srv, f"{base}/INBOX;UID=2").stdout) == sent[1]
    # ;MAILINDEX= is FETCH by sequence number: 1 is now UID 2.
    assert strip_trace(curl(srv, f"{base}/INBOX;MAILINDEX=1").stdout) == sent[1]
    # A section: the header fields asked for, then the blank line.
    r = curl(srv, f"{base}/INBOX;UID=3;SECTION=HEADER.FIELDS%20(SUBJECT%20MESSAGE-ID)")
    assert r.stdout == b"Subject: client 3\r\nMessage-ID: <c3@remote.test>\r\n\r\n"
    r = curl(srv, f"{base}/INBOX;UID=3;SECTION=TEXT")
    assert r.stdout == sent[2].split(b"\r\n\r\n", 1)[1]
    # BODY[] (not PEEK) set \Seen on 2 and 3.
    view = server_view(srv, "INBOX")
    assert {u: f for u, (f, _) in view.items()} == {2: {"\\Seen"}, 3: {"\\Seen"}}
    # A UID that is gone (expunged) is no message at all.
    r = curl(srv, f"{base}/INBOX;UID=1", ok=False)
    assert r.returncode != 0 and r.stdout == b"", r
    # A search and an arbitrary command on the selected folder.
    r = curl(srv, f"{base}/INBOX?SUBJECT%20%22client%202%22")
    assert r.stdout == b"* SEARCH 1\r\n"
    r = curl(srv, f"{base}/INBOX", "-X", "UID SEARCH ALL")
    assert r.stdout == b"* SEARCH 2 3\r\n"
    r = curl(srv, f"{base}/INBOX", "-X", "UID FETCH 2:3 (FLAGS)")
    assert r.stdout == b"* 1 FETCH (UID 2 FLAGS (\\Seen))\r\n* 2 FETCH (UID 3 FLAGS (\\Seen))\r\n"
    # ;UIDVALIDITY= is checked by curl against SELECT's: the right one works,
    # another one fails.
    c = ssl_client(srv)
    c.select("INBOX", readonly=True)
    uidvalidity = int(c.untagged_responses["UIDVALIDITY"][0])
    c.logout()
    r = curl(srv, f"{base}/INBOX;UIDVALIDITY={uidvalidity};UID=3")
    assert strip_trace(r.stdout) == sent[2]
    r = curl(srv, f"{base}/INBOX;UIDVALIDITY={uidvalidity + 1};UID=3", ok=False)
    assert r.returncode != 0 and r.stdout == b""
    # Other commands through -X: STATUS, CREATE, then LIST shows the folder.
    r = curl(srv, f"{base}/", "-X", "STATUS INBOX (MESSAGES UIDNEXT UNSEEN)")
    assert re.fullmatch(rb'\* STATUS ("INBOX"|INBOX) \(MESSAGES 2 UIDNEXT 4 UNSEEN 0\)\r\n',
                        r.stdout), r.stdout
    curl(srv, f"{base}/", "-X", "CREATE Receipts")
    lines = curl(srv, f"{base}/").stdout.decode().splitlines()
    assert any(line.endswith(' "Receipts"') or line.endswith(" Receipts") for line in lines), lines
    r = curl(srv, f"{base}/", "-X", "CREATE Receipts", ok=False)
    assert r.returncode != 0  # it exists: NO
    # An upload is an APPEND, which curl sends with (\Seen): the server
    # holds the bytes and the flag.
    up = workdir / "upload.eml"
    up.write_bytes(message(20, b"uploaded by curl"))
    r = curl(srv, f"{base}/Sent", "-T", str(up))
    assert b"APPEND Sent (\\Seen) {" in r.stderr, r.stderr
    view = server_view(srv, "Sent")
    assert list(view.items()) == [(1, ({"\\Seen"}, message(20, b"uploaded by curl")))]
    # STARTTLS on the plain port, which curl must insist on.
    r = curl(srv, f"imap://127.0.0.1:{srv.imap_port}/Sent;UID=1", "--ssl-reqd")
    assert r.stdout == message(20, b"uploaded by curl")
    assert b"STARTTLS" in r.stderr
    # A wrong password fails.
    r = subprocess.run(["curl", "-sS", "--max-time", "60", "--cacert", srv.ca, "-u",
                        f"{ALICE}:wrong", f"{base}/"], capture_output=True, timeout=CLIENT_TIMEOUT)
    assert r.returncode == 67, r  # CURLE_LOGIN_DENIED


# --- offlineimap3 -----------------------------------------------------------

def offlineimap_config(p, workdir, local):
    conf = workdir / "offlineimaprc"
    conf.write_text(
        "[general]\n"
        "accounts = alice\n"
        f"metadata = {workdir}/offlineimap-meta\n"
        "maxsyncaccounts = 1\n"
        "\n"
        "[Account alice]\n"
        "localrepository = local\n"
        "remoterepository = remote\n"
        "\n"
        "[Repository local]\n"
        "type = Maildir\n"
        f"localfolders = {local}\n"
        "\n"
        "[Repository remote]\n"
        "type = IMAP\n"
        "remotehost = localhost\n"
        f"remoteport = {p.imaps_port}\n"
        f"remoteuser = {ALICE}\n"
        f"remotepass = {PASSWORDS[ALICE]}\n"
        "ssl = yes\n"
        f"sslcacertfile = {p.ca}\n"
        "maxconnections = 1\n"
        "holdconnectionopen = no\n"
        "folderfilter = lambda f: f not in ('Junk',)\n")
    conf.chmod(stat.S_IRUSR | stat.S_IWUSR)
    return conf


def offlineimap(conf, workdir):
    r, out = run_client(["offlineimap", "-c", str(conf), "-o", "-u", "basic", "-d", "imap"],
                        "offlineimap", env={"HOME": str(workdir)})
    # offlineimap exits 0 even when a folder failed: its log says so.
    assert "ERROR" not in out and "Traceback" not in out, out
    return out


def test_offlineimap_two_way(srv, workdir):
    sent = [message(i) for i in range(1, 4)]
    deliver(srv, sent)
    local = workdir / "oi-mail"
    conf = offlineimap_config(srv, workdir, local)

    # 1. The delivered mail and the folders (but not the filtered Junk) arrive.
    offlineimap(conf, workdir)
    assert sorted(os.listdir(local)) == ["Archive", "Drafts", "INBOX", "Sent", "Trash"]
    inbox = by_subject(local_messages(local / "INBOX"))
    assert sorted(inbox) == [b"client 1", b"client 2", b"client 3"]
    for i, m in enumerate(sent, 1):
        path, flags, data = inbox[b"client %d" % i]
        assert flags == set()
        assert re.search(r",U=%d," % i, path.name), path  # the server's UID
        assert strip_trace(data.replace(b"\n", b"\r\n")) == m
    assert all(f == set() for f, _ in server_view(srv, "INBOX").values())

    # 2. Local flag changes and a local deletion go up.
    set_local_flags(inbox[b"client 1"][0], "S")
    set_local_flags(inbox[b"client 2"][0], "DF")
    inbox[b"client 3"][0].unlink()
    offlineimap(conf, workdir)
    view = server_view(srv, "INBOX")
    assert {u: f for u, (f, _) in view.items()} == {1: {"\\Seen"}, 2: {"\\Draft", "\\Flagged"}}
    assert strip_trace(view[2][1]) == sent[1]

    # 3. Server changes come down: a flag, an expunge, a new delivery.
    c = ssl_client(srv)
    c.select("INBOX")
    assert c.uid("STORE", "2", "-FLAGS", r"(\Draft)")[0] == "OK"
    assert c.uid("STORE", "2", "+FLAGS", r"(\Answered)")[0] == "OK"
    assert c.uid("STORE", "1", "+FLAGS", r"(\Deleted)")[0] == "OK"
    assert c.expunge()[0] == "OK"
    c.logout()
    deliver(srv, [message(4)])
    offlineimap(conf, workdir)
    inbox = by_subject(local_messages(local / "INBOX"))
    assert sorted(inbox) == [b"client 2", b"client 4"]
    assert inbox[b"client 2"][1] == {"\\Flagged", "\\Answered"}
    assert inbox[b"client 4"][1] == set()
    assert ",U=4," in inbox[b"client 4"][0].name
    assert strip_trace(inbox[b"client 4"][2].replace(b"\n", b"\r\n")) == message(4)

    # 4. A message put into a local folder is uploaded with its flags, and the
    #    local file then carries the UID the server gave it.
    archived = message(10, b"archived by offlineimap")
    put_local(local / "Archive", "1764842400.M1P1.client", lf(archived), "FS")
    offlineimap(conf, workdir)
    view = server_view(srv, "Archive")
    assert len(view) == 1, view
    (uid, (flags, data)), = view.items()
    assert flags == {"\\Flagged", "\\Seen"}
    # Without UIDPLUS offlineimap adds a header of its own to find the message
    # again; with it, the bytes are unchanged.
    data = re.sub(rb"X-OfflineIMAP: [^\r\n]*\r\n", b"", data, count=1)
    assert data == archived
    got = local_messages(local / "Archive")
    assert len(got) == 1 and f",U={uid}," in next(iter(got)).name, got

    # 5. A folder made locally (nested, with the "." both sides use) is
    #    created on the server with its message.
    note = message(11, b"a note")
    put_local(local / "Notes.2026", "1764842401.M2P1.client", lf(note), "S")
    for sub in ("cur", "new", "tmp"):  # offlineimap creates the parent on the server
        (local / "Notes" / sub).mkdir(parents=True)  # and wants it locally too
    offlineimap(conf, workdir)
    view = server_view(srv, "Notes.2026")
    assert [(f, re.sub(rb"X-OfflineIMAP: [^\r\n]*\r\n", b"", d, count=1))
            for f, d in view.values()] == [({"\\Seen"}, note)]
    c = ssl_client(srv)
    typ, data = c.list('""', "Notes*")
    c.logout()
    assert sorted(d.decode().rsplit(" ", 1)[1].strip('"') for d in data) == ["Notes", "Notes.2026"]

    # 6. A sync with nothing changed changes nothing either side.
    before_local, before_server = local_messages(local / "INBOX"), server_view(srv, "INBOX")
    offlineimap(conf, workdir)
    assert local_messages(local / "INBOX") == before_local
    assert server_view(srv, "INBOX") == before_server


# --- fetchmail ----------------------------------------------------------------

def fetchmail(p, workdir, name, options, tls="ssl", expect_rc=0):
    """One fetchmail run in IMAP mode; each message into a file of its own.
    Returns (the messages it handed over, fetchmail's output)."""
    out = workdir / f"fetched-{name}"
    out.mkdir()
    mda = workdir / f"mda-{name}.sh"
    mda.write_text(f'#!/bin/sh\nexec cat > "$(mktemp {out}/msg.XXXXXX)"\n')
    mda.chmod(0o755)
    port = p.imaps_port if tls == "ssl" else p.imap_port
    rc = workdir / f"fetchmailrc-{name}"
    rc.write_text(
        f'poll 127.0.0.1 with proto IMAP service {port}\n'
        f'  user "{ALICE}" there with password "{PASSWORDS[ALICE]}" is root here\n'
        f'  {"ssl " if tls == "ssl" else ""}sslproto "tls1.2+" sslcertck '
        f'sslcertfile "{p.ca}" sslcommonname "mx.example.test"\n'
        f'  {options}\n'
        f'  mda "{mda}"\n')
    rc.chmod(stat.S_IRUSR | stat.S_IWUSR)
    r, text = run_client(["fetchmail", "-f", str(rc), "--invisible", "--nosyslog", "-v", "-v",
                          "--pidfile", str(workdir / f"fetchmail-{name}.pid")],
                         "fetchmail", env={"HOME": str(workdir)}, ok=False)
    assert r.returncode == expect_rc, f"fetchmail exited with {r.returncode}:\n{text}"
    got = [f.read_bytes() for f in out.iterdir()]
    return sorted(strip_trace(g.replace(b"\n", b"\r\n")) for g in got), text


def test_fetchmail_imap_keep_unseen_then_delete(srv, workdir):
    sent = [message(1), message(2), message(3)]
    deliver(srv, sent)
    # keep: everything fetched, left on the server and now \Seen.
    got, out = fetchmail(srv, workdir, "keep", "keep")
    assert got == sorted(sent)
    view = server_view(srv, "INBOX")
    assert {u: f for u, (f, _) in view.items()} == {1: {"\\Seen"}, 2: {"\\Seen"}, 3: {"\\Seen"}}
    assert [strip_trace(d) for _, d in view.values()] == sent
    # Again: nothing unseen, nothing fetched (fetchmail's exit code 1, "no mail").
    got, out = fetchmail(srv, workdir, "again", "keep", expect_rc=1)
    assert got == []
    # A new message, fetched without keep: only it, then deleted and expunged.
    deliver(srv, [message(4)])
    got, out = fetchmail(srv, workdir, "nokeep", "nokeep", tls="starttls")
    assert got == [message(4)]
    assert "STARTTLS" in out
    assert sorted(server_view(srv, "INBOX")) == [1, 2, 3]
    # fetchall without keep: the three seen ones, and the mailbox is empty.
    got, out = fetchmail(srv, workdir, "all", "nokeep fetchall")
    assert got == sorted(sent)
    assert server_view(srv, "INBOX") == {}
    assert count_messages(srv, ALICE) == 0


def test_fetchmail_imap_other_folder_and_wrong_password(srv, workdir):
    c = ssl_client(srv)
    for i in (1, 2):
        assert c.append("Archive", None, None, message(i, b"archived %d" % i))[0] == "OK"
    c.logout()
    got, out = fetchmail(srv, workdir, "archive", "folder Archive nokeep")
    assert got == sorted(message(i, b"archived %d" % i) for i in (1, 2))
    assert server_view(srv, "Archive") == {}
    # A wrong password: fetchmail's exit code 3, authentication failed.
    rc = workdir / "fetchmailrc-wrong"
    rc.write_text(
        f'poll 127.0.0.1 with proto IMAP service {srv.imaps_port}\n'
        f'  user "{ALICE}" there with password "wrong" is root here\n'
        f'  ssl sslcertck sslcertfile "{srv.ca}" sslcommonname "mx.example.test"\n'
        f'  mda "/bin/false"\n')
    rc.chmod(stat.S_IRUSR | stat.S_IWUSR)
    r, text = run_client(["fetchmail", "-f", str(rc), "--invisible", "--nosyslog", "-v",
                          "--pidfile", str(workdir / "fetchmail-wrong.pid")], "fetchmail",
                         env={"HOME": str(workdir)}, ok=False)
    assert r.returncode == 3, text
