"""Issue 5: the sendmail command, queue control, reload and shutdown,
through the real binary (and s-nail as a real program that uses sendmail)."""
import email
import json
import os
import pathlib
import pwd
import signal
import smtplib
import socket
import subprocess
import threading
import time

import pytest

from conftest import BIN as _BIN, Raw, wait_until

BIN = os.path.abspath(_BIN)

BOB, ALICE = "bob@example.test", "alice@example.test"


def sendmail(p, args, data, user=None, argv0=None, env_conf=True):
    env = dict(os.environ)
    cmd = [BIN, "sendmail"] + args
    if argv0:
        cmd = [argv0] + args
    if env_conf:
        env["POSTERN_CONF"] = str(p.conf_path)
    if user:
        cmd = ["setpriv", f"--reuid={user}", "--regid=nogroup", "--clear-groups"] + cmd
    return subprocess.run(cmd, input=data, capture_output=True, env=env, timeout=60)


def subjects(msgs):
    return sorted(email.message_from_bytes(m)["Subject"] for m in msgs)


def test_cron_style_sendmail_reaches_the_maildir(postern):
    r = sendmail(postern, [BOB], b"Subject: cron job\n\nbackup done\n")
    assert r.returncode == 0, r.stderr
    [got] = postern.wait_messages(BOB, 1)
    m = email.message_from_bytes(got)
    assert m["Subject"] == "cron job" and m["From"] == "root@mx.example.test"
    assert m["Date"] and m["Message-ID"] and "from userid 0" in m["Received"]
    assert got.endswith(b"\n\nbackup done\n")


def test_sendmail_while_daemon_down_is_delivered_once_it_starts(make_postern):
    p = make_postern(start=False)
    r = sendmail(p, [ALICE], b"Subject: queued while down\n\nhello\n")
    assert r.returncode == 0, r.stderr
    assert p.messages(ALICE) == []
    p.start()
    [got] = p.wait_messages(ALICE, 1)
    assert b"queued while down" in got
    time.sleep(1.5)  # a second pickup round must not deliver it again
    assert len(p.messages(ALICE)) == 1
    assert list((p.data_dir / "queue" / "drop").iterdir()) == []


def test_dash_t_bcc_removed_dash_f_and_dash_F(postern):
    msg = b"To: alice@example.test\nCc: Carol <carol@example.org>\nBcc: bob@example.test\nSubject: t\n\nbody\n"
    r = sendmail(postern, ["-t", "-f", "reports@example.test", "-F", "Report Bot"], msg)
    assert r.returncode == 0, r.stderr
    for addr in (ALICE, BOB, "carol@example.org"):
        [got] = postern.wait_messages(addr, 1)
        m = email.message_from_bytes(got)
        assert "Bcc" not in m  # the blind copy leaves no trace in the header
        assert m["Return-Path"] == "<reports@example.test>"
        assert m["From"] == '"Report Bot" <reports@example.test>'


def test_lone_dot_ends_input_unless_dash_i(postern):
    assert sendmail(postern, [BOB], b"Subject: one\n\nbefore\n.\nafter\n").returncode == 0
    assert sendmail(postern, ["-i", BOB], b"Subject: two\n\nbefore\n.\nafter\n").returncode == 0
    assert sendmail(postern, ["-oi", BOB], b"Subject: three\n\n.\n").returncode == 0
    got = {email.message_from_bytes(m)["Subject"]: m for m in postern.wait_messages(BOB, 3)}
    assert got["one"].endswith(b"\n\nbefore\n")
    assert got["two"].endswith(b"\n\nbefore\n.\nafter\n")
    assert got["three"].endswith(b"\n\n.\n")


@pytest.mark.parametrize("args,data,code,text", [
    ([], b"Subject: x\n\nno rcpt\n", 64, b"no recipients"),
    (["-t"], b"Subject: no to\n\nx\n", 64, b"no recipients"),
    ([BOB], b"Subject: bin\n\n\x00\x01\x02binary\n", 65, b"NUL"),
    ([BOB], b"Subject: long\n\n" + b"x" * 5000 + b"\n", 65, b"998"),
    (["not an address@@"], b"Subject: x\n\nx\n", 65, b"not a valid address"),
    (["-X"], b"", 64, b"unknown option"),
])
def test_sendmail_bad_input_exit_codes(postern, args, data, code, text):
    r = sendmail(postern, args, data)
    assert r.returncode == code, r
    assert text in r.stderr and r.stderr.count(b"\n") == 1  # one line on stderr


