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
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "control/listing.h"
#include "daemon.h"
#include "deliver/scheduler.h"
#include "lifecycle.h"
#include "queue/queue.h"
#include "util/log.h"
#include "util/worker.h"
#include "util/xmalloc.h"

#define CONTROL_LINE_MAX 256

struct control_conn {
    struct control *c;
    struct bufferevent *bev; /* NULL once the peer went away during a job */
    struct ucred peer;
    bool public; /* came in on run/query: list only */
    bool busy;   /* a worker job holds this connection */
    struct control_conn *prev, *next;
};

struct control_sock {
    struct control *c;
    struct evconnlistener *listener;
    char *path;
    bool public;
};

struct control {
    struct daemon *d;
    struct control_sock socks[2]; /* run/control, run/query */
    struct control_conn *conns;
};

static void conn_free(struct control_conn *cc)
{
    if (cc->bev)
        bufferevent_free(cc->bev);
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
    va_list ap;
    va_start(ap, fmt);
    evbuffer_add_vprintf(bufferevent_get_output(cc->bev), fmt, ap);
    va_end(ap);
    evbuffer_add(bufferevent_get_output(cc->bev), "\n", 1);
}

static void on_written(struct bufferevent *bev, void *arg)
{
    if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        conn_free(arg);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct control_conn *cc = arg;
    if (cc->busy) {
        /* The job's done() frees the rest. */
        bufferevent_free(cc->bev);
        cc->bev = NULL;
        return;
    }
    conn_free(cc);
}

/* Sends what was answered, then closes. */
static void finish(struct control_conn *cc)
{
    bufferevent_setcb(cc->bev, NULL, on_written, on_event, cc);
    bufferevent_enable(cc->bev, EV_WRITE);
    if (evbuffer_get_length(bufferevent_get_output(cc->bev)) == 0)
        conn_free(cc);
}

struct list_job {
    struct control_conn *cc;
    bool json;
    struct buf out;
    int rc;
};

static void list_work(void *arg)
{
    struct list_job *job = arg;
    job->rc = control_listing(job->cc->c->d->queue, job->json, &job->out);
}

static void list_done(void *arg)
{
    struct list_job *job = arg;
    struct control_conn *cc = job->cc;
    cc->busy = false;
    if (cc->bev == NULL) {
        conn_free(cc);
    } else {
        if (job->rc != 0) {
            answer(cc, "error cannot read the queue: %s", strerror(job->rc));
        } else {
            answer(cc, "ok");
            evbuffer_add(bufferevent_get_output(cc->bev), job->out.data, job->out.len);
        }
        finish(cc);
    }
    buf_free(&job->out);
    free(job);
}

static void users_done(void *arg, int rc, const char *text)
{
    struct control_conn *cc = arg;
    cc->busy = false;
    if (cc->bev == NULL) {
        conn_free(cc);
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
        job->json = arg != NULL;
        buf_init(&job->out);
        cc->busy = true;
        worker_pool_submit(cc->c->d->workers, list_work, list_done, job);
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
        cc->busy = true;
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

static void on_read(struct bufferevent *bev, void *arg)
{
    struct control_conn *cc = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t len;
    char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF);
    if (line == NULL) {
        if (evbuffer_get_length(in) > CONTROL_LINE_MAX)
            conn_free(cc);
        return;
    }
    bufferevent_disable(bev, EV_READ);
    bool complete = true;
    if (len > CONTROL_LINE_MAX)
        answer(cc, "error line too long");
    else
        complete = run(cc, line);
    free(line);
    if (complete)
        finish(cc);
    else
        bufferevent_setcb(bev, NULL, NULL, on_event, cc);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
                      void *arg)
{
    struct control_sock *sock = arg;
    struct control *c = sock->c;
    struct control_conn *cc = xcalloc(1, sizeof(*cc));
    cc->public = sock->public;
    socklen_t clen = sizeof(cc->peer);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cc->peer, &clen) != 0) {
        /* Unknown peer: treated as a stranger. */
        cc->peer.uid = (uid_t)-1;
        cc->peer.gid = (gid_t)-1;
    }
    cc->c = c;
    cc->next = c->conns;
    if (c->conns)
        c->conns->prev = cc;
    c->conns = cc;
    cc->bev = bufferevent_socket_new(evconnlistener_get_base(l), fd, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(cc->bev, on_read, NULL, on_event, cc);
    struct timeval tv = {10, 0};
    bufferevent_set_timeouts(cc->bev, &tv, &tv);
    bufferevent_enable(cc->bev, EV_READ | EV_WRITE);
}

static int sock_open(struct control *c, struct control_sock *sock, const char *name, bool public,
                     struct buf *err_r)
{
    sock->c = c;
    sock->public = public;
    sock->path = xasprintf("%s/run/%s", c->d->conf->data_dir, name);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (strlen(sock->path) >= sizeof(sun.sun_path)) {
        buf_printf(err_r, "%s: path too long for a unix socket\n", sock->path);
        return -1;
    }
    strcpy(sun.sun_path, sock->path);
    unlink(sock->path);
    mode_t old = umask(public ? 0111 : 0117);
    sock->listener = evconnlistener_new_bind(c->d->base, on_accept, sock,
                                             LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 16,
                                             (struct sockaddr *)&sun, sizeof(sun));
    umask(old);
    if (sock->listener == NULL) {
        buf_printf(err_r, "%s: cannot listen: %s\n", sock->path, strerror(errno));
        return -1;
    }
    return 0;
}

struct control *control_new(struct daemon *d, struct buf *err_r)
{
    struct control *c = xcalloc(1, sizeof(*c));
    c->d = d;
    if (sock_open(c, &c->socks[0], "control", false, err_r) != 0 ||
        sock_open(c, &c->socks[1], "query", true, err_r) != 0) {
        control_free(&c);
        return NULL;
    }
    return c;
}

void control_free(struct control **cp)
{
    struct control *c = *cp;
    if (c == NULL)
        return;
    for (size_t i = 0; i < 2; i++) {
        if (c->socks[i].listener) {
            evconnlistener_free(c->socks[i].listener);
            unlink(c->socks[i].path);
        }
        free(c->socks[i].path);
    }
    /* The workers are stopped: no job holds a connection any more. */
    while (c->conns)
        conn_free(c->conns);
    free(c);
    *cp = NULL;
}
