/* TLS contexts (OpenSSL): the server's, checked at load, and the outbound
 * clients', plus error, description and verification helpers. */
#include "net/tls.h"

#include <arpa/inet.h>
#include <stdio.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* Mozilla's "intermediate" TLS 1.2 list: ECDHE + AEAD only. */
#define TLS12_CIPHERS                                                                              \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                                   \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                                   \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

const char *tls_last_error(char *out, size_t len)
{
    unsigned long e = ERR_get_error();
    if (e == 0)
        snprintf(out, len, "unknown");
    else
        ERR_error_string_n(e, out, len);
    ERR_clear_error();
    return out;
}

SSL_CTX *tls_server_new(const char *cert_file, const char *key_file, struct buf *err_r)
{
    char why[256];
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        buf_printf(err_r, "TLS: cannot create a context: %s\n", tls_last_error(why, sizeof(why)));
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1) {
        buf_printf(err_r, "TLS: cipher list refused: %s\n", tls_last_error(why, sizeof(why)));
        goto fail;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        buf_printf(err_r, "[tls] cert: cannot load %s: %s\n", cert_file,
                   tls_last_error(why, sizeof(why)));
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        buf_printf(err_r, "[tls] key: cannot load %s: %s\n", key_file,
                   tls_last_error(why, sizeof(why)));
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        buf_printf(err_r, "[tls] key: %s does not match the certificate in %s\n", key_file,
                   cert_file);
        ERR_clear_error();
        goto fail;
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

void tls_ctx_free(SSL_CTX **ctx)
{
    SSL_CTX_free(*ctx);
    *ctx = NULL;
}

void tls_describe(SSL *ssl, char *out, size_t len)
{
    snprintf(out, len, "%s %s", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
}

SSL_CTX *tls_client_new(bool verify, const char *ca_file, struct buf *err_r)
{
    char why[256];
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        buf_printf(err_r, "TLS: cannot create a client context: %s\n",
                   tls_last_error(why, sizeof(why)));
        return NULL;
    }
    int ok = ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
                     : SSL_CTX_set_default_verify_paths(ctx);
    if (ok != 1) {
        buf_printf(err_r, "[relay] ca_file: cannot load %s: %s\n",
                   ca_file ? ca_file : "the system CA store", tls_last_error(why, sizeof(why)));
        SSL_CTX_free(ctx);
        return NULL;
    }
    /* Opportunistic peers may be old: TLS 1.0 beats plain text. A verified
     * peer is one we chose, and must speak a current version. */
    SSL_CTX_set_min_proto_version(ctx, verify ? TLS1_2_VERSION : TLS1_VERSION);
    SSL_CTX_set_verify(ctx, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
    /* Sessions may bring TLSA records (tls_client_setup()). */
    if (SSL_CTX_dane_enable(ctx) <= 0) {
        buf_printf(err_r, "TLS: DANE unavailable: %s\n", tls_last_error(why, sizeof(why)));
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

const char *tls_verify_error(SSL *ssl)
{
    long v = SSL_get_verify_result(ssl);
    if (v != X509_V_OK)
        return X509_verify_cert_error_string(v);
    X509 *cert = SSL_get0_peer_certificate(ssl);
    return cert ? NULL : "no certificate";
}

void tls_send_close_notify(SSL *ssl)
{
    if (ssl == NULL || !SSL_is_init_finished(ssl) || (SSL_get_shutdown(ssl) & SSL_SENT_SHUTDOWN))
        return;
    SSL_shutdown(ssl);
    ERR_clear_error();
}
