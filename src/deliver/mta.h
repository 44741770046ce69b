/*
 * mta: outbound delivery to remote SMTP servers, on the event loop.
 *
 * The scheduler hands it jobs: one message for up to MTA_JOB_RCPTS_MAX
 * recipients of one destination (a domain, or the smarthost). Jobs for the
 * same destination share its route (deliver/route.h, looked up once) and
 * its connections: at most [relay] connections_per_domain to one
 * destination and [relay] connections in all; a connection that finishes a
 * job takes the destination's next queued job before it says QUIT.
 *
 * Every recipient of a finished job has a result: MTA_DONE (2xx after the
 * final dot), MTA_DEFER (4xx, timeout, refused or lost connection, DNS
 * trouble) or MTA_FAIL (5xx, NXDOMAIN, null MX, ...), with an enhanced
 * status and the reply or reason. job->done runs on the loop once all are
 * known; the scheduler then owns the job again (mta_job_free).
 *
 *   struct mta_job *j = mta_job_new(env, "remote.test");
 *   mta_job_add_rcpt(j, index, &env->rcpts[index]);
 *   j->done = fn; j->arg = arg;
 *   mta_submit(mta, j);
 */
#ifndef POSTERN_DELIVER_MTA_H
#define POSTERN_DELIVER_MTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "queue/envelope.h"

struct daemon;
struct mta;

#define MTA_JOB_RCPTS_MAX 100 /* a server must take 100 RCPTs (RFC 5321 4.5.3.1.8) */

enum mta_result { MTA_PENDING, MTA_DONE, MTA_DEFER, MTA_FAIL };

struct mta_rcpt {
    size_t index; /* in the envelope */
    char *addr;
    unsigned notify; /* RFC 3461 NOTIFY (SMTP_NOTIFY_*), 0 if not given */
    char *orcpt;     /* RFC 3461 ORCPT as received (xtext), or NULL */
    /* results */
    enum mta_result result;
    char dsn[12];      /* enhanced status, e.g. "2.0.0", "5.1.1" */
    char *reply;       /* the remote reply on one line, or our reason */
    bool remote_reply; /* reply came from the remote server (else our own reason) */
    const char *after; /* with a remote reply: "RCPT TO", "end of data", ... */
};

struct mta_job {
    char id[QUEUE_ID_LEN + 1];
    char *dest; /* routing key: the recipient domain, or "" for the smarthost */
    char *sender;
    char *prepend; /* header fields sent before the content (envelope), or NULL */
    bool smtputf8;
    bool body_8bit;
    uint64_t size;
    int64_t arrival;
    int ret;     /* RFC 3461 RET (SMTP_RET_*) */
    char *envid; /* RFC 3461 ENVID as received (xtext), or NULL */
    struct mta_rcpt *rcpts;
    size_t nrcpts;
    /* where the last attempt went: "mx.remote.test[127.0.0.2]:25", or "" */
    char relay_host[256];
    char relay_addr[64];
    bool next_hop_dsn; /* the server that took the message offered DSN (RFC 3461) */
    void (*done)(struct mta_job *job, void *arg);
    void *arg;
    struct mta_job *next; /* the destination's queue */
};

struct mta *mta_new(struct daemon *d);
/* Ends every session; queued and running jobs are dropped without their
 * done callback (the queue still has them: they are tried after restart). */
void mta_free(struct mta **m);

struct mta_job *mta_job_new(const struct envelope *env, const char *dest);
void mta_job_add_rcpt(struct mta_job *job, size_t index, const struct envelope_rcpt *r);
void mta_job_free(struct mta_job **job);

void mta_submit(struct mta *m, struct mta_job *job);

#endif
