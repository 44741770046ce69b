#include "net/conn.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "net/addr.h"
#include "net/tls.h"
#include "util/xmalloc.h"

struct conn {
    struct event_base *base;
    struct bufferevent *bev;
    SSL *ssl; /* owned by bev once set */
    struct event *deadline;
    const struct conn_callbacks *cb;
    void *arg;
    char peer_ip[INET6_ADDRSTRLEN];
    int peer_port;
    int fd;
    bool paused;   /* by the session */
    bool closing;  /* conn_close_after_write() called */
    bool reported; /* on_close already delivered */
    bool notified; /* TLS close_notify sent */
    time_t close_by;
};

static void report_close(struct conn *c, const char *why)
{
    if (c->reported)
        return;
    c->reported = true;
    bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    event_del(c->deadline);
    c->cb->on_close(c, c->arg, why);
}

static void update_reading(struct conn *c)
{
    if (c->closing || c->reported)
        return;
    bool want =
        !c->paused && evbuffer_get_length(bufferevent_get_output(c->bev)) <= CONN_OUTPUT_MAX;
    if (want)
        bufferevent_enable(c->bev, EV_READ);
    else
        bufferevent_disable(c->bev, EV_READ);
}

static void on_bev_read(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    if (!c->closing && !c->reported)
        c->cb->on_read(c, c->arg);
}

/* All written data has left for the socket: with TLS, the filter's output
 * must also have drained from the layer below it. */
static bool flushed(struct conn *c)
{
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) != 0)
        return false;
    struct bufferevent *under = bufferevent_get_underlying(c->bev);
    return under == NULL || evbuffer_get_length(bufferevent_get_output(under)) == 0;
}

static void close_when_flushed(struct conn *c)
{
    if (flushed(c) && c->ssl && !c->notified) {
        /* The last reply is out: say goodbye in TLS too, or the peer cannot
         * tell our close from a truncation (Exim logs "non-properly
         * terminated"). After STARTTLS the alert still has to leave the
         * plain layer below: the poll below waits for it. */
        c->notified = true;
        tls_send_close_notify(c->ssl);
    }
    if (flushed(c) || time(NULL) >= c->close_by) {
        report_close(c, "done");
        return;
    }
    struct timeval tv = {.tv_sec = 0, .tv_usec = 5000};
    event_add(c->deadline, &tv);
}

static void on_bev_write(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    if (c->closing) {
        close_when_flushed(c);
        return;
    }
    update_reading(c);
}

static void on_bev_event(struct bufferevent *bev, short what, void *arg)
{
    struct conn *c = arg;
    if (what & BEV_EVENT_EOF)
        report_close(c, c->closing ? "done" : "peer closed");
    else if (what & BEV_EVENT_ERROR) {
        const char *why = "I/O error";
        char tls_why[160];
        unsigned long e = c->ssl ? bufferevent_get_openssl_error(bev) : 0;
        if (e) {
            ERR_error_string_n(e, tls_why, sizeof(tls_why));
            why = tls_why;
        } else if (c->ssl && !SSL_is_init_finished(c->ssl)) {
            why = "TLS handshake failed";
        }
        report_close(c, c->closing ? "done" : why);
    }
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    if (c->closing) {
        /* Flushed, or the peer did not take our last reply in time. */
        close_when_flushed(c);
        return;
    }
    c->cb->on_deadline(c, c->arg);
}

static void attach_bev(struct conn *c, struct bufferevent *bev)
{
    c->bev = bev;
    if (c->ssl)
        bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    bufferevent_setcb(bev, on_bev_read, on_bev_write, on_bev_event, c);
    bufferevent_setwatermark(bev, EV_READ, 0, CONN_INPUT_MAX);
    /* libevent reads 4 KiB at a time by default: a message would cost a
     * read (and an ioctl) per 4 KiB. */
    bufferevent_set_max_single_read(bev, 64 * 1024);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
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
    /* Replies are whole lines written at once: waiting for the peer's
     * delayed ACK (Nagle) would only add ~40 ms to TLS handshakes and
     * pipelined replies. */
    if (peer && (peer->sa_family == AF_INET || peer->sa_family == AF_INET6)) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    if (implicit_tls) {
        c->ssl = SSL_new(implicit_tls);
        attach_bev(c, bufferevent_openssl_socket_new(base, fd, c->ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                     BEV_OPT_CLOSE_ON_FREE));
    } else {
        attach_bev(c, bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE));
    }
    return c;
}

bool conn_starttls(struct conn *c, SSL_CTX *ctx)
{
    if (c->ssl || c->reported)
        return false;
    /* Whatever the client sent after STARTTLS and before the handshake was
     * never protected: drop it (CVE-2011-0411, command injection). */
    struct evbuffer *in = bufferevent_get_input(c->bev);
    evbuffer_drain(in, evbuffer_get_length(in));
    c->ssl = SSL_new(ctx);
    struct bufferevent *tls = bufferevent_openssl_filter_new(
        c->base, c->bev, c->ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    if (tls == NULL) {
        SSL_free(c->ssl);
        c->ssl = NULL;
        return false;
    }
    attach_bev(c, tls);
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
    bufferevent_free(c->bev);
    free(c);
    *cp = NULL;
}

struct evbuffer *conn_input(struct conn *c)
{
    return bufferevent_get_input(c->bev);
}

void conn_write(struct conn *c, const void *data, size_t len)
{
    if (c->reported)
        return;
    bufferevent_write(c->bev, data, len);
    update_reading(c);
}

void conn_printf(struct conn *c, const char *fmt, ...)
{
    if (c->reported)
        return;
    va_list ap;
    va_start(ap, fmt);
    evbuffer_add_vprintf(bufferevent_get_output(c->bev), fmt, ap);
    va_end(ap);
    update_reading(c);
}

size_t conn_output_pending(struct conn *c)
{
    return evbuffer_get_length(bufferevent_get_output(c->bev));
}

void conn_set_deadline(struct conn *c, unsigned ms)
{
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
    bufferevent_disable(c->bev, EV_READ);
    /* Give a peer that does not read our last words a bounded time. */
    c->close_by = time(NULL) + 10;
    struct timeval tv = {.tv_sec = 10, .tv_usec = 0};
    event_add(c->deadline, &tv);
    /* Reported from the loop, never from inside the caller's stack. */
    if (flushed(c))
        event_active(c->deadline, EV_TIMEOUT, 0);
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
