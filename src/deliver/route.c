/* DNS routing of a destination on the event loop: MX hosts, then their
 * addresses, or a smarthost's addresses (see route.h). */
#include "deliver/route.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include <event2/event.h>

#include "dns/resolver.h"
#include "util/xmalloc.h"

struct route_host {
    struct route_lookup *l;
    struct dns_mx mx;
    struct dns_query *q6, *q4;
    size_t n6, n4;
    unsigned char v6[ROUTE_HOST_ADDR_MAX][16];
    unsigned char v4[ROUTE_HOST_ADDR_MAX][4];
    bool tempfail;
    char why[128];
};

struct route_lookup {
    struct dns_resolver *r;
    char name[DNS_NAME_MAX + 3];
    uint16_t port;
    char self[DNS_NAME_MAX + 1];
    route_fn fn;
    void *arg;
    struct dns_query *mxq;
    bool use_mx;
    bool implicit; /* no MX: the name itself */
    struct event *start;
    struct route_host *hosts;
    size_t nhosts;
    unsigned pending;
};

static uint32_t random32(void *arg)
{
    uint32_t v = 0;
    if (getrandom(&v, sizeof(v), 0) != sizeof(v))
        v = (uint32_t)random();
    return v;
}

static void lookup_free(struct route_lookup *l)
{
    event_free(l->start);
    dns_query_cancel(&l->mxq);
    for (size_t i = 0; i < l->nhosts; i++) {
        dns_query_cancel(&l->hosts[i].q6);
        dns_query_cancel(&l->hosts[i].q4);
    }
    free(l->hosts);
    free(l);
}

/* Reports the result and frees the lookup. */
static void finish(struct route_lookup *l, struct route_result *res)
{
    route_fn fn = l->fn;
    void *arg = l->arg;
    lookup_free(l);
    fn(arg, res);
}

static void fail(struct route_lookup *l, enum route_status st, const char *dsn, const char *fmt,
                 ...) __attribute__((format(printf, 4, 5)));

static void fail(struct route_lookup *l, enum route_status st, const char *dsn, const char *fmt,
                 ...)
{
    struct route_result res = {.status = st};
    snprintf(res.dsn, sizeof(res.dsn), "%s", dsn);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res.why, sizeof(res.why), fmt, ap);
    va_end(ap);
    finish(l, &res);
}

static void add_addr(struct route_result *res, const struct route_host *h, int family,
                     const unsigned char *ip, uint16_t port)
{
    struct route_addr *a = &res->addrs[res->naddrs++];
    memset(a, 0, sizeof(*a));
    snprintf(a->host, sizeof(a->host), "%s", h->mx.host);
    a->pref = h->mx.pref;
    if (family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->sa;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        memcpy(&s6->sin6_addr, ip, 16);
        a->salen = sizeof(*s6);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&a->sa;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
        memcpy(&s4->sin_addr, ip, 4);
        a->salen = sizeof(*s4);
    }
    inet_ntop(family, ip, a->ip, sizeof(a->ip));
}

/* Every address query has answered: the list in MX order. */
static void hosts_done(struct route_lookup *l)
{
    struct route_result res = {.status = ROUTE_OK};
    res.addrs = xcalloc(l->nhosts * 2 * ROUTE_HOST_ADDR_MAX + 1, sizeof(*res.addrs));
    const char *temp_why = NULL;
    for (size_t i = 0; i < l->nhosts; i++) {
        const struct route_host *h = &l->hosts[i];
        for (size_t k = 0; k < h->n6; k++)
            add_addr(&res, h, AF_INET6, h->v6[k], l->port);
        for (size_t k = 0; k < h->n4; k++)
            add_addr(&res, h, AF_INET, h->v4[k], l->port);
        if (h->tempfail && h->n6 + h->n4 == 0 && temp_why == NULL)
            temp_why = h->why;
    }
    if (res.naddrs > 0) {
        finish(l, &res);
        return;
    }
    free(res.addrs);
    if (temp_why)
        fail(l, ROUTE_TEMPFAIL, "4.4.3", "%s", temp_why);
    else if (l->implicit)
        fail(l, ROUTE_PERMFAIL, "5.1.2", "%s has no MX and no address records", l->name);
    else
        fail(l, ROUTE_PERMFAIL, "5.4.4", "no address records for any mail host of %s", l->name);
}

