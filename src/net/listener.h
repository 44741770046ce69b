/*
 * listener: binds the configured addresses (as root, before the privilege
 * drop) and accepts connections for a service, enforcing the connection
 * limits ([limits] connections, connections_per_ip) with 421 4.7.0 before
 * any session exists.
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

struct listener_set *listener_set_bind(const struct conf *conf, struct buf *err_r);
void listener_set_start(struct listener_set *set, struct event_base *base, listener_accept_fn fn,
                        void *arg);
/* Applies new limits (reload). */
void listener_set_limits(struct listener_set *set, unsigned total, unsigned per_ip);
void listener_release(struct listener_set *set, const char *ip);
unsigned listener_active(const struct listener_set *set);
/* Stops accepting (shutdown). */
void listener_set_stop(struct listener_set *set);
void listener_set_free(struct listener_set **set);

#endif
