/* Unit tests for mailauth/dmarc and mailauth/domain: record parsing, the
 * lookup at the From domain then at the organizational domain, sp=,
 * relaxed and strict alignment of SPF and DKIM, every outcome (pass, fail
 * with p=none, quarantine and reject, pct= sampling, none, temperror,
 * permerror for a bad From). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dns/rr.h"
#include "mailauth/dmarc.h"

struct rec {
    const char *name, *txt; /* txt "TEMPFAIL": the lookup fails */
};

static const struct rec zone[] = {
    {"_dmarc.example.com", "v=DMARC1; p=reject; rua=mailto:d@example.com"},
    {"_dmarc.sub.example.com", "v=DMARC1; p=quarantine; adkim=s; aspf=s"},
    {"_dmarc.none.test", "v=DMARC1; p=none"},
    {"_dmarc.org.test", "v=DMARC1; p=reject; sp=quarantine"},
    {"_dmarc.half.test", "v=DMARC1; p=reject; pct=50"},
    {"_dmarc.two.test", "v=DMARC1; p=reject"},
    {"_dmarc.two.test", "v=DMARC1; p=none"},
    {"_dmarc.other.test", "some other record"},
    {"_dmarc.other.test", "v=DMARC1;p=quarantine"},
    {"_dmarc.bad.test", "v=DMARC1; p=maybe"},
    {"_dmarc.temp.test", "TEMPFAIL"},
    {NULL, NULL},
};

static void answer(struct dmarc *d, const char *name)
{
    static unsigned char store[4][300];
    const unsigned char *rd[4];
    int len[4];
    struct dns_answer a = {.status = DNS_NXDOMAIN, .why = "NXDOMAIN", .rdata = rd, .len = len};
    for (size_t i = 0; zone[i].name; i++) {
        if (strcmp(zone[i].name, name) != 0)
            continue;
        if (strcmp(zone[i].txt, "TEMPFAIL") == 0) {
            a.status = DNS_TEMPFAIL;
            break;
        }
        size_t n = strlen(zone[i].txt);
        store[a.n][0] = (unsigned char)n;
        memcpy(store[a.n] + 1, zone[i].txt, n);
        rd[a.n] = store[a.n];
        len[a.n] = (int)n + 1;
        a.n++;
        a.status = DNS_OK;
    }
    dmarc_answer(d, &a);
}

struct result {
    struct dmarc_outcome o;
    char queries[256];
};

static struct result run(const char *from_field, enum spf_result spf, const char *spf_domain,
                         const char *dkim_domain, enum dkim_result dkim, unsigned roll)
{
    struct result r = {0};
    char header[512];
    snprintf(header, sizeof(header), "Subject: x\r\n%sTo: y@example.net\r\n", from_field);
    struct dmarc *d = dmarc_new(header, strlen(header));
    struct dmarc_query q;
    while (dmarc_next(d, &q)) {
        strcat(r.queries, q.name);
        strcat(r.queries, " ");
        answer(d, q.name);
    }
    struct dkim_sig_result sig = {.result = dkim};
    snprintf(sig.domain, sizeof(sig.domain), "%s", dkim_domain ? dkim_domain : "");
    const struct dkim_sig_result *sigs[] = {&sig};
    struct dmarc_auth auth = {.spf = spf,
                              .spf_domain = spf_domain,
                              .dkim = sigs,
                              .ndkim = dkim_domain ? 1 : 0,
                              .pct_roll = roll};
    dmarc_evaluate(d, &auth);
    r.o = *dmarc_outcome(d);
    dmarc_free(&d);
    return r;
}

#define FROM(dom) "From: Joe <joe@" dom ">\r\n"

