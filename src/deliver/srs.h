/*
 * srs: the Sender Rewriting Scheme (Shevek's SRS, as libsrs2 and postsrsd
 * write it), pure code over strings: no I/O, no clock (the caller passes
 * the time), no state but the secret.
 *
 * Mail that Postern forwards to another server goes out with the sender
 * rewritten to an address of ours, so that the next hop's SPF check sees
 * our domain, and bounces come back to us instead of to a forged sender:
 *
 *   alice@example.net            -> SRS0=HHHH=TT=example.net=alice@srs.domain
 *   SRS0=HHHH=TT=d=l@first.hop   -> SRS1=HHHH=first.hop==HHHH=TT=d=l@srs.domain
 *
 * HHHH: the first 4 characters of base64(HMAC-SHA256(secret, fields)), the
 * fields lower-cased (MTAs may change case) and compared without regard to
 * case, in constant time. TT: the day number modulo 1024 in base32; an
 * SRS0 address older than SRS_MAX_AGE_DAYS is refused. srs_reverse() turns
 * an address of ours back into where a bounce must go.
 *
 *   struct buf out; buf_init(&out);
 *   if (srs_forward(key, keylen, time(NULL), sender, "example.test", &out)) ...
 *   enum srs_result r = srs_reverse(key, keylen, time(NULL), local, &out);
 */
#ifndef POSTERN_DELIVER_SRS_H
#define POSTERN_DELIVER_SRS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define SRS_MAX_AGE_DAYS 21
#define SRS_HASH_LEN     4
#define SRS_KEY_MAX      64

enum srs_result {
    SRS_OK,
    SRS_NOT_SRS,    /* not SRS0=/SRS1= at all: an ordinary local part */
    SRS_BAD_FORMAT, /* starts like SRS but is malformed */
    SRS_BAD_HASH,   /* forged or altered */
    SRS_EXPIRED,    /* older than SRS_MAX_AGE_DAYS (or from the future) */
};

/* True when local (a local part) starts with "SRS0" or "SRS1" and a
 * separator (=, + or -), in any case. */
bool srs_is_srs(const char *local);

/* Writes the rewritten sender into out (reset first). False when sender
 * has no local part or domain (or a domain with '='), or when the result's local part would be
 * longer than 64 octets (RFC 5321 4.5.3.1.1: the bounce could not come
 * back); out is then empty. */
bool srs_forward(const unsigned char *key, size_t keylen, int64_t now, const char *sender,
                 const char *srs_domain, struct buf *out);

/* local: the local part of an address at the SRS domain. On SRS_OK, out
 * (reset first) holds the address to deliver to: the original sender for
 * SRS0, the first forwarder's SRS0 address for SRS1. */
enum srs_result srs_reverse(const unsigned char *key, size_t keylen, int64_t now, const char *local,
                            struct buf *out);

/* The text of a refusal, for the 550 reply. */
const char *srs_result_text(enum srs_result r);

#endif
