"""Inbound delivery through the real binary: smtplib, raw sockets and swaks
send messages; the tests read the Maildir files back and compare bytes."""
import re
import smtplib
import subprocess

import pytest

from conftest import (
    DEFAULT_USERS,
    Raw,
    body_of,
    delivered_files,
    wait_queue_empty,
    wait_until,
)


def lf(b):
    return b.replace(b"\r\n", b"\n")


def trace_headers(got):
    """The lines Postern put on top (Return-Path, Delivered-To, Received)."""
    return got[: len(got) - len(body_of(got))]


def test_plain_smtplib_bytes_and_trace_headers(postern):
    msg = (
        b"From: x@remote.test\r\nTo: alice@example.test\r\nSubject: plain\r\n\r\n"
        b"line one\r\n.starts with a dot\r\n..two dots\r\n\r\n \ttrailing space \r\nlast\r\n"
    )
    with smtplib.SMTP("127.0.0.1", postern.port) as s:
        s.ehlo("client.remote.test")
        refused = s.sendmail("x@remote.test", ["alice@example.test"], msg)
        assert refused == {}
    [got] = postern.wait_messages("alice@example.test", 1)
    assert body_of(got) == lf(msg)
    head = trace_headers(got).decode()
    assert head.startswith("Return-Path: <x@remote.test>\nDelivered-To: alice@example.test\n")
    m = re.search(
        r"Received: from client\.remote\.test \(127\.0\.0\.1\)\n\tby mx\.example\.test "
        r"\(Postern\) with ESMTP id ([0-9A-Z]+)\n\tfor <alice@example\.test>;\n\t"
        r"\w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d \+0000\n$",
        head,
    )
    assert m, head
    assert m.group(1) in postern.log()  # the same id is in the log
    # The Maildir name follows the rules: no '/' or ':', not hidden, S=size,
    # and W=size with CRLF line endings (Dovecot's naming; POP3 uses it).
    [name] = [f for f in delivered_files(postern)]
    base = name.split("/")[-1]
    assert not base.startswith(".") and ":" not in base
    assert base.endswith(f",S={len(got)},W={len(got) + got.count(10)}")
    wait_queue_empty(postern)


def test_helo_gives_smtp_protocol_in_received(postern):
    with smtplib.SMTP("127.0.0.1", postern.port) as s:
        s.helo("old.remote.test")
        s.sendmail("x@remote.test", ["bob@example.test"], b"Subject: helo\r\n\r\nbody\r\n")
    [got] = postern.wait_messages("bob@example.test", 1)
    assert b"Received: from old.remote.test (127.0.0.1)\n\tby mx.example.test (Postern) with SMTP id " in got


def test_8bit_body(postern):
    msg = (
        "From: x@remote.test\r\nSubject: =?utf-8?q?8bit?=\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\nGrüße, ½ € 日本語\r\n"
    ).encode() + b"latin-1 byte \xe9 and \xff\r\n"
    with smtplib.SMTP("127.0.0.1", postern.port) as s:
        s.ehlo("client.remote.test")
        s.sendmail("x@remote.test", ["alice@example.test"], msg, mail_options=["BODY=8BITMIME"])
    [got] = postern.wait_messages("alice@example.test", 1)
    assert body_of(got) == lf(msg)


def test_smtputf8_addresses(make_postern):
    p = make_postern(users=DEFAULT_USERS + ["ñandú@example.test"])
    msg = "From: jösé@rémote.test\r\nTo: ñandú@example.test\r\nSubject: ütf8\r\n\r\nhola ñandú\r\n".encode()
    with smtplib.SMTP("127.0.0.1", p.port) as s:
        s.ehlo("client.remote.test")
        assert s.has_extn("smtputf8")
        refused = s.sendmail("jösé@rémote.test", ["ñandú@example.test"], msg, mail_options=["SMTPUTF8"])
        assert refused == {}
    [got] = p.wait_messages("ñandú@example.test", 1)
    assert body_of(got) == lf(msg)
    head = trace_headers(got).decode()
    assert head.startswith("Return-Path: <jösé@rémote.test>\nDelivered-To: ñandú@example.test\n")
    assert " with UTF8SMTP id " in head
    assert (p.data_dir / "mail" / "example.test" / "ñandú" / "new").is_dir()


