/* Unit tests for mailauth/spf and spf_record: the record grammar, the
 * RFC 7208 7.4 macro examples, and check_host() driven by a fake zone:
 * every result, include/redirect, a/mx/exists with CIDR lengths, IPv6,
 * the null sender, and the lookup, void-lookup and MX limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "dns/rr.h"
#include "mailauth/spf.h"
#include "mailauth/spf_record.h"

/* The fake zone: name, type, value; "TEMPFAIL" as a value makes the whole
 * name/type fail; a name with no record of any type is NXDOMAIN. */
struct rr {
    const char *name;
    int type;
    const char *value;
};

static const struct rr *zone;
static size_t nqueries;

/* Wire-format rdata for one record. */
static size_t rdata(int type, const char *value, unsigned char *out)
{
    if (type == DNS_TYPE_A)
        return inet_pton(AF_INET, value, out) == 1 ? 4 : 0;
    if (type == DNS_TYPE_AAAA)
        return inet_pton(AF_INET6, value, out) == 1 ? 16 : 0;
    size_t n = 0;
    if (type == DNS_TYPE_TXT) {
        /* Split into 255-octet character-strings, as DNS would. */
        size_t len = strlen(value);
        for (size_t i = 0; i < len || i == 0; i += 255) {
            size_t k = len - i < 255 ? len - i : 255;
            out[n++] = (unsigned char)k;
            memcpy(out + n, value + i, k);
            n += k;
            if (len == 0)
                break;
        }
        return n;
    }
    /* MX: "PREF host" */
    unsigned pref = (unsigned)atoi(value);
    out[n++] = (unsigned char)(pref >> 8);
    out[n++] = (unsigned char)pref;
    const char *h = strchr(value, ' ') + 1;
    while (*h) {
        const char *dot = strchr(h, '.');
        size_t l = dot ? (size_t)(dot - h) : strlen(h);
        out[n++] = (unsigned char)l;
        memcpy(out + n, h, l);
        n += l;
        h += l + (dot ? 1 : 0);
    }
    out[n++] = 0;
    return n;
}

static void answer(struct spf *s, const struct spf_query *q)
{
    static unsigned char store[32][1024];
    const unsigned char *ptrs[32];
    int lens[32];
    struct dns_answer a = {.status = DNS_NXDOMAIN, .why = "NXDOMAIN"};
    nqueries++;
    for (size_t i = 0; zone[i].name; i++) {
        if (strcasecmp(zone[i].name, q->name) != 0)
            continue;
        if (a.status == DNS_NXDOMAIN)
            a.status = DNS_NODATA, a.why = "no records";
        if (zone[i].type != q->type)
            continue;
        if (strcmp(zone[i].value, "TEMPFAIL") == 0) {
            a.status = DNS_TEMPFAIL;
            a.why = "SERVFAIL";
            break;
        }
        a.status = DNS_OK;
        lens[a.n] = (int)rdata(q->type, zone[i].value, store[a.n]);
        ptrs[a.n] = store[a.n];
        a.n++;
    }
    if (a.status != DNS_OK)
        a.n = 0;
    a.rdata = ptrs;
    a.len = lens;
    spf_answer(s, &a);
}

static enum spf_result check(const struct rr *z, const char *ip, const char *helo,
                             const char *sender, const char **why_r)
{
    zone = z;
    nqueries = 0;
    struct spf *s = spf_new(ip, helo, sender);
    struct spf_query q;
    while (spf_next(s, &q)) {
        assert_true(nqueries < 100);
        answer(s, &q);
    }
    enum spf_result r = spf_result(s);
    static char why[256];
    snprintf(why, sizeof(why), "%s", spf_why(s));
    if (why_r)
        *why_r = why;
    spf_free(&s);
    return r;
}

#define CHECK(z, ip, sender, want)                                                                 \
    do {                                                                                           \
        const char *why_;                                                                          \
        enum spf_result r_ = check(z, ip, "helo.example.org", sender, &why_);                      \
        if (r_ != (want))                                                                          \
            fail_msg("%s from %s: %s (%s), want %s", sender, ip, spf_result_name(r_), why_,        \
                     spf_result_name(want));                                                       \
    } while (0)

