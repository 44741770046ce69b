/*
 * session: the inbound SMTP session, shared by its three parts:
 *   session.c   the skeleton's hooks (session/session.h: the input loop,
 *               deadlines, shutdown), replies, the error pause, eviction
 *   commands.c  the command table and one handler per command
 *   data.c      message content (DATA and BDAT) and the durable commit
 * Handlers never do I/O themselves: they reply through smtpd_reply() and
 * the connection layer (net/conn.h) does the rest.
 */
#ifndef POSTERN_SMTPD_SESSION_H
#define POSTERN_SMTPD_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "conf/conf.h"
#include "proto/smtp_data.h"
#include "proto/sasl_step.h"
#include "proto/smtp_parse.h"
#include "queue/envelope.h"
#include "session/session.h"
#include "util/buf.h"

struct conn;
struct daemon;
struct queue_incoming;
struct worker_job;
struct auth_check;
struct mailauth;
struct dkim_signer;

enum smtpd_state {
    SMTPD_GREETING,   /* waiting out the greeting delay */
    SMTPD_CONNECTED,  /* greeted, no HELO/EHLO yet */
    SMTPD_READY,      /* HELO/EHLO done, no transaction */
    SMTPD_MAIL,       /* MAIL accepted */
    SMTPD_RCPT,       /* at least one RCPT accepted */
    SMTPD_DATA,       /* receiving DATA content */
    SMTPD_BDAT,       /* receiving a BDAT chunk */
    SMTPD_COMMIT,     /* waiting for the queue to make the message durable */
    SMTPD_AUTH,       /* AUTH sent a 334 challenge: the next line is a response */
    SMTPD_AUTH_CHECK, /* the password is being verified (worker) or failure delayed */
    SMTPD_RCPT_CHECK, /* a local recipient's quota is being read (worker) */
    SMTPD_ERROR_WAIT, /* an error reply was sent; input waits out [limits] error_delay */
    SMTPD_CLOSING,
};

#define SMTPD_STATE_BIT(s) (1u << (s))

struct smtpd_session {
    SESSION_EMBED; /* d, conn, snap, service, ip, tls_info, ... (session/session.h) */
    enum smtpd_state state;
    char *helo;
    bool esmtp;
    unsigned unknown_rcpts;              /* 550 5.1.1 replies, held to [limits] bad_commands too */
    enum smtpd_state error_return_state; /* where SMTPD_ERROR_WAIT goes back to */
    uint64_t messages;

    /* TLS and AUTH */
    char *auth_user;       /* the authenticated address, or NULL */
    struct sasl_step sasl; /* the AUTH exchange while in SMTPD_AUTH */
    enum smtpd_state auth_return_state;
    struct auth_check *check; /* a password check in progress */

    /* the transaction */
    struct envelope *env;
    struct smtp_mail_params mail;
    unsigned rcpt_commands;        /* accepted RCPT commands */
    char *single_rcpt;             /* the RCPT address while there is exactly one */
    struct worker_job *rcpt_check; /* rcpt_quota.c's job, in a worker */

    /* content */
    struct smtp_data_decoder decoder;
    struct queue_incoming *incoming;
    struct buf pending_out; /* decoded content not yet written */
    uint64_t bdat_remaining;
    bool bdat_last;
    bool bdat_failed;          /* a chunk was refused: the rest are consumed and 503'd */
    bool bdat_used;            /* this transaction uses BDAT */
    int bdat_errno;            /* the queue could not take the BDAT content */
    struct worker_job *commit; /* the durable commit, in a committer */
    size_t content_start;      /* where the message begins in pending_out */
    bool headers_done;         /* the header section was seen (and fixed up) */
    const struct smtp_error *content_error; /* refusal decided from the headers */

    /* mail authentication (checks.c) */
    struct mailauth *checks;    /* inbound SPF/DKIM/DMARC, or NULL */
    struct dkim_signer *signer; /* outbound signature, or NULL */
};

