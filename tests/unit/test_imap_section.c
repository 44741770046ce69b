/* Unit tests for proto/imap_section: fetch body items parsed, resolved
 * against messages and echoed, compared with what Dovecot 2.3.19's imap
 * sends for the same items (the expected data and names are its answers,
 * captured from a real imap process over a Maildir); the parser's refusals;
 * the BINARY decoders and UNKNOWN-CTE. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/imap_section.h"
#include "proto/mime.h"
#include "util/buf.h"

/* LF line ends here; made CRLF before parsing */
static const char *const m2_msg =
    "From: \"Doe, John\" <john@example.com>\n"
    "To: a@b.c\n"
    "Subject: multi\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/mixed; boundary=\"XYZ\"\n"
    "\n"
    "preamble line\n"
    "--XYZ\n"
    "Content-Type: text/plain; charset=ISO-8859-1; format=flowed\n"
    "Content-Transfer-Encoding: quoted-printable\n"
    "Content-ID: <id1@x>\n"
    "Content-Description: the text\n"
    "Content-Language: en, de\n"
    "Content-Location: http://x/y\n"
    "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\n"
    "\n"
    "caf=E9 soft=\n"
    "break\n"
    "--XYZ\n"
    "Content-Type: application/octet-stream; name*0=\"long\"; name*1=\"name.txt\"\n"
    "Content-Disposition: attachment; filename*=utf-8''%E2%82%AC%20rates.txt; size=12\n"
    "Content-Transfer-Encoding: base64\n"
    "\n"
    "aGVsbG8gd29ybGQK\n"
    "--XYZ\n"
    "Content-Type: text/plain; name*0*=us-ascii'en'This%20is%20; name*1*=%2A%2A%2Afun%2A%2A%2A; "
    "name*2=\"end\"\n"
    "Content-Disposition: inline\n"
    "\n"
    "x\n"
    "--XYZ--\n"
    "epilogue\n";
static const char *const m4_msg = "From: a@b.c\n"
                                  "Subject: fwd\n"
                                  "Content-Type: multipart/mixed; boundary=outer\n"
                                  "\n"
                                  "--outer\n"
                                  "\n"
                                  "see attached\n"
                                  "--outer\n"
                                  "Content-Type: message/rfc822\n"
                                  "\n"
                                  "From: Inner <inner@x.y>\n"
                                  "To: group: m1@x, \"M 2\" <m2@x>;, plain@z\n"
                                  "Subject: inner subj\n"
                                  "Date: Mon, 1 Jan 2024 00:00:00 +0000\n"
                                  "Message-ID: <inner@x>\n"
                                  "Content-Type: multipart/mixed; boundary=in\n"
                                  "\n"
                                  "--in\n"
                                  "Content-Type: text/plain\n"
                                  "\n"
                                  "inner text\n"
                                  "--in--\n"
                                  "\n"
                                  "--outer--\n";
static const char *const m1_msg = "From: A <a@b.c>\n"
                                  "Subject: hi\n"
                                  "\n"
                                  "body\n";
/* The whole body is a message (Content-Type: message/rfc822 at the top): its
 * part 1 is the embedded message, not the embedded message's body. */
static const char *const top_rfc822_msg = "From: fwd@remote.test\n"
                                          "To: alice@example.test\n"
                                          "Subject: forwarded as the whole body\n"
                                          "Date: Sat, 7 Mar 2026 10:00:00 +0000\n"
                                          "MIME-Version: 1.0\n"
                                          "Content-Type: message/rfc822\n"
                                          "\n"
                                          "From: orig@remote.test\n"
                                          "Subject: original\n"
                                          "Content-Type: text/plain; charset=us-ascii\n"
                                          "\n"
                                          "original body\n";
/* The same, the embedded message multipart, with a message/rfc822 in it. */
static const char *const top_multi_msg = "From: fwd@x.y\n"
                                         "Subject: fw\n"
                                         "MIME-Version: 1.0\n"
                                         "Content-Type: message/rfc822\n"
                                         "\n"
                                         "From: orig@x.y\n"
                                         "Subject: inner multi\n"
                                         "MIME-Version: 1.0\n"
                                         "Content-Type: multipart/mixed; boundary=b\n"
                                         "\n"
                                         "--b\n"
                                         "Content-Type: text/plain\n"
                                         "\n"
                                         "part one\n"
                                         "--b\n"
                                         "Content-Type: message/rfc822\n"
                                         "\n"
                                         "Subject: deep\n"
                                         "Content-Type: text/plain\n"
                                         "Content-Transfer-Encoding: base64\n"
                                         "\n"
                                         "ZGVlcCBib2R5Cg==\n"
                                         "--b--\n";
