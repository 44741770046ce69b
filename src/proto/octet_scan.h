/*
 * octet_scan: word-at-a-time scans of message content, for the DATA
 * decoder and the outbound encoder. octet_scan_plain() returns the length
 * of the longest prefix of p[0..n) holding no CR, no LF (and, with nul, no
 * NUL); octet_scan_8bit() says whether p[0..n) holds an octet >= 0x80.
 * Eight octets per step instead of one: a 1 MiB message is mostly such
 * runs. Pure, no alignment assumed (memcpy loads).
 */
#ifndef POSTERN_PROTO_OCTET_SCAN_H
#define POSTERN_PROTO_OCTET_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define OCTET_SCAN_ONES  0x0101010101010101ULL
#define OCTET_SCAN_HIGHS 0x8080808080808080ULL

/* Nonzero iff some octet of v is zero (exact, as a whole). */
static inline uint64_t octet_scan_has_zero(uint64_t v)
{
    return (v - OCTET_SCAN_ONES) & ~v & OCTET_SCAN_HIGHS;
}

static inline size_t octet_scan_plain(const char *p, size_t n, bool nul)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        uint64_t hit = octet_scan_has_zero(w ^ (OCTET_SCAN_ONES * '\r')) |
                       octet_scan_has_zero(w ^ (OCTET_SCAN_ONES * '\n'));
        if (nul)
            hit |= octet_scan_has_zero(w);
        if (hit)
            break;
    }
    while (i < n && p[i] != '\r' && p[i] != '\n' && !(nul && p[i] == '\0'))
        i++;
    return i;
}

static inline bool octet_scan_8bit(const char *p, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (w & OCTET_SCAN_HIGHS)
            return true;
    }
    for (; i < n; i++)
        if ((unsigned char)p[i] >= 0x80)
            return true;
    return false;
}

#endif
