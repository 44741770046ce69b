/*
 * conn_deflate: COMPRESS=DEFLATE (RFC 4978) as one more layer of struct
 * conn: a bufferevent filter on top of the socket or TLS layer that
 * raw-deflates (zlib, windowBits -15) what the session writes and inflates
 * what the peer sends. The session keeps using conn_input()/conn_write();
 * only conn.c knows the layer is there (pending output, the error text).
 *
 * Output: every octet written goes through deflate() at once with
 * Z_NO_FLUSH; one Z_SYNC_FLUSH follows from the loop after the write
 * burst, so a reply made of many writes costs one flush marker and still
 * reaches the client before we wait for its next command.
 *
 * Input: whatever compressed octets arrived are inflated at once (a
 * client's flush may come one octet at a time), but never more than the
 * session's input buffer has room for: a 1 KB "zip bomb" that inflates to
 * 1 GB is inflated a buffer at a time, as the session consumes it.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/ssl.h>
#include <zlib.h>

#include "net/conn.h"
#include "net/conn_int.h"
#include "util/xmalloc.h"

#define DEFLATE_BEV_OPTIONS (BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS)
#define DEFLATE_CHUNK       (16 * 1024)
#define DEFLATE_WINDOW_BITS (-15) /* raw deflate: no zlib header (RFC 4978 3) */
#define DEFLATE_MEM_LEVEL   8

/* Owned by the filter bufferevent (freed with it, maybe later from the
 * loop); the events belong to the conn and go in conn_deflate_detach(). */
struct conn_deflate {
    z_stream out; /* what the session writes */
    z_stream in;  /* what the peer sends */
    struct bufferevent *bev;
    struct event *flush;  /* the sync flush after a write burst */
    struct event *resume; /* inflate what is buffered once there is room */
    size_t unflushed;     /* octets given to deflate() since the last flush */
    bool in_blocked;      /* inflate stopped at the input limit: zlib may hold more */
    bool failed;
    char why[128];
};

static void free_deflate(void *arg)
{
    struct conn_deflate *d = arg;
    deflateEnd(&d->out);
    inflateEnd(&d->in);
    free(d);
}

/* The layer cannot go on: the conn hears it as an error event, from the
 * loop, with d->why as the reason. */
static enum bufferevent_filter_result fail(struct conn_deflate *d, const char *what)
{
    if (!d->failed) {
        d->failed = true;
        snprintf(d->why, sizeof(d->why), "deflate error: %s", what ? what : "unknown");
        bufferevent_trigger_event(d->bev, BEV_EVENT_ERROR | BEV_EVENT_READING,
                                  BEV_TRIG_DEFER_CALLBACKS);
    }
    return BEV_ERROR;
}

static uInt zlen(size_t n)
{
    return n > UINT_MAX ? UINT_MAX : (uInt)n;
}

/* One deflate() call into fresh space at the end of dst. */
static bool deflate_into(struct conn_deflate *d, struct evbuffer *dst, int flush)
{
    struct evbuffer_iovec v;
    if (evbuffer_reserve_space(dst, DEFLATE_CHUNK, &v, 1) < 1)
        return false;
    d->out.next_out = v.iov_base;
    d->out.avail_out = zlen(v.iov_len);
    size_t room = d->out.avail_out;
    int r = deflate(&d->out, flush);
    v.iov_len = room - d->out.avail_out;
    evbuffer_commit_space(dst, &v, 1);
    return r == Z_OK || r == Z_BUF_ERROR || r == Z_STREAM_END; /* BUF: nothing to do */
}

/* Output filter: src is what the session wrote, dst the layer below. The
 * write path calls it in BEV_NORMAL mode; the flush event in BEV_FLUSH. */
static enum bufferevent_filter_result deflate_filter(struct evbuffer *src, struct evbuffer *dst,
                                                     ev_ssize_t limit,
                                                     enum bufferevent_flush_mode mode, void *arg)
{
    struct conn_deflate *d = arg;
    if (d->failed)
        return BEV_ERROR;
    struct evbuffer_iovec v;
    while (evbuffer_peek(src, -1, NULL, &v, 1) > 0 && v.iov_len > 0) {
        d->out.next_in = v.iov_base;
        d->out.avail_in = zlen(v.iov_len);
        size_t given = d->out.avail_in;
        do {
            if (!deflate_into(d, dst, Z_NO_FLUSH))
                return fail(d, d->out.msg ? d->out.msg : "deflate failed");
        } while (d->out.avail_out == 0); /* more output was ready */
        size_t used = given - d->out.avail_in;
        evbuffer_drain(src, used);
        d->unflushed += used;
    }
    if (d->unflushed == 0)
        return BEV_OK;
    if (mode == BEV_NORMAL) {
        if (d->flush)
            event_active(d->flush, EV_WRITE, 0);
        return BEV_OK;
    }
    int how = mode == BEV_FINISHED ? Z_FINISH : Z_SYNC_FLUSH;
    d->out.next_in = NULL;
    d->out.avail_in = 0;
    do {
        if (!deflate_into(d, dst, how))
            return fail(d, d->out.msg ? d->out.msg : "deflate flush failed");
    } while (d->out.avail_out == 0);
    d->unflushed = 0;
    return BEV_OK;
}

/* Input filter: src is what the layer below read, dst the session's
 * input; limit is the room left under its high-water mark. */
