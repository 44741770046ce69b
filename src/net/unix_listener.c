/* A listening unix socket at a path (see unix_listener.h): made with the
 * requested mode, accepted through libevent, removed when freed. */
#include "net/unix_listener.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "util/log.h"
#include "util/xmalloc.h"

#define UNIX_LISTEN_BACKLOG 16

struct unix_listener {
    struct evconnlistener *ev;
    char *path;
    unix_accept_fn fn;
    void *arg;
};

static void on_accept(struct evconnlistener *ev, evutil_socket_t fd, struct sockaddr *sa, int len,
                      void *arg)
{
    struct unix_listener *l = arg;
    struct ucred peer;
    socklen_t plen = sizeof(peer);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &plen) != 0) {
        peer.pid = 0;
        peer.uid = (uid_t)-1;
        peer.gid = (gid_t)-1;
    }
    l->fn(l->arg, fd, &peer);
}

static void reenable(evutil_socket_t fd, short what, void *arg)
{
    evconnlistener_enable(arg);
}

static void on_accept_error(struct evconnlistener *ev, void *arg)
{
    struct unix_listener *l = arg;
    int e = EVUTIL_SOCKET_ERROR();
    log_error("event=accept_failed listen=%s error=%s", log_q(l->path), log_q(strerror(e)));
    if (e == EMFILE || e == ENFILE) {
        /* Out of descriptors: pause once instead of spinning on the error. */
        evconnlistener_disable(ev);
        struct timeval tv = {1, 0};
        event_base_once(evconnlistener_get_base(ev), -1, EV_TIMEOUT, reenable, ev, &tv);
    }
}

struct unix_listener *unix_listener_new(struct event_base *base, const char *path, mode_t mode,
                                        unix_accept_fn fn, void *arg, struct buf *err_r)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sun.sun_path)) {
        buf_printf(err_r, "%s: path too long for a unix socket\n", path);
        return NULL;
    }
    strcpy(sun.sun_path, path);
    struct unix_listener *l = xcalloc(1, sizeof(*l));
    l->path = xstrdup(path);
    l->fn = fn;
    l->arg = arg;
    unlink(path);
    /* bind() makes the file: the umask gives it its mode from the start,
     * with no moment where it is more open than asked. */
    mode_t old = umask(~mode & 0777);
    l->ev =
        evconnlistener_new_bind(base, on_accept, l, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
                                UNIX_LISTEN_BACKLOG, (struct sockaddr *)&sun, sizeof(sun));
    umask(old);
    if (l->ev == NULL) {
        buf_printf(err_r, "%s: cannot listen: %s\n", path, strerror(errno));
        free(l->path);
        free(l);
        return NULL;
    }
    evconnlistener_set_error_cb(l->ev, on_accept_error);
    return l;
}

void unix_listener_free(struct unix_listener **lp)
{
    struct unix_listener *l = *lp;
    if (l == NULL)
        return;
    evconnlistener_free(l->ev);
    unlink(l->path);
    free(l->path);
    free(l);
    *lp = NULL;
}
