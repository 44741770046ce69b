/* The POP3 session's life cycle: greeting, the input loop, replies,
 * deadlines, the mailbox lock, and the scan and update of the mailbox. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/crypto.h>

#include "daemon.h"
#include "deliver/maildir.h"
#include "lifecycle.h"
#include "net/addr.h"
#include "net/conn.h"
#include "net/listener.h"
#include "net/tls.h"
#include "pop3d/mailbox.h"
#include "pop3d/pop3d.h"
#include "pop3d/session.h"
#include "util/log.h"
#include "util/worker.h"
#include "util/xmalloc.h"

/* A scan (at login) or an update (at QUIT) of the mailbox. Owned by the
 * worker pool while it runs; s is cleared if the session goes first. */
struct pop3d_box_job {
    struct pop3d_session *s;
    char *path;
    struct pop3d_mailbox *box;
    int err;
    struct pop3d_update_result result;
};

static void on_read(struct conn *c, void *arg);
static void on_deadline(struct conn *c, void *arg);
static void on_close(struct conn *c, void *arg, const char *why);

static const struct conn_callbacks pop3d_conn_callbacks = {
    .on_read = on_read,
    .on_deadline = on_deadline,
    .on_close = on_close,
};

static void reply(struct pop3d_session *s, const char *status, const char *fmt, va_list ap)
{
    if (s->conn == NULL)
        return;
    char text[512];
    vsnprintf(text, sizeof(text), fmt, ap);
    conn_printf(s->conn, "%s %s\r\n", status, text);
}

void pop3d_reply_ok(struct pop3d_session *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    reply(s, "+OK", fmt, ap);
    va_end(ap);
}

void pop3d_reply_err(struct pop3d_session *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    reply(s, "-ERR", fmt, ap);
    va_end(ap);
}

void pop3d_close(struct pop3d_session *s, const char *text)
{
    if (s->state == POP3D_CLOSING || s->conn == NULL)
        return;
    if (text)
        pop3d_reply_err(s, "%s", text);
    /* The session is over for the client: its mailbox is free at once, even
     * if our last words take a while to leave. A QUIT's update keeps the
     * lock until its done() runs. */
    if (s->state != POP3D_UPDATE)
        s->locked = false;
    s->state = POP3D_CLOSING;
    conn_close_after_write(s->conn);
}

void pop3d_bad_command(struct pop3d_session *s)
{
    if (++s->bad_commands >= s->d->conf->bad_commands) {
        log_warn("event=pop3_too_many_errors client=%s errors=%u", s->ip, s->bad_commands);
        pop3d_close(s, "Too many errors, closing connection");
    }
}

void pop3d_wait_command(struct pop3d_session *s)
{
    if (s->conn)
        conn_set_deadline(s->conn, s->d->conf->pop3_timeout_ms);
}

bool pop3d_secure(const struct pop3d_session *s)
{
    return s->conn && conn_tls(s->conn) != NULL;
}

bool pop3d_login_allowed(const struct pop3d_session *s)
{
    return pop3d_secure(s) || s->d->conf->pop3_allow_plaintext_auth;
}

bool pop3d_mailbox_in_use(const struct pop3d_session *s, const char *login)
{
    for (const struct pop3d_session *o = s->d->pop3_sessions; o; o = o->next)
        if (o != s && o->locked && strcmp(o->login, login) == 0)
            return true;
    return false;
}

static void release_mailbox(struct pop3d_session *s)
{
    s->locked = false;
    free(s->login);
    s->login = NULL;
    pop3d_mailbox_free(&s->box);
}

static void session_free(struct pop3d_session *s)
{
    pop3d_auth_cleanup(s);
    pop3d_transfer_cleanup(s);
    if (s->box_job) {
        s->box_job->s = NULL;
        s->box_job = NULL;
    }
    release_mailbox(s);
    listener_release(s->d->listeners, s->service, s->ip);
    s->d->sessions--;
    if (s->prev)
        s->prev->next = s->next;
    else
        s->d->pop3_sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    struct daemon *d = s->d;
    conn_free(&s->conn);
    free(s);
    lifecycle_session_ended(d);
}

static void box_job_free(struct pop3d_box_job *job)
{
    pop3d_mailbox_free(&job->box);
    free(job->path);
    free(job);
}

static void scan_work(void *arg)
{
    struct pop3d_box_job *job = arg;
    job->err = pop3d_mailbox_scan(job->path, &job->box);
}

