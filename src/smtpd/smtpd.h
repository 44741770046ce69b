/*
 * smtpd: the inbound SMTP service (RFC 5321 and its extensions). One
 * session per connection on the event loop; see session.h for its parts.
 */
#ifndef POSTERN_SMTPD_SMTPD_H
#define POSTERN_SMTPD_SMTPD_H

#include <sys/socket.h>

#include "conf/conf.h"

struct daemon;

/* Takes ownership of fd. */
void smtpd_session_start(struct daemon *d, enum service svc, int fd, const struct sockaddr *sa,
                         socklen_t salen);

/* Shutdown begins: sessions in the middle of a message may finish it, the
 * others get 421 now. */
void smtpd_shutdown_begin(struct daemon *d);
/* Closes every live session (shutdown): each gets 421 and is freed. */
void smtpd_close_all(struct daemon *d);

#endif
