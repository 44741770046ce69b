/*
 * tls_client: the TLS policy of one outbound handshake: which names the
 * server's certificate must carry, SNI, DANE TLSA records (RFC 7672), and
 * what verification said afterwards. The parameters come from
 * net/conn_client.h; conn_client.c applies them to the session's SSL.
 */
#include "net/tls.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "net/conn_client.h"

#define TLS_NAME_MAX 253 /* a DNS name in text (RFC 1035 2.3.4) */

static bool ip_literal(const char *name)
{
    unsigned char bin[16];
    return inet_pton(AF_INET, name, bin) == 1 || inet_pton(AF_INET6, name, bin) == 1;
}

/* A host name (letters, digits, '-', '.', '_' and a leading "*." for a
 * wildcard pattern) or an IP literal. */
static bool name_ok(const char *name, bool pattern, const char *what, char *err, size_t len)
{
    size_t n = strlen(name);
    if (n == 0 || n > TLS_NAME_MAX) {
        snprintf(err, len, "%s: %s", what, n == 0 ? "empty name" : "name too long");
        return false;
    }
    if (ip_literal(name))
        return true;
    const char *p = name;
    if (pattern && strncmp(p, "*.", 2) == 0)
        p += 2;
    if (*p == '\0' || *p == '.') {
        snprintf(err, len, "%s: not a host name", what);
        return false;
    }
    for (; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (!isalnum(ch) && ch != '-' && ch != '.' && ch != '_') {
            snprintf(err, len, "%s: not a host name", what);
            return false;
        }
    }
    return true;
}

static bool tlsa_ok(const struct conn_tlsa *r, size_t i, char *err, size_t len)
{
    static const size_t digest_len[] = {0, 32, 64}; /* by matching type */
    if (r->usage > 3 || r->selector > 1 || r->mtype > 2) {
        snprintf(err, len, "TLSA record %zu: unknown usage, selector or matching type (%u %u %u)",
                 i, r->usage, r->selector, r->mtype);
        return false;
    }
    if (r->data == NULL || r->len == 0) {
        snprintf(err, len, "TLSA record %zu: no data", i);
        return false;
    }
    if (r->mtype != 0 && r->len != digest_len[r->mtype]) {
        snprintf(err, len, "TLSA record %zu: a SHA2-%u digest has %zu octets, not %zu", i,
                 r->mtype == 1 ? 256U : 512U, digest_len[r->mtype], r->len);
        return false;
    }
    return true;
}

bool conn_tls_client_check(const struct conn_tls_client *p, char *err, size_t len)
{
    if (p->sni && !name_ok(p->sni, false, "SNI", err, len))
        return false;
    if (p->verify_name && !name_ok(p->verify_name, false, "certificate name", err, len))
        return false;
    if (p->n_more_names > 0 && p->more_names == NULL) {
        snprintf(err, len, "further names: none given");
        return false;
    }
    for (size_t i = 0; i < p->n_more_names; i++)
        if (p->more_names[i] == NULL ||
            !name_ok(p->more_names[i], true, "further certificate name", err, len)) {
            if (p->more_names[i] == NULL)
                snprintf(err, len, "further certificate name: empty name");
            return false;
        }
    if (p->n_tlsa > 0) {
        if (p->tlsa == NULL) {
            snprintf(err, len, "TLSA records: none given");
            return false;
        }
        if (p->verify_name == NULL || ip_literal(p->verify_name)) {
            snprintf(err, len, "TLSA records need a base domain (the certificate name)");
            return false;
        }
    }
    for (size_t i = 0; i < p->n_tlsa; i++)
        if (!tlsa_ok(&p->tlsa[i], i, err, len))
            return false;
    return true;
}

static const char *openssl_reason(const char *what, char *err, size_t len)
{
    unsigned long e = ERR_get_error();
    char why[200] = "unknown";
    if (e)
        ERR_error_string_n(e, why, sizeof(why));
    ERR_clear_error();
    snprintf(err, len, "%s: %s", what, why);
    return err;
}

/* DANE first: SSL_dane_enable() makes the base domain the primary name
 * (replacing any set before) and the default SNI. */
static bool set_dane(SSL *ssl, const struct conn_tls_client *p, char *err, size_t len)
{
    if (SSL_dane_enable(ssl, p->verify_name) <= 0) {
        openssl_reason("DANE refused", err, len);
        return false;
    }
    SSL_dane_set_flags(ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
    size_t usable = 0;
    for (size_t i = 0; i < p->n_tlsa; i++) {
        const struct conn_tlsa *r = &p->tlsa[i];
        int rc = SSL_dane_tlsa_add(ssl, r->usage, r->selector, r->mtype, r->data, r->len);
        if (rc < 0) {
            openssl_reason("TLSA record refused", err, len);
            return false;
        }
        usable += rc > 0;
    }
    ERR_clear_error();
    if (usable == 0) {
        snprintf(err, len, "no usable TLSA record");
        return false;
    }
    return true;
}

static bool set_names(SSL *ssl, const struct conn_tls_client *p, char *err, size_t len)
{
    if (p->verify_name && p->n_tlsa == 0) {
        int ok = ip_literal(p->verify_name)
                     ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), p->verify_name)
                     : SSL_set1_host(ssl, p->verify_name);
        if (ok != 1) {
            openssl_reason("certificate name refused", err, len);
            return false;
        }
    }
    /* "*.example.net" (MTA-STS) is OpenSSL's ".example.net" with single
     * label subdomains: a.example.net, not a.b.example.net. */
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS |
                               X509_CHECK_FLAG_SINGLE_LABEL_SUBDOMAINS);
    for (size_t i = 0; i < p->n_more_names; i++) {
        const char *name = p->more_names[i];
        if (strncmp(name, "*.", 2) == 0)
            name++;
        if (SSL_add1_host(ssl, name) != 1) {
            openssl_reason("certificate name refused", err, len);
            return false;
        }
    }
    return true;
}

bool tls_client_setup(SSL *ssl, const struct conn_tls_client *p, char *err, size_t len)
{
    if (!conn_tls_client_check(p, err, len))
        return false;
    if (p->sni && !ip_literal(p->sni) && SSL_set_tlsext_host_name(ssl, p->sni) != 1) {
        openssl_reason("SNI refused", err, len);
        return false;
    }
    if (p->n_tlsa > 0 && !set_dane(ssl, p, err, len))
        return false;
    if (!set_names(ssl, p, err, len))
        return false;
    if (p->require_verified)
        SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
    return true;
}

bool tls_verify_failed(SSL *ssl)
{
    return SSL_get_verify_result(ssl) != X509_V_OK;
}

void tls_peer_subject(SSL *ssl, char *out, size_t len)
{
    snprintf(out, len, "none");
    X509 *cert = SSL_get1_peer_certificate(ssl);
    if (cert) {
        X509_NAME_oneline(X509_get_subject_name(cert), out, (int)len);
        X509_free(cert);
    }
}
