/* Envelope updates and the reports they owe the sender, in a worker: the
 * bounce of a failed recipient (and a success report, and the delay
 * warning) is queued before the envelope records the outcome, so a crash
 * in between can repeat a report but never lose one. One store per message
 * runs at a time; changes made meanwhile are stored right after it. */
#include "deliver/scheduler_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf/conf.h"
#include "daemon.h"
#include "deliver/bounce.h"
#include "deliver/retry.h"
#include "proto/smtp_parse.h"
#include "queue/queue.h"
#include "snapshot.h"
#include "util/log.h"
#include "util/worker.h"
#include "util/xmalloc.h"

/* One report to the sender: which recipients, and what it says of them. */
struct store_report {
    enum dsn_kind kind;
    struct sched_fail *list;
    const char *action; /* in the DSN */
    const char *event;  /* in the log */
    struct envelope *queued;
    int rc;
};

enum { REPORT_FAILURE, REPORT_DELAY, REPORT_SUCCESS, NREPORTS };

struct store_job {
    struct sched_msg *m;
    struct queue *q;
    struct snapshot *snap; /* hostname points into its configuration */
    const char *hostname;
    int64_t now;
    int64_t retry_at; /* for the failed recipients when their bounce cannot be queued */
    int64_t retry_until;
    struct envelope *copy;
    struct store_report reports[NREPORTS];
    char **targets; /* where the reports go; NULL: none */
    size_t ntargets;
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
    f->diagnostic = diagnostic ? xstrdup(diagnostic) : NULL;
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

static struct envelope *sched_envelope_copy(const struct envelope *env)
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

/* (worker) Queues one report; rc is 0 when nothing had to be sent. */
static void report_queue(struct store_job *job, struct store_report *rep)
{
    size_t n = 0;
    for (struct sched_fail *f = rep->list; f; f = f->next)
        n++;
    struct dsn_rcpt *dr = xcalloc(n ? n : 1, sizeof(*dr));
    size_t i = 0;
    for (struct sched_fail *f = rep->list; f; f = f->next) {
        const struct envelope_rcpt *r = &job->copy->rcpts[f->index];
        if (rep->kind == DSN_FAILURE && !wants_bounce(r))
            continue;
        /* A success with no remote MTA was a delivery into a mailbox here. */
        bool delivered = rep->kind == DSN_SUCCESS && f->remote_mta == NULL;
        dr[i++] = (struct dsn_rcpt){
            .final_rcpt = r->addr,
            .orcpt = r->orcpt,
            .action = delivered ? "delivered" : rep->action,
            .status = f->status,
            .remote_mta = f->remote_mta,
            .diagnostic = f->diagnostic,
            .diagnostic_smtp = f->diagnostic_smtp,
            .last_attempt = job->now,
        };
    }
    rep->rc = 0;
    if (i > 0 && job->targets) {
        struct bounce_report br = {
            .kind = rep->kind,
            .rcpts = dr,
            .nrcpts = i,
            .targets = job->targets,
            .ntargets = job->ntargets,
            .now = job->now,
            .retry_until = job->retry_until,
        };
        rep->rc = bounce_queue(job->q, job->hostname, job->copy, &br, &rep->queued);
    }
    free(dr);
}

static void store_work(void *arg)
{
    struct store_job *job = arg;
    struct envelope *copy = job->copy;
    for (int k = 0; k < NREPORTS; k++)
        report_queue(job, &job->reports[k]);
    for (struct sched_fail *f = job->reports[REPORT_FAILURE].list; f; f = f->next) {
        struct envelope_rcpt *r = &copy->rcpts[f->index];
        if (job->reports[REPORT_FAILURE].rc == 0) {
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

/* Logs the outcome of the failure report, per recipient. */
static void log_bounces(struct store_job *job)
{
    struct sched_msg *m = job->m;
    const struct store_report *rep = &job->reports[REPORT_FAILURE];
    for (struct sched_fail *f = rep->list; f; f = f->next) {
        struct envelope_rcpt *r = &m->env->rcpts[f->index];
        if (rep->rc == 0) {
            r->state = RCPT_FAILED;
            const char *bid = !m->env->sender[0] ? "none-null-sender"
                              : !wants_bounce(r) ? "none-notify"
                              : rep->queued      ? rep->queued->id
                                                 : "none";
            log_info("event=bounced id=%s to=%s status=%s bounce_id=%s", m->id, log_q(r->addr),
                     f->status, bid);
        } else {
            r->next_attempt = job->retry_at;
            log_error("event=bounce_failed id=%s to=%s error=%s", m->id, log_q(r->addr),
                      log_q(strerror(rep->rc)));
        }
    }
}

static void store_done(void *arg)
{
    struct store_job *job = arg;
    struct sched_msg *m = job->m;
    struct scheduler *s = m->sched;
    m->storing = false;
    log_bounces(job);
    for (int k = REPORT_DELAY; k < NREPORTS; k++) {
        /* Not retried when they cannot be queued: these are courtesies,
         * the message goes on. */
        const struct store_report *rep = &job->reports[k];
        if (rep->queued)
            log_info("event=%s id=%s report_id=%s", rep->event, m->id, rep->queued->id);
        else if (rep->rc != 0)
            log_error("event=%s_failed id=%s error=%s", rep->event, m->id,
                      log_q(strerror(rep->rc)));
    }
    if (job->store_rc != 0)
        log_error("event=queue_update_failed id=%s error=%s", m->id,
                  log_q(strerror(job->store_rc)));
    if (job->removed) {
        m->gone = true;
        log_info("event=removed id=%s", m->id);
    }
    for (int k = 0; k < NREPORTS; k++) {
        struct store_report *rep = &job->reports[k];
        if (rep->queued) {
            if (s->d->stopping)
                envelope_free(&rep->queued); /* queued: found again at start */
            else
                scheduler_add_envelope(s, rep->queued);
        }
        sched_fails_free(&rep->list);
    }
    envelope_free(&job->copy);
    for (size_t i = 0; i < job->ntargets; i++)
        free(job->targets[i]);
    free(job->targets);
    snapshot_unref(&job->snap);
    free(job);
    if (m->store_again && !m->gone) {
        m->store_again = false;
        sched_store(m);
        return;
    }
    sched_cycle_end(m);
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
    job->snap = snapshot_ref(s->d->snap);
    job->hostname = job->snap->conf->hostname;
    job->now = time(NULL);
    job->retry_until = retry_expiry(s->d->conf, m->env->arrival);
    struct store_report *fail = &job->reports[REPORT_FAILURE];
    struct store_report *delay = &job->reports[REPORT_DELAY];
    struct store_report *success = &job->reports[REPORT_SUCCESS];
    *fail = (struct store_report){.kind = DSN_FAILURE, .action = "failed", .event = "bounce"};
    *delay =
        (struct store_report){.kind = DSN_DELAY, .action = "delayed", .event = "delay_warning"};
    *success =
        (struct store_report){.kind = DSN_SUCCESS, .action = "relayed", .event = "success_report"};
    fail->list = m->fails;
    m->fails = NULL;
    success->list = m->successes;
    m->successes = NULL;
    if (m->delays && m->remote_jobs == 0) {
        /* One warning, queued once: the envelope remembers it, so neither
         * a later cycle nor a restart sends another. */
        delay->list = m->delays;
        m->delays = NULL;
        m->env->warned = true;
    }
    bool report = success->list || delay->list;
    for (struct sched_fail *f = fail->list; f && !report; f = f->next)
        report = wants_bounce(&m->env->rcpts[f->index]);
    /* No report to the null sender (a bounce of a bounce): no loops. */
    if (report && m->env->sender[0] != '\0') {
        bounce_targets(s->d->conf, s->d->users, m->env->sender, &job->targets, &job->ntargets);
        if (job->ntargets == 0) {
            log_warn("event=bounce_undeliverable id=%s sender=%s reason=%s", m->id,
                     log_q(m->env->sender), "no such local mailbox");
            free(job->targets);
            job->targets = NULL;
        }
    }
    if (fail->list) {
        unsigned attempts = 1;
        for (struct sched_fail *f = fail->list; f; f = f->next)
            if (m->env->rcpts[f->index].attempts > attempts)
                attempts = m->env->rcpts[f->index].attempts;
        /* Not clamped to the expiry: these recipients have failed, and
         * only their bounce is still to be queued. */
        job->retry_at = job->now + retry_delay(s->d->conf, attempts);
    }
    job->copy = sched_envelope_copy(m->env);
    m->storing = true;
    worker_pool_submit(s->d->workers, store_work, store_done, job);
}
