/* DMARC (RFC 7489) for one message: the From domain, the _dmarc record
 * lookup driven by the caller's DNS answers, alignment and the policy. */
#include "mailauth/dmarc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/rr.h"
#include "mailauth/taglist.h"
#include "proto/headers.h"
#include "util/xmalloc.h"

enum stage { STAGE_DOMAIN, STAGE_ORG, STAGE_DONE };

struct dmarc {
    struct dmarc_outcome o;
    enum stage stage;
    bool waiting;
    bool evaluated;
    char qname[DOMAIN_MAX + 8];
};

const char *dmarc_result_name(enum dmarc_result r)
{
    switch (r) {
    case DMARC_NONE:
        return "none";
    case DMARC_PASS:
        return "pass";
    case DMARC_FAIL:
        return "fail";
    case DMARC_TEMPERROR:
        return "temperror";
    case DMARC_PERMERROR:
        return "permerror";
    }
    return "?";
}

const char *dmarc_policy_name(enum dmarc_policy p)
{
    switch (p) {
    case DMARC_POLICY_NONE:
        return "none";
    case DMARC_POLICY_QUARANTINE:
        return "quarantine";
    case DMARC_POLICY_REJECT:
        return "reject";
    }
    return "?";
}

static bool policy_value(const struct taglist_tag *t, enum dmarc_policy *out)
{
    if (taglist_value_is(t, "none", true))
        *out = DMARC_POLICY_NONE;
    else if (taglist_value_is(t, "quarantine", true))
        *out = DMARC_POLICY_QUARANTINE;
    else if (taglist_value_is(t, "reject", true))
        *out = DMARC_POLICY_REJECT;
    else
        return false;
    return true;
}

const char *dmarc_record_parse(const char *txt, size_t len, struct dmarc_record *r)
{
    struct taglist tl;
    if (taglist_parse(txt, len, &tl) != NULL)
        return "syntax error";
    if (tl.n == 0 || tl.tag[0].name_len != 1 || tl.tag[0].name[0] != 'v' ||
        !taglist_value_is(&tl.tag[0], "DMARC1", false))
        return "not a DMARC1 record";
    *r = (struct dmarc_record){.pct = 100};
    const struct taglist_tag *p = taglist_find(&tl, "p"), *sp = taglist_find(&tl, "sp"),
                             *rua = taglist_find(&tl, "rua");
    /* RFC 7489 6.6.3: a bad p= (or sp=) is p=none when rua= is there,
     * else the record is unusable. */
    bool ok = p && policy_value(p, &r->p);
    r->sp = r->p;
    if (ok && sp)
        ok = policy_value(sp, &r->sp);
    if (!ok) {
        if (rua == NULL || rua->value_len == 0)
            return "invalid or missing p=";
        r->p = r->sp = DMARC_POLICY_NONE;
    }
    const struct taglist_tag *t;
    if ((t = taglist_find(&tl, "adkim")) != NULL)
        r->strict_dkim = taglist_value_is(t, "s", true);
    if ((t = taglist_find(&tl, "aspf")) != NULL)
        r->strict_spf = taglist_value_is(t, "s", true);
    if ((t = taglist_find(&tl, "pct")) != NULL && t->value_len > 0 && t->value_len <= 3) {
        unsigned v = 0;
        size_t i = 0;
        for (; i < t->value_len && t->value[i] >= '0' && t->value[i] <= '9'; i++)
            v = v * 10 + (unsigned)(t->value[i] - '0');
        if (i == t->value_len && v <= 100)
            r->pct = v;
    }
    return NULL;
}

static void fail_early(struct dmarc *d, enum dmarc_result r, const char *why)
{
    d->o.result = r;
    d->o.why = why;
    d->stage = STAGE_DONE;
}

static void from_fails(struct dmarc *d, enum dmarc_from why_from, const char *why)
{
    d->o.from = why_from;
    d->o.from_domain[0] = '\0';
    fail_early(d, DMARC_PERMERROR, why);
}

/* RFC 7489 6.6.1: exactly one From field, and one domain in it. */
static void check_from(struct dmarc *d, const char *header, size_t hlen)
{
    struct buf from;
    buf_init(&from);
    int n = header_get(header, hlen, "From", &from);
    char **addrs = NULL;
    size_t naddrs = 0;
    bool parsed = n == 1 && header_mailboxes(from.data ? from.data : "", from.len, &addrs, &naddrs);
    buf_free(&from);
    if (n == 0)
        from_fails(d, DMARC_FROM_MISSING, "no From field");
    else if (n > 1)
        from_fails(d, DMARC_FROM_MANY_FIELDS, "more than one From field");
    else if (!parsed)
        from_fails(d, DMARC_FROM_SYNTAX, "From is not a valid address list");
    else if (naddrs == 0)
        from_fails(d, DMARC_FROM_EMPTY, "From holds no address");
    for (size_t i = 0; i < naddrs && d->stage != STAGE_DONE; i++) {
        char dom[DOMAIN_MAX + 1];
        const char *at = strrchr(addrs[i], '@');
        bool valid = at && domain_copy(dom, at + 1, strlen(at + 1));
        /* Among several authors, an unusable domain is another domain: it
         * is never left unchecked behind a checked one. */
        if ((!valid && naddrs > 1) || (valid && i > 0 && strcmp(dom, d->o.from_domain) != 0))
            from_fails(d, DMARC_FROM_MANY_DOMAINS, "From names authors in more than one domain");
        else if (!valid)
            from_fails(d, DMARC_FROM_BAD_DOMAIN, "From address has no valid domain");
        else if (i == 0)
            memcpy(d->o.from_domain, dom, sizeof(dom));
    }
    header_mailboxes_free(addrs, naddrs);
}

