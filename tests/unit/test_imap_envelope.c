/* Unit tests for proto/imap_envelope: ENVELOPE of tricky header blocks
 * compared with what Dovecot 2.3.19's imap sends for the same messages (the
 * expected strings are its answers, captured from a real imap process over
 * a Maildir), and the IMAP string writers on their own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proto/imap_envelope.h"
#include "proto/mime.h"
#include "util/buf.h"

struct env_case {
    const char *msg; /* LF line ends here; made CRLF before parsing */
    const char *envelope;
};

/* From Dovecot 2.3.19: FETCH ENVELOPE of each message. */
static const struct env_case cases[] = {
    /* a plain message */
    {"From: A <a@b.c>\n"
     "Subject: hi\n"
     "\n"
     "body\n",
     "(NIL \"hi\" ((\"A\" NIL \"a\" \"b.c\")) ((\"A\" NIL \"a\" \"b.c\")) ((\"A\" NIL \"a\" "
     "\"b.c\")) NIL NIL NIL NIL NIL)"},
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
     "(NIL \"multi\" ((\"Doe, John\" NIL \"john\" \"example.com\")) ((\"Doe, John\" NIL \"john\" "
     "\"example.com\")) ((\"Doe, John\" NIL \"john\" \"example.com\")) ((NIL NIL \"a\" \"b.c\")) "
     "NIL NIL NIL NIL)"},
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
     "(NIL NIL ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) NIL "
     "NIL NIL NIL NIL)"},
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
     "(NIL \"fwd\" ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) "
     "NIL NIL NIL NIL NIL)"},
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
     "(NIL NIL ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) NIL "
     "NIL NIL NIL NIL)"},
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
     "(\"Tue, 2 Jan 2024 10:00:00 +0100 (CET)\" {41}\r\n"
     "=?utf-8?q?caf=C3=A9?= and \"quoted\" \\ back ((\"Joe Q. Public\" NIL \"john.q.public\" "
     "\"example.com\")(NIL NIL \"bare\" \"x.y\")(NIL \"@route1,@route2\" \"rt\" \"host\")) ((\"Joe "
     "Q. Public\" NIL \"john.q.public\" \"example.com\")(NIL NIL \"bare\" \"x.y\")(NIL "
     "\"@route1,@route2\" \"rt\" \"host\")) ((\"Joe Q. Public\" NIL \"john.q.public\" "
     "\"example.com\")(NIL NIL \"bare\" \"x.y\")(NIL \"@route1,@route2\" \"rt\" \"host\")) "
     "((\"Mary Smith\" NIL \"mary\" \"x.test\")(NIL NIL \"jdoe\" \"example.org\")(\"Who?\" NIL "
     "\"one\" \"y.test\")) ((NIL NIL \"boss\" \"nil.test\")({16}\r\n"
     "Giant; \"Big\" Box NIL \"sysservices\" \"example.net\")) ((NIL NIL "
     "\"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) \"<1234@local.machine.example>\" "
     "\"<5678.21-Nov-1997@example.com>  \")"},
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
     "(NIL {10}\r\n"
     "8bit \xc3"
     "\xa9"
     "t\xc3"
     "\xa9"
     " ((NIL NIL \"no-domain\" \"MISSING_DOMAIN\")(NIL NIL \"MISSING_MAILBOX\" "
     "\"MISSING_DOMAIN\")(NIL NIL \"x\" \"MISSING_DOMAIN\")(NIL NIL \"a\" \"b\")) ((\"Sen\" NIL "
     "\"sen\" \"x\")) ((NIL NIL \"no-domain\" \"MISSING_DOMAIN\")(NIL NIL \"MISSING_MAILBOX\" "
     "\"MISSING_DOMAIN\")(NIL NIL \"x\" \"MISSING_DOMAIN\")(NIL NIL \"a\" \"b\")) (({5}\r\n"
     "\xc3"
     "\xa9"
     "t\xc3"
     "\xa9"
     " NIL \"e\" \"x\")) NIL NIL NIL NIL)"},
    /* no empty line and no body */
    {"From: a@b.c\n"
     "Subject: no body",
     "(NIL \"no body\" ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" "
     "\"b.c\")) NIL NIL NIL NIL NIL)"},
    /* a multipart without its final boundary */
    {"Content-Type: multipart/mixed; boundary=b\n"
     "\n"
     "--b\n"
     "Content-Type: text/plain\n"
     "\n"
     "no final boundary\n",
     "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"},
    /* upper-case type, parameters and disposition, an unknown encoding, no MIME-Version */
    {"Content-Type: TEXT/HTML; CHARSET=\"UTF-8\"; Foo=Bar\n"
     "Content-Transfer-Encoding: X-Weird\n"
     "Content-Disposition: ATTACHMENT; FILENAME=\"a.txt\"\n"
     "\n"
     "abc",
     "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"},
    /* a multipart without a boundary parameter */
    {"Content-Type: multipart/mixed\n"
     "\n"
     "no boundary param\n",
     "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"},
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
     "(NIL {11}\r\n"
     "hello world NIL NIL NIL NIL NIL NIL NIL \"<a@b>  <c@d>\")"},
    /* blanks around a subject; Content-* ignored without MIME-Version */
    {"Subject:   lead   spaces  \n"
     "Content-Transfer-Encoding: base64\n"
     "Content-ID: <x>\n"
     "\n"
     "x\n",
     "(NIL {11}\r\n"
     "lead spaces NIL NIL NIL NIL NIL NIL NIL NIL)"},
    /* repeated fields (last Subject, every From), comments as names, odd local parts */
    {"From: a@b\n"
     "Subject: a\n"
     "Subject: b\n"
     "From: c@d\n"
     "To: \"Q\\\"x\" <q@x>, (Name) n@x, n2@x (Name2), Real Name <r@x> (cmt)\n"
     "CC: a.b.@x, \"quoted local\"@x, [weird]@x, x@[1.2.3.4]\n"
     "\n"
     "x\n",
     "(NIL \"b\" ((NIL NIL \"a\" \"b\")(NIL NIL \"c\" \"d\")) ((NIL NIL \"a\" \"b\")(NIL NIL \"c\" "
     "\"d\")) ((NIL NIL \"a\" \"b\")(NIL NIL \"c\" \"d\")) (({3}\r\n"
     "Q\"x NIL \"q\" \"x\")(NIL NIL \"n\" \"x\")(\"Name2\" NIL \"n2\" \"x\")(\"Real Name\" NIL "
     "\"r\" \"x\")) ((NIL NIL \"a.b.\" \"x\")(NIL NIL \"quoted local\" \"x\")(NIL NIL "
     "\"MISSING_MAILBOX\" \"MISSING_DOMAIN\")) NIL NIL NIL)"},
};

