/*
 * local: one delivery attempt of a queued message to its local recipients
 * (runs in a worker: it blocks on fsync). Each pending recipient in a local
 * domain gets a Maildir copy; the envelope is updated with the outcome and
 * stored, or the message is removed from the queue once nothing is pending.
 */
#ifndef POSTERN_DELIVER_LOCAL_H
#define POSTERN_DELIVER_LOCAL_H

#include <stdbool.h>
#include <stdint.h>

#include "queue/envelope.h"

struct queue;
struct conf;

struct local_attempt {
    /* in */
    struct queue *queue;
    const struct conf *conf;
    char id[QUEUE_ID_LEN + 1];
    struct envelope *env; /* NULL: load it from the queue first */
    int64_t now;
    /* out */
    bool removed;       /* nothing was pending any more: the message is gone */
    bool load_failed;   /* the envelope could not be loaded */
    int64_t next_local; /* earliest retry of a local recipient, 0 if none */
};

void local_attempt_run(struct local_attempt *a);

/* Seconds to wait after the n-th failed attempt (n >= 1): the configured
 * schedule, whose last interval then repeats. */
int64_t local_retry_delay(const struct conf *conf, unsigned attempts);

#endif
