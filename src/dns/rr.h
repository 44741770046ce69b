/*
 * rr: pure decoders of DNS record data as libunbound hands it over (wire
 * format, names uncompressed), and the MX ordering rules of RFC 5321 5.1.
 * No I/O: the resolver (dns/resolver.h) fetches, these functions read.
 *
 *   dns_rr_name()   a wire-format name to lower-case text ("" for the root)
 *   dns_rr_mx()     MX rdata: preference and exchange host
 *   dns_rr_txt()    TXT rdata: its character-strings concatenated
 *   dns_mx_sort()   by preference, equal preferences in random order
 */
#ifndef POSTERN_DNS_RR_H
#define POSTERN_DNS_RR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define DNS_NAME_MAX 255 /* text form, without the trailing dot */

/* RR types the mail system asks for. */
enum dns_rrtype {
    DNS_TYPE_A = 1,
    DNS_TYPE_MX = 15,
    DNS_TYPE_TXT = 16,
    DNS_TYPE_AAAA = 28,
    DNS_TYPE_TLSA = 52,
};

struct dns_mx {
    uint16_t pref;
    char host[DNS_NAME_MAX + 1]; /* "" is the null MX (RFC 7505) target "." */
};

/* Decodes the name at data[*off]; advances *off. Only host-name octets
 * (letters, digits, '-', '_') are accepted in labels, so a name can be
 * logged and compared as text; anything else (compression pointers too)
 * is an error (false). */
bool dns_rr_name(const unsigned char *data, size_t len, size_t *off, char *out, size_t outlen);
bool dns_rr_mx(const unsigned char *rdata, size_t len, struct dns_mx *mx_r);
bool dns_rr_txt(const unsigned char *rdata, size_t len, struct buf *out);

/* rnd returns uniformly random 32-bit values (a parameter, so tests can be
 * deterministic). */
void dns_mx_sort(struct dns_mx *mx, size_t n, uint32_t (*rnd)(void *arg), void *arg);

#endif