def test_utf8_address_without_smtputf8_is_553(make_postern):
    p = make_postern(users=DEFAULT_USERS + ["ñandú@example.test"])
    with Raw(p.port) as c:
        c.ehlo()
        c.expect("MAIL FROM:<jösé@rémote.test>", 553, "5.6.7")
        c.expect("MAIL FROM:<x@remote.test>", 250)
        c.expect("RCPT TO:<ñandú@example.test>", 553, "5.6.7")
        # Invalid UTF-8 is refused even with SMTPUTF8.
        c.expect(b"RSET", 250)
        c.expect(b"MAIL FROM:<j\xc3\x28@remote.test> SMTPUTF8", 553, "5.6.7")
        c.expect(b"MAIL FROM:<j\xff@remote.test> SMTPUTF8", 553, "5.6.7")
        c.expect(b"MAIL FROM:<j\xc0\xafk@remote.test> SMTPUTF8", 553, "5.6.7")  # overlong '/'
        c.expect("QUIT", 221)
    assert delivered_files(p) == []


def test_pipelined_group_in_one_write(postern):
    content = b"Subject: pipelined\r\n\r\none write\r\n"
    with Raw(postern.port) as c:
        c.ehlo()
        c.send(
            b"MAIL FROM:<x@remote.test>\r\n"
            b"RCPT TO:<alice@example.test>\r\n"
            b"RCPT TO:<nobody@example.test>\r\n"
            b"RCPT TO:<bob@example.test>\r\n"
            b"DATA\r\n"
        )
        assert c.reply()[0] == 250
        assert c.reply()[0] == 250
        assert c.reply()[0] == 550
        assert c.reply()[0] == 250
        assert c.reply()[0] == 354
        # The content, the terminator and the next group in one write too.
        c.send(content + b".\r\nRSET\r\nNOOP\r\n")
        code, text = c.reply()
        assert code == 250 and b"queued as" in text
        assert c.reply()[0] == 250
        assert c.reply()[0] == 250
        c.expect("QUIT", 221)
    for who in ("alice@example.test", "bob@example.test"):
        [got] = postern.wait_messages(who, 1)
        assert body_of(got) == lf(content)
        assert b"\tfor <" not in got  # several recipients: no "for" clause


def test_pipelined_transactions_back_to_back(postern):
    """Two whole transactions, each sent as groups without waiting."""
    with Raw(postern.port) as c:
        c.ehlo()
        for i in range(2):
            c.send(b"MAIL FROM:<x@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n")
            assert [c.reply()[0] for _ in range(3)] == [250, 250, 354]
            c.send(b"Subject: %d\r\n\r\nbody %d\r\n.\r\n" % (i, i))
            assert c.reply()[0] == 250
        c.expect("QUIT", 221)
    got = postern.wait_messages("alice@example.test", 2)
    assert sorted(body_of(g) for g in got) == [b"Subject: 0\n\nbody 0\n", b"Subject: 1\n\nbody 1\n"]


def test_bdat_several_chunks_and_zero_length_last(postern):
    parts = [
        b"Subject: chunked\r\n\r\nfirst ",
        b"line\r",  # a CRLF split across two chunks
        b"\n.\r\n..not stuffed in BDAT\r\n",
        b"\xc3\xa9t\xc3\xa9 8-bit\r\n",
    ]
    with Raw(postern.port) as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@remote.test> BODY=8BITMIME", 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        total = 0
        for part in parts:
            c.send(b"BDAT %d\r\n" % len(part) + part)
            total += len(part)
            code, text = c.reply()
            assert code == 250, text
        code, text = c.cmd("BDAT 0 LAST")
        assert code == 250 and b"queued as" in text, text
        c.expect("QUIT", 221)
    [got] = postern.wait_messages("alice@example.test", 1)
    assert body_of(got) == lf(b"".join(parts))
    assert b".\n..not stuffed in BDAT\n" in got


def test_bdat_pipelined_in_one_write_and_last_without_crlf(postern):
    a, b = b"Subject: one write\r\n\r\nab", b"cd\r\nno final newline"
    with Raw(postern.port) as c:
        c.ehlo()
        c.send(
            b"MAIL FROM:<x@remote.test>\r\nRCPT TO:<bob@example.test>\r\n"
            + b"BDAT %d\r\n" % len(a) + a
            + b"BDAT %d LAST\r\n" % len(b) + b
        )
        codes = [c.reply()[0] for _ in range(4)]
        assert codes == [250, 250, 250, 250]
        c.expect("QUIT", 221)
    [got] = postern.wait_messages("bob@example.test", 1)
    # The last line gets its CRLF (LF in the Maildir copy).
    assert body_of(got) == b"Subject: one write\n\nabcd\nno final newline\n"


