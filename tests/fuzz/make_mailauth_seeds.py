#!/usr/bin/python3
"""Writes the seed corpora of the issue 11 mailauth fuzz targets:
corpus/dkim_verify (messages signed with python3-dkim by a test key, so
the fuzzer starts inside the crypto and canonicalisation paths, each with
its key record), corpus/dkim_canon, corpus/authres and corpus/headers.

Run from anywhere: /usr/bin/python3 tests/fuzz/make_mailauth_seeds.py
Each run makes new keys, so the dkim_verify seeds change; they stay valid
(the fuzz target fixes the verifier's clock at 1795000000, and no seed has
an x= that matters)."""
import base64
import pathlib
import re

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

HERE = pathlib.Path(__file__).resolve().parent / "corpus"
SEP = b"\n%%KEY%%\n"

MSG = (b"From: CEO <ceo@bank.test>\r\n"
       b"To: bob@example.test\r\n"
       b"Subject: invoice\r\n"
       b"Date: Thu, 26 Nov 2026 12:00:00 +0000\r\n"
       b"Message-ID: <1@bank.test>\r\n"
       b"\r\n"
       b"Please pay invoice 42.\r\n"
       b"\r\n"
       b"-- \r\n"
       b"The CEO\r\n")


def keys():
    r = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    rsa_pem = r.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    rsa_pub = r.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    e = ed25519.Ed25519PrivateKey.generate()
    seed = e.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                           serialization.NoEncryption())
    pub = e.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"rsa": (rsa_pem, b"v=DKIM1; k=rsa; p=" + base64.b64encode(rsa_pub)),
            "ed": (base64.b64encode(seed), b"v=DKIM1; k=ed25519; p=" + base64.b64encode(pub))}


def sign(k, msg, kind="rsa", c=(b"relaxed", b"relaxed"), **kw):
    alg = b"ed25519-sha256" if kind == "ed" else kw.pop("alg", b"rsa-sha256")
    kw.setdefault("include_headers", [b"from", b"to", b"subject", b"date", b"message-id"])
    return dkim.sign(msg, b"s1", b"bank.test", k[kind][0], canonicalize=c,
                     signature_algorithm=alg, **kw) + msg


def write(corpus, name, data):
    d = HERE / corpus
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def verify_seeds():
    k = keys()
    rsa_rec, ed_rec = k["rsa"][1], k["ed"][1]

    def seed(name, flags, msg, *records):
        write("dkim_verify", name, bytes([flags]) + msg + b"".join(SEP + r for r in records))

    seed("rsa_relaxed", 0x07, sign(k, MSG), rsa_rec)
    seed("rsa_relaxed_chunked", 0x0b, sign(k, MSG), rsa_rec)
    seed("ed_relaxed_simple", 0x04, sign(k, MSG, "ed", (b"relaxed", b"simple")), ed_rec)
    seed("rsa_simple", 0x05, sign(k, MSG, c=(b"simple", b"simple")), rsa_rec)
    seed("rsa_l_exact", 0x06, sign(k, MSG, length=True), rsa_rec)
    seed("rsa_l_appended", 0x03, sign(k, MSG, length=True) + b"Also wire $1M.\r\n", rsa_rec)
    seed("ed_unsigned_subject", 0x0c, b"Subject: URGENT\r\n" + sign(k, MSG, "ed"), ed_rec)
    seed("oversigned", 0x07, sign(k, MSG, include_headers=[b"from", b"subject", b"from",
                                                          b"subject", b"reply-to"]), rsa_rec)
    seed("identity", 0x07, sign(k, MSG, identity=b"ceo@sub.bank.test"), rsa_rec)
    seed("identity_strict_key", 0x07, sign(k, MSG, identity=b"ceo@sub.bank.test"),
         rsa_rec.replace(b"k=rsa;", b"k=rsa; t=s;"))
    seed("rsa_sha1", 0x07, sign(k, MSG, alg=b"rsa-sha1"), rsa_rec)
    # Issue 11's crashes: an empty h= in the signature, an empty t= in the key.
    seed("empty_h", 0x07, re.sub(rb"h=[^;]*;", b"h=;", sign(k, MSG), count=1), rsa_rec)
    seed("empty_key_t", 0x07, sign(k, MSG, "ed"), ed_rec.replace(b"k=ed25519;", b"k=ed25519; t=;"))
    seed("empty_key_tags", 0x07, sign(k, MSG, "ed"),
         ed_rec.replace(b"k=ed25519;", b"k=ed25519; t=; h=; s=; n=;"))
    seed("key_testing", 0x07, sign(k, MSG + b"tampered\r\n", "ed")[:-10] + b"changed\r\n",
         ed_rec.replace(b"k=ed25519;", b"k=ed25519; t=y:s; h=sha256; s=email:*;"))
    seed("key_revoked", 0x07, sign(k, MSG), b"v=DKIM1; k=rsa; p=")
    seed("key_tempfail_none", 0x07, sign(k, sign(k, MSG), "ed"), b"TEMPFAIL", b"NONE")
    # z=, x=, q=, and a tag added after signing (breaks the signature but
    # walks every tag's parser).
    seed("z_and_x", 0x07, sign(k, MSG).replace(
        b"DKIM-Signature: v=1;",
        b"DKIM-Signature: v=1; z=From:ceo=40bank.test|To:bob=40example.test; x=1999999999;", 1),
        rsa_rec)
    # Several signatures, and more than the verifier evaluates.
    many = MSG
    for i in range(3):
        many = sign(k, many, "ed" if i % 2 else "rsa")
    seed("three_signatures", 0x0f, many, rsa_rec, ed_rec, rsa_rec)
    for i in range(7):
        many = sign(k, many, "ed" if i % 2 else "rsa")
    seed("ten_signatures", 0x07, many, *([rsa_rec, ed_rec] * 4))
    seed("no_body", 0x00, sign(k, b"From: ceo@bank.test\r\nSubject: x\r\n"), rsa_rec)
    seed("unsigned", 0x01, MSG)


