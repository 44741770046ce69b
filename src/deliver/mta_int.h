/*
 * mta_int: what mta.c (destinations, queues, limits) and mta_session.c (one
 * SMTP client connection) share. Not for other modules: use mta.h.
 */
#ifndef POSTERN_DELIVER_MTA_INT_H
#define POSTERN_DELIVER_MTA_INT_H

#include "conf/conf.h"
#include "deliver/mta.h"
#include "deliver/route.h"

struct mta_session;
typedef struct ssl_ctx_st SSL_CTX;

struct mta_dest {
    struct mta *mta;
    char *key;  /* job->dest: a domain, or "" for the smarthost */
    char *name; /* what is looked up: the domain or the smarthost host */
    uint16_t port;
    bool use_mx;
    /* TLS policy of this destination: the smarthost's from [relay]
     * smarthost_tls; MX hosts are opportunistic (CONF_TLS_MAY). tls_ctx is
     * the context sessions start TLS with (NULL: none could be made). */
    enum conf_tls_policy tls_mode;
    SSL_CTX *tls_ctx;
    struct route_lookup *lookup; /* in flight */
    bool routed;                 /* route_* below are valid */
    struct route_addr *addrs;
    size_t naddrs;
    size_t next_addr;            /* where the next session starts: rotates after failures */
    struct mta_job *head, *tail; /* waiting for a session */
    unsigned sessions;
    struct mta_dest *prev, *next;
};

struct mta {
    struct daemon *d;
    SSL_CTX *tls;        /* opportunistic: any certificate */
    SSL_CTX *tls_verify; /* the smarthost's, verifying against [relay] ca_file */
    struct mta_dest *dests;
    struct mta_session *session_list;
    unsigned sessions;
};

/* mta_session.c */
void mta_session_start(struct mta_dest *dest, struct mta_job *job);
void mta_session_free_all(struct mta *m);

/* mta.c, for sessions */
struct mta_job *mta_dest_take_job(struct mta_dest *dest);
void mta_job_finish(struct mta *m, struct mta_job *job);
/* A session ended. When every address of the destination failed, why_dead
 * says why, and the jobs still queued for it are deferred with that reason
 * instead of each waiting for its own time-outs. */
void mta_session_ended(struct mta_dest *dest, const char *why_dead);
/* Sets every unfinished recipient of job. */
void mta_job_set_all(struct mta_job *job, enum mta_result result, const char *dsn,
                     const char *reply, bool remote);

#endif