def test_bdat_before_mail_is_consumed_then_503(postern):
    with Raw(postern.port) as c:
        c.ehlo()
        # The chunk holds commands: they must be swallowed as data, never run.
        chunk = b"MAIL FROM:<evil@remote.test>\r\nQUIT\r\n"
        c.send(b"BDAT %d\r\n" % len(chunk) + chunk)
        code, text = c.reply()
        assert code == 503 and text.startswith(b"5.5.1"), text
        c.expect("NOOP", 250)
        # BDAT LAST before MAIL too.
        c.send(b"BDAT 5 LAST\r\nQUIT\r")
        assert c.reply()[0] == 503
        c.expect("NOOP", 250)
        # After MAIL but before RCPT.
        c.expect("MAIL FROM:<x@remote.test>", 250)
        c.send(b"BDAT 6 LAST\r\nRSET\r\n")
        assert c.reply()[0] == 503
        # The session still works for a real transaction.
        c.expect("MAIL FROM:<x@remote.test>", 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.send(b"BDAT 13 LAST\r\nSubject: ok\r\n")
        code, text = c.reply()
        assert code == 250 and b"queued as" in text, text
        c.expect("QUIT", 221)
    [got] = postern.wait_messages("alice@example.test", 1)
    assert body_of(got) == b"Subject: ok\n"
    wait_queue_empty(postern)
    assert len(delivered_files(postern)) == 1


def test_data_after_bdat_is_503(postern):
    with Raw(postern.port) as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@remote.test>", 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.send(b"BDAT 4\r\nabcd")
        assert c.reply()[0] == 250
        c.expect("DATA", 503, "5.5.1")
        c.expect("RSET", 250)
        c.expect("QUIT", 221)
    assert delivered_files(postern) == []


def test_multi_recipient_each_delivered_once(postern):
    msg = b"Subject: many\r\n\r\nto three people in two domains\r\n"
    with smtplib.SMTP("127.0.0.1", postern.port) as s:
        s.ehlo("client.remote.test")
        refused = s.sendmail(
            "x@remote.test", ["alice@example.test", "bob@example.test", "carol@example.org"], msg
        )
        assert refused == {}
    for who in ("alice@example.test", "bob@example.test", "carol@example.org"):
        [got] = postern.wait_messages(who, 1)
        assert body_of(got) == lf(msg)
        assert f"Delivered-To: {who}\n".encode() in got
    wait_queue_empty(postern)
    assert len(delivered_files(postern)) == 3


def test_alias_with_several_targets(postern):
    msg = b"Subject: team\r\n\r\nhello team\r\n"
    with smtplib.SMTP("127.0.0.1", postern.port) as s:
        s.sendmail("x@remote.test", ["team@example.test"], msg)
    for who in ("alice@example.test", "bob@example.test"):
        [got] = postern.wait_messages(who, 1)
        assert body_of(got) == lf(msg)
        assert f"Delivered-To: {who}\n".encode() in got
    wait_queue_empty(postern)
    assert len(delivered_files(postern)) == 2


def test_same_user_reached_several_ways_delivered_once(postern):
    msg = b"Subject: dedup\r\n\r\nonce each\r\n"
    with smtplib.SMTP("127.0.0.1", postern.port) as s:
        s.ehlo("client.remote.test")
        refused = s.sendmail(
            "x@remote.test",
            [
                "alice@example.test",
                "ALICE@Example.Test",
                "postmaster@example.test",  # alias to alice
                "team@example.test",  # alice and bob
                "everyone@example.test",  # team, bob, alice again
            ],
            msg,
        )
        assert refused == {}
    wait_queue_empty(postern)
    files = delivered_files(postern)
    assert sorted(f.split("/")[1] for f in files) == ["alice", "bob"], files
    assert [body_of(g) for g in postern.messages("alice@example.test")] == [lf(msg)]
    assert [body_of(g) for g in postern.messages("bob@example.test")] == [lf(msg)]


def test_rcpt_postmaster_without_domain(postern):
    with Raw(postern.port) as c:
        c.ehlo()
        c.expect("MAIL FROM:<>", 250)
        c.expect("RCPT TO:<Postmaster>", 250)
        c.expect("DATA", 354)
        c.send(b"Subject: bounce\r\n\r\nnull sender\r\n.\r\n")
        assert c.reply()[0] == 250
    [got] = postern.wait_messages("alice@example.test", 1)
    assert got.startswith(b"Return-Path: <>\n")


def test_catch_all(postern):
    msg = b"Subject: catch-all\r\n\r\nanyone at example.org\r\n"
    with smtplib.SMTP("127.0.0.1", postern.port) as s:
        refused = s.sendmail("x@remote.test", ["whoever@example.org", "sales@example.org"], msg)
        assert refused == {}
    # Both addresses reach the same mailbox: one copy.
    wait_queue_empty(postern)
    [got] = postern.messages("carol@example.org")
    assert body_of(got) == lf(msg)
    assert [f.split("/")[:2] for f in delivered_files(postern)] == [["example.org", "carol"]]


def test_catch_all_does_not_cover_other_domain(postern):
    with Raw(postern.port) as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@remote.test>", 250)
        c.expect("RCPT TO:<whoever@example.test>", 550, "5.1.1")
        c.expect("RCPT TO:<whoever@sub.example.org>", 554, "5.7.1")


def test_several_messages_one_session_and_parallel_sessions(postern):
    import concurrent.futures

    def send(n):
        with smtplib.SMTP("127.0.0.1", postern.port) as s:
            for i in range(5):
                s.sendmail("x@remote.test", ["bob@example.test"], b"Subject: %d-%d\r\n\r\nx\r\n" % (n, i))

    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        list(ex.map(send, range(4)))
    got = postern.wait_messages("bob@example.test", 20)
    subjects = sorted(body_of(g).split(b"\n")[0] for g in got)
    assert subjects == sorted(b"Subject: %d-%d" % (n, i) for n in range(4) for i in range(5))
    wait_queue_empty(postern)


# --- swaks, a second real client -------------------------------------------

def swaks(postern, *args, check=True):
    r = subprocess.run(
        ["swaks", "--server", f"127.0.0.1:{postern.port}", "--helo", "swaks.remote.test",
         "--timeout", "10", *args],
        capture_output=True,
        timeout=30,
    )
    if check:
        assert r.returncode == 0, r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
    return r


@pytest.mark.parametrize(
    "extra",
    [[], ["--pipeline"], ["--protocol", "SMTP"], ["--protocol", "ESMTP", "--pipeline"]],
    ids=["esmtp", "pipeline", "smtp", "esmtp-pipeline"],
)
def test_swaks(postern, extra, tmp_path):
    data = tmp_path / "msg.eml"
    body = b"From: swaks@remote.test\r\nTo: alice@example.test\r\nSubject: swaks\r\n\r\nsent by swaks\r\n.dot line\r\n"
    data.write_bytes(body[:-2])  # swaks ends the data with its own CRLF
    r = swaks(postern, "--from", "swaks@remote.test", "--to", "alice@example.test,bob@example.test",
              "--data", f"@{data}", *extra)
    out = r.stdout.decode(errors="replace")
    assert "queued as" in out
    for who in ("alice@example.test", "bob@example.test"):
        [got] = postern.wait_messages(who, 1)
        assert body_of(got) == lf(body)
    proto = "SMTP" if "SMTP" in extra and "ESMTP" not in extra else "ESMTP"
    assert f"(Postern) with {proto} id ".encode() in got


def test_swaks_sees_rejections(postern):
    r = swaks(postern, "--from", "swaks@remote.test", "--to", "someone@elsewhere.test", check=False)
    assert r.returncode != 0
    assert "554 5.7.1" in r.stdout.decode(errors="replace")
    r = swaks(postern, "--from", "swaks@remote.test", "--to", "nobody@example.test", check=False)
    assert r.returncode != 0
    assert "550 5.1.1" in r.stdout.decode(errors="replace")
    r = swaks(postern, "--protocol", "LMTP", "--to", "alice@example.test", check=False)
    assert r.returncode != 0
    assert "500 5.5.1" in r.stdout.decode(errors="replace")
    assert delivered_files(postern) == []


def test_one_mailbox_failing_does_not_hold_or_duplicate_the_others(postern):
    """alice's Maildir cannot be made: bob gets his copy at once, alice's
    is retried (retry = 1s, 2s) and arrives once the problem is gone; bob
    never gets a second copy."""
    from test_inbound_durability import block_maildir

    blocker = block_maildir(postern, "alice")
    msg = b"Subject: partial\r\n\r\none of two\r\n"
    with smtplib.SMTP("127.0.0.1", postern.port) as s:
        s.sendmail("x@remote.test", ["alice@example.test", "bob@example.test"], msg)
    [got] = postern.wait_messages("bob@example.test", 1)
    wait_until(lambda: "event=deferred" in postern.log(), what="alice's copy deferred")
    assert len(postern.queue_ids()) == 1
    blocker.unlink()
    [got] = postern.wait_messages("alice@example.test", 1)
    assert body_of(got) == lf(msg)
    wait_queue_empty(postern)
    assert len(postern.messages("bob@example.test")) == 1
    assert re.search(r"event=deferred .*to=alice@example\.test .*error=\"Not a directory\"", postern.log())
