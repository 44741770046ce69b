/*
 * conn_client: the outbound side of a connection (an SMTP client): a
 * non-blocking connect, client-side STARTTLS with the peer's names (and
 * DANE TLSA records), what the handshake learnt about the peer, and the
 * input access a reply parser needs. Events arrive through the session's
 * conn_callbacks, always from the event loop:
 *
 *   c = conn_connect(base, sa, salen, &cb, s);   conn_set_deadline(c, connect_ms)
 *   on_connected            the TCP connection is up
 *   on_close(why)           refused or unreachable (strerror: "Connection
 *                           refused"), or lost later
 *   conn_starttls_client(c, ctx, &params) after the server's 220 to STARTTLS
 *   on_tls_done             handshake finished: conn_tls_version(c), ...
 *   on_close(why)           handshake failed: the OpenSSL reason;
 *                           conn_tls_verify_failed(c) says whether the
 *                           certificate was the cause
 */
#ifndef POSTERN_NET_CONN_CLIENT_H
#define POSTERN_NET_CONN_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "net/conn.h"

struct event_base;

/* One TLSA record (RFC 6698 2.1), as DNS gave it. */
struct conn_tlsa {
    uint8_t usage;    /* 0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE */
    uint8_t selector; /* 0 the whole certificate, 1 its SubjectPublicKeyInfo */
    uint8_t mtype;    /* 0 exact, 1 SHA2-256, 2 SHA2-512 */
    const unsigned char *data;
    size_t len;
};

/* What a client handshake checks the server against. Every pointer is
 * read during conn_starttls_client() only (OpenSSL keeps copies). */
struct conn_tls_client {
    /* Server Name Indication; NULL or an IP literal: none (RFC 6066 3). */
    const char *sni;
    /* The name the certificate must carry (an IP literal: one of its IP
     * addresses); NULL: no name is checked. With TLSA records it is the
     * TLSA base domain (RFC 7672 2.2.3: the MX host name). */
    const char *verify_name;
    /* Further acceptable names, e.g. MTA-STS mx patterns ("*.example.net"
     * matches one label more, RFC 8461 4.1): the certificate may match any
     * of them instead. */
    const char *const *more_names;
    size_t n_more_names;
    /* DANE (RFC 7672): when n_tlsa > 0 the peer is authenticated by these
     * records instead of the CA store; DANE-EE(3) records match without
     * name checks (RFC 7672 3.1.1); the base domain is sent as SNI unless
     * sni says otherwise. Records OpenSSL cannot use are skipped; if none
     * is usable the start fails. */
    const struct conn_tlsa *tlsa;
    size_t n_tlsa;
    /* Fail the handshake unless verification passes, whatever the
     * context's own setting (an opportunistic context can then serve a
     * destination with a DANE or MTA-STS policy). */
    bool require_verified;
};

/* Checks params before use (pure): names are non-empty host names or IP
 * literals of sane length, TLSA records have known fields and digests of
 * the right length, TLSA records come with a base domain. False with the
 * reason in err. */
bool conn_tls_client_check(const struct conn_tls_client *params, char *err, size_t len);

/* Starts a non-blocking TCP connect to sa (TCP_NODELAY). The result comes
 * from the loop: on_connected, or on_close with the reason (strerror text,
 * "Connection refused"). Never NULL; its time-out is the caller's
 * conn_set_deadline(). */
struct conn *conn_connect(struct event_base *base, const struct sockaddr *sa, socklen_t salen,
                          const struct conn_callbacks *cb, void *arg);

/* Text of on_close() when the server closes the connection (default
 * "peer closed"). */
void conn_set_eof_text(struct conn *c, const char *why);
/* Input buffered before reading stops (default CONN_INPUT_MAX); kept
 * across STARTTLS. */
void conn_set_input_max(struct conn *c, size_t max);

/* Client STARTTLS, after the server's 220: discards whatever input is
 * buffered (it came in plain text: see conn_input_length() first to log
 * it), then runs the client handshake over the same socket. on_tls_done or
 * on_close(the OpenSSL reason) follows. False (with the reason in err)
 * when TLS could not be started at all; nothing was changed then except
 * the input dropped. */
bool conn_starttls_client(struct conn *c, SSL_CTX *ctx, const struct conn_tls_client *params,
                          char *err, size_t errlen);

/* After a TLS handshake finished or failed (on_tls_done, or in on_close):
 * why the certificate is not trusted ("certificate has expired",
 * "Hostname mismatch", "no certificate"; "no TLS" before STARTTLS), NULL
 * when it verified. */
const char *conn_tls_verify_error(const struct conn *c);
/* True when certificate verification itself failed (not merely "no
 * certificate yet"): a failed handshake with this set was refused for the
 * certificate. */
bool conn_tls_verify_failed(const struct conn *c);
/* "TLSv1.3", "TLS_AES_256_GCM_SHA384"; "none" without TLS. */
const char *conn_tls_version(const struct conn *c);
const char *conn_tls_cipher(const struct conn *c);
/* The peer certificate's subject ("/CN=mx.example.net"), "none" if none. */
void conn_tls_peer_subject(const struct conn *c, char *out, size_t len);

/* Input access for a parser: the first contiguous run of buffered input
 * (NULL, *len 0 when empty), consuming n octets, and the total buffered. */
const char *conn_input_peek(struct conn *c, size_t *len);
void conn_input_drain(struct conn *c, size_t n);
size_t conn_input_length(struct conn *c);

#endif
