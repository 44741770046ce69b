/* Unit tests for proto/imap_sort and proto/imap_basesubject: the base
 * subject of RFC 5256 2.1 (its examples and harder ones, encoded words),
 * the case map, SORT's criteria compiled from real parsed commands (good
 * and bad, the charset), the keys built from header sections (missing and
 * invalid dates, addresses, display names), the order (REVERSE, ties by
 * sequence number) and the SORT and ESORT answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/imap_basesubject.h"
#include "proto/imap_parse.h"
#include "proto/imap_sort.h"

static const struct imap_parse_limits limits = {
    .line_max = 8192, .literal_max = 8192, .literals_max = 8192, .depth_max = 8, .args_max = 256};

/* Parses "tag SORT <rest>" and compiles the arguments. */
static enum imap_search_status compile(const char *rest, struct imap_sort_spec *spec, char *err,
                                       size_t errlen, size_t *n_args)
{
    char line[1024];
    snprintf(line, sizeof(line), "a SORT %s", rest);
    struct imap_parser *p = imap_parser_new(&limits);
    assert_int_equal(imap_parser_feed_line(p, line, strlen(line)), IMAP_PARSE_DONE);
    const struct imap_command *c = imap_parser_command(p);
    enum imap_search_status st = imap_sort_compile(c->args, c->n, spec, err, errlen);
    if (n_args != NULL)
        *n_args = c->n;
    imap_parser_free(p);
    return st;
}

static void base(const char *raw, const char *want, bool want_reply)
{
    struct buf b;
    buf_init(&b);
    bool reply = imap_base_subject(raw, strlen(raw), &b);
    assert_string_equal(b.data != NULL ? b.data : "", want);
    assert_int_equal(reply, want_reply);
    buf_free(&b);
}

static void test_base_subject(void **state)
{
    (void)state;
    base("hello", "hello", false);
    base("Re: hello", "hello", true);
    base("RE:   re: Fwd:hello  ", "hello", true);
    base("Re: [list] Fwd: Re: hello (fwd)", "hello", true);
    base("[list] hello", "hello", false);
    base("[list]", "[list]", false);     /* a blob alone stays: subj-base can be a blob */
    base("[a] [b]", "[b]", false);       /* the last blob is the base */
    base("Re[2]: hello", "hello", true); /* a blob between "re" and ":" */
    base("[Fwd: Re: hello]", "hello", true);
    base("[fwd: [fwd: x] (fwd)]", "x", true);
    base("Fw: x", "x", true);
    base("Fwd x", "Fwd x", false); /* no colon, no leader */
    base("Reply: x", "Reply: x", false);
    base("  a \t\r\n  b  ", "a b", false);
    base("(fwd)", "", true);
    base("", "", false);
    base("Re:", "", true);
    base("[", "[", false);
    base("=?UTF-8?Q?Re=3A_caf=C3=A9?=", "café", true); /* the leader inside the encoded word */
    base("=?ISO-8859-1?Q?Re:_h=E9?= =?UTF-8?B?w6k=?=", "héé", true);
    base("Re: =?x-unknown?Q?abc?=", "=?x-unknown?Q?abc?=", true);
}

static void casemapped(const char *s, const char *want)
{
    struct buf b;
    buf_init(&b);
    imap_casemap(s, strlen(s), &b);
    assert_string_equal(b.data != NULL ? b.data : "", want);
    buf_free(&b);
}

static void test_casemap(void **state)
{
    (void)state;
    casemapped("abc_XyZ", "ABC_XYZ");
    casemapped("café ÿ", "CAFÉ Ÿ");
    casemapped("ωσς", "ΩΣΣ");
    casemapped("привет", "ПРИВЕТ");
    casemapped("łĳı", "ŁĲI");
    casemapped("\xff\xe2\x82\xac", "\xff\xe2\x82\xac"); /* stray octets, 3-octet code points */
}

