/* Binding the configured addresses and accepting connections, with the
 * connection limits enforced (421) before any session exists. */
#include "net/listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/listener.h>

#include "net/addr.h"
#include "util/log.h"
#include "util/strmap.h"
#include "util/xmalloc.h"

struct bound {
    enum service service;
    int fd;
    char *name;
    struct evconnlistener *ev;
    struct listener_set *set;
};

struct listener_set {
    struct bound *socks;
    size_t n;
    unsigned max_total, max_per_ip, active;
    unsigned max_service[SERVICE_COUNT], active_service[SERVICE_COUNT];
    struct strmap *per_ip; /* ip -> live connections (an unsigned, boxed) */
    listener_accept_fn fn;
    void *arg;
    listener_evict_fn evict;
    void *evict_arg;
    char *hostname;
};

static int bind_one(const char *host, const char *port, const char *unix_path, struct buf *err)
{
    if (unix_path) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        if (strlen(unix_path) >= sizeof(sun.sun_path)) {
            buf_printf(err, "unix:%s: path too long\n", unix_path);
            close(fd);
            return -1;
        }
        strcpy(sun.sun_path, unix_path);
        /* Only an old socket is replaced: never a file that happens to be
         * there (the path may be a mistake, or someone's trap). */
        struct stat st;
        if (lstat(unix_path, &st) == 0) {
            if (!S_ISSOCK(st.st_mode)) {
                buf_printf(err,
                           "unix:%s: exists and is not a socket; remove it or listen elsewhere\n",
                           unix_path);
                close(fd);
                return -1;
            }
            if (unlink(unix_path) != 0) {
                buf_printf(err, "unix:%s: cannot remove the old socket: %s\n", unix_path,
                           strerror(errno));
                close(fd);
                return -1;
            }
        }
        if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 || listen(fd, 511) != 0) {
            buf_printf(err, "unix:%s: cannot listen: %s\n", unix_path, strerror(errno));
            close(fd);
            return -1;
        }
        return fd;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(*host ? host : NULL, port, &hints, &res);
    if (gai != 0) {
        buf_printf(err, "%s:%s: cannot resolve: %s\n", host, port, gai_strerror(gai));
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (res->ai_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 511) != 0) {
        buf_printf(err, "%s:%s: cannot listen: %s%s\n", host, port, strerror(errno),
                   errno == EACCES ? " (ports below 1024 need root)" : "");
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

/* Binds the [listen] entries of one kind (unix: paths, or host:port). */
static bool bind_kind(struct listener_set *set, const struct conf *conf, bool unix_paths,
                      struct buf *err_r)
{
    for (size_t i = 0; i < conf->nlistens; i++) {
        const struct conf_listen *l = &conf->listens[i];
        if ((l->unix_path != NULL) != unix_paths)
            continue;
        int fd = bind_one(l->host, l->port, l->unix_path, err_r);
        if (fd < 0)
            return false;
        struct bound *b = &set->socks[set->n++];
        b->service = l->service;
        b->fd = fd;
        b->set = set;
        b->name = l->unix_path ? xasprintf("unix:%s", l->unix_path)
                               : xasprintf("%s:%s", l->host, l->port);
    }
    return true;
}

struct listener_set *listener_set_bind(const struct conf *conf, struct buf *err_r)
{
    struct listener_set *set = xcalloc(1, sizeof(*set));
    set->socks = xcalloc(conf->nlistens, sizeof(*set->socks));
    set->per_ip = strmap_new();
    set->hostname = xstrdup(conf->hostname);
    listener_set_limits(set, conf);
    if (!bind_kind(set, conf, false, err_r))
        listener_set_free(&set);
    return set;
}

int listener_set_bind_unix(struct listener_set *set, const struct conf *conf, struct buf *err_r)
{
    return bind_kind(set, conf, true, err_r) ? 0 : -1;
}

void listener_set_limits(struct listener_set *set, const struct conf *conf)
{
    set->max_total = conf->connections;
    set->max_per_ip = conf->connections_per_ip;
    memcpy(set->max_service, conf->connections_service, sizeof(set->max_service));
}

void listener_set_evictor(struct listener_set *set, listener_evict_fn fn, void *arg)
{
    set->evict = fn;
    set->evict_arg = arg;
}

static bool service_full(const struct listener_set *set, enum service svc)
{
    return set->active_service[svc] >= set->max_service[svc];
}

/* Makes room for a connection to svc, if it can: an idle, unauthenticated
 * port 25 session goes first, since it is the cheapest to lose (an MTA
 * retries) and the likeliest to be an attacker's. Another service's full
 * share is not freed by closing a port 25 session, so it is not tried. */
static bool make_room(struct listener_set *set, enum service svc)
{
    bool own_full = service_full(set, svc);
    if (!own_full && set->active < set->max_total)
        return true;
    if (set->evict == NULL || (own_full && svc != SERVICE_SMTP))
        return false;
    if (!set->evict(set->evict_arg))
        return false;
    return !service_full(set, svc) && set->active < set->max_total;
}

static void refuse(struct listener_set *set, enum service svc, int fd, const char *why)
{
    char line[300];
    if (svc == SERVICE_POP3 || svc == SERVICE_POP3S)
        snprintf(line, sizeof(line), "-ERR [SYS/TEMP] %s, try again later\r\n", why);
    else if (svc == SERVICE_IMAP || svc == SERVICE_IMAPS)
        snprintf(line, sizeof(line), "* BYE [UNAVAILABLE] %s, try again later\r\n", why);
    else
        snprintf(line, sizeof(line), "421 4.7.0 %s %s, try again later\r\n", set->hostname, why);
    /* Best effort on a fresh socket; implicit-TLS services get no text. */
    if (!service_implicit_tls(svc)) {
        ssize_t n = send(fd, line, strlen(line), MSG_DONTWAIT | MSG_NOSIGNAL);
        (void)n;
    }
    close(fd);
}

static void on_accept(struct evconnlistener *ev, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
    struct bound *b = arg;
    struct listener_set *set = b->set;
    char ip[INET6_ADDRSTRLEN];
    sockaddr_ip(sa, ip, sizeof(ip));
    unsigned *count = strmap_get(set->per_ip, ip);
    if (count && *count >= set->max_per_ip) {
        log_warn("event=connection_refused service=%s client=%s reason=per_ip_limit limit=%u",
                 service_name(b->service), ip, set->max_per_ip);
        refuse(set, b->service, fd, "Too many connections from your address");
        return;
    }
    if (!make_room(set, b->service)) {
        bool own = set->active < set->max_total; /* else the whole is full */
        log_warn("event=connection_refused service=%s client=%s reason=%s limit=%u",
                 service_name(b->service), ip, own ? "service_limit" : "total_limit",
                 own ? set->max_service[b->service] : set->max_total);
        refuse(set, b->service, fd, "Too many connections");
        return;
    }
    if (count == NULL) {
        count = xcalloc(1, sizeof(*count));
        strmap_put(set->per_ip, ip, count);
    }
    (*count)++;
    set->active++;
    set->active_service[b->service]++;
    set->fn(set->arg, b->service, fd, sa, (socklen_t)salen);
}

static void reenable_listener(evutil_socket_t fd, short what, void *arg)
{
    evconnlistener_enable(arg);
}

static void on_accept_error(struct evconnlistener *ev, void *arg)
{
    struct bound *b = arg;
    int e = EVUTIL_SOCKET_ERROR();
    log_error("event=accept_failed listen=%s error=%s", log_q(b->name), log_q(strerror(e)));
    if (e == EMFILE || e == ENFILE) {
        /* Out of descriptors: stop accepting briefly instead of spinning. */
        evconnlistener_disable(ev);
        struct timeval tv = {1, 0};
        event_base_once(evconnlistener_get_base(ev), -1, EV_TIMEOUT, reenable_listener, ev, &tv);
    }
}

void listener_set_start(struct listener_set *set, struct event_base *base, listener_accept_fn fn,
                        void *arg)
{
    set->fn = fn;
    set->arg = arg;
    for (size_t i = 0; i < set->n; i++) {
        struct bound *b = &set->socks[i];
        b->ev = evconnlistener_new(base, on_accept, b, LEV_OPT_CLOSE_ON_FREE, -1, b->fd);
        evconnlistener_set_error_cb(b->ev, on_accept_error);
        log_info("event=listening service=%s address=%s", service_name(b->service), log_q(b->name));
    }
}

void listener_release(struct listener_set *set, enum service svc, const char *ip)
{
    if (set->active_service[svc])
        set->active_service[svc]--;
    unsigned *count = strmap_get(set->per_ip, ip);
    if (count && --*count == 0)
        free(strmap_del(set->per_ip, ip));
    if (set->active)
        set->active--;
}

unsigned listener_active(const struct listener_set *set)
{
    return set->active;
}

void listener_set_stop(struct listener_set *set)
{
    for (size_t i = 0; i < set->n; i++) {
        if (set->socks[i].ev) {
            evconnlistener_free(set->socks[i].ev);
            set->socks[i].ev = NULL;
        } else if (set->socks[i].fd >= 0) {
            close(set->socks[i].fd);
        }
        set->socks[i].fd = -1;
    }
}

void listener_set_free(struct listener_set **sp)
{
    struct listener_set *set = *sp;
    if (set == NULL)
        return;
    listener_set_stop(set);
    for (size_t i = 0; i < set->n; i++)
        free(set->socks[i].name);
    strmap_free(&set->per_ip, free);
    free(set->socks);
    free(set->hostname);
    free(set);
    *sp = NULL;
}