static const struct rr basic[] = {
    {"example.com", DNS_TYPE_TXT, "v=spf1 ip4:192.0.2.0/24 a mx:mail.example.com/30 -all"},
    {"example.com", DNS_TYPE_TXT, "google-site-verification=xyz"},
    {"example.com", DNS_TYPE_A, "198.51.100.7"},
    {"mail.example.com", DNS_TYPE_MX, "10 mx1.example.com"},
    {"mail.example.com", DNS_TYPE_MX, "20 mx2.example.com"},
    {"mx1.example.com", DNS_TYPE_A, "203.0.113.8"},
    {"mx2.example.com", DNS_TYPE_A, "203.0.113.64"},
    {"soft.example", DNS_TYPE_TXT, "v=spf1 ~all"},
    {"neutral.example", DNS_TYPE_TXT, "V=SPF1 ?all"},
    {"plain.example", DNS_TYPE_TXT, "v=spf1"},
    {"nospf.example", DNS_TYPE_TXT, "v=spf10 -all"},
    {"nospf.example", DNS_TYPE_A, "192.0.2.1"},
    {"temp.example", DNS_TYPE_TXT, "TEMPFAIL"},
    {"two.example", DNS_TYPE_TXT, "v=spf1 -all"},
    {"two.example", DNS_TYPE_TXT, "v=spf1 +all"},
    {"bad.example", DNS_TYPE_TXT, "v=spf1 ip4:192.0.2.300 -all"},
    {"badlate.example", DNS_TYPE_TXT, "v=spf1 +all foo:bar"},
    {"inc.example", DNS_TYPE_TXT, "v=spf1 include:example.com include:soft.example ?all"},
    {"incnone.example", DNS_TYPE_TXT, "v=spf1 include:nowhere.example -all"},
    {"inctemp.example", DNS_TYPE_TXT, "v=spf1 include:temp.example -all"},
    {"incfail.example", DNS_TYPE_TXT, "v=spf1 -include:example.com ~all"},
    {"red.example", DNS_TYPE_TXT, "v=spf1 ip4:10.0.0.1 redirect=example.com"},
    {"rednone.example", DNS_TYPE_TXT, "v=spf1 redirect=plain-nothing.example"},
    {"redall.example", DNS_TYPE_TXT, "v=spf1 ?all redirect=example.com"},
    {"ex.example", DNS_TYPE_TXT, "v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} -all exp=why.%{d}"},
    {"1.2.0.192.alice._spf.ex.example", DNS_TYPE_A, "127.0.0.2"},
    {"v6.example", DNS_TYPE_TXT, "v=spf1 ip6:2001:db8::/32 a:host.v6.example//64 -all"},
    {"host.v6.example", DNS_TYPE_AAAA, "2001:db9:1:2::1"},
    {"helo.example.org", DNS_TYPE_TXT, "v=spf1 ip4:192.0.2.99 -all"},
    {NULL, 0, NULL},
};

