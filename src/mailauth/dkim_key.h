/*
 * dkim_key: DKIM keys with OpenSSL 3 (rsa-sha256, and ed25519-sha256 of
 * RFC 8463): loading a signing key from a PEM file, generating one, the
 * key record to publish, reading a published key, and the two signature
 * primitives both algorithms need.
 *
 *   struct dkim_key *k = dkim_key_load("example.com", "sel", "/etc/...", &err);
 *   ... dkim_sign_*(k, ...) (dkim_sign.h) ...
 *   dkim_key_free(&k);
 *
 * Only dkim_key_load() and dkim_key_write() touch files; the rest is pure.
 */
#ifndef POSTERN_MAILAUTH_DKIM_KEY_H
#define POSTERN_MAILAUTH_DKIM_KEY_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/types.h>

#include "util/buf.h"

enum dkim_key_type { DKIM_KEY_RSA, DKIM_KEY_ED25519 };

#define DKIM_RSA_MIN_BITS 1024 /* RFC 8301 3.2: verifiers refuse less */
#define DKIM_RSA_MAX_BITS 8192 /* a bound on the work a hostile key can cause */
#define DKIM_RSA_BITS     2048 /* what keygen makes */

struct dkim_key {
    char *domain; /* d=, lower case */
    char *selector;
    enum dkim_key_type type;
    EVP_PKEY *pkey; /* owned */
};

/* A private key from a PEM file (PKCS#8 or traditional, unencrypted). */
struct dkim_key *dkim_key_load(const char *domain, const char *selector, const char *path,
                               struct buf *err_r);
struct dkim_key *dkim_key_from_pem(const char *domain, const char *selector, const char *pem,
                                   size_t len, struct buf *err_r);
void dkim_key_free(struct dkim_key **k);

/* A new private key (RSA 2048 or Ed25519); NULL only if OpenSSL fails. */
EVP_PKEY *dkim_key_generate(enum dkim_key_type t);
/* Writes the private key as PKCS#8 PEM to a new file (O_EXCL, mode 0600). */
bool dkim_key_write(EVP_PKEY *pkey, const char *path, struct buf *err_r);
/* Appends the key record "v=DKIM1; k=rsa; p=BASE64" for pkey's public half. */
void dkim_key_record(EVP_PKEY *pkey, struct buf *out);

/* A public key from a key record's k= and compacted p= (base64 of a
 * SubjectPublicKeyInfo or PKCS#1 RSAPublicKey for rsa; of the raw 32
 * octets for ed25519). NULL with a static reason in *why_r. */
EVP_PKEY *dkim_key_public(enum dkim_key_type t, const char *b64, size_t len, const char **why_r);

/* RFC 6376 3.3 and RFC 8463 3: rsa-sha256 signs the SHA-256 of data with
 * PKCS#1 v1.5; ed25519-sha256 signs the SHA-256 of data with pure Ed25519. */
bool dkim_key_sign(EVP_PKEY *pkey, enum dkim_key_type t, const void *data, size_t len,
                   struct buf *sig_r);
bool dkim_key_verify(EVP_PKEY *pkey, enum dkim_key_type t, const void *data, size_t len,
                     const unsigned char *sig, size_t siglen);
/* Base64 of len octets, appended to out. */
void dkim_base64_append(struct buf *out, const unsigned char *p, size_t len);
/* Decodes base64 (whitespace already removed) into out; false if malformed. */
bool dkim_base64_decode(const char *s, size_t len, struct buf *out);

#endif