def test_sendmail_message_over_the_limit_and_unreadable_input(make_postern, workdir):
    p = make_postern({"limits": {"message_size": "1M"}})
    big = b"Subject: big\n\n" + (b"y" * 900 + b"\n") * 2400  # about 2 MiB
    r = sendmail(p, [BOB], big)
    assert r.returncode == 65 and b"larger than the limit" in r.stderr
    not_a_file = os.open(workdir, os.O_RDONLY)  # reading a directory fails: EISDIR
    try:
        r = subprocess.run([BIN, "sendmail", BOB], stdin=not_a_file, capture_output=True,
                           env=dict(os.environ, POSTERN_CONF=str(p.conf_path)))
    finally:
        os.close(not_a_file)
    assert r.returncode == 66 and b"cannot read" in r.stderr


def test_sendmail_cannot_queue_is_tempfail(make_postern):
    p = make_postern(start=False)
    p.data_dir.parent.mkdir(exist_ok=True)
    p.data_dir.write_text("a file where the data_dir should be\n")
    r = sendmail(p, [BOB], b"Subject: x\n\nx\n")
    assert r.returncode == 75 and b"cannot queue" in r.stderr


def test_unprivileged_user_cannot_forge_the_sender(postern):
    r = sendmail(postern, ["-f", "ceo@example.test", BOB], b"Subject: forged\n\nx\n", user="nobody")
    assert r.returncode == 0, r.stderr
    [got] = postern.wait_messages(BOB, 1)
    m = email.message_from_bytes(got)
    assert m["Return-Path"] == "<nobody@mx.example.test>"
    assert m["From"] == "nobody@mx.example.test"


def test_hand_written_drop_files_cannot_inject(postern):
    drop = postern.data_dir / "queue" / "drop"
    # Envelope injection through an escaped newline, and a bare LF in the text.
    (drop / "evil1").write_bytes(b"postern-drop 1\nsender -\nfullname -\nrcpt bob@example.test%0Arcpt%20alice@example.test\n\nSubject: x\r\n\r\nx\r\n")
    (drop / "evil2").write_bytes(b"postern-drop 1\nsender -\nfullname -\nrcpt bob@example.test\n\nSubject: x\r\n\r\nsmuggled\n.\nMAIL FROM:<a@b>\r\n")
    (drop / "evil3").write_bytes(b"not a drop file at all\n")
    wait_until(lambda: len(list((postern.data_dir / "queue" / "corrupt").glob("drop-*"))) == 3,
               what="three rejected drop files\n" + postern.log())
    assert postern.messages(BOB) == [] and postern.messages(ALICE) == []
    assert postern.log().count("event=pickup_rejected") == 3


def test_sendmail_and_mailq_by_their_names(postern, workdir):
    link_dir = workdir / "bin"
    link_dir.mkdir()
    (link_dir / "sendmail").symlink_to(BIN)
    (link_dir / "mailq").symlink_to(BIN)
    r = sendmail(postern, ["-oi", BOB], b"Subject: via symlink\n\nx\n", argv0=str(link_dir / "sendmail"))
    assert r.returncode == 0, r.stderr
    postern.wait_messages(BOB, 1)
    out = subprocess.run([str(link_dir / "mailq")], capture_output=True,
                         env=dict(os.environ, POSTERN_CONF=str(postern.conf_path)))
    assert out.returncode == 0 and b"Mail queue is empty" in out.stdout