static void scan_done(void *arg)
{
    struct pop3d_box_job *job = arg;
    struct pop3d_session *s = job->s;
    if (s == NULL) {
        box_job_free(job);
        return;
    }
    s->box_job = NULL;
    if (s->state == POP3D_CLOSING) {
        box_job_free(job);
        return;
    }
    if (job->err) {
        log_error("event=pop3_mailbox_failed client=%s user=%s path=%s error=%s", s->ip,
                  log_q(s->login), log_q(job->path), log_q(strerror(job->err)));
        pop3d_reply_err(s, "[SYS/TEMP] Cannot open your mailbox, try again later");
        release_mailbox(s);
        s->state = POP3D_AUTHORIZATION;
    } else {
        s->box = job->box;
        job->box = NULL;
        uint64_t octets = 0;
        for (size_t i = 0; i < s->box->n; i++)
            octets += s->box->msgs[i].size;
        log_info("event=pop3_login client=%s user=%s tls=%s messages=%zu octets=%llu "
                 "measured=%zu",
                 s->ip, log_q(s->login), log_q(s->tls_info[0] ? s->tls_info : "none"), s->box->n,
                 (unsigned long long)octets, s->box->measured);
        s->state = POP3D_TRANSACTION;
        pop3d_reply_ok(s, "Logged in, %zu messages (%llu octets)", s->box->n,
                       (unsigned long long)octets);
    }
    box_job_free(job);
    pop3d_wait_command(s);
    pop3d_process_input(s);
}

void pop3d_open_mailbox(struct pop3d_session *s, const char *login)
{
    s->login = xstrdup(login);
    s->locked = true;
    s->state = POP3D_LOADING;
    struct pop3d_box_job *job = xcalloc(1, sizeof(*job));
    job->s = s;
    job->path = maildir_path(s->d->conf->data_dir, login);
    s->box_job = job;
    worker_pool_submit(s->d->workers, scan_work, scan_done, job);
}

static void update_work(void *arg)
{
    struct pop3d_box_job *job = arg;
    pop3d_mailbox_update(job->box, &job->result);
}

static void update_done(void *arg)
{
    struct pop3d_box_job *job = arg;
    struct pop3d_session *s = job->s;
    const struct pop3d_update_result *r = &job->result;
    if (s)
        log_info("event=pop3_logout client=%s user=%s retrieved=%llu deleted=%zu moved=%zu "
                 "failed=%zu",
                 s->ip, log_q(s->login), (unsigned long long)s->retrieved, r->removed, r->moved,
                 r->failed);
    if (s && s->dropped) {
        /* The client sent QUIT and left before our answer: done now. */
        s->box_job = NULL;
        session_free(s);
    } else if (s) {
        s->box_job = NULL;
        s->locked = false; /* done with the mailbox: a new session may open it */
        if (r->failed)
            pop3d_reply_err(s, "[SYS/TEMP] %zu deleted message(s) could not be removed", r->failed);
        else
            pop3d_reply_ok(s, "Logging out, %zu message(s) deleted", r->removed);
        pop3d_close(s, NULL);
    }
    box_job_free(job);
}

void pop3d_quit_update(struct pop3d_session *s)
{
    bool changes = false;
    for (size_t i = 0; i < s->box->n && !changes; i++)
        changes = s->box->msgs[i].deleted || (s->box->msgs[i].retrieved && !s->box->msgs[i].in_cur);
    if (!changes) {
        log_info("event=pop3_logout client=%s user=%s retrieved=%llu deleted=0 moved=0 failed=0",
                 s->ip, log_q(s->login), (unsigned long long)s->retrieved);
        s->locked = false;
        pop3d_reply_ok(s, "Logging out");
        pop3d_close(s, NULL);
        return;
    }
    /* The job owns the snapshot now: even if the client or the daemon goes
     * away, what QUIT asked for is done. */
    struct pop3d_box_job *job = xcalloc(1, sizeof(*job));
    job->s = s;
    job->box = s->box;
    s->box = NULL;
    s->box_job = job;
    s->state = POP3D_UPDATE;
    conn_pause(s->conn);
    worker_pool_submit(s->d->workers, update_work, update_done, job);
}

/* Splits the buffered input into lines and hands each to its handler,
 * until the input runs out or the session must wait. */