static void test_compile_good(void **state)
{
    (void)state;
    struct imap_sort_spec s;
    char err[128];
    size_t n;
    assert_int_equal(compile("(REVERSE DATE subject) UTF-8 ALL", &s, err, sizeof(err), &n),
                     IMAP_SEARCH_OK);
    assert_int_equal(s.n_crit, 2);
    assert_int_equal(s.crit[0].field, IMAP_SORT_DATE);
    assert_true(s.crit[0].reverse);
    assert_int_equal(s.crit[1].field, IMAP_SORT_SUBJECT);
    assert_false(s.crit[1].reverse);
    assert_false(s.esort);
    assert_int_equal(s.search_at, 2);
    assert_int_equal(n, 3);
    assert_true(imap_sort_needs_header(&s));

    assert_int_equal(compile("RETURN (MIN COUNT) (ARRIVAL SIZE) us-ascii UNSEEN FLAGGED", &s, err,
                             sizeof(err), &n),
                     IMAP_SEARCH_OK);
    assert_true(s.esort);
    assert_int_equal(s.ret, IMAP_SEARCH_RETURN_MIN | IMAP_SEARCH_RETURN_COUNT);
    assert_int_equal(s.search_at, 4);
    assert_false(imap_sort_needs_header(&s));

    assert_int_equal(compile("RETURN () (DISPLAYFROM DISPLAYTO CC TO FROM) \"UTF-8\" ALL", &s, err,
                             sizeof(err), NULL),
                     IMAP_SEARCH_OK);
    assert_int_equal(s.ret, IMAP_SEARCH_RETURN_ALL);
    assert_int_equal(s.n_crit, 5);
    assert_int_equal(s.crit[0].field, IMAP_SORT_DISPLAYFROM);
    assert_int_equal(s.crit[4].field, IMAP_SORT_FROM);
}

static void bad(const char *rest, const char *want_err)
{
    struct imap_sort_spec s;
    char err[128];
    assert_int_equal(compile(rest, &s, err, sizeof(err), NULL), IMAP_SEARCH_BAD);
    assert_non_null(strstr(err, want_err));
}

static void test_compile_bad(void **state)
{
    (void)state;
    bad("DATE UTF-8 ALL", "parenthesised list");
    bad("() UTF-8 ALL", "Empty sort criteria");
    bad("(DATE BOGUS) UTF-8 ALL", "Unknown sort criterion: BOGUS");
    bad("(DATE REVERSE) UTF-8 ALL", "REVERSE must be followed");
    bad("(REVERSE REVERSE DATE) UTF-8 ALL", "REVERSE twice");
    bad("((DATE)) UTF-8 ALL", "Unknown sort criterion");
    bad("(DATE)", "charset");
    bad("(DATE) (UTF-8) ALL", "charset");
    bad("(DATE) UTF-8", "Missing search keys");
    bad("RETURN ALL (DATE) UTF-8 ALL", "RETURN needs a list");
    bad("RETURN (PARTIAL) (DATE) UTF-8 ALL", "Unknown RETURN option: PARTIAL");
    bad("RETURN", "RETURN needs a list");
    bad("(DATE DATE DATE DATE DATE DATE DATE DATE DATE DATE DATE DATE DATE DATE DATE DATE DATE) "
        "UTF-8 ALL",
        "Too many");

    struct imap_sort_spec s;
    char err[128];
    assert_int_equal(compile("(DATE) ISO-8859-1 ALL", &s, err, sizeof(err), NULL),
                     IMAP_SEARCH_BADCHARSET);
    assert_string_equal(err, IMAP_SEARCH_BADCHARSET_CODE " Unsupported charset");
    assert_int_equal(compile("(DATE) UTF-88 ALL", &s, err, sizeof(err), NULL),
                     IMAP_SEARCH_BADCHARSET);
}

