/*
 * dkim_sign: making the DKIM-Signature field (RFC 6376, RFC 8463) for a
 * message, with relaxed/relaxed canonicalisation. Pure apart from the key.
 *
 * Streaming, e.g. in a worker reading the queue file in chunks:
 *
 *   struct dkim_signer *s = dkim_signer_new();
 *   dkim_signer_update(s, chunk, n);   ...  (the message, CRLF lines)
 *   key = dkim_keyring_for_message(kr, dkim_signer_header(s, &hlen), hlen);
 *   if (key && dkim_signer_finish(s, key, time(NULL), &field, &err))
 *       ... write field (ends in CRLF) before the message ...
 *   dkim_signer_free(&s);
 *
 * or at once: dkim_sign_message(key, msg, len, now, &field, &err).
 *
 * h= lists every field of DKIM_SIGN_HEADERS the message has, as many times
 * as it has it, then "from" once more: that extra "from" ("oversigning")
 * makes a From field added later break the signature, since DMARC rests on
 * From. Fields the message lacks are not listed, so a signature stays
 * small and a later Reply-To or Cc (mailing lists) only goes unsigned.
 */
#ifndef POSTERN_MAILAUTH_DKIM_SIGN_H
#define POSTERN_MAILAUTH_DKIM_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "mailauth/dkim_canon.h"
#include "mailauth/dkim_key.h"
#include "util/buf.h"

#define DKIM_SIGN_HEADERS                                                                          \
    "from:to:cc:subject:date:message-id:reply-to:in-reply-to:references:mime-version:"             \
    "content-type:content-transfer-encoding"

/* The whole message at once. */
bool dkim_sign_message(const struct dkim_key *key, const char *msg, size_t len, time_t now,
                       struct buf *field_r, struct buf *err_r);

struct dkim_signer;

struct dkim_signer *dkim_signer_new(void);
void dkim_signer_update(struct dkim_signer *s, const void *data, size_t len);
/* The header section received so far (all of it once the body started). */
const char *dkim_signer_header(const struct dkim_signer *s, size_t *len_r);
/* Ends the message and signs it; call once. */
bool dkim_signer_finish(struct dkim_signer *s, const struct dkim_key *key, time_t now,
                        struct buf *field_r, struct buf *err_r);
void dkim_signer_free(struct dkim_signer **s);

#endif
