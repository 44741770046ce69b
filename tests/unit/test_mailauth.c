/* Unit tests for mailauth/mailauth, the asynchronous driver, with a real
 * resolver pointed at a loopback port where nothing answers (so every
 * lookup is a temporary failure, quickly): callbacks run from the loop and
 * never inside the call, results and the Authentication-Results field
 * after failures, no DNS needed when nothing is to be looked up, and
 * mailauth_free() with queries in flight. (Answers from a real DNS server
 * are tested through `postern dkim verify` in test_dkim_cli.py.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <event2/event.h>

#include "mailauth/dkim_sign.h"
#include "mailauth/mailauth.h"

struct env {
    struct event_base *base;
    struct dns_resolver *r;
    char dir[64];
};

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    snprintf(e->dir, sizeof(e->dir), "/tmp/test_mailauth_XXXXXX");
    if (mkdtemp(e->dir) == NULL)
        return -1;
    e->base = event_base_new();
    struct buf err;
    buf_init(&err);
    e->r = dns_resolver_new(e->base, "127.0.0.1:9", e->dir, 300, &err);
    buf_free(&err);
    *state = e;
    return e->r ? 0 : -1;
}

static int teardown(void **state)
{
    struct env *e = *state;
    dns_resolver_free(&e->r);
    event_base_free(e->base);
    char p[128];
    snprintf(p, sizeof(p), "%s/resolver.conf", e->dir);
    unlink(p);
    rmdir(e->dir);
    free(e);
    return 0;
}

static int calls;

static void on_done(void *arg)
{
    calls++;
    event_base_loopexit(arg, NULL);
}

static int timeouts;

static void on_limit(evutil_socket_t fd, short what, void *arg)
{
    timeouts++;
    event_base_loopexit(arg, NULL);
}

/* Runs the loop until on_done or 10 seconds. */
static void wait_done(struct env *e)
{
    struct timeval limit = {10, 0};
    struct event *t = evtimer_new(e->base, on_limit, e->base);
    evtimer_add(t, &limit);
    event_base_dispatch(e->base);
    event_free(t);
}

static const char message[] = "From: Alice <alice@example.test>\r\n"
                              "Subject: hello\r\n"
                              "\r\n"
                              "Hi.\r\n";

static void test_temporary_failures(void **state)
{
    struct env *e = *state;
    struct mailauth *m = mailauth_new(e->base, e->r, "mx.example.test");
    mailauth_spf_start(m, "192.0.2.1", "client.example", "joe@example.test");
    calls = 0;
    mailauth_wait_spf(m, on_done, e->base);
    assert_int_equal(calls, 0);
    wait_done(e);
    assert_int_equal(calls, 1);
    assert_int_equal(mailauth_spf_result(m), SPF_TEMPERROR);

    EVP_PKEY *p = dkim_key_generate(DKIM_KEY_ED25519);
    struct dkim_key key = {
        .domain = "example.test", .selector = "s", .pkey = p, .type = DKIM_KEY_ED25519};
    struct buf signed_msg, err, ar;
    buf_init(&signed_msg);
    buf_init(&err);
    buf_init(&ar);
    assert_true(dkim_sign_message(&key, message, strlen(message), time(NULL), &signed_msg, &err));
    buf_append_str(&signed_msg, message);
    for (size_t i = 0; i < signed_msg.len; i += 10)
        mailauth_data(m, signed_msg.data + i, signed_msg.len - i < 10 ? signed_msg.len - i : 10);
    calls = 0;
    mailauth_end(m, on_done, e->base);
    assert_int_equal(calls, 0);
    wait_done(e);
    assert_int_equal(calls, 1);
    assert_int_equal(mailauth_dkim_count(m), 1);
    assert_int_equal(mailauth_dkim(m, 0)->result, DKIM_TEMPERROR);
    assert_non_null(mailauth_dmarc(m));
    assert_int_equal(mailauth_dmarc(m)->result, DMARC_TEMPERROR);
    assert_false(mailauth_dmarc_rejects(m));
    mailauth_authres(m, &ar);
    assert_non_null(strstr(ar.data, "Authentication-Results: mx.example.test;\r\n\tspf=temperror"));
    assert_non_null(strstr(ar.data, "smtp.mailfrom=joe@example.test;"));
    assert_non_null(strstr(ar.data, "\tdkim=temperror (key lookup failed) header.d=example.test"));
    assert_non_null(strstr(ar.data, "\tdmarc=temperror"));
    size_t hl;
    mailauth_header(m, &hl);
    assert_int_equal(hl, signed_msg.len - strlen("\r\nHi.\r\n"));
    mailauth_free(&m);
    assert_null(m);
    EVP_PKEY_free(p);
    buf_free(&signed_msg);
    buf_free(&err);
    buf_free(&ar);
}