/* A message/rfc822 at the top whose embedded message is one too. */
static const char *const top_twice_msg = "Subject: outer\n"
                                         "Content-Type: message/rfc822\n"
                                         "\n"
                                         "Subject: middle\n"
                                         "Content-Type: message/rfc822\n"
                                         "\n"
                                         "Subject: innermost\n"
                                         "\n"
                                         "last\n";

struct section_case {
    const char *msg;
    const char *item; /* as the client sends it (BODY.PEEK was sent to Dovecot) */
    const char *name; /* the echo */
    bool is_size;     /* BINARY.SIZE: size holds the answer */
    bool literal8;
    size_t size;
    const char *data;
    size_t len;
};

/* From Dovecot 2.3.19: FETCH of each item (BODY.PEEK/BINARY.PEEK sent). */
static const struct section_case cases[] = {
    {m2_msg, "BODY[1]", "BODY[1]", false, false, 0,
     "caf=E9 soft=\r\n"
     "break",
     19},
    {m2_msg, "BODY[1.MIME]", "BODY[1.MIME]", false, false, 0,
     "Content-Type: text/plain; charset=ISO-8859-1; format=flowed\r\n"
     "Content-Transfer-Encoding: quoted-printable\r\n"
     "Content-ID: <id1@x>\r\n"
     "Content-Description: the text\r\n"
     "Content-Language: en, de\r\n"
     "Content-Location: http://x/y\r\n"
     "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\n"
     "\r\n",
     255},
    {m2_msg, "BODY[2]<3.5>", "BODY[2]<3>", false, false, 0, "sbG8g", 5},
    {m2_msg, "BODY[HEADER.FIELDS (Subject to X-None)]", "BODY[HEADER.FIELDS (SUBJECT TO X-NONE)]",
     false, false, 0,
     "To: a@b.c\r\n"
     "Subject: multi\r\n"
     "\r\n",
     29},
    {m2_msg, "BODY[header.fields.not (from to Subject content-type mime-version)]",
     "BODY[HEADER.FIELDS.NOT (FROM TO SUBJECT CONTENT-TYPE MIME-VERSION)]", false, false, 0, "\r\n",
     2},
    {m2_msg, "BODY[4]", "BODY[4]", false, false, 0, "", 0},
    {m2_msg, "BODY[1.1]", "BODY[1.1]", false, false, 0,
     "caf=E9 soft=\r\n"
     "break",
     19},
    {m2_msg, "BODY[2.HEADER]", "BODY[2.HEADER]", false, false, 0, "", 0},
    {m2_msg, "BODY[TEXT]<800.100>", "BODY[TEXT]<800>", false, false, 0, "", 0},
    {m2_msg, "BINARY[1]", "BINARY[1]", false, true, 0,
     "caf\xe9"
     " softbreak",
     14},
    {m2_msg, "BINARY[2]", "BINARY[2]", false, true, 0, "hello world\n", 12},
    {m2_msg, "BINARY.SIZE[1]", "BINARY.SIZE[1]", true, false, 14, NULL, 0},
    {m2_msg, "BINARY.SIZE[2]", "BINARY.SIZE[2]", true, false, 12, NULL, 0},
    {m2_msg, "BINARY[2]<2.3>", "BINARY[2]<2>", false, true, 0, "llo", 3},
    {m2_msg, "BINARY[3]", "BINARY[3]", false, false, 0, "x", 1},
    {m2_msg, "BINARY[1.1]", "BINARY[1.1]", false, true, 0,
     "caf\xe9"
     " softbreak",
     14},
    {m2_msg, "BODY[1.TEXT]", "BODY[1.TEXT]", false, false, 0, "", 0},
    {m2_msg, "BODY[3.MIME]", "BODY[3.MIME]", false, false, 0,
     "Content-Type: text/plain; name*0*=us-ascii'en'This%20is%20; name*1*=%2A%2A%2Afun%2A%2A%2A; "
     "name*2=\"end\"\r\n"
     "Content-Disposition: inline\r\n"
     "\r\n",
     136},
    {m2_msg, "BODY[HEADER]", "BODY[HEADER]", false, false, 0,
     "From: \"Doe, John\" <john@example.com>\r\n"
     "To: a@b.c\r\n"
     "Subject: multi\r\n"
     "MIME-Version: 1.0\r\n"
     "Content-Type: multipart/mixed; boundary=\"XYZ\"\r\n"
     "\r\n",
     133},
    {m4_msg, "BODY[2.HEADER]", "BODY[2.HEADER]", false, false, 0,
     "From: Inner <inner@x.y>\r\n"
     "To: group: m1@x, \"M 2\" <m2@x>;, plain@z\r\n"
     "Subject: inner subj\r\n"
     "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
     "Message-ID: <inner@x>\r\n"
     "Content-Type: multipart/mixed; boundary=in\r\n"
     "\r\n",
     194},
    {m4_msg, "BODY[2.TEXT]", "BODY[2.TEXT]", false, false, 0,
     "--in\r\n"
     "Content-Type: text/plain\r\n"
     "\r\n"
     "inner text\r\n"
     "--in--\r\n",
     54},
    {m4_msg, "BODY[2.1]", "BODY[2.1]", false, false, 0, "inner text", 10},
    {m4_msg, "BODY[2.1.MIME]", "BODY[2.1.MIME]", false, false, 0,
     "Content-Type: text/plain\r\n"
     "\r\n",
     28},
    {m4_msg, "BODY[2.MIME]", "BODY[2.MIME]", false, false, 0,
     "Content-Type: message/rfc822\r\n"
     "\r\n",
     32},
    {m4_msg, "BODY[2.HEADER.FIELDS (subject)]", "BODY[2.HEADER.FIELDS (SUBJECT)]", false, false, 0,
     "Subject: inner subj\r\n"
     "\r\n",
     23},
    {m4_msg, "BINARY.SIZE[2]", "BINARY.SIZE[2]", true, false, 248, NULL, 0},
    {m4_msg, "BODY[2.1.1]", "BODY[2.1.1]", false, false, 0, "inner text", 10},
    {m4_msg, "BODY[2]", "BODY[2]", false, false, 0,
     "From: Inner <inner@x.y>\r\n"
     "To: group: m1@x, \"M 2\" <m2@x>;, plain@z\r\n"
     "Subject: inner subj\r\n"
     "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
     "Message-ID: <inner@x>\r\n"
     "Content-Type: multipart/mixed; boundary=in\r\n"
     "\r\n"
     "--in\r\n"
     "Content-Type: text/plain\r\n"
     "\r\n"
     "inner text\r\n"
     "--in--\r\n",
     248},
    {m4_msg, "BODY[1]", "BODY[1]", false, false, 0, "see attached", 12},
    {m1_msg, "BODY[1]", "BODY[1]", false, false, 0, "body\r\n", 6},
    {m1_msg, "BODY[1.MIME]", "BODY[1.MIME]", false, false, 0,
     "From: A <a@b.c>\r\n"
     "Subject: hi\r\n"
     "\r\n",
     32},
    {m1_msg, "BODY[2]", "BODY[2]", false, false, 0, "", 0},
    {m1_msg, "BINARY[1]", "BINARY[1]", false, false, 0, "body\r\n", 6},
    {m1_msg, "BODY[0]", "BODY[0]", false, false, 0, "", 0},
    {m1_msg, "BODY[]<2.0>", "BODY[]<2>", false, false, 0, "", 0},
    {m1_msg, "BODY[]<2.4294967295>", "BODY[]<2>", false, false, 0,
     "om: A <a@b.c>\r\n"
     "Subject: hi\r\n"
     "\r\n"
     "body\r\n",
     36},
    {m1_msg, "BODY[HEADER.FIELDS (\"subject\" from)]", "BODY[HEADER.FIELDS (\"SUBJECT\" FROM)]",
     false, false, 0,
     "From: A <a@b.c>\r\n"
     "Subject: hi\r\n"
     "\r\n",
     32},
    {m1_msg, "BODY[]", "BODY[]", false, false, 0,
     "From: A <a@b.c>\r\n"
     "Subject: hi\r\n"
     "\r\n"
     "body\r\n",
     38},
    {m1_msg, "BODY[TEXT]", "BODY[TEXT]", false, false, 0, "body\r\n", 6},
    /* From Dovecot 2.3.19 too: part numbers of message/rfc822 at the top and
     * below it; past a part that is neither multipart nor message/rfc822
     * only a last .1 names the part itself. */
    {top_rfc822_msg, "BODY[1]", "BODY[1]", false, false, 0,
     "From: orig@remote.test\r\n"
     "Subject: original\r\n"
     "Content-Type: text/plain; charset=us-ascii\r\n"
     "\r\n"
     "original body\r\n",
     104},
    {top_rfc822_msg, "BODY[1.MIME]", "BODY[1.MIME]", false, false, 0,
     "From: fwd@remote.test\r\n"
     "To: alice@example.test\r\n"
     "Subject: forwarded as the whole body\r\n"
     "Date: Sat, 7 Mar 2026 10:00:00 +0000\r\n"
     "MIME-Version: 1.0\r\n"
     "Content-Type: message/rfc822\r\n"
     "\r\n",
     174},
    {top_rfc822_msg, "BODY[1.HEADER]", "BODY[1.HEADER]", false, false, 0,
     "From: orig@remote.test\r\n"
     "Subject: original\r\n"
     "Content-Type: text/plain; charset=us-ascii\r\n"
     "\r\n",
     89},
    {top_rfc822_msg, "BODY[1.TEXT]", "BODY[1.TEXT]", false, false, 0, "original body\r\n", 15},
    {top_rfc822_msg, "BODY[1.1]", "BODY[1.1]", false, false, 0, "original body\r\n", 15},
    {top_rfc822_msg, "BODY[1.1.MIME]", "BODY[1.1.MIME]", false, false, 0,
     "From: orig@remote.test\r\n"
     "Subject: original\r\n"
     "Content-Type: text/plain; charset=us-ascii\r\n"
     "\r\n",
     89},
    {top_rfc822_msg, "BODY[1.1.1]", "BODY[1.1.1]", false, false, 0, "", 0},
    {top_rfc822_msg, "BODY[1.2]", "BODY[1.2]", false, false, 0, "", 0},
    {top_rfc822_msg, "BODY[2]", "BODY[2]", false, false, 0, "", 0},
    {top_rfc822_msg, "BINARY[1]", "BINARY[1]", false, false, 0,
     "From: orig@remote.test\r\n"
     "Subject: original\r\n"
     "Content-Type: text/plain; charset=us-ascii\r\n"
     "\r\n"
     "original body\r\n",
     104},
    {top_rfc822_msg, "BINARY.SIZE[1]", "BINARY.SIZE[1]", true, false, 104, NULL, 0},
    {top_rfc822_msg, "BINARY[1.1]", "BINARY[1.1]", false, false, 0, "original body\r\n", 15},
    {top_rfc822_msg, "BODY[1]<0.5>", "BODY[1]<0>", false, false, 0, "From:", 5},
    {top_rfc822_msg, "BODY[1.HEADER.FIELDS (Subject)]", "BODY[1.HEADER.FIELDS (SUBJECT)]", false,
     false, 0,
     "Subject: original\r\n"
     "\r\n",
     21},
    {top_rfc822_msg, "BODY[1.1.HEADER]", "BODY[1.1.HEADER]", false, false, 0, "", 0},
    {top_rfc822_msg, "BODY[1.1.TEXT]", "BODY[1.1.TEXT]", false, false, 0, "", 0},
    {top_multi_msg, "BODY[1]", "BODY[1]", false, false, 0,
     "From: orig@x.y\r\n"
     "Subject: inner multi\r\n"
     "MIME-Version: 1.0\r\n"
     "Content-Type: multipart/mixed; boundary=b\r\n"
     "\r\n"
     "--b\r\n"
     "Content-Type: text/plain\r\n"
     "\r\n"
     "part one\r\n"
     "--b\r\n"
     "Content-Type: message/rfc822\r\n"
     "\r\n"
     "Subject: deep\r\n"
     "Content-Type: text/plain\r\n"
     "Content-Transfer-Encoding: base64\r\n"
     "\r\n"
     "ZGVlcCBib2R5Cg==\r\n"
     "--b--\r\n",
     285},
    {top_multi_msg, "BODY[1.MIME]", "BODY[1.MIME]", false, false, 0,
     "From: fwd@x.y\r\n"
     "Subject: fw\r\n"
     "MIME-Version: 1.0\r\n"
     "Content-Type: message/rfc822\r\n"
     "\r\n",
     79},
    {top_multi_msg, "BODY[1.HEADER]", "BODY[1.HEADER]", false, false, 0,
     "From: orig@x.y\r\n"
     "Subject: inner multi\r\n"
     "MIME-Version: 1.0\r\n"
     "Content-Type: multipart/mixed; boundary=b\r\n"
     "\r\n",
     102},
    {top_multi_msg, "BODY[1.TEXT]", "BODY[1.TEXT]", false, false, 0,
     "--b\r\n"
     "Content-Type: text/plain\r\n"
     "\r\n"
     "part one\r\n"
     "--b\r\n"
     "Content-Type: message/rfc822\r\n"
     "\r\n"
     "Subject: deep\r\n"
     "Content-Type: text/plain\r\n"
     "Content-Transfer-Encoding: base64\r\n"
     "\r\n"
     "ZGVlcCBib2R5Cg==\r\n"
     "--b--\r\n",
     183},
    {top_multi_msg, "BODY[1.1]", "BODY[1.1]", false, false, 0, "part one", 8},
    {top_multi_msg, "BODY[1.1.MIME]", "BODY[1.1.MIME]", false, false, 0,
     "Content-Type: text/plain\r\n"
     "\r\n",
     28},
    {top_multi_msg, "BODY[1.1.1]", "BODY[1.1.1]", false, false, 0, "part one", 8},
    {top_multi_msg, "BODY[1.1.HEADER]", "BODY[1.1.HEADER]", false, false, 0, "", 0},
    {top_multi_msg, "BODY[1.2]", "BODY[1.2]", false, false, 0,
     "Subject: deep\r\n"
     "Content-Type: text/plain\r\n"
     "Content-Transfer-Encoding: base64\r\n"
     "\r\n"
     "ZGVlcCBib2R5Cg==",
     94},
    {top_multi_msg, "BODY[1.2.MIME]", "BODY[1.2.MIME]", false, false, 0,
     "Content-Type: message/rfc822\r\n"
     "\r\n",
     32},
    {top_multi_msg, "BODY[1.2.HEADER]", "BODY[1.2.HEADER]", false, false, 0,
     "Subject: deep\r\n"
     "Content-Type: text/plain\r\n"
     "Content-Transfer-Encoding: base64\r\n"
     "\r\n",
     78},
    {top_multi_msg, "BODY[1.2.TEXT]", "BODY[1.2.TEXT]", false, false, 0, "ZGVlcCBib2R5Cg==", 16},
    {top_multi_msg, "BODY[1.2.HEADER.FIELDS (subject)]", "BODY[1.2.HEADER.FIELDS (SUBJECT)]", false,
     false, 0,
     "Subject: deep\r\n"
     "\r\n",
     17},
    {top_multi_msg, "BODY[1.2.1]", "BODY[1.2.1]", false, false, 0, "ZGVlcCBib2R5Cg==", 16},
    {top_multi_msg, "BODY[1.2.1.MIME]", "BODY[1.2.1.MIME]", false, false, 0,
     "Subject: deep\r\n"
     "Content-Type: text/plain\r\n"
     "Content-Transfer-Encoding: base64\r\n"
     "\r\n",
     78},
    {top_multi_msg, "BODY[1.2.1.1]", "BODY[1.2.1.1]", false, false, 0, "", 0},
    {top_multi_msg, "BODY[1.3]", "BODY[1.3]", false, false, 0, "", 0},
    {top_multi_msg, "BODY[2]", "BODY[2]", false, false, 0, "", 0},
    {top_multi_msg, "BINARY[1.2.1]", "BINARY[1.2.1]", false, true, 0, "deep body\n", 10},
    {top_multi_msg, "BINARY.SIZE[1.2.1]", "BINARY.SIZE[1.2.1]", true, false, 10, NULL, 0},
    {top_multi_msg, "BINARY[1.1]", "BINARY[1.1]", false, false, 0, "part one", 8},
    {top_multi_msg, "BODY[1.2]<3.10>", "BODY[1.2]<3>", false, false, 0, "ject: deep", 10},
    {top_twice_msg, "BODY[1]", "BODY[1]", false, false, 0,
     "Subject: middle\r\n"
     "Content-Type: message/rfc822\r\n"
     "\r\n"
     "Subject: innermost\r\n"
     "\r\n"
     "last\r\n",
     77},
    {top_twice_msg, "BODY[1.MIME]", "BODY[1.MIME]", false, false, 0,
     "Subject: outer\r\n"
     "Content-Type: message/rfc822\r\n"
     "\r\n",
     48},
    {top_twice_msg, "BODY[1.HEADER]", "BODY[1.HEADER]", false, false, 0,
     "Subject: middle\r\n"
     "Content-Type: message/rfc822\r\n"
     "\r\n",
     49},
    {top_twice_msg, "BODY[1.TEXT]", "BODY[1.TEXT]", false, false, 0,
     "Subject: innermost\r\n"
     "\r\n"
     "last\r\n",
     28},
    {top_twice_msg, "BODY[1.1]", "BODY[1.1]", false, false, 0,
     "Subject: innermost\r\n"
     "\r\n"
     "last\r\n",
     28},
    {top_twice_msg, "BODY[1.1.MIME]", "BODY[1.1.MIME]", false, false, 0,
     "Subject: middle\r\n"
     "Content-Type: message/rfc822\r\n"
     "\r\n",
     49},
    {top_twice_msg, "BODY[1.1.HEADER]", "BODY[1.1.HEADER]", false, false, 0,
     "Subject: innermost\r\n"
     "\r\n",
     22},
    {top_twice_msg, "BODY[1.1.TEXT]", "BODY[1.1.TEXT]", false, false, 0, "last\r\n", 6},
    {top_twice_msg, "BODY[1.1.1]", "BODY[1.1.1]", false, false, 0, "last\r\n", 6},
    {top_twice_msg, "BODY[1.1.1.MIME]", "BODY[1.1.1.MIME]", false, false, 0,
     "Subject: innermost\r\n"
     "\r\n",
     22},
    {top_twice_msg, "BODY[1.1.1.1]", "BODY[1.1.1.1]", false, false, 0, "", 0},
    {top_twice_msg, "BODY[1.2]", "BODY[1.2]", false, false, 0, "", 0},
    {top_twice_msg, "BINARY.SIZE[1.1]", "BINARY.SIZE[1.1]", true, false, 28, NULL, 0},
    {m1_msg, "BODY[1.1]", "BODY[1.1]", false, false, 0, "", 0},
    {m1_msg, "BODY[1.1.MIME]", "BODY[1.1.MIME]", false, false, 0, "", 0},
    {m1_msg, "BODY[1.HEADER]", "BODY[1.HEADER]", false, false, 0, "", 0},
    {m1_msg, "BODY[1.TEXT]", "BODY[1.TEXT]", false, false, 0, "", 0},
    {m1_msg, "BODY[1.1.1]", "BODY[1.1.1]", false, false, 0, "", 0},
    {m4_msg, "BODY[1.1]", "BODY[1.1]", false, false, 0, "see attached", 12},
    {m4_msg, "BODY[1.1.1]", "BODY[1.1.1]", false, false, 0, "", 0},
    {m4_msg, "BODY[2.1.1.1]", "BODY[2.1.1.1]", false, false, 0, "", 0},
    {m4_msg, "BODY[1.1.MIME]", "BODY[1.1.MIME]", false, false, 0, "\r\n", 2},
};