static void on_addr(struct route_host *h, int family, const struct dns_answer *a)
{
    struct route_lookup *l = h->l;
    size_t want = family == AF_INET6 ? 16 : 4;
    if (a->status == DNS_OK) {
        for (size_t i = 0; i < a->n; i++) {
            if ((size_t)a->len[i] != want)
                continue;
            if (family == AF_INET6 && h->n6 < ROUTE_HOST_ADDR_MAX)
                memcpy(h->v6[h->n6++], a->rdata[i], 16);
            else if (family == AF_INET && h->n4 < ROUTE_HOST_ADDR_MAX)
                memcpy(h->v4[h->n4++], a->rdata[i], 4);
        }
    } else if (a->status == DNS_TEMPFAIL) {
        h->tempfail = true;
        snprintf(h->why, sizeof(h->why), "address lookup for %s failed: %s", h->mx.host, a->why);
    }
    if (--l->pending == 0)
        hosts_done(l);
}

static void on_aaaa(void *arg, const struct dns_answer *a)
{
    struct route_host *h = arg;
    h->q6 = NULL;
    on_addr(h, AF_INET6, a);
}

static void on_a(void *arg, const struct dns_answer *a)
{
    struct route_host *h = arg;
    h->q4 = NULL;
    on_addr(h, AF_INET, a);
}

/* An IP literal needs no lookup. */
static bool host_literal(struct route_host *h)
{
    if (inet_pton(AF_INET6, h->mx.host, h->v6[0]) == 1)
        h->n6 = 1;
    else if (inet_pton(AF_INET, h->mx.host, h->v4[0]) == 1)
        h->n4 = 1;
    return h->n6 + h->n4 > 0;
}

static void resolve_hosts(struct route_lookup *l)
{
    /* Count first: a callback never runs before dns_resolver_query returns,
     * but a failed query start is accounted for at once. */
    l->pending = 1;
    for (size_t i = 0; i < l->nhosts; i++) {
        struct route_host *h = &l->hosts[i];
        h->l = l;
        if (host_literal(h))
            continue;
        l->pending += 2;
        h->q6 = dns_resolver_query(l->r, h->mx.host, DNS_TYPE_AAAA, on_aaaa, h);
        if (h->q6 == NULL) {
            h->tempfail = true;
            snprintf(h->why, sizeof(h->why), "cannot look up %s", h->mx.host);
            l->pending--;
        }
        h->q4 = dns_resolver_query(l->r, h->mx.host, DNS_TYPE_A, on_a, h);
        if (h->q4 == NULL) {
            h->tempfail = true;
            snprintf(h->why, sizeof(h->why), "cannot look up %s", h->mx.host);
            l->pending--;
        }
    }
    if (--l->pending == 0)
        hosts_done(l);
}

