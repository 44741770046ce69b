/* Outbound delivery: destinations, their queues and routes, and the limits
 * on connections. The SMTP conversation itself is in mta_session.c. */
#include "deliver/mta_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf/conf.h"
#include "daemon.h"
#include "net/tls.h"
#include "util/log.h"
#include "util/xmalloc.h"

/* The smarthost's verifying context, made at start (after the privilege
 * drop: ca_file must be readable by the service user), or after a reload
 * that turned verification on. NULL when it is not needed or failed. */
static SSL_CTX *mta_verify_ctx(struct mta *m)
{
    const struct conf *conf = m->d->conf;
    if (m->tls_verify || !conf->smarthost || conf->smarthost_tls != CONF_TLS_VERIFY)
        return m->tls_verify;
    struct buf err;
    buf_init(&err);
    m->tls_verify = tls_client_new(true, conf->relay_ca_file, &err);
    if (m->tls_verify == NULL)
        log_error("event=tls_client_init_failed error=%s", log_q(err.data));
    buf_free(&err);
    return m->tls_verify;
}

struct mta *mta_new(struct daemon *d)
{
    struct mta *m = xcalloc(1, sizeof(*m));
    m->d = d;
    struct buf err;
    buf_init(&err);
    /* Opportunistic TLS (RFC 7435) for MX hosts: encrypt whenever the peer
     * offers it, never refuse a certificate; the verification is logged. */
    m->tls = tls_client_new(false, NULL, &err);
    if (err.len)
        log_error("event=tls_client_init_failed error=%s", log_q(err.data));
    buf_free(&err);
    mta_verify_ctx(m);
    return m;
}

static void dest_free(struct mta_dest *dest)
{
    struct mta *m = dest->mta;
    if (dest->prev)
        dest->prev->next = dest->next;
    else
        m->dests = dest->next;
    if (dest->next)
        dest->next->prev = dest->prev;
    route_lookup_cancel(&dest->lookup);
    while (dest->head) {
        struct mta_job *j = dest->head;
        dest->head = j->next;
        mta_job_free(&j);
    }
    free(dest->addrs);
    free(dest->key);
    free(dest->name);
    free(dest);
}

void mta_free(struct mta **mp)
{
    struct mta *m = *mp;
    if (m == NULL)
        return;
    mta_session_free_all(m);
    while (m->dests)
        dest_free(m->dests);
    tls_ctx_free(&m->tls);
    tls_ctx_free(&m->tls_verify);
    free(m);
    *mp = NULL;
}

struct mta_job *mta_job_new(const struct envelope *env, const char *dest)
{
    struct mta_job *j = xcalloc(1, sizeof(*j));
    memcpy(j->id, env->id, sizeof(j->id));
    j->dest = xstrdup(dest);
    j->sender = xstrdup(env->sender);
    j->smtputf8 = env->smtputf8;
    j->ret = env->ret;
    j->envid = env->envid ? xstrdup(env->envid) : NULL;
    j->body_8bit = env->body_8bit;
    j->prepend = env->prepend ? xstrdup(env->prepend) : NULL;
    j->size = env->size + (env->prepend ? strlen(env->prepend) : 0);
    j->arrival = env->arrival;
    return j;
}

void mta_job_add_rcpt(struct mta_job *job, size_t index, const struct envelope_rcpt *er)
{
    job->rcpts = xrealloc(job->rcpts, (job->nrcpts + 1) * sizeof(*job->rcpts));
    struct mta_rcpt *r = &job->rcpts[job->nrcpts++];
    memset(r, 0, sizeof(*r));
    r->index = index;
    r->addr = xstrdup(er->addr);
    r->notify = er->notify;
    r->orcpt = er->orcpt ? xstrdup(er->orcpt) : NULL;
}

void mta_job_free(struct mta_job **jp)
{
    struct mta_job *j = *jp;
    if (j == NULL)
        return;
    for (size_t i = 0; i < j->nrcpts; i++) {
        free(j->rcpts[i].addr);
        free(j->rcpts[i].reply);
        free(j->rcpts[i].orcpt);
    }
    free(j->rcpts);
    free(j->dest);
    free(j->sender);
    free(j->envid);
    free(j->prepend);
    free(j);
    *jp = NULL;
}

void mta_job_set_all(struct mta_job *job, enum mta_result result, const char *dsn,
                     const char *reply, bool remote)
{
    for (size_t i = 0; i < job->nrcpts; i++) {
        struct mta_rcpt *r = &job->rcpts[i];
        if (r->result != MTA_PENDING)
            continue;
        r->result = result;
        snprintf(r->dsn, sizeof(r->dsn), "%s", dsn);
        free(r->reply);
        r->reply = xstrdup(reply);
        r->remote_reply = remote;
        r->after = NULL;
    }
}

/* One line per recipient and attempt, then the scheduler's callback. */
void mta_job_finish(struct mta *m, struct mta_job *job)
{
    long long delay = (long long)(time(NULL) - job->arrival);
    for (size_t i = 0; i < job->nrcpts; i++) {
        struct mta_rcpt *r = &job->rcpts[i];
        if (r->result == MTA_PENDING) {
            /* Cannot happen; never leave a recipient without an outcome. */
            r->result = MTA_DEFER;
            snprintf(r->dsn, sizeof(r->dsn), "4.3.0");
            free(r->reply);
            r->reply = xstrdup("internal error: no result");
        }
        static const char *events[] = {"pending", "delivered", "deferred", "failed"};
        log_msg(r->result == MTA_DONE ? LOG_LEVEL_INFO : LOG_LEVEL_WARN,
                "event=%s id=%s to=%s relay=%s addr=%s delay=%llds status=%s %s=%s%s%s",
                events[r->result], job->id, log_q(r->addr),
                log_q(job->relay_host[0] ? job->relay_host : "none"),
                log_q(job->relay_addr[0] ? job->relay_addr : "none"), delay, r->dsn,
                r->remote_reply ? "reply" : "reason", log_q(r->reply),
                r->remote_reply && r->after ? " after=" : "",
                r->remote_reply && r->after ? log_q(r->after) : "");
    }
    job->done(job, job->arg);
}

