/* Asynchronous DNS with libunbound on the event loop: queries, their
 * callbacks on the loop thread, and cancellation. */
#include "dns/resolver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <unbound.h>

#include "util/log.h"
#include "util/xmalloc.h"

struct dns_resolver {
    struct ub_ctx *ctx;
    struct event *ev;
    struct event_base *base;
    unsigned timeout_ms;
    struct dns_query *queries; /* in flight, so free() can cancel them */
};

struct dns_query {
    struct dns_resolver *r;
    dns_resolver_fn fn;
    void *arg;
    int async_id;
    struct event *timer;
    struct dns_query *prev, *next;
};

static void query_unlink_free(struct dns_query *q)
{
    struct dns_resolver *r = q->r;
    if (q->prev)
        q->prev->next = q->next;
    else
        r->queries = q->next;
    if (q->next)
        q->next->prev = q->prev;
    event_free(q->timer);
    free(q);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    struct dns_resolver *r = arg;
    int rc = ub_process(r->ctx);
    if (rc != 0)
        log_error("event=dns_error error=%s", log_q(ub_strerror(rc)));
}

static const char *rcode_name(int rcode)
{
    switch (rcode) {
    case 1:
        return "FORMERR";
    case 2:
        return "SERVFAIL";
    case 4:
        return "NOTIMP";
    case 5:
        return "REFUSED";
    default:
        return "unexpected rcode";
    }
}

static void on_result(void *arg, int err, struct ub_result *res)
{
    struct dns_query *q = arg;
    struct dns_answer a = {.status = DNS_TEMPFAIL, .why = "resolver error"};
    if (err != 0) {
        a.why = ub_strerror(err);
    } else if (res->bogus) {
        a.why = "DNSSEC validation failed";
    } else if (res->rcode == 3) {
        a.status = DNS_NXDOMAIN;
        a.why = "NXDOMAIN";
    } else if (res->rcode != 0) {
        a.why = rcode_name(res->rcode);
    } else if (!res->havedata) {
        a.status = DNS_NODATA;
        a.why = "no records of that type";
    } else {
        a.status = DNS_OK;
        a.why = "ok";
        size_t n = 0;
        while (res->data[n])
            n++;
        a.n = n;
        a.rdata = (const unsigned char *const *)res->data;
        a.len = res->len;
    }
    dns_resolver_fn fn = q->fn;
    void *fn_arg = q->arg;
    query_unlink_free(q);
    fn(fn_arg, &a);
    if (res)
        ub_resolve_free(res);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct dns_query *q = arg;
    ub_cancel(q->r->ctx, q->async_id);
    dns_resolver_fn fn = q->fn;
    void *fn_arg = q->arg;
    query_unlink_free(q);
    struct dns_answer a = {.status = DNS_TEMPFAIL, .why = "timeout"};
    fn(fn_arg, &a);
}

/* "IP", "IP:PORT", "[IPv6]:PORT" or a bare IPv6 address, into unbound's
 * "IP@PORT". */
static char *server_to_unbound(const char *server)
{
    char host[64];
    const char *port = NULL;
    if (server[0] == '[') {
        const char *end = strchr(server, ']');
        if (end == NULL || (size_t)(end - server - 1) >= sizeof(host))
            return NULL;
        memcpy(host, server + 1, (size_t)(end - server - 1));
        host[end - server - 1] = '\0';
        if (end[1] == ':')
            port = end + 2;
        else if (end[1] != '\0')
            return NULL;
    } else {
        const char *colon = strchr(server, ':');
        if (colon && strchr(colon + 1, ':') == NULL) {
            if ((size_t)(colon - server) >= sizeof(host))
                return NULL;
            memcpy(host, server, (size_t)(colon - server));
            host[colon - server] = '\0';
            port = colon + 1;
        } else {
            snprintf(host, sizeof(host), "%s", server);
        }
    }
    unsigned char tmp[16];
    if (inet_pton(AF_INET, host, tmp) != 1 && inet_pton(AF_INET6, host, tmp) != 1)
        return NULL;
    if (port) {
        char *end;
        long p = strtol(port, &end, 10);
        if (*port == '\0' || *end || p <= 0 || p > 65535)
            return NULL;
        return xasprintf("%s@%ld", host, p);
    }
    return xstrdup(host);
}

bool dns_resolver_server_valid(const char *server)
{
    char *s = server_to_unbound(server);
    free(s);
    return s != NULL;
}

/* The trusted-server setup goes through a generated file because
 * ub_ctx_set_option() does not take local-zone (DESIGN.md section 2). */
