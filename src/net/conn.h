/*
 * conn: a network connection as sessions see it. It owns the socket, the
 * TLS layer, the deadline timer and the buffers, and hands the session
 * events: input ready, output drained, deadline passed, TLS done, closed.
 * Sessions never call read(), write(), libevent's bufferevents or OpenSSL
 * themselves. Every event is delivered from the event loop, never from
 * inside a conn_* call the session made.
 *
 * Output drained: "pending" counts every octet written and not yet handed
 * to the kernel, in the TLS layer and below it. A session that produces
 * output in steps (a POP3 RETR, a relayed message) asks with
 * conn_notify_drained(c, low) to hear once pending falls to low; nothing
 * polls.
 *
 * COMPRESS=DEFLATE (RFC 4978): conn_start_deflate() puts a deflate layer
 * on top of the socket or TLS; the session goes on reading conn_input()
 * and writing as before and sees plain text. Pending output then includes
 * what the compressor holds until its flush after each write burst.
 *
 * Back-pressure: reading stops while the session leaves more than
 * CONN_INPUT_MAX octets unconsumed or while the peer is not reading our
 * replies (output above CONN_OUTPUT_MAX), so no peer can grow our memory.
 */
#ifndef POSTERN_NET_CONN_H
#define POSTERN_NET_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct event_base;
struct evbuffer;
struct conn;
typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

#define CONN_INPUT_MAX  (256 * 1024)
#define CONN_OUTPUT_MAX (256 * 1024)

struct conn_callbacks {
    void (*on_read)(struct conn *c, void *arg);
    void (*on_deadline)(struct conn *c, void *arg);
    /* The peer closed, an I/O error happened, or conn_close_after_write()
     * finished flushing. The session frees itself (and calls conn_free). */
    void (*on_close)(struct conn *c, void *arg, const char *why);
    /* Optional: pending output fell to the mark of conn_notify_drained(). */
    void (*on_drained)(struct conn *c, void *arg);
    /* Optional: a TLS handshake (implicit, STARTTLS, or client) finished;
     * conn_tls() is set now. A failed one is reported by on_close. */
    void (*on_tls_done)(struct conn *c, void *arg);
    /* Optional, outbound connections: the TCP connection is established. */
    void (*on_connected)(struct conn *c, void *arg);
};

struct conn *conn_new(struct event_base *base, int fd, const struct sockaddr *peer,
                      socklen_t peer_len, const struct conn_callbacks *cb, void *arg);
/* Implicit TLS (ports 465, 995): the handshake starts at once. */
struct conn *conn_new_tls(struct event_base *base, int fd, const struct sockaddr *peer,
                          socklen_t peer_len, SSL_CTX *implicit_tls,
                          const struct conn_callbacks *cb, void *arg);
void conn_free(struct conn **c);

/* STARTTLS / STLS: discards all buffered input, then runs the server side
 * of the handshake over the same socket. Write the "go ahead" reply first:
 * it is flushed in plain text before any TLS record. */
bool conn_starttls(struct conn *c, SSL_CTX *ctx);
/* COMPRESS=DEFLATE: from now on everything written is raw-deflated
 * (sync-flushed after each write burst) and everything read is inflated.
 * Write the "OK" reply first: it leaves uncompressed, before the layer.
 * Input already read after the command is taken as compressed. False
 * when deflate is already active, the connection is closing, or a TLS
 * handshake is still running; after it, conn_starttls() refuses (the
 * RFC 4978 order is TLS, then COMPRESS). A corrupt stream from the peer
 * closes the connection: on_close why = "deflate error: ...". */
bool conn_start_deflate(struct conn *c);
bool conn_deflate_active(const struct conn *c);
/* The TLS session once the handshake finished, else NULL. */
SSL *conn_tls(const struct conn *c);
/* True once TLS was started (handshake maybe still running). */
bool conn_tls_started(const struct conn *c);

struct evbuffer *conn_input(struct conn *c);
void conn_write(struct conn *c, const void *data, size_t len);
void conn_printf(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Octets written and not yet handed to the kernel, TLS layer included (and
 * with deflate, the uncompressed octets the compressor holds). */
size_t conn_output_pending(struct conn *c);
/* One-shot: on_drained runs (from the loop) once conn_output_pending() is
 * at most low, at once if it already is. A later call replaces the mark. */
void conn_notify_drained(struct conn *c, size_t low);

/* Arms a one-shot deadline (ms from now); 0 disarms. */
void conn_set_deadline(struct conn *c, unsigned ms);
void conn_pause(struct conn *c);
void conn_resume(struct conn *c);
/* Stops reading, flushes what was written (and a TLS close_notify), then
 * reports on_close("done"); a peer that does not take it gets 10 s. */
void conn_close_after_write(struct conn *c);

const char *conn_peer_ip(const struct conn *c);
int conn_peer_port(const struct conn *c);
int conn_fd(const struct conn *c);

#endif
