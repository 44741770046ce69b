/* The POP3 session on the session skeleton (session/session.h): its hooks
 * (input modes per state, timeouts, shutdown, close), the replies, the
 * mailbox lock, and the scan and update of the mailbox. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/socket.h>

#include "daemon.h"
#include "deliver/maildir.h"
#include "net/conn.h"
#include "pop3d/mailbox.h"
#include "pop3d/pop3d.h"
#include "pop3d/session.h"
#include "snapshot.h"
#include "util/log.h"
#include "util/worker.h"
#include "util/xmalloc.h"

/* A scan (at login) or an update (at QUIT) of the mailbox. A scan belongs
 * to the worker pool until its done() runs, and is cancelled (through
 * s->scan) if the session goes first. An update is never cancelled: what
 * QUIT asked for is done; s is cleared if the daemon frees the session. */
struct pop3d_box_job {
    struct pop3d_session *s;
    char *path;
    struct pop3d_mailbox *box;
    int err;
    struct pop3d_update_result result;
};

static const struct session_ops pop3d_ops;

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
    session_close_after_write(&s->base);
}

void pop3d_bad_command(struct pop3d_session *s)
{
    session_bad_command(&s->base);
}

void pop3d_wait_command(struct pop3d_session *s)
{
    session_arm_idle(&s->base);
}

void pop3d_process_input(struct pop3d_session *s)
{
    session_process_input(&s->base);
}

bool pop3d_secure(const struct pop3d_session *s)
{
    return s->conn && conn_tls(s->conn) != NULL;
}

bool pop3d_login_allowed(const struct pop3d_session *s)
{
    return pop3d_secure(s) || s->snap->conf->pop3_allow_plaintext_auth;
}

bool pop3d_mailbox_in_use(const struct pop3d_session *s, const char *user)
{
    for (const struct session *o = s->d->session_list; o; o = o->next) {
        if (o->ops != &pop3d_ops || o == &s->base)
            continue;
        const struct pop3d_session *p = (const struct pop3d_session *)o;
        if (p->locked && strcmp(p->auth_user, user) == 0)
            return true;
    }
    return false;
}

static void release_mailbox(struct pop3d_session *s)
{
    s->locked = false;
    free(s->auth_user);
    s->auth_user = NULL;
    pop3d_mailbox_free(&s->box);
}

static void box_job_free(struct pop3d_box_job *job)
{
    pop3d_mailbox_free(&job->box);
    free(job->path);
    free(job);
}

static void box_job_discard(void *arg)
{
    box_job_free(arg);
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
    s->scan = NULL;
    if (s->state == POP3D_CLOSING) {
        box_job_free(job);
        return;
    }
    if (job->err) {
        log_error("event=pop3_mailbox_failed client=%s user=%s path=%s error=%s", s->ip,
                  log_q(s->auth_user), log_q(job->path), log_q(strerror(job->err)));
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
                 s->ip, log_q(s->auth_user), log_q(s->tls_info[0] ? s->tls_info : "none"),
                 s->box->n, (unsigned long long)octets, s->box->measured);
        s->state = POP3D_TRANSACTION;
        pop3d_reply_ok(s, "Logged in, %zu messages (%llu octets)", s->box->n,
                       (unsigned long long)octets);
    }
    box_job_free(job);
    pop3d_wait_command(s);
    pop3d_process_input(s);
}

void pop3d_open_mailbox(struct pop3d_session *s, const char *user)
{
    s->auth_user = xstrdup(user);
    s->locked = true;
    s->state = POP3D_LOADING;
    struct pop3d_box_job *job = xcalloc(1, sizeof(*job));
    job->s = s;
    job->path = maildir_path(s->snap->conf->data_dir, user);
    s->scan = worker_pool_submit(s->d->workers, scan_work, scan_done, job);
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
                 s->ip, log_q(s->auth_user), (unsigned long long)s->retrieved, r->removed, r->moved,
                 r->failed);
    if (s && s->dropped) {
        /* The client sent QUIT and left before our answer: done now. */
        s->update = NULL;
        session_free(&s->base);
    } else if (s) {
        s->update = NULL;
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
                 s->ip, log_q(s->auth_user), (unsigned long long)s->retrieved);
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
    s->update = job;
    s->state = POP3D_UPDATE;
    conn_pause(s->conn);
    worker_pool_submit(s->d->workers, update_work, update_done, job);
}

/* The skeleton's hooks. */

static struct pop3d_session *pop3(struct session *base)
{
    return (struct pop3d_session *)base;
}

static enum session_input op_input(struct session *base)
{
    switch (pop3(base)->state) {
    case POP3D_AUTHORIZATION:
    case POP3D_SASL:
    case POP3D_TRANSACTION:
        return SESSION_INPUT_LINE;
    case POP3D_AUTH_CHECK:
    case POP3D_LOADING:
    case POP3D_UPDATE:
        return SESSION_INPUT_BUSY;
    case POP3D_SENDING:
    case POP3D_CLOSING:
        break;
    }
    return SESSION_INPUT_HOLD;
}

