/* The connection layer (see conn.h): a bufferevent (socket, or TLS over
 * one, maybe deflate over those: conn_deflate.c) behind the session's
 * callbacks, with back-pressure, the output drained event, the deadline,
 * and the flush-then-close. */
#include "net/conn.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "net/addr.h"
#include "net/conn_int.h"
#include "net/tls.h"
#include "util/xmalloc.h"

#define CONN_CLOSE_GRACE_S 10 /* a peer that does not read our last words */
/* Deferred: libevent runs our callbacks from the loop, never inside a
 * bufferevent call (a TLS filter writes, and may fail, inside
 * bufferevent_write), so no event reaches a session inside its own call. */
#define CONN_BEV_OPTIONS (BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS)

void conn_report_close(struct conn *c, const char *why)
{
    if (c->reported)
        return;
    c->reported = true;
    c->want_drained = false;
    if (c->bev)
        bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    event_del(c->deadline);
    event_del(c->drained);
    c->cb->on_close(c, c->arg, why);
}

size_t conn_output_pending(struct conn *c)
{
    if (c->bev == NULL)
        return 0;
    /* After STARTTLS the TLS records wait in the socket layer below; with
     * COMPRESS the compressor holds some and the layers below the rest. */
    size_t n = conn_deflate_held(c);
    for (struct bufferevent *b = c->bev; b; b = bufferevent_get_underlying(b))
        n += evbuffer_get_length(bufferevent_get_output(b));
    return n;
}

static size_t input_mark(const struct conn *c)
{
    return c->input_max ? c->input_max : CONN_INPUT_MAX;
}

static void update_reading(struct conn *c)
{
    if (c->closing || c->reported || c->bev == NULL)
        return;
    c->reading_held = conn_output_pending(c) > CONN_OUTPUT_MAX;
    c->input_full = evbuffer_get_length(bufferevent_get_input(c->bev)) >= input_mark(c);
    if (!c->paused && !c->reading_held && !c->input_full) {
        bufferevent_enable(c->bev, EV_READ);
        conn_deflate_kick(c); /* input may wait inflated-to-be below */
    } else
        bufferevent_disable(c->bev, EV_READ);
}

/* Output left a buffer (for the kernel, or for the TLS layer below): if
 * someone waits for that, look again from the loop. evbuffer callbacks run
 * inside libevent's write path, where the session must not be called. */
static void on_output_drained(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct conn *c = arg;
    if (info->n_deleted > 0 && (c->want_drained || c->closing || c->reading_held))
        event_active(c->drained, EV_WRITE, 0);
}

/* The session's input reached the mark: stop reading (libevent would call
 * on_read again and again, from the loop, while reading stays enabled at
 * the mark); it fell below: read again, from the loop. */
static void on_input_level(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct conn *c = arg;
    size_t len = evbuffer_get_length(buf);
    if (info->n_added > 0 && !c->input_full && len >= input_mark(c)) {
        c->input_full = true;
        bufferevent_disable(c->bev, EV_READ);
    } else if (info->n_deleted > 0 && c->input_full && len < input_mark(c)) {
        event_active(c->drained, EV_READ, 0);
    }
}

static void close_when_flushed(struct conn *c)
{
    if (conn_output_pending(c) != 0)
        return; /* the next drain looks again; the deadline bounds the wait */
    if (c->ssl && !c->notified) {
        /* The last reply is out: say goodbye in TLS too, or the peer cannot
         * tell our close from a truncation (Exim logs "non-properly
         * terminated"). After STARTTLS the alert still has to leave the
         * plain layer below: its drain brings us back here. */
        c->notified = true;
        tls_send_close_notify(c->ssl);
        if (conn_output_pending(c) != 0)
            return;
    }
    conn_report_close(c, "done");
}

static void on_drained_event(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    if (c->reported)
        return;
    if (c->closing) {
        close_when_flushed(c);
        return;
    }
    if (c->reading_held || c->input_full)
        update_reading(c);
    if (c->want_drained && conn_output_pending(c) <= c->drain_low) {
        c->want_drained = false;
        if (c->cb->on_drained)
            c->cb->on_drained(c, c->arg);
    }
}

static void on_bev_read(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    if (!c->closing && !c->reported)
        c->cb->on_read(c, c->arg);
}

static void on_bev_write(struct bufferevent *bev, void *arg)
{
    /* The top layer's output is empty: the same path as any drain, from the
     * loop (a TLS filter writes, and calls this, inside bufferevent_write). */
    struct conn *c = arg;
    if (c->want_drained || c->closing || c->reading_held)
        event_active(c->drained, EV_WRITE, 0);
}

