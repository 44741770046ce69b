/*
 * worker: a small thread pool for the calls that block (fsync, password
 * hashing, directory scans). A job's work() runs on a pool thread; its done()
 * runs afterwards on the event loop's thread, in submission order per pool
 * drain. The job's arg is owned by the caller until done() runs.
 *
 * Cancelling: a session that ends while its job is out cancels it through
 * the handle submit returned (as OpenSMTPD looks its requests up by id):
 *
 *   s->job = worker_pool_submit(pool, work, done, arg);
 *   ... in done(): s->job = NULL (the handle is gone once done() runs)
 *   ... the session ends first: worker_job_cancel(&s->job, free_arg);
 *
 * After a cancel, done() never runs; discard(arg) runs instead, on the loop
 * thread: at once when work() had not started (it never will), else as soon
 * as work() returns. So arg stays valid for work() and has one owner.
 */
#ifndef POSTERN_UTIL_WORKER_H
#define POSTERN_UTIL_WORKER_H

struct event_base;
struct worker_pool;

typedef void (*worker_work_fn)(void *arg);
typedef void (*worker_done_fn)(void *arg);
typedef void (*worker_discard_fn)(void *arg);
struct worker_job;

struct worker_pool *worker_pool_new(struct event_base *base, int threads);
/* For tests: a pool without threads. Each job runs, work() then done(), on
 * the loop thread from an event the loop runs later (never inside submit
 * nor inside another job's done()), in submission order; so done() comes
 * later, from the loop, as with threads, and a queued job can still be
 * cancelled. */
struct worker_pool *worker_pool_new_inline(struct event_base *base);
/* The handle is valid until done() runs (or the job is cancelled). */
struct worker_job *worker_pool_submit(struct worker_pool *pool, worker_work_fn work,
                                      worker_done_fn done, void *arg);
/* See above; *job is set to NULL. discard may be NULL (nothing to free).
 * A NULL *job is ignored. */
void worker_job_cancel(struct worker_job **job, worker_discard_fn discard);
/* Jobs submitted and not yet completed (done() not yet run). */
unsigned worker_pool_pending(const struct worker_pool *pool);
/* Waits for every queued job, runs their done() callbacks, stops the threads. */
void worker_pool_free(struct worker_pool **pool);

#endif