static void envelope_of(const char *lf_msg, struct buf *out)
{
    struct buf msg;
    buf_init(&msg);
    mime_to_crlf(lf_msg, strlen(lf_msg), &msg);
    struct mime_part *root = mime_parse(msg.data, msg.len);
    imap_envelope(msg.data + root->hdr_off, root->hdr_len, out);
    mime_free(root);
    buf_free(&msg);
}

static void test_envelope_dovecot(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf out;
        buf_init(&out);
        envelope_of(cases[i].msg, &out);
        assert_string_equal(out.data, cases[i].envelope);
        buf_free(&out);
    }
}

static void test_envelope_empty_header(void **state)
{
    (void)state;
    struct buf out;
    buf_init(&out);
    imap_envelope("", 0, &out);
    assert_string_equal(out.data, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
    buf_reset(&out);
    /* a field with an empty value is "", an empty address list NIL */
    const char *h = "Subject:\r\nTo:\r\nDate: \r\n\r\n";
    imap_envelope(h, strlen(h), &out); /* Dovecot 2.3.19 answers the same */
    assert_string_equal(out.data, "(\"\" \"\" NIL NIL NIL NIL NIL NIL NIL NIL)");
    buf_free(&out);
}

static void test_nstring(void **state)
{
    (void)state;
    struct buf out;
    buf_init(&out);
    imap_append_nstring(&out, NULL);
    assert_string_equal(out.data, "NIL");
    buf_reset(&out);
    imap_append_nstring(&out, "a\"b\\c");
    assert_string_equal(out.data, "\"a\\\"b\\\\c\"");
    buf_reset(&out);
    /* the fifth escape makes a literal */
    imap_append_nstring(&out, "\"\"\"\"\"");
    assert_string_equal(out.data, "{5}\r\n\"\"\"\"\"");
    buf_reset(&out);
    imap_append_nstring(&out, "a\r\nb");
    assert_string_equal(out.data, "{4}\r\na\r\nb");
    buf_reset(&out);
    imap_append_nstring(&out, "\xc3\xa9");
    assert_string_equal(out.data, "{2}\r\n\xc3\xa9");
    buf_reset(&out);
    imap_append_nstring_nolf(&out, "a\r\n b\nc");
    assert_string_equal(out.data, "\"a b c\"");
    buf_free(&out);
}

static void test_for_humans(void **state)
{
    (void)state;
    struct buf out;
    buf_init(&out);
    imap_append_string_for_humans(&out, "plain text", 10);
    assert_string_equal(out.data, "\"plain text\"");
    buf_reset(&out);
    imap_append_string_for_humans(&out, "  a \t b  ", 9);
    assert_string_equal(out.data, "{3}\r\na b");
    buf_reset(&out);
    imap_append_string_for_humans(&out, "   ", 3);
    assert_string_equal(out.data, "\"\"");
    buf_reset(&out);
    imap_append_string_for_humans(&out, "", 0);
    assert_string_equal(out.data, "\"\"");
    buf_reset(&out);
    imap_append_string_for_humans(&out, "a\0b", 3);
    assert_int_equal(out.len, 8);
    assert_memory_equal(out.data,
                        "{3}\r\na\x80"
                        "b",
                        8);
    buf_free(&out);
}

static void test_address_list(void **state)
{
    (void)state;
    struct buf out;
    buf_init(&out);
    const char *v = "";
    imap_address_list(v, 0, &out);
    assert_string_equal(out.data, "NIL");
    buf_reset(&out);
    v = "g1: ;, g2: a@b";
    imap_address_list(v, strlen(v), &out);
    /* a group not closed still ends */
    assert_string_equal(out.data, "((NIL NIL \"g1\" NIL)(NIL NIL NIL NIL)(NIL NIL \"g2\" NIL)"
                                  "(NIL NIL \"a\" \"b\")(NIL NIL NIL NIL))");
    buf_reset(&out);
    v = "Name <a@b";
    imap_address_list(v, strlen(v), &out);
    assert_string_equal(out.data, "((\"Name\" NIL \"a\" \"SYNTAX_ERROR\"))");
    buf_reset(&out);
    v = "(unclosed comment";
    imap_address_list(v, strlen(v), &out);
    assert_string_equal(out.data, "NIL");
    buf_free(&out);
}

/* Garbage never crashes and always gives a list, NIL or an address. */
static void test_address_garbage(void **state)
{
    (void)state;
    const char *inputs[] = {
        "\"", "<",    "<@",     "<@a", "<@a,", "@",    ",,,",           "a@[", "a@[1.2",
        "\\", "\"\\", "a:b:c;", ";",   "(a\\", "x@y.", "a . b @ c . d", "<>"};
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        struct buf out;
        buf_init(&out);
        imap_address_list(inputs[i], strlen(inputs[i]), &out);
        assert_true(strcmp(out.data, "NIL") == 0 || out.data[0] == '(');
        buf_free(&out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_envelope_dovecot), cmocka_unit_test(test_envelope_empty_header),
        cmocka_unit_test(test_nstring),          cmocka_unit_test(test_for_humans),
        cmocka_unit_test(test_address_list),     cmocka_unit_test(test_address_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
