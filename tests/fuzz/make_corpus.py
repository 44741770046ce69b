#!/usr/bin/python3
"""Writes the seed corpora of the issue 11 fuzz targets (sasl, drop, dns_rr,
dsn, conf, pop3_session) and the issue 12 ones (line, sasl_step) into
corpus/NAME/. Run from anywhere with Debian's
python3 (python3-dnslib); the output is committed, so this only needs to
run again when a seed should change."""
import base64
import pathlib
import struct

from dnslib import AAAA, MX, QTYPE, RR, TXT, A, DNSBuffer, DNSRecord

HERE = pathlib.Path(__file__).resolve().parent / "corpus"


def put(target, name, data):
    d = HERE / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def b64(b):
    return base64.b64encode(b)


# SASL: PLAIN and LOGIN responses as clients send them, and broken ones.
put("sasl", "plain", b64(b"\0alice@example.test\0alice-secret-1"))
put("sasl", "plain_authzid", b64(b"alice@example.test\0alice@example.test\0pw"))
put("sasl", "plain_empty", b"=")
put("sasl", "plain_one_nul", b64(b"alice@example.test\0pw"))
put("sasl", "plain_crlf", b64(b"\0alice\r\n@example.test\0pw"))
put("sasl", "plain_long", b64(b"\0" + b"u" * 300 + b"\0" + b"p" * 1100))
put("sasl", "login_user", b64(b"bob@example.test"))
put("sasl", "login_pass", b64(b"bob-secret-2"))
put("sasl", "pad1", b"YWI=")
put("sasl", "pad2", b"YQ==")
put("sasl", "bad_pad", b"Y=Q=")
put("sasl", "bad_char", b"YW*j")
put("sasl", "nonzero_bits", b"YR==")

# Drop files as `postern sendmail` writes them (drop.h), and broken heads.
# (corpus/drop/from_sendmail is one `postern sendmail -F "Real Name" -i
# bob@example.test carol@remote.test` really wrote, kept as it was.)
msg = ("From: alice@example.test\r\nTo: bob@example.test\r\nSubject: hi\r\n"
       "Date: Thu, 03 Dec 2026 19:00:00 +0000\r\nMessage-ID: <1@host>\r\n\r\nbody\r\n.dot\r\n")
put("drop", "plain", "postern-drop 1\nsender -\nfullname -\nrcpt bob@example.test\n\n" + msg)
put("drop", "full", "postern-drop 1\nsender alice@example.test\nfullname Alice%20Example\n"
    "rcpt bob@example.test\nrcpt carol@remote.test\nrcpt %2D\n\n" + msg)
put("drop", "escapes", "postern-drop 1\nsender a%25b@example.test\nfullname %C3%A9l%C3%A8ve\n"
    "rcpt x@example.test\n\n")
put("drop", "repeated", "postern-drop 1\nsender -\nsender -\nfullname -\nrcpt a@b\n\n")
put("drop", "no_end", "postern-drop 1\nsender -\nfullname -\nrcpt a@b\n")
put("drop", "bad_escape", "postern-drop 1\nsender %zz\nfullname -\n\n")
put("drop", "bad_magic", "postern-drop 2\nsender -\nfullname -\n\n")

# DNS: a real answer for each type, packed as a server sends it (names
# compressed), then each record's rdata as libunbound hands it over
# (uncompressed) in the target's framing: type octet, 16-bit length, rdata.
TYPES = {QTYPE.MX: 0, QTYPE.TXT: 1, QTYPE.A: 2, QTYPE.AAAA: 3}


def answer(qname, qtype, rrs):
    q = DNSRecord.question(qname, QTYPE[qtype])
    r = q.reply()
    for rr in rrs:
        r.add_answer(rr)
    return r.pack()


def framed(records):
    out = b""
    for t, rdata in records:
        out += bytes([t]) + struct.pack(">H", len(rdata)) + rdata
    return out


def uncompressed(rr):
    b = DNSBuffer()
    rr.rdata.pack(b)
    return bytes(b.data)


