/* The scheduler's messages, their timers and the local half of each
 * attempt; see scheduler_int.h for the cycle. */
#include "deliver/scheduler_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "conf/conf.h"
#include "daemon.h"
#include "deliver/local.h"
#include "deliver/maildir_clean.h"
#include "deliver/mta.h"
#include "imapd/imapd.h"
#include "snapshot.h"
#include "util/log.h"
#include "util/worker.h"
#include "util/xmalloc.h"

struct attempt_job {
    struct sched_msg *msg;
    struct snapshot *snap; /* a.conf is its configuration */
    struct local_attempt a;
};

static void msg_unlink_free(struct sched_msg *m)
{
    struct scheduler *s = m->sched;
    if (m->prev)
        m->prev->next = m->next;
    else
        s->head = m->next;
    if (m->next)
        m->next->prev = m->prev;
    s->count--;
    event_free(m->timer);
    envelope_free(&m->env);
    sched_fails_free(&m->fails);
    sched_fails_free(&m->delays);
    sched_fails_free(&m->successes);
    free(m);
}

static void arm(struct sched_msg *m, int64_t when)
{
    int64_t delay = when - (int64_t)time(NULL);
    struct timeval tv = {.tv_sec = delay > 0 ? delay : 0, .tv_usec = 0};
    event_add(m->timer, &tv);
}

/* Nothing runs for m any more: free it if it left the queue, else wake it
 * for its earliest pending recipient. */
void sched_cycle_end(struct sched_msg *m)
{
    if (m->local_busy || m->remote_jobs > 0 || m->storing)
        return;
    if (m->gone) {
        msg_unlink_free(m);
        return;
    }
    if (m->ctl != SCHED_CTL_NONE && m->env) {
        sched_ctl_apply(m); /* its job ends the cycle again */
        return;
    }
    if (m->env == NULL || m->env->held)
        return;
    int64_t next = 0;
    for (size_t i = 0; i < m->env->nrcpts; i++) {
        const struct envelope_rcpt *r = &m->env->rcpts[i];
        if (r->state == RCPT_PENDING && r->next_attempt != SCHED_NEVER &&
            (next == 0 || r->next_attempt < next))
            next = r->next_attempt;
    }
    if (next != 0)
        arm(m, next);
}

static void attempt_work(void *arg)
{
    struct attempt_job *job = arg;
    local_attempt_run(&job->a);
}

static void attempt_done(void *arg)
{
    struct attempt_job *job = arg;
    struct sched_msg *m = job->msg;
    snapshot_unref(&job->snap);
    m->local_busy = false;
    m->env = job->a.env;
    bool gone = job->a.removed || job->a.load_failed;
    for (size_t i = 0; i < job->a.nreport; i++)
        sched_report_push(&m->successes, job->a.report[i], "2.0.0", NULL, NULL, false);
    free(job->a.report);
    for (size_t i = 0; i < job->a.nloops; i++) {
        const struct envelope_rcpt *r = &m->env->rcpts[job->a.loops[i]];
        sched_fail_add(m, job->a.loops[i], "5.4.6", NULL, r->last_error, false);
    }
    free(job->a.loops);
    for (size_t i = 0; i < job->a.ndelivered; i++) {
        imapd_notify_delivery(m->sched->d, job->a.delivered[i]);
        free(job->a.delivered[i]);
    }
    free(job->a.delivered);
    if (job->a.nreport > 0 || job->a.nloops > 0)
        sched_store(m); /* queues the reports, then records the outcome */
    free(job);
    if (gone) {
        m->gone = true;
        sched_cycle_end(m);
        return;
    }
    if (!m->sched->d->stopping && !m->env->held)
        sched_remote_start(m, time(NULL));
    sched_cycle_end(m);
}

/* Whether the worker has anything to do for m: load its envelope, finish
 * or make a Maildir copy, or remove a message with nothing left. A message
 * for remote recipients only (most relayed mail) goes straight to the mta,
 * without waiting in the worker queue behind other messages' commits. */