static void test_section_dovecot(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct section_case *c = &cases[i];
        struct buf msg;
        struct imap_section sec;
        struct imap_section_octets o;
        buf_init(&msg);
        mime_to_crlf(c->msg, strlen(c->msg), &msg);
        struct mime_part *root = mime_parse(msg.data, msg.len);
        assert_true(imap_section_parse(c->item, strlen(c->item), &sec));
        assert_string_equal(sec.name, c->name);
        assert_int_equal(imap_section_resolve(&sec, msg.data, msg.len, root, &o), IMAP_SECTION_OK);
        if (c->is_size ? o.size != c->size
                       : o.len != c->len || o.literal8 != c->literal8 ||
                             memcmp(o.built ? o.data.data : msg.data + o.off, c->data, c->len) != 0)
            fail_msg("case %zu, %s: got %zu octets (size %zu, literal8 %d): \"%.*s\"", i, c->item,
                     o.len, o.size, o.literal8, (int)o.len,
                     o.built ? o.data.data : msg.data + o.off);
        buf_free(&o.data);
        imap_section_free(&sec);
        mime_free(root);
        buf_free(&msg);
    }
}

static void test_section_parse(void **state)
{
    (void)state;
    struct imap_section sec;
    const char *item = "body.peek[1.2.header.fields.not (A \"b c\")]<10.20>";
    assert_true(imap_section_parse(item, strlen(item), &sec));
    assert_true(sec.peek);
    assert_int_equal(sec.item, IMAP_ITEM_BODY);
    assert_int_equal(sec.n_parts, 2);
    assert_int_equal(sec.parts[0], 1);
    assert_int_equal(sec.parts[1], 2);
    assert_int_equal(sec.text, IMAP_SECTION_HEADER_FIELDS_NOT);
    assert_int_equal(sec.n_fields, 2);
    assert_string_equal(sec.fields[1], "b c");
    assert_true(sec.partial);
    assert_int_equal(sec.origin, 10);
    assert_int_equal(sec.count, 20);
    assert_string_equal(sec.name, "BODY[1.2.HEADER.FIELDS.NOT (A \"B C\")]<10>");
    imap_section_free(&sec);
    item = "BINARY.PEEK[3]";
    assert_true(imap_section_parse(item, strlen(item), &sec));
    assert_string_equal(sec.name, "BINARY[3]");
    imap_section_free(&sec);
}

