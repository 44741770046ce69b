/* Unit tests for proto/imap_thread: the THREAD command's arguments, the
 * description of a message (Message-ID, References, In-Reply-To, the cap
 * on references), and both algorithms: chains, missing parents (dummies),
 * pruning, same-subject grouping, duplicates, self references, cycles, a
 * chain deeper than any recursion would survive. The mailbox of
 * test_dovecot and its answers come from Dovecot 2.3.19's imap, run over a
 * Maildir holding these messages (internal dates 1672000000 + 60 * i). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/imap_parse.h"
#include "proto/imap_thread.h"

static const struct imap_parse_limits limits = {
    .line_max = 8192, .literal_max = 8192, .literals_max = 8192, .depth_max = 8, .args_max = 256};

static enum imap_search_status compile(const char *rest, enum imap_thread_algo *algo, size_t *at,
                                       char *err, size_t errlen)
{
    char line[512];
    snprintf(line, sizeof(line), "a THREAD %s", rest);
    struct imap_parser *p = imap_parser_new(&limits);
    assert_int_equal(imap_parser_feed_line(p, line, strlen(line)), IMAP_PARSE_DONE);
    const struct imap_command *c = imap_parser_command(p);
    enum imap_search_status st = imap_thread_compile(c->args, c->n, algo, at, err, errlen);
    imap_parser_free(p);
    return st;
}

static void test_compile(void **state)
{
    (void)state;
    enum imap_thread_algo algo;
    size_t at = 0;
    char err[128];
    assert_int_equal(compile("REFERENCES UTF-8 ALL", &algo, &at, err, sizeof(err)), IMAP_SEARCH_OK);
    assert_int_equal(algo, IMAP_THREAD_REFERENCES);
    assert_int_equal(at, 2);
    assert_int_equal(compile("orderedsubject us-ascii 1:5 UNSEEN", &algo, &at, err, sizeof(err)),
                     IMAP_SEARCH_OK);
    assert_int_equal(algo, IMAP_THREAD_ORDEREDSUBJECT);
    assert_int_equal(compile("REFS UTF-8 ALL", &algo, &at, err, sizeof(err)), IMAP_SEARCH_BAD);
    assert_string_equal(err, "Unknown thread algorithm: REFS");
    assert_int_equal(compile("(REFERENCES) UTF-8 ALL", &algo, &at, err, sizeof(err)),
                     IMAP_SEARCH_BAD);
    assert_int_equal(compile("REFERENCES", &algo, &at, err, sizeof(err)), IMAP_SEARCH_BAD);
    assert_non_null(strstr(err, "charset"));
    assert_int_equal(compile("REFERENCES UTF-8", &algo, &at, err, sizeof(err)), IMAP_SEARCH_BAD);
    assert_string_equal(err, "Missing search keys");
    assert_int_equal(compile("REFERENCES KOI8-R ALL", &algo, &at, err, sizeof(err)),
                     IMAP_SEARCH_BADCHARSET);
    assert_string_equal(err, IMAP_SEARCH_BADCHARSET_CODE " Unsupported charset");
}

static void test_msg_build(void **state)
{
    (void)state;
    struct imap_thread_msg m;
    const char *h = "Message-ID: (c) < a@b\r\n >\r\n"
                    "References: <r1@x> junk <r2@x>(comment <no@x>) <> <r3@x\r\n"
                    "In-Reply-To: <irt@x>\r\n"
                    "Subject: Re: [l] Hi\r\n"
                    "Date: bogus\r\n";
    imap_thread_msg_build(&m, 7, 99, h, strlen(h));
    assert_int_equal(m.num, 7);
    assert_int_equal(m.sent, 99);
    assert_string_equal(m.subject, "HI");
    assert_true(m.reply);
    assert_string_equal(m.message_id, "a@b");
    assert_int_equal(m.n_refs, 2);
    assert_string_equal(m.refs[0], "r1@x");
    assert_string_equal(m.refs[1], "r2@x");
    imap_thread_msg_free(&m);

    h = "In-Reply-To: Bob's message <irt@x> <second@x>\nMessage-ID: <>\n";
    imap_thread_msg_build(&m, 1, 5, h, strlen(h));
    assert_null(m.message_id);
    assert_int_equal(m.n_refs, 1);
    assert_string_equal(m.refs[0], "irt@x");
    assert_string_equal(m.subject, "");
    assert_false(m.reply);
    imap_thread_msg_free(&m);

    imap_thread_msg_build(&m, 1, 5, NULL, 0);
    assert_null(m.message_id);
    assert_int_equal(m.n_refs, 0);
    imap_thread_msg_free(&m);

    /* 200 references: the first and the last 63 are kept, in order. */
    char big[200 * 16 + 32];
    size_t len = (size_t)snprintf(big, sizeof(big), "References:");
    for (int k = 0; k < 200; k++)
        len += (size_t)snprintf(big + len, sizeof(big) - len, " <%d@r>", k);
    imap_thread_msg_build(&m, 1, 5, big, len);
    assert_int_equal(m.n_refs, IMAP_THREAD_REFS_MAX);
    assert_string_equal(m.refs[0], "0@r");
    char want[16];
    for (size_t k = 1; k < IMAP_THREAD_REFS_MAX; k++) {
        snprintf(want, sizeof(want), "%zu@r", 200 - IMAP_THREAD_REFS_MAX + k);
        assert_string_equal(m.refs[k], want);
    }
    imap_thread_msg_free(&m);
}

