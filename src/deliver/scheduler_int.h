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
#include "proto/dsn.h"

struct mta;
struct event;

/* next_attempt of a recipient whose bounce is being queued: no retry. */
#define SCHED_NEVER INT64_MAX

/* A recipient that failed for good, waiting for its bounce to be queued. */
struct sched_fail {
    size_t index;
    char status[12];
    char *remote_mta; /* or NULL */
    char *diagnostic;
    bool diagnostic_smtp;
    struct sched_fail *next;
};

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
    struct sched_fail *fails;
    struct sched_fail *delays; /* deferred past [relay] delay_warning, to warn about */
    int64_t known_since;       /* when this daemon first knew the message */
    bool warned;               /* its delay warning went out (this daemon's life) */
    struct sched_msg *prev, *next;
};

struct scheduler {
    struct daemon *d;
    struct mta *mta;
    struct sched_msg *head;
    size_t count;
};

/* scheduler.c */
void sched_cycle_end(struct sched_msg *m);
/* Starts an attempt cycle unless one runs, the message is held or gone. */
void sched_attempt_start(struct sched_msg *m);
int64_t sched_expiry(const struct scheduler *s, const struct envelope *env);

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
/* Writes the envelope (and queues the bounces of m->fails) in a worker. */
void sched_store(struct sched_msg *m);
struct envelope *sched_envelope_copy(const struct envelope *env);
/* Where a DSN to the sender goes (its alias targets if local). */
void sched_bounce_targets(struct scheduler *s, const char *sender, char ***targets_r, size_t *n_r);

/* scheduler_warn.c: a delay warning (once) for recipients deferred past
 * [relay] delay_warning. */
bool sched_warn_due(const struct sched_msg *m, int64_t now);
void sched_warn_add(struct sched_msg *m, size_t index, const char *status, const char *remote_mta,
                    const char *diagnostic, bool smtp);
void sched_warn_send(struct sched_msg *m, int64_t now);

#endif
