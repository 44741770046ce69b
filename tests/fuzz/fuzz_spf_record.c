/* Fuzzes the SPF record parser and macro expansion, then runs the whole
 * check_host() evaluator on the record: every TXT query is answered with
 * the input itself (so include and redirect recurse into it), A/AAAA with
 * addresses that match or not, MX with a few hosts, and every fifth query
 * fails. Invariants: the evaluator ends (the lookup limits hold) within a
 * bounded number of queries, and an accepted record's terms lie inside the
 * input with valid CIDR lengths; expansions stay within 253 octets. */
#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

#include "dns/rr.h"
#include "mailauth/spf.h"
#include "mailauth/spf_record.h"

static void check_record(const char *s, size_t size)
{
    struct spf_record r;
    if (spf_record_parse(s, size, &r) != NULL)
        return;
    struct spf_macro_vars v = {.s = "a.b+c@ex.example",
                               .l = "a.b+c",
                               .o = "ex.example",
                               .d = "ex.example",
                               .i = "192.0.2.1",
                               .h = "helo.example"};
    struct buf out;
    buf_init(&out);
    for (size_t i = 0; i < r.n; i++) {
        const struct spf_term *t = &r.terms[i];
        if (t->text < s || t->text + t->text_len > s + size || t->cidr4 > 32 || t->cidr6 > 128)
            __builtin_trap();
        if (t->qual != '+' && t->qual != '-' && t->qual != '~' && t->qual != '?')
            __builtin_trap();
        if (t->spec) {
            if (t->spec < s || t->spec + t->spec_len > s + size)
                __builtin_trap();
            if (spf_macro_expand(t->spec, t->spec_len, &v, &out) != NULL || out.len > 253)
                __builtin_trap(); /* the parser checked the macro syntax */
        }
    }
    if (r.redirect && spf_macro_expand(r.redirect, r.redirect_len, &v, &out) != NULL)
        __builtin_trap();
    buf_free(&out);
    spf_record_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4000)
        return 0;
    const char *s = (const char *)data;
    check_record(s, size);

    /* The TXT rdata: the input split into character-strings. */
    unsigned char txt[4096 + 4096 / 255 + 16];
    size_t tl = 0;
    for (size_t i = 0; i < size; i += 255) {
        size_t k = size - i < 255 ? size - i : 255;
        txt[tl++] = (unsigned char)k;
        memcpy(txt + tl, s + i, k);
        tl += k;
    }
    static const unsigned char a4[2][4] = {{192, 0, 2, 1}, {10, 0, 0, 1}};
    static const unsigned char mx[] = {0, 10, 2, 'm', 'x', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0};
    struct spf *spf =
        spf_new(size % 2 ? "192.0.2.1" : "2001:db8::1", "helo.example", "user@ex.example");
    struct spf_query q;
    unsigned n = 0;
    while (spf_next(spf, &q)) {
        if (++n > 200)
            __builtin_trap(); /* 10 lookups, 10 MX hosts each: far fewer queries */
        const unsigned char *rd[2];
        int len[2];
        struct dns_answer a = {.status = DNS_OK, .why = "ok", .rdata = rd, .len = len};
        if (n % 5 == 0) {
            a.status = n % 10 ? DNS_NXDOMAIN : DNS_TEMPFAIL;
        } else if (q.type == DNS_TYPE_TXT) {
            a.n = 1;
            rd[0] = txt;
            len[0] = (int)tl;
        } else if (q.type == DNS_TYPE_MX) {
            a.n = 1;
            rd[0] = mx;
            len[0] = sizeof(mx);
        } else if (q.type == DNS_TYPE_A) {
            a.n = 2;
            rd[0] = a4[0], rd[1] = a4[1];
            len[0] = len[1] = 4;
        } else {
            a.status = DNS_NODATA;
        }
        spf_answer(spf, &a);
    }
    enum spf_result r = spf_result(spf);
    if (r > SPF_PERMERROR || spf_lookups(spf) > SPF_MAX_LOOKUPS + 1)
        __builtin_trap();
    spf_free(&spf);
    return 0;
}
