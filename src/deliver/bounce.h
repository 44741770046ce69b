/*
 * bounce: queuing a delivery status notification (proto/dsn.h) for the
 * recipients of a message that failed (or are delayed), from the null sender to the
 * message's envelope sender, through the normal queue. Runs in a worker
 * (it reads the original headers and fsyncs the new message).
 *
 * The caller never asks for a bounce of a message from the null sender (a
 * bounce of a bounce), so bounces cannot loop.
 */
#ifndef POSTERN_DELIVER_BOUNCE_H
#define POSTERN_DELIVER_BOUNCE_H

#include <stddef.h>

#include "proto/dsn.h"
#include "queue/envelope.h"

struct queue;

/* (worker) Queues the DSN about orig's rcpts to targets (the sender's final
 * addresses). 0 and the committed envelope in *env_r, or an errno value. */
int bounce_queue(struct queue *q, const char *hostname, const struct envelope *orig,
                 const struct dsn_rcpt *rcpts, size_t nrcpts, char *const *targets, size_t ntargets,
                 int64_t now, struct envelope **env_r);
/* (worker) The same, as a delay warning: the recipients are still being
 * tried, until retry_until. */
int bounce_queue_delay(struct queue *q, const char *hostname, const struct envelope *orig,
                       const struct dsn_rcpt *rcpts, size_t nrcpts, char *const *targets,
                       size_t ntargets, int64_t now, int64_t retry_until, struct envelope **env_r);

#endif