struct dmarc *dmarc_new(const char *header, size_t hlen)
{
    struct dmarc *d = xcalloc(1, sizeof(*d));
    d->o.result = DMARC_NONE;
    d->o.why = "no DMARC record";
    d->o.from = DMARC_FROM_OK;
    check_from(d, header, hlen);
    return d;
}

bool dmarc_next(struct dmarc *d, struct dmarc_query *q_r)
{
    if (d->stage == STAGE_DONE)
        return false;
    if (!d->waiting) {
        const char *dom = d->stage == STAGE_ORG ? domain_org(d->o.from_domain) : d->o.from_domain;
        snprintf(d->qname, sizeof(d->qname), "_dmarc.%s", dom);
        d->waiting = true;
    }
    q_r->name = d->qname;
    return true;
}

void dmarc_answer(struct dmarc *d, const struct dns_answer *a)
{
    if (d->stage == STAGE_DONE || !d->waiting)
        return;
    d->waiting = false;
    if (a->status == DNS_TEMPFAIL) {
        fail_early(d, DMARC_TEMPERROR, "DNS error looking up the DMARC record");
        return;
    }
    /* RFC 7489 6.6.3: exactly one record starting with v=DMARC1 counts. */
    struct buf txt;
    buf_init(&txt);
    size_t found = 0;
    struct dmarc_record rec, r;
    for (size_t i = 0; a->status == DNS_OK && i < a->n; i++) {
        buf_reset(&txt);
        if (!dns_rr_txt(a->rdata[i], (size_t)a->len[i], &txt) || txt.len < 8 ||
            strncmp(txt.data, "v=DMARC1", 8) != 0)
            continue;
        if (found++ == 0 && dmarc_record_parse(txt.data, txt.len, &r) == NULL)
            rec = r, d->o.have_record = true;
    }
    buf_free(&txt);
    if (found > 1)
        d->o.have_record = false;
    if (d->o.have_record) {
        d->o.record = rec;
        d->o.org_record = d->stage == STAGE_ORG;
        d->stage = STAGE_DONE;
        return;
    }
    if (d->stage == STAGE_DOMAIN && strcmp(domain_org(d->o.from_domain), d->o.from_domain) != 0)
        d->stage = STAGE_ORG;
    else
        d->stage = STAGE_DONE;
}

void dmarc_evaluate(struct dmarc *d, const struct dmarc_auth *auth)
{
    struct dmarc_outcome *o = &d->o;
    if (d->evaluated || d->stage != STAGE_DONE || !o->have_record)
        return;
    d->evaluated = true;
    const struct dmarc_record *r = &o->record;
    /* RFC 7489 6.6.3: sp= applies when the record is the organizational
     * domain's and the From domain is below it. */
    o->policy = o->org_record ? r->sp : r->p;
    o->spf_aligned = auth->spf == SPF_PASS && auth->spf_domain &&
                     domain_aligned(auth->spf_domain, o->from_domain, r->strict_spf);
    for (size_t i = 0; i < auth->ndkim && !o->dkim_aligned; i++)
        o->dkim_aligned = auth->dkim[i]->result == DKIM_PASS &&
                          domain_aligned(auth->dkim[i]->domain, o->from_domain, r->strict_dkim);
    if (o->spf_aligned || o->dkim_aligned) {
        o->result = DMARC_PASS;
        o->why = o->dkim_aligned ? "aligned DKIM pass" : "aligned SPF pass";
        o->disposition = DMARC_POLICY_NONE;
        return;
    }
    o->result = DMARC_FAIL;
    o->why = "no aligned SPF or DKIM pass";
    o->disposition = o->policy;
    /* RFC 7489 6.6.4: messages outside the pct= sample get the next
     * policy down. */
    if (auth->pct_roll >= r->pct && o->disposition != DMARC_POLICY_NONE)
        o->disposition =
            o->disposition == DMARC_POLICY_REJECT ? DMARC_POLICY_QUARANTINE : DMARC_POLICY_NONE;
}

const struct dmarc_outcome *dmarc_outcome(const struct dmarc *d)
{
    return &d->o;
}

void dmarc_free(struct dmarc **dp)
{
    free(*dp);
    *dp = NULL;
}
