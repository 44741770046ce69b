/* The checks on a client handshake's parameters (conn_tls_client_check):
 * names, patterns, TLSA records, and what must come together. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "net/conn_client.h"

static const unsigned char digest64[64] = {1, 2, 3};

static bool check(const struct conn_tls_client *p, char *err, size_t len)
{
    err[0] = '\0';
    bool ok = conn_tls_client_check(p, err, len);
    if (!ok)
        assert_true(err[0] != '\0'); /* a refusal always says why */
    return ok;
}

static void test_plain_names(void **state)
{
    char err[200];
    struct conn_tls_client p = {.sni = "mx1.example.net", .verify_name = "mx1.example.net"};
    assert_true(check(&p, err, sizeof(err)));
    struct conn_tls_client none = {0}; /* opportunistic: nothing to check */
    assert_true(check(&none, err, sizeof(err)));
    struct conn_tls_client ip = {.sni = "192.0.2.7", .verify_name = "2001:db8::25"};
    assert_true(check(&ip, err, sizeof(err)));
    struct conn_tls_client under = {.verify_name = "_mta-sts.example.net"};
    assert_true(check(&under, err, sizeof(err)));
}

static void test_bad_names(void **state)
{
    char err[200];
    char longname[300];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    const char *bad[] = {"",     "mx example.net", "mx\r\nRCPT", ".example.net", "*.example.net",
                         "mx/1", longname};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct conn_tls_client v = {.verify_name = bad[i]};
        assert_false(check(&v, err, sizeof(err)));
        assert_non_null(strstr(err, "certificate name"));
        struct conn_tls_client s = {.sni = bad[i]};
        assert_false(check(&s, err, sizeof(err)));
        assert_non_null(strstr(err, "SNI"));
    }
}

static void test_more_names(void **state)
{
    char err[200];
    const char *ok[] = {"*.example.net", "mx2.example.net"};
    struct conn_tls_client p = {
        .verify_name = "mx.example.net", .more_names = ok, .n_more_names = 2};
    assert_true(check(&p, err, sizeof(err)));
    const char *bad[] = {"mx.example.net", "*."};
    p.more_names = bad;
    assert_false(check(&p, err, sizeof(err)));
    const char *bad2[] = {"*.*.example.net"};
    p.more_names = bad2;
    p.n_more_names = 1;
    assert_false(check(&p, err, sizeof(err)));
    const char *null_entry[] = {NULL};
    p.more_names = null_entry;
    assert_false(check(&p, err, sizeof(err)));
    p.more_names = NULL; /* a count without the array */
    assert_false(check(&p, err, sizeof(err)));
}

static void test_tlsa_records(void **state)
{
    char err[200];
    struct conn_tlsa r[2] = {
        {.usage = 3, .selector = 1, .mtype = 1, .data = digest64, .len = 32},
        {.usage = 2, .selector = 0, .mtype = 2, .data = digest64, .len = 64},
    };
    struct conn_tls_client p = {.verify_name = "mx.example.net", .tlsa = r, .n_tlsa = 2};
    assert_true(check(&p, err, sizeof(err)));
    r[1].mtype = 0; /* the whole certificate or key: any length */
    r[1].len = 7;
    assert_true(check(&p, err, sizeof(err)));

    r[0].len = 31; /* a SHA2-256 digest of the wrong length */
    assert_false(check(&p, err, sizeof(err)));
    assert_non_null(strstr(err, "TLSA record 0"));
    r[0].len = 32;
    r[1].mtype = 2;
    r[1].len = 32; /* SHA2-512 must be 64 */
    assert_false(check(&p, err, sizeof(err)));
    assert_non_null(strstr(err, "TLSA record 1"));
    r[1].len = 64;
    r[1].usage = 4;
    assert_false(check(&p, err, sizeof(err)));
    r[1].usage = 2;
    r[1].selector = 2;
    assert_false(check(&p, err, sizeof(err)));
    r[1].selector = 0;
    r[1].mtype = 3;
    assert_false(check(&p, err, sizeof(err)));
    r[1].mtype = 2;
    r[1].data = NULL;
    assert_false(check(&p, err, sizeof(err)));
    r[1].data = digest64;
    r[1].mtype = 0;
    r[1].len = 0;
    assert_false(check(&p, err, sizeof(err)));
    r[1].mtype = 2;
    r[1].len = 64;
    assert_true(check(&p, err, sizeof(err)));
}

static void test_tlsa_needs_a_base_domain(void **state)
{
    char err[200];
    struct conn_tlsa r = {.usage = 3, .selector = 1, .mtype = 1, .data = digest64, .len = 32};
    struct conn_tls_client p = {.tlsa = &r, .n_tlsa = 1};
    assert_false(check(&p, err, sizeof(err)));
    assert_non_null(strstr(err, "base domain"));
    p.verify_name = "192.0.2.1";
    assert_false(check(&p, err, sizeof(err)));
    p.verify_name = "mx.example.net";
    assert_true(check(&p, err, sizeof(err)));
    p.tlsa = NULL; /* a count without the records */
    assert_false(check(&p, err, sizeof(err)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_names),
        cmocka_unit_test(test_bad_names),
        cmocka_unit_test(test_more_names),
        cmocka_unit_test(test_tlsa_records),
        cmocka_unit_test(test_tlsa_needs_a_base_domain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
