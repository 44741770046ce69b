/* Unit tests for mailauth/authres: the field's shape and content for every
 * method, quoting of hostile values, and spotting forged fields that claim
 * our host name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mailauth/authres.h"

/* CRLF only, continuation lines start with a tab, one field. */
static void check_shape(const struct buf *b)
{
    assert_memory_equal(b->data, "Authentication-Results: ", 24);
    assert_memory_equal(b->data + b->len - 2, "\r\n", 2);
    for (size_t i = 0; i < b->len; i++) {
        unsigned char c = (unsigned char)b->data[i];
        if (c == '\n') {
            assert_true(i > 0 && b->data[i - 1] == '\r');
            assert_true(i + 1 == b->len || b->data[i + 1] == '\t');
        } else if (c == '\r') {
            assert_true(i + 1 < b->len && b->data[i + 1] == '\n');
        } else {
            assert_true(c == '\t' || (c >= 0x20 && c < 0x7f));
        }
    }
}

static void test_full(void **state)
{
    struct dkim_sig_result s1 = {.result = DKIM_PASS,
                                 .why = "signature verified",
                                 .domain = "example.com",
                                 .selector = "sel",
                                 .b = "abcd/+==",
                                 .algorithm = "ed25519-sha256"};
    struct dkim_sig_result s2 = {.result = DKIM_FAIL,
                                 .why = "body hash mismatch",
                                 .domain = "other.org",
                                 .selector = "s2",
                                 .b = "xyz",
                                 .algorithm = "rsa-sha256"};
    const struct dkim_sig_result *sigs[] = {&s1, &s2};
    struct dmarc_outcome d = {.result = DMARC_PASS,
                              .have_record = true,
                              .policy = DMARC_POLICY_REJECT,
                              .disposition = DMARC_POLICY_NONE,
                              .from_domain = "example.com"};
    struct authres ar = {.hostname = "mx.example.test",
                         .have_spf = true,
                         .spf = SPF_PASS,
                         .spf_why = "ip4:192.0.2.0/24 matched in example.com",
                         .spf_identity = "alice@example.com",
                         .have_dkim = true,
                         .dkim = sigs,
                         .ndkim = 2,
                         .dmarc = &d};
    struct buf b;
    buf_init(&b);
    authres_build(&ar, &b);
    check_shape(&b);
    assert_string_equal(b.data,
                        "Authentication-Results: mx.example.test;\r\n"
                        "\tspf=pass (ip4:192.0.2.0/24 matched in example.com) "
                        "smtp.mailfrom=alice@example.com;\r\n"
                        "\tdkim=pass header.d=example.com header.s=sel header.b=\"abcd/+==\" "
                        "header.a=ed25519-sha256;\r\n"
                        "\tdkim=fail (body hash mismatch) header.d=other.org header.s=s2 "
                        "header.b=xyz header.a=rsa-sha256;\r\n"
                        "\tdmarc=pass (p=reject dis=none) header.from=example.com\r\n");
    assert_true(authres_claims_host(b.data, b.len, "MX.example.test"));
    buf_free(&b);
}

static void test_minimal_and_hostile(void **state)
{
    struct buf b;
    buf_init(&b);
    struct authres ar = {.hostname = "mx.example.test"};
    authres_build(&ar, &b);
    assert_string_equal(b.data, "Authentication-Results: mx.example.test; none\r\n");
    buf_reset(&b);
    /* A hostile MAIL FROM and a reason taken from DNS. */
    struct dmarc_outcome d = {.result = DMARC_NONE, .why = "no DMARC record"};
    ar = (struct authres){.hostname = "mx.example.test",
                          .have_spf = true,
                          .spf = SPF_FAIL,
                          .spf_why = "-all) matched\r\nX-Evil: 1 (in",
                          .spf_identity = "\"a;b\"\r\nX-Evil: yes\"@example.com",
                          .have_dkim = true,
                          .dmarc = &d};
    authres_build(&ar, &b);
    check_shape(&b);
    assert_null(strstr(b.data, "\r\nX-Evil"));
    assert_non_null(strstr(b.data, "spf=fail (-all  matched  X-Evil: 1  in) smtp.mailfrom=\""));
    assert_non_null(strstr(b.data, "\\\"a;b\\\"??X-Evil: yes\\\"@example.com\";"));
    assert_non_null(strstr(b.data, "\tdkim=none;\r\n\tdmarc=none (no DMARC record)\r\n"));
    buf_reset(&b);
    ar = (struct authres){.hostname = "mx.example.test",
                          .have_spf = true,
                          .spf = SPF_NONE,
                          .spf_helo = true,
                          .spf_identity = "client.example"};
    authres_build(&ar, &b);
    assert_string_equal(b.data, "Authentication-Results: mx.example.test;\r\n"
                                "\tspf=none smtp.helo=client.example\r\n");
    buf_free(&b);
}

/* Issue 11: a signature that verifies but leaves content unsigned is
 * dkim=policy with the reason as a reason= (RFC 8601 2.3). */
