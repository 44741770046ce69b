"""The tricky messages the Dovecot comparison fetches from both servers
(test_imap_dovecot.py): MIME nesting, message/rfc822, encoded words,
RFC 2231 parameters, groups, 8-bit text, LF-only files."""

PDF = bytes(range(256)) + b"\x00%PDF-1.4\r\n\x00\x00end"


def b64(data):
    import base64
    text = base64.b64encode(data).decode()
    return "\r\n".join(text[i:i + 76] for i in range(0, len(text), 76))


MIXED = f"""From: =?UTF-8?Q?Ren=C3=A9e_Dupont?= <renee@remote.test>
To: Alice <alice@example.test>
Subject: =?UTF-8?B?UmVwb3J0IGZvciBjYWbDqQ==?=
Date: Mon, 02 Mar 2026 09:15:00 +0100
Message-ID: <mixed1@remote.test>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer-=_1"

This is a multi-part message in MIME format.
--outer-=_1
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Hello Alice, the report is attached. Caf=C3=A9 prices rose by a soft=
 line break.
--outer-=_1
Content-Type: application/pdf; name="=?UTF-8?Q?r=C3=A9sum=C3=A9.pdf?="
Content-Disposition: attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf
Content-Transfer-Encoding: base64
Content-ID: <att1@remote.test>
Content-Description: The =?UTF-8?Q?r=C3=A9sum=C3=A9?=

{b64(PDF)}
--outer-=_1
Content-Type: text/csv; charset=us-ascii; name=data.csv
Content-Disposition: attachment; filename=data.csv; size=9
Content-Language: en
Content-Location: http://files.remote.test/data.csv
Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==

a,b
1,2
--outer-=_1--
the epilogue
"""

NESTED = f"""From: Bob Example <bob@remote.test>
To: alice@example.test
Cc: "Doe, Jane" <jane@remote.test>, mark@remote.test
Subject: nested alternative
Date: Tue, 3 Mar 2026 23:59:59 -0800
Message-ID: <nested@remote.test>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=b1

--b1
Content-Type: multipart/alternative; boundary="b2"

--b2
Content-Type: text/plain; charset="us-ascii"; format=flowed

Plain rates text.
--b2
Content-Type: multipart/related; boundary="b3"; type="text/html"

--b3
Content-Type: text/html; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

<p>Caf=E9 <img src=3D"cid:logo@remote.test"></p>
--b3
Content-Type: image/png
Content-Transfer-Encoding: base64
Content-ID: <logo@remote.test>
Content-Disposition: inline

{b64(b"PNG-ish " + bytes(range(40)))}
--b3--
--b2--
--b1
Content-Type: application/octet-stream
Content-Disposition: attachment;
 filename*0*=utf-8'en'%E2%82%AC;
 filename*1=" rates";
 filename*2=".txt"
Content-Transfer-Encoding: 7bit

euro rates
--b1--
"""

INNER = """From: Dave <dave@inner.test>
To: carol@remote.test
Subject: =?ISO-8859-1?Q?Inner_r=E9ponse?=
Date: Sun, 1 Mar 2026 08:00:00 +0000
Message-ID: <inner@inner.test>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary=in1

--in1
Content-Type: text/plain

inner plain
--in1
Content-Type: text/html

<b>inner html</b>
--in1--
"""

FORWARD = f"""From: Carol <carol@remote.test>
To: alice@example.test
Subject: Fwd: two messages
Date: Wed, 4 Mar 2026 12:00:00 +0000
Message-ID: <fwd@remote.test>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=fw

--fw
Content-Type: text/plain

See the two forwarded messages.
--fw
Content-Type: message/rfc822
Content-Description: first one

{INNER}
--fw
Content-Type: message/rfc822

Subject: tiny
From: eve@inner.test

tiny body
--fw--
"""

HEADERS = """From: =?UTF-8?B?w4lsb2RpZQ==?= <elodie@remote.test>
Sender: list-bounces@lists.remote.test
Reply-To: Team: a@remote.test, "B. B." <b@remote.test>;
To: undisclosed-recipients:;
Cc: Friends: frank@remote.test, =?UTF-8?Q?G=C3=BCnter?= <gunter@remote.test>;, hal@remote.test
Bcc: <ivy@remote.test>
Subject: =?UTF-8?Q?Caf=C3=A9_au_lait?= and
 =?ISO-8859-1?Q?cr=E8me?= (folded)
In-Reply-To: <parent@remote.test>
Message-ID: <headers@remote.test>
X-Custom: marker-42

No Date header, groups and encoded words.
"""

EIGHTBIT = ("From: Zoë <zoe@remote.test>\nTo: alice@example.test\n"
            "Subject: Grüße aus Köln\nDate: Thu, 5 Mar 2026 10:00:00 +0100\n"
            "Message-ID: <8bit@remote.test>\nMIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
            "Schöne Grüße, naïve café.\nZweite Zeile.\n")

LF_ONLY = """From: lf@remote.test
To: alice@example.test
Subject: LF only
Date: Fri, 6 Mar 2026 10:00:00 +0000
Message-ID: <lf@remote.test>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="lf"

--lf
Content-Type: text/plain

one
two
--lf
Content-Type: text/html

<p>one</p>
--lf--
"""

TOP_RFC822 = """From: fwd@remote.test
To: alice@example.test
Subject: forwarded as the whole body
Date: Sat, 7 Mar 2026 10:00:00 +0000
MIME-Version: 1.0
Content-Type: message/rfc822

From: orig@remote.test
Subject: original
Content-Type: text/plain; charset=us-ascii

original body
"""

PLAIN = "Subject: bare\n\nno From, no Date, no MIME header, no final newline"

# (name, bytes, file mtime, extra sections (for BODY.PEEK) or items that
# apply to it)
TRICKY = [
    ("mixed", MIXED.replace("\n", "\r\n").encode(), 1772439300,
     ["2", "2.MIME", "3", "3.MIME", "1.HEADER", "4", "BINARY.PEEK[2]", "BINARY.SIZE[2]",
      "BINARY.PEEK[2]<0.10>", "BODY.PEEK[2]<10.30>", "BODY.PEEK[]<100000.10>", "BINARY.PEEK[3]"]),
    ("nested", NESTED.replace("\n", "\r\n").encode(), 1772611199,
     ["1.1", "1.2", "1.2.1", "1.2.2.MIME", "1.2.2", "2.MIME", "1.MIME", "BINARY.PEEK[1.2.2]",
      "BINARY.PEEK[1.2.1]", "BINARY.SIZE[1.2.1]", "BINARY.PEEK[2]"]),
    ("forward", FORWARD.replace("\n", "\r\n").encode(), 1772625600,
     ["2.HEADER", "2.TEXT", "2.1", "2.1.MIME", "2.2", "2.MIME", "3.HEADER", "3.TEXT", "3.1"]),
    ("headers", HEADERS.replace("\n", "\r\n").encode(), 1772700000,
     ["HEADER.FIELDS (To Cc Reply-To)", "HEADER.FIELDS.NOT (Subject X-Custom)"]),
    ("8bit", EIGHTBIT.replace("\n", "\r\n").encode(), 1772701000, []),
    ("lf-only", LF_ONLY.encode(), 1772790000, ["2", "2.MIME", "1.MIME"]),
    ("top-rfc822", TOP_RFC822.replace("\n", "\r\n").encode(), 1772877600,
     ["1.HEADER", "1.TEXT", "1.1", "2"]),
    ("plain", PLAIN.encode(), 1772880000, ["1.MIME", "2"]),
]