/* Threads the header sections hdrs[] (numbers 1.., internal dates
 * 1672000000 + 60 * i, as the Dovecot run had them). */
static void threaded(enum imap_thread_algo algo, const char *const *hdrs, size_t n,
                     const char *want)
{
    struct imap_thread_msg *msgs = calloc(n ? n : 1, sizeof(*msgs));
    for (size_t k = 0; k < n; k++)
        imap_thread_msg_build(&msgs[k], (uint32_t)k + 1, 1672000000 + 60 * (time_t)k, hdrs[k],
                              strlen(hdrs[k]));
    struct buf out;
    buf_init(&out);
    imap_thread_format(&out, algo, msgs, n);
    assert_string_equal(out.data, want);
    buf_free(&out);
    for (size_t k = 0; k < n; k++)
        imap_thread_msg_free(&msgs[k]);
    free(msgs);
}

static const char *const dovecot_box[] = {
    "Message-ID: <1@x>\r\nSubject: hello\r\nDate: Sun, 1 Jan 2023 10:00:00 +0000\r\n",
    "Message-ID: <2@x>\r\nReferences: <1@x>\r\nSubject: Re: hello\r\n"
    "Date: Sun, 1 Jan 2023 10:05:00 +0000\r\n",
    "Message-ID: <3@x>\r\nReferences: <1@x> <2@x>\r\nSubject: Re: hello\r\n"
    "Date: Sun, 1 Jan 2023 10:02:00 +0000\r\n",
    "Message-ID: <4@x>\r\nIn-Reply-To: <missing@x>\r\nSubject: other\r\n"
    "Date: Sun, 1 Jan 2023 09:00:00 +0000\r\n",
    "Message-ID: <5@x>\r\nReferences: <missing@x>\r\nSubject: Re: other\r\n"
    "Date: Sun, 1 Jan 2023 09:30:00 +0000\r\n",
    "Message-ID: <6@x>\r\nSubject: hello\r\nDate: Sun, 1 Jan 2023 08:00:00 +0000\r\n",
    "Message-ID: <7@x>\r\nReferences: <8@x>\r\nSubject: loop\r\n"
    "Date: Sun, 1 Jan 2023 12:00:00 +0000\r\n",
    "Message-ID: <8@x>\r\nReferences: <7@x>\r\nSubject: loop\r\n"
    "Date: Sun, 1 Jan 2023 12:01:00 +0000\r\n",
    "Message-ID: <1@x>\r\nSubject: dup\r\n",
    "Subject: Re: solo\r\nDate: Sun, 1 Jan 2023 11:00:00 +0000\r\n",
    "Message-ID: <11@x>\r\nReferences: <11@x>\r\nSubject: self\r\n"
    "Date: Sun, 1 Jan 2023 11:30:00 +0000\r\n",
    "Message-ID: <12@x>\r\nReferences: <3@x> <1@x>\r\nSubject: Re: hello\r\n"
    "Date: Sun, 1 Jan 2023 10:10:00 +0000\r\n",
};

/* Dovecot 2.3.19's answers to THREAD REFERENCES / ORDEREDSUBJECT UTF-8 ALL
 * and THREAD REFERENCES UTF-8 1:5 over dovecot_box: a cycle (7, 8), a
 * duplicate Message-ID (9), a self reference (11), conflicting References
 * (12), a missing parent (4, 5) and two non-replies with one subject (1, 6). */
static void test_dovecot(void **state)
{
    (void)state;
    threaded(IMAP_THREAD_REFERENCES, dovecot_box, 12,
             "* THREAD (9)((6)(1 (2 3)(12)))((4)(5))(10)(11)(8 7)\r\n");
    threaded(IMAP_THREAD_ORDEREDSUBJECT, dovecot_box, 12,
             "* THREAD (9)(6 (1)(3)(2)(12))(4 5)(10)(11)(7 8)\r\n");
    threaded(IMAP_THREAD_REFERENCES, dovecot_box, 5, "* THREAD ((4)(5))(1 2 3)\r\n");
}

