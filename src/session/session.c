/* The session skeleton (see session.h): the life cycle, the registry of
 * live sessions, the input loop, deadlines, error counting, shutdown. */
#include "session/session.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/crypto.h>

#include "daemon.h"
#include "lifecycle.h"
#include "net/addr.h"
#include "net/conn.h"
#include "net/listener.h"
#include "net/tls.h"
#include "snapshot.h"
#include "util/log.h"
#include "util/xmalloc.h"

static void on_read(struct conn *c, void *arg)
{
    session_process_input(arg);
}

static void on_deadline(struct conn *c, void *arg)
{
    struct session *s = arg;
    if (s->closing)
        return;
    if (s->paused || s->ops->input(s) == SESSION_INPUT_BUSY) {
        /* Our own work is slow (or the pause runs); the client waits. */
        session_arm_idle(s);
        return;
    }
    s->ops->on_timeout(s);
}

static void on_drained(struct conn *c, void *arg)
{
    struct session *s = arg;
    if (s->ops->on_drained)
        s->ops->on_drained(s);
}

static void describe_tls(struct session *s)
{
    if (s->tls_info[0] == '\0' && s->conn && conn_tls(s->conn))
        tls_describe(conn_tls(s->conn), s->tls_info, sizeof(s->tls_info));
}

static void on_tls_done(struct conn *c, void *arg)
{
    struct session *s = arg;
    describe_tls(s);
    if (s->ops->on_tls_done)
        s->ops->on_tls_done(s);
}

static void on_close(struct conn *c, void *arg, const char *why)
{
    struct session *s = arg;
    if (s->ops->on_close(s, why)) {
        s->closing = true;
        conn_free(&s->conn);
        return;
    }
    session_free(s);
}

static const struct conn_callbacks session_conn_callbacks = {
    .on_read = on_read,
    .on_deadline = on_deadline,
    .on_close = on_close,
    .on_drained = on_drained,
    .on_tls_done = on_tls_done,
};

struct session *session_new(struct daemon *d, size_t size, const struct session_ops *ops,
                            enum service svc, int fd, const struct sockaddr *sa, socklen_t salen,
                            SSL_CTX *implicit_tls)
{
    struct session *s = xcalloc(1, size < sizeof(*s) ? sizeof(*s) : size);
    s->d = d;
    s->ops = ops;
    s->service = svc;
    s->snap = snapshot_ref(d->snap);
    sockaddr_ip(sa, s->ip, sizeof(s->ip));
    s->conn = conn_new_tls(d->base, fd, sa, salen, implicit_tls, &session_conn_callbacks, s);
    d->sessions++;
    s->next = d->session_list;
    if (s->next)
        s->next->prev = s;
    d->session_list = s;
    log_info("event=connect service=%s client=%s", service_name(svc), s->ip);
    return s;
}

void session_free(struct session *s)
{
    struct daemon *d = s->d;
    s->ops->on_free(s);
    session_release_slot(s);
    if (s->pause_timer)
        event_free(s->pause_timer);
    d->sessions--;
    if (s->prev)
        s->prev->next = s->next;
    else
        d->session_list = s->next;
    if (s->next)
        s->next->prev = s->prev;
    conn_free(&s->conn);
    snapshot_unref(&s->snap);
    free(s);
    lifecycle_session_ended(d);
}

void session_release_slot(struct session *s)
{
    if (s->evicted)
        return;
    s->evicted = true;
    if (s->d->listeners)
        listener_release(s->d->listeners, s->service, s->ip);
}

void session_arm_idle(struct session *s)
{
    if (s->conn && !s->closing)
        conn_set_deadline(s->conn, s->idle_ms);
}

void session_close_after_write(struct session *s)
{
    if (s->closing)
        return;
    s->closing = true;
    if (s->conn)
        conn_close_after_write(s->conn);
}

void session_bad_command(struct session *s)
{
    if (s->closing)
        return;
    if (++s->bad_commands >= s->snap->conf->bad_commands) {
        log_warn("event=%s_too_many_errors client=%s errors=%u", s->ops->proto, s->ip,
                 s->bad_commands);
        s->ops->on_too_many_errors(s);
    }
}

static void pause_end(evutil_socket_t fd, short what, void *arg)
{
    struct session *s = arg;
    s->paused = false;
    if (s->closing)
        return;
    if (s->ops->on_resume)
        s->ops->on_resume(s);
    session_process_input(s);
}

void session_pause_input(struct session *s, unsigned ms)
{
    if (ms == 0 || s->closing)
        return;
    if (s->pause_timer == NULL)
        s->pause_timer = evtimer_new(s->d->base, pause_end, s);
    s->paused = true;
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(s->pause_timer, &tv);
}

/* One line from the buffer, if a complete one is there. False when the
 * loop must stop. */
static bool line_step(struct session *s, struct evbuffer *in, size_t avail)
{
    describe_tls(s);
    size_t max = s->ops->line_max(s);
    size_t look = avail < max ? avail : max;
    const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)look);
    size_t line_len = 0, consumed = 0;
    enum line_result r = line_next(&s->line_reader, p, look, max, &line_len, &consumed);
    if (r == LINE_NEED_MORE) {
        evbuffer_drain(in, consumed);
        return consumed > 0;
    }
    if (r != LINE_OK) {
        evbuffer_drain(in, consumed);
        s->ops->on_line_error(s, r, max);
        session_bad_command(s);
        return true;
    }
    char *line = xstrndup(p, line_len);
    evbuffer_drain(in, consumed);
    bool more = evbuffer_get_length(in) > 0;
    bool go_on = s->ops->on_line(s, line, line_len, more);
    /* Lines may carry credentials (AUTH, PASS). */
    OPENSSL_cleanse(line, line_len);
    free(line);
    /* Each command gets its own deadline, counted from our reply, not from
     * the first octet of the session (RFC 5321 4.5.3.2). */
    if (s->conn && !s->closing && !s->paused && s->ops->input(s) == SESSION_INPUT_LINE)
        session_arm_idle(s);
    return go_on;
}

void session_process_input(struct session *s)
{
    for (;;) {
        if (s->conn == NULL || s->closing || s->paused)
            return;
        struct evbuffer *in = conn_input(s->conn);
        size_t avail = evbuffer_get_length(in);
        if (avail == 0)
            return;
        enum session_input mode = s->ops->input(s);
        if (mode == SESSION_INPUT_RAW) {
            struct evbuffer_iovec vec;
            if (evbuffer_peek(in, -1, NULL, &vec, 1) < 1)
                return;
            size_t used = s->ops->on_raw(s, vec.iov_base, vec.iov_len);
            if (s->conn == NULL)
                return;
            evbuffer_drain(in, used);
            if (used == 0)
                return;
            continue;
        }
        if (mode != SESSION_INPUT_LINE)
            return; /* busy or holding: the input waits */
        if (!line_step(s, in, avail))
            return;
    }
}

void session_shutdown_begin(struct daemon *d)
{
    /* The hooks close asynchronously: the registry does not change here. */
    for (struct session *s = d->session_list; s; s = s->next)
        if (s->ops->on_shutdown)
            s->ops->on_shutdown(s);
}

void session_close_all(struct daemon *d)
{
    while (d->session_list) {
        struct session *s = d->session_list;
        if (s->ops->on_close_all)
            s->ops->on_close_all(s);
        log_info("event=disconnect service=%s client=%s reason=shutdown", service_name(s->service),
                 s->ip);
        session_free(s);
    }
}
