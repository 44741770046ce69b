/* Fuzzes the DNS record decoders on answers as the resolver hands them
 * over (libunbound parses the message; Postern reads each record's rdata):
 * the input is a list of records, each a type octet (MX, TXT, A, AAAA, or
 * a bare name), a 16-bit big-endian length and that many rdata octets, as
 * in a message's answer section. Decoded names hold only host-name octets;
 * the MX records sort by preference without losing any. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns/rr.h"

static void check_name(const char *s)
{
    size_t n = strlen(s);
    if (n > DNS_NAME_MAX)
        __builtin_trap();
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
            __builtin_trap();
    }
}

static uint32_t counter(void *arg)
{
    uint32_t *x = arg;
    *x = *x * 1103515245u + 12345u; /* deterministic, so a crash replays */
    return *x >> 8;
}

static int cmp_mx(const void *a, const void *b)
{
    const struct dns_mx *x = a, *y = b;
    if (x->pref != y->pref)
        return x->pref < y->pref ? -1 : 1;
    return strcmp(x->host, y->host);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dns_mx *mx = NULL;
    size_t nmx = 0;
    struct buf txt;
    buf_init(&txt);
    size_t i = 0;
    while (i + 3 <= size) {
        uint8_t type = data[i];
        size_t len = (size_t)data[i + 1] << 8 | data[i + 2];
        i += 3;
        if (len > size - i)
            len = size - i; /* a truncated answer: the record ends with the input */
        /* Each record in a buffer of its own exact size, as libunbound's are. */
        unsigned char *rdata = malloc(len ? len : 1);
        memcpy(rdata, data + i, len);
        i += len;
        switch (type % 5) {
        case 0: {
            struct dns_mx m;
            if (dns_rr_mx(rdata, len, &m)) {
                check_name(m.host);
                mx = realloc(mx, (nmx + 1) * sizeof(*mx));
                mx[nmx++] = m;
            }
            break;
        }
        case 1: {
            size_t before = txt.len;
            if (dns_rr_txt(rdata, len, &txt) && txt.len - before > len)
                __builtin_trap();
            break;
        }
        case 2: /* A and AAAA: the fixed size is the whole check (route.c) */
        case 3:
            break;
        case 4: {
            char name[DNS_NAME_MAX + 1];
            size_t off = 0, outlen = 1 + (len ? rdata[0] % sizeof(name) : 0);
            if (dns_rr_name(rdata, len, &off, name, outlen)) {
                if (off > len || strlen(name) >= outlen)
                    __builtin_trap();
                check_name(name);
            }
            break;
        }
        }
        free(rdata);
    }
    if (nmx > 0) {
        struct dns_mx *copy = malloc(nmx * sizeof(*mx));
        memcpy(copy, mx, nmx * sizeof(*mx));
        uint32_t seed = (uint32_t)size;
        dns_mx_sort(mx, nmx, counter, &seed);
        for (size_t k = 1; k < nmx; k++)
            if (mx[k - 1].pref > mx[k].pref)
                __builtin_trap();
        /* The same records, only reordered. */
        qsort(copy, nmx, sizeof(*copy), cmp_mx);
        qsort(mx, nmx, sizeof(*mx), cmp_mx);
        for (size_t k = 0; k < nmx; k++)
            if (cmp_mx(&copy[k], &mx[k]) != 0)
                __builtin_trap();
        free(copy);
    }
    free(mx);
    buf_free(&txt);
    return 0;
}