/* Builds the key of one message for spec. */
static void key_of(const struct imap_sort_spec *s, uint32_t seq, time_t internal, uint64_t size,
                   const char *hdr, struct imap_sort_key *k)
{
    struct imap_sort_msg m = {.seq = seq,
                              .uid = seq * 10,
                              .internal_date = internal,
                              .size = size,
                              .header = hdr,
                              .header_len = hdr != NULL ? strlen(hdr) : 0};
    imap_sort_key_build(s, &m, k);
}

static struct imap_sort_spec all_fields(void)
{
    struct imap_sort_spec s;
    char err[128];
    assert_int_equal(compile("(DATE FROM TO CC SUBJECT DISPLAYFROM DISPLAYTO) UTF-8 ALL", &s, err,
                             sizeof(err), NULL),
                     IMAP_SEARCH_OK);
    return s;
}

static void test_keys(void **state)
{
    (void)state;
    struct imap_sort_spec s = all_fields();
    struct imap_sort_key k;
    key_of(&s, 1, 1000, 5,
           "Date: Thu, 1 Jan 1970 01:00:00 +0100\r\n"
           "From: \"Smith, John\" <John.Smith@Example.com>, b@c\r\n"
           "To: =?UTF-8?Q?J=C3=B6rg?= (comment) <@route,@r2:jorg@x.de>\r\n"
           "Cc: undisclosed:;, , Bob@Host (Bob)\r\n"
           "Subject: Re: [list] Fwd: Re: hello (fwd)\r\n"
           "\r\n"
           "From: body@not.a.field\r\n",
           &k);
    assert_int_equal(k.seq, 1);
    assert_int_equal(k.uid, 10);
    assert_int_equal(k.sent, 0); /* 01:00 +0100 is the epoch */
    assert_int_equal(k.arrival, 1000);
    assert_string_equal(k.from, "JOHN.SMITH");
    assert_string_equal(k.display_from, "SMITH, JOHN");
    assert_string_equal(k.to, "JORG");
    assert_string_equal(k.display_to, "JÖRG");
    assert_string_equal(k.cc, "BOB");
    assert_string_equal(k.subject, "HELLO");
    imap_sort_key_free(&k);

    /* Nothing there: internal date, empty strings; display falls back to the addr-spec. */
    key_of(&s, 2, 777, 5, "Date: not a date\r\nTo: bare@host\r\nFrom: <>\r\n", &k);
    assert_int_equal(k.sent, 777);
    assert_string_equal(k.from, "");
    assert_string_equal(k.display_from, "");
    assert_string_equal(k.to, "BARE");
    assert_string_equal(k.display_to, "BARE@HOST");
    assert_string_equal(k.cc, "");
    assert_string_equal(k.subject, "");
    imap_sort_key_free(&k);

    key_of(&s, 3, 55, 5, NULL, &k); /* no header at all */
    assert_int_equal(k.sent, 55);
    assert_string_equal(k.subject, "");
    imap_sort_key_free(&k);

    /* Folded, a quoted local part, a group, LF lines. */
    key_of(&s, 4, 0, 0,
           "From: Team: \"a b\"@x (c),\n z@y;\nTo:\n  \"Q\\\"uote\"\n <q@x>\nSubject: a\n\tb\n",
           &k);
    assert_string_equal(k.from, "A B");
    assert_string_equal(k.display_from, "A B@X");
    assert_string_equal(k.to, "Q");
    assert_string_equal(k.display_to, "Q\"UOTE");
    assert_string_equal(k.subject, "A B");
    imap_sort_key_free(&k);

    /* Only the fields the criteria need are built. */
    struct imap_sort_spec d;
    char err[128];
    assert_int_equal(compile("(SIZE) UTF-8 ALL", &d, err, sizeof(err), NULL), IMAP_SEARCH_OK);
    key_of(&d, 5, 9, 42, "Subject: x\r\n", &k);
    assert_null(k.subject);
    assert_null(k.from);
    assert_int_equal(k.size, 42);
    imap_sort_key_free(&k);
}

/* Sorts the messages hdrs[] (seq = index + 1, internal date = their
 * internal[] value) by rest, into the string of sequence numbers. */