static int configure_server(struct ub_ctx *ctx, const char *server, const char *run_dir,
                            struct buf *err_r)
{
    char *fwd = server_to_unbound(server);
    if (fwd == NULL) {
        buf_printf(err_r, "postern: [relay] resolver: '%s' is not IP, IP:PORT or [IPv6]:PORT\n",
                   server);
        return -1;
    }
    char *path = xasprintf("%s/resolver.conf", run_dir);
    FILE *f = fopen(path, "w");
    int rc = -1;
    if (f == NULL) {
        buf_printf(err_r, "postern: cannot write %s: %s\n", path, strerror(errno));
        goto out;
    }
    fprintf(f,
            "# Generated by postern from [relay] resolver; rewritten at every start.\n"
            "server:\n"
            "  do-not-query-localhost: no\n"
            "  local-zone: \"test.\" nodefault\n"
            "  local-zone: \"localhost.\" nodefault\n"
            "  local-zone: \"invalid.\" nodefault\n"
            "  local-zone: \"onion.\" nodefault\n"
            "  local-zone: \"home.arpa.\" nodefault\n"
            "forward-zone:\n"
            "  name: \".\"\n"
            "  forward-addr: %s\n",
            fwd);
    if (fclose(f) != 0) {
        buf_printf(err_r, "postern: cannot write %s: %s\n", path, strerror(errno));
        goto out;
    }
    int e = ub_ctx_config(ctx, path);
    if (e != 0) {
        buf_printf(err_r, "postern: resolver configuration %s: %s\n", path, ub_strerror(e));
        goto out;
    }
    rc = 0;
out:
    free(fwd);
    free(path);
    return rc;
}

struct dns_resolver *dns_resolver_new(struct event_base *base, const char *server,
                                      const char *run_dir, unsigned timeout_ms, struct buf *err_r)
{
    struct ub_ctx *ctx = ub_ctx_create();
    if (ctx == NULL) {
        buf_printf(err_r, "postern: cannot create the DNS resolver\n");
        return NULL;
    }
    int e = 0;
    if (server && *server) {
        if (configure_server(ctx, server, run_dir, err_r) != 0) {
            ub_ctx_delete(ctx);
            return NULL;
        }
    } else {
        /* A local stub resolver (127.0.0.53, 127.0.0.1) is common. */
        e = ub_ctx_set_option(ctx, "do-not-query-localhost:", "no");
        if (e == 0)
            e = ub_ctx_resolvconf(ctx, NULL);
    }
    /* Threads, not a forked process: nothing to reap, and the daemon may
     * already have dropped privileges. */
    if (e == 0)
        e = ub_ctx_async(ctx, 1);
    if (e != 0) {
        buf_printf(err_r, "postern: DNS resolver: %s\n", ub_strerror(e));
        ub_ctx_delete(ctx);
        return NULL;
    }
    struct dns_resolver *r = xcalloc(1, sizeof(*r));
    r->ctx = ctx;
    r->base = base;
    r->timeout_ms = timeout_ms ? timeout_ms : 30000;
    r->ev = event_new(base, ub_fd(ctx), EV_READ | EV_PERSIST, on_readable, r);
    event_add(r->ev, NULL);
    return r;
}

void dns_resolver_free(struct dns_resolver **rp)
{
    struct dns_resolver *r = *rp;
    if (r == NULL)
        return;
    while (r->queries) {
        ub_cancel(r->ctx, r->queries->async_id);
        query_unlink_free(r->queries);
    }
    event_free(r->ev);
    ub_ctx_delete(r->ctx);
    free(r);
    *rp = NULL;
}

struct dns_query *dns_resolver_query(struct dns_resolver *r, const char *name, int rrtype,
                                     dns_resolver_fn fn, void *arg)
{
    struct dns_query *q = xcalloc(1, sizeof(*q));
    q->r = r;
    q->fn = fn;
    q->arg = arg;
    int e = ub_resolve_async(r->ctx, name, rrtype, 1 /* IN */, q, on_result, &q->async_id);
    if (e != 0) {
        log_error("event=dns_error name=%s error=%s", log_q(name), log_q(ub_strerror(e)));
        free(q);
        return NULL;
    }
    q->timer = evtimer_new(r->base, on_timeout, q);
    struct timeval tv = {.tv_sec = r->timeout_ms / 1000,
                         .tv_usec = (long)(r->timeout_ms % 1000) * 1000};
    evtimer_add(q->timer, &tv);
    q->next = r->queries;
    if (r->queries)
        r->queries->prev = q;
    r->queries = q;
    return q;
}

void dns_query_cancel(struct dns_query **qp)
{
    struct dns_query *q = *qp;
    if (q == NULL)
        return;
    ub_cancel(q->r->ctx, q->async_id);
    query_unlink_free(q);
    *qp = NULL;
}
