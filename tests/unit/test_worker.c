/* Unit tests for util/worker: done() runs later on the loop's thread, after
 * work(), in submission order; the pending count; a cancelled job never
 * calls done() and its arg is discarded exactly once, at the right time
 * (at once when still queued, after work() when running); freeing the pool
 * runs what is left. Jobs are held inside work() by a gate (a condition
 * variable) so that "queued" and "running" are certain, not timing luck. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>
#include <pthread.h>
#include <sched.h>

#include "util/worker.h"

#define MAX_JOBS       16
#define LOOP_TIMEOUT_S 5

/* Holds a job inside work() until the test opens it. */
struct gate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool entered; /* work() is running, waiting at the gate */
    bool open;
};

struct job {
    int index;
    struct gate *gate; /* NULL: work() does not wait */
    bool work_ran;     /* written by the worker, read after done/discard */
    bool work_returned;
    pthread_t work_thread;
    int done_runs;
    int discard_runs;
    bool returned_before_discard;
    unsigned pending_in_done;
};

struct fixture {
    struct event_base *base;
    struct worker_pool *pool;
    pthread_t loop_thread;
    int order[MAX_JOBS]; /* job indexes in the order their done() ran */
    int nordered;
    struct job jobs[MAX_JOBS];
    struct gate gate; /* opened by teardown too, so a failed test never hangs */
    bool timed_out;
};

static struct fixture *fx; /* the callbacks' view of the running test */

static void gate_init(struct gate *g)
{
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->cond, NULL);
    g->entered = false;
    g->open = false;
}

static void gate_destroy(struct gate *g)
{
    pthread_mutex_destroy(&g->lock);
    pthread_cond_destroy(&g->cond);
}

/* (test thread) Waits until a job is inside work(), at the gate. */
static void gate_wait_entered(struct gate *g)
{
    pthread_mutex_lock(&g->lock);
    while (!g->entered)
        pthread_cond_wait(&g->cond, &g->lock);
    pthread_mutex_unlock(&g->lock);
}

static void gate_open(struct gate *g)
{
    pthread_mutex_lock(&g->lock);
    g->open = true;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
}

static void work(void *arg)
{
    struct job *j = arg;
    j->work_thread = pthread_self();
    __atomic_store_n(&j->work_ran, true, __ATOMIC_SEQ_CST);
    if (j->gate) {
        pthread_mutex_lock(&j->gate->lock);
        j->gate->entered = true;
        pthread_cond_broadcast(&j->gate->cond);
        while (!j->gate->open)
            pthread_cond_wait(&j->gate->cond, &j->gate->lock);
        pthread_mutex_unlock(&j->gate->lock);
    }
    __atomic_store_n(&j->work_returned, true, __ATOMIC_SEQ_CST);
}

static void done(void *arg)
{
    struct job *j = arg;
    assert_true(pthread_equal(pthread_self(), fx->loop_thread));
    assert_true(j->work_returned);
    j->done_runs++;
    j->pending_in_done = worker_pool_pending(fx->pool);
    assert_true(fx->nordered < MAX_JOBS);
    fx->order[fx->nordered++] = j->index;
}

static void discard(void *arg)
{
    struct job *j = arg;
    assert_true(pthread_equal(pthread_self(), fx->loop_thread));
    j->discard_runs++;
    j->returned_before_discard = j->work_returned;
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    fx->timed_out = true;
}

/* Runs the loop until *counter reaches want; fails after LOOP_TIMEOUT_S. */
static void run_until(const int *counter, int want)
{
    struct event *timer = evtimer_new(fx->base, on_timeout, NULL);
    struct timeval tv = {LOOP_TIMEOUT_S, 0};
    evtimer_add(timer, &tv);
    while (*counter < want && !fx->timed_out)
        event_base_loop(fx->base, EVLOOP_ONCE);
    event_free(timer);
    if (fx->timed_out)
        fail_msg("the loop waited %d s for a callback that never ran", LOOP_TIMEOUT_S);
}

static struct job *job_at(int i, struct gate *gate)
{
    struct job *j = &fx->jobs[i];
    j->index = i;
    j->gate = gate;
    return j;
}

