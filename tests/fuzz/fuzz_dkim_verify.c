/* Fuzzes the DKIM verifier on whole messages and their key records, run to
 * the end as the daemon runs it. The input is
 *
 *   FLAGS MESSAGE [SEP KEY1 [SEP KEY2 ...]]      SEP = "\n%%KEY%%\n"
 *
 * FLAGS (one octet) picks the chunk size the message is fed in and whether
 * keys are given as soon as the header section is complete or after the
 * end. Signature i gets key record i (the last one repeats); a key record
 * "TEMPFAIL" or "NONE" is that DNS outcome instead. Every key record is also
 * parsed on its own (dkim_keyrec_parse).
 *
 * Invariants: the verifier ends (done, each signature decided) with at most
 * DKIM_VERIFY_MAX_SIGS results whose fields are sane strings; a pass has an
 * algorithm and a valid d=; and the results do not depend on the chunking
 * or on when the keys arrive (a second run, whole message, keys after the
 * end, must agree). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailauth/dkim_verify.h"

#define NOW 1795000000
#define SEP "\n%%KEY%%\n"

struct key {
    const char *p;
    size_t n;
};

static void feed_keys(struct dkim_verify *v, const struct key *keys, size_t nkeys)
{
    for (size_t i = 0; i < dkim_verify_count(v); i++) {
        if (dkim_verify_key_name(v, i) == NULL)
            continue;
        if (nkeys == 0) {
            dkim_verify_key(v, i, DKIM_DNS_NONE, NULL, 0);
            continue;
        }
        const struct key *k = &keys[i < nkeys ? i : nkeys - 1];
        if (k->n == 8 && memcmp(k->p, "TEMPFAIL", 8) == 0)
            dkim_verify_key(v, i, DKIM_DNS_TEMPFAIL, NULL, 0);
        else if (k->n == 4 && memcmp(k->p, "NONE", 4) == 0)
            dkim_verify_key(v, i, DKIM_DNS_NONE, NULL, 0);
        else
            dkim_verify_key(v, i, DKIM_DNS_FOUND, k->p, k->n);
        if (dkim_verify_key_name(v, i) != NULL)
            __builtin_trap(); /* a key once given is never asked for again */
    }
}

static struct dkim_verify *run(const char *msg, size_t len, size_t chunk, bool keys_early,
                               const struct key *keys, size_t nkeys)
{
    struct dkim_verify *v = dkim_verify_new(NOW);
    bool fed = false;
    for (size_t i = 0; i < len; i += chunk) {
        dkim_verify_update(v, msg + i, len - i < chunk ? len - i : chunk);
        if (keys_early && !fed && dkim_verify_headers_done(v)) {
            feed_keys(v, keys, nkeys);
            fed = true;
        }
    }
    dkim_verify_end(v);
    feed_keys(v, keys, nkeys);
    if (!dkim_verify_done(v) || dkim_verify_count(v) > DKIM_VERIFY_MAX_SIGS)
        __builtin_trap();
    return v;
}

static void check_string(const char *s, size_t cap)
{
    if (memchr(s, '\0', cap) == NULL)
        __builtin_trap();
}

static void check_result(const struct dkim_sig_result *r)
{
    if (r == NULL || r->result < DKIM_PASS || r->result > DKIM_POLICY || r->why == NULL ||
        r->algorithm == NULL)
        __builtin_trap();
    check_string(r->domain, sizeof(r->domain));
    check_string(r->selector, sizeof(r->selector));
    check_string(r->b, sizeof(r->b));
    if (r->domain[0] && !domain_valid(r->domain, strlen(r->domain)))
        __builtin_trap();
    if ((r->result == DKIM_PASS || r->result == DKIM_POLICY) &&
        (r->algorithm[0] == '\0' || r->domain[0] == '\0' || r->selector[0] == '\0'))
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 64 * 1024)
        return 0;
    unsigned flags = data[0];
    const char *msg = (const char *)data + 1;
    size_t rest = size - 1;
    const char *sep = memmem(msg, rest, SEP, strlen(SEP));
    size_t mlen = sep ? (size_t)(sep - msg) : rest;
    struct key keys[DKIM_VERIFY_MAX_SIGS];
    size_t nkeys = 0;
    while (sep && nkeys < DKIM_VERIFY_MAX_SIGS) {
        const char *k = sep + strlen(SEP);
        size_t left = rest - (size_t)(k - msg);
        sep = memmem(k, left, SEP, strlen(SEP));
        keys[nkeys++] = (struct key){k, sep ? (size_t)(sep - k) : left};
    }
    for (size_t i = 0; i < nkeys; i++) {
        struct dkim_keyrec kr;
        struct buf p;
        buf_init(&p);
        const char *why = dkim_keyrec_parse(keys[i].p, keys[i].n, &kr, &p);
        if (why == NULL && kr.type != DKIM_KEY_RSA && kr.type != DKIM_KEY_ED25519)
            __builtin_trap();
        buf_free(&p);
    }

    static const size_t chunks[] = {1, 2, 3, 7, 64, 500, 4096, SIZE_MAX};
    size_t chunk = chunks[flags & 7];
    bool early = flags & 8;
    struct dkim_verify *a = run(msg, mlen, chunk, early, keys, nkeys);
    struct dkim_verify *b = run(msg, mlen, SIZE_MAX, false, keys, nkeys);
    if (dkim_verify_count(a) != dkim_verify_count(b))
        __builtin_trap();
    for (size_t i = 0; i < dkim_verify_count(a); i++) {
        const struct dkim_sig_result *ra = dkim_verify_result(a, i), *rb = dkim_verify_result(b, i);
        check_result(ra);
        check_result(rb);
        if (ra->result != rb->result || strcmp(ra->why, rb->why) != 0 ||
            strcmp(ra->domain, rb->domain) != 0 || strcmp(ra->selector, rb->selector) != 0)
            __builtin_trap();
    }
    /* FUZZ_DKIM_PRINT=1: what each seed reaches (for writing seeds). */
    if (getenv("FUZZ_DKIM_PRINT"))
        for (size_t i = 0; i < dkim_verify_count(a); i++)
            fprintf(stderr, "sig %zu: %s (%s) d=%s\n", i,
                    dkim_result_name(dkim_verify_result(a, i)->result),
                    dkim_verify_result(a, i)->why, dkim_verify_result(a, i)->domain);
    size_t ha, hb;
    const char *h1 = dkim_verify_header(a, &ha), *h2 = dkim_verify_header(b, &hb);
    if (ha != hb || memcmp(h1, h2, ha) != 0 || ha > mlen)
        __builtin_trap();
    dkim_verify_free(&a);
    dkim_verify_free(&b);
    return 0;
}
