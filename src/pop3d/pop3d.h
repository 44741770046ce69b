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

/* Takes ownership of fd. */
void pop3d_session_start(struct daemon *d, enum service svc, int fd, const struct sockaddr *sa,
                         socklen_t salen);

/* Shutdown begins: every session gets -ERR [SYS/TEMP] and is closed, but
 * a QUIT whose deletions are being applied finishes first. */
void pop3d_shutdown_begin(struct daemon *d);

/* Frees every live session (shutdown). Work already in a worker finishes
 * without them: a QUIT's deletions still happen. */
void pop3d_close_all(struct daemon *d);

#endif
