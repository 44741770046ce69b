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

#include "daemon.h"
#include "deliver/scheduler.h"
#include "queue/queue.h"
#include "util/log.h"
#include "util/xmalloc.h"

#define CONTROL_LINE_MAX 256

struct control {
    struct daemon *d;
    struct evconnlistener *listener;
    char *path;
};

static void answer(struct bufferevent *bev, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void answer(struct bufferevent *bev, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    evbuffer_add_vprintf(bufferevent_get_output(bev), fmt, ap);
    va_end(ap);
    evbuffer_add(bufferevent_get_output(bev), "\n", 1);
}

static void run(struct control *c, struct bufferevent *bev, char *line)
{
    char *verb = strtok(line, " ");
    char *id = strtok(NULL, " ");
    if (verb == NULL) {
        answer(bev, "error empty command");
        return;
    }
    if (id && !queue_id_valid(id)) {
        answer(bev, "error '%s' is not a queue id", id);
        return;
    }
    struct scheduler *s = c->d->scheduler;
    int rc;
    if (strcmp(verb, "flush") == 0) {
        size_t n = scheduler_flush(s, id);
        if (id && n == 0)
            answer(bev, "error no such message: %s", id);
        else
            answer(bev, "ok %zu message%s will be tried now", n, n == 1 ? "" : "s");
        log_info("event=control command=flush id=%s messages=%zu", id ? id : "all", n);
        return;
    }
    if (id == NULL) {
        answer(bev, "error %s needs a queue id", verb);
        return;
    }
    if (strcmp(verb, "delete") == 0)
        rc = scheduler_delete(s, id);
    else if (strcmp(verb, "hold") == 0)
        rc = scheduler_hold(s, id, true);
    else if (strcmp(verb, "release") == 0)
        rc = scheduler_hold(s, id, false);
    else {
        answer(bev, "error unknown command %s", verb);
        return;
    }
    log_info("event=control command=%s id=%s result=%s", verb, id,
             rc == EINPROGRESS ? "when_attempt_ends"
             : rc              ? strerror(rc)
                               : "ok");
    if (rc == ENOENT)
        answer(bev, "error no such message: %s", id);
    else if (rc == EINPROGRESS)
        answer(bev, "ok %s is being delivered right now; it will be %s when this attempt ends", id,
               verb[0] == 'd'   ? "deleted"
               : verb[0] == 'h' ? "held"
                                : "released");
    else if (rc)
        answer(bev, "error %s", strerror(rc));
    else
        answer(bev, "ok %s %s", id,
               verb[0] == 'd'   ? "deleted"
               : verb[0] == 'h' ? "held"
                                : "released");
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    bufferevent_free(bev);
}

static void on_written(struct bufferevent *bev, void *arg)
{
    if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        bufferevent_free(bev);
}

static void on_read(struct bufferevent *bev, void *arg)
{
    struct control *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t len;
    char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF);
    if (line == NULL) {
        if (evbuffer_get_length(in) > CONTROL_LINE_MAX)
            bufferevent_free(bev);
        return;
    }
    bufferevent_disable(bev, EV_READ);
    if (len > CONTROL_LINE_MAX)
        answer(bev, "error line too long");
    else
        run(c, bev, line);
    free(line);
    bufferevent_setcb(bev, NULL, on_written, on_event, c);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
                      void *arg)
{
    struct bufferevent *bev =
        bufferevent_socket_new(evconnlistener_get_base(l), fd, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(bev, on_read, NULL, on_event, arg);
    struct timeval tv = {10, 0};
    bufferevent_set_timeouts(bev, &tv, &tv);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

struct control *control_new(struct daemon *d, struct buf *err_r)
{
    struct control *c = xcalloc(1, sizeof(*c));
    c->d = d;
    c->path = xasprintf("%s/run/control", d->conf->data_dir);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (strlen(c->path) >= sizeof(sun.sun_path)) {
        buf_printf(err_r, "%s: path too long for a unix socket\n", c->path);
        control_free(&c);
        return NULL;
    }
    strcpy(sun.sun_path, c->path);
    unlink(c->path);
    mode_t old = umask(0117);
    c->listener = evconnlistener_new_bind(d->base, on_accept, c,
                                          LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 16,
                                          (struct sockaddr *)&sun, sizeof(sun));
    umask(old);
    if (c->listener == NULL) {
        buf_printf(err_r, "%s: cannot listen: %s\n", c->path, strerror(errno));
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
    if (c->listener) {
        evconnlistener_free(c->listener);
        unlink(c->path);
    }
    free(c->path);
    free(c);
    *cp = NULL;
}
