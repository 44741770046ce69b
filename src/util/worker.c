/* The worker pool: threads that run blocking work and hand each job back
 * to the event loop through a pipe, where done() (or discard()) runs; or,
 * for tests, no threads and each job run from an event on the loop. */
#include "util/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "util/log.h"
#include "util/xmalloc.h"

enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_FINISHED };

struct worker_job {
    struct worker_pool *pool;
    worker_work_fn work;
    worker_done_fn done;
    worker_discard_fn discard; /* set by a cancel: runs instead of done */
    bool cancelled;
    enum job_state state; /* under pool->lock */
    void *arg;
    struct worker_job *next, *prev; /* prev only while in todo */
};

struct job_list {
    struct worker_job *head, *tail;
};

struct worker_pool {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct job_list todo;
    struct job_list finished;
    bool stopping;
    int nthreads;
    pthread_t *threads;
    int notify[2];
    struct event *notify_ev;
    struct event *inline_ev; /* inline pools: runs the next queued job */
    unsigned pending;
};

static void list_push(struct job_list *l, struct worker_job *j)
{
    j->next = NULL;
    j->prev = l->tail;
    if (l->tail)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
}

static struct worker_job *list_pop(struct job_list *l)
{
    struct worker_job *j = l->head;
    if (j) {
        l->head = j->next;
        if (l->head == NULL)
            l->tail = NULL;
        else
            l->head->prev = NULL;
    }
    return j;
}

static void list_unlink(struct job_list *l, struct worker_job *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        l->head = j->next;
    if (j->next)
        j->next->prev = j->prev;
    else
        l->tail = j->prev;
    j->next = j->prev = NULL;
}

/* The job is back on the loop thread: its owner gets it, or (cancelled)
 * its arg is discarded. */
static void job_complete(struct worker_job *j)
{
    if (j->cancelled) {
        if (j->discard)
            j->discard(j->arg);
    } else if (j->done) {
        j->done(j->arg);
    }
    free(j);
}

static void *worker_main(void *p)
{
    struct worker_pool *pool = p;
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        struct worker_job *j = list_pop(&pool->todo);
        if (j == NULL) {
            if (pool->stopping)
                break;
            pthread_cond_wait(&pool->wake, &pool->lock);
            continue;
        }
        j->state = JOB_RUNNING;
        pthread_mutex_unlock(&pool->lock);
        j->work(j->arg);
        pthread_mutex_lock(&pool->lock);
        j->state = JOB_FINISHED;
        bool was_empty = pool->finished.head == NULL;
        list_push(&pool->finished, j);
        if (was_empty) {
            char c = 1;
            /* The pipe is non-blocking: a full pipe already means "wake up". */
            ssize_t n = write(pool->notify[1], &c, 1);
            (void)n;
        }
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

static void run_finished(struct worker_pool *pool)
{
    pthread_mutex_lock(&pool->lock);
    struct job_list done = pool->finished;
    pool->finished.head = pool->finished.tail = NULL;
    pthread_mutex_unlock(&pool->lock);
    struct worker_job *j;
    while ((j = list_pop(&done)) != NULL) {
        pool->pending--;
        job_complete(j);
    }
}

static void on_notify(evutil_socket_t fd, short what, void *arg)
{
    char drain[64];
    while (read(fd, drain, sizeof(drain)) > 0)
        ;
    run_finished(arg);
}

struct worker_pool *worker_pool_new(struct event_base *base, int threads)
{
    struct worker_pool *pool = xcalloc(1, sizeof(*pool));
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->wake, NULL);
    if (pipe2(pool->notify, O_NONBLOCK | O_CLOEXEC) != 0) {
        log_error("event=worker_pipe_failed error=%s", log_q(strerror(errno)));
        abort();
    }
    pool->notify_ev = event_new(base, pool->notify[0], EV_READ | EV_PERSIST, on_notify, pool);
    event_add(pool->notify_ev, NULL);
    pool->nthreads = threads;
    pool->threads = xcalloc((size_t)threads, sizeof(pthread_t));
    for (int i = 0; i < threads; i++)
        pthread_create(&pool->threads[i], NULL, worker_main, pool);
    return pool;
}

/* An inline pool's turn: the oldest queued job runs here, on the loop
 * thread; the event is activated again while jobs remain. */
static void on_inline(evutil_socket_t fd, short what, void *arg)
{
    struct worker_pool *pool = arg;
    struct worker_job *j = list_pop(&pool->todo);
    if (j == NULL)
        return;
    j->state = JOB_RUNNING;
    j->work(j->arg);
    j->state = JOB_FINISHED;
    pool->pending--;
    job_complete(j); /* done() may submit: that activates the event again */
    if (pool->todo.head != NULL)
        event_active(pool->inline_ev, EV_TIMEOUT, 0);
}

struct worker_pool *worker_pool_new_inline(struct event_base *base)
{
    struct worker_pool *pool = worker_pool_new(base, 0);
    pool->inline_ev = event_new(base, -1, 0, on_inline, pool);
    return pool;
}

struct worker_job *worker_pool_submit(struct worker_pool *pool, worker_work_fn work,
                                      worker_done_fn done, void *arg)
{
    struct worker_job *j = xcalloc(1, sizeof(*j));
    j->pool = pool;
    j->state = JOB_QUEUED;
    j->work = work;
    j->done = done;
    j->arg = arg;
    pool->pending++;
    pthread_mutex_lock(&pool->lock);
    list_push(&pool->todo, j);
    pthread_cond_signal(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    if (pool->inline_ev)
        event_active(pool->inline_ev, EV_TIMEOUT, 0);
    return j;
}

void worker_job_cancel(struct worker_job **jp, worker_discard_fn discard)
{
    struct worker_job *j = *jp;
    if (j == NULL)
        return;
    *jp = NULL;
    struct worker_pool *pool = j->pool;
    pthread_mutex_lock(&pool->lock);
    bool queued = j->state == JOB_QUEUED;
    if (queued)
        list_unlink(&pool->todo, j);
    j->cancelled = true;
    j->discard = discard;
    pthread_mutex_unlock(&pool->lock);
    if (queued) {
        /* No thread has it or ever will: discard it now. */
        pool->pending--;
        job_complete(j);
    }
}

unsigned worker_pool_pending(const struct worker_pool *pool)
{
    return pool->pending;
}

void worker_pool_free(struct worker_pool **pp)
{
    struct worker_pool *pool = *pp;
    if (pool == NULL)
        return;
    pthread_mutex_lock(&pool->lock);
    pool->stopping = true;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    for (int i = 0; i < pool->nthreads; i++)
        pthread_join(pool->threads[i], NULL);
    /* done() callbacks may submit more work: run it here until none is left. */
    for (;;) {
        run_finished(pool);
        struct worker_job *j = list_pop(&pool->todo);
        if (j == NULL)
            break;
        j->state = JOB_RUNNING;
        j->work(j->arg);
        j->state = JOB_FINISHED;
        list_push(&pool->finished, j);
    }
    if (pool->inline_ev)
        event_free(pool->inline_ev);
    event_free(pool->notify_ev);
    close(pool->notify[0]);
    close(pool->notify[1]);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->wake);
    free(pool->threads);
    free(pool);
    *pp = NULL;
}