static void sorted(const char *rest, const char *const *hdrs, const time_t *internal,
                   const uint64_t *sizes, size_t n, const char *want)
{
    struct imap_sort_spec s;
    char err[128];
    assert_int_equal(compile(rest, &s, err, sizeof(err), NULL), IMAP_SEARCH_OK);
    struct imap_sort_key *keys = calloc(n, sizeof(*keys));
    size_t *order = calloc(n, sizeof(*order));
    for (size_t k = 0; k < n; k++)
        key_of(&s, (uint32_t)k + 1, internal[k], sizes[k], hdrs[k], &keys[k]);
    imap_sort_order(&s, keys, n, order);
    uint32_t *nums = calloc(n, sizeof(*nums));
    for (size_t k = 0; k < n; k++)
        nums[k] = keys[order[k]].seq;
    struct buf out;
    buf_init(&out);
    imap_sort_format_sort(&out, nums, n);
    assert_string_equal(out.data, want);
    buf_free(&out);
    for (size_t k = 0; k < n; k++)
        imap_sort_key_free(&keys[k]);
    free(keys);
    free(order);
    free(nums);
}

static void test_order(void **state)
{
    (void)state;
    const char *hdrs[] = {
        "Subject: Re: beta\r\nDate: Mon, 2 Jan 2023 10:00:00 +0000\r\nFrom: zed@x\r\n",
        "Subject: alpha\r\nDate: Mon, 2 Jan 2023 09:00:00 -0200\r\nFrom: Adam@x\r\n", /* 11:00 UTC
                                                                                       */
        "Subject: BETA\r\nFrom: adam@y\r\n",                      /* no date: internal 0 */
        "Subject: [x] alpha\r\nDate: garbage\r\nFrom: bob@x\r\n", /* invalid: internal */
        "Subject: gamma\r\nDate: Mon, 2 Jan 2023 10:00:00 +0000\r\n",
    };
    const time_t internal[] = {5, 4, 0, 1672650000, 2};
    const uint64_t sizes[] = {30, 10, 30, 20, 10};
    sorted("(SUBJECT) UTF-8 ALL", hdrs, internal, sizes, 5, "* SORT 2 4 1 3 5\r\n");
    sorted("(REVERSE SUBJECT) UTF-8 ALL", hdrs, internal, sizes, 5, "* SORT 5 1 3 2 4\r\n");
    /* 3 (0), 1 = 5 (10:00, tie by seq), 2 (11:00), 4 (1672650000 = 09:00 UTC on the 2nd) */
    sorted("(DATE) UTF-8 ALL", hdrs, internal, sizes, 5, "* SORT 3 4 1 5 2\r\n");
    sorted("(REVERSE DATE) UTF-8 ALL", hdrs, internal, sizes, 5, "* SORT 2 1 5 4 3\r\n");
    sorted("(SIZE) UTF-8 ALL", hdrs, internal, sizes, 5, "* SORT 2 5 4 1 3\r\n");
    sorted("(REVERSE SIZE) UTF-8 ALL", hdrs, internal, sizes, 5, "* SORT 1 3 4 2 5\r\n");
    sorted("(SIZE REVERSE ARRIVAL) UTF-8 ALL", hdrs, internal, sizes, 5, "* SORT 2 5 4 1 3\r\n");
    sorted("(ARRIVAL) UTF-8 ALL", hdrs, internal, sizes, 5, "* SORT 3 5 2 1 4\r\n");
    /* FROM: "" (5), ADAM (2, 3: tie by seq), BOB, ZED */
    sorted("(FROM) UTF-8 ALL", hdrs, internal, sizes, 5, "* SORT 5 2 3 4 1\r\n");
    sorted("(REVERSE FROM) UTF-8 ALL", hdrs, internal, sizes, 5, "* SORT 1 4 2 3 5\r\n");
    sorted("(FROM REVERSE SIZE) UTF-8 ALL", hdrs, internal, sizes, 5, "* SORT 5 3 2 4 1\r\n");
    sorted("(DISPLAYFROM) UTF-8 ALL", hdrs, internal, sizes, 5, "* SORT 5 2 3 4 1\r\n");
    sorted("(TO) UTF-8 ALL", hdrs, internal, sizes, 5, "* SORT 1 2 3 4 5\r\n"); /* all ties */
    sorted("(REVERSE TO) UTF-8 ALL", hdrs, internal, sizes, 5, "* SORT 1 2 3 4 5\r\n");
    sorted("(SIZE) UTF-8 ALL", hdrs, internal, sizes, 0, "* SORT\r\n");

    /* Dovecot 2.3.19's answer to SORT (SUBJECT) UTF-8 ALL over these. */
    const char *subjects[] = {
        "Subject: Re: [list] Fwd: Re: hello (fwd)\r\n",
        "Subject: =?UTF-8?Q?Re=3A_caf=C3=A9?=\r\n",
        "Subject: [fwd: [fwd: x] (fwd)]\r\n",
        "Subject: _under\r\n",
        "Subject: Hello\r\n",
    };
    sorted("(SUBJECT) UTF-8 ALL", subjects, internal, sizes, 5, "* SORT 2 1 5 3 4\r\n");
}

