/* Envelope updates and bounces, in a worker: the bounce of a failed
 * recipient is queued before the envelope says "failed", so a crash in
 * between can repeat a bounce but never lose one. One store per message
 * runs at a time; changes made meanwhile are stored right after it. */
#include "deliver/scheduler_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/users.h"
#include "conf/conf.h"
#include "daemon.h"
#include "deliver/bounce.h"
#include "deliver/local.h"
#include "proto/smtp_parse.h"
#include "queue/queue.h"
#include "util/log.h"
#include "util/worker.h"
#include "util/xmalloc.h"

struct store_job {
    struct sched_msg *m;
    struct queue *q;
    const char *hostname;
    int64_t now;
    int64_t retry_at; /* for the failed recipients when their bounce cannot be queued */
    struct envelope *copy;
    struct sched_fail *fails;
    char **targets; /* where the bounce goes; NULL: no bounce */
    size_t ntargets;
    int bounce_rc;
    struct envelope *bounce_env;
    int store_rc;
    bool removed;
};

struct sched_fail *sched_report_push(struct sched_fail **list, size_t index, const char *status,
                                     const char *remote_mta, const char *diagnostic, bool smtp)
{
    struct sched_fail *f = xcalloc(1, sizeof(*f));
    f->index = index;
    snprintf(f->status, sizeof(f->status), "%s", status);
    f->remote_mta = remote_mta && *remote_mta ? xstrdup(remote_mta) : NULL;
    f->diagnostic = xstrdup(diagnostic ? diagnostic : "");
    f->diagnostic_smtp = smtp;
    f->next = *list;
    *list = f;
    return f;
}

void sched_fail_add(struct sched_msg *m, size_t index, const char *status, const char *remote_mta,
                    const char *diagnostic, bool smtp)
{
    sched_report_push(&m->fails, index, status, remote_mta, diagnostic, smtp);
    m->env->rcpts[index].next_attempt = SCHED_NEVER;
}

void sched_fails_free(struct sched_fail **list)
{
    while (*list) {
        struct sched_fail *f = *list;
        *list = f->next;
        free(f->remote_mta);
        free(f->diagnostic);
        free(f);
    }
}

struct envelope *sched_envelope_copy(const struct envelope *env)
{
    struct buf b;
    buf_init(&b);
    envelope_serialize(env, &b);
    struct envelope *copy = NULL;
    const char *why = envelope_parse(b.data, b.len, &copy);
    buf_free(&b);
    if (why) {
        log_error("event=envelope_copy_failed id=%s error=%s", env->id, log_q(why));
        abort(); /* serialize and parse disagree: a bug, never data */
    }
    return copy;
}

/* RFC 3461 4.1: a failure is reported unless the client asked otherwise
 * (NOTIFY=NEVER, or a NOTIFY list without FAILURE). */
static bool wants_bounce(const struct envelope_rcpt *r)
{
    return r->notify == 0 || (r->notify & SMTP_NOTIFY_FAILURE);
}

static void store_work(void *arg)
{
    struct store_job *job = arg;
    struct envelope *copy = job->copy;
    if (job->targets) {
        size_t n = 0;
        for (struct sched_fail *f = job->fails; f; f = f->next)
            n++;
        struct dsn_rcpt *dr = xcalloc(n, sizeof(*dr));
        size_t i = 0;
        for (struct sched_fail *f = job->fails; f; f = f->next) {
            const struct envelope_rcpt *r = &copy->rcpts[f->index];
            if (!wants_bounce(r))
                continue;
            dr[i++] = (struct dsn_rcpt){
                .final_rcpt = r->addr,
                .orcpt = r->orcpt,
                .action = "failed",
                .status = f->status,
                .remote_mta = f->remote_mta,
                .diagnostic = f->diagnostic,
                .diagnostic_smtp = f->diagnostic_smtp,
                .last_attempt = job->now,
            };
        }
        job->bounce_rc = bounce_queue(job->q, job->hostname, copy, dr, i, job->targets,
                                      job->ntargets, job->now, &job->bounce_env);
        free(dr);
    }
    for (struct sched_fail *f = job->fails; f; f = f->next) {
        struct envelope_rcpt *r = &copy->rcpts[f->index];
        if (job->bounce_rc == 0) {
            r->state = RCPT_FAILED;
            r->next_attempt = 0;
        } else {
            r->next_attempt = job->retry_at;
        }
    }
    if (envelope_pending(copy) == 0) {
        job->store_rc = queue_remove(job->q, copy->id);
        job->removed = job->store_rc == 0;
    } else {
        job->store_rc = queue_envelope_store(job->q, copy);
    }
}

