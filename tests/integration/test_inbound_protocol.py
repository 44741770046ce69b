"""Inbound SMTP dialogue rules through the real binary: replies and their
enhanced codes, command order, bad input, pipelining, hostile addresses."""
import os
import time

import pytest

from conftest import Raw, all_mail_files, body_of, delivered_files, wait_queue_empty


def test_greeting_ehlo_and_simple_replies(postern):
    with Raw(postern.port) as c:
        assert c.greeting == (220, b"mx.example.test ESMTP Postern")
        text = c.ehlo()
        lines = text.split(b"\n")
        assert lines[0].startswith(b"mx.example.test")
        for ext in (b"PIPELINING", b"8BITMIME", b"ENHANCEDSTATUSCODES", b"SMTPUTF8", b"CHUNKING",
                    b"DSN"):
            assert ext in lines
        assert any(l.startswith(b"SIZE ") and l[5:].isdigit() for l in lines)
        c.expect("VRFY alice@example.test", 252, "2.5.0")
        c.expect("VRFY nobody", 252)
        c.expect("HELP", 214)
        c.expect("HELP MAIL", 214)
        c.expect("NOOP", 250, "2.0.0")
        c.expect("noop with an argument", 250)
        c.expect("EXPN team@example.test", 502, "5.5.1")
        c.expect("RSET", 250, "2.0.0")
        c.expect("QUIT", 221, "2.0.0")
        assert c.closed()


def test_commands_are_case_insensitive(postern):
    with Raw(postern.port) as c:
        c.expect("ehlo client.remote.test", 250)
        c.expect("mail from:<x@remote.test>", 250)
        c.expect("rcpt to:<alice@example.test>", 250)
        c.expect("data", 354)
        c.send(b"Subject: lower\r\n\r\nx\r\n.\r\n")
        assert c.reply()[0] == 250
    postern.wait_messages("alice@example.test", 1)


def test_unknown_command_500_551(postern):
    with Raw(postern.port) as c:
        c.expect("XYZZY", 500, "5.5.1")
        c.expect("MAILFROM:<x@remote.test>", 500, "5.5.1")
        c.expect("", 500, "5.5.1")
        c.ehlo()
        c.expect("NOOP", 250)


def test_out_of_order_503_551(postern):
    with Raw(postern.port) as c:
        c.expect("MAIL FROM:<x@remote.test>", 503, "5.5.1")  # before EHLO
        c.ehlo()
        c.expect("RCPT TO:<alice@example.test>", 503, "5.5.1")
        c.expect("DATA", 503, "5.5.1")
        c.expect("MAIL FROM:<x@remote.test>", 250, "2.1.0")
        c.expect("MAIL FROM:<x@remote.test>", 503, "5.5.1")  # nested
        c.expect("DATA", 503, "5.5.1")  # no recipient yet
        c.expect("RCPT TO:<nobody@example.test>", 550, "5.1.1")
        c.expect("DATA", 503, "5.5.1")  # still no valid recipient
        c.expect("RCPT TO:<alice@example.test>", 250, "2.1.5")
        # RSET drops the transaction: RCPT and DATA are out of order again.
        c.expect("RSET", 250)
        c.expect("RCPT TO:<alice@example.test>", 503, "5.5.1")
        c.expect("DATA", 503, "5.5.1")
        # EHLO also resets it.
        c.expect("MAIL FROM:<x@remote.test>", 250)
        c.ehlo()
        c.expect("RCPT TO:<alice@example.test>", 503, "5.5.1")
        c.expect("QUIT", 221)
    assert delivered_files(postern) == []