static int setup_one_thread(void **state)
{
    fx = calloc(1, sizeof(*fx));
    fx->base = event_base_new();
    fx->pool = worker_pool_new(fx->base, 1);
    fx->loop_thread = pthread_self();
    gate_init(&fx->gate);
    *state = fx;
    return 0;
}

static int setup_three_threads(void **state)
{
    setup_one_thread(state);
    worker_pool_free(&fx->pool);
    fx->pool = worker_pool_new(fx->base, 3);
    return 0;
}

static int teardown(void **state)
{
    gate_open(&fx->gate);
    worker_pool_free(&fx->pool);
    gate_destroy(&fx->gate);
    event_base_free(fx->base);
    free(fx);
    fx = NULL;
    return 0;
}

static void test_done_runs_on_the_loop_after_work(void **state)
{
    struct gate *g = &fx->gate;
    struct job *j = job_at(0, g);
    struct worker_job *handle = worker_pool_submit(fx->pool, work, done, j);
    assert_non_null(handle);
    gate_wait_entered(g);
    assert_true(j->work_ran);
    assert_false(pthread_equal(j->work_thread, fx->loop_thread));
    gate_open(g);
    /* work() has surely returned after a while, yet done() waits for the
     * loop: it is never called from the worker. */
    while (!__atomic_load_n(&j->work_returned, __ATOMIC_SEQ_CST))
        sched_yield();
    assert_int_equal(j->done_runs, 0);
    run_until(&j->done_runs, 1);
    assert_int_equal(j->done_runs, 1);
    assert_int_equal(j->discard_runs, 0);
}

static void test_done_order_and_pending(void **state)
{
    assert_int_equal(worker_pool_pending(fx->pool), 0);
    struct gate *g = &fx->gate;
    /* The first job holds the only thread, so all are out at once. */
    worker_pool_submit(fx->pool, work, done, job_at(0, g));
    for (int i = 1; i < 10; i++) {
        worker_pool_submit(fx->pool, work, done, job_at(i, NULL));
        assert_int_equal(worker_pool_pending(fx->pool), (unsigned)i + 1);
    }
    gate_wait_entered(g);
    assert_int_equal(worker_pool_pending(fx->pool), 10);
    gate_open(g);
    run_until(&fx->nordered, 10);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(fx->order[i], i);
        assert_int_equal(fx->jobs[i].done_runs, 1);
        /* Counted down as each done() runs, not in one step at the end. */
        assert_int_equal(fx->jobs[i].pending_in_done, 9 - i);
    }
    assert_int_equal(worker_pool_pending(fx->pool), 0);
}

static void test_cancel_queued_job(void **state)
{
    struct gate *g = &fx->gate;
    struct job *first = job_at(0, g);
    struct job *queued = job_at(1, NULL);
    worker_pool_submit(fx->pool, work, done, first);
    gate_wait_entered(g); /* the only thread is busy: the next job waits */
    struct worker_job *handle = worker_pool_submit(fx->pool, work, done, queued);
    assert_int_equal(worker_pool_pending(fx->pool), 2);
    worker_job_cancel(&handle, discard);
    assert_null(handle);
    /* Discarded at once, inside the cancel, and no longer pending. */
    assert_int_equal(queued->discard_runs, 1);
    assert_int_equal(worker_pool_pending(fx->pool), 1);
    gate_open(g);
    run_until(&first->done_runs, 1);
    /* A later job's done() proves the pool went past where it was. */
    struct job *after = job_at(2, NULL);
    worker_pool_submit(fx->pool, work, done, after);
    run_until(&after->done_runs, 1);
    assert_false(queued->work_ran);
    assert_int_equal(queued->done_runs, 0);
    assert_int_equal(queued->discard_runs, 1);
    assert_int_equal(fx->nordered, 2);
    assert_int_equal(fx->order[0], 0);
    assert_int_equal(fx->order[1], 2);
    assert_int_equal(worker_pool_pending(fx->pool), 0);
}