static enum bufferevent_filter_result inflate_filter(struct evbuffer *src, struct evbuffer *dst,
                                                     ev_ssize_t limit,
                                                     enum bufferevent_flush_mode mode, void *arg)
{
    struct conn_deflate *d = arg;
    if (d->failed)
        return BEV_ERROR;
    size_t room = limit < 0 ? CONN_INPUT_MAX : (size_t)limit;
    bool progress = false;
    d->in_blocked = false;
    while (room > 0) {
        struct evbuffer_iovec iv = {0};
        size_t in_len = evbuffer_peek(src, -1, NULL, &iv, 1) > 0 ? iv.iov_len : 0;
        struct evbuffer_iovec ov;
        size_t want = room < DEFLATE_CHUNK ? room : DEFLATE_CHUNK;
        if (evbuffer_reserve_space(dst, want, &ov, 1) < 1)
            return fail(d, "out of memory");
        if (ov.iov_len > want)
            ov.iov_len = want; /* never more than the session has room for */
        d->in.next_in = in_len ? iv.iov_base : NULL;
        d->in.avail_in = zlen(in_len);
        in_len = d->in.avail_in;
        d->in.next_out = ov.iov_base;
        d->in.avail_out = zlen(ov.iov_len);
        size_t out_room = d->in.avail_out;
        int r = inflate(&d->in, Z_SYNC_FLUSH);
        size_t used = in_len - d->in.avail_in;
        size_t made = out_room - d->in.avail_out;
        ov.iov_len = made;
        evbuffer_commit_space(dst, &ov, 1);
        evbuffer_drain(src, used);
        room -= made;
        if (used || made)
            progress = true;
        if (r == Z_STREAM_END) {
            /* The client ended its stream (Z_FINISH); what follows, if
             * anything, is a new one. */
            inflateReset(&d->in);
        } else if (r == Z_BUF_ERROR || (used == 0 && made == 0)) {
            break; /* needs more input */
        } else if (r != Z_OK) {
            return fail(d, d->in.msg ? d->in.msg : zError(r));
        }
        if (d->in.avail_out != 0 && evbuffer_get_length(src) == 0)
            break; /* every octet taken, every octet given */
    }
    /* Stopped for room: zlib may hold output already (a long match), with
     * nothing left below to bring us back; conn.c reading again does
     * (conn_deflate_kick). */
    if (room == 0)
        d->in_blocked = true;
    return progress ? BEV_OK : BEV_NEED_MORE;
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    if (c->deflate == NULL || c->reported || c->deflate->unflushed == 0)
        return;
    bufferevent_flush(c->bev, EV_WRITE, BEV_FLUSH);
}

/* Inflates what is already buffered (in zlib or the layer below): the
 * filter itself only runs when the layer below reads something new. */
static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    if (c->deflate == NULL || c->reported || c->closing)
        return;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    size_t before = evbuffer_get_length(in);
    bufferevent_flush(c->bev, EV_READ, BEV_NORMAL);
    if (evbuffer_get_length(in) > before)
        bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
}

bool conn_start_deflate(struct conn *c)
{
    if (c->deflate || c->reported || c->closing || c->bev == NULL)
        return false;
    if (c->ssl && !SSL_is_init_finished(c->ssl))
        return false; /* a handshake still running: no place for a layer */
    struct conn_deflate *d = xcalloc(1, sizeof(*d));
    if (deflateInit2(&d->out, Z_DEFAULT_COMPRESSION, Z_DEFLATED, DEFLATE_WINDOW_BITS,
                     DEFLATE_MEM_LEVEL, Z_DEFAULT_STRATEGY) != Z_OK) {
        free(d);
        return false;
    }
    if (inflateInit2(&d->in, DEFLATE_WINDOW_BITS) != Z_OK) {
        deflateEnd(&d->out);
        free(d);
        return false;
    }
    struct bufferevent *bev = bufferevent_filter_new(c->bev, inflate_filter, deflate_filter,
                                                     DEFLATE_BEV_OPTIONS, free_deflate, d);
    if (bev == NULL) {
        free_deflate(d);
        return false;
    }
    d->bev = bev;
    d->flush = event_new(c->base, -1, 0, on_flush, c);
    d->resume = event_new(c->base, -1, 0, on_resume, c);
    c->deflate = d;
    bool tls_reported = c->tls_reported; /* the handshake is behind us */
    conn_attach_bev(c, bev);
    c->tls_reported = tls_reported;
    if (c->paused || c->reading_held)
        bufferevent_disable(bev, EV_READ);
    /* Octets read after the COMPRESS command are the compressed stream. */
    conn_deflate_kick(c);
    return true;
}

bool conn_deflate_active(const struct conn *c)
{
    return c->deflate != NULL;
}

size_t conn_deflate_held(const struct conn *c)
{
    return c->deflate ? c->deflate->unflushed : 0;
}

const char *conn_deflate_error(const struct conn *c)
{
    return c->deflate && c->deflate->failed ? c->deflate->why : NULL;
}

void conn_deflate_kick(struct conn *c)
{
    struct conn_deflate *d = c->deflate;
    if (d == NULL || d->resume == NULL)
        return;
    struct bufferevent *under = bufferevent_get_underlying(c->bev);
    if (d->in_blocked || (under && evbuffer_get_length(bufferevent_get_input(under)) > 0))
        event_active(d->resume, EV_READ, 0);
}

void conn_deflate_detach(struct conn *c)
{
    struct conn_deflate *d = c->deflate;
    if (d == NULL)
        return;
    event_free(d->flush);
    event_free(d->resume);
    d->flush = NULL;
    d->resume = NULL;
    c->deflate = NULL;
}