static void test_alignment(void **state)
{
    struct result r;
    /* Aligned DKIM (relaxed: a subdomain's signature counts). */
    r = run(FROM("example.com"), SPF_FAIL, "example.com", "mail.example.com", DKIM_PASS, 0);
    assert_int_equal(r.o.result, DMARC_PASS);
    assert_true(r.o.dkim_aligned);
    assert_false(r.o.spf_aligned);
    assert_int_equal(r.o.disposition, DMARC_POLICY_NONE);
    assert_string_equal(r.queries, "_dmarc.example.com ");
    /* Aligned SPF, DKIM from elsewhere. */
    r = run(FROM("example.com"), SPF_PASS, "bounce.example.com", "other.org", DKIM_PASS, 0);
    assert_int_equal(r.o.result, DMARC_PASS);
    assert_true(r.o.spf_aligned);
    assert_false(r.o.dkim_aligned);
    /* Passing but unaligned: fail, p=reject. */
    r = run(FROM("example.com"), SPF_PASS, "other.org", "other.org", DKIM_PASS, 0);
    assert_int_equal(r.o.result, DMARC_FAIL);
    assert_int_equal(r.o.policy, DMARC_POLICY_REJECT);
    assert_int_equal(r.o.disposition, DMARC_POLICY_REJECT);
    /* Aligned but not passing. */
    r = run(FROM("example.com"), SPF_SOFTFAIL, "example.com", "example.com", DKIM_FAIL, 0);
    assert_int_equal(r.o.result, DMARC_FAIL);
    /* Strict (sub.example.com has adkim=s aspf=s): the parent's signature
     * and the parent's SPF do not align; exact matches do. */
    r = run(FROM("sub.example.com"), SPF_PASS, "example.com", "example.com", DKIM_PASS, 0);
    assert_int_equal(r.o.result, DMARC_FAIL);
    assert_int_equal(r.o.disposition, DMARC_POLICY_QUARANTINE);
    r = run(FROM("sub.example.com"), SPF_PASS, "sub.example.com", NULL, DKIM_NONE, 0);
    assert_int_equal(r.o.result, DMARC_PASS);
    r = run(FROM("SUB.Example.COM"), SPF_NONE, NULL, "sub.example.com", DKIM_PASS, 0);
    assert_int_equal(r.o.result, DMARC_PASS);
}

static void test_policies(void **state)
{
    struct result r;
    r = run(FROM("none.test"), SPF_FAIL, "none.test", NULL, DKIM_NONE, 0);
    assert_int_equal(r.o.result, DMARC_FAIL);
    assert_int_equal(r.o.policy, DMARC_POLICY_NONE);
    assert_int_equal(r.o.disposition, DMARC_POLICY_NONE);
    /* The organizational domain's record, with sp= for a subdomain. */
    r = run(FROM("a.b.org.test"), SPF_FAIL, "x.test", NULL, DKIM_NONE, 0);
    assert_string_equal(r.queries, "_dmarc.a.b.org.test _dmarc.org.test ");
    assert_true(r.o.org_record);
    assert_int_equal(r.o.policy, DMARC_POLICY_QUARANTINE);
    r = run(FROM("org.test"), SPF_FAIL, "x.test", NULL, DKIM_NONE, 0);
    assert_string_equal(r.queries, "_dmarc.org.test ");
    assert_int_equal(r.o.policy, DMARC_POLICY_REJECT);
    /* pct=50: rolls below 50 get reject, the others quarantine. */
    r = run(FROM("half.test"), SPF_FAIL, "x.test", NULL, DKIM_NONE, 49);
    assert_int_equal(r.o.disposition, DMARC_POLICY_REJECT);
    r = run(FROM("half.test"), SPF_FAIL, "x.test", NULL, DKIM_NONE, 50);
    assert_int_equal(r.o.disposition, DMARC_POLICY_QUARANTINE);
    /* Two records: no policy. Other TXT records are ignored. */
    r = run(FROM("two.test"), SPF_FAIL, "x.test", NULL, DKIM_NONE, 0);
    assert_int_equal(r.o.result, DMARC_NONE);
    r = run(FROM("other.test"), SPF_FAIL, "x.test", NULL, DKIM_NONE, 0);
    assert_int_equal(r.o.policy, DMARC_POLICY_QUARANTINE);
    /* A bad p= without rua=: unusable. No record anywhere: none. */
    r = run(FROM("bad.test"), SPF_FAIL, "x.test", NULL, DKIM_NONE, 0);
    assert_int_equal(r.o.result, DMARC_NONE);
    r = run(FROM("mail.nowhere.test"), SPF_FAIL, "x.test", NULL, DKIM_NONE, 0);
    assert_int_equal(r.o.result, DMARC_NONE);
    assert_string_equal(r.queries, "_dmarc.mail.nowhere.test _dmarc.nowhere.test ");
    r = run(FROM("temp.test"), SPF_PASS, "temp.test", NULL, DKIM_NONE, 0);
    assert_int_equal(r.o.result, DMARC_TEMPERROR);
}

