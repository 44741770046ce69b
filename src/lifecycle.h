/*
 * lifecycle: the daemon's signals.
 *   SIGTERM, SIGINT  stop accepting; sessions receiving a message may finish
 *                    it for up to [server] shutdown_grace, the others get
 *                    421 at once; then the loop ends (queue work finishes).
 *   SIGHUP           re-read the configuration, the users and aliases files
 *                    and the TLS certificate; live sessions stay; a broken
 *                    new configuration is refused and logged, the old stays.
 * lifecycle_reload_users() does the same for the users and aliases files
 * alone, when `postern user` asks over the control socket.
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
/* Re-reads the users and aliases files in a worker and puts the new tables
 * in place; done() runs on the loop with 0 and a text for the person who
 * asked, or -1 and the reason (the old tables stay). */
typedef void (*lifecycle_users_done)(void *arg, int rc, const char *text);
void lifecycle_reload_users(struct daemon *d, lifecycle_users_done done, void *arg);

#endif
