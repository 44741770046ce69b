/*
 * session: the IMAP session (RFC 3501, RFC 9051), shared by its parts:
 *   session.c   the skeleton's hooks (session/session.h): the input loop
 *               fed to the command parser, literals, deadlines, shutdown
 *   reply.c     tagged, untagged and continuation replies
 *   commands.c  the command table and the commands of any state
 *   auth.c      LOGIN and AUTHENTICATE, verified in a worker, rate limited
 * A command handler replies through imapd_reply_*() and never does I/O
 * itself; work that blocks goes to a worker and the command finishes in
 * its done() with imapd_command_done().
 */
#ifndef POSTERN_IMAPD_SESSION_H
#define POSTERN_IMAPD_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/imap_parse.h"
#include "proto/sasl.h"
#include "proto/sasl_step.h"
#include "session/session.h"

struct auth_check;
struct event;
struct imapd_job;
struct worker_job;
struct imapd_selected;

enum imapd_state {
    IMAPD_NOT_AUTHENTICATED, /* RFC 9051 3.1 */
    IMAPD_AUTHENTICATED,     /* 3.2 */
    IMAPD_SELECTED,          /* 3.3 */
    IMAPD_LOGOUT,            /* 3.4: closing */
};

#define IMAPD_STATE_BIT(s) (1u << (s))
#define IMAPD_ANY                                                                                  \
    (IMAPD_STATE_BIT(IMAPD_NOT_AUTHENTICATED) | IMAPD_STATE_BIT(IMAPD_AUTHENTICATED) |             \
     IMAPD_STATE_BIT(IMAPD_SELECTED))
#define IMAPD_NOTAUTH       IMAPD_STATE_BIT(IMAPD_NOT_AUTHENTICATED)
#define IMAPD_AUTH          (IMAPD_STATE_BIT(IMAPD_AUTHENTICATED) | IMAPD_STATE_BIT(IMAPD_SELECTED))
#define IMAPD_SELECTED_ONLY IMAPD_STATE_BIT(IMAPD_SELECTED)

/* The command carries credentials: refused before TLS unless [imap]
 * allow_plaintext_auth (RFC 9051 6.2.3, LOGINDISABLED). */
#define IMAPD_CMD_LOGIN 0x1u

/* What the input loop waits for besides a command. */
enum imapd_wait {
    IMAPD_WAIT_COMMAND, /* the next command (or the rest of this one) */
    IMAPD_WAIT_LITERAL, /* the octets of a literal (raw mode) */
    IMAPD_WAIT_SASL,    /* an AUTHENTICATE response line */
    IMAPD_WAIT_IDLE,    /* "DONE" ends IDLE */
    IMAPD_WAIT_BUSY,    /* a command runs (worker, password check) */
};

struct imapd_session {
    SESSION_EMBED; /* d, conn, snap, service, ip, tls_info, ... */
    enum imapd_state state;
    enum imapd_wait wait;
    struct imap_parser *parser;
    char tag[IMAP_TAG_MAX + 1]; /* of the command in progress */

    /* Login */
    struct sasl_step sasl;    /* AUTHENTICATE in progress */
    struct auth_check *check; /* a password check in progress */
    char *auth_user;          /* the authenticated address */
    char *maildir;            /* its Maildir */
    uint64_t quota;           /* its storage limit in octets, 0: none (QUOTA) */
    bool utf8_enabled;        /* ENABLE UTF8=ACCEPT */
    bool rev2;                /* ENABLE IMAP4rev2 */
    bool condstore;           /* CONDSTORE-aware (imapd/condstore.h) */
    bool qresync;             /* ENABLE QRESYNC */

    struct imapd_selected *sel; /* the selected folder, or NULL */
    struct worker_job *job;     /* the command's worker job, if any */
    struct imapd_job *paced;    /* a job waiting for its output to drain */
    bool idle_dirty;            /* the folder changed while an IDLE update ran */
    struct event *watch;        /* IDLE's inotify watch of the selected folder */
    int inotify_fd;
};

struct imapd_session;
/* A command: the states it is valid in, and its handler, which returns
 * false when input processing must stop (closing, or waiting). */
struct imapd_command {
    const char *name;
    unsigned states;
    unsigned flags;
    bool (*handler)(struct imapd_session *s, const struct imap_command *cmd);
};

/* reply.c */
void imapd_reply_tagged(struct imapd_session *s, const char *status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void imapd_reply_untagged(struct imapd_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A BAD for the command in progress, counted against [limits] bad_commands. */
void imapd_reply_bad(struct imapd_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "* BYE text" and close once it is written. */
void imapd_bye(struct imapd_session *s, const char *text);
/* The CAPABILITY list for the session's state and TLS. */
void imapd_capabilities(const struct imapd_session *s, struct buf *out);

/* session.c */
/* The command in progress finished (it replied) inside the input loop:
 * the parser is ready for the next one. */
void imapd_command_finish(struct imapd_session *s);
/* The same from an asynchronous step (a worker's done, a password check):
 * then the next command is read too. */
void imapd_command_done(struct imapd_session *s);
/* The command waits for something asynchronous; input waits too. */
void imapd_command_busy(struct imapd_session *s);
/* Arms the deadline the state calls for (login, authenticated, IDLE). */
void imapd_arm_deadline(struct imapd_session *s);
bool imapd_secure(const struct imapd_session *s);
/* True when LOGIN and AUTHENTICATE may be used now. */
bool imapd_login_allowed(const struct imapd_session *s);

/* The IMAP session s is, or NULL (another protocol's). */
struct imapd_session *imapd_session_of(struct session *s);

/* commands.c: runs a parsed command; false stops input processing. */
bool imapd_dispatch(struct imapd_session *s, const struct imap_command *cmd);

/* auth.c */
bool imapd_cmd_login(struct imapd_session *s, const struct imap_command *cmd);
bool imapd_cmd_authenticate(struct imapd_session *s, const struct imap_command *cmd);
bool imapd_auth_response(struct imapd_session *s, const char *line, size_t len);
void imapd_auth_cleanup(struct imapd_session *s);

#endif
