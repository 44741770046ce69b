/* The control sockets (see control.h): one command per connection. Who
 * may ask what is decided by the socket: run/control is 0660, so the kernel
 * lets only root, the service user and its group in; run/query is open to
 * everyone and answers list alone. The peer's uid (SO_PEERCRED) is logged. */
#include "control/control.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>

#include "control/listing.h"
#include "daemon.h"
#include "deliver/scheduler.h"
#include "lifecycle.h"
#include "net/conn.h"
#include "net/unix_listener.h"
#include "queue/queue.h"
#include "util/log.h"
#include "util/worker.h"
#include "util/xmalloc.h"

#define CONTROL_LINE_MAX   256
#define CONTROL_TIMEOUT_MS 10000 /* to send the command line */

struct control_conn {
    struct control *c;
    struct conn *conn; /* NULL once the peer went away during a reload */
    struct ucred peer;
    bool public;                /* came in on run/query: list only */
    struct worker_job *listing; /* a list command's job in flight */
    bool reloading;             /* reload-users answers later; it is not withdrawn */
    struct control_conn *prev, *next;
};

struct control {
    struct daemon *d;
    struct unix_listener *socks[2]; /* run/control, run/query */
    struct control_conn *conns;
};

static void cc_free(struct control_conn *cc)
{
    conn_free(&cc->conn);
    if (cc->prev)
        cc->prev->next = cc->next;
    else
        cc->c->conns = cc->next;
    if (cc->next)
        cc->next->prev = cc->prev;
    free(cc);
}

static void answer(struct control_conn *cc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void answer(struct control_conn *cc, const char *fmt, ...)
{
    /* Texts may quote a whole users-file error: no fixed bound. */
    char *text = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&text, fmt, ap);
    va_end(ap);
    if (n < 0)
        abort(); /* out of memory, as xmalloc does */
    conn_write(cc->conn, text, (size_t)n);
    conn_write(cc->conn, "\n", 1);
    free(text);
}

/* Sends what was answered, then closes (on_close frees the rest). */
static void finish(struct control_conn *cc)
{
    conn_close_after_write(cc->conn);
}

/* The job owns itself: it never points at the connection from a worker,
 * so a cancelled one (the peer left) may still be running safely. */
struct list_job {
    struct control_conn *cc; /* read on the loop only, in list_done */
    struct queue *queue;
    bool json;
    struct buf out;
    int rc;
};

static void list_job_free(void *arg)
{
    struct list_job *job = arg;
    buf_free(&job->out);
    free(job);
}

static void list_work(void *arg)
{
    struct list_job *job = arg;
    job->rc = control_listing(job->queue, job->json, &job->out);
}

static void list_done(void *arg)
{
    struct list_job *job = arg;
    struct control_conn *cc = job->cc;
    cc->listing = NULL;
    if (job->rc != 0) {
        answer(cc, "error cannot read the queue: %s", strerror(job->rc));
    } else {
        answer(cc, "ok");
        conn_write(cc->conn, job->out.data, job->out.len);
    }
    finish(cc);
    list_job_free(job);
}

static void users_done(void *arg, int rc, const char *text)
{
    struct control_conn *cc = arg;
    cc->reloading = false;
    if (cc->conn == NULL) {
        cc_free(cc); /* the peer left while the tables were read */
        return;
    }
    answer(cc, "%s %s", rc == 0 ? "ok" : "error", text);
    finish(cc);
}

static void flush(struct control_conn *cc, const char *id)
{
    size_t held;
    size_t n = scheduler_flush(cc->c->d->scheduler, id, &held);
    log_info("event=control command=flush id=%s messages=%zu held=%zu", id ? id : "all", n, held);
    if (id && n == 0 && held == 0)
        answer(cc, "error no such message: %s", id);
    else if (id && held)
        answer(cc,
               "ok %s is held and will not be tried; release it first (postern queue "
               "release %s)",
               id, id);
    else if (held)
        answer(cc,
               "ok %zu message%s will be tried now; %zu held message%s will not (release "
               "them first)",
               n, n == 1 ? "" : "s", held, held == 1 ? "" : "s");
    else
        answer(cc, "ok %zu message%s will be tried now", n, n == 1 ? "" : "s");
}

static void act(struct control_conn *cc, const char *verb, const char *id)
{
    struct scheduler *s = cc->c->d->scheduler;
    int rc;
    if (strcmp(verb, "delete") == 0)
        rc = scheduler_delete(s, id);
    else if (strcmp(verb, "hold") == 0)
        rc = scheduler_hold(s, id, true);
    else
        rc = scheduler_hold(s, id, false);
    log_info("event=control command=%s id=%s result=%s", verb, id,
             rc == EINPROGRESS ? "when_attempt_ends"
             : rc              ? strerror(rc)
                               : "ok");
    const char *done = verb[0] == 'd' ? "deleted" : verb[0] == 'h' ? "held" : "released";
    if (rc == ENOENT)
        answer(cc, "error no such message: %s", id);
    else if (rc == EINPROGRESS)
        answer(cc, "ok %s is being delivered right now; it will be %s when this attempt ends", id,
               done);
    else if (rc)
        answer(cc, "error %s", strerror(rc));
    else
        answer(cc, "ok %s %s", id, done);
}

/* Runs one command line; true when the answer is complete (else a job
 * answers later). */