static void test_nothing_to_look_up(void **state)
{
    struct env *e = *state;
    /* No SPF, no signature, no From: no lookup, but still a deferred call. */
    struct mailauth *m = mailauth_new(e->base, e->r, "mx.example.test");
    mailauth_data(m, "Subject: x\r\n\r\nbody\r\n", 20);
    calls = 0;
    mailauth_end(m, on_done, e->base);
    assert_int_equal(calls, 0);
    wait_done(e);
    assert_int_equal(calls, 1);
    assert_int_equal(mailauth_dkim_count(m), 0);
    assert_int_equal(mailauth_dmarc(m)->result, DMARC_PERMERROR);
    struct buf ar;
    buf_init(&ar);
    mailauth_authres(m, &ar);
    assert_string_equal(ar.data, "Authentication-Results: mx.example.test;\r\n"
                                 "\tdkim=none;\r\n"
                                 "\tdmarc=permerror (no From field)\r\n");
    buf_free(&ar);
    mailauth_free(&m);
}

/* Issue 11: the From verdict the smtp listener refuses on, and a header
 * section too large to be seen whole (a second From could hide past it). */
static void test_from_and_truncated_header(void **state)
{
    struct env *e = *state;
    static const struct {
        const char *msg;
        enum dmarc_from from;
    } cases[] = {
        {"From: a@example.test\r\nFrom: b@other.test\r\n\r\nx\r\n", DMARC_FROM_MANY_FIELDS},
        {"From: a@example.test, b@other.test\r\n\r\nx\r\n", DMARC_FROM_MANY_DOMAINS},
        {"Subject: none\r\n\r\nx\r\n", DMARC_FROM_MISSING},
        {"From: \"Doe, J\" <j@[192.0.2.1]>\r\n\r\nx\r\n", DMARC_FROM_BAD_DOMAIN},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct mailauth *m = mailauth_new(e->base, e->r, "mx.example.test");
        mailauth_data(m, cases[i].msg, strlen(cases[i].msg));
        calls = 0;
        mailauth_end(m, on_done, e->base);
        wait_done(e);
        assert_int_equal(calls, 1);
        assert_int_equal(mailauth_from(m), cases[i].from);
        assert_false(mailauth_header_truncated(m));
        assert_int_equal(mailauth_dmarc(m)->result, DMARC_PERMERROR);
        mailauth_free(&m);
    }
    /* Over 1 MB of header, then a second From. */
    struct mailauth *m = mailauth_new(e->base, e->r, "mx.example.test");
    const char *first = "From: a@example.test\r\n";
    mailauth_data(m, first, strlen(first));
    char line[1000];
    memset(line, 'x', sizeof(line));
    memcpy(line, "X-Pad: ", 7);
    memcpy(line + sizeof(line) - 2, "\r\n", 2);
    for (size_t n = 0; n < 1100; n++)
        mailauth_data(m, line, sizeof(line));
    const char *rest = "From: ceo@other.test\r\n\r\nbody\r\n";
    mailauth_data(m, rest, strlen(rest));
    mailauth_end(m, on_done, e->base);
    wait_done(e);
    assert_true(mailauth_header_truncated(m));
    mailauth_free(&m);
}

static void test_free_in_flight(void **state)
{
    struct env *e = *state;
    struct mailauth *m = mailauth_new(e->base, e->r, "mx.example.test");
    mailauth_spf_start(m, "2001:db8::1", "client.example", "");
    mailauth_data(m, message, strlen(message)); /* starts the _dmarc lookup */
    calls = 0;
    mailauth_end(m, on_done, e->base);
    mailauth_free(&m);
    /* Nothing may call back now; the loop only sees the guard timer. */
    struct timeval t = {1, 0};
    struct event *guard = evtimer_new(e->base, on_limit, e->base);
    timeouts = 0;
    evtimer_add(guard, &t);
    event_base_dispatch(e->base);
    event_free(guard);
    assert_int_equal(calls, 0);
    assert_int_equal(timeouts, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_temporary_failures),
        cmocka_unit_test(test_nothing_to_look_up),
        cmocka_unit_test(test_from_and_truncated_header),
        cmocka_unit_test(test_free_in_flight),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