def compressed_rdata(wire):
    """The rdata of each answer exactly as in the message (pointers kept)."""
    msg = DNSRecord.parse(wire)
    out, off = [], len(DNSRecord(q=msg.q).pack())
    for _ in msg.rr:
        b = DNSBuffer(wire)
        b.offset = off
        b.decode_name()
        rtype, _, _, rdlen = b.unpack("!HHIH")
        out.append((TYPES.get(rtype, 4), wire[b.offset:b.offset + rdlen]))
        off = b.offset + rdlen
    return out


mx = [RR("remote.test", QTYPE.MX, rdata=MX("mx1.remote.test", 10)),
      RR("remote.test", QTYPE.MX, rdata=MX("mx2.remote.test", 10)),
      RR("remote.test", QTYPE.MX, rdata=MX("backup.remote.test", 20))]
txt = [RR("remote.test", QTYPE.TXT, rdata=TXT(["v=spf1 ip4:127.0.0.1 ", "mx -all"])),
       RR("_dmarc.remote.test", QTYPE.TXT, rdata=TXT(["v=DMARC1; p=reject; rua=mailto:d@remote.test"]))]
a = [RR("mx1.remote.test", QTYPE.A, rdata=A("127.0.0.1")),
     RR("mx1.remote.test", QTYPE.A, rdata=A("127.0.0.2"))]
aaaa = [RR("mx1.remote.test", QTYPE.AAAA, rdata=AAAA("::1"))]
for name, qtype, rrs in (("mx", QTYPE.MX, mx), ("txt", QTYPE.TXT, txt), ("a", QTYPE.A, a),
                         ("aaaa", QTYPE.AAAA, aaaa)):
    put("dns_rr", name, framed([(TYPES[qtype], uncompressed(rr)) for rr in rrs]))
    put("dns_rr", name + "_compressed", framed(compressed_rdata(answer("remote.test", qtype, rrs))))
put("dns_rr", "null_mx", framed([(0, b"\x00\x00\x00")]))
put("dns_rr", "mx_pointer", framed([(0, b"\x00\x0a\xc0\x0c")]))
put("dns_rr", "truncated", framed([(0, uncompressed(mx[0]))])[:-5])
put("dns_rr", "txt_truncated", framed([(1, b"\x20v=spf1")]))
put("dns_rr", "names", framed([(4, b"\x03www\x07example\x04test\x00"), (4, b"\x00"),
                               (4, b"\x3f" + b"a" * 63 + b"\x00"), (4, b"\x04a.b!\x00")]))

# DSN: 40 octets of numbers, then NUL-separated fields, then the message.
def dsn(kind, flags, nrcpts, rcpt_bits, fields, message):
    head = bytes([nrcpts - 1, flags, kind]) + bytes(rcpt_bits).ljust(5, b"\0")
    head += struct.pack(">qqqq", 1764787200, 1764790800, 1765219200, 1764790000)
    return head + b"\0".join(f.encode() for f in fields) + b"\0" + message.encode()


put("dsn", "failure", dsn(0, 0, 1, [2 | 4 | 8 | 16],
    ["mx.example.test", "A1B2C3", "alice@example.test", "bob@remote.test", "failed", "5.1.1",
     "mx1.remote.test", "550 5.1.1 <bob@remote.test>: user unknown"], msg))
put("dsn", "delay_full", dsn(1, 1 | 2, 2, [1 | 2 | 4 | 8 | 16, 4],
    ["mx.example.test", "Q1", "alice@example.test", "env-1", "bob@remote.test",
     "rfc822;Bob@Remote.test", "delayed", "4.4.1", "mx1.remote.test",
     "421 4.4.1 try later " + "x" * 120, "carol@remote.test", "delayed", "4.4.3",
     "MX lookup for remote.test failed: timeout"], msg))
put("dsn", "success", dsn(2, 0, 2, [0, 1],
    ["mx.example.test", "Q2", "alice@example.test", "bob@example.test", "delivered", "2.0.0",
     "carol@remote.test", "carol@remote.test", "relayed", "2.0.0"], msg))
put("dsn", "hostile", dsn(0, 1, 1, [1 | 2 | 4 | 8],
    ["mx\r\nX: y", "id", "a@b\r\nBcc: c@d", "e\nX-Injected: 1", "x@y\r\nTo: z", "o;x\rY: 1",
     "failed", "5.0.0", "h\tost", "550 reply\r\nX-Evil: 1 \x80\xff" + " w" * 600], msg))