def test_s_nail_uses_sendmail(postern, workdir):
    link = workdir / "sendmail"
    link.symlink_to(BIN)
    env = dict(os.environ, POSTERN_CONF=str(postern.conf_path), HOME=str(workdir), MAILRC="/dev/null")
    r = subprocess.run(["s-nail", "-n", "-#", "-S", f"mta={link}", "-S", "sendwait",
                        "-s", "from s-nail", BOB], input=b"written in s-nail\n",
                       capture_output=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    [got] = postern.wait_messages(BOB, 1)
    m = email.message_from_bytes(got)
    assert m["Subject"] == "from s-nail" and b"written in s-nail" in got


def test_sendmail_bs_speaks_smtp_on_stdio(postern):
    dialogue = (b"EHLO local\r\nMAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\n"
                b"DATA\r\nSubject: bs\r\n\r\n..dotted\r\n.\r\nQUIT\r\n")
    r = sendmail(postern, ["-bs"], dialogue)
    assert r.returncode == 0
    codes = [line[:3] for line in r.stdout.split(b"\r\n") if line[:3].isdigit() and line[3:4] == b" "]
    assert codes == [b"220", b"250", b"250", b"250", b"354", b"250", b"221"], r.stdout
    [got] = postern.wait_messages(BOB, 1)
    assert got.endswith(b"\n\n.dotted\n")


# --- queue control ---------------------------------------------------------

def broken_mailbox(p, addr):
    """Delivery to addr fails (and is retried) while its Maildir path is a file."""
    box = p.maildir(addr)
    box.parent.mkdir(parents=True, exist_ok=True)
    for d in (box.parent.parent, box.parent):  # the daemon's, as it would make them
        os.chown(d, pwd.getpwnam("postern").pw_uid, pwd.getpwnam("postern").pw_gid)
    box.write_text("not a directory\n")
    return box


def queue(p, *args):
    return subprocess.run([BIN, "-c", str(p.conf_path), "queue", *args], capture_output=True, timeout=30)


def test_queue_commands_on_a_deferred_message(make_postern):
    p = make_postern({"relay": {"retry": "1h"}})
    box = broken_mailbox(p, BOB)
    assert sendmail(p, [BOB], b"Subject: stuck\n\nx\n").returncode == 0
    wait_until(lambda: "event=deferred" in p.log(), what="a deferral\n" + p.log())
    [qid] = p.queue_ids()
    out = queue(p, "list").stdout.decode()
    assert qid in out and BOB in out and "local delivery failed" in out and "next attempt in" in out
    data = json.loads(queue(p, "list", "--json").stdout)
    assert data[0]["id"] == qid and data[0]["recipients"][0]["state"] == "pending"
    assert data[0]["recipients"][0]["attempts"] == 1
    show = queue(p, "show", qid).stdout.decode()
    assert f"id {qid}" in show and "Subject: stuck" in show
    # hold: a flush does not try it
    assert queue(p, "hold", qid).returncode == 0
    assert json.loads(queue(p, "list", "--json").stdout)[0]["held"] is True
    box.unlink()
    assert queue(p, "flush", qid).returncode == 0
    time.sleep(1)
    assert p.messages(BOB) == []
    # release: tried at once, delivered
    assert queue(p, "release", qid).returncode == 0
    p.wait_messages(BOB, 1)
    wait_until(lambda: p.queue_ids() == [], what="the queue to empty")
    r = queue(p, "delete", qid)
    assert r.returncode == 1 and b"no such message" in r.stderr


def test_queue_flush_retries_now_and_delete_removes(make_postern):
    p = make_postern({"relay": {"retry": "1h"}})
    box = broken_mailbox(p, BOB)
    assert sendmail(p, [BOB], b"Subject: a\n\nx\n").returncode == 0
    assert sendmail(p, [BOB], b"Subject: b\n\nx\n").returncode == 0
    wait_until(lambda: p.log().count("event=deferred") >= 2, what="two deferrals")
    ids = p.queue_ids()
    assert len(ids) == 2
    box.unlink()
    assert queue(p, "delete", ids[0]).returncode == 0
    r = queue(p, "flush")
    assert r.returncode == 0 and b"1 message" in r.stdout
    [got] = p.wait_messages(BOB, 1)
    wait_until(lambda: p.queue_ids() == [], what="the queue to empty")
    assert queue(p, "list").stdout.strip() == b"Mail queue is empty"


def test_queue_list_and_show_work_while_the_daemon_is_down(make_postern):
    p = make_postern(start=False)
    assert sendmail(p, [BOB], b"Subject: x\n\nx\n").returncode == 0
    r = queue(p, "flush")
    assert r.returncode == 1 and b"not running" in r.stderr
    p.start()
    p.wait_messages(BOB, 1)
    p.stop()
    r = queue(p, "list")
    assert r.returncode == 0 and b"Mail queue is empty" in r.stdout
    assert queue(p, "show", "NOSUCHID").returncode == 1
    assert queue(p, "hold", "../../etc").returncode == 1


def test_control_socket_is_private(postern):
    sock = postern.data_dir / "run" / "control"
    st = sock.stat()
    assert oct(st.st_mode & 0o777) == "0o660"
    r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                        BIN, "-c", str(postern.conf_path), "queue", "flush"], capture_output=True)
    assert r.returncode == 1


# --- lifecycle ---------------------------------------------------------------

def test_second_daemon_on_the_same_data_dir_refuses(postern, make_postern):
    other = subprocess.run([BIN, "-c", str(postern.conf_path), "serve"], capture_output=True, timeout=30)
    assert other.returncode == 1
    assert b"already running" in other.stderr and str(postern.proc.pid).encode() in other.stderr
    pid = (postern.data_dir / "run" / "postern.pid").read_text().strip()
    assert pid == str(postern.proc.pid)