def canon_seeds():
    msgs = {
        "plain": MSG,
        "folded": b"Subject:  a\r\n\tfolded \t value  \r\nFROM : x@y\r\n\r\nbody  \t\r\n\r\n\r\n",
        "no_body": b"Subject: x\r\nTo: y\r\n",
        "empty": b"",
        "only_body": b"\r\nline\r\n \r\n\t\r\n",
        "bare_cr_lf": b"A: b\rc\nd\r\n\r\nx\ry\n z \r\r\n\r",
        "long_runs": b"X: " + b" " * 600 + b"y\r\n\r\n" + b"a" * 1500 + b" " * 700 + b"b\r\n",
        "dup_fields": b"From: a\r\nfrom: b\r\nFrom :c\r\nSubject: 1\r\nSubject: 2\r\n\r\n.\r\n",
        "no_colon": b"garbage line\r\n continued\r\nX:\r\n\r\nbody",
    }
    for i, (name, m) in enumerate(msgs.items()):
        write("dkim_canon", name, bytes([(i * 37) & 0xff]) + m)


def authres_seeds():
    msgs = {
        "forged": b"Authentication-Results: mx.example.test; dkim=pass header.d=bank.test\r\n"
                  b"Authentication-Results: other.host.test; spf=pass\r\n" + MSG,
        "variants": b"authentication-results:MX.EXAMPLE.TEST;dkim=pass\r\n"
                    b"Authentication-Results : (c (nested)) mx.example.test 1; none\r\n"
                    b"Authentication-Results:\r\n\t\"mx.example.test\"; none\r\n"
                    b"Authentication-Results: mx.example.test.evil; spf=pass\r\n"
                    b"X-Authentication-Results: mx.example.test; spf=pass\r\n\r\n"
                    b"Authentication-Results: mx.example.test; in the body\r\n",
        "no_body": b"Subject: x\r\nAuthentication-Results: mx.example.test; x\r\n",
        "hostile_values": b"-all) matched\r\nX-Evil: 1 (in\n\"a;b\"\r\nX-Evil: yes\"@x\nex..ample\n",
        "cr_at_end": b"Subject: cr\r\n\r",
    }
    for i, (name, m) in enumerate(msgs.items()):
        write("authres", name, bytes([i * 3]) + m)


def headers_seeds():
    values = {
        "simple": b"a@x.example",
        "display": b"Joe Q. Public <john.q.public@example.com>, \"Doe, John\" <j@x.example>",
        "comments": b"(c1 (nested) \\) ) <a@x.example> (c2), b@y (B, B)",
        "groups": b"team: a@x.example, B <b@y.example>;, undisclosed:;, c@z.example",
        "route": b"<@route.example,@other.example:a@x.example>",
        "quoted_local": b"\"john doe\"@x.example, john . doe @ x . example, a@[192.0.2.1]",
        "bypass": b"ceo@bank.test <x@attacker.test>",
        "utf8": "Élodie <élodie@exämple.test>, =?UTF-8?B?w4lsb2RpZQ==?= <e@x>".encode(),
        "header_section": b"From: A <a@x.example>\r\nSubject:  folded\r\n\tpart two \r\n"
                          b"subject: second\r\nFrom : b@y\r\nX-Empty:\r\n\r\nFrom: body\r\n",
        "hostile_helo": b"evil)\r\nX-Injected: yes (\\;<script>",
    }
    for name, v in values.items():
        write("headers", name, v)


if __name__ == "__main__":
    verify_seeds()
    canon_seeds()
    authres_seeds()
    headers_seeds()