static void test_references(void **state)
{
    (void)state;
    threaded(IMAP_THREAD_REFERENCES, dovecot_box, 0, "* THREAD\r\n");
    threaded(IMAP_THREAD_ORDEREDSUBJECT, dovecot_box, 0, "* THREAD\r\n");
    /* A dummy in the middle of a chain is pruned: 2's parent <m@x> is
     * missing, its grandparent is 1. */
    const char *chain[] = {
        "Message-ID: <1@x>\r\nSubject: a\r\n",
        "Message-ID: <2@x>\r\nReferences: <1@x> <m@x>\r\nSubject: Re: a\r\n",
        "Message-ID: <3@x>\r\nReferences: <1@x> <m@x>\r\nSubject: b\r\n",
    };
    threaded(IMAP_THREAD_REFERENCES, chain, 3, "* THREAD (1 (2)(3))\r\n");
    /* A reply joins the non-reply of its subject, another non-reply makes a
     * dummy of both; the dummy with one child at the top is replaced by that
     * child. These and the ones below with '@' are Dovecot 2.3.19's answers. */
    const char *group[] = {
        "Message-ID: <1@x>\r\nSubject: Re: topic\r\n",
        "Message-ID: <2@x>\r\nSubject: topic\r\n",
        "Message-ID: <3@x>\r\nIn-Reply-To: <gone@x>\r\nSubject: unrelated\r\n",
        "Message-ID: <4@x>\r\nSubject: =?UTF-8?Q?TOPIC?=\r\n",
    };
    threaded(IMAP_THREAD_REFERENCES, group, 4, "* THREAD ((2 1)(4))(3)\r\n");
    threaded(IMAP_THREAD_REFERENCES, group, 2, "* THREAD (2 1)\r\n");
    /* A longer cycle through three messages and a dummy. */
    const char *cycle[] = {
        "Message-ID: <a@x>\r\nReferences: <c@x> <b@x>\r\n",
        "Message-ID: <b@x>\r\nReferences: <a@x> <c@x>\r\n",
        "Message-ID: <c@x>\r\nReferences: <b@x> <a@x> <d@x>\r\n",
    };
    threaded(IMAP_THREAD_REFERENCES, cycle, 3, "* THREAD (3 2 1)\r\n");
    /* Without '@' they are no ids at all (Dovecot too). */
    const char *no_at[] = {
        "Message-ID: <a>\r\nReferences: <c> <b>\r\n",
        "Message-ID: <b>\r\nReferences: <a> <c>\r\n",
        "Message-ID: <c>\r\nReferences: <b> <a> <d>\r\n",
    };
    threaded(IMAP_THREAD_REFERENCES, no_at, 3, "* THREAD (1)(2)(3)\r\n");
    /* A reference that has a parent keeps it when a later References disagrees. */
    const char *moved[] = {
        "Message-ID: <p@x>\r\nSubject: x\r\n",
        "Message-ID: <q@x>\r\nSubject: y\r\n",
        "Message-ID: <c@x>\r\nReferences: <p@x>\r\nSubject: z\r\n",
        "Message-ID: <d@x>\r\nReferences: <q@x> <c@x>\r\nSubject: w\r\n",
    };
    threaded(IMAP_THREAD_REFERENCES, moved, 4, "* THREAD (1 3 4)(2)\r\n");
}

/* 20000 messages, each a reply to the one before: one thread that deep
 * needs no recursion, and the output is a single list. */
static void test_deep_chain(void **state)
{
    (void)state;
    enum { N = 20000 };
    struct imap_thread_msg *msgs = calloc(N, sizeof(*msgs));
    char h[128];
    for (size_t k = 0; k < N; k++) {
        int len = k == 0 ? snprintf(h, sizeof(h), "Message-ID: <%zu@d>\r\n", k)
                         : snprintf(h, sizeof(h), "Message-ID: <%zu@d>\r\nIn-Reply-To: <%zu@d>\r\n",
                                    k, k - 1);
        imap_thread_msg_build(&msgs[k], (uint32_t)k + 1, (time_t)k, h, (size_t)len);
    }
    struct buf out;
    buf_init(&out);
    imap_thread_format(&out, IMAP_THREAD_REFERENCES, msgs, N);
    assert_memory_equal(out.data, "* THREAD (1 2 3 ", 16);
    assert_string_equal(out.data + out.len - 15, " 19999 20000)\r\n");
    size_t opens = 0;
    for (size_t k = 0; k < out.len; k++)
        opens += out.data[k] == '(';
    assert_int_equal(opens, 1);
    buf_free(&out);
    for (size_t k = 0; k < N; k++)
        imap_thread_msg_free(&msgs[k]);
    free(msgs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compile),    cmocka_unit_test(test_msg_build),
        cmocka_unit_test(test_dovecot),    cmocka_unit_test(test_references),
        cmocka_unit_test(test_deep_chain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
