/*
 * conn_client: the outbound side of struct conn (see conn_client.h): the
 * non-blocking connect, client STARTTLS, what the handshake learnt, and
 * input access for reply parsers. Its bufferevents defer every callback to
 * the loop: a write that completes (or fails) inside the TLS filter never
 * calls the session back from inside conn_write().
 */
#include "net/conn_client.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/util.h>
#include <openssl/ssl.h>

#include "net/conn_int.h"
#include "net/tls.h"

#define CLIENT_BEV_OPTIONS (BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS)

static int client_socket(int family)
{
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    /* Commands, the content and the final dot leave in separate writes:
     * Nagle would hold the dot for the server's delayed ACK (~40 ms). */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

struct conn *conn_connect(struct event_base *base, const struct sockaddr *sa, socklen_t salen,
                          const struct conn_callbacks *cb, void *arg)
{
    struct conn *c = conn_alloc(base, -1, sa, salen, cb, arg);
    c->fd = client_socket(sa->sa_family);
    int err = c->fd < 0 ? errno : 0;
    conn_attach_bev(c, bufferevent_socket_new(base, c->fd, CLIENT_BEV_OPTIONS));
    if (c->fd >= 0) {
        /* A refusal libevent sees at once is reported deferred, like one
         * that takes a round trip. */
        if (bufferevent_socket_connect(c->bev, sa, (int)salen) == 0)
            return c;
        err = errno;
    }
    /* Failed before libevent could watch it (no route, no socket): the
     * same on_close, from the loop, with the saved errno. */
    bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    EVUTIL_SET_SOCKET_ERROR(err ? err : EIO);
    bufferevent_trigger_event(c->bev, BEV_EVENT_ERROR, BEV_TRIG_DEFER_CALLBACKS);
    return c;
}

void conn_set_eof_text(struct conn *c, const char *why)
{
    c->eof_why = why;
}

void conn_set_input_max(struct conn *c, size_t max)
{
    c->input_max = max;
    if (c->bev)
        bufferevent_setwatermark(c->bev, EV_READ, 0, max);
}

bool conn_starttls_client(struct conn *c, SSL_CTX *ctx, const struct conn_tls_client *params,
                          char *err, size_t errlen)
{
    if (c->ssl || c->reported || c->closing || c->bev == NULL) {
        snprintf(err, errlen, "%s", c->ssl ? "TLS already started" : "connection closed");
        return false;
    }
    /* Whatever arrived before the handshake was never protected: it is not
     * read as a reply (CVE-2011-0411 in reverse). */
    conn_input_drain(c, conn_input_length(c));
    SSL *ssl = ctx ? SSL_new(ctx) : NULL;
    if (ssl == NULL) {
        tls_last_error(err, errlen);
        return false;
    }
    if (!tls_client_setup(ssl, params, err, errlen)) {
        SSL_free(ssl);
        return false;
    }
    struct bufferevent *tls = bufferevent_openssl_filter_new(
        c->base, c->bev, ssl, BUFFEREVENT_SSL_CONNECTING, CLIENT_BEV_OPTIONS);
    if (tls == NULL) {
        SSL_free(ssl);
        snprintf(err, errlen, "no TLS layer");
        return false;
    }
    c->ssl = ssl;
    conn_attach_bev(c, tls);
    return true;
}

const char *conn_tls_verify_error(const struct conn *c)
{
    return c->ssl ? tls_verify_error(c->ssl) : "no TLS";
}

bool conn_tls_verify_failed(const struct conn *c)
{
    return c->ssl && tls_verify_failed(c->ssl);
}

const char *conn_tls_version(const struct conn *c)
{
    return c->ssl ? SSL_get_version(c->ssl) : "none";
}

const char *conn_tls_cipher(const struct conn *c)
{
    return c->ssl ? SSL_get_cipher_name(c->ssl) : "none";
}

void conn_tls_peer_subject(const struct conn *c, char *out, size_t len)
{
    if (c->ssl)
        tls_peer_subject(c->ssl, out, len);
    else
        snprintf(out, len, "none");
}

const char *conn_input_peek(struct conn *c, size_t *len)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    size_t n = evbuffer_get_contiguous_space(in);
    *len = n;
    return n ? (const char *)evbuffer_pullup(in, (ev_ssize_t)n) : NULL;
}

void conn_input_drain(struct conn *c, size_t n)
{
    evbuffer_drain(bufferevent_get_input(c->bev), n);
}

size_t conn_input_length(struct conn *c)
{
    return evbuffer_get_length(bufferevent_get_input(c->bev));
}