static void test_results(void **state)
{
    CHECK(basic, "192.0.2.10", "joe@example.com", SPF_PASS);   /* ip4 */
    CHECK(basic, "198.51.100.7", "joe@EXAMPLE.com", SPF_PASS); /* a */
    CHECK(basic, "203.0.113.9", "joe@example.com", SPF_PASS);  /* mx /30 */
    CHECK(basic, "203.0.113.65", "joe@example.com", SPF_PASS); /* second mx */
    CHECK(basic, "203.0.113.12", "joe@example.com", SPF_FAIL); /* outside /30 */
    CHECK(basic, "192.0.2.1", "joe@soft.example", SPF_SOFTFAIL);
    CHECK(basic, "192.0.2.1", "joe@neutral.example", SPF_NEUTRAL);
    CHECK(basic, "192.0.2.1", "joe@plain.example", SPF_NEUTRAL); /* no match, no all */
    CHECK(basic, "192.0.2.1", "joe@nospf.example", SPF_NONE);    /* v=spf10 */
    CHECK(basic, "192.0.2.1", "joe@nowhere.example", SPF_NONE);  /* NXDOMAIN */
    CHECK(basic, "192.0.2.1", "joe@localhost", SPF_NONE);        /* single label */
    CHECK(basic, "192.0.2.1", "joe@temp.example", SPF_TEMPERROR);
    CHECK(basic, "192.0.2.1", "joe@two.example", SPF_PERMERROR);
    CHECK(basic, "192.0.2.1", "joe@bad.example", SPF_PERMERROR);
    CHECK(basic, "192.0.2.1", "joe@badlate.example", SPF_PERMERROR); /* whole record checked */
    CHECK(basic, "not-an-ip", "joe@example.com", SPF_PERMERROR);
    /* The null sender is checked as postmaster@HELO. */
    const char *why;
    assert_int_equal(check(basic, "192.0.2.99", "helo.example.org", "", &why), SPF_PASS);
    assert_int_equal(check(basic, "192.0.2.98", "helo.example.org", "", &why), SPF_FAIL);
    struct spf *s = spf_new("192.0.2.1", "helo.example.org", "");
    assert_true(spf_is_helo(s));
    assert_string_equal(spf_sender(s), "postmaster@helo.example.org");
    assert_string_equal(spf_domain(s), "helo.example.org");
    spf_free(&s);
}

static void test_include_redirect(void **state)
{
    CHECK(basic, "192.0.2.1", "joe@inc.example", SPF_PASS);
    CHECK(basic, "10.1.1.1", "joe@inc.example", SPF_NEUTRAL); /* fail and softfail do not match */
    CHECK(basic, "192.0.2.1", "joe@incnone.example", SPF_PERMERROR);
    CHECK(basic, "192.0.2.1", "joe@inctemp.example", SPF_TEMPERROR);
    CHECK(basic, "192.0.2.1", "joe@incfail.example", SPF_FAIL); /* "-include" on pass */
    CHECK(basic, "10.1.1.1", "joe@incfail.example", SPF_SOFTFAIL);
    CHECK(basic, "10.0.0.1", "joe@red.example", SPF_PASS);
    CHECK(basic, "192.0.2.5", "joe@red.example", SPF_PASS); /* via redirect */
    CHECK(basic, "10.9.9.9", "joe@red.example", SPF_FAIL);
    CHECK(basic, "10.9.9.9", "joe@rednone.example", SPF_PERMERROR);
    CHECK(basic, "10.9.9.9", "joe@redall.example", SPF_NEUTRAL); /* all wins over redirect */
    const char *why;
    assert_int_equal(check(basic, "192.0.2.1", "helo", "joe@incnone.example", &why), SPF_PERMERROR);
    assert_string_equal(why, "include:nowhere.example has no SPF record");
}

static void test_macros_exists_ipv6(void **state)
{
    CHECK(basic, "192.0.2.1", "alice+tag@ex.example", SPF_PASS);
    CHECK(basic, "192.0.2.1", "bob@ex.example", SPF_FAIL);
    CHECK(basic, "2001:db8:ffff::1", "joe@v6.example", SPF_PASS);
    CHECK(basic, "2001:db9:1:2:aaaa::1", "joe@v6.example", SPF_PASS); /* a://64 */
    CHECK(basic, "2001:db9:1:3::1", "joe@v6.example", SPF_FAIL);
    CHECK(basic, "::ffff:192.0.2.10", "joe@example.com", SPF_PASS); /* mapped = IPv4 */
    CHECK(basic, "192.0.2.10", "joe@v6.example", SPF_FAIL);
}

static struct rr *make_zone(const char *record, int extra_mx)
{
    static struct rr z[64];
    static char names[64][64];
    size_t n = 0;
    z[n++] = (struct rr){"lim.example", DNS_TYPE_TXT, record};
    for (int i = 0; i < 12; i++) {
        snprintf(names[i], sizeof(names[i]), "i%d.example", i);
        z[n++] = (struct rr){names[i], DNS_TYPE_TXT, "v=spf1 ?all"};
        z[n++] = (struct rr){names[i], DNS_TYPE_A, "10.0.0.1"};
    }
    for (int i = 0; i < extra_mx; i++) {
        snprintf(names[20 + i], sizeof(names[20 + i]), "%d mx%d.example", i, i);
        z[n++] = (struct rr){"mxs.example", DNS_TYPE_MX, names[20 + i]};
    }
    z[n] = (struct rr){NULL, 0, NULL};
    return z;
}

