/*
 * spf: the RFC 7208 check_host() evaluator as a state machine that the
 * caller drives with DNS answers, so it never blocks and needs no resolver
 * of its own. Pure (no I/O); decodes answers with dns/rr.h.
 *
 *   struct spf *s = spf_new(client_ip, helo, mail_from);  ("" = null sender)
 *   struct spf_query q;
 *   while (spf_next(s, &q))              a lookup is needed:
 *       ... resolve q.name / q.type ..., then spf_answer(s, &answer);
 *   spf_result(s), spf_why(s)
 *   spf_free(&s);
 *
 * With the async resolver: call spf_next(); if it wants a query, start it
 * and return to the loop; in the callback, spf_answer() then spf_next()
 * again. Only one query is outstanding at a time.
 *
 * The identity is MAIL FROM's domain, or the HELO name when the sender is
 * null ("postmaster@HELO", RFC 7208 2.4). Mechanisms all, include, a, mx,
 * ip4, ip6, exists and redirect=; exp= is parsed and ignored; ptr counts
 * as a lookup but never matches (RFC 7208 5.5 says not to use it; Postern
 * does no PTR lookups) and %{p} expands to "unknown". Limits: 10 terms that
 * cause lookups, 2 void lookups, 10 MX names (RFC 7208 4.6.4); beyond
 * them, permerror. A target that expands to an invalid host name makes its
 * mechanism not match.
 */
#ifndef POSTERN_MAILAUTH_SPF_H
#define POSTERN_MAILAUTH_SPF_H

#include <stdbool.h>

#include "dns/resolver.h"
#include "mailauth/domain.h"

#define SPF_MAX_LOOKUPS 10
#define SPF_MAX_VOIDS   2
#define SPF_MAX_MX      10

enum spf_result {
    SPF_NONE,
    SPF_NEUTRAL,
    SPF_PASS,
    SPF_FAIL,
    SPF_SOFTFAIL,
    SPF_TEMPERROR,
    SPF_PERMERROR,
};

struct spf_query {
    const char *name; /* valid until the next call on the evaluator */
    int type;         /* DNS_TYPE_TXT, DNS_TYPE_A, DNS_TYPE_AAAA or DNS_TYPE_MX */
};

struct spf;

/* ip: the client's address as text (IPv4, IPv6; IPv4-mapped IPv6 counts
 * as IPv4). An unusable ip or identity gives an evaluator whose result is
 * already known (none, or permerror for the ip). */
struct spf *spf_new(const char *ip, const char *helo, const char *sender);
/* True with *q_r filled when an answer is needed; false when done. */
bool spf_next(struct spf *s, struct spf_query *q_r);
void spf_answer(struct spf *s, const struct dns_answer *a);
enum spf_result spf_result(const struct spf *s);
/* Why: e.g. "ip4:192.0.2.0/24 matched in example.com", "too many DNS lookups". */
const char *spf_why(const struct spf *s);
/* The checked domain (smtp.mailfrom or smtp.helo), and whether it came
 * from HELO; the sender address as checked ("postmaster@HELO" if null). */
const char *spf_domain(const struct spf *s);
bool spf_is_helo(const struct spf *s);
const char *spf_sender(const struct spf *s);
/* How many lookup terms and void lookups were used (tests, logs). */
unsigned spf_lookups(const struct spf *s);
void spf_free(struct spf **s);

const char *spf_result_name(enum spf_result r);

#endif