static size_t op_line_max(struct session *base)
{
    return pop3(base)->state == POP3D_SASL ? POP3_SASL_LINE_MAX : POP3_LINE_MAX;
}

static bool op_on_line(struct session *base, const char *line, size_t len, bool more_input)
{
    struct pop3d_session *s = pop3(base);
    return s->state == POP3D_SASL ? pop3d_auth_response(s, line, len)
                                  : pop3d_dispatch(s, line, len);
}

static void op_on_line_error(struct session *base, enum line_result error, size_t max)
{
    struct pop3d_session *s = pop3(base);
    if (error == LINE_TOO_LONG)
        pop3d_reply_err(s, "Line too long (the limit is %zu octets with CRLF)", max);
    else
        pop3d_reply_err(s, "Lines must end with CRLF");
    if (s->state == POP3D_SASL)
        s->state = POP3D_AUTHORIZATION; /* the exchange is over */
}

static void op_too_many_errors(struct session *base)
{
    pop3d_close(pop3(base), "Too many errors, closing connection");
}

static void op_on_timeout(struct session *base)
{
    struct pop3d_session *s = pop3(base);
    if (s->state == POP3D_SENDING) {
        /* The client stopped reading the message: nothing can be said now. */
        log_info("event=pop3_timeout client=%s state=sending", s->ip);
        pop3d_close(s, NULL);
        return;
    }
    log_info("event=pop3_timeout client=%s state=%d", s->ip, (int)s->state);
    pop3d_close(s, "Disconnected for inactivity");
}

static void op_on_drained(struct session *base)
{
    pop3d_transfer_drained(pop3(base));
}

static void op_on_shutdown(struct session *base)
{
    /* Nothing a POP3 session does is lost by hanging up, except a QUIT's
     * update in progress: that one finishes and closes by itself. */
    struct pop3d_session *s = pop3(base);
    if (s->state != POP3D_UPDATE && s->state != POP3D_CLOSING)
        pop3d_close(s, s->state == POP3D_SENDING
                           ? NULL /* no text inside a message */
                           : "[SYS/TEMP] Server shutting down, try again later");
}

static void op_on_close_all(struct session *base)
{
    struct pop3d_session *s = pop3(base);
    if (s->state != POP3D_CLOSING && s->state != POP3D_SENDING)
        pop3d_reply_err(s, "[SYS/TEMP] Server shutting down, try again later");
}

static bool op_on_close(struct session *base, const char *why)
{
    struct pop3d_session *s = pop3(base);
    log_info("event=disconnect service=%s client=%s reason=%s user=%s retrieved=%llu",
             service_name(s->service), s->ip, log_q(why), log_q(s->auth_user ? s->auth_user : ""),
             (unsigned long long)s->retrieved);
    if (s->state == POP3D_UPDATE && s->update) {
        /* Keep the session (and its mailbox lock) until the update ends. */
        s->dropped = true;
        return true;
    }
    return false;
}

static void op_on_free(struct session *base)
{
    struct pop3d_session *s = pop3(base);
    pop3d_auth_cleanup(s);
    pop3d_transfer_cleanup(s);
    worker_job_cancel(&s->scan, box_job_discard);
    if (s->update) {
        s->update->s = NULL; /* the daemon exits: the deletions still happen */
        s->update = NULL;
    }
    release_mailbox(s);
}

static const struct session_ops pop3d_ops = {
    .proto = "pop3",
    .input = op_input,
    .line_max = op_line_max,
    .on_line = op_on_line,
    .on_line_error = op_on_line_error,
    .on_too_many_errors = op_too_many_errors,
    .on_timeout = op_on_timeout,
    .on_drained = op_on_drained,
    .on_shutdown = op_on_shutdown,
    .on_close_all = op_on_close_all,
    .on_close = op_on_close,
    .on_free = op_on_free,
};

void pop3d_session_start(struct daemon *d, enum service svc, int fd, const struct sockaddr *sa,
                         socklen_t salen)
{
    /* Replies end in a short last segment (the "." of LIST, a TLS record's
     * tail): the connection sets TCP_NODELAY, or Nagle would hold it for
     * the client's delayed ACK, about 40 ms per exchange. */
    struct pop3d_session *s =
        (struct pop3d_session *)session_new(d, sizeof(struct pop3d_session), &pop3d_ops, svc, fd,
                                            sa, salen, svc == SERVICE_POP3S ? d->snap->tls : NULL);
    s->idle_ms = s->snap->conf->pop3_timeout_ms;
    s->state = POP3D_AUTHORIZATION;
    pop3d_reply_ok(s, "%s Postern POP3 ready", s->snap->conf->hostname);
    pop3d_wait_command(s);
}
