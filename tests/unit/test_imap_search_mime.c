/* Unit tests for proto/imap_search on MIME messages: BODY and TEXT look
 * into every text part of the tree (Dovecot 2.3's rules), decoded from
 * base64 and quoted-printable and converted from the part's charset
 * (UTF-8, Latin-1, Windows-1252 by table; KOI8-R, ISO-8859-15, UTF-16,
 * ISO-8859-6 through iconv; an unknown charset as stored); non-text parts,
 * the preamble and the epilogue are not searched; a match does not span two
 * parts; TEXT adds every part's header. The key is sent as a literal after
 * CHARSET UTF-8, as clients send non-ASCII keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proto/imap_search.h"

/* Whether "SEARCH CHARSET UTF-8 <key> {n}\r\n<needle>" finds msg[0..len). */
static bool found_n(const char *key, const char *needle, const char *msg, size_t len)
{
    struct imap_arg args[4] = {
        {.type = IMAP_ARG_ATOM, .str = "CHARSET", .len = 7},
        {.type = IMAP_ARG_ATOM, .str = "UTF-8", .len = 5},
        {.type = IMAP_ARG_ATOM, .str = key, .len = strlen(key)},
        {.type = IMAP_ARG_LITERAL, .str = needle, .len = strlen(needle)},
    };
    struct imap_search *s;
    char err[128];
    enum imap_search_status st = imap_search_compile(args, 4, &s, err, sizeof(err));
    if (st != IMAP_SEARCH_OK)
        fail_msg("%s %s: status %d: %s", key, needle, st, err);
    assert_int_equal(imap_search_needs(s), IMAP_SEARCH_NEEDS_MESSAGE);
    struct imap_search_mailbox mb = {.messages = 1, .uid_max = 1};
    imap_search_prepare(s, &mb);
    struct imap_search_msg m = {.seq = 1, .uid = 1, .size = len, .data = msg, .len = len};
    bool r = imap_search_match(s, &m);
    imap_search_free(s);
    return r;
}

static bool found(const char *key, const char *needle, const char *msg)
{
    return found_n(key, needle, msg, strlen(msg));
}

#define BODY_YES(n, msg) assert_true(found("BODY", n, msg))
#define BODY_NO(n, msg)  assert_false(found("BODY", n, msg))
#define TEXT_YES(n, msg) assert_true(found("TEXT", n, msg))
#define TEXT_NO(n, msg)  assert_false(found("TEXT", n, msg))

/* The integration test's message 1: a QP UTF-8 text part, a base64 PDF. */
static const char *mixed = "From: a@b.test\r\nSubject: report\r\nMIME-Version: 1.0\r\n"
                           "Content-Type: multipart/mixed; boundary=\"outer-=_1\"\r\n\r\n"
                           "This is the preamble.\r\n"
                           "--outer-=_1\r\n"
                           "Content-Type: text/plain; charset=utf-8\r\n"
                           "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
                           "Hello, Caf=C3=A9 prices rose by a soft=\r\n line break.\r\n"
                           "--outer-=_1\r\n"
                           "Content-Type: application/pdf; name=x.pdf\r\n"
                           "Content-Transfer-Encoding: base64\r\n"
                           "Content-Description: the attached summary\r\n\r\n"
                           "c2VjcmV0IHBkZiB0ZXh0\r\n" /* "secret pdf text" */
                           "--outer-=_1\r\n"
                           "Content-Type: text/csv; charset=us-ascii\r\n\r\n"
                           "a,b\r\n1,2\r\n"
                           "--outer-=_1--\r\n"
                           "the epilogue\r\n";

static void test_multipart_decoded(void **state)
{
    (void)state;
    BODY_YES("café", mixed);
    BODY_YES("CAFÉ PRICES", mixed);
    BODY_YES("soft line break", mixed); /* the soft line break is gone */
    BODY_NO("Caf=C3=A9", mixed);        /* the decoded text only */
    BODY_NO("=C3", mixed);
    TEXT_YES("café", mixed);
    TEXT_NO("=C3=A9", mixed); /* nor does TEXT search a part as stored */
    BODY_YES("1,2", mixed);   /* text/csv is text */
    BODY_NO("café", "Subject: x\r\n\r\nno such word\r\n");
}

