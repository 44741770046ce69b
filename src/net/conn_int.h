/*
 * conn_int: the connection's state, shared by conn.c (buffers, events,
 * server-side TLS, closing) and the outbound side in net/ (connect,
 * client-side TLS). Not for sessions: they use net/conn.h.
 */
#ifndef POSTERN_NET_CONN_INT_H
#define POSTERN_NET_CONN_INT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

#include "net/conn.h"

struct bufferevent;
struct event;
struct conn_deflate;

struct conn {
    struct event_base *base;
    struct bufferevent *bev;      /* the top layer: deflate or TLS filter, or socket */
    SSL *ssl;                     /* owned by bev once set */
    struct conn_deflate *deflate; /* COMPRESS layer (conn_deflate.c), owned by bev */
    struct event *deadline;
    struct event *drained; /* activated when output left for the kernel */
    const struct conn_callbacks *cb;
    void *arg;
    char peer_ip[INET6_ADDRSTRLEN];
    int peer_port;
    int fd;
    size_t drain_low;  /* on_drained wanted at this pending level */
    bool want_drained; /* conn_notify_drained() is waiting */
    bool paused;       /* by the session */
    bool reading_held; /* reading stopped: too much output pending */
    bool input_full;   /* reading stopped: the session left its input at the mark */
    bool closing;      /* conn_close_after_write() called */
    bool reported;     /* on_close already delivered */
    bool notified;     /* TLS close_notify sent */
    bool tls_reported; /* on_tls_done delivered for the current TLS layer */

    /* Set by the outbound side (conn_client.c). */
    const char *eof_why; /* on_close text for the peer's EOF; NULL: "peer closed" */
    size_t input_max;    /* read high-water mark; 0: CONN_INPUT_MAX */
};

/* Installs bev as the top layer: callbacks, watermarks, drain watch. */
void conn_attach_bev(struct conn *c, struct bufferevent *bev);
/* Allocates a conn around a socket (fd may be -1 for an outbound one not
 * yet connected; the caller attaches the bufferevent). */
struct conn *conn_alloc(struct event_base *base, int fd, const struct sockaddr *peer,
                        socklen_t peer_len, const struct conn_callbacks *cb, void *arg);
/* Delivers on_close once (why: "peer closed", the TLS error, ...). */
void conn_report_close(struct conn *c, const char *why);

/* conn_deflate.c: uncompressed octets the compressor holds (not yet
 * flushed); the layer's error text or NULL; ask it to inflate what is
 * already buffered (reading resumed); forget the layer before the
 * bufferevents are freed. All harmless without a deflate layer. */
size_t conn_deflate_held(const struct conn *c);
const char *conn_deflate_error(const struct conn *c);
void conn_deflate_kick(struct conn *c);
void conn_deflate_detach(struct conn *c);

#endif
