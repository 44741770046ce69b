/* The scheduler's answers to `postern queue` (over the control socket):
 * flush, delete, hold, release. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "daemon.h"
#include "deliver/scheduler_int.h"
#include "queue/queue.h"
#include "util/log.h"
#include "util/worker.h"
#include "util/xmalloc.h"

static struct sched_msg *find(struct scheduler *s, const char *id)
{
    for (struct sched_msg *m = s->head; m; m = m->next)
        if (strcmp(m->id, id) == 0 && !m->gone)
            return m;
    return NULL;
}

static bool busy(const struct sched_msg *m)
{
    return m->local_busy || m->remote_jobs > 0 || m->storing || m->env == NULL;
}

static void due_now(struct sched_msg *m)
{
    if (m->env == NULL)
        return;
    int64_t now = time(NULL);
    for (size_t i = 0; i < m->env->nrcpts; i++) {
        struct envelope_rcpt *r = &m->env->rcpts[i];
        if (r->state == RCPT_PENDING && r->next_attempt != SCHED_NEVER && r->next_attempt > now)
            r->next_attempt = now;
    }
}

size_t scheduler_flush(struct scheduler *s, const char *id, size_t *held_r)
{
    size_t n = 0;
    *held_r = 0;
    for (struct sched_msg *m = s->head; m; m = m->next) {
        if (m->gone || (id && strcmp(m->id, id) != 0))
            continue;
        if (m->env && m->env->held) {
            (*held_r)++; /* not tried until released: not counted as tried */
            continue;
        }
        n++;
        if (m->local_busy || m->remote_jobs > 0 || m->storing)
            continue; /* already being tried */
        due_now(m);
        sched_attempt_start(m);
    }
    return n;
}

struct remove_job {
    struct sched_msg *m;
    int rc;
};

static void remove_work(void *arg)
{
    struct remove_job *job = arg;
    job->rc = queue_remove(job->m->sched->d->queue, job->m->id);
}

static void remove_done(void *arg)
{
    struct remove_job *job = arg;
    struct sched_msg *m = job->m;
    m->storing = false;
    if (job->rc == 0) {
        log_info("event=removed id=%s reason=deleted_by_operator", m->id);
        m->gone = true;
    } else {
        log_error("event=queue_remove_failed id=%s error=%s", m->id, log_q(strerror(job->rc)));
    }
    free(job);
    sched_cycle_end(m);
}

static void delete_now(struct sched_msg *m)
{
    event_del(m->timer);
    m->storing = true; /* nothing else may start while the files go */
    struct remove_job *job = xcalloc(1, sizeof(*job));
    job->m = m;
    worker_pool_submit(m->sched->d->workers, remove_work, remove_done, job);
}

static void hold_now(struct sched_msg *m, bool hold)
{
    m->env->held = hold;
    if (hold)
        event_del(m->timer);
    else
        due_now(m);
    /* Stored durably; when the store ends, the cycle re-arms a released one. */
    sched_store(m);
}

void sched_ctl_apply(struct sched_msg *m)
{
    enum sched_ctl ctl = m->ctl;
    m->ctl = SCHED_CTL_NONE;
    log_info("event=control_applied id=%s command=%s", m->id,
             ctl == SCHED_CTL_DELETE ? "delete"
             : ctl == SCHED_CTL_HOLD ? "hold"
                                     : "release");
    if (ctl == SCHED_CTL_DELETE)
        delete_now(m);
    else
        hold_now(m, ctl == SCHED_CTL_HOLD);
}

/* While an attempt runs, the request is remembered and carried out when
 * it ends (unless the message is delivered meanwhile): EINPROGRESS. A
 * delete outranks a hold or release asked for earlier. */
int scheduler_delete(struct scheduler *s, const char *id)
{
    struct sched_msg *m = find(s, id);
    if (m == NULL)
        return ENOENT;
    if (busy(m)) {
        m->ctl = SCHED_CTL_DELETE;
        return EINPROGRESS;
    }
    delete_now(m);
    return 0;
}

int scheduler_hold(struct scheduler *s, const char *id, bool hold)
{
    struct sched_msg *m = find(s, id);
    if (m == NULL)
        return ENOENT;
    if (busy(m)) {
        if (m->ctl != SCHED_CTL_DELETE)
            m->ctl = hold ? SCHED_CTL_HOLD : SCHED_CTL_RELEASE;
        return EINPROGRESS;
    }
    hold_now(m, hold);
    return 0;
}
