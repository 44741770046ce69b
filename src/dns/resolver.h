/*
 * resolver: asynchronous DNS on the event loop, with libunbound. One
 * resolver per daemon; each query's callback runs on the loop thread, once,
 * unless the query is cancelled first.
 *
 *   r = dns_resolver_new(base, "127.0.0.1:5353", run_dir, 30000, &err);
 *   q = dns_resolver_query(r, "remote.test", DNS_TYPE_MX, on_answer, arg);
 *   ...  on_answer(arg, &answer): answer->status, answer->rdata[i]
 *   dns_query_cancel(&q);   (only before the callback ran)
 *
 * With a server ("IP", "IP:PORT" or "[IPv6]:PORT") every name is asked of
 * that server alone, including the RFC 6761 names such as test. that
 * libunbound otherwise answers itself, and loopback servers are allowed
 * (DESIGN.md section 2). Without one, /etc/resolv.conf's servers are used.
 * Decode the answer's rdata with dns/rr.h.
 */
#ifndef POSTERN_DNS_RESOLVER_H
#define POSTERN_DNS_RESOLVER_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

struct event_base;
struct dns_resolver;
struct dns_query;

enum dns_status {
    DNS_OK,       /* records in rdata */
    DNS_NODATA,   /* the name exists, without records of that type */
    DNS_NXDOMAIN, /* the name does not exist: permanent */
    DNS_TEMPFAIL, /* SERVFAIL, REFUSED, timeout, network error: try later */
};

struct dns_answer {
    enum dns_status status;
    const char *why; /* e.g. "SERVFAIL", "timeout"; static or valid during the callback */
    size_t n;
    const unsigned char *const *rdata;
    const int *len;
};

typedef void (*dns_resolver_fn)(void *arg, const struct dns_answer *answer);

/* run_dir: where the generated libunbound configuration is written.
 * timeout_ms bounds every query (libunbound's own retries can take minutes). */
struct dns_resolver *dns_resolver_new(struct event_base *base, const char *server,
                                      const char *run_dir, unsigned timeout_ms, struct buf *err_r);
void dns_resolver_free(struct dns_resolver **r);

/* Never calls fn before returning. NULL only if libunbound refuses the
 * query outright (fn is then not called). */
struct dns_query *dns_resolver_query(struct dns_resolver *r, const char *name, int rrtype,
                                     dns_resolver_fn fn, void *arg);
void dns_query_cancel(struct dns_query **q);

/* Whether a [relay] resolver value is usable (for configuration checks). */
bool dns_resolver_server_valid(const char *server);

#endif
