/*
 * worker: a small thread pool for the calls that block (fsync, password
 * hashing, directory scans). A job's work() runs on a pool thread; its done()
 * runs afterwards on the event loop's thread, in submission order per pool
 * drain. The job's arg is owned by the caller until done() runs.
 */
#ifndef POSTERN_UTIL_WORKER_H
#define POSTERN_UTIL_WORKER_H

struct event_base;
struct worker_pool;

typedef void (*worker_work_fn)(void *arg);
typedef void (*worker_done_fn)(void *arg);

struct worker_pool *worker_pool_new(struct event_base *base, int threads);
void worker_pool_submit(struct worker_pool *pool, worker_work_fn work, worker_done_fn done,
                        void *arg);
/* Jobs submitted and not yet completed (done() not yet run). */
unsigned worker_pool_pending(const struct worker_pool *pool);
/* Waits for every queued job, runs their done() callbacks, stops the threads. */
void worker_pool_free(struct worker_pool **pool);

#endif
