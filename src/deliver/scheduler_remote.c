/* The relay half of an attempt: due remote recipients grouped into jobs per
 * destination, handed to the mta, and their results written back into the
 * envelope (then stored at once, scheduler_store.c). */
#include "deliver/scheduler_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "conf/conf.h"
#include "daemon.h"
#include "deliver/retry.h"
#include "deliver/mta.h"
#include "deliver/srs.h"
#include "proto/smtp_cmd.h"
#include "proto/smtp_parse.h"
#include "util/log.h"
#include "util/xmalloc.h"

bool sched_is_local(const struct scheduler *s, const char *addr)
{
    const char *at = strrchr(addr, '@');
    return at && conf_is_local_domain(s->d->conf, at + 1);
}

/* The text kept in the envelope's last_error and used in bounces. */
static char *result_text(const struct mta_job *job, const struct mta_rcpt *r)
{
    if (!r->remote_reply)
        return xstrdup(r->reply ? r->reply : "");
    return xasprintf("host %s[%s] said: %s (in reply to %s)", job->relay_host, job->relay_addr,
                     r->reply ? r->reply : "", r->after ? r->after : "a command");
}

/* Whether a recipient deferred now belongs in the message's delay warning:
 * [relay] delay_warning passed since arrival, no warning queued yet (the
 * envelope keeps that), a sender to tell, and NOTIFY allows it. */
static bool sched_warn_due(const struct sched_msg *m, const struct envelope_rcpt *r, int64_t now)
{
    const struct conf *conf = m->sched->d->conf;
    int64_t at = m->env->arrival + (int64_t)(conf->relay_delay_warning_ms / 1000);
    return conf->relay_delay_warning_ms > 0 && !m->env->warned && m->env->sender[0] != '\0' &&
           now >= at && (r->notify == 0 || (r->notify & SMTP_NOTIFY_DELAY));
}

static void job_done(struct mta_job *job, void *arg)
{
    struct sched_msg *m = arg;
    struct scheduler *s = m->sched;
    struct envelope *env = m->env;
    int64_t now = time(NULL);
    m->remote_jobs--;
    for (size_t i = 0; i < job->nrcpts; i++) {
        const struct mta_rcpt *r = &job->rcpts[i];
        struct envelope_rcpt *er = &env->rcpts[r->index];
        char *text = result_text(job, r);
        er->attempts++;
        free(er->last_error);
        er->last_error = text;
        const char *remote = r->remote_reply ? job->relay_host : NULL;
        switch (r->result) {
        case MTA_DONE:
            er->state = RCPT_DONE;
            /* RFC 3461 5.2.3: a server that took NOTIFY reports for itself;
             * one that did not gets the message "relayed", and we say so. */
            if ((er->notify & SMTP_NOTIFY_SUCCESS) && !job->next_hop_dsn && env->sender[0])
                sched_report_push(&m->successes, r->index, r->dsn, job->relay_host, r->reply, true);
            break;
        case MTA_FAIL:
            sched_fail_add(m, r->index, r->dsn, remote, r->remote_reply ? r->reply : text,
                           r->remote_reply);
            break;
        case MTA_DEFER:
        case MTA_PENDING:
            if (retry_expired(s->d->conf, env->arrival, now)) {
                /* RFC 3463 X.4.7: delivery time expired; the last reply
                 * says why. */
                log_warn("event=expired id=%s to=%s lifetime=%llus", env->id, log_q(er->addr),
                         (unsigned long long)(s->d->conf->queue_lifetime_ms / 1000));
                sched_fail_add(m, r->index, "5.4.7", remote, r->remote_reply ? r->reply : text,
                               r->remote_reply);
            } else {
                if (sched_warn_due(m, er, now))
                    sched_report_push(&m->delays, r->index, r->dsn, remote,
                                      r->remote_reply ? r->reply : text, r->remote_reply);
                er->next_attempt = retry_next(s->d->conf, er->attempts, env->arrival, now);
            }
            break;
        }
    }
    mta_job_free(&job);
    sched_store(m);
}

struct group {
    char *key;
    bool srs; /* its job's sender is the SRS form of the envelope's */
    struct mta_job *job;
};

/* Forwarded mail (an alias or catch-all of ours, or an SRS address,
 * leading elsewhere) goes out with an SRS sender, so that the next hop's
 * SPF sees our domain and its bounces reach us. The null sender stays
 * null; a sender of ours needs no rewriting. */
