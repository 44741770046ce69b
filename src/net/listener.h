/*
 * listener: binds the configured addresses (as root, before the privilege
 * drop) and accepts connections for a service, enforcing the connection
 * limits ([limits] connections, connections_per_ip and each service's share,
 * connections_SERVICE) with 421 4.7.0 before any session exists. When the
 * smtp share or the total is full, the evictor may first close an idle
 * port 25 session to make room.
 */
#ifndef POSTERN_NET_LISTENER_H
#define POSTERN_NET_LISTENER_H

#include <stdbool.h>
#include <sys/socket.h>

#include "conf/conf.h"
#include "util/buf.h"

struct event_base;
struct listener_set;

/* Called for an accepted connection that passed the limits. The callee owns
 * fd; it must call listener_release(set, ip) when the connection ends. */
typedef void (*listener_accept_fn)(void *arg, enum service svc, int fd, const struct sockaddr *sa,
                                   socklen_t len);

/* Closes one idle, unauthenticated smtp session and releases its slot
 * (listener_release) at once; false when there is none. */
typedef bool (*listener_evict_fn)(void *arg);

/* Binds the host:port listeners (as root, for ports below 1024). */
struct listener_set *listener_set_bind(const struct conf *conf, struct buf *err_r);
/* Then, once the daemon is the service user, the unix: ones: their old
 * socket is unlinked and a new one made by path, which root must never do
 * in a directory another user may write (such as data_dir/run/). */
int listener_set_bind_unix(struct listener_set *set, const struct conf *conf, struct buf *err_r);
void listener_set_start(struct listener_set *set, struct event_base *base, listener_accept_fn fn,
                        void *arg);
/* Applies new limits (reload). */
void listener_set_limits(struct listener_set *set, const struct conf *conf);
void listener_set_evictor(struct listener_set *set, listener_evict_fn fn, void *arg);
void listener_release(struct listener_set *set, enum service svc, const char *ip);
unsigned listener_active(const struct listener_set *set);
/* Stops accepting (shutdown). */
void listener_set_stop(struct listener_set *set);
void listener_set_free(struct listener_set **set);

#endif