static void dest_pump(struct mta_dest *dest);

static void dest_fail_queued(struct mta_dest *dest, enum mta_result result, const char *dsn,
                             const char *why)
{
    while (dest->head) {
        struct mta_job *j = dest->head;
        dest->head = j->next;
        if (dest->head == NULL)
            dest->tail = NULL;
        j->next = NULL;
        mta_job_set_all(j, result, dsn, why, false);
        mta_job_finish(dest->mta, j);
    }
}

static void dest_maybe_free(struct mta_dest *dest)
{
    if (dest->head == NULL && dest->sessions == 0 && dest->lookup == NULL)
        dest_free(dest);
}

static void on_route(void *arg, struct route_result *res)
{
    struct mta_dest *dest = arg;
    dest->lookup = NULL;
    if (res->status != ROUTE_OK) {
        log_warn("event=route_failed dest=%s status=%s reason=%s", log_q(dest->name), res->dsn,
                 log_q(res->why));
        dest_fail_queued(dest, res->status == ROUTE_PERMFAIL ? MTA_FAIL : MTA_DEFER, res->dsn,
                         res->why);
        dest_maybe_free(dest);
        return;
    }
    dest->routed = true;
    dest->addrs = res->addrs;
    dest->naddrs = res->naddrs;
    dest->next_addr = 0;
    for (size_t i = 0; i < res->naddrs; i++)
        log_debug("event=route dest=%s host=%s addr=%s pref=%u", log_q(dest->name),
                  log_q(res->addrs[i].host), res->addrs[i].ip, res->addrs[i].pref);
    dest_pump(dest);
    dest_maybe_free(dest);
}

static void pump_all(struct mta *m)
{
    for (struct mta_dest *d = m->dests, *next; d; d = next) {
        next = d->next;
        if (d->head && d->routed)
            dest_pump(d);
    }
}

struct mta_job *mta_dest_take_job(struct mta_dest *dest)
{
    struct mta_job *j = dest->head;
    if (j) {
        dest->head = j->next;
        if (dest->head == NULL)
            dest->tail = NULL;
        j->next = NULL;
    }
    return j;
}

static void dest_pump(struct mta_dest *dest)
{
    struct mta *m = dest->mta;
    const struct conf *conf = m->d->conf;
    if (!dest->routed) {
        if (dest->lookup == NULL && dest->head)
            dest->lookup = route_lookup_start(m->d->base, m->d->resolver, dest->name, dest->use_mx,
                                              dest->port, conf->hostname, on_route, dest);
        return;
    }
    while (dest->head && dest->sessions < conf->relay_connections_per_domain &&
           m->sessions < conf->relay_connections) {
        dest->sessions++;
        m->sessions++;
        mta_session_start(dest, mta_dest_take_job(dest));
    }
}

void mta_session_ended(struct mta_dest *dest, const char *why_dead)
{
    struct mta *m = dest->mta;
    dest->sessions--;
    m->sessions--;
    if (why_dead)
        dest_fail_queued(dest, MTA_DEFER, "4.4.1", why_dead);
    dest_pump(dest);
    dest_maybe_free(dest);
    pump_all(m);
}

/* "host", "host:port", "[host]:port" or "[IPv6]:port" */
static void parse_smarthost(const char *s, uint16_t dflt, char **host_r, uint16_t *port_r)
{
    const char *colon = NULL;
    const char *h = s;
    size_t hl;
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        h = s + 1;
        hl = end ? (size_t)(end - h) : strlen(h);
        if (end && end[1] == ':')
            colon = end + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon && strchr(s, ':') != colon)
            colon = NULL; /* a bare IPv6 address */
        hl = colon ? (size_t)(colon - s) : strlen(s);
    }
    *host_r = xstrndup(h, hl);
    *port_r = dflt;
    if (colon) {
        long p = strtol(colon + 1, NULL, 10);
        if (p > 0 && p < 65536)
            *port_r = (uint16_t)p;
    }
}

void mta_submit(struct mta *m, struct mta_job *job)
{
    struct mta_dest *dest = m->dests;
    while (dest && strcmp(dest->key, job->dest) != 0)
        dest = dest->next;
    if (dest == NULL) {
        const struct conf *conf = m->d->conf;
        dest = xcalloc(1, sizeof(*dest));
        dest->mta = m;
        dest->key = xstrdup(job->dest);
        if (job->dest[0] == '\0' && conf->smarthost) {
            parse_smarthost(conf->smarthost, (uint16_t)conf->relay_port, &dest->name, &dest->port);
            dest->use_mx = false;
            dest->tls_mode = conf->smarthost_tls;
            dest->tls_ctx = dest->tls_mode == CONF_TLS_VERIFY ? mta_verify_ctx(m) : m->tls;
        } else {
            dest->name = xstrdup(job->dest);
            dest->port = (uint16_t)conf->relay_port;
            dest->use_mx = true;
            dest->tls_mode = CONF_TLS_MAY;
            dest->tls_ctx = m->tls;
        }
        dest->next = m->dests;
        if (m->dests)
            m->dests->prev = dest;
        m->dests = dest;
    }
    job->next = NULL;
    if (dest->tail)
        dest->tail->next = job;
    else
        dest->head = job;
    dest->tail = job;
    dest_pump(dest);
}