static void test_section_parse_bad(void **state)
{
    (void)state;
    /* Dovecot answers BAD to BODY[MIME] and BODY[HEADER.FIELDS ()] */
    const char *bad[] = {"BODY[MIME]",
                         "BODY[HEADER.FIELDS ()]",
                         "BODY[HEADER.FIELDS]",
                         "BODY[HEADER.FIELDS (A]",
                         "BODY[HEADER.FIELDS (\"A)]",
                         "BODY[1.]",
                         "BODY[.1]",
                         "BODY[1..2]",
                         "BODY[TEXTX]",
                         "BODY[1]<",
                         "BODY[1]<1>",
                         "BODY[1]<1.>",
                         "BODY[1]<1.2",
                         "BODY[1]x",
                         "BODY[99999999999]",
                         "BODY[",
                         "BODY",
                         "BODYX[]",
                         "BINARY[HEADER]",
                         "BINARY[1.MIME]",
                         "BINARY.SIZE[1]<0.1>",
                         "RFC822",
                         ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct imap_section sec;
        assert_false(imap_section_parse(bad[i], strlen(bad[i]), &sec));
    }
}

static void test_section_unknown_cte(void **state)
{
    (void)state;
    const char *m = "MIME-Version: 1.0\r\nContent-Transfer-Encoding: X-Weird\r\n\r\nabc";
    struct mime_part *root = mime_parse(m, strlen(m));
    struct imap_section sec;
    struct imap_section_octets o;
    assert_true(imap_section_parse("BINARY[1]", 9, &sec));
    assert_int_equal(imap_section_resolve(&sec, m, strlen(m), root, &o), IMAP_SECTION_UNKNOWN_CTE);
    buf_free(&o.data);
    imap_section_free(&sec);
    /* BODY[] sends it as it is */
    assert_true(imap_section_parse("BODY[1]", 7, &sec));
    assert_int_equal(imap_section_resolve(&sec, m, strlen(m), root, &o), IMAP_SECTION_OK);
    assert_int_equal(o.len, 3);
    buf_free(&o.data);
    imap_section_free(&sec);
    mime_free(root);
}

static void test_decoders(void **state)
{
    (void)state;
    struct buf out;
    buf_init(&out);
    imap_decode_base64("aGVs\r\nbG8=\r\n", 12, &out);
    assert_int_equal(out.len, 5);
    assert_memory_equal(out.data, "hello", 5);
    buf_reset(&out);
    imap_decode_base64("!!*", 3, &out);
    assert_int_equal(out.len, 0);
    buf_reset(&out);
    const char *qp = "a=3Db =\r\nc  \r\n=ZZ=4";
    imap_decode_qp(qp, strlen(qp), &out);
    assert_int_equal(out.len, strlen("a=b c\r\n=ZZ=4"));
    assert_memory_equal(out.data, "a=b c\r\n=ZZ=4", out.len);
    buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_section_dovecot),   cmocka_unit_test(test_section_parse),
        cmocka_unit_test(test_section_parse_bad), cmocka_unit_test(test_section_unknown_cte),
        cmocka_unit_test(test_decoders),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
