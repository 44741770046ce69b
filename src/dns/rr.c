/* Decoders of DNS record data (names, MX, TXT, addresses) as libunbound
 * returns it, and the RFC 5321 MX ordering. Pure. */
#include "dns/rr.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

bool dns_rr_name(const unsigned char *data, size_t len, size_t *off, char *out, size_t outlen)
{
    size_t o = 0;
    size_t i = *off;
    for (;;) {
        if (i >= len)
            return false;
        size_t l = data[i++];
        if (l == 0)
            break;
        if (l > 63 || i + l > len)
            return false; /* a compression pointer or a truncated label */
        if (o > 0) {
            if (o + 1 >= outlen)
                return false;
            out[o++] = '.';
        }
        if (o + l >= outlen)
            return false;
        for (size_t k = 0; k < l; k++) {
            unsigned char c = data[i + k];
            if (!isalnum(c) && c != '-' && c != '_')
                return false;
            out[o++] = (char)tolower(c);
        }
        i += l;
    }
    if (outlen == 0)
        return false;
    out[o] = '\0';
    *off = i;
    return true;
}

bool dns_rr_mx(const unsigned char *rdata, size_t len, struct dns_mx *mx_r)
{
    if (len < 3)
        return false;
    mx_r->pref = (uint16_t)(rdata[0] << 8 | rdata[1]);
    size_t off = 2;
    if (!dns_rr_name(rdata, len, &off, mx_r->host, sizeof(mx_r->host)))
        return false;
    return off == len;
}

bool dns_rr_txt(const unsigned char *rdata, size_t len, struct buf *out)
{
    size_t i = 0;
    while (i < len) {
        size_t l = rdata[i++];
        if (i + l > len)
            return false;
        buf_append(out, rdata + i, l);
        i += l;
    }
    return true;
}

static int mx_cmp(const void *a, const void *b)
{
    const struct dns_mx *x = a, *y = b;
    return (int)x->pref - (int)y->pref;
}

void dns_mx_sort(struct dns_mx *mx, size_t n, uint32_t (*rnd)(void *arg), void *arg)
{
    if (n < 2)
        return;
    qsort(mx, n, sizeof(*mx), mx_cmp);
    /* Fisher-Yates within each run of equal preference, so that load is
     * spread over equal hosts (RFC 5321 5.1) whatever order qsort left. */
    for (size_t start = 0; start < n;) {
        size_t end = start + 1;
        while (end < n && mx[end].pref == mx[start].pref)
            end++;
        for (size_t i = end - 1; i > start; i--) {
            size_t j = start + rnd(arg) % (i - start + 1);
            struct dns_mx t = mx[i];
            mx[i] = mx[j];
            mx[j] = t;
        }
        start = end;
    }
}