static void test_non_text_parts(void **state)
{
    (void)state;
    /* base64 attachments are not decoded, nor searched as stored */
    BODY_NO("secret", mixed);
    TEXT_NO("secret", mixed);
    BODY_NO("c2VjcmV0", mixed);
    TEXT_NO("c2VjcmV0", mixed);
    /* nor is a 7bit one */
    const char *octets = "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
                         "--b\r\n\r\nplain part\r\n"
                         "--b\r\nContent-Type: application/octet-stream\r\n\r\neuro rates\r\n"
                         "--b\r\nContent-Type: image/png\r\n\r\npicture bytes\r\n--b--\r\n";
    BODY_YES("plain part", octets); /* no Content-Type in a part: text/plain */
    BODY_NO("euro", octets);
    BODY_NO("picture", octets);
    TEXT_NO("euro", octets);
    /* a text part in base64 is decoded */
    const char *b64 = "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
                      "--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                      "c2VjcmV0IHBkZiB0ZXh0\r\n--b--\r\n";
    BODY_YES("secret pdf", b64);
    BODY_NO("c2VjcmV0", b64);
    /* a single-part attachment is not text either */
    BODY_NO("secret", "MIME-Version: 1.0\r\nContent-Type: application/pdf\r\n"
                      "Content-Transfer-Encoding: base64\r\n\r\nc2VjcmV0IHBkZiB0ZXh0\r\n");
}

static void test_preamble_epilogue(void **state)
{
    (void)state;
    BODY_NO("preamble", mixed);
    BODY_NO("epilogue", mixed);
    TEXT_NO("preamble", mixed);
    TEXT_NO("epilogue", mixed);
}

static void test_part_headers(void **state)
{
    (void)state;
    TEXT_YES("attached summary", mixed); /* a MIME header is searched by TEXT */
    BODY_NO("attached summary", mixed);  /* but not by BODY */
    TEXT_YES("report", mixed);
    BODY_NO("report", mixed);
    BODY_NO("Content-Type", mixed);
}

static void test_no_match_across_parts(void **state)
{
    (void)state;
    const char *two = "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
                      "--b\r\nContent-Type: text/plain\r\n\r\nabc\r\n"
                      "--b\r\nContent-Type: text/plain\r\n\r\ndef\r\n--b--\r\n";
    BODY_YES("abc", two);
    BODY_YES("def", two);
    BODY_NO("cd", two);
    BODY_NO("abcdef", two);
}

/* The integration test's message 2: an iso-8859-1 QP HTML part deep in a
 * multipart/related inside a multipart/alternative. */
static const char *nested =
    "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n"
    "--b1\r\nContent-Type: multipart/alternative; boundary=\"b2\"\r\n\r\n"
    "--b2\r\nContent-Type: text/plain; charset=\"us-ascii\"; format=flowed\r\n\r\n"
    "Plain rates text.\r\n"
    "--b2\r\nContent-Type: multipart/related; boundary=\"b3\"; type=\"text/html\"\r\n\r\n"
    "--b3\r\nContent-Type: text/html; charset=iso-8859-1\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    "<p>Caf=E9 <img src=3D\"cid:logo\"> cr&egrave;me</p>\r\n"
    "--b3\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    "UE5HLWlzaA==\r\n" /* "PNG-ish" */
    "--b3--\r\n--b2--\r\n--b1--\r\n";

static void test_nested_html_latin1(void **state)
{
    (void)state;
    BODY_YES("café", nested);
    BODY_YES("CAFÉ", nested);
    TEXT_YES("café", nested);
    BODY_NO("caf\xe9", nested); /* the Latin-1 octet is UTF-8 now */
    /* HTML is searched as it stands: tags in, entities not decoded */
    BODY_YES("<img src=\"cid:logo\">", nested);
    BODY_YES("cr&egrave;me", nested);
    BODY_NO("crème", nested);
    BODY_NO("PNG-ish", nested);
    BODY_YES("plain rates", nested);
}