static void esort(unsigned ret, const char *tag, bool uid, const uint32_t *nums, size_t n,
                  const char *want)
{
    struct buf out;
    buf_init(&out);
    imap_sort_format_esort(&out, tag, uid, ret, nums, n);
    assert_string_equal(out.data, want);
    buf_free(&out);
}

static void test_esort_format(void **state)
{
    (void)state;
    const uint32_t nums[] = {5, 3, 4, 9, 10, 11, 2};
    esort(IMAP_SEARCH_RETURN_ALL, "a", true, nums, 3, "* ESEARCH (TAG \"a\") UID ALL 5,3:4\r\n");
    esort(0, "a", false, nums, 7, "* ESEARCH (TAG \"a\") ALL 5,3:4,9:11,2\r\n");
    esort(IMAP_SEARCH_RETURN_SAVE, NULL, false, nums, 1, "* ESEARCH ALL 5\r\n");
    esort(IMAP_SEARCH_RETURN_MIN | IMAP_SEARCH_RETURN_MAX | IMAP_SEARCH_RETURN_COUNT, "t\"1", false,
          nums, 7, "* ESEARCH (TAG \"t\\\"1\") MIN 5 MAX 2 COUNT 7\r\n");
    esort(IMAP_SEARCH_RETURN_MIN | IMAP_SEARCH_RETURN_ALL | IMAP_SEARCH_RETURN_COUNT, "a", true,
          nums, 0, "* ESEARCH (TAG \"a\") UID COUNT 0\r\n");
    /* Dovecot 2.3.19's answer to SORT RETURN (MIN MAX ALL COUNT) (DATE) UTF-8 ALL */
    const uint32_t dc[] = {9, 6, 4, 5, 1, 3, 2, 12, 10, 11, 7, 8};
    esort(IMAP_SEARCH_RETURN_MIN | IMAP_SEARCH_RETURN_MAX | IMAP_SEARCH_RETURN_ALL |
              IMAP_SEARCH_RETURN_COUNT,
          "t3", false, dc, 12,
          "* ESEARCH (TAG \"t3\") MIN 9 MAX 8 ALL 9,6,4:5,1,3,2,12,10:11,7:8 COUNT 12\r\n");
    const uint32_t top[] = {4294967294u, 4294967295u, 1};
    esort(IMAP_SEARCH_RETURN_ALL, NULL, false, top, 3, "* ESEARCH ALL 4294967294:4294967295,1\r\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base_subject), cmocka_unit_test(test_casemap),
        cmocka_unit_test(test_compile_good), cmocka_unit_test(test_compile_bad),
        cmocka_unit_test(test_keys),         cmocka_unit_test(test_order),
        cmocka_unit_test(test_esort_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
