/*
 * mta_session_int: one outbound SMTP connection's state, shared by
 * mta_session.c (connection, I/O, transactions, failures) and mta_greet.c
 * (greeting, EHLO/HELO, STARTTLS, AUTH to the smarthost). Not for other
 * modules: use mta.h.
 */
#ifndef POSTERN_DELIVER_MTA_SESSION_INT_H
#define POSTERN_DELIVER_MTA_SESSION_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "deliver/mta_int.h"
#include "proto/smtp_reply.h"

struct conf;
struct conn;
struct event;
struct mta_content;
struct snapshot;

#define MTA_ADDR_TRIES   5            /* addresses tried by one session */
#define MTA_READ_MAX     (64 * 1024)  /* input buffered before we stop reading */
#define MTA_OUTPUT_LOW   (64 * 1024)  /* content is read again below this */
#define MTA_OUTPUT_AHEAD (256 * 1024) /* and written ahead up to this */

enum mta_state {
    S_CONNECT,
    S_GREETING,
    S_EHLO,
    S_HELO,
    S_STARTTLS,
    S_HANDSHAKE,
    S_AUTH,    /* AUTH PLAIN to the smarthost */
    S_TXN,     /* MAIL, RCPT, DATA replies */
    S_CONTENT, /* sending the message */
    S_DOT,     /* waiting for the reply to the final dot */
    S_DISCARD, /* a dot sent after an unwanted 354; its reply is ignored */
    S_RSET,
    S_QUIT,
    S_DEAD, /* ended; freed from the loop, so callers up the stack may look */
};

struct mta_session {
    struct mta *mta;
    struct mta_dest *dest;
    struct snapshot *snap; /* the configuration this session started with */
    struct conn *conn;
    unsigned gen;         /* bumped whenever conn is closed or starts TLS: handlers compare it */
    struct event *reaper; /* frees an ended session from the loop */
    enum mta_state state;
    struct smtp_reply_parser parser;
    size_t addr_idx; /* current address in dest->addrs */
    unsigned tries;  /* addresses tried */
    bool no_tls;     /* the TLS handshake with this address failed once */
    bool tls;
    bool verified; /* the TLS peer's certificate passed verification */
    bool authed;
    bool esmtp;
    struct smtp_ehlo ehlo;
    char peer[300]; /* "host[ip]:port" for messages */
    char last_error[512];
    struct mta_job *job;
    bool need_rset; /* the server may hold a transaction */
    /* the transaction */
    size_t sent, replied; /* MAIL, each RCPT, DATA */
    bool mail_failed;
    size_t accepted;
    bool *rcpt_ok; /* per job recipient: accepted by RCPT */
    size_t *ridx;  /* the job's recipients this transaction sends, in order */
    size_t nr;
    struct mta_content *content;
    struct mta_session *prev, *next;
};

/* mta_session.c */
const struct conf *mta_session_conf(const struct mta_session *s);
const struct route_addr *mta_session_addr(const struct mta_session *s);
void mta_session_arm(struct mta_session *s, unsigned ms);
void mta_session_send_line(struct mta_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void mta_session_close_conn(struct mta_session *s);
void mta_session_connect(struct mta_session *s);
/* Before a transaction: the next address; inside one: the job is deferred. */
void mta_session_fail(struct mta_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void mta_session_txn_start(struct mta_session *s);

/* mta_greet.c */
/* A reply in S_GREETING, S_EHLO, S_HELO, S_STARTTLS or S_AUTH. */
void mta_greet_reply(struct mta_session *s, const struct smtp_reply *r);
/* The TLS handshake in S_HANDSHAKE finished, or failed (why). */
void mta_greet_tls_done(struct mta_session *s);
void mta_greet_tls_failed(struct mta_session *s, const char *why);

#endif
