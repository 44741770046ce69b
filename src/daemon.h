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
struct smtpd_session;
struct pop3d_session;
struct lifecycle;
typedef struct ssl_ctx_st SSL_CTX;

struct daemon {
    struct conf *conf;
    struct user_table *users;
    struct event_base *base;
    struct worker_pool *workers;
    /* Commits of received messages only: they wait on fsync, and on their
     * own threads they neither queue behind delivery work nor delay it;
     * committing together, they share directory fsyncs (queue.h). */
    struct worker_pool *committers;
    struct queue *queue;
    struct scheduler *scheduler;
    struct listener_set *listeners;
    SSL_CTX *tls; /* NULL when no certificate is configured */
    struct auth_limiter *auth_limiter;
    struct dns_resolver *resolver; /* asynchronous DNS for the relay (and checks) */
    struct dkim_keyring *dkim;     /* signing keys per domain ([dkim]); never NULL */
    unsigned sessions;
    struct smtpd_session *smtpd_sessions; /* live SMTP sessions, for shutdown */
    struct pop3d_session *pop3_sessions;  /* live POP3 sessions: shutdown, mailbox locks */
    bool stopping;
    struct lifecycle *lifecycle;
};

int daemon_serve(const char *conf_path);

#endif
