/*
 * smtpd: the inbound SMTP service (RFC 5321 and its extensions). One
 * session per connection on the event loop; see session.h for its parts.
 */
#ifndef POSTERN_SMTPD_SMTPD_H
#define POSTERN_SMTPD_SMTPD_H

#include <stdbool.h>
#include <sys/socket.h>

#include "conf/conf.h"

struct daemon;

/* Takes ownership of fd. Shutdown (sessions in the middle of a message
 * may finish it, the others get 421) and the close-all at exit go through
 * the session skeleton (session/session.h). */
void smtpd_session_start(struct daemon *d, enum service svc, int fd, const struct sockaddr *sa,
                         socklen_t salen);

/* Under connection pressure (listener_evict_fn, arg a struct daemon): closes
 * the oldest idle, unauthenticated smtp session (no transaction, no login)
 * with 421 4.7.0 and frees its connection slot now. False if none. */
bool smtpd_evict_idle(void *arg);

#endif
