/* The client side of the session tests (test_smtpd_session.c,
 * test_pop3d_session.c): one end of a socket pair, the other end being the
 * server session's connection on a real event loop. fc_send() writes what
 * the client says; fc_wait() runs the loop until the server's output holds
 * a complete reply (as the caller's `complete` function defines it), the
 * server closed, or a time limit passed; fc_take() hands out the reply. */
#ifndef POSTERN_TESTS_FAKE_CLIENT_H
#define POSTERN_TESTS_FAKE_CLIENT_H

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

struct fake_client {
    struct event_base *base;
    int fd;
    char in[256 * 1024]; /* what the server wrote and the test did not take yet */
    size_t len;
    bool eof; /* the server closed its side */
};

/* The length of the first complete reply in buf, or 0. */
typedef size_t (*fc_complete_fn)(const char *buf, size_t len);

/* How far early a libevent timer may fire as measured by fc_now_ms():
 * libevent reads CLOCK_MONOTONIC_COARSE (a tick of up to 4 ms). */
#define FC_CLOCK_SLACK_MS 10

static inline uint64_t fc_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* Makes the pair; returns the server's end (for *_session_start). */
static inline int fc_open(struct fake_client *c, struct event_base *base)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return -1;
    c->base = base;
    c->fd = sv[1];
    c->len = 0;
    c->eof = false;
    fcntl(c->fd, F_SETFL, O_NONBLOCK);
    return sv[0];
}

static inline void fc_close(struct fake_client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

/* One pass of the loop, waiting at most 2 ms for an event, then reads. */
static inline void fc_pump(struct fake_client *c)
{
    struct timeval tv = {0, 2000};
    event_base_loopexit(c->base, &tv);
    event_base_dispatch(c->base);
    while (!c->eof && c->len < sizeof(c->in)) {
        ssize_t n = read(c->fd, c->in + c->len, sizeof(c->in) - c->len);
        if (n > 0)
            c->len += (size_t)n;
        else if (n == 0 || (errno != EAGAIN && errno != EINTR))
            c->eof = true;
        else
            break;
    }
}

/* Runs the loop for about ms milliseconds. */
static inline void fc_run_for(struct fake_client *c, unsigned ms)
{
    uint64_t end = fc_now_ms() + ms;
    do
        fc_pump(c);
    while (fc_now_ms() < end);
}

/* The length of the first complete reply, once there is one; 0 when the
 * server closed without one or ms passed. */
static inline size_t fc_wait(struct fake_client *c, fc_complete_fn complete, unsigned ms)
{
    uint64_t end = fc_now_ms() + ms;
    for (;;) {
        size_t n = complete(c->in, c->len);
        if (n > 0)
            return n;
        if (c->eof || fc_now_ms() >= end)
            return 0;
        fc_pump(c);
    }
}

/* The first n octets as a string (in out, of size outlen), removed from
 * what was received. */
static inline const char *fc_take(struct fake_client *c, size_t n, char *out, size_t outlen)
{
    size_t k = n < outlen - 1 ? n : outlen - 1;
    memcpy(out, c->in, k);
    out[k] = '\0';
    memmove(c->in, c->in + n, c->len - n);
    c->len -= n;
    return out;
}

static inline void fc_send_raw(struct fake_client *c, const char *data, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(c->fd, data + off, len - off, MSG_NOSIGNAL);
        if (n > 0)
            off += (size_t)n;
        else if (n < 0 && errno == EAGAIN)
            fc_pump(c); /* the server reads on */
        else
            return; /* the server is gone: its replies say so */
    }
}

static inline void fc_send(struct fake_client *c, const char *text)
{
    fc_send_raw(c, text, strlen(text));
}

/* Waits until the server closed (true) or ms passed (false). */
static inline bool fc_wait_eof(struct fake_client *c, unsigned ms)
{
    uint64_t end = fc_now_ms() + ms;
    while (!c->eof && fc_now_ms() < end)
        fc_pump(c);
    return c->eof;
}

static inline const struct sockaddr *fc_peer(socklen_t *len)
{
    static struct sockaddr_in peer;
    peer.sin_family = AF_INET;
    peer.sin_addr.s_addr = htonl(0x7f000001);
    *len = sizeof(peer);
    return (const struct sockaddr *)&peer;
}

#endif
