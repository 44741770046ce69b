/*
 * pop3d: the POP3 service (RFC 1939, 2449, 2595 STLS, 5034 SASL) over the
 * users' Maildirs. One session per connection on the event loop; the
 * `pop3` listener offers STLS, `pop3s` is implicit TLS. See session.h for
 * its parts.
 */
#ifndef POSTERN_POP3D_POP3D_H
#define POSTERN_POP3D_POP3D_H

#include <sys/socket.h>

#include "conf/conf.h"

struct daemon;

/* Takes ownership of fd. Shutdown and the close-all at exit go through
 * the session skeleton (session/session.h): a QUIT whose deletions are
 * being applied finishes first, even without its client. */
void pop3d_session_start(struct daemon *d, enum service svc, int fd, const struct sockaddr *sa,
                         socklen_t salen);

#endif