static void test_charsets(void **state)
{
    (void)state;
    /* Windows-1252 0x80 is the euro sign; in Latin-1 it is a C1 control */
    const char *cp1252 =
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=windows-1252\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n5 =80, =93quoted=94\r\n";
    BODY_YES("5 €", cp1252);
    BODY_YES("\xe2\x80\x9cquoted\xe2\x80\x9d", cp1252);
    const char *latin1 = "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=ISO-8859-1\r\n"
                         "Content-Transfer-Encoding: quoted-printable\r\n\r\n5 =80 =FC\r\n";
    BODY_NO("5 €", latin1);
    BODY_YES("5 \xc2\x80 ü", latin1);
    BODY_YES("Ü", latin1); /* folded after conversion */
    /* 8bit, through iconv: KOI8-R 0xF0 0xD2 is "Пр" */
    const char *koi8 = "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=koi8-r\r\n"
                       "Content-Transfer-Encoding: 8bit\r\n\r\n\xf0\xd2\xc9\xd7\xc5\xd4\r\n";
    BODY_YES("привет", koi8);
    BODY_YES("ПРИВЕТ", koi8);
    BODY_NO("\xf0\xd2", koi8);
    /* ISO-8859-15 0xA4 is the euro sign (not Latin-1's currency sign) */
    const char *l9 = "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-15\r\n"
                     "Content-Transfer-Encoding: quoted-printable\r\n\r\nprice =A4 9\r\n";
    BODY_YES("price € 9", l9);
    /* an unknown charset: the octets as they are */
    const char *unknown = "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=x-no-such\r\n"
                          "Content-Transfer-Encoding: quoted-printable\r\n\r\nna=C3=AFve\r\n";
    BODY_YES("naïve", unknown);
    /* UTF-8 as it is, and a part with no charset is taken as UTF-8 */
    BODY_YES("naïve", "MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nna\xc3\xafve\r\n");
}

static void test_iconv_errors(void **state)
{
    (void)state;
    /* ISO-8859-6 has no 0xA1: that octet is kept and the rest converted */
    const char *arabic = "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=ISO-8859-6\r\n"
                         "Content-Transfer-Encoding: 8bit\r\n\r\nab\xa1"
                         "cd \xc8\r\n";
    BODY_YES("cd", arabic);
    BODY_YES("ab\xa1"
             "cd",
             arabic);
    BODY_YES("\xd8\xa8", arabic); /* 0xC8: U+0628 */
    /* UTF-16LE cut in the middle of a unit: the converted part, then the
     * odd octet as it is */
    static const char utf16[] =
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-16LE\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
        "aABpACEAIQ\r\n"; /* "h\0i\0!\0!" : "hi!" and a lone "!" */
    assert_true(found_n("BODY", "hi!", utf16, sizeof(utf16) - 1));
    assert_true(found_n("BODY", "hi!!", utf16, sizeof(utf16) - 1));
    assert_false(found_n("BODY", "aABp", utf16, sizeof(utf16) - 1));
}

static void test_embedded_message(void **state)
{
    (void)state;
    const char *fwd = "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=fw\r\n\r\n"
                      "--fw\r\nContent-Type: text/plain\r\n\r\nSee below.\r\n"
                      "--fw\r\nContent-Type: message/rfc822\r\n\r\n"
                      "Subject: =?ISO-8859-1?Q?Inner_r=E9ponse?=\r\n"
                      "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                      "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
                      "inner na=C3=AFve body\r\n"
                      "--fw--\r\n";
    BODY_YES("naïve body", fwd);
    BODY_YES("see below", fwd);
    TEXT_YES("réponse", fwd); /* the embedded header, decoded */
    BODY_NO("réponse", fwd);
    BODY_NO("Inner_r", fwd);
}

static void test_lf_and_plain(void **state)
{
    (void)state;
    const char *lf = "MIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=\"lf\"\n\n"
                     "--lf\nContent-Type: text/plain; charset=utf-8\n"
                     "Content-Transfer-Encoding: quoted-printable\n\n"
                     "one Caf=C3=A9 two=\n three\n"
                     "--lf\nContent-Type: text/html\n\n<b>bold</b>\n--lf--\n";
    BODY_YES("café two three", lf);
    BODY_YES("<b>bold</b>", lf);
    BODY_NO("--lf", lf);
    /* no MIME-Version: the encoding still counts (Dovecot's decoder too) */
    const char *bare =
        "Subject: x\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCaf=C3=A9\r\n";
    BODY_YES("café", bare);
    BODY_NO("=C3", bare);
    BODY_YES("", bare);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multipart_decoded),
        cmocka_unit_test(test_non_text_parts),
        cmocka_unit_test(test_preamble_epilogue),
        cmocka_unit_test(test_part_headers),
        cmocka_unit_test(test_no_match_across_parts),
        cmocka_unit_test(test_nested_html_latin1),
        cmocka_unit_test(test_charsets),
        cmocka_unit_test(test_iconv_errors),
        cmocka_unit_test(test_embedded_message),
        cmocka_unit_test(test_lf_and_plain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
