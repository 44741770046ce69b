/* Unit tests for proto/imap_bodystructure: BODY and BODYSTRUCTURE of tricky
 * messages compared with what Dovecot 2.3.19's imap sends for them (the
 * expected strings are its answers, captured from a real imap process over
 * a Maildir), and the limits (depth, a part cut short). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proto/imap_bodystructure.h"
#include "proto/mime.h"
#include "util/buf.h"

struct bs_case {
    const char *msg; /* LF line ends here; made CRLF before parsing */
    const char *bodystructure, *body;
};

/* From Dovecot 2.3.19: FETCH (BODYSTRUCTURE BODY) of each message. */
static const struct bs_case cases[] = {
    /* a plain message */
    {"From: A <a@b.c>\n"
     "Subject: hi\n"
     "\n"
     "body\n",
     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 1 NIL NIL NIL NIL)",
     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 1)"},
    /* multipart/mixed: preamble, epilogue, RFC 2231 continuations and charset'lang' values, every
       Content-* field */
    {"From: \"Doe, John\" <john@example.com>\n"
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
     "epilogue\n",
     "((\"text\" \"plain\" (\"charset\" \"ISO-8859-1\" \"format\" \"flowed\") \"<id1@x>\" \"the "
     "text\" \"quoted-printable\" 19 1 \"Q2hlY2sgSW50ZWdyaXR5IQ==\" NIL (\"en\" \"de\") "
     "\"http://x/y\")(\"application\" \"octet-stream\" (\"name\" \"longname.txt\") NIL NIL "
     "\"base64\" 16 NIL (\"attachment\" (\"size\" \"12\" \"filename*\" "
     "\"utf-8''%E2%82%AC%20rates.txt\")) NIL NIL)(\"text\" \"plain\" (\"name*\" "
     "\"us-ascii'en'This%20is%20%2A%2A%2Afun%2A%2A%2Aend\" \"charset\" \"us-ascii\") NIL NIL "
     "\"7bit\" 1 0 NIL (\"inline\" NIL) NIL NIL) \"mixed\" (\"boundary\" \"XYZ\") NIL NIL NIL)",
     "((\"text\" \"plain\" (\"charset\" \"ISO-8859-1\" \"format\" \"flowed\") \"<id1@x>\" \"the "
     "text\" \"quoted-printable\" 19 1)(\"application\" \"octet-stream\" (\"name\" "
     "\"longname.txt\") NIL NIL \"base64\" 16)(\"text\" \"plain\" (\"name*\" "
     "\"us-ascii'en'This%20is%20%2A%2A%2Afun%2A%2A%2Aend\" \"charset\" \"us-ascii\") NIL NIL "
     "\"7bit\" 1 0) \"mixed\")"},
    /* nested multiparts whose boundaries share a prefix (=_a, =_ab); the inner one never closed */
    {"From: a@b.c\n"
     "Content-Type: multipart/alternative; boundary=\"=_a\"\n"
     "\n"
     "--=_a\n"
     "Content-Type: text/plain\n"
     "\n"
     "plain\n"
     "--=_a\n"
     "Content-Type: multipart/related; boundary=\"=_ab\"\n"
     "\n"
     "--=_ab\n"
     "Content-Type: text/html\n"
     "\n"
     "<p>x</p>\n"
     "--=_ab\n"
     "Content-Type: image/png\n"
     "Content-Transfer-Encoding: base64\n"
     "\n"
     "iVBORw0KGgo=\n"
     "--=_a--\n",
     "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0 NIL NIL NIL "
     "NIL)((\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 8 0 NIL NIL NIL "
     "NIL)(\"image\" \"png\" NIL NIL NIL \"base64\" 12 NIL NIL NIL NIL) \"related\" (\"boundary\" "
     "\"=_ab\") NIL NIL NIL) \"alternative\" (\"boundary\" \"=_a\") NIL NIL NIL)",
     "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0)((\"text\" \"html\" "
     "(\"charset\" \"us-ascii\") NIL NIL \"7bit\" 8 0)(\"image\" \"png\" NIL NIL NIL \"base64\" "
     "12) \"related\") \"alternative\")"},
    /* a message/rfc822 part holding a multipart, with a group in its To */
    {"From: a@b.c\n"
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
     "--outer--\n",
     "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 12 0 NIL NIL NIL "
     "NIL)(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 248 (\"Mon, 1 Jan 2024 00:00:00 +0000\" "
     "\"inner subj\" ((\"Inner\" NIL \"inner\" \"x.y\")) ((\"Inner\" NIL \"inner\" \"x.y\")) "
     "((\"Inner\" NIL \"inner\" \"x.y\")) ((NIL NIL \"group\" NIL)(NIL NIL \"m1\" \"x\")(\"M 2\" "
     "NIL \"m2\" \"x\")(NIL NIL NIL NIL)(NIL NIL \"plain\" \"z\")) NIL NIL NIL \"<inner@x>\") "
     "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 10 0 NIL NIL NIL NIL) "
     "\"mixed\" (\"boundary\" \"in\") NIL NIL NIL) 12 NIL NIL NIL NIL) \"mixed\" (\"boundary\" "
     "\"outer\") NIL NIL NIL)",
     "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 12 0)(\"message\" "
     "\"rfc822\" NIL NIL NIL \"7bit\" 248 (\"Mon, 1 Jan 2024 00:00:00 +0000\" \"inner subj\" "
     "((\"Inner\" NIL \"inner\" \"x.y\")) ((\"Inner\" NIL \"inner\" \"x.y\")) ((\"Inner\" NIL "
     "\"inner\" \"x.y\")) ((NIL NIL \"group\" NIL)(NIL NIL \"m1\" \"x\")(\"M 2\" NIL \"m2\" "
     "\"x\")(NIL NIL NIL NIL)(NIL NIL \"plain\" \"z\")) NIL NIL NIL \"<inner@x>\") ((\"text\" "
     "\"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 10 0) \"mixed\") 12) \"mixed\")"},
    /* multipart/digest: a part without Content-Type is message/rfc822 */
    {"From: a@b.c\n"
     "Content-Type: multipart/digest; boundary=d\n"
     "\n"
     "--d\n"
     "\n"
     "From: d1@x\n"
     "Subject: one\n"
     "\n"
     "first\n"
     "--d\n"
     "Content-Type: text/plain\n"
     "\n"
     "not a message\n"
     "--d--\n",
     "((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 33 (NIL \"one\" ((NIL NIL \"d1\" \"x\")) ((NIL "
     "NIL \"d1\" \"x\")) ((NIL NIL \"d1\" \"x\")) NIL NIL NIL NIL NIL) (\"text\" \"plain\" "
     "(\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0 NIL NIL NIL NIL) 3 NIL NIL NIL NIL)(\"text\" "
     "\"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 13 0 NIL NIL NIL NIL) \"digest\" "
     "(\"boundary\" \"d\") NIL NIL NIL)",
     "((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 33 (NIL \"one\" ((NIL NIL \"d1\" \"x\")) ((NIL "
     "NIL \"d1\" \"x\")) ((NIL NIL \"d1\" \"x\")) NIL NIL NIL NIL NIL) (\"text\" \"plain\" "
     "(\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0) 3)(\"text\" \"plain\" (\"charset\" "
     "\"us-ascii\") NIL NIL \"7bit\" 13 0) \"digest\")"},
    /* RFC 5322 A.1-style addresses: quoted names, a route, a comment, an empty group, an empty
       Reply-To; a folded subject with quotes */
    {"Date: Tue, 2 Jan 2024 10:00:00 +0100 (CET)\n"
     "Subject: =?utf-8?q?caf=C3=A9?= and\n"
     " \"quoted\" \\ back\n"
     "From: \"Joe Q. Public\" <john.q.public@example.com>, (comment) bare@x.y, "
     "<@route1,@route2:rt@host>\n"
     "To: Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>\n"
     "Cc: <boss@nil.test>, \"Giant; \\\"Big\\\" Box\" <sysservices@example.net>\n"
     "Bcc: undisclosed-recipients:;\n"
     "Reply-To:\n"
     "In-Reply-To: <1234@local.machine.example>\n"
     "Message-ID:   <5678.21-Nov-1997@example.com>  \n"
     "\n"
     "body\n",
     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 1 NIL NIL NIL NIL)",
     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 1)"},
    /* broken addresses (no domain, a lone @, a@b@c stops the list) and 8-bit text */
    {"From: no-domain, @, \"x\"@, a@b@c, <>\n"
     "To: \"\xc3"
     "\xa9"
     "t\xc3"
     "\xa9"
     "\" <e@x>\n"
     "Subject: 8bit \xc3"
     "\xa9"
     "t\xc3"
     "\xa9"
     "\n"
     "Sender: Sen <sen@x>\n"
     "\n"
     "body\n",
     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 1 NIL NIL NIL NIL)",
     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 1)"},
    /* no empty line and no body */
    {"From: a@b.c\n"
     "Subject: no body",
     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)",
     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)"},
    /* a multipart without its final boundary */
    {"Content-Type: multipart/mixed; boundary=b\n"
     "\n"
     "--b\n"
     "Content-Type: text/plain\n"
     "\n"
     "no final boundary\n",
     "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 19 1 NIL NIL NIL NIL) "
     "\"mixed\" (\"boundary\" \"b\") NIL NIL NIL)",
     "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 19 1) \"mixed\")"},
    /* upper-case type, parameters and disposition, an unknown encoding, no MIME-Version */
    {"Content-Type: TEXT/HTML; CHARSET=\"UTF-8\"; Foo=Bar\n"
     "Content-Transfer-Encoding: X-Weird\n"
     "Content-Disposition: ATTACHMENT; FILENAME=\"a.txt\"\n"
     "\n"
     "abc",
     "(\"TEXT\" \"HTML\" (\"CHARSET\" \"UTF-8\" \"Foo\" \"Bar\") NIL NIL \"X-Weird\" 3 0 NIL "
     "(\"ATTACHMENT\" (\"FILENAME\" \"a.txt\")) NIL NIL)",
     "(\"TEXT\" \"HTML\" (\"CHARSET\" \"UTF-8\" \"Foo\" \"Bar\") NIL NIL \"X-Weird\" 3 0)"},
    /* a multipart without a boundary parameter */
    {"Content-Type: multipart/mixed\n"
     "\n"
     "no boundary param\n",
     "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL) "
     "\"mixed\" NIL NIL NIL NIL)",
     "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) \"mixed\")"},
    /* folded subject, message-id and description; a Content-Type without subtype */
    {"Subject: hello\n"
     " world\n"
     "Message-ID: <a@b>\n"
     "  <c@d>\n"
     "Content-Type: text\n"
     "Content-Description: two\n"
     "  lines\n"
     "\n"
     "x\n",
     "(\"text\" \"\" (\"charset\" \"us-ascii\") NIL \"two  lines\" \"7bit\" 3 1 NIL NIL NIL NIL)",
     "(\"text\" \"\" (\"charset\" \"us-ascii\") NIL \"two  lines\" \"7bit\" 3 1)"},
    /* blanks around a subject; Content-* ignored without MIME-Version */
    {"Subject:   lead   spaces  \n"
     "Content-Transfer-Encoding: base64\n"
     "Content-ID: <x>\n"
     "\n"
     "x\n",
     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1 NIL NIL NIL NIL)",
     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1)"},
    /* repeated fields (last Subject, every From), comments as names, odd local parts */
    {"From: a@b\n"
     "Subject: a\n"
     "Subject: b\n"
     "From: c@d\n"
     "To: \"Q\\\"x\" <q@x>, (Name) n@x, n2@x (Name2), Real Name <r@x> (cmt)\n"
     "CC: a.b.@x, \"quoted local\"@x, [weird]@x, x@[1.2.3.4]\n"
     "\n"
     "x\n",
     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1 NIL NIL NIL NIL)",
     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1)"},
};

