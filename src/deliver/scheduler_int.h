/*
 * scheduler_int: what the scheduler's files share (scheduler.c: messages,
 * timers and local attempts; scheduler_remote.c: relay jobs and their
 * results; scheduler_store.c: envelope updates and bounces). Not for other
 * modules: use scheduler.h.
 *
 * One attempt cycle of a message: the local attempt (worker), then the
 * relay jobs of its due remote recipients (event loop), each result stored
 * (worker) as soon as it is known; then the timer is armed for the earliest
 * next attempt. Only one worker ever writes a message's envelope at a time.
 */
#ifndef POSTERN_DELIVER_SCHEDULER_INT_H
#define POSTERN_DELIVER_SCHEDULER_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "deliver/scheduler.h"
#include "deliver/srs_secret.h"
#include "proto/dsn.h"

struct mta;
struct event;

/* next_attempt of a recipient whose bounce is being queued: no retry. */
#define SCHED_NEVER INT64_MAX

/* A report on one recipient waiting to be sent to the message's sender: a
 * failure for good (its bounce), a delay or a success ("relayed"). */
struct sched_fail {
    size_t index;
    char status[12];
    char *remote_mta; /* or NULL */
    char *diagnostic;
    bool diagnostic_smtp;
    struct sched_fail *next;
};

/* A `postern queue` request that waits for the running attempt to end. */
enum sched_ctl { SCHED_CTL_NONE, SCHED_CTL_DELETE, SCHED_CTL_HOLD, SCHED_CTL_RELEASE };

struct sched_msg {
    struct scheduler *sched;
    char id[QUEUE_ID_LEN + 1];
    struct envelope *env; /* NULL until loaded, and while a local attempt has it */
    struct event *timer;
    bool local_busy;      /* a local attempt (worker) owns env */
    unsigned remote_jobs; /* relay jobs running */
    bool storing;         /* a store job runs */
    bool store_again;     /* state changed while it ran */
    bool gone;            /* removed from the queue */
    enum sched_ctl ctl;   /* asked for while busy: done when the cycle ends */
    struct sched_fail *fails;
    struct sched_fail *delays;    /* deferred past [relay] delay_warning, to warn about */
    struct sched_fail *successes; /* relayed with NOTIFY=SUCCESS to a server without DSN */
    struct sched_msg *prev, *next;
};

struct scheduler {
    struct daemon *d;
    struct mta *mta;
    struct maildir_cleaner *cleaner; /* stale Maildir tmp/ files */
    struct sched_msg *head;
    size_t count;
    bool srs_ready;            /* SRS on, and its secret loaded */
    struct srs_secret srs_key; /* data_dir/srs.secret */
};

/* scheduler.c */
void sched_cycle_end(struct sched_msg *m);
/* Starts an attempt cycle unless one runs, the message is held or gone. */
void sched_attempt_start(struct sched_msg *m);

/* scheduler_ctl.c: carries out m->ctl (the message is idle). */
void sched_ctl_apply(struct sched_msg *m);

/* scheduler_remote.c */
void sched_remote_start(struct sched_msg *m, int64_t now);
bool sched_is_local(const struct scheduler *s, const char *addr);

/* scheduler_store.c */
/* Pushes one recipient's report (a failure or a delay) onto list. */
struct sched_fail *sched_report_push(struct sched_fail **list, size_t index, const char *status,
                                     const char *remote_mta, const char *diagnostic, bool smtp);
void sched_fail_add(struct sched_msg *m, size_t index, const char *status, const char *remote_mta,
                    const char *diagnostic, bool smtp);
void sched_fails_free(struct sched_fail **list);
/* Writes the envelope in a worker, after queuing the reports it owes the
 * sender: the bounce of m->fails, the successes, and (once no relay job
 * runs, so that one warning names every late recipient) the delay warning
 * of m->delays. */
void sched_store(struct sched_msg *m);

#endif