static void on_bev_event(struct bufferevent *bev, short what, void *arg)
{
    struct conn *c = arg;
    if (what & BEV_EVENT_CONNECTED) {
        if (c->ssl && !c->tls_reported && SSL_is_init_finished(c->ssl)) {
            c->tls_reported = true;
            if (c->cb->on_tls_done && !c->closing && !c->reported)
                c->cb->on_tls_done(c, c->arg);
        } else if (c->ssl == NULL && c->cb->on_connected && !c->reported) {
            c->cb->on_connected(c, c->arg);
        }
        return;
    }
    if (what & BEV_EVENT_EOF) {
        conn_report_close(c, c->closing ? "done" : c->eof_why ? c->eof_why : "peer closed");
    } else if (what & BEV_EVENT_ERROR) {
        const char *why = "I/O error";
        char tls_why[160];
        unsigned long e = 0;
        /* The TLS layer may sit below the deflate one. */
        for (struct bufferevent *b = bev; c->ssl && b && e == 0; b = bufferevent_get_underlying(b))
            e = bufferevent_get_openssl_error(b);
        if (conn_deflate_error(c)) {
            why = conn_deflate_error(c);
        } else if (e) {
            ERR_error_string_n(e, tls_why, sizeof(tls_why));
            why = tls_why;
        } else if (c->ssl && !SSL_is_init_finished(c->ssl)) {
            why = "TLS handshake failed";
        } else if (EVUTIL_SOCKET_ERROR()) {
            snprintf(tls_why, sizeof(tls_why), "%s", strerror(EVUTIL_SOCKET_ERROR()));
            why = tls_why;
        }
        conn_report_close(c, c->closing ? "done" : why);
    }
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    if (c->closing) {
        /* The peer did not take our last reply in time. */
        conn_report_close(c, "done");
        return;
    }
    c->cb->on_deadline(c, c->arg);
}

