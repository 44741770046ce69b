/*
 * dkim_keyring: the signing keys of the [dkim] section, loaded once (at
 * start, before privileges are dropped, or by `postern check`), and the
 * choice of key for a message.
 *
 *   kr = dkim_keyring_load(conf, &err);     NULL if any key is unusable
 *   key = dkim_keyring_for_message(kr, header, hlen);   NULL: do not sign
 *   dkim_keyring_free(&kr);
 *
 * A message is signed with the key of its From domain, or failing that of
 * the nearest parent domain that has one (d=example.com for
 * From: x@mail.example.com aligns under DMARC's relaxed mode).
 */
#ifndef POSTERN_MAILAUTH_DKIM_KEYRING_H
#define POSTERN_MAILAUTH_DKIM_KEYRING_H

#include <stddef.h>

#include "conf/conf.h"
#include "mailauth/dkim_key.h"
#include "util/buf.h"

struct dkim_keyring {
    struct dkim_key **keys;
    size_t n;
};

/* Loads and checks every key (a test signature verified with the public
 * half); on failure appends "FILE:LINE: [dkim] DOMAIN: reason" lines. An
 * empty [dkim] section gives an empty keyring. */
struct dkim_keyring *dkim_keyring_load(const struct conf *conf, struct buf *err_r);
const struct dkim_key *dkim_keyring_find(const struct dkim_keyring *kr, const char *domain);
/* The key for the From domain of the header section h[0..hlen), or NULL
 * (no key, no From field, or not exactly one From address). */
const struct dkim_key *dkim_keyring_for_message(const struct dkim_keyring *kr, const char *h,
                                                size_t hlen);
void dkim_keyring_free(struct dkim_keyring **kr);

#endif