static void test_from_field(void **state)
{
    struct result r;
    r = run("", SPF_PASS, "example.com", NULL, DKIM_NONE, 0);
    assert_int_equal(r.o.result, DMARC_PERMERROR);
    assert_string_equal(r.queries, "");
    r = run(FROM("example.com") FROM("example.org"), SPF_PASS, "example.com", NULL, DKIM_NONE, 0);
    assert_int_equal(r.o.result, DMARC_PERMERROR);
    r = run("From: a@example.com, b@example.org\r\n", SPF_PASS, "example.com", NULL, DKIM_NONE, 0);
    assert_int_equal(r.o.result, DMARC_PERMERROR);
    r = run("From: nobody\r\n", SPF_PASS, "example.com", NULL, DKIM_NONE, 0);
    assert_int_equal(r.o.result, DMARC_PERMERROR);
    r = run("From: \"Joe, Jr\" <joe@example.com>\r\n", SPF_PASS, "example.com", NULL, DKIM_NONE, 0);
    assert_int_equal(r.o.result, DMARC_PASS);
    assert_string_equal(r.o.from_domain, "example.com");
}

/* Issue 11: which From problem it is (the smtp listener refuses each),
 * parsed the way a reader's program would, and none of them a pass. */
static void test_from_verdicts(void **state)
{
    static const struct {
        const char *fields;
        enum dmarc_from from;
        const char *domain;
    } cases[] = {
        {"", DMARC_FROM_MISSING, ""},
        {"From: a@example.com\r\nFrom: b@example.com\r\n", DMARC_FROM_MANY_FIELDS, ""},
        {"From: a@example.com\r\nFROM : b@example.org\r\n", DMARC_FROM_MANY_FIELDS, ""},
        {"From: ceo@example.com, x@other.test\r\n", DMARC_FROM_MANY_DOMAINS, ""},
        {"From: x@[192.0.2.1], ceo@example.com\r\n", DMARC_FROM_MANY_DOMAINS, ""},
        {"From: ceo@example.com, x@[192.0.2.1]\r\n", DMARC_FROM_MANY_DOMAINS, ""},
        {"From: g: a@example.com;, b@other.test\r\n", DMARC_FROM_MANY_DOMAINS, ""},
        {"From: ceo@example.com <x@other.test>\r\n", DMARC_FROM_SYNTAX, ""},
        {"From: Doe, John <john@example.com>\r\n", DMARC_FROM_SYNTAX, ""},
        {"From: nobody\r\n", DMARC_FROM_SYNTAX, ""},
        {"From: undisclosed:;\r\n", DMARC_FROM_EMPTY, ""},
        {"From:\r\n", DMARC_FROM_EMPTY, ""},
        {"From: a@[192.0.2.1]\r\n", DMARC_FROM_BAD_DOMAIN, ""},
        {"From: ceo@example.com\xe2\x80\x8b\r\n", DMARC_FROM_BAD_DOMAIN, ""},
        /* Fine: one author, or several in one domain, however written. */
        {"From: \"ceo@other.test, x\" <ceo@example.com>\r\n", DMARC_FROM_OK, "example.com"},
        {"From: a@Example.COM, \"B\" <b@example.com>\r\n", DMARC_FROM_OK, "example.com"},
        {"From: a@example.com (x@other.test)\r\n", DMARC_FROM_OK, "example.com"},
        {"From: team: a@example.com, b@example.com;\r\n", DMARC_FROM_OK, "example.com"},
        {"From : a@example.com\r\n", DMARC_FROM_OK, "example.com"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct result r =
            run(cases[i].fields, SPF_PASS, "example.com", "example.com", DKIM_PASS, 0);
        if (r.o.from != cases[i].from || strcmp(r.o.from_domain, cases[i].domain) != 0)
            fail_msg("case %zu (%s): from %d domain %s", i, cases[i].fields, r.o.from,
                     r.o.from_domain);
        if (cases[i].from == DMARC_FROM_OK) {
            assert_int_equal(r.o.result, DMARC_PASS);
        } else {
            assert_int_equal(r.o.result, DMARC_PERMERROR);
            assert_string_equal(r.queries, "");
        }
    }
    /* A verified signature that leaves content unsigned does not align. */
    struct result r = run(FROM("example.com"), SPF_FAIL, "x.test", "example.com", DKIM_POLICY, 0);
    assert_int_equal(r.o.result, DMARC_FAIL);
    assert_false(r.o.dkim_aligned);
    assert_int_equal(r.o.disposition, DMARC_POLICY_REJECT);
}

static void test_record_parse(void **state)
{
    struct dmarc_record r;
    const char *s = "v=DMARC1; p=Reject; sp=none; adkim=s; aspf=r; pct=20; fo=1; ri=86400";
    assert_null(dmarc_record_parse(s, strlen(s), &r));
    assert_int_equal(r.p, DMARC_POLICY_REJECT);
    assert_int_equal(r.sp, DMARC_POLICY_NONE);
    assert_true(r.strict_dkim);
    assert_false(r.strict_spf);
    assert_int_equal(r.pct, 20);
    s = "v=DMARC1; p=quarantine; pct=500";
    assert_null(dmarc_record_parse(s, strlen(s), &r));
    assert_int_equal(r.pct, 100);
    assert_int_equal(r.sp, DMARC_POLICY_QUARANTINE);
    s = "v=DMARC1; p=bogus; rua=mailto:x@example.com";
    assert_null(dmarc_record_parse(s, strlen(s), &r));
    assert_int_equal(r.p, DMARC_POLICY_NONE);
    static const char *bad[] = {"p=reject; v=DMARC1",    "v=DMARC2; p=reject", "v=DMARC1",
                                "v=DMARC1; p=reject;; ", "v=dmarc1; p=reject", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_non_null(dmarc_record_parse(bad[i], strlen(bad[i]), &r));
}

static void test_domains(void **state)
{
    assert_string_equal(domain_org("a.b.example.com"), "example.com");
    assert_string_equal(domain_org("example.com"), "example.com");
    assert_string_equal(domain_org("localhost"), "localhost");
    assert_true(domain_aligned("mail.example.com", "EXAMPLE.com", false));
    assert_false(domain_aligned("mail.example.com", "example.com", true));
    assert_false(domain_aligned("example.org", "example.com", false));
    assert_true(domain_is_sub("a.example.com", "example.com"));
    assert_false(domain_is_sub("aexample.com", "example.com"));
    assert_true(domain_valid("a-b_c.example.", 14));
    assert_false(domain_valid("a..b", 4));
    assert_false(domain_valid("a b", 3));
    assert_false(domain_valid(".", 1));
    char big[300];
    memset(big, 'a', sizeof(big));
    assert_false(domain_valid(big, 64));
    for (size_t i = 63; i < sizeof(big); i += 64)
        big[i] = '.';
    assert_true(domain_valid(big, 253));
    assert_false(domain_valid(big, 254 + 2));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alignment),    cmocka_unit_test(test_policies),
        cmocka_unit_test(test_from_field),   cmocka_unit_test(test_from_verdicts),
        cmocka_unit_test(test_record_parse), cmocka_unit_test(test_domains),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
