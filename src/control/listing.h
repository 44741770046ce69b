/*
 * listing: the queue as `mailq` prints it, built from the envelope files:
 * text (Sendmail's mailq layout: id, `!` when held, size, arrival, sender,
 * then each pending recipient with its last error and next attempt) or a
 * JSON array. The daemon builds it in a worker for anyone who asks over the
 * control socket; `postern queue list` builds it itself when the daemon is
 * down. It reads only, and never shows message content.
 */
#ifndef POSTERN_CONTROL_LISTING_H
#define POSTERN_CONTROL_LISTING_H

#include <stdbool.h>

#include "util/buf.h"

struct queue;

/* Appends the listing to out. 0, or an errno when queue/env cannot be read. */
int control_listing(struct queue *q, bool json, struct buf *out);

#endif