static void test_cancel_running_job(void **state)
{
    struct gate *g = &fx->gate;
    struct job *running = job_at(0, g);
    struct worker_job *handle = worker_pool_submit(fx->pool, work, done, running);
    gate_wait_entered(g);
    worker_job_cancel(&handle, discard);
    assert_null(handle);
    /* work() still has its arg: nothing is discarded under it. */
    assert_int_equal(running->discard_runs, 0);
    assert_int_equal(worker_pool_pending(fx->pool), 1);
    gate_open(g);
    run_until(&running->discard_runs, 1);
    assert_true(running->returned_before_discard);
    struct job *after = job_at(1, NULL);
    worker_pool_submit(fx->pool, work, done, after);
    run_until(&after->done_runs, 1);
    assert_int_equal(running->done_runs, 0);
    assert_int_equal(running->discard_runs, 1);
    assert_int_equal(fx->nordered, 1);
    assert_int_equal(fx->order[0], 1);
    assert_int_equal(worker_pool_pending(fx->pool), 0);
}

static void test_cancel_without_discard(void **state)
{
    struct gate *g = &fx->gate;
    struct job *running = job_at(0, g);
    struct job *queued = job_at(1, NULL);
    struct worker_job *h_running = worker_pool_submit(fx->pool, work, done, running);
    gate_wait_entered(g);
    struct worker_job *h_queued = worker_pool_submit(fx->pool, work, done, queued);
    worker_job_cancel(&h_queued, NULL);
    worker_job_cancel(&h_running, NULL);
    assert_null(h_queued);
    assert_null(h_running);
    worker_job_cancel(&h_running, discard); /* a NULL handle: nothing happens */
    assert_int_equal(worker_pool_pending(fx->pool), 1);
    gate_open(g);
    struct job *after = job_at(2, NULL);
    worker_pool_submit(fx->pool, work, done, after);
    run_until(&after->done_runs, 1);
    assert_true(running->work_returned);
    assert_false(queued->work_ran);
    assert_int_equal(running->done_runs + queued->done_runs, 0);
    assert_int_equal(running->discard_runs + queued->discard_runs, 0);
    assert_int_equal(worker_pool_pending(fx->pool), 0);
}

/* A done() that submits again, as pickup's scan does with its commit. */
static void done_then_submit(void *arg)
{
    done(arg);
    struct job *j = arg;
    if (j->index == 0)
        worker_pool_submit(fx->pool, work, done, job_at(MAX_JOBS - 1, NULL));
}

static void test_free_runs_pending_done(void **state)
{
    struct gate *g = &fx->gate;
    worker_pool_submit(fx->pool, work, done_then_submit, job_at(0, g));
    for (int i = 1; i < 5; i++)
        worker_pool_submit(fx->pool, work, done, job_at(i, NULL));
    gate_wait_entered(g);
    gate_open(g);
    /* The loop never runs: the pool's free must hand every job back. */
    worker_pool_free(&fx->pool);
    assert_null(fx->pool);
    for (int i = 0; i < 5; i++) {
        assert_true(fx->jobs[i].work_returned);
        assert_int_equal(fx->jobs[i].done_runs, 1);
    }
    assert_int_equal(fx->jobs[MAX_JOBS - 1].done_runs, 1);
    assert_int_equal(fx->nordered, 6);
}

static void test_many_threads_run_everything_once(void **state)
{
    for (int i = 0; i < MAX_JOBS; i++)
        worker_pool_submit(fx->pool, work, done, job_at(i, NULL));
    run_until(&fx->nordered, MAX_JOBS);
    for (int i = 0; i < MAX_JOBS; i++) {
        assert_int_equal(fx->jobs[i].done_runs, 1);
        assert_int_equal(fx->jobs[i].discard_runs, 0);
    }
    assert_int_equal(worker_pool_pending(fx->pool), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_done_runs_on_the_loop_after_work, setup_one_thread,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_done_order_and_pending, setup_one_thread, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_queued_job, setup_one_thread, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_running_job, setup_one_thread, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_without_discard, setup_one_thread, teardown),
        cmocka_unit_test_setup_teardown(test_free_runs_pending_done, setup_one_thread, teardown),
        cmocka_unit_test_setup_teardown(test_many_threads_run_everything_once, setup_three_threads,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