void conn_attach_bev(struct conn *c, struct bufferevent *bev)
{
    if (c->bev) /* the old top's input now feeds the new layer */
        evbuffer_remove_cb(bufferevent_get_input(c->bev), on_input_level, c);
    c->bev = bev;
    c->input_full = false;
    c->tls_reported = false;
    if (c->ssl)
        bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    bufferevent_setcb(bev, on_bev_read, on_bev_write, on_bev_event, c);
    bufferevent_setwatermark(bev, EV_READ, 0, c->input_max ? c->input_max : CONN_INPUT_MAX);
    /* libevent reads 4 KiB at a time by default: a message would cost a
     * read (and an ioctl) per 4 KiB. */
    bufferevent_set_max_single_read(bev, 64 * 1024);
    /* Every layer's output is watched: after STARTTLS the socket's buffer
     * (now the layer below) keeps the watch it got first. */
    evbuffer_add_cb(bufferevent_get_output(bev), on_output_drained, c);
    evbuffer_add_cb(bufferevent_get_input(bev), on_input_level, c);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

struct conn *conn_alloc(struct event_base *base, int fd, const struct sockaddr *peer,
                        socklen_t peer_len, const struct conn_callbacks *cb, void *arg)
{
    struct conn *c = xcalloc(1, sizeof(*c));
    c->cb = cb;
    c->arg = arg;
    c->fd = fd;
    sockaddr_ip(peer, c->peer_ip, sizeof(c->peer_ip));
    if (peer && peer->sa_family == AF_INET)
        c->peer_port = ntohs(((const struct sockaddr_in *)peer)->sin_port);
    else if (peer && peer->sa_family == AF_INET6)
        c->peer_port = ntohs(((const struct sockaddr_in6 *)peer)->sin6_port);
    c->base = base;
    c->deadline = evtimer_new(base, on_deadline, c);
    c->drained = event_new(base, -1, 0, on_drained_event, c);
    return c;
}

struct conn *conn_new(struct event_base *base, int fd, const struct sockaddr *peer,
                      socklen_t peer_len, const struct conn_callbacks *cb, void *arg)
{
    return conn_new_tls(base, fd, peer, peer_len, NULL, cb, arg);
}

struct conn *conn_new_tls(struct event_base *base, int fd, const struct sockaddr *peer,
                          socklen_t peer_len, SSL_CTX *implicit_tls,
                          const struct conn_callbacks *cb, void *arg)
{
    struct conn *c = conn_alloc(base, fd, peer, peer_len, cb, arg);
    /* Replies are whole lines written at once: waiting for the peer's
     * delayed ACK (Nagle) would only add ~40 ms to TLS handshakes and
     * pipelined replies. */
    if (peer && (peer->sa_family == AF_INET || peer->sa_family == AF_INET6)) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    if (implicit_tls) {
        c->ssl = SSL_new(implicit_tls);
        conn_attach_bev(c, bufferevent_openssl_socket_new(
                               base, fd, c->ssl, BUFFEREVENT_SSL_ACCEPTING, CONN_BEV_OPTIONS));
    } else {
        conn_attach_bev(c, bufferevent_socket_new(base, fd, CONN_BEV_OPTIONS));
    }
    return c;
}

bool conn_starttls(struct conn *c, SSL_CTX *ctx)
{
    if (c->ssl || c->reported || c->deflate)
        return false; /* RFC 4978: TLS below COMPRESS, never above */
    /* Whatever the client sent after STARTTLS and before the handshake was
     * never protected: drop it (CVE-2011-0411, command injection). */
    struct evbuffer *in = bufferevent_get_input(c->bev);
    evbuffer_drain(in, evbuffer_get_length(in));
    c->ssl = SSL_new(ctx);
    struct bufferevent *tls = bufferevent_openssl_filter_new(
        c->base, c->bev, c->ssl, BUFFEREVENT_SSL_ACCEPTING, CONN_BEV_OPTIONS);
    if (tls == NULL) {
        SSL_free(c->ssl);
        c->ssl = NULL;
        return false;
    }
    conn_attach_bev(c, tls);
    return true;
}

SSL *conn_tls(const struct conn *c)
{
    return c->ssl && SSL_is_init_finished(c->ssl) ? c->ssl : NULL;
}

bool conn_tls_started(const struct conn *c)
{
    return c->ssl != NULL;
}

void conn_free(struct conn **cp)
{
    struct conn *c = *cp;
    if (c == NULL)
        return;
    event_free(c->deadline);
    event_free(c->drained);
    if (c->bev) {
        /* libevent finalises the buffers later: no drain may reach c then. */
        conn_deflate_detach(c);
        evbuffer_remove_cb(bufferevent_get_input(c->bev), on_input_level, c);
        for (struct bufferevent *b = c->bev; b; b = bufferevent_get_underlying(b))
            evbuffer_remove_cb(bufferevent_get_output(b), on_output_drained, c);
        bufferevent_free(c->bev);
    }
    free(c);
    *cp = NULL;
}

struct evbuffer *conn_input(struct conn *c)
{
    return bufferevent_get_input(c->bev);
}

void conn_write(struct conn *c, const void *data, size_t len)
{
    if (c->reported || c->bev == NULL)
        return;
    bufferevent_write(c->bev, data, len);
    update_reading(c);
}

void conn_printf(struct conn *c, const char *fmt, ...)
{
    if (c->reported || c->bev == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    evbuffer_add_vprintf(bufferevent_get_output(c->bev), fmt, ap);
    va_end(ap);
    update_reading(c);
}

void conn_notify_drained(struct conn *c, size_t low)
{
    if (c->reported)
        return;
    c->want_drained = true;
    c->drain_low = low;
    if (conn_output_pending(c) <= low)
        event_active(c->drained, EV_WRITE, 0);
}

void conn_set_deadline(struct conn *c, unsigned ms)
{
    if (c->closing)
        return; /* the close grace is running */
    if (ms == 0) {
        event_del(c->deadline);
        return;
    }
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    event_add(c->deadline, &tv);
}

void conn_pause(struct conn *c)
{
    c->paused = true;
    update_reading(c);
}

void conn_resume(struct conn *c)
{
    c->paused = false;
    update_reading(c);
}

void conn_close_after_write(struct conn *c)
{
    if (c->closing || c->reported)
        return;
    c->closing = true;
    c->want_drained = false;
    if (c->bev)
        bufferevent_disable(c->bev, EV_READ);
    struct timeval tv = {.tv_sec = CONN_CLOSE_GRACE_S, .tv_usec = 0};
    event_add(c->deadline, &tv);
    /* Reported from the loop, never from inside the caller's stack. */
    event_active(c->drained, EV_WRITE, 0);
}

const char *conn_peer_ip(const struct conn *c)
{
    return c->peer_ip;
}

int conn_peer_port(const struct conn *c)
{
    return c->peer_port;
}

int conn_fd(const struct conn *c)
{
    return c->fd;
}
