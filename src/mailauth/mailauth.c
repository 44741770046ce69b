/* The inbound SPF, DKIM and DMARC checks of one SMTP transaction, driven
 * on the event loop with the asynchronous resolver. */
#include "mailauth/mailauth.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/rand.h>

#include "dns/rr.h"
#include "mailauth/authres.h"
#include "util/log.h"
#include "util/xmalloc.h"

enum slot_kind { SLOT_SPF, SLOT_DMARC, SLOT_DKIM };

/* One outstanding query; its address is the resolver callback's arg. */
struct slot {
    struct mailauth *m;
    enum slot_kind kind;
    size_t index; /* the signature, for SLOT_DKIM */
    struct dns_query *q;
};

struct mailauth {
    struct event_base *base;
    struct dns_resolver *resolver;
    char *hostname;
    struct event *defer; /* runs the caller's callback from the loop */
    mailauth_fn fn;
    void *arg;
    bool wait_all; /* fn waits for everything, not just SPF */

    struct spf *spf;
    struct dkim_verify *dkim;
    bool lookups_started; /* key and _dmarc lookups */
    bool ended;
    struct dmarc *dmarc;
    bool dmarc_evaluated;
    struct slot spf_slot, dmarc_slot, dkim_slots[DKIM_VERIFY_MAX_SIGS];
};

static void on_answer(void *arg, const struct dns_answer *a);

/* Starts a query; if the resolver refuses it outright, answers it at once
 * with a temporary failure (the caller's step loop then goes on). */
static bool query(struct slot *s, const char *name, int type, struct dns_answer *refused_r)
{
    s->q = dns_resolver_query(s->m->resolver, name, type, on_answer, s);
    if (s->q)
        return true;
    *refused_r = (struct dns_answer){.status = DNS_TEMPFAIL, .why = "resolver refused the query"};
    return false;
}

static void check_done(struct mailauth *m);

static void spf_step(struct mailauth *m)
{
    struct spf_query q;
    struct dns_answer refused;
    while (spf_next(m->spf, &q))
        if (query(&m->spf_slot, q.name, q.type, &refused))
            return;
        else
            spf_answer(m->spf, &refused);
}

static void dmarc_step(struct mailauth *m)
{
    struct dmarc_query q;
    struct dns_answer refused;
    while (dmarc_next(m->dmarc, &q))
        if (query(&m->dmarc_slot, q.name, DNS_TYPE_TXT, &refused))
            return;
        else
            dmarc_answer(m->dmarc, &refused);
}

/* A key lookup's answer: the first TXT record that looks like a key
 * record (RFC 6376 3.6.2.2 lets the verifier choose among several). */
static void dkim_feed(struct mailauth *m, size_t i, const struct dns_answer *a)
{
    if (a->status == DNS_TEMPFAIL) {
        dkim_verify_key(m->dkim, i, DKIM_DNS_TEMPFAIL, NULL, 0);
        return;
    }
    struct buf txt, first;
    buf_init(&txt);
    buf_init(&first);
    bool found = false;
    for (size_t k = 0; a->status == DNS_OK && k < a->n && !found; k++) {
        buf_reset(&txt);
        if (!dns_rr_txt(a->rdata[k], (size_t)a->len[k], &txt))
            continue;
        if (first.len == 0)
            buf_append(&first, txt.data, txt.len);
        found = strstr(txt.data, "p=") != NULL;
    }
    struct buf *pick = found ? &txt : &first;
    if (pick->len == 0)
        dkim_verify_key(m->dkim, i, DKIM_DNS_NONE, NULL, 0);
    else
        dkim_verify_key(m->dkim, i, DKIM_DNS_FOUND, pick->data, pick->len);
    buf_free(&txt);
    buf_free(&first);
}

