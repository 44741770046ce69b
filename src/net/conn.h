/*
 * conn: a network connection as sessions see it. It owns the socket, the
 * (later) TLS layer, the deadline timer and the buffers, and hands the
 * session events: input ready, deadline passed, closed. Sessions never call
 * read(), write() or OpenSSL themselves.
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
/* The TLS session once the handshake finished, else NULL. */
SSL *conn_tls(const struct conn *c);
/* True once TLS was started (handshake maybe still running). */
bool conn_tls_started(const struct conn *c);

struct evbuffer *conn_input(struct conn *c);
void conn_write(struct conn *c, const void *data, size_t len);
void conn_printf(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
size_t conn_output_pending(struct conn *c);

/* Arms a one-shot deadline (ms from now); 0 disarms. */
void conn_set_deadline(struct conn *c, unsigned ms);
void conn_pause(struct conn *c);
void conn_resume(struct conn *c);
/* Stops reading, flushes what was written, then reports on_close("done"). */
void conn_close_after_write(struct conn *c);

const char *conn_peer_ip(const struct conn *c);
int conn_peer_port(const struct conn *c);
int conn_fd(const struct conn *c);

#endif
