/*
 * tls: the server's TLS context (OpenSSL 3). TLS 1.2 and 1.3 only, forward
 * secret AEAD ciphers, no compression, no renegotiation. tls_server_new()
 * loads and cross-checks the certificate chain and key; the context is
 * reference-counted by OpenSSL, so a reload can swap it while sessions that
 * started with the old one keep theirs.
 */
#ifndef POSTERN_NET_TLS_H
#define POSTERN_NET_TLS_H

#include "util/buf.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

/* NULL on failure, with the reason (naming the files) in err_r. */
SSL_CTX *tls_server_new(const char *cert_file, const char *key_file, struct buf *err_r);
void tls_ctx_free(SSL_CTX **ctx);

/* "TLSv1.3 TLS_AES_256_GCM_SHA384" into out. */
void tls_describe(SSL *ssl, char *out, size_t len);
/* The last OpenSSL error as text, or "unknown". Clears the error queue. */
const char *tls_last_error(char *out, size_t len);

#endif