/* Once the header section is complete: every key lookup, and _dmarc. */
static void start_lookups(struct mailauth *m)
{
    if (m->lookups_started || !dkim_verify_headers_done(m->dkim))
        return;
    m->lookups_started = true;
    for (size_t i = 0; i < dkim_verify_count(m->dkim); i++) {
        const char *name = dkim_verify_key_name(m->dkim, i);
        struct dns_answer refused;
        if (name && !query(&m->dkim_slots[i], name, DNS_TYPE_TXT, &refused))
            dkim_feed(m, i, &refused);
    }
    size_t hlen;
    const char *h = dkim_verify_header(m->dkim, &hlen);
    m->dmarc = dmarc_new(h, hlen);
    dmarc_step(m);
}

static void on_answer(void *arg, const struct dns_answer *a)
{
    struct slot *s = arg;
    struct mailauth *m = s->m;
    s->q = NULL; /* the resolver has freed it */
    switch (s->kind) {
    case SLOT_SPF:
        spf_answer(m->spf, a);
        spf_step(m);
        break;
    case SLOT_DMARC:
        dmarc_answer(m->dmarc, a);
        dmarc_step(m);
        break;
    case SLOT_DKIM:
        dkim_feed(m, s->index, a);
        break;
    }
    check_done(m);
}

static void on_defer(evutil_socket_t fd, short what, void *arg)
{
    struct mailauth *m = arg;
    mailauth_fn fn = m->fn;
    m->fn = NULL;
    if (fn)
        fn(m->arg);
}

static bool spf_done(const struct mailauth *m)
{
    struct spf_query q;
    return m->spf == NULL || !spf_next(m->spf, &q);
}

static void check_done(struct mailauth *m)
{
    if (m->fn == NULL || evtimer_pending(m->defer, NULL))
        return;
    if (!spf_done(m))
        return;
    if (m->wait_all) {
        struct dmarc_query q;
        if (!m->ended || !dkim_verify_done(m->dkim) || (m->dmarc && dmarc_next(m->dmarc, &q)))
            return;
        if (m->dmarc && !m->dmarc_evaluated) {
            m->dmarc_evaluated = true;
            const struct dkim_sig_result *sigs[DKIM_VERIFY_MAX_SIGS];
            size_t n = dkim_verify_count(m->dkim);
            for (size_t i = 0; i < n; i++)
                sigs[i] = dkim_verify_result(m->dkim, i);
            unsigned char roll[4];
            if (RAND_bytes(roll, sizeof(roll)) != 1)
                memset(roll, 0, sizeof(roll));
            struct dmarc_auth auth = {
                .spf = m->spf ? spf_result(m->spf) : SPF_NONE,
                .spf_domain = m->spf ? spf_domain(m->spf) : NULL,
                .dkim = sigs,
                .ndkim = n,
                .pct_roll = (unsigned)(((uint32_t)roll[0] << 24 | (uint32_t)roll[1] << 16 |
                                        (uint32_t)roll[2] << 8 | roll[3]) %
                                       100u),
            };
            dmarc_evaluate(m->dmarc, &auth);
        }
    }
    struct timeval now = {0, 0};
    evtimer_add(m->defer, &now);
}

struct mailauth *mailauth_new(struct event_base *base, struct dns_resolver *resolver,
                              const char *hostname)
{
    struct mailauth *m = xcalloc(1, sizeof(*m));
    m->base = base;
    m->resolver = resolver;
    m->hostname = xstrdup(hostname);
    m->defer = evtimer_new(base, on_defer, m);
    m->dkim = dkim_verify_new(time(NULL));
    m->spf_slot = (struct slot){.m = m, .kind = SLOT_SPF};
    m->dmarc_slot = (struct slot){.m = m, .kind = SLOT_DMARC};
    for (size_t i = 0; i < DKIM_VERIFY_MAX_SIGS; i++)
        m->dkim_slots[i] = (struct slot){.m = m, .kind = SLOT_DKIM, .index = i};
    return m;
}

