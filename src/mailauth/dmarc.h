/*
 * dmarc: DMARC (RFC 7489) for one message: the From domain, the _dmarc
 * record lookup as a state machine the caller feeds with DNS answers (like
 * spf.h), alignment of the SPF and DKIM results, and the policy outcome.
 * Pure: no I/O, no randomness of its own.
 *
 *   struct dmarc *d = dmarc_new(header, hlen);      the message's header
 *   struct dmarc_query q;
 *   while (dmarc_next(d, &q))  ... TXT lookup of q.name ... dmarc_answer(d, &a);
 *   dmarc_evaluate(d, &(struct dmarc_auth){spf, spf_domain, sigs, nsigs, pct_roll});
 *   const struct dmarc_outcome *o = dmarc_outcome(d);
 *   dmarc_free(&d);
 *
 * The record is looked up at _dmarc.FROM-DOMAIN, then at the
 * organizational domain, which is the last two labels of the From domain
 * (Postern carries no public suffix list; see domain.h for what that gets
 * wrong). Records are parsed with the strict tag-list grammar of
 * taglist.h; an unusable record (syntax error, bad p= without rua=) counts
 * as no record.
 *
 * The From field (RFC 7489 6.6.1) is parsed strictly (header_mailboxes()):
 * several authors are fine when they share one domain (it is evaluated);
 * no From field, several, a malformed one, one without an address, authors
 * in different domains or a domain that is not a valid DNS name (an address
 * literal, UTF-8) give permerror, and dmarc_outcome()->from says which, so
 * that the caller can refuse the message.
 */
#ifndef POSTERN_MAILAUTH_DMARC_H
#define POSTERN_MAILAUTH_DMARC_H

#include <stdbool.h>
#include <stddef.h>

#include "dns/resolver.h"
#include "mailauth/dkim_verify.h"
#include "mailauth/domain.h"
#include "mailauth/spf.h"

enum dmarc_policy { DMARC_POLICY_NONE, DMARC_POLICY_QUARANTINE, DMARC_POLICY_REJECT };

struct dmarc_record {
    enum dmarc_policy p, sp; /* sp is p when not given */
    bool strict_dkim, strict_spf;
    unsigned pct; /* 0..100 */
};

/* Returns NULL, or a static reason why txt is not a usable DMARC record. */
const char *dmarc_record_parse(const char *txt, size_t len, struct dmarc_record *r);

enum dmarc_result { DMARC_NONE, DMARC_PASS, DMARC_FAIL, DMARC_TEMPERROR, DMARC_PERMERROR };

struct dmarc_auth {
    enum spf_result spf;
    const char *spf_domain; /* the MAIL FROM (or HELO) domain SPF checked */
    const struct dkim_sig_result *const *dkim;
    size_t ndkim;
    unsigned pct_roll; /* uniform in 0..99: pct= samples with it */
};

/* What the From field allows (RFC 7489 6.6.1). */
enum dmarc_from {
    DMARC_FROM_OK,           /* one domain: from_domain */
    DMARC_FROM_MISSING,      /* no From field */
    DMARC_FROM_MANY_FIELDS,  /* more than one From field */
    DMARC_FROM_SYNTAX,       /* not a valid address list */
    DMARC_FROM_EMPTY,        /* no address in it (an empty group) */
    DMARC_FROM_MANY_DOMAINS, /* authors in more than one domain */
    DMARC_FROM_BAD_DOMAIN,   /* the domain is no DNS name DMARC can check */
};

struct dmarc_outcome {
    enum dmarc_result result;
    enum dmarc_from from;
    const char *why; /* static */
    char from_domain[DOMAIN_MAX + 1];
    bool have_record;
    struct dmarc_record record;
    bool org_record;               /* found at the organizational domain */
    enum dmarc_policy policy;      /* p or sp as published, for the domain */
    enum dmarc_policy disposition; /* what to do: policy after pct; none on pass */
    bool spf_aligned, dkim_aligned;
};

struct dmarc_query {
    const char *name; /* a TXT lookup */
};

struct dmarc;

struct dmarc *dmarc_new(const char *header, size_t hlen);
bool dmarc_next(struct dmarc *d, struct dmarc_query *q_r);
void dmarc_answer(struct dmarc *d, const struct dns_answer *a);
/* Call once the lookups are over and SPF and DKIM have results. */
void dmarc_evaluate(struct dmarc *d, const struct dmarc_auth *auth);
const struct dmarc_outcome *dmarc_outcome(const struct dmarc *d);
void dmarc_free(struct dmarc **d);

const char *dmarc_result_name(enum dmarc_result r);
const char *dmarc_policy_name(enum dmarc_policy p);

#endif
