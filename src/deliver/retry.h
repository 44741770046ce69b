/*
 * retry: the scheduler's retry schedule, pure (no I/O, no clock: the
 * caller passes "now"), so that it can be tested alone. Every deferral,
 * local or remote, asks it when to try again, and every decision to give
 * up at the end of the queue lifetime is taken with retry_expired().
 *
 * [relay] retry is the list of waits after the 1st, 2nd, ... failed
 * attempt; its last wait then repeats. [relay] queue_lifetime is how long
 * after its arrival a message is still tried: the last attempt happens at
 * that moment, never after it, and a recipient still deferred then fails
 * (5.4.7, delivery time expired) and bounces.
 */
#ifndef POSTERN_DELIVER_RETRY_H
#define POSTERN_DELIVER_RETRY_H

#include <stdbool.h>
#include <stdint.h>

struct conf;

/* Seconds to wait after the attempts-th failed attempt (attempts >= 1; 0
 * counts as 1): that step of the schedule, the last one past its end, and
 * at least one second (a step below one second would spin). */
int64_t retry_delay(const struct conf *conf, unsigned attempts);
/* Unix seconds at which a message that arrived at arrival is given up. */
int64_t retry_expiry(const struct conf *conf, int64_t arrival);
/* True once a recipient deferred at now must be given up: now is at or past
 * the expiry. A clock earlier than the arrival is not past it. */
bool retry_expired(const struct conf *conf, int64_t arrival, int64_t now);
/* The next attempt of a recipient deferred at now after attempts failed
 * attempts: now + retry_delay(), but no later than the expiry (the last
 * try happens at the end of the lifetime, not after). */
int64_t retry_next(const struct conf *conf, unsigned attempts, int64_t arrival, int64_t now);

#endif
