/*
 * dkim_verify: verifying every DKIM-Signature of a message (RFC 6376,
 * RFC 8463, RFC 8301) as it streams, with keys the caller fetches. No I/O:
 * the caller looks up each key's TXT record with the asynchronous resolver
 * and hands the text over, so nothing here ever blocks.
 *
 *   v = dkim_verify_new(time(NULL));
 *   dkim_verify_update(v, chunk, n);   ... the message (CRLF lines)
 *   once dkim_verify_headers_done(v): for each i < dkim_verify_count(v)
 *       name = dkim_verify_key_name(v, i)  (NULL: no key needed)
 *       ... TXT lookup of name ... dkim_verify_key(v, i, status, txt, len)
 *   dkim_verify_end(v);                after the last octet
 *   once dkim_verify_done(v): dkim_verify_result(v, i) for each i
 *   dkim_verify_free(&v);
 *
 * Keys may be fed before or after the end of the message. At most
 * DKIM_VERIFY_MAX_SIGS signatures (the topmost ones) are evaluated.
 *
 * Results (RFC 8601 2.7.1): pass; fail (body hash or signature mismatch);
 * neutral (a failure under a key in testing mode, t=y, which RFC 6376 says
 * must count no more than no signature); temperror (key lookup failed for
 * now); permerror (malformed signature or key record, no key, revoked or
 * unsuitable key, expired signature, rsa-sha1); policy (the signature
 * verifies but leaves content unsigned that a reader would take as signed:
 * an l= shorter than the body, or more instances of a field that occurs at
 * most once, such as Subject, than h= names; DMARC does not count it).
 */
#ifndef POSTERN_MAILAUTH_DKIM_VERIFY_H
#define POSTERN_MAILAUTH_DKIM_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "mailauth/dkim_key.h"
#include "mailauth/domain.h"
#include "mailauth/taglist.h"

#define DKIM_VERIFY_MAX_SIGS 8
#define DKIM_MAX_HEADERS     256 /* names in h= */

enum dkim_result {
    DKIM_NONE, /* no signature: for Authentication-Results only */
    DKIM_PASS,
    DKIM_FAIL,
    DKIM_NEUTRAL,
    DKIM_TEMPERROR,
    DKIM_PERMERROR,
    DKIM_POLICY, /* verified, but unsigned content rides along (see above) */
};

/* What a key lookup gave. */
enum dkim_dns { DKIM_DNS_FOUND, DKIM_DNS_NONE, DKIM_DNS_TEMPFAIL };

struct dkim_sig_result {
    enum dkim_result result;
    const char *why;               /* static: "body hash mismatch", ... */
    char domain[DOMAIN_MAX + 1];   /* header.d, lower case ("" if unparsable) */
    char selector[DOMAIN_MAX + 1]; /* header.s */
    char b[9];                     /* header.b: the first 8 characters of b= */
    const char *algorithm;         /* "rsa-sha256", "ed25519-sha256" or "" */
    bool testing;                  /* the key has t=y */
};

const char *dkim_result_name(enum dkim_result r);

/* Parses a key record ("v=DKIM1; k=ed25519; p=..."): returns NULL and the
 * key type, flags and the compacted p= in *p_r, else a static reason. */
struct dkim_keyrec {
    enum dkim_key_type type;
    bool testing, strict;
};
const char *dkim_keyrec_parse(const char *txt, size_t len, struct dkim_keyrec *kr_r,
                              struct buf *p_r);

struct dkim_verify;

struct dkim_verify *dkim_verify_new(time_t now);
void dkim_verify_update(struct dkim_verify *v, const void *data, size_t len);
bool dkim_verify_headers_done(const struct dkim_verify *v);
size_t dkim_verify_count(const struct dkim_verify *v);
/* "SELECTOR._domainkey.DOMAIN" for signature i, or NULL when i needs no
 * key (already decided) or its key was already given. */
const char *dkim_verify_key_name(const struct dkim_verify *v, size_t i);
/* The answer for signature i: with DKIM_DNS_FOUND, txt is one TXT
 * record's text (character-strings concatenated). */
void dkim_verify_key(struct dkim_verify *v, size_t i, enum dkim_dns status, const char *txt,
                     size_t len);
void dkim_verify_end(struct dkim_verify *v);
/* The message has ended and every signature has its result. */
bool dkim_verify_done(const struct dkim_verify *v);
const struct dkim_sig_result *dkim_verify_result(const struct dkim_verify *v, size_t i);
/* The header section (for the From field, DMARC, Authentication-Results). */
const char *dkim_verify_header(const struct dkim_verify *v, size_t *len_r);
/* The header section was larger than DKIM_HEADER_MAX: what
 * dkim_verify_header() gives is only its beginning. */
bool dkim_verify_header_truncated(const struct dkim_verify *v);
void dkim_verify_free(struct dkim_verify **v);

#endif
