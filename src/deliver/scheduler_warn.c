/* Delay warnings (RFC 3464 Action: delayed): once a remote recipient is
 * still deferred [relay] delay_warning after arrival, the sender is told,
 * once, which recipients are late and until when they are tried.
 *
 * "Once" is kept in memory, not in the queue: a message that passed the
 * threshold before this daemon first saw it (while the daemon was down, or
 * across a restart) gets no warning, so a restart can never send a second
 * one; the price is a missed warning in that case, never a duplicate. */
#include "deliver/scheduler_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "daemon.h"
#include "deliver/bounce.h"
#include "util/log.h"
#include "util/worker.h"
#include "util/xmalloc.h"

struct warn_job {
    struct scheduler *s;
    struct queue *q;
    const char *hostname;
    int64_t now;
    int64_t until;
    struct envelope *copy;
    struct sched_fail *delays;
    char **targets;
    size_t ntargets;
    int rc;
    struct envelope *warning;
};

bool sched_warn_due(const struct sched_msg *m, int64_t now)
{
    const struct conf *conf = m->sched->d->conf;
    int64_t at = m->env->arrival + (int64_t)(conf->relay_delay_warning_ms / 1000);
    return conf->relay_delay_warning_ms > 0 && !m->warned && m->env->sender[0] != '\0' &&
           now >= at && at > m->known_since;
}

void sched_warn_add(struct sched_msg *m, size_t index, const char *status, const char *remote_mta,
                    const char *diagnostic, bool smtp)
{
    sched_report_push(&m->delays, index, status, remote_mta, diagnostic, smtp);
}

static void warn_work(void *arg)
{
    struct warn_job *job = arg;
    size_t n = 0;
    for (struct sched_fail *f = job->delays; f; f = f->next)
        n++;
    struct dsn_rcpt *dr = xcalloc(n, sizeof(*dr));
    size_t i = 0;
    for (struct sched_fail *f = job->delays; f; f = f->next, i++) {
        const struct envelope_rcpt *r = &job->copy->rcpts[f->index];
        dr[i] = (struct dsn_rcpt){
            .final_rcpt = r->addr,
            .orcpt = r->orcpt,
            .action = "delayed",
            .status = f->status,
            .remote_mta = f->remote_mta,
            .diagnostic = f->diagnostic,
            .diagnostic_smtp = f->diagnostic_smtp,
            .last_attempt = job->now,
        };
    }
    job->rc = bounce_queue_delay(job->q, job->hostname, job->copy, dr, n, job->targets,
                                 job->ntargets, job->now, job->until, &job->warning);
    free(dr);
}

static void warn_done(void *arg)
{
    struct warn_job *job = arg;
    if (job->rc == 0) {
        log_info("event=delay_warning id=%s warning_id=%s", job->copy->id, job->warning->id);
        if (job->s->d->stopping)
            envelope_free(&job->warning); /* queued: found again at start */
        else
            scheduler_add_envelope(job->s, job->warning);
    } else {
        /* Not retried: a warning is a courtesy, the message goes on. */
        log_error("event=delay_warning_failed id=%s error=%s", job->copy->id,
                  log_q(strerror(job->rc)));
    }
    sched_fails_free(&job->delays);
    envelope_free(&job->copy);
    for (size_t i = 0; i < job->ntargets; i++)
        free(job->targets[i]);
    free(job->targets);
    free(job);
}

void sched_warn_send(struct sched_msg *m, int64_t now)
{
    if (m->delays == NULL)
        return;
    struct scheduler *s = m->sched;
    m->warned = true;
    struct warn_job *job = xcalloc(1, sizeof(*job));
    job->delays = m->delays;
    m->delays = NULL;
    sched_bounce_targets(s, m->env->sender, &job->targets, &job->ntargets);
    if (job->ntargets == 0) {
        log_warn("event=delay_warning_undeliverable id=%s sender=%s", m->id, log_q(m->env->sender));
        sched_fails_free(&job->delays);
        free(job->targets);
        free(job);
        return;
    }
    job->s = s;
    job->q = s->d->queue;
    job->hostname = s->d->conf->hostname;
    job->now = now;
    job->until = sched_expiry(s, m->env);
    job->copy = sched_envelope_copy(m->env);
    worker_pool_submit(s->d->workers, warn_work, warn_done, job);
}