# Configurations: every section and key, as documented in the README.
full_conf = """; comment
[server]
hostname = mx.example.test
data_dir = /var/lib/postern
user = postern
workers = 4
shutdown_grace = 30s

[listen]
smtp = 0.0.0.0:25, [::1]:2525
submission = 0.0.0.0:587
submissions = 0.0.0.0:465
pop3 = 127.0.0.1:110
pop3s = unix:run/pop3s.sock

[tls]
cert = /etc/postern/cert.pem
key = /etc/postern/key.pem

[domains]
local = example.test, example.org
local = example.net
users_file = users
aliases_file = aliases

[limits]
message_size = 35M
recipients = 100
connections = 2000
connections_per_ip = 20
bad_commands = 10

[smtpd]
greeting_delay = 0
command_timeout = 5m
data_timeout = 10m
smtp_auth = no

[auth]
failure_delay = 1s
failure_limit = 10
lockout = 10m

[pop3]
allow_plaintext_auth = no
timeout = 10m

[relay]
resolver = 127.0.0.1:5353
port = 25
smarthost = [127.0.0.1]:2525
smarthost_user = relay-user
smarthost_password = relay-secret
retry = 1m, 5m, 15m, 30m, 1h, 2h, 4h
queue_lifetime = 5d
delay_warning = 4h
connections = 100
connections_per_domain = 20
dns_timeout = 30s
connect_timeout = 30s
greeting_timeout = 5m
command_timeout = 5m
data_init_timeout = 2m
data_block_timeout = 3m
data_done_timeout = 10m

[dkim]
example.test = mail:dkim/example.test.mail.key
example.org = s1:/etc/postern/dkim/example.org.s1.key

[mailauth]
checks = yes
spf_reject = no
dmarc_reject = yes
"""
put("conf", "full", full_conf)
put("conf", "minimal", "[listen]\nsmtp = 127.0.0.1:2525\n[domains]\nlocal = example.test\n")
put("conf", "crlf", full_conf.replace("\n", "\r\n"))
put("conf", "duplicate", "[server]\nhostname = a.test\nhostname = b.test\n"
    "[listen]\nsmtp = 127.0.0.1:25\n[domains]\nlocal = example.test\n")
put("conf", "errors", "[server]\nworkers = 0\nbogus = 1\n[nosuch]\n  indented = 1\n"
    "[listen]\nsmtp = :25, 1.2.3.4:99999\n[relay]\nsmarthost = [::1\nresolver = x:y\n"
    "[dkim]\nexample.test = nokey\nexample.test = a:b\n[domains]\nlocal = bad!domain\n"
    "not ini\n" + "; " + "x" * 250 + "\n")

# POP3: whole sessions as clients speak them; 0xFF splits the writes.
S = b"\xff"
plain = b64(b"\0alice@example.test\0alice-pw")
put("pop3_session", "full_session", S.join([
    b"CAPA\r\n", b"USER alice@example.test\r\n", b"PASS alice-pw\r\n", b"STAT\r\n", b"LIST\r\n",
    b"LIST 2\r\n", b"UIDL\r\n", b"UIDL 3\r\n", b"RETR 1\r\n", b"TOP 2 1\r\n", b"TOP 1 0\r\n",
    b"DELE 1\r\n", b"LIST 1\r\n", b"RETR 1\r\n", b"NOOP\r\n", b"RSET\r\n", b"DELE 3\r\n",
    b"RETR 2\r\n", b"QUIT\r\n"]))
put("pop3_session", "pipelined", b"USER alice@example.test\r\nPASS alice-pw\r\nSTAT\r\n"
    b"LIST\r\nRETR 2\r\nDELE 2\r\nQUIT\r\n")
put("pop3_session", "auth_plain_initial", b"AUTH PLAIN " + plain + b"\r\n" + S +
    b"STAT\r\n" + S + b"DELE 1\r\nDELE 2\r\nDELE 3\r\nQUIT\r\n")
put("pop3_session", "auth_plain_continued", b"AUTH\r\n" + S + b"AUTH PLAIN\r\n" + S + plain +
    b"\r\n" + S + b"UIDL\r\nQUIT\r\n")
