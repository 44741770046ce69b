/*
 * daemon: the running server's shared state, owned by `postern serve`.
 * Every session and the scheduler reach the configuration, the tables, the
 * queue and the worker pool through it. Only the event-loop thread touches
 * it, except the fields documented as read-only after start.
 */
#ifndef POSTERN_DAEMON_H
#define POSTERN_DAEMON_H

#include <stdbool.h>

#include "conf/conf.h"

struct event_base;
struct worker_pool;
struct queue;
struct scheduler;
struct listener_set;
struct user_table;
struct auth_limiter;
struct dns_resolver;
struct dkim_keyring;
struct session;
struct lifecycle;
typedef struct ssl_ctx_st SSL_CTX;

struct snapshot;

struct daemon {
    /* The current configuration and tables (see snapshot.h). A session or
     * a job takes its own reference to d->snap when it starts and reads
     * through that; conf, users, dkim and tls below are the current
     * snapshot's, for what always wants the newest (listeners, the
     * scheduler's timers, new sessions). Only lifecycle.c changes them. */
    struct snapshot *snap;
    const struct conf *conf;
    const struct user_table *users;
    struct event_base *base;
    struct worker_pool *workers;
    /* Commits of received messages only: they wait on fsync, and on their
     * own threads they neither queue behind delivery work nor delay it;
     * committing together, they share directory fsyncs (queue.h). */
    struct worker_pool *committers;
    struct queue *queue;
    struct scheduler *scheduler;
    struct listener_set *listeners;
    SSL_CTX *tls; /* NULL when no certificate is configured; d->snap's */
    struct auth_limiter *auth_limiter;
    struct dns_resolver *resolver; /* asynchronous DNS for the relay (and checks) */
    struct dkim_keyring *dkim;     /* signing keys per domain ([dkim]); never NULL; d->snap's */
    /* Live server sessions, every protocol (session/session.h keeps them): shutdown, the
     * POP3 mailbox locks, eviction. */
    unsigned sessions;
    struct session *session_list;
    bool stopping;
    struct lifecycle *lifecycle;
};

int daemon_serve(const char *conf_path);
/* Makes snap the current snapshot (the daemon's reference is taken over)
 * and drops the daemon's reference to the one it replaces. */
void daemon_install_snapshot(struct daemon *d, struct snapshot *snap);

#endif
