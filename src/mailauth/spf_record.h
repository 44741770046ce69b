/*
 * spf_record: the pure parts of SPF (RFC 7208): parsing one record into
 * terms, and macro expansion (section 7). No I/O, no allocation beyond the
 * record's term array; the evaluator (spf.h) drives DNS around them.
 *
 *   struct spf_record r;
 *   if (spf_record_is_spf1(txt, len)) why = spf_record_parse(txt, len, &r);
 *   ... r.terms[i] ...; spf_record_free(&r);
 *
 * The whole record is checked before anything is evaluated, so a syntax
 * error anywhere is a permerror (RFC 7208 4.6). Terms point into the
 * caller's text, which must outlive the record.
 */
#ifndef POSTERN_MAILAUTH_SPF_RECORD_H
#define POSTERN_MAILAUTH_SPF_RECORD_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

enum spf_mech { SPF_ALL, SPF_INCLUDE, SPF_A, SPF_MX, SPF_PTR, SPF_IP4, SPF_IP6, SPF_EXISTS };

struct spf_term {
    enum spf_mech mech;
    char qual;        /* '+', '-', '~' or '?' */
    const char *spec; /* domain-spec (a macro-string), or NULL for the current domain */
    size_t spec_len;
    unsigned cidr4, cidr6;  /* prefix lengths; 32 and 128 when not given */
    unsigned char addr[16]; /* ip4 (first 4 octets) and ip6 */
    const char *text;       /* the term as written, for explanations */
    size_t text_len;
};

struct spf_record {
    struct spf_term *terms; /* mechanisms in order; owned */
    size_t n;
    const char *redirect; /* redirect= domain-spec, or NULL */
    size_t redirect_len;
};

/* Whether a TXT record is an SPF record: "v=spf1" then a space or the end,
 * in any case (RFC 7208 4.5). */
bool spf_record_is_spf1(const char *txt, size_t len);
/* Returns NULL, or a static reason (and r is then empty). */
const char *spf_record_parse(const char *txt, size_t len, struct spf_record *r);
void spf_record_free(struct spf_record *r);

/* The values macros expand to (RFC 7208 7.2): s l o d i h; %{p} expands to
 * "unknown" (Postern does no PTR lookups) and %{v} follows v6. */
struct spf_macro_vars {
    const char *s, *l, *o, *d, *i, *h;
    bool v6;
};

/* Expands the macro-string spec[0..len) into out (replacing its content).
 * A result longer than 253 octets loses labels on the left (RFC 7208 7.3).
 * Returns NULL or a static reason for a malformed macro. */
const char *spf_macro_expand(const char *spec, size_t len, const struct spf_macro_vars *v,
                             struct buf *out);

#endif
