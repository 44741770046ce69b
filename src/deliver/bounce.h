/*
 * bounce: queuing a delivery status notification (proto/dsn.h) about some
 * recipients of a message, from the null sender to the message's envelope
 * sender, through the normal queue: a failure report (a bounce), a delay
 * warning, or a success report (NOTIFY=SUCCESS). Runs in a worker (it
 * reads the original message and fsyncs the new one).
 *
 * The caller never asks for a report on a message from the null sender (a
 * bounce of a bounce), so reports cannot loop.
 */
#ifndef POSTERN_DELIVER_BOUNCE_H
#define POSTERN_DELIVER_BOUNCE_H

#include <stddef.h>
#include <stdint.h>

#include "proto/dsn.h"
#include "queue/envelope.h"

struct conf;
struct queue;
struct user_table;

/* A failure report carries the whole original message when its sender
 * asked for it (RET=FULL) and it is at most this large; else, like every
 * other report, only its header section. */
#define BOUNCE_FULL_MAX (1024 * 1024)

struct bounce_report {
    enum dsn_kind kind;
    const struct dsn_rcpt *rcpts;
    size_t nrcpts;
    char *const *targets; /* the sender's final addresses */
    size_t ntargets;
    int64_t now;
    int64_t retry_until; /* DSN_DELAY: when the message will be given up */
};

/* (event loop: the users table may be replaced by a reload) Where a report
 * to sender goes: the sender itself, or for a sender in a local domain its
 * mailbox or alias targets (none: *n_r is 0). The caller frees the strings
 * and the array. */
void bounce_targets(const struct conf *conf, const struct user_table *users, const char *sender,
                    char ***targets_r, size_t *n_r);

/* (worker) Queues the report about orig. 0 and the committed envelope in
 * *env_r, or an errno value. */
int bounce_queue(struct queue *q, const char *hostname, const struct envelope *orig,
                 const struct bounce_report *rep, struct envelope **env_r);

#endif