/* session.c */
void smtpd_reply(struct smtpd_session *s, int code, const char *enhanced, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void smtpd_reply_error(struct smtpd_session *s, const struct smtp_error *e);
/* Counts a protocol error; closes the session (421) past the limit. */
void smtpd_bad_command(struct smtpd_session *s);
void smtpd_close(struct smtpd_session *s, int code, const char *enhanced, const char *text);
/* After an error reply: the session reads no further command for ms (as
 * Postfix's smtpd_error_sleep_time), without blocking the loop. */
void smtpd_error_pause(struct smtpd_session *s, unsigned ms);
void smtpd_transaction_reset(struct smtpd_session *s);
void smtpd_wait_command(struct smtpd_session *s);
/* Continues processing input after an asynchronous step finished. */
void smtpd_process_input(struct smtpd_session *s);

/* commands.c: returns false when input processing must stop (the session
 * is closing or waiting for something asynchronous). */
bool smtpd_dispatch(struct smtpd_session *s, const char *line, size_t len, bool more_input);

/* commands.c: a RCPT's targets go into the envelope; the RCPT is counted
 * and answered 250. */
void smtpd_rcpt_add_targets(struct smtpd_session *s, const char *addr,
                            const struct smtp_rcpt_params *rp, char *const *targets, size_t n);
void smtpd_rcpt_accepted(struct smtpd_session *s, const char *addr);

/* rcpt_quota.c: RCPT TO a local mailbox with a storage limit. Starts the
 * check of targets (local mailboxes and others, all kept) in a worker and
 * returns true: the session waits (SMTPD_RCPT_CHECK), then replies 452
 * 4.2.2 (full), 552 5.2.2 (SIZE= alone above the limit) or adds them and
 * replies 250. False when no target has a limit: nothing was started. */
bool smtpd_rcpt_quota_start(struct smtpd_session *s, const char *addr,
                            const struct smtp_rcpt_params *rp, char *const *targets, size_t n);
void smtpd_rcpt_quota_cancel(struct smtpd_session *s);

/* auth.c */
bool smtpd_auth_offered(const struct smtpd_session *s);
bool smtpd_cmd_auth(struct smtpd_session *s, const struct smtp_command *cmd);
bool smtpd_auth_response(struct smtpd_session *s, const char *line, size_t len);
void smtpd_auth_cleanup(struct smtpd_session *s);

/* submission.c: the policy of the submission services (RFC 6409) */
bool smtpd_is_submission(const struct smtpd_session *s);
/* True when the authenticated user may use addr as a sender. */
bool smtpd_sender_owned(const struct smtpd_session *s, const char *addr);
/* Called once the header section is complete in pending_out (from
 * content_start): adds missing Date/Message-ID on submission and checks
 * From:. May set s->content_error. */
void smtpd_headers_complete(struct smtpd_session *s, size_t headers_len);

/* checks.c: mail authentication (see the file's comment) */
void smtpd_checks_mail(struct smtpd_session *s, const char *sender);
void smtpd_checks_content_begin(struct smtpd_session *s);
/* Decoded content as it arrives; and the bytes written to the queue file. */
void smtpd_checks_data(struct smtpd_session *s, const char *data, size_t len);
void smtpd_checks_written(struct smtpd_session *s, const char *data, size_t len);
/* Removes forged Authentication-Results from the header section held in
 * pending_out at content_start; updates *headers_len. */
void smtpd_checks_strip_forged(struct smtpd_session *s, size_t *headers_len);
/* The message is complete: true when results must be awaited (the session
 * continues in smtpd_commit_checked()). */
bool smtpd_checks_end(struct smtpd_session *s);
void smtpd_checks_reset(struct smtpd_session *s);

/* data.c */
/* After the checks: refuse with the reply, or commit with these header
 * fields to prepend (or NULL). */
void smtpd_commit_checked(struct smtpd_session *s, const struct smtp_error *refuse,
                          const char *prepend);
/* DATA: opens the queue file; false (after replying) if it cannot. */
bool smtpd_data_begin(struct smtpd_session *s);
/* BDAT: a chunk of size octets follows; refuse consumes it and answers 503. */
void smtpd_bdat_start(struct smtpd_session *s, uint64_t size, bool last, bool refuse);
/* Feeds content input; returns the number of octets consumed. */
size_t smtpd_data_feed(struct smtpd_session *s, const char *in, size_t len);
void smtpd_data_abort(struct smtpd_session *s);

#endif