def test_sighup_during_live_sessions_applies_new_settings(make_postern):
    postern = make_postern({"limits": {"connections_per_ip": "100"}})
    sessions = []
    for _ in range(50):
        c = Raw(postern.port)
        c.ehlo()
        sessions.append(c)
    # a new user and a smaller size limit
    with open(postern.dir / "users", "a") as f:
        f.write("dave@example.test:!\n")
    postern.settings["limits"] = {"message_size": "64K"}
    postern.write_conf()
    postern.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "event=reloaded" in postern.log(), what="a reload")
    for i, c in enumerate(sessions):  # none was dropped, each still works
        c.expect("MAIL FROM:<x@remote.test>", 250)
        c.expect("RCPT TO:<dave@example.test>", 250)
        c.expect("DATA", 354)
        c.send(b"Subject: s%d\r\n\r\nx\r\n.\r\n" % i)
        assert c.reply()[0] == 250
        c.close()
    postern.wait_messages("dave@example.test", 50)
    with Raw(postern.port) as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@remote.test> SIZE=100000", 552)


def test_broken_configuration_on_sighup_keeps_the_old_one(postern):
    good = postern.conf_path.read_text()
    postern.conf_path.write_text(good + "\n[limits]\nrecipients = lots\n")
    postern.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "event=reload_failed" in postern.log(), what="a refused reload")
    assert "recipients" in postern.log().split("event=reload_failed")[1]
    with Raw(postern.port) as c:  # still serving with the old configuration
        c.ehlo()
        c.expect("MAIL FROM:<x@remote.test>", 250)
        c.expect("RCPT TO:<bob@example.test>", 250)
    postern.conf_path.write_text(good)


def test_sigterm_during_data_commits_or_refuses_never_half(make_postern):
    p = make_postern({"server": {"shutdown_grace": "5s"}})
    idle = Raw(p.port)
    idle.ehlo()
    c = Raw(p.port)
    c.ehlo()
    c.expect("MAIL FROM:<x@remote.test>", 250)
    c.expect("RCPT TO:<bob@example.test>", 250)
    c.expect("DATA", 354)
    c.send(b"Subject: during shutdown\r\n\r\nfirst half\r\n")
    p.proc.send_signal(signal.SIGTERM)
    # the idle session is told at once
    assert idle.reply()[0] == 421
    c.send(b"second half\r\n.\r\n")
    code, text = c.reply()
    assert code == 250, text  # finished within the grace period: committed
    assert c.reply()[0] == 421  # then goodbye
    p.proc.wait(timeout=20)
    p.proc = None
    p.start()
    [got] = p.wait_messages(BOB, 1)
    assert got.endswith(b"first half\nsecond half\n")


def test_sigterm_grace_over_drops_the_unfinished_message(make_postern):
    p = make_postern({"server": {"shutdown_grace": "500ms"}})
    c = Raw(p.port)
    c.ehlo()
    c.expect("MAIL FROM:<x@remote.test>", 250)
    c.expect("RCPT TO:<bob@example.test>", 250)
    c.expect("DATA", 354)
    c.send(b"Subject: never finished\r\n\r\npartial")
    p.proc.send_signal(signal.SIGTERM)
    p.proc.wait(timeout=20)
    p.proc = None
    p.start()
    time.sleep(1)
    assert p.messages(BOB) == [] and p.queue_ids() == []


def test_help_for_every_command():
    for args in (["help"], ["serve", "--help"], ["user", "--help"], ["queue", "--help"], ["check", "--help"]):
        r = subprocess.run([BIN] + args, capture_output=True)
        assert r.returncode == 0 and b"sendmail" in r.stdout and b"queue flush" in r.stdout


def test_make_install_into_destdir(workdir):
    root = pathlib.Path(__file__).resolve().parents[2]
    dest = workdir / "dest"
    r = subprocess.run(["make", "-s", "-C", str(root), "install-files", f"DESTDIR={dest}",
                        f"POSTERN_BIN={BIN}"], capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert (dest / "usr/sbin/postern").is_file()
    assert os.readlink(dest / "usr/sbin/sendmail") == "postern"
    assert os.readlink(dest / "usr/bin/mailq") == "../sbin/postern"
    assert (dest / "lib/systemd/system/postern.service").is_file()


def test_sendmail_to_an_unknown_local_user_bounces_to_the_sender(postern):
    r = sendmail(postern, ["-f", ALICE, "nobody-here@example.test", BOB],
                 b"Subject: partly wrong\n\nx\n")
    assert r.returncode == 0, r.stderr
    postern.wait_messages(BOB, 1)  # the good recipient still gets it
    [dsn] = postern.wait_messages(ALICE, 1)
    m = email.message_from_bytes(dsn)
    assert m.get_content_type() == "multipart/report"
    assert m["Return-Path"] == "<>"
    report = [part for part in m.walk() if part.get_content_type() == "message/delivery-status"][0]
    text = report.as_string()
    assert "nobody-here@example.test" in text and "5.1.1" in text and "failed" in text
    wait_until(lambda: postern.queue_ids() == [], what="the queue to empty")
