/*
 * session: the POP3 session, shared by its parts:
 *   session.c   the skeleton's hooks (session/session.h: the input loop,
 *               deadlines, shutdown), replies, the mailbox lock, scan, update
 *   commands.c  the command table and the TRANSACTION commands
 *   auth.c      USER/PASS and AUTH PLAIN, verified in a worker, rate limited
 *   transfer.c  RETR and TOP: the message read in a worker, chunk by chunk
 * Handlers never do I/O themselves: they reply through pop3d_reply() and
 * friends, and the connection layer (net/conn.h) does the rest.
 */
#ifndef POSTERN_POP3D_SESSION_H
#define POSTERN_POP3D_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "conf/conf.h"
#include "proto/pop3_parse.h"
#include "proto/sasl.h"
#include "proto/sasl_step.h"
#include "session/session.h"

struct conn;
struct daemon;
struct worker_job;
struct pop3d_mailbox;
struct auth_check;
struct pop3d_xfer;
struct pop3d_box_job;

enum pop3d_state {
    POP3D_AUTHORIZATION, /* RFC 1939 3: not logged in */
    POP3D_SASL,          /* AUTH sent "+ ": the next line is the response */
    POP3D_AUTH_CHECK,    /* the password is being verified, or a failure delayed */
    POP3D_LOADING,       /* logged in; the mailbox is being scanned (worker) */
    POP3D_TRANSACTION,   /* RFC 1939 5 */
    POP3D_SENDING,       /* RETR or TOP is streaming a message */
    POP3D_UPDATE,        /* QUIT: deletions being applied (worker) */
    POP3D_CLOSING,
};

#define POP3D_STATE_BIT(s) (1u << (s))

struct pop3d_session {
    SESSION_EMBED; /* d, conn, snap, service, ip, tls_info, ... (session/session.h) */
    enum pop3d_state state;

    /* AUTHORIZATION */
    char user[SASL_USER_MAX + 1]; /* the USER name, waiting for PASS */
    bool has_user;
    struct sasl_step sasl;    /* the AUTH exchange while in POP3D_SASL */
    struct auth_check *check; /* a password check in progress */

    /* TRANSACTION */
    char *auth_user;              /* the authenticated address; its mailbox is ours */
    bool locked;                  /* holds the mailbox lock (one session per mailbox) */
    bool dropped;                 /* the connection went away while UPDATE runs */
    struct worker_job *scan;      /* the mailbox scan at login, in a worker */
    struct pop3d_box_job *update; /* QUIT's deletions in a worker: never cancelled */
    struct pop3d_mailbox *box;
    struct pop3d_xfer *xfer;
    uint64_t retrieved;
};

/* session.c */
void pop3d_reply_ok(struct pop3d_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void pop3d_reply_err(struct pop3d_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Counts a protocol error; closes the session past [limits] bad_commands. */
void pop3d_bad_command(struct pop3d_session *s);
/* Sends a last -ERR (if text) and closes once it is written. */
void pop3d_close(struct pop3d_session *s, const char *text);
/* Arms the inactivity timer ([pop3] timeout) for the next command. */
void pop3d_wait_command(struct pop3d_session *s);
/* Continues processing input after an asynchronous step finished. */
void pop3d_process_input(struct pop3d_session *s);
/* True if another live session holds user's mailbox. */
bool pop3d_mailbox_in_use(const struct pop3d_session *s, const char *user);
/* After a successful login: takes the lock and scans the mailbox. */
void pop3d_open_mailbox(struct pop3d_session *s, const char *user);
/* QUIT in TRANSACTION: applies the deletions (UPDATE), replies, closes. */
void pop3d_quit_update(struct pop3d_session *s);
/* True when the connection is protected by TLS. */
bool pop3d_secure(const struct pop3d_session *s);
/* True when USER/PASS and AUTH may be used now. */
bool pop3d_login_allowed(const struct pop3d_session *s);

/* commands.c: returns false when input processing must stop (closing,
 * or waiting for something asynchronous). */
bool pop3d_dispatch(struct pop3d_session *s, const char *line, size_t len);

/* auth.c */
bool pop3d_cmd_user(struct pop3d_session *s, const struct pop3_command *cmd);
bool pop3d_cmd_pass(struct pop3d_session *s, const struct pop3_command *cmd);
bool pop3d_cmd_auth(struct pop3d_session *s, const struct pop3_command *cmd);
bool pop3d_auth_response(struct pop3d_session *s, const char *line, size_t len);
void pop3d_auth_cleanup(struct pop3d_session *s);

/* transfer.c: RETR (top false) or TOP of message index i (0-based). */
void pop3d_transfer_start(struct pop3d_session *s, size_t i, bool top, uint32_t lines);
/* The connection took what was sent (conn_notify_drained): read on. */
void pop3d_transfer_drained(struct pop3d_session *s);
void pop3d_transfer_cleanup(struct pop3d_session *s);

#endif