static void test_policy(void **state)
{
    struct dkim_sig_result s1 = {.result = DKIM_POLICY,
                                 .why = "l= does not cover the whole body",
                                 .domain = "bank.test",
                                 .selector = "s",
                                 .b = "abc",
                                 .algorithm = "rsa-sha256"};
    struct dkim_sig_result s2 = {
        .result = DKIM_POLICY, .why = "h= leaves a Subject field unsigned", .domain = "bank.test"};
    const struct dkim_sig_result *sigs[] = {&s1, &s2};
    struct authres ar = {
        .hostname = "mx.example.test", .have_dkim = true, .dkim = sigs, .ndkim = 2};
    struct buf b;
    buf_init(&b);
    authres_build(&ar, &b);
    check_shape(&b);
    assert_string_equal(b.data,
                        "Authentication-Results: mx.example.test;\r\n"
                        "\tdkim=policy reason=\"l= does not cover the whole body\" "
                        "header.d=bank.test header.s=s header.b=abc header.a=rsa-sha256;\r\n"
                        "\tdkim=policy reason=\"h= leaves a Subject field unsigned\" "
                        "header.d=bank.test\r\n");
    buf_free(&b);
}

static void test_claims(void **state)
{
    static const struct {
        const char *field;
        bool ours;
    } cases[] = {
        {"Authentication-Results: mx.example.test; spf=pass\r\n", true},
        {"authentication-results:mx.example.test;dkim=pass\r\n", true},
        {"Authentication-Results : (comment (nested)) MX.EXAMPLE.TEST 1; none\r\n", true},
        {"Authentication-Results:\r\n\t\"mx.example.test\"; none\r\n", true},
        {"Authentication-Results: mx.example.test\r\n", true},
        {"Authentication-Results: mx.example.test.evil; spf=pass\r\n", false},
        {"Authentication-Results: other.example; spf=pass\r\n", false},
        {"X-Authentication-Results: mx.example.test; spf=pass\r\n", false},
        {"Authentication-Results-Original: mx.example.test; spf=pass\r\n", false},
        {"Authentication-Results: ; spf=pass\r\n", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (authres_claims_host(cases[i].field, strlen(cases[i].field), "mx.example.test") !=
            cases[i].ours)
            fail_msg("case %zu: %s", i, cases[i].field);
    const char *h = "Received: from x\r\n"
                    "Authentication-Results: mx.example.test;\r\n\tspf=pass\r\n"
                    "Subject: hi\r\n"
                    "Authentication-Results: upstream.example; dkim=pass\r\n"
                    "authentication-results: MX.example.test; dmarc=pass\r\n";
    struct buf out;
    buf_init(&out);
    assert_int_equal(authres_strip(h, strlen(h), "mx.example.test", &out), 2);
    assert_string_equal(out.data, "Received: from x\r\n"
                                  "Subject: hi\r\n"
                                  "Authentication-Results: upstream.example; dkim=pass\r\n");
    buf_free(&out);
}

/* The streaming filter gives what authres_strip() gives, in any chunking,
 * and passes the body through untouched (even a forged field in it). */
static void test_filter(void **state)
{
    static const char *msgs[] = {
        "Authentication-Results: mx.example.test; spf=pass\r\n"
        "Subject: hi\r\n"
        "Authentication-Results: upstream.example;\r\n dkim=pass\r\n"
        "\r\n"
        "Authentication-Results: mx.example.test; in the body\r\n",
        "\r\nbody only\r\n",
        "Subject: no body\r\nauthentication-results: MX.EXAMPLE.TEST; x\r\n",
        "Subject: no final CRLF\r\nX: y",
        "Subject: cr at the end\r\n\r",
    };
    static const char *want[] = {
        "Subject: hi\r\n"
        "Authentication-Results: upstream.example;\r\n dkim=pass\r\n"
        "\r\n"
        "Authentication-Results: mx.example.test; in the body\r\n",
        "\r\nbody only\r\n",
        "Subject: no body\r\n",
        "Subject: no final CRLF\r\nX: y",
        "Subject: cr at the end\r\n\r",
    };
    static const size_t dropped[] = {1, 0, 1, 0, 0};
    for (size_t m = 0; m < sizeof(msgs) / sizeof(msgs[0]); m++) {
        size_t len = strlen(msgs[m]);
        for (size_t chunk = 1; chunk <= len; chunk++) {
            struct authres_filter f;
            struct buf out;
            buf_init(&out);
            authres_filter_init(&f, "mx.example.test");
            for (size_t i = 0; i < len; i += chunk)
                authres_filter_update(&f, msgs[m] + i, len - i < chunk ? len - i : chunk, &out);
            authres_filter_finish(&f, &out);
            if (strcmp(out.data ? out.data : "", want[m]) != 0)
                fail_msg("message %zu, chunk %zu: %s", m, chunk, out.data);
            assert_int_equal(f.dropped, dropped[m]);
            buf_free(&out);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full),   cmocka_unit_test(test_minimal_and_hostile),
        cmocka_unit_test(test_policy), cmocka_unit_test(test_claims),
        cmocka_unit_test(test_filter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