void mailauth_spf_start(struct mailauth *m, const char *ip, const char *helo, const char *sender)
{
    if (m->spf)
        return;
    m->spf = spf_new(ip, helo, sender);
    spf_step(m);
}

void mailauth_wait_spf(struct mailauth *m, mailauth_fn fn, void *arg)
{
    m->fn = fn;
    m->arg = arg;
    m->wait_all = false;
    check_done(m);
}

void mailauth_data(struct mailauth *m, const void *data, size_t len)
{
    if (m->ended)
        return;
    dkim_verify_update(m->dkim, data, len);
    start_lookups(m);
}

void mailauth_end(struct mailauth *m, mailauth_fn fn, void *arg)
{
    if (!m->ended) {
        m->ended = true;
        dkim_verify_end(m->dkim);
        start_lookups(m);
    }
    evtimer_del(m->defer);
    m->fn = fn;
    m->arg = arg;
    m->wait_all = true;
    check_done(m);
}

enum spf_result mailauth_spf_result(const struct mailauth *m)
{
    return m->spf ? spf_result(m->spf) : SPF_NONE;
}

size_t mailauth_dkim_count(const struct mailauth *m)
{
    return dkim_verify_count(m->dkim);
}

const struct dkim_sig_result *mailauth_dkim(const struct mailauth *m, size_t i)
{
    return dkim_verify_result(m->dkim, i);
}

const struct dmarc_outcome *mailauth_dmarc(const struct mailauth *m)
{
    return m->dmarc && m->dmarc_evaluated ? dmarc_outcome(m->dmarc) : NULL;
}

bool mailauth_dmarc_rejects(const struct mailauth *m)
{
    const struct dmarc_outcome *o = mailauth_dmarc(m);
    return o && o->result == DMARC_FAIL && o->disposition == DMARC_POLICY_REJECT;
}

enum dmarc_from mailauth_from(const struct mailauth *m)
{
    return m->dmarc ? dmarc_outcome(m->dmarc)->from : DMARC_FROM_MISSING;
}

bool mailauth_header_truncated(const struct mailauth *m)
{
    return dkim_verify_header_truncated(m->dkim);
}

void mailauth_authres(const struct mailauth *m, struct buf *out)
{
    const struct dkim_sig_result *sigs[DKIM_VERIFY_MAX_SIGS];
    size_t n = dkim_verify_count(m->dkim);
    for (size_t i = 0; i < n; i++)
        sigs[i] = dkim_verify_result(m->dkim, i);
    struct authres ar = {
        .hostname = m->hostname,
        .have_spf = m->spf != NULL,
        .spf = mailauth_spf_result(m),
        .spf_why = m->spf ? spf_why(m->spf) : NULL,
        .spf_helo = m->spf && spf_is_helo(m->spf),
        .have_dkim = m->ended,
        .dkim = sigs,
        .ndkim = n,
        .dmarc = m->dmarc ? dmarc_outcome(m->dmarc) : NULL,
    };
    if (m->spf)
        ar.spf_identity = spf_is_helo(m->spf) ? spf_domain(m->spf) : spf_sender(m->spf);
    authres_build(&ar, out);
}

const char *mailauth_header(const struct mailauth *m, size_t *len_r)
{
    return dkim_verify_header(m->dkim, len_r);
}

void mailauth_free(struct mailauth **mp)
{
    struct mailauth *m = *mp;
    if (m == NULL)
        return;
    dns_query_cancel(&m->spf_slot.q);
    dns_query_cancel(&m->dmarc_slot.q);
    for (size_t i = 0; i < DKIM_VERIFY_MAX_SIGS; i++)
        dns_query_cancel(&m->dkim_slots[i].q);
    event_free(m->defer);
    spf_free(&m->spf);
    dkim_verify_free(&m->dkim);
    dmarc_free(&m->dmarc);
    free(m->hostname);
    free(m);
    *mp = NULL;
}