static void test_limits(void **state)
{
    const char *why;
    /* Ten lookups are fine, eleven are not (include, a, mx, exists, ptr,
     * redirect all count; ip4 and all do not; mx:i3 and exists:v4 are
     * the two void lookups allowed). */
    struct rr *z = make_zone("v=spf1 include:i0.example include:i1.example a:i2.example "
                             "mx:i3.example exists:v4.example ptr include:i5.example "
                             "include:i6.example include:i7.example ip4:10.0.0.2 "
                             "redirect=i8.example",
                             0);
    assert_int_equal(check(z, "10.0.0.2", "h", "joe@lim.example", &why), SPF_PASS);
    assert_int_equal(check(z, "10.0.0.9", "h", "joe@lim.example", &why), SPF_NEUTRAL);
    z = make_zone("v=spf1 include:i0.example include:i1.example include:i2.example "
                  "include:i3.example include:i4.example include:i5.example include:i6.example "
                  "include:i7.example include:i8.example include:i9.example include:i10.example "
                  "-all",
                  0);
    assert_int_equal(check(z, "10.0.0.2", "h", "joe@lim.example", &why), SPF_PERMERROR);
    assert_string_equal(why, "more than 10 DNS lookups");
    /* Void lookups: two are fine, the third is a permerror. */
    z = make_zone("v=spf1 a:v1.example a:v2.example -all", 0);
    assert_int_equal(check(z, "10.0.0.2", "h", "joe@lim.example", &why), SPF_FAIL);
    z = make_zone("v=spf1 a:v1.example a:v2.example exists:v3.example -all", 0);
    assert_int_equal(check(z, "10.0.0.2", "h", "joe@lim.example", &why), SPF_PERMERROR);
    assert_string_equal(why, "more than 2 void DNS lookups");
    /* MX: ten names are fine, eleven are not. */
    z = make_zone("v=spf1 mx:mxs.example -all", 10);
    assert_int_equal(check(z, "10.0.0.2", "h", "joe@lim.example", &why), SPF_FAIL);
    z = make_zone("v=spf1 mx:mxs.example -all", 11);
    assert_int_equal(check(z, "10.0.0.2", "h", "joe@lim.example", &why), SPF_PERMERROR);
    /* A loop of includes ends at the lookup limit. */
    static const struct rr loop[] = {
        {"loop.example", DNS_TYPE_TXT, "v=spf1 include:loop.example -all"},
        {NULL, 0, NULL},
    };
    assert_int_equal(check(loop, "10.0.0.2", "h", "joe@loop.example", &why), SPF_PERMERROR);
}

static void test_macro_expand(void **state)
{
    /* RFC 7208 7.4 */
    struct spf_macro_vars v = {.s = "strong-bad@email.example.com",
                               .l = "strong-bad",
                               .o = "email.example.com",
                               .d = "email.example.com",
                               .i = "192.0.2.3",
                               .h = "mx.example.org"};
    static const char *cases[][2] = {
        {"%{s}", "strong-bad@email.example.com"},
        {"%{o}", "email.example.com"},
        {"%{d}", "email.example.com"},
        {"%{d4}", "email.example.com"},
        {"%{d3}", "email.example.com"},
        {"%{d2}", "example.com"},
        {"%{d1}", "com"},
        {"%{dr}", "com.example.email"},
        {"%{d2r}", "example.email"},
        {"%{l}", "strong-bad"},
        {"%{l-}", "strong.bad"},
        {"%{lr}", "strong-bad"},
        {"%{lr-}", "bad.strong"},
        {"%{l1r-}", "strong"},
        {"%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"},
        {"%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"},
        {"%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"},
        {"%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"},
        {"%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"},
        {"%{h}%%%_%-", "mx.example.org% %20"},
        {"%{S}", "strong-bad%40email.example.com"},
        {"%{p}.%{d1}", "unknown.com"},
    };
    struct buf out;
    buf_init(&out);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_null(spf_macro_expand(cases[i][0], strlen(cases[i][0]), &v, &out));
        assert_string_equal(out.data, cases[i][1]);
    }
    v.i = "2.0.0.1.0.d.b.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.c.b.0.1";
    v.v6 = true;
    const char *s = "%{ir}.%{v}._spf.%{d2}";
    assert_null(spf_macro_expand(s, strlen(s), &v, &out));
    assert_string_equal(out.data,
                        "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6."
                        "_spf.example.com");
    static const char *bad[] = {"%", "%x", "%{x}", "%{d0}", "%{d", "%{d2r", "%{c}", "%{d1234}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_non_null(spf_macro_expand(bad[i], strlen(bad[i]), &v, &out));
    /* Too long: labels go from the left. */
    char longspec[400];
    memset(longspec, 'a', sizeof(longspec));
    for (size_t i = 50; i < sizeof(longspec); i += 51)
        longspec[i] = '.';
    assert_null(spf_macro_expand(longspec, sizeof(longspec), &v, &out));
    assert_true(out.len <= 253 && out.data[0] == 'a');
    buf_free(&out);
}

