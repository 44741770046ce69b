#include "deliver/scheduler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "daemon.h"
#include "deliver/local.h"
#include "util/log.h"
#include "util/worker.h"
#include "util/xmalloc.h"

struct sched_msg {
    struct scheduler *sched;
    char id[QUEUE_ID_LEN + 1];
    struct envelope *env; /* NULL until loaded */
    struct event *timer;
    bool busy;
    struct sched_msg *prev, *next;
};

struct scheduler {
    struct daemon *d;
    struct sched_msg *head;
    size_t count;
};

struct attempt_job {
    struct sched_msg *msg;
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
    free(m);
}

static void attempt_work(void *arg)
{
    struct attempt_job *job = arg;
    local_attempt_run(&job->a);
}

static void arm(struct sched_msg *m, int64_t when)
{
    int64_t delay = when - (int64_t)time(NULL);
    struct timeval tv = {.tv_sec = delay > 0 ? delay : 0, .tv_usec = 0};
    event_add(m->timer, &tv);
}

static void attempt_done(void *arg)
{
    struct attempt_job *job = arg;
    struct sched_msg *m = job->msg;
    m->busy = false;
    m->env = job->a.env;
    if (job->a.removed || job->a.load_failed) {
        msg_unlink_free(m);
    } else if (job->a.next_local) {
        arm(m, job->a.next_local);
    }
    free(job);
}

static void attempt_start(struct sched_msg *m)
{
    if (m->busy)
        return;
    m->busy = true;
    struct attempt_job *job = xcalloc(1, sizeof(*job));
    job->msg = m;
    job->a.queue = m->sched->d->queue;
    job->a.conf = m->sched->d->conf;
    memcpy(job->a.id, m->id, sizeof(job->a.id));
    job->a.env = m->env; /* the job owns it while it runs */
    m->env = NULL;
    job->a.now = time(NULL);
    worker_pool_submit(m->sched->d->workers, attempt_work, attempt_done, job);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    attempt_start(arg);
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
    return s;
}

void scheduler_free(struct scheduler **sp)
{
    struct scheduler *s = *sp;
    if (s == NULL)
        return;
    while (s->head)
        msg_unlink_free(s->head);
    free(s);
    *sp = NULL;
}

void scheduler_add_envelope(struct scheduler *s, struct envelope *env)
{
    struct sched_msg *m = msg_new(s, env->id);
    m->env = env;
    attempt_start(m);
}

void scheduler_add_id(struct scheduler *s, const char *id)
{
    attempt_start(msg_new(s, id));
}

size_t scheduler_count(const struct scheduler *s)
{
    return s->count;
}