static void structure_of(const char *lf_msg, bool ext, struct buf *out)
{
    struct buf msg;
    buf_init(&msg);
    mime_to_crlf(lf_msg, strlen(lf_msg), &msg);
    struct mime_part *root = mime_parse(msg.data, msg.len);
    imap_bodystructure(msg.data, root, ext, out);
    mime_free(root);
    buf_free(&msg);
}

static void test_bodystructure_dovecot(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf out;
        buf_init(&out);
        structure_of(cases[i].msg, true, &out);
        assert_string_equal(out.data, cases[i].bodystructure);
        buf_reset(&out);
        structure_of(cases[i].msg, false, &out);
        assert_string_equal(out.data, cases[i].body);
        buf_free(&out);
    }
}

/* Multiparts nested past MIME_MAX_DEPTH: the deepest is an opaque
 * application/octet-stream, and the output stays balanced. */
static void test_bodystructure_depth(void **state)
{
    (void)state;
    struct buf msg, out;
    buf_init(&msg);
    buf_init(&out);
    for (int i = 0; i < MIME_MAX_DEPTH + 5; i++)
        buf_printf(&msg, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i);
    buf_append_str(&msg, "\r\nleaf\r\n");
    struct mime_part *root = mime_parse(msg.data, msg.len);
    imap_bodystructure(msg.data, root, true, &out);
    assert_non_null(strstr(out.data, "\"application\" \"octet-stream\""));
    int depth = 0, max = 0;
    for (size_t i = 0; i < out.len; i++) {
        depth += out.data[i] == '(' ? 1 : out.data[i] == ')' ? -1 : 0;
        max = depth > max ? depth : max;
    }
    assert_int_equal(depth, 0);
    assert_true(max >= MIME_MAX_DEPTH - 1);
    mime_free(root);
    buf_free(&msg);
    buf_free(&out);
}

/* A multipart/digest part whose header is cut by the boundary holds an
 * empty message (Dovecot 2.3.19 answers the same). */
static void test_bodystructure_cut_message(void **state)
{
    (void)state;
    const char *m = "Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n"
                    "Content-Type: message/rfc822\r\n--d--\r\n";
    struct buf out;
    buf_init(&out);
    struct mime_part *root = mime_parse(m, strlen(m));
    imap_bodystructure(m, root, true, &out);
    assert_string_equal(out.data,
                        "((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 0 (NIL NIL NIL NIL "
                        "NIL NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" "
                        "\"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL) 0 NIL NIL NIL "
                        "NIL) \"digest\" (\"boundary\" \"d\") NIL NIL NIL)");
    mime_free(root);
    buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bodystructure_dovecot),
        cmocka_unit_test(test_bodystructure_depth),
        cmocka_unit_test(test_bodystructure_cut_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
