/*
 * route: where to connect for a destination, found through DNS on the event
 * loop (RFC 5321 5.1). For a domain: its MX hosts by preference (equal ones
 * shuffled), then each host's IPv6 and IPv4 addresses; no MX means the
 * domain itself (implicit MX); a null MX (RFC 7505) is a permanent failure.
 * For a smarthost: the host's addresses, no MX. The answer is one ordered
 * list of addresses to try, or a failure with its enhanced status code.
 *
 *   l = route_lookup_start(base, resolver, "remote.test", true, 25, "mx.example.test",
 *                          fn, arg);
 *   fn(arg, &result) runs once, later, unless route_lookup_cancel(&l) first.
 */
#ifndef POSTERN_DELIVER_ROUTE_H
#define POSTERN_DELIVER_ROUTE_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "dns/rr.h"

struct dns_resolver;
struct event_base;
struct route_lookup;

#define ROUTE_HOSTS_MAX     10 /* MX hosts looked at */
#define ROUTE_HOST_ADDR_MAX 4  /* addresses per host and family */

struct route_addr {
    char host[DNS_NAME_MAX + 1]; /* the MX host name (or the IP literal) */
    uint16_t pref;
    struct sockaddr_storage sa; /* with the port */
    socklen_t salen;
    char ip[INET6_ADDRSTRLEN];
};

enum route_status { ROUTE_OK, ROUTE_TEMPFAIL, ROUTE_PERMFAIL };

struct route_result {
    enum route_status status;
    char dsn[12];             /* enhanced status of a failure, e.g. "5.1.10" */
    char why[512];            /* a sentence for logs and bounces */
    struct route_addr *addrs; /* ROUTE_OK: owned by the callee (free()) */
    size_t naddrs;
};

typedef void (*route_fn)(void *arg, struct route_result *result);

/* name: a domain (use_mx), or a host name or IP literal (no MX). A domain
 * literal "[192.0.2.1]" is taken as an address. self: our own host name, for
 * mail-loop detection. */
struct route_lookup *route_lookup_start(struct event_base *base, struct dns_resolver *r,
                                        const char *name, bool use_mx, uint16_t port,
                                        const char *self, route_fn fn, void *arg);
void route_lookup_cancel(struct route_lookup **l);

#endif
