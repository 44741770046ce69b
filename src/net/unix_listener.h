/*
 * unix_listener: one listening unix socket made at a path, for Postern's
 * own clients (the control sockets in data_dir/run/). Each accepted
 * connection is handed over with the peer's credentials (SO_PEERCRED);
 * the owner wraps the descriptor in a conn (net/conn.h). No connection
 * limits apply: the socket's file mode decides who may connect.
 */
#ifndef POSTERN_NET_UNIX_LISTENER_H
#define POSTERN_NET_UNIX_LISTENER_H

#include <sys/socket.h>
#include <sys/types.h>

#include "util/buf.h"

struct event_base;
struct unix_listener;

/* The callee owns fd. peer's uid and gid are -1 when the kernel would not
 * say who connected. */
typedef void (*unix_accept_fn)(void *arg, int fd, const struct ucred *peer);

/* Replaces whatever is at path with a socket of this mode (made by the
 * calling user, who must own the directory). NULL and a reason in err_r
 * when it cannot. */
struct unix_listener *unix_listener_new(struct event_base *base, const char *path, mode_t mode,
                                        unix_accept_fn fn, void *arg, struct buf *err_r);
/* Stops accepting and removes the socket file. */
void unix_listener_free(struct unix_listener **l);

#endif
