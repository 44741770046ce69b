/* Fuzzes the removal of forged Authentication-Results fields (RFC 8601 5)
 * and the building of our own with hostile values. The first octet picks
 * a chunk size and one of two host names; the rest is a message.
 *
 * Invariants:
 *  - authres_strip() keeps exactly the fields authres_claims_host() does not
 *    match, in order, and drops the others (kept + dropped = the header);
 *  - the streaming filter gives the same header section in any chunking,
 *    followed by the untouched body, and counts the same fields;
 *  - no field left claims the host name;
 *  - a field built from values taken from the input (reason, identity,
 *    domain) is one field: CRLF only, each continuation line starts with a
 *    tab, nothing else claims a result, and it claims our host name. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mailauth/authres.h"

static void check_strip(const char *h, size_t hlen, const char *host, struct buf *kept,
                        size_t *dropped_r)
{
    size_t dropped = authres_strip(h, hlen, host, kept);
    size_t off = 0, k = 0, n = 0, total = 0;
    struct dkim_field f;
    while (dkim_field_next(h, hlen, &off, &f)) {
        total += f.len;
        if (authres_claims_host(f.text, f.len, host)) {
            n++;
            continue;
        }
        if (k + f.len > kept->len || memcmp(kept->data + k, f.text, f.len) != 0)
            __builtin_trap();
        k += f.len;
    }
    if (n != dropped || k != kept->len || total > hlen)
        __builtin_trap();
    /* What is left claims nothing (stripping again removes nothing). */
    struct buf again;
    buf_init(&again);
    if (authres_strip(kept->data ? kept->data : "", kept->len, host, &again) != 0 ||
        again.len != kept->len)
        __builtin_trap();
    buf_free(&again);
    *dropped_r = dropped;
}

static void check_filter(const char *msg, size_t len, size_t chunk, const char *host)
{
    struct dkim_split split;
    dkim_split_init(&split, SIZE_MAX);
    size_t hk = dkim_split_update(&split, msg, len);
    struct buf kept, out;
    buf_init(&kept);
    buf_init(&out);
    size_t dropped;
    check_strip(split.header.data ? split.header.data : "", split.header.len, host, &kept,
                &dropped);
    struct authres_filter f;
    authres_filter_init(&f, host);
    for (size_t i = 0; i < len; i += chunk)
        authres_filter_update(&f, msg + i, len - i < chunk ? len - i : chunk, &out);
    authres_filter_finish(&f, &out);
    /* The filter's output: the kept fields, the empty line when there was
     * one, then the body as it came. */
    struct buf want;
    buf_init(&want);
    buf_append(&want, kept.data, kept.len);
    if (split.in_body) {
        buf_append(&want, "\r\n", 2);
        buf_append(&want, msg + hk, len - hk);
    }
    if (f.dropped != dropped || out.len != want.len ||
        (want.len && memcmp(out.data, want.data, want.len) != 0))
        __builtin_trap();
    buf_free(&want);
    buf_free(&kept);
    buf_free(&out);
    dkim_split_free(&split);
}

/* One field, CRLF only, continuation lines start with a tab. */
static void check_built(const struct buf *b, const char *host)
{
    if (b->len < 26 || memcmp(b->data, "Authentication-Results: ", 24) != 0 ||
        memcmp(b->data + b->len - 2, "\r\n", 2) != 0)
        __builtin_trap();
    for (size_t i = 0; i < b->len; i++) {
        unsigned char c = (unsigned char)b->data[i];
        if (c == '\n' &&
            (i == 0 || b->data[i - 1] != '\r' || (i + 1 < b->len && b->data[i + 1] != '\t')))
            __builtin_trap();
        if (c == '\r' && (i + 1 >= b->len || b->data[i + 1] != '\n'))
            __builtin_trap();
        if ((c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c >= 0x7f)
            __builtin_trap();
    }
    if (!authres_claims_host(b->data, b->len, host))
        __builtin_trap();
    /* Each method appears once: "=pass" etc. only after spf, dkim, dmarc. */
    size_t semis = 0;
    bool quoted = false;
    int depth = 0;
    for (size_t i = 0; i < b->len; i++) {
        char c = b->data[i];
        if (quoted) {
            if (c == '\\')
                i++;
            else if (c == '"')
                quoted = false;
        } else if (depth) {
            depth += c == '(' ? 1 : c == ')' ? -1 : 0;
        } else if (c == '"') {
            quoted = true;
        } else if (c == '(') {
            depth++;
        } else if (c == ';') {
            semis++;
        }
    }
    if (quoted || depth != 0 || semis != 3) /* after the host, spf and dkim */
        __builtin_trap();
}

static void check_build(const char *s, size_t len, const char *host)
{
    /* Three NUL-terminated values from the input: a reason, an identity, a
     * domain (truncated to fit). */
    char vals[3][DOMAIN_MAX + 1];
    size_t k = 0;
    for (int v = 0; v < 3; v++) {
        size_t n = 0;
        while (k < len && s[k] != '\n' && n < DOMAIN_MAX)
            vals[v][n++] = s[k] ? s[k] : ' ', k++;
        vals[v][n] = '\0';
        k++;
    }
    struct dkim_sig_result sig = {.result = (enum dkim_result)(len % (DKIM_POLICY + 1)),
                                  .why = vals[0],
                                  .algorithm = "rsa-sha256"};
    memcpy(sig.domain, vals[2], sizeof(sig.domain));
    memcpy(sig.selector, vals[1], sizeof(sig.selector));
    memcpy(sig.b, vals[0], sizeof(sig.b) - 1);
    sig.b[sizeof(sig.b) - 1] = '\0';
    const struct dkim_sig_result *sigs[] = {&sig};
    struct dmarc_outcome d = {.result = DMARC_FAIL, .why = vals[0], .have_record = len % 2};
    memcpy(d.from_domain, vals[2], sizeof(d.from_domain));
    struct authres ar = {.hostname = host,
                         .have_spf = true,
                         .spf = SPF_FAIL,
                         .spf_why = vals[0],
                         .spf_identity = vals[1],
                         .have_dkim = true,
                         .dkim = sigs,
                         .ndkim = 1,
                         .dmarc = &d};
    struct buf b;
    buf_init(&b);
    authres_build(&ar, &b);
    check_built(&b, host);
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 64 * 1024)
        return 0;
    static const size_t chunks[] = {1, 2, 3, 7, 64, 1000, 4096, SIZE_MAX};
    const char *host = data[0] & 8 ? "MX.Example.TEST" : "mx.example.test";
    const char *msg = (const char *)data + 1;
    check_filter(msg, size - 1, chunks[data[0] & 7], host);
    check_build(msg, size - 1, host);
    return 0;
}
