/*
 * scheduler: decides when each queued message is tried again, and runs the
 * attempts. Every message the queue commits (or that start-up recovery
 * finds) is handed to it; it keeps one entry per message with a timer for
 * the next attempt, and never runs two attempts for one message at once.
 * Local recipients are delivered into their Maildirs (deliver/local.c);
 * the envelope records every attempt, so a restart loses nothing.
 */
#ifndef POSTERN_DELIVER_SCHEDULER_H
#define POSTERN_DELIVER_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>

#include "queue/envelope.h"

struct daemon;
struct scheduler;
struct srs_secret;

struct scheduler *scheduler_new(struct daemon *d);
void scheduler_free(struct scheduler **s);

/* A freshly committed message; takes ownership of env. */
void scheduler_add_envelope(struct scheduler *s, struct envelope *env);
/* A message found in the queue at start; its envelope is loaded in a worker. */
void scheduler_add_id(struct scheduler *s, const char *id);
/* `postern queue` (scheduler_ctl.c). flush: try now, one message (id) or
 * all (NULL); returns how many will be tried (held ones are not: their
 * number goes to *held_r). delete: remove from the queue without a
 * bounce. hold/release: keep a message untried, or let it go. These return
 * 0, ENOENT (unknown id) or EINPROGRESS (an attempt is running: the request
 * is carried out when it ends, unless the message was delivered). */
size_t scheduler_flush(struct scheduler *s, const char *id, size_t *held_r);
int scheduler_delete(struct scheduler *s, const char *id);
int scheduler_hold(struct scheduler *s, const char *id, bool hold);

/* The SRS secret ([relay] srs), or NULL when SRS is off or its secret
 * could not be made or read (the start-up log says why). */
const struct srs_secret *scheduler_srs(const struct scheduler *s);

/* Messages known to the scheduler. */
size_t scheduler_count(const struct scheduler *s);

#endif