static bool needs_local_attempt(const struct sched_msg *m)
{
    const struct envelope *env = m->env;
    if (env == NULL || envelope_pending(env) == 0)
        return true;
    for (size_t i = 0; i < env->nrcpts; i++) {
        const struct envelope_rcpt *r = &env->rcpts[i];
        if (r->state == RCPT_DELIVERING ||
            (r->state == RCPT_PENDING && sched_is_local(m->sched, r->addr)))
            return true;
    }
    return false;
}

void sched_attempt_start(struct sched_msg *m)
{
    if (m->local_busy || m->remote_jobs > 0 || m->storing || m->gone)
        return; /* the running cycle re-arms the timer when it ends */
    if (m->env && m->env->held)
        return; /* `postern queue hold`: wait for release */
    if (!needs_local_attempt(m)) {
        if (!m->sched->d->stopping)
            sched_remote_start(m, time(NULL));
        sched_cycle_end(m);
        return;
    }
    m->local_busy = true;
    struct attempt_job *job = xcalloc(1, sizeof(*job));
    job->msg = m;
    job->a.queue = m->sched->d->queue;
    /* The worker reads the configuration: a reload meanwhile must not
     * free it under the job. */
    job->snap = snapshot_ref(m->sched->d->snap);
    job->a.conf = job->snap->conf;
    job->a.users = job->snap->users;
    memcpy(job->a.id, m->id, sizeof(job->a.id));
    job->a.env = m->env; /* the job owns it while it runs */
    m->env = NULL;
    job->a.now = time(NULL);
    worker_pool_submit(m->sched->d->workers, attempt_work, attempt_done, job);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    sched_attempt_start(arg);
}

static struct sched_msg *msg_new(struct scheduler *s, const char *id)
{
    struct sched_msg *m = xcalloc(1, sizeof(*m));
    m->sched = s;
    snprintf(m->id, sizeof(m->id), "%s", id);
    m->timer = evtimer_new(s->d->base, on_timer, m);
    m->next = s->head;
    if (s->head)
        s->head->prev = m;
    s->head = m;
    s->count++;
    return m;
}

struct scheduler *scheduler_new(struct daemon *d)
{
    struct scheduler *s = xcalloc(1, sizeof(*s));
    s->d = d;
    s->mta = mta_new(d);
    /* Here, after the privilege drop: the secret file is the service
     * user's. Without it forwarded mail keeps its sender (as before SRS)
     * and SRS addresses are refused; the daemon still runs. */
    if (d->conf->srs && d->conf->srs_domain) {
        struct buf err;
        buf_init(&err);
        s->srs_ready = srs_secret_load(d->conf->data_dir, &s->srs_key, &err);
        if (s->srs_ready)
            log_info("event=srs_ready domain=%s", log_q(d->conf->srs_domain));
        else
            log_error("event=srs_disabled error=%s", log_q(err.data));
        buf_free(&err);
    }
    s->cleaner = maildir_cleaner_start(d->base, d->workers, d->conf->data_dir);
    return s;
}

const struct srs_secret *scheduler_srs(const struct scheduler *s)
{
    return s && s->srs_ready && s->d->conf->srs && s->d->conf->srs_domain ? &s->srs_key : NULL;
}

void scheduler_free(struct scheduler **sp)
{
    struct scheduler *s = *sp;
    if (s == NULL)
        return;
    /* Relay jobs point at messages: end them first. */
    mta_free(&s->mta);
    OPENSSL_cleanse(&s->srs_key, sizeof(s->srs_key));
    maildir_cleaner_free(&s->cleaner); /* after the workers: see maildir_clean.h */
    while (s->head)
        msg_unlink_free(s->head);
    free(s);
    *sp = NULL;
}

void scheduler_add_envelope(struct scheduler *s, struct envelope *env)
{
    struct sched_msg *m = msg_new(s, env->id);
    m->env = env;
    sched_attempt_start(m);
}

void scheduler_add_id(struct scheduler *s, const char *id)
{
    sched_attempt_start(msg_new(s, id));
}

size_t scheduler_count(const struct scheduler *s)
{
    return s->count;
}