static void test_record_grammar(void **state)
{
    static const char *good[] = {
        "v=spf1",
        "v=spf1 ",
        "v=spf1  -all  ",
        "v=spf1 a mx a:example.com a/24 a//64 a/24//64 mx:x.example.com/28//60 ptr ptr:x.com",
        ("v=spf1 ip4:192.0.2.1 ip4:192.0.2.0/0 ip6:::1 ip6:2001:db8::/128 ?include:a.b "
         "~exists:%{i}.x.y"),
        "v=spf1 exp=explain.%{d} redirect=%{d}.spf.example.com foo=bar%{d} x-y.z=1",
        "v=spf1 include:%{d}",
        "v=spf1 a:example.com.",
    };
    static const char *bad[] = {
        "v=spf1 all:x",
        "v=spf1 a:",
        "v=spf1 a/33",
        "v=spf1 a//129",
        "v=spf1 a/024",
        "v=spf1 ip4:1.2.3",
        "v=spf1 ip4:1.2.3.4/",
        "v=spf1 ip6:1.2.3.4",
        "v=spf1 include",
        "v=spf1 include:com",
        "v=spf1 a:1.2.3.4",
        "v=spf1 -",
        "v=spf1 foo",
        "v=spf1 redirect=a.b redirect=c.d",
        "v=spf1 exp=a.b exp=c.d",
        "v=spf1 +all%",
        "v=spf1 exists:%{c}.a.b",
        "v=spf1 mx:a.b/x",
        "v=spf1 a:a.-b",
        "v=spf1 include:a.b\tall",
    };
    struct spf_record r;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        const char *why = spf_record_parse(good[i], strlen(good[i]), &r);
        if (why)
            fail_msg("%s: %s", good[i], why);
        spf_record_free(&r);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (spf_record_parse(bad[i], strlen(bad[i]), &r) == NULL)
            fail_msg("accepted %s", bad[i]);
    const char *rec = "v=spf1 -a:x.example.com/24//64 ip4:10.1.0.0/16 mx redirect=r.example";
    assert_null(spf_record_parse(rec, strlen(rec), &r));
    assert_int_equal(r.n, 3);
    assert_int_equal(r.terms[0].qual, '-');
    assert_int_equal(r.terms[0].mech, SPF_A);
    assert_int_equal(r.terms[0].spec_len, strlen("x.example.com"));
    assert_int_equal(r.terms[0].cidr4, 24);
    assert_int_equal(r.terms[0].cidr6, 64);
    assert_int_equal(r.terms[1].cidr4, 16);
    assert_null(r.terms[2].spec);
    assert_int_equal(r.redirect_len, strlen("r.example"));
    spf_record_free(&r);
    assert_false(spf_record_is_spf1("v=spf10", 7));
    assert_true(spf_record_is_spf1("V=SPF1", 6));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_results),
        cmocka_unit_test(test_include_redirect),
        cmocka_unit_test(test_macros_exists_ipv6),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_macro_expand),
        cmocka_unit_test(test_record_grammar),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