def test_syntax_errors_501(make_postern):
    postern = make_postern(settings={"limits": {"bad_commands": "1000"}})
    with Raw(postern.port) as c:
        c.expect("EHLO", 501, "5.5.4")
        c.expect("HELO", 501, "5.5.4")
        c.ehlo()
        c.expect("MAIL", 501, "5.5.4")
        c.expect("MAIL TO:<x@remote.test>", 501, "5.5.4")
        c.expect("MAIL FROM:", 501, "5.5.4")
        c.expect("MAIL FROM:<x@remote.test>junk", 501, "5.5.4")
        c.expect("MAIL FROM:<x@remote.test> FOO=BAR", 555, "5.5.4")
        c.expect("MAIL FROM:<x@remote.test> SIZE=12x", 501, "5.5.4")
        c.expect("MAIL FROM:<x@remote.test> SIZE=", 501, "5.5.4")
        c.expect("MAIL FROM:<x@remote.test> SIZE=1 SIZE=2", 501, "5.5.4")
        c.expect("MAIL FROM:<x@remote.test> BODY=9BIT", 501, "5.5.4")
        c.expect("MAIL FROM:<x@remote.test> SMTPUTF8=yes", 501, "5.5.4")
        c.expect("MAIL FROM:<x@remote.test>", 250)
        c.expect("RCPT TO:<>", 501, "5.1.3")
        c.expect("RCPT TO:<alice>", 501, "5.1.3")
        c.expect("RCPT TO:<alice@example.test> NOTIFY=SOMETIMES", 501, "5.5.4")
        c.expect("RCPT TO:<alice@example.test> NOTIFY=NEVER,SUCCESS", 501, "5.5.4")
        c.expect("DATA now", 503, "5.5.1")  # still no recipient
        c.expect("RCPT TO:<alice@example.test> NOTIFY=SUCCESS,FAILURE", 250)
        c.expect("DATA now", 501, "5.5.4")
        c.expect("QUIT", 221)


def test_helo_then_esmtp_parameters_555(postern):
    with Raw(postern.port) as c:
        c.expect("HELO client.remote.test", 250)
        c.expect("MAIL FROM:<x@remote.test> SIZE=10", 555, "5.5.4")
        c.expect("MAIL FROM:<x@remote.test>", 250)


def test_ten_bad_commands_421_and_close(postern):
    with Raw(postern.port) as c:
        c.ehlo()
        for i in range(9):
            c.expect(f"BOGUS{i}", 500, "5.5.1")
        c.send(b"BOGUS9\r\n")
        assert c.reply()[0] == 500
        code, text = c.reply()
        assert code == 421 and text.startswith(b"4.7.0"), text
        assert c.closed()
        assert c.buf == b""
    assert "event=smtp_too_many_errors" in postern.log()


def test_bad_commands_counted_across_kinds_and_pipelined(postern):
    """Errors of every kind count, and a burst in one write is cut off."""
    with Raw(postern.port) as c:
        c.ehlo()
        c.send(b"".join(b"RCPT TO:<x@example.test>\r\n" for _ in range(5)))
        assert [c.reply()[0] for _ in range(5)] == [503] * 5
        c.send(b"BOGUS\r\nMAIL FROM:<bad\r\nNOOP\x00\r\nBOGUS\r\nBOGUS\r\nNOOP\r\nNOOP\r\nNOOP\r\n")
        codes = [c.reply()[0] for _ in range(6)]
        assert codes == [500, 501, 500, 500, 500, 421], codes
        assert c.closed()
        assert c.buf == b""  # the NOOPs behind the 421 are never answered


