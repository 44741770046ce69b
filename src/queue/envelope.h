/*
 * envelope: a queued message's envelope, and its text form on disk.
 *
 * The file is human-readable, one "key value" per line. Every value is
 * escaped (%XX for any octet outside printable ASCII, and for '%' and
 * space), so no reply text or address (however hostile: CR, LF, NUL) can
 * add a line or a field. An empty value is written as "-" (a real "-" is
 * "%2D"). envelope_parse() is pure and strict: anything unexpected is an
 * error, never a guess.
 */
#ifndef POSTERN_QUEUE_ENVELOPE_H
#define POSTERN_QUEUE_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define QUEUE_ID_LEN 20

/* RCPT_DELIVERING: a Maildir copy is written and fsynced in tmp/ and named
 * in file; the rename into new/ may or may not have happened. Recovery
 * finishes it, so a crash neither loses nor duplicates the copy. */
enum rcpt_state { RCPT_PENDING, RCPT_DONE, RCPT_FAILED, RCPT_DELIVERING };

struct envelope_rcpt {
    char *addr; /* final target: a local mailbox or a remote address */
    char *orig; /* as given in RCPT TO */
    enum rcpt_state state;
    unsigned notify; /* SMTP_NOTIFY_* or 0 */
    char *orcpt;     /* ORCPT as sent, or NULL */
    unsigned attempts;
    int64_t next_attempt; /* unix seconds */
    char *last_error;     /* last reply or reason, or NULL */
    char *file;           /* RCPT_DELIVERING: the Maildir file's name in new/ */
};

struct envelope {
    char id[QUEUE_ID_LEN + 1];
    int64_t arrival; /* unix seconds */
    char *sender;    /* "" for the null sender */
    char *helo;
    char *client;    /* client address, or "local" */
    char *auth_user; /* or NULL */
    char *envid;     /* or NULL */
    /* Header fields decided after the content was written (Authentication-
     * Results, DKIM-Signature), CRLF lines, written before the content
     * whenever it is delivered or relayed; or NULL. */
    char *prepend;
    int ret; /* SMTP_RET_* */
    bool smtputf8;
    bool body_8bit;
    bool held;
    bool warned; /* its delay warning was queued ([relay] delay_warning) */
    uint64_t size;
    struct envelope_rcpt *rcpts;
    size_t nrcpts;
};

struct envelope *envelope_new(void);
void envelope_free(struct envelope **env);
struct envelope_rcpt *envelope_add_rcpt(struct envelope *env, const char *addr, const char *orig);
/* Index of the recipient with this final address, or -1. */
long envelope_find_rcpt(const struct envelope *env, const char *addr);
/* Recipients not yet done or failed (pending or being delivered). */
size_t envelope_pending(const struct envelope *env);

/* The escaping of one value ("-" for empty, %XX for unsafe octets), shared
 * by the other queue files (the sendmail drop files). */
void envelope_escape(struct buf *out, const char *s);
/* Decodes one escaped token (not NUL-terminated); NULL with *ok_r true for
 * "-", NULL with *ok_r false for a malformed token. Caller frees. */
char *envelope_unescape(const char *s, size_t len, bool *ok_r);

void envelope_serialize(const struct envelope *env, struct buf *out);
/* Returns NULL on success or a static reason. */
const char *envelope_parse(const char *text, size_t len, struct envelope **env_r);

#endif
