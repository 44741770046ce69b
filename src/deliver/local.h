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
struct user_table;

struct local_attempt {
    /* in */
    struct queue *queue;
    const struct conf *conf;
    const struct user_table *users; /* for each mailbox's quota; NULL: [imap] quota */
    char id[QUEUE_ID_LEN + 1];
    struct envelope *env; /* NULL: load it from the queue first */
    int64_t now;
    /* out */
    bool removed; /* nothing was pending any more: the message is gone */
    /* Recipients delivered now that asked for a success report (NOTIFY=
     * SUCCESS, from a sender who can get one). The message then stays in
     * the queue, however done, until the caller has queued the report
     * (which quotes its header section) and removed it. */
    size_t *report;
    size_t nreport;
    /* Recipients whose copy would loop (the message already has their
     * Delivered-To:): still pending, for the caller to fail (5.4.6) and
     * bounce. A crash before that finds the loop again. */
    size_t *loops;
    size_t nloops;
    /* Recipients whose copy is now in their Maildir (caller frees): an
     * IMAP session idling on that INBOX is told at once. */
    char **delivered;
    size_t ndelivered;
    bool load_failed;   /* the envelope could not be loaded */
    int64_t next_local; /* earliest retry of a local recipient, 0 if none */
};

void local_attempt_run(struct local_attempt *a);

#endif