def test_talking_before_greeting_554(make_postern):
    p = make_postern(settings={"smtpd": {"greeting_delay": "500ms"}})
    with Raw(p.port, greet=False) as c:
        c.send(b"EHLO eager.remote.test\r\n")
        code, text = c.reply()
        assert code == 554, text
        assert c.closed()
    # A patient client is greeted after the delay and served.
    t0 = time.monotonic()
    with Raw(p.port) as c:
        assert c.greeting[0] == 220
        assert time.monotonic() - t0 >= 0.4
        c.ehlo()
        c.expect("MAIL FROM:<x@remote.test>", 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.expect("DATA", 354)
        c.send(b"Subject: patient\r\n\r\nwaited\r\n.\r\n")
        assert c.reply()[0] == 250
    p.wait_messages("alice@example.test", 1)
    assert "event=smtp_pregreet" in p.log()


def test_data_and_content_in_one_write_554_and_close(postern):
    with Raw(postern.port) as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@remote.test>", 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.send(b"DATA\r\nSubject: impatient\r\n\r\nno wait for 354\r\n.\r\n")
        code, text = c.reply()
        assert code == 554 and text.startswith(b"5.5.0"), text
        assert c.closed()
        assert c.buf == b""
    time.sleep(0.3)
    assert delivered_files(postern) == []
    assert postern.queue_ids() == []
    assert "event=smtp_pipelining_violation" in postern.log()


def test_whole_transaction_in_one_write_554(postern):
    with Raw(postern.port) as c:
        c.ehlo()
        c.send(
            b"MAIL FROM:<x@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n"
            b"Subject: blind\r\n\r\nx\r\n.\r\nQUIT\r\n"
        )
        assert [c.reply()[0] for _ in range(3)] == [250, 250, 554]
        assert c.closed()
    time.sleep(0.3)
    assert delivered_files(postern) == []


def test_ehlo_must_end_a_group(postern):
    with Raw(postern.port) as c:
        c.send(b"EHLO client.remote.test\r\nMAIL FROM:<x@remote.test>\r\n")
        code, text = c.reply()
        assert code == 554 and text.startswith(b"5.5.0"), text
        assert c.closed()


def test_nul_bytes_in_commands(postern):
    with Raw(postern.port) as c:
        c.expect(b"EHLO a\x00b", 500, "5.5.2")
        c.ehlo()
        c.expect(b"NOOP\x00", 500, "5.5.2")
        c.expect(b"MAIL FROM:<a\x00b@remote.test>", 500, "5.5.2")
        c.expect("MAIL FROM:<x@remote.test>", 250)
        c.expect(b"RCPT TO:<alice\x00@example.test>", 500, "5.5.2")
        c.expect(b"\x00\x00\x00", 500, "5.5.2")
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.expect("QUIT", 221)


def test_bare_lf_and_cr_in_commands(postern):
    with Raw(postern.port) as c:
        c.ehlo()
        c.send(b"NOOP\n")
        code, text = c.reply()
        assert code == 500 and text.startswith(b"5.5.2"), text
        c.expect(b"NOOP\rRSET", 500, "5.5.2")
        c.expect("NOOP", 250)


def test_addresses_without_angle_brackets(postern):
    with Raw(postern.port) as c:
        c.ehlo()
        c.expect("MAIL FROM:x@remote.test", 501, "5.1.7")
        c.expect("MAIL FROM:<x@remote.test", 501, "5.1.7")
        c.expect("MAIL FROM:x@remote.test>", 501, "5.1.7")
        c.expect("MAIL FROM:<x@remote.test>", 250)
        c.expect("RCPT TO:alice@example.test", 501)
        c.expect("RCPT TO:<alice@example.test", 501)
        c.expect("RCPT TO:<alice@example.test>", 250)


def test_overlong_local_part_domain_and_path(postern):
    with Raw(postern.port) as c:
        c.ehlo()
        c.expect(f"MAIL FROM:<{'a' * 65}@remote.test>", 501, "5.5.4")
        c.expect(f"MAIL FROM:<x@{'d' * 64}.test>", 501)  # label over 63
        c.expect(f"MAIL FROM:<x@{('d' * 60 + '.') * 5}test>", 501, "5.5.4")  # domain over 255
        c.expect(f"MAIL FROM:<{'a' * 64}@{('d' * 60 + '.') * 3}test>", 250)  # 64 and 188: fine
        c.expect(f"RCPT TO:<{'a' * 65}@example.test>", 501, "5.5.4")
        c.expect(f"RCPT TO:<{'a' * 64}@example.test>", 550, "5.1.1")
        c.expect(f"RCPT TO:<x@{'d' * 300}>", 501)
        c.expect("RCPT TO:<" + "a" * 5000 + ">", 500, "5.5.2")  # over the line limit
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.expect("QUIT", 221)


HOSTILE_REJECTED = [
    "MAIL FROM:<;sleep 66;>",
    "MAIL FROM:<;sleep 66;@remote.test>",
    "MAIL FROM:<x@remote.test;sleep 66>",
    "MAIL FROM:<`touch {marker}`@remote.test>",
    "MAIL FROM:<$(touch {marker})@remote.test>",
    "MAIL FROM:<x@$(touch {marker})>",
    "MAIL FROM:<../../../etc/passwd>",
    "MAIL FROM:<x@../../etc>",
    "MAIL FROM:<a:b@remote.test>",
]
HOSTILE_RCPT_REJECTED = [
    "RCPT TO:<${{run{{/bin/touch {marker}}}}}@example.test>",
    "RCPT TO:<../../../tmp/x@example.test>",
    "RCPT TO:<.hidden@example.org>",
    "RCPT TO:<a..b@example.org>",
    "RCPT TO:<alice@example.test/../../x>",
    "RCPT TO:<alice@..>",
    "RCPT TO:<a:b@example.org>",
    "RCPT TO:<a\\b@example.org>",
    "RCPT TO:<`touch {marker}`@example.org>",
    "RCPT TO:<|touch {marker}@example.org>",
    "RCPT TO:<a/../../../x@example.org>",
]
# Quoted local parts are valid syntax: refused, or accepted as plain data.
HOSTILE_RCPT_QUOTED = [
    'RCPT TO:<"../../x"@example.org>',
    'RCPT TO:<"a/b"@example.org>',
    'RCPT TO:<"a b"@example.test>',
    'RCPT TO:<"$(touch {marker})"@example.org>',
]
# Valid syntax (RFC 5321 atext): must reach the catch-all as plain data.
HOSTILE_RCPT_LITERAL = [
    "${run{/bin/touch${IFS}MARKER}}@example.org",
    "|/bin/sh@example.org",
    "`id`@example.org",
    "a/./b/.c@example.org",
    "x&&reboot#'{}@example.org",
]


def header_safe(addr):
    """What the Received header keeps of an address (see proto/headers.c)."""
    return "".join("?" if ch in "()\\<>;" else ch for ch in addr.lower())


def test_hostile_addresses_rejected_or_stored_literally(make_postern, workdir):
    postern = make_postern(settings={"limits": {"bad_commands": "1000"}})
    marker = workdir / "pwned"
    with Raw(postern.port) as c:
        c.ehlo()
        for line in HOSTILE_REJECTED:
            code, text = c.cmd(line.format(marker=marker))
            assert code in (501, 553), (line, code, text)
            c.expect("RSET", 250)  # keeps the error counter from closing us
        c.expect("MAIL FROM:<x@remote.test>", 250)
        for line in HOSTILE_RCPT_REJECTED:
            code, text = c.cmd(line.format(marker=marker))
            assert code in (501, 550, 553), (line, code, text)
            c.expect("NOOP", 250)
        for line in HOSTILE_RCPT_QUOTED:
            code, text = c.cmd(line.format(marker=marker))
            assert code in (250, 501, 550, 553), (line, code, text)
        c.expect("RSET", 250)
    # Some of them are syntactically valid and reach the catch-all, one at a
    # time so that each Received header names it.
    for addr in HOSTILE_RCPT_LITERAL:
        addr = addr.replace("MARKER", str(marker))
        with Raw(postern.port) as c:
            c.ehlo()
            c.expect(f'MAIL FROM:<"; touch {marker};"@remote.test>', 250)
            c.expect(f"RCPT TO:<{addr}>", 250)
            c.expect("DATA", 354)
            c.send(b"Subject: literal\r\n\r\nhostile\r\n.\r\n")
            assert c.reply()[0] == 250
            c.expect("QUIT", 221)
    got = postern.wait_messages("carol@example.org", len(HOSTILE_RCPT_LITERAL))
    wait_queue_empty(postern)
    for msg in got:
        assert msg.startswith(f'Return-Path: <"; touch {marker};"@remote.test>\n'.encode())
        assert b"\nDelivered-To: carol@example.org\n" in msg
    # Each address appears literally in its Received header's for clause
    # (no '<', '>', ';' or '\\' in these, so the header keeps them as they are).
    fors = sorted(m.split(b"\tfor <")[1].split(b">")[0].decode() for m in got)
    assert fors == sorted(header_safe(a.replace("MARKER", str(marker))) for a in HOSTILE_RCPT_LITERAL)
    # Nothing was executed, and the only mailbox written is carol's.
    time.sleep(0.2)
    assert not marker.exists()
    assert not os.path.exists("/tmp/x")
    dirs = {tuple(f.split("/")[:2]) for f in all_mail_files(postern)}
    assert dirs == {("example.org", "carol")}
    # No stray files anywhere else in the work directory.
    for path in postern.dir.rglob("*"):
        rel = path.relative_to(postern.dir)
        assert rel.parts[0] in ("data", "postern.conf", "users", "aliases", "postern.log"), rel


def test_hostile_address_in_quoted_local_part_is_data(make_postern, workdir):
    """A quoted local part may hold spaces and shell syntax: it stays data."""
    p = make_postern()
    marker = workdir / "quoted-pwned"
    with Raw(p.port) as c:
        c.ehlo()
        c.expect(f'MAIL FROM:<"$(touch {marker})"@remote.test>', 250)
        code, _ = c.cmd(f'RCPT TO:<"| touch {marker}"@example.org>')
        assert code in (250, 501, 550, 553)
        if code == 250:
            c.expect("DATA", 354)
            c.send(b"Subject: q\r\n\r\nq\r\n.\r\n")
            assert c.reply()[0] == 250
            p.wait_messages("carol@example.org", 1)
    time.sleep(0.2)
    assert not marker.exists()
    assert {tuple(f.split("/")[:2]) for f in all_mail_files(p)} <= {("example.org", "carol")}


@pytest.mark.parametrize(
    "params",
    [
        "SIZE=99999999999999999999",
        "SIZE=18446744073709551615",
        "SIZE=18446744073709551616",
        'AUTH="',
        "AUTH=<>",
        "BODY=8BITMIME BODY=8BITMIME",
        "ENVID=" + "x" * 101,
        "RET=FULL RET=HDRS",
        "=",
        "A=B C=D E=F G=H I=J K=L M=N O=P Q=R S=T U=V W=X",
        "SIZE=-1",
    ],
)
def test_malformed_mail_parameters(postern, params):
    """RFC 1870/3461/4954 parameters from 21Nails: refused cleanly, no crash."""
    with Raw(postern.port) as c:
        c.ehlo()
        code, text = c.cmd(f"MAIL FROM:<x@remote.test> {params}")
        assert code in (250, 501, 552, 555), (code, text)
        assert text[:1] in b"245" and text[1:2] == b".", text  # an enhanced code
        c.expect("RSET", 250)
        c.expect("QUIT", 221)


def test_rset_and_bdat_interleavings(postern):
    """BDAT state confusion (21Nails): RSET, HELO and errors between chunks."""
    with Raw(postern.port) as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@remote.test>", 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.send(b"BDAT 5\r\nabcde")
        assert c.reply()[0] == 250
        c.expect("RSET", 250)
        c.send(b"BDAT 3 LAST\r\nxyz")
        assert c.reply()[0] == 503
        c.expect("MAIL FROM:<x@remote.test>", 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.send(b"BDAT 5\r\nabcde")
        assert c.reply()[0] == 250
        c.ehlo()
        c.send(b"BDAT 3\r\nxyz")
        assert c.reply()[0] == 503
        c.expect("MAIL FROM:<x@remote.test>", 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.expect("BDAT", 501)
        assert c.reply()[0] == 421  # a BDAT without a size cannot be skipped
        assert c.closed()
    with Raw(postern.port) as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@remote.test>", 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.expect("BDAT 99999999999999999999999 LAST", 552)
        assert c.reply()[0] == 421
        assert c.closed()
    with Raw(postern.port) as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@remote.test>", 250)
        c.expect("RCPT TO:<bob@example.test>", 250)
        c.send(b"BDAT 4\r\nab\r\n")
        assert c.reply()[0] == 250
        c.send(b"BDAT 0\r\n")
        assert c.reply()[0] == 250
        c.send(b"BDAT 4 LAST\r\ncd\r\n")
        code, text = c.reply()
        assert code == 250 and b"queued as" in text
    [got] = postern.wait_messages("bob@example.test", 1)
    assert body_of(got) == b"ab\ncd\n"
    time.sleep(0.2)
    assert postern.messages("alice@example.test") == []


def test_helo_with_invalid_utf8_is_refused(postern):
    with Raw(postern.port) as c:
        for line in (b"EHLO \xff\xfe.test", b"HELO a\xc0\xafb.test", b"EHLO caf\xc3.test"):
            code, text = c.cmd(line)
            assert code == 501 and text.startswith(b"5.5.4"), (line, code, text)
        c.expect("EHLO client.remote.test", 250)
