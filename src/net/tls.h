/*
 * tls: the server's TLS context (OpenSSL 3), and the client contexts of
 * outbound SMTP. TLS 1.2 and 1.3 only, forward
 * secret AEAD ciphers, no compression, no renegotiation. tls_server_new()
 * loads and cross-checks the certificate chain and key; the context is
 * reference-counted by OpenSSL, so a reload can swap it while sessions that
 * started with the old one keep theirs.
 */
#ifndef POSTERN_NET_TLS_H
#define POSTERN_NET_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

/* NULL on failure, with the reason (naming the files) in err_r. */
SSL_CTX *tls_server_new(const char *cert_file, const char *key_file, struct buf *err_r);
void tls_ctx_free(SSL_CTX **ctx);

/* An outbound (client) context. verify: the handshake fails unless the
 * peer's chain leads to a CA in ca_file (NULL: the system store) and the
 * name set by tls_client_set_peer() matches. Without verify any certificate
 * is accepted (opportunistic TLS, RFC 7435), though the verification
 * result is still computed, for the log. NULL on failure, reason in err_r. */
SSL_CTX *tls_client_new(bool verify, const char *ca_file, struct buf *err_r);
/* Per session (tls_client.c): SNI, the names the certificate must carry,
 * DANE records, as params say (checked with conn_tls_client_check()).
 * False with the reason in err. */
struct conn_tls_client;
bool tls_client_setup(SSL *ssl, const struct conn_tls_client *params, char *err, size_t len);
/* Why the peer's certificate was refused ("certificate has expired",
 * "Hostname mismatch", ...), or NULL if verification passed. */
const char *tls_verify_error(SSL *ssl);
/* The chain, name or DANE check failed (not merely no certificate). */
bool tls_verify_failed(SSL *ssl);
/* The peer certificate's subject, or "none". */
void tls_peer_subject(SSL *ssl, char *out, size_t len);
/* TLS close_notify (RFC 8446 6.1) before the socket is closed: one
 * non-blocking SSL_shutdown, not waiting for the peer's. */
void tls_send_close_notify(SSL *ssl);

/* "TLSv1.3 TLS_AES_256_GCM_SHA384" into out. */
void tls_describe(SSL *ssl, char *out, size_t len);
/* The last OpenSSL error as text, or "unknown". Clears the error queue. */
const char *tls_last_error(char *out, size_t len);

#endif