static void on_mx(void *arg, const struct dns_answer *a)
{
    struct route_lookup *l = arg;
    l->mxq = NULL;
    switch (a->status) {
    case DNS_TEMPFAIL:
        fail(l, ROUTE_TEMPFAIL, "4.4.3", "MX lookup for %s failed: %s", l->name, a->why);
        return;
    case DNS_NXDOMAIN:
        fail(l, ROUTE_PERMFAIL, "5.1.2", "domain %s does not exist (NXDOMAIN)", l->name);
        return;
    case DNS_NODATA:
        /* RFC 5321 5.1: no MX, the domain itself is the mail host. */
        l->implicit = true;
        l->hosts = xcalloc(1, sizeof(*l->hosts));
        l->nhosts = 1;
        snprintf(l->hosts[0].mx.host, sizeof(l->hosts[0].mx.host), "%s", l->name);
        resolve_hosts(l);
        return;
    case DNS_OK:
        break;
    }
    struct dns_mx *mx = xcalloc(a->n, sizeof(*mx));
    size_t n = 0, nulls = 0, bad = 0;
    for (size_t i = 0; i < a->n; i++) {
        if (!dns_rr_mx(a->rdata[i], (size_t)a->len[i], &mx[n]))
            bad++;
        else if (mx[n].host[0] == '\0')
            nulls++; /* RFC 7505 null MX: counted, not used */
        else
            n++;
    }
    if (n == 0) {
        free(mx);
        if (nulls > 0)
            fail(l, ROUTE_PERMFAIL, "5.1.10", "domain %s does not accept mail (null MX, RFC 7505)",
                 l->name);
        else
            fail(l, ROUTE_TEMPFAIL, "4.4.3", "MX records of %s are malformed (%zu)", l->name, bad);
        return;
    }
    dns_mx_sort(mx, n, random32, NULL);
    /* RFC 5321 5.1: when we are one of the MX hosts, only better ones may
     * be used, or the message would loop back to us. */
    for (size_t i = 0; i < n; i++) {
        if (strcasecmp(mx[i].host, l->self) != 0)
            continue;
        uint16_t mine = mx[i].pref;
        size_t k = 0;
        while (k < n && mx[k].pref < mine)
            k++;
        n = k;
        break;
    }
    if (n == 0) {
        free(mx);
        fail(l, ROUTE_PERMFAIL, "5.4.6", "MX of %s points back to this host (%s): mail loop",
             l->name, l->self);
        return;
    }
    if (n > ROUTE_HOSTS_MAX)
        n = ROUTE_HOSTS_MAX;
    l->hosts = xcalloc(n, sizeof(*l->hosts));
    l->nhosts = n;
    for (size_t i = 0; i < n; i++)
        l->hosts[i].mx = mx[i];
    free(mx);
    resolve_hosts(l);
}

/* Runs on the loop right after route_lookup_start() returned. */
static void on_start(evutil_socket_t fd, short what, void *arg)
{
    struct route_lookup *l = arg;
    if (l->use_mx) {
        l->mxq = dns_resolver_query(l->r, l->name, DNS_TYPE_MX, on_mx, l);
        if (l->mxq == NULL)
            fail(l, ROUTE_TEMPFAIL, "4.4.3", "cannot look up the MX of %s", l->name);
        return;
    }
    l->implicit = true;
    l->hosts = xcalloc(1, sizeof(*l->hosts));
    l->nhosts = 1;
    snprintf(l->hosts[0].mx.host, sizeof(l->hosts[0].mx.host), "%s", l->name);
    resolve_hosts(l);
}

struct route_lookup *route_lookup_start(struct event_base *base, struct dns_resolver *r,
                                        const char *name, bool use_mx, uint16_t port,
                                        const char *self, route_fn fn, void *arg)
{
    struct route_lookup *l = xcalloc(1, sizeof(*l));
    l->r = r;
    l->port = port;
    l->fn = fn;
    l->arg = arg;
    l->use_mx = use_mx;
    snprintf(l->self, sizeof(l->self), "%s", self ? self : "");
    size_t len = strlen(name);
    if (len >= sizeof(l->name))
        len = sizeof(l->name) - 1;
    memcpy(l->name, name, len);
    l->name[len] = '\0';
    if (len >= 2 && l->name[0] == '[' && l->name[len - 1] == ']') {
        /* A domain literal: "[192.0.2.1]" or "[IPv6:2001:db8::1]". */
        const char *ip = l->name + 1;
        if (strncasecmp(ip, "IPv6:", 5) == 0)
            ip += 5;
        l->use_mx = false;
        l->name[len - 1] = '\0';
        memmove(l->name, ip, strlen(ip) + 1);
    }
    l->start = evtimer_new(base, on_start, l);
    struct timeval now = {0, 0};
    evtimer_add(l->start, &now);
    return l;
}

void route_lookup_cancel(struct route_lookup **lp)
{
    if (*lp == NULL)
        return;
    lookup_free(*lp);
    *lp = NULL;
}
