/* The inline worker pool (worker_pool_new_inline, for tests of the
 * sessions): jobs run on the loop thread, never inside submit, work() then
 * done() from the loop, in submission order; a queued job can be
 * cancelled (discard at once, work and done never run); a done() that
 * submits again has its job run after it returns; free runs what is left. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "util/worker.h"

static char trace[256]; /* "wN" for work, "dN" for done, "xN" for discard */
static struct event_base *base;
static struct worker_pool *pool;

struct job {
    int id;
    struct worker_job *handle;
    struct job *resubmit; /* submitted from this job's done() */
};

static void note(char what, int id)
{
    size_t n = strlen(trace);
    snprintf(trace + n, sizeof(trace) - n, "%c%d ", what, id);
}

static void work(void *arg)
{
    note('w', ((struct job *)arg)->id);
}

static void done(void *arg)
{
    struct job *j = arg;
    j->handle = NULL;
    note('d', j->id);
    if (j->resubmit) {
        j->resubmit->handle = worker_pool_submit(pool, work, done, j->resubmit);
        note('e', j->id); /* done() ends before the new job runs */
    }
}

static void discard(void *arg)
{
    note('x', ((struct job *)arg)->id);
}

static int setup(void **state)
{
    trace[0] = '\0';
    base = event_base_new();
    pool = worker_pool_new_inline(base);
    return 0;
}

static int teardown(void **state)
{
    worker_pool_free(&pool);
    assert_null(pool);
    event_base_free(base);
    return 0;
}

static void run(void)
{
    for (int i = 0; i < 10; i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
}

static void test_jobs_run_later_from_the_loop_in_order(void **state)
{
    struct job a = {.id = 1}, b = {.id = 2};
    a.handle = worker_pool_submit(pool, work, done, &a);
    b.handle = worker_pool_submit(pool, work, done, &b);
    assert_non_null(a.handle);
    assert_string_equal(trace, ""); /* nothing runs inside submit */
    assert_int_equal(worker_pool_pending(pool), 2);
    run();
    assert_string_equal(trace, "w1 d1 w2 d2 ");
    assert_int_equal(worker_pool_pending(pool), 0);
    assert_null(a.handle);
    assert_null(b.handle);
}

static void test_cancel_a_queued_job(void **state)
{
    struct job a = {.id = 1}, b = {.id = 2}, c = {.id = 3};
    a.handle = worker_pool_submit(pool, work, done, &a);
    b.handle = worker_pool_submit(pool, work, done, &b);
    c.handle = worker_pool_submit(pool, work, done, &c);
    worker_job_cancel(&b.handle, discard);
    assert_null(b.handle);
    assert_string_equal(trace, "x2 "); /* discarded at once */
    assert_int_equal(worker_pool_pending(pool), 2);
    worker_job_cancel(&c.handle, NULL); /* nothing to free */
    run();
    assert_string_equal(trace, "x2 w1 d1 ");
    assert_int_equal(worker_pool_pending(pool), 0);
    worker_job_cancel(&b.handle, discard); /* a NULL handle is ignored */
    assert_string_equal(trace, "x2 w1 d1 ");
}

static void test_cancel_the_only_job_leaves_the_loop_idle(void **state)
{
    struct job a = {.id = 1};
    a.handle = worker_pool_submit(pool, work, done, &a);
    worker_job_cancel(&a.handle, discard);
    run();
    assert_string_equal(trace, "x1 ");
    assert_int_equal(worker_pool_pending(pool), 0);
}

static void test_done_that_submits_again(void **state)
{
    struct job b = {.id = 2}, a = {.id = 1, .resubmit = &b};
    a.handle = worker_pool_submit(pool, work, done, &a);
    run();
    assert_string_equal(trace, "w1 d1 e1 w2 d2 ");
    assert_null(b.handle);
    assert_int_equal(worker_pool_pending(pool), 0);
}

static void test_free_runs_what_is_left(void **state)
{
    struct job a = {.id = 1}, b = {.id = 2};
    a.handle = worker_pool_submit(pool, work, done, &a);
    b.handle = worker_pool_submit(pool, work, done, &b);
    worker_pool_free(&pool);
    assert_string_equal(trace, "w1 d1 w2 d2 ");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_jobs_run_later_from_the_loop_in_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cancel_a_queued_job, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_the_only_job_leaves_the_loop_idle, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_done_that_submits_again, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_runs_what_is_left, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