static void store_done(void *arg)
{
    struct store_job *job = arg;
    struct sched_msg *m = job->m;
    struct scheduler *s = m->sched;
    m->storing = false;
    for (struct sched_fail *f = job->fails; f; f = f->next) {
        struct envelope_rcpt *r = &m->env->rcpts[f->index];
        if (job->bounce_rc == 0) {
            r->state = RCPT_FAILED;
            const char *bid = !m->env->sender[0] ? "none-null-sender"
                              : !wants_bounce(r) ? "none-notify"
                              : job->bounce_env  ? job->bounce_env->id
                                                 : "none";
            log_info("event=bounced id=%s to=%s status=%s bounce_id=%s", m->id, log_q(r->addr),
                     f->status, bid);
        } else {
            r->next_attempt = job->retry_at;
            log_error("event=bounce_failed id=%s to=%s error=%s", m->id, log_q(r->addr),
                      log_q(strerror(job->bounce_rc)));
        }
    }
    if (job->store_rc != 0)
        log_error("event=queue_update_failed id=%s error=%s", m->id,
                  log_q(strerror(job->store_rc)));
    if (job->removed) {
        m->gone = true;
        log_info("event=removed id=%s", m->id);
    }
    if (job->bounce_env) {
        if (s->d->stopping)
            envelope_free(&job->bounce_env); /* queued: found again at start */
        else
            scheduler_add_envelope(s, job->bounce_env);
    }
    sched_fails_free(&job->fails);
    envelope_free(&job->copy);
    for (size_t i = 0; i < job->ntargets; i++)
        free(job->targets[i]);
    free(job->targets);
    free(job);
    if (m->store_again && !m->gone) {
        m->store_again = false;
        sched_store(m);
        return;
    }
    sched_cycle_end(m);
}

/* Where a bounce to the sender goes: the sender itself, or for a local
 * sender its mailbox or alias targets. */
void sched_bounce_targets(struct scheduler *s, const char *sender, char ***targets_r, size_t *n_r)
{
    *targets_r = NULL;
    *n_r = 0;
    const char *at = strrchr(sender, '@');
    if (at && conf_is_local_domain(s->d->conf, at + 1)) {
        user_table_resolve(s->d->users, sender, targets_r, n_r);
        return;
    }
    *targets_r = xcalloc(1, sizeof(char *));
    (*targets_r)[0] = xstrdup(sender);
    *n_r = 1;
}

void sched_store(struct sched_msg *m)
{
    if (m->gone)
        return;
    if (m->storing) {
        m->store_again = true;
        return;
    }
    struct scheduler *s = m->sched;
    struct store_job *job = xcalloc(1, sizeof(*job));
    job->m = m;
    job->q = s->d->queue;
    job->hostname = s->d->conf->hostname;
    job->now = time(NULL);
    job->copy = sched_envelope_copy(m->env);
    job->fails = m->fails;
    m->fails = NULL;
    bool bounce = false;
    for (struct sched_fail *f = job->fails; f && !bounce; f = f->next)
        bounce = wants_bounce(&m->env->rcpts[f->index]);
    if (job->fails) {
        /* No bounce for a bounce (the null sender): no loops. */
        if (bounce && m->env->sender[0] != '\0') {
            sched_bounce_targets(s, m->env->sender, &job->targets, &job->ntargets);
            if (job->ntargets == 0)
                log_warn("event=bounce_undeliverable id=%s sender=%s reason=%s", m->id,
                         log_q(m->env->sender), "no such local mailbox");
        }
        unsigned attempts = 1;
        for (struct sched_fail *f = job->fails; f; f = f->next)
            if (m->env->rcpts[f->index].attempts > attempts)
                attempts = m->env->rcpts[f->index].attempts;
        job->retry_at = job->now + local_retry_delay(s->d->conf, attempts);
        if (job->ntargets == 0) {
            free(job->targets);
            job->targets = NULL;
        }
    }
    m->storing = true;
    worker_pool_submit(s->d->workers, store_work, store_done, job);
}