put("pop3_session", "auth_cancel", b"AUTH PLAIN\r\n" + S + b"*\r\n" + S + b"AUTH PLAIN\r\n" + S +
    b"!!!!\r\n" + S + b"AUTH CRAM-MD5\r\n")
put("pop3_session", "wrong_then_right", S.join([
    b"USER alice@example.test\r\n", b"PASS wrong\r\n", b"USER nobody@example.test\r\n",
    b"PASS x\r\n", b"USER bob@example.test\r\n", b"PASS x\r\n", b"PASS alone\r\n",
    b"USER alice@example.test\r\n", b"PASS alice-pw\r\n", b"TOP 1 2\r\n", b"QUIT\r\n"]))
put("pop3_session", "errors", S.join([
    b"STAT\r\n", b"RETR 1\r\n", b"APOP alice@example.test 0123456789abcdef\r\n", b"STLS\r\n",
    b"FOO\r\n", b"USER\r\n", b"bare lf\n", b"\x01\x02\r\n", b"USER " + b"a" * 300 + b"\r\n",
    b"CAPA\r\n"]))
put("pop3_session", "transaction_errors", b"USER alice@example.test\r\nPASS alice-pw\r\n" + S +
    S.join([b"RETR 0\r\n", b"RETR 4\r\n", b"LIST x\r\n", b"TOP 1\r\n", b"TOP 1 -1\r\n",
            b"DELE 9999999999999999999\r\n", b"DELE 1\r\n", b"DELE 1\r\n", b"USER x\r\n",
            b"STLS\r\n", b"QUIT extra\r\n", b"QUIT\r\n"]))
put("pop3_session", "drop_without_quit", b"USER alice@example.test\r\nPASS alice-pw\r\n" + S +
    b"DELE 1\r\nRETR 2\r\n")

# Lines: the first octet picks the limit (under 200: 1 + n % 40; else 255,
# 512, 1000, 4096, 12288 by n % 5), the second the read size (1 + n % 64;
# 250 and up: one read).
put("line", "smtp_session", bytes([201, 255]) + b"EHLO client.example.test\r\nMAIL FROM:<a@b>\r\n"
    b"RCPT TO:<c@d>\r\nDATA\r\n")
put("line", "bare_lf", bytes([201, 3]) + b"NOOP\nQUIT\r\n\n\r\nA\rB\r\n")
put("line", "too_long", bytes([200, 7]) + b"x" * 300 + b"\r\nSTAT\r\n" + b"y" * 254 + b"\r\n")
put("line", "cr_at_limit", bytes([9, 10]) + b"123456789\r\n12345678\r\n1234567\r\n")
put("line", "nul", bytes([204, 1]) + b"NO\0OP\r\n\0\n\0\r\n")
put("line", "long_discard_cr", bytes([0, 2]) + b"ab\r\r\n\r\n")

# SASL exchanges: the first octet is offered mechanisms (1 PLAIN, 2 LOGIN)
# plus 4 when an initial response follows; then LF-separated: mechanism,
# initial response, the client's lines.
def step(flags, *parts):
    return bytes([flags]) + b"\n".join(parts)


put("sasl_step", "plain_challenge", step(3, b"PLAIN", b64(b"\0alice@example.test\0pw")))
put("sasl_step", "plain_initial", step(7, b"plain", b64(b"alice\0alice\0pw")))
put("sasl_step", "plain_authzid", step(7, b"PLAIN", b64(b"bob\0alice\0pw")))
put("sasl_step", "plain_empty", step(5, b"PLAIN", b"="))
put("sasl_step", "login", step(3, b"LOGIN", b64(b"alice@example.test"), b64(b"pw")))
put("sasl_step", "login_initial", step(6, b"LOGIN", b64(b"bob"), b64(b"secret")))
put("sasl_step", "login_cancel", step(2, b"LOGIN", b64(b"bob"), b"*", b64(b"pw")))
put("sasl_step", "unknown", step(1, b"LOGIN", b64(b"bob")))
put("sasl_step", "bad_base64", step(3, b"PLAIN", b"not base64!", b"*"))
put("sasl_step", "too_long", step(7, b"PLAIN", b64(b"\0" + b"u" * 300 + b"\0pw")))
