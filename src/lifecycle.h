/*
 * lifecycle: the daemon's signals.
 *   SIGTERM, SIGINT  stop accepting; sessions receiving a message may finish
 *                    it for up to [server] shutdown_grace, the others get
 *                    421 at once; then the loop ends (queue work finishes).
 *   SIGHUP           re-read the configuration, the users and aliases files
 *                    and the TLS certificate; live sessions stay; a broken
 *                    new configuration is refused and logged, the old stays.
 */
#ifndef POSTERN_LIFECYCLE_H
#define POSTERN_LIFECYCLE_H

struct daemon;
struct lifecycle;

struct lifecycle *lifecycle_new(struct daemon *d);
void lifecycle_free(struct lifecycle **l);
/* A session ended: during a shutdown, the last one ends the loop. */
void lifecycle_session_ended(struct daemon *d);
/* Re-reads everything (SIGHUP). Returns 0, or -1 when the new
 * configuration was refused (the old one stays). */
int lifecycle_reload(struct daemon *d);

#endif