static bool run(struct control_conn *cc, char *line)
{
    char *save = NULL;
    char *verb = strtok_r(line, " ", &save);
    char *arg = strtok_r(NULL, " ", &save);
    if (verb == NULL) {
        answer(cc, "error empty command");
        return true;
    }
    if (strtok_r(NULL, " ", &save) != NULL) {
        answer(cc, "error too many arguments");
        return true;
    }
    if (strcmp(verb, "list") == 0) {
        if (arg && strcmp(arg, "json") != 0) {
            answer(cc, "error list takes only json");
            return true;
        }
        struct list_job *job = xcalloc(1, sizeof(*job));
        job->cc = cc;
        job->queue = cc->c->d->queue;
        job->json = arg != NULL;
        buf_init(&job->out);
        cc->listing = worker_pool_submit(cc->c->d->workers, list_work, list_done, job);
        return false;
    }
    bool known = strcmp(verb, "flush") == 0 || strcmp(verb, "delete") == 0 ||
                 strcmp(verb, "hold") == 0 || strcmp(verb, "release") == 0 ||
                 strcmp(verb, "reload-users") == 0;
    if (!known) {
        answer(cc, "error unknown command %s", verb);
        return true;
    }
    /* Anyone may list the queue (as Postfix's mailq lets every user); the
     * rest is for those who may open run/control. */
    if (cc->public) {
        log_warn("event=control_refused command=%s uid=%u", log_q(verb), (unsigned)cc->peer.uid);
        answer(cc, "error permission denied: only root and the service user may %s", verb);
        return true;
    }
    log_info("event=control_request command=%s uid=%u", log_q(verb), (unsigned)cc->peer.uid);
    if (strcmp(verb, "reload-users") == 0) {
        if (arg) {
            answer(cc, "error reload-users takes no argument");
            return true;
        }
        cc->reloading = true;
        lifecycle_reload_users(cc->c->d, users_done, cc);
        return false;
    }
    if (arg && !queue_id_valid(arg)) {
        answer(cc, "error '%s' is not a queue id", arg);
        return true;
    }
    if (strcmp(verb, "flush") == 0)
        flush(cc, arg);
    else if (arg == NULL)
        answer(cc, "error %s needs a queue id", verb);
    else
        act(cc, verb, arg);
    return true;
}

static void on_read(struct conn *conn, void *arg)
{
    struct control_conn *cc = arg;
    struct evbuffer *in = conn_input(conn);
    size_t len;
    char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF);
    if (line == NULL) {
        if (evbuffer_get_length(in) > CONTROL_LINE_MAX)
            cc_free(cc);
        return;
    }
    /* One command per connection: what follows (the client's EOF, since
     * it shuts its side down) is not read; a job's time is not the peer's. */
    conn_pause(conn);
    conn_set_deadline(conn, 0);
    bool complete = true;
    if (len > CONTROL_LINE_MAX)
        answer(cc, "error line too long");
    else
        complete = run(cc, line);
    free(line);
    if (complete)
        finish(cc);
}

static void on_deadline(struct conn *conn, void *arg)
{
    cc_free(arg); /* no command line in time */
}

static void on_close(struct conn *conn, void *arg, const char *why)
{
    struct control_conn *cc = arg;
    if (cc->reloading) {
        /* The reload goes on (it is not the peer's to stop); users_done
         * frees the rest. */
        conn_free(&cc->conn);
        return;
    }
    worker_job_cancel(&cc->listing, list_job_free);
    cc_free(cc);
}

static const struct conn_callbacks control_callbacks = {
    .on_read = on_read,
    .on_deadline = on_deadline,
    .on_close = on_close,
};

static void on_accept(void *arg, int fd, const struct ucred *peer, bool public)
{
    struct control *c = arg;
    struct control_conn *cc = xcalloc(1, sizeof(*cc));
    cc->public = public;
    cc->peer = *peer;
    cc->c = c;
    cc->next = c->conns;
    if (c->conns)
        c->conns->prev = cc;
    c->conns = cc;
    cc->conn = conn_new(c->d->base, fd, NULL, 0, &control_callbacks, cc);
    conn_set_deadline(cc->conn, CONTROL_TIMEOUT_MS);
}

static void on_accept_control(void *arg, int fd, const struct ucred *peer)
{
    on_accept(arg, fd, peer, false);
}

static void on_accept_query(void *arg, int fd, const struct ucred *peer)
{
    on_accept(arg, fd, peer, true);
}

struct control *control_new(struct daemon *d, struct buf *err_r)
{
    struct control *c = xcalloc(1, sizeof(*c));
    c->d = d;
    char *control_path = xasprintf("%s/run/control", d->conf->data_dir);
    char *query_path = xasprintf("%s/run/query", d->conf->data_dir);
    c->socks[0] = unix_listener_new(d->base, control_path, 0660, on_accept_control, c, err_r);
    if (c->socks[0])
        c->socks[1] = unix_listener_new(d->base, query_path, 0666, on_accept_query, c, err_r);
    free(control_path);
    free(query_path);
    if (c->socks[1] == NULL)
        control_free(&c);
    return c;
}

void control_free(struct control **cp)
{
    struct control *c = *cp;
    if (c == NULL)
        return;
    for (size_t i = 0; i < 2; i++)
        unix_listener_free(&c->socks[i]);
    /* The workers are stopped (a reload's callback has run); a listing
     * still out would be discarded. */
    while (c->conns) {
        worker_job_cancel(&c->conns->listing, list_job_free);
        cc_free(c->conns);
    }
    free(c);
    *cp = NULL;
}