void pop3d_process_input(struct pop3d_session *s)
{
    if (s->conn == NULL)
        return;
    struct evbuffer *in = conn_input(s->conn);
    for (;;) {
        size_t avail = evbuffer_get_length(in);
        if (avail == 0)
            return;
        if (s->state != POP3D_AUTHORIZATION && s->state != POP3D_SASL &&
            s->state != POP3D_TRANSACTION)
            return; /* busy, or closing: the input waits */
        if (s->tls_info[0] == '\0' && conn_tls(s->conn))
            tls_describe(conn_tls(s->conn), s->tls_info, sizeof(s->tls_info));
        size_t max = s->state == POP3D_SASL ? POP3_SASL_LINE_MAX : POP3_LINE_MAX;
        size_t look = avail < max ? avail : max;
        const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)look);
        size_t line_len, consumed;
        enum pop3_line_result r =
            pop3_line_next(&s->line_reader, p, look, max, &line_len, &consumed);
        if (r == POP3_LINE_NEED_MORE) {
            evbuffer_drain(in, consumed);
            if (consumed == 0)
                return;
            continue;
        }
        if (r == POP3_LINE_TOO_LONG || r == POP3_LINE_BARE_LF) {
            evbuffer_drain(in, consumed);
            if (r == POP3_LINE_TOO_LONG)
                pop3d_reply_err(s, "Line too long (the limit is %zu octets with CRLF)", max);
            else
                pop3d_reply_err(s, "Lines must end with CRLF");
            if (s->state == POP3D_SASL)
                s->state = POP3D_AUTHORIZATION; /* the exchange is over */
            pop3d_bad_command(s);
            continue;
        }
        char *line = xstrndup(p, line_len);
        evbuffer_drain(in, consumed);
        bool go_on = s->state == POP3D_SASL ? pop3d_auth_response(s, line, line_len)
                                            : pop3d_dispatch(s, line, line_len);
        OPENSSL_cleanse(line, line_len);
        free(line);
        if (s->conn == NULL)
            return;
        if (s->state == POP3D_AUTHORIZATION || s->state == POP3D_SASL ||
            s->state == POP3D_TRANSACTION)
            pop3d_wait_command(s); /* the inactivity timer restarts */
        if (!go_on)
            return;
    }
}

static void on_read(struct conn *c, void *arg)
{
    pop3d_process_input(arg);
}

static void on_deadline(struct conn *c, void *arg)
{
    struct pop3d_session *s = arg;
    switch (s->state) {
    case POP3D_AUTH_CHECK:
    case POP3D_LOADING:
    case POP3D_UPDATE:
        /* Our own work is slow; the client waits. */
        pop3d_wait_command(s);
        return;
    case POP3D_SENDING:
        /* The client stopped reading the message: nothing can be said now. */
        log_info("event=pop3_timeout client=%s state=sending", s->ip);
        pop3d_close(s, NULL);
        return;
    default:
        log_info("event=pop3_timeout client=%s state=%d", s->ip, (int)s->state);
        pop3d_close(s, "Disconnected for inactivity");
    }
}

static void on_close(struct conn *c, void *arg, const char *why)
{
    struct pop3d_session *s = arg;
    log_info("event=disconnect service=%s client=%s reason=%s user=%s retrieved=%llu",
             service_name(s->service), s->ip, log_q(why), log_q(s->login ? s->login : ""),
             (unsigned long long)s->retrieved);
    if (s->state == POP3D_UPDATE && s->box_job) {
        /* Keep the session (and its mailbox lock) until the update ends. */
        s->dropped = true;
        conn_free(&s->conn);
        return;
    }
    session_free(s);
}

void pop3d_session_start(struct daemon *d, enum service svc, int fd, const struct sockaddr *sa,
                         socklen_t salen)
{
    struct pop3d_session *s = xcalloc(1, sizeof(*s));
    s->d = d;
    s->service = svc;
    sockaddr_ip(sa, s->ip, sizeof(s->ip));
    /* Replies end in a short last segment (the "." of LIST, a TLS record's
     * tail): without this, Nagle holds it for the client's delayed ACK,
     * about 40 ms per exchange. */
    int one = 1;
    if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    s->conn = conn_new_tls(d->base, fd, sa, salen, svc == SERVICE_POP3S ? d->tls : NULL,
                           &pop3d_conn_callbacks, s);
    d->sessions++;
    s->next = d->pop3_sessions;
    if (s->next)
        s->next->prev = s;
    d->pop3_sessions = s;
    log_info("event=connect service=%s client=%s", service_name(svc), s->ip);
    s->state = POP3D_AUTHORIZATION;
    pop3d_reply_ok(s, "%s Postern POP3 ready", d->conf->hostname);
    pop3d_wait_command(s);
}

void pop3d_shutdown_begin(struct daemon *d)
{
    /* Nothing a POP3 session does is lost by hanging up, except a QUIT's
     * update in progress: that one finishes and closes by itself. */
    for (struct pop3d_session *s = d->pop3_sessions; s; s = s->next)
        if (s->state != POP3D_UPDATE && s->state != POP3D_CLOSING)
            pop3d_close(s, s->state == POP3D_SENDING
                               ? NULL /* no text inside a message */
                               : "[SYS/TEMP] Server shutting down, try again later");
}

void pop3d_close_all(struct daemon *d)
{
    while (d->pop3_sessions) {
        struct pop3d_session *s = d->pop3_sessions;
        if (s->state != POP3D_CLOSING && s->state != POP3D_SENDING)
            pop3d_reply_err(s, "[SYS/TEMP] Server shutting down, try again later");
        log_info("event=disconnect service=%s client=%s reason=shutdown", service_name(s->service),
                 s->ip);
        session_free(s);
    }
}