static bool srs_wanted(const struct scheduler *s, const struct envelope *env,
                       const struct envelope_rcpt *r)
{
    const struct conf *conf = s->d->conf;
    if (scheduler_srs(s) == NULL || env->sender[0] == '\0' || r->orig == NULL)
        return false;
    const char *sat = strrchr(env->sender, '@');
    const char *oat = strrchr(r->orig, '@');
    if (sat == NULL || oat == NULL || conf_is_local_domain(conf, sat + 1) ||
        strcasecmp(sat + 1, conf->srs_domain) == 0)
        return false;
    return conf_is_local_domain(conf, oat + 1) || strcasecmp(oat + 1, conf->srs_domain) == 0;
}

static void srs_rewrite(const struct scheduler *s, struct mta_job *job)
{
    const struct srs_secret *k = scheduler_srs(s);
    struct buf out;
    buf_init(&out);
    if (srs_forward(k->key, k->len, time(NULL), job->sender, s->d->conf->srs_domain, &out)) {
        log_debug("event=srs_rewrite id=%s from=%s srs=%s", job->id, log_q(job->sender),
                  log_q(out.data));
        free(job->sender);
        job->sender = xstrdup(out.data);
    } else {
        log_warn("event=srs_not_rewritten id=%s from=%s reason=%s", job->id, log_q(job->sender),
                 "the SRS address would be longer than 64 octets");
    }
    buf_free(&out);
}

void sched_remote_start(struct sched_msg *m, int64_t now)
{
    struct scheduler *s = m->sched;
    struct envelope *env = m->env;
    const struct conf *conf = s->d->conf;
    struct group *groups = NULL;
    size_t ngroups = 0;
    for (size_t i = 0; i < env->nrcpts; i++) {
        struct envelope_rcpt *r = &env->rcpts[i];
        if (r->state != RCPT_PENDING || r->next_attempt == SCHED_NEVER)
            continue;
        if (sched_is_local(s, r->addr)) {
            /* Local recipients that kept failing also expire. */
            if (r->attempts > 0 && retry_expired(conf, env->arrival, now)) {
                /* A mailbox still full at the end is 5.2.2 (RFC 3463). */
                bool full = r->last_error && strncmp(r->last_error, "4.2.2 ", 6) == 0;
                sched_fail_add(m, i, full ? "5.2.2" : "5.4.7", NULL,
                               r->last_error ? r->last_error : "delivery time expired", false);
            }
            continue;
        }
        if (r->next_attempt > now)
            continue;
        if (!smtp_cmd_addr_ok(r->addr, false)) {
            /* Only a damaged or foreign queue file holds such an address:
             * never route it, never send it. */
            log_warn("event=failed id=%s to=%s status=5.1.3 reason=%s", env->id, log_q(r->addr),
                     "bad recipient address syntax in the queue");
            sched_fail_add(m, i, "5.1.3", NULL, "bad recipient address syntax in the queue", false);
            continue;
        }
        char *key;
        if (conf->smarthost) {
            key = xstrdup("");
        } else {
            const char *at = strrchr(r->addr, '@');
            key = xstrdup(at ? at + 1 : "");
            for (char *p = key; *p; p++)
                *p = (char)tolower((unsigned char)*p);
        }
        bool srs = srs_wanted(s, env, r);
        struct group *g = NULL;
        for (size_t k = 0; k < ngroups && g == NULL; k++)
            if (strcmp(groups[k].key, key) == 0 && groups[k].srs == srs &&
                groups[k].job->nrcpts < MTA_JOB_RCPTS_MAX)
                g = &groups[k];
        if (g == NULL) {
            groups = xrealloc(groups, (ngroups + 1) * sizeof(*groups));
            g = &groups[ngroups++];
            g->key = xstrdup(key);
            g->srs = srs;
            g->job = mta_job_new(env, key);
            if (srs)
                srs_rewrite(s, g->job);
        }
        free(key);
        mta_job_add_rcpt(g->job, i, r);
    }
    /* Counted before any is submitted, so no early result ends the cycle. */
    m->remote_jobs += (unsigned)ngroups;
    for (size_t k = 0; k < ngroups; k++) {
        groups[k].job->done = job_done;
        groups[k].job->arg = m;
        mta_submit(s->mta, groups[k].job);
        free(groups[k].key);
    }
    free(groups);
    if (m->fails)
        sched_store(m);
}
