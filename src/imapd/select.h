/*
 * select: the selected folder (RFC 9051 6.3.2) and the session's view of
 * it: which message each sequence number is, with the flags the client was
 * last told. imapd_view_update() brings the view up to date with the
 * folder and writes what changed as untagged responses (FLAGS, EXPUNGE,
 * EXISTS, RECENT, FETCH FLAGS); it runs in a worker, inside a command's
 * job, which has the folder lent to it.
 *
 * Commands: SELECT, EXAMINE, CLOSE, UNSELECT, EXPUNGE (and UID EXPUNGE),
 * NOOP and CHECK while selected, and IDLE (RFC 2177), which watches the
 * folder's new/ and cur/ with inotify, so a delivery, or another program's
 * change, is reported at once.
 */
#ifndef POSTERN_IMAPD_SELECT_H
#define POSTERN_IMAPD_SELECT_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/imap_seqset.h"
#include "store/store.h"
#include "util/buf.h"

struct imapd_job;
struct imapd_session;
struct imap_command;
struct event;

struct imapd_view_msg {
    uint32_t uid;
    unsigned flags;    /* enum store_flag, as last reported */
    uint32_t keywords; /* the folder's keyword bits, as last reported */
    bool recent;
};

struct imapd_selected {
    struct store *store; /* the one the folder was opened with */
    struct store_folder *f;
    bool read_only;
    struct imapd_view_msg *v; /* by sequence number - 1 */
    size_t n, cap;
    char *keywords_reported[STORE_KEYWORDS_MAX]; /* the FLAGS list last sent */
    struct imap_seqlist saved; /* SEARCH RETURN (SAVE)'s result as UIDs (RFC 5182) */
    bool rev2;                 /* IMAP4rev2 is enabled: no \Recent, no RECENT */
    bool condstore;            /* the session is CONDSTORE-aware: MODSEQ in flag responses */
    bool qresync;              /* QRESYNC is enabled: VANISHED instead of EXPUNGE */
};

void imapd_selected_free(struct imapd_selected *sel);

/* In a worker: re-reads the folder and reports changes into out. Expunges
 * are reported only when expunges is true (RFC 9051 7.5.1: not during
 * FETCH, STORE or SEARCH by sequence number); until then the view keeps
 * the expunged messages' places. */
void imapd_view_update(struct imapd_selected *sel, struct buf *out, bool expunges);
/* The view's sequence numbers a set names (UIDs for a UID command, the
 * saved result for "$"), ascending; *n_r of them (caller frees). NULL with
 * *bad_r set when a message number is past the last one. */
uint32_t *imapd_view_resolve(const struct imapd_selected *sel, const struct imap_seqset *set,
                             bool uid, size_t *n_r, bool *bad_r);
/* In a job of a message command: brings the view up to date (expunges
 * reported only for a UID command, RFC 9051 7.5.1) and resolves set.
 * NULL after a BAD for a number past the last message. */
uint32_t *imapd_job_messages(struct imapd_job *j, const struct imap_seqset *set, size_t *n_r);
/* In a worker: the message's octets, with CRLF line ends when crlf. */
bool imapd_read_message(struct store_folder *f, uint32_t uid, bool crlf, struct buf *out);
/* The names of the folder's keywords in bits; returns how many. */
size_t imapd_keyword_names(const struct store_folder *f, uint32_t bits,
                           const char *names[STORE_KEYWORDS_MAX]);
/* The view's message with this UID (binary search), or NULL. */
struct imapd_view_msg *imapd_view_by_uid(struct imapd_selected *sel, uint32_t uid, size_t *seq_r);
/* The flag list "(\Seen \Flagged $Label1)" of flags and keywords. */
void imapd_flags_format(struct buf *out, const struct imapd_selected *sel, unsigned flags,
                        uint32_t keywords, bool recent);

/* The command table entries (mailbox.c lists them). */
bool imapd_cmd_select(struct imapd_session *s, const struct imap_command *cmd);
bool imapd_cmd_close(struct imapd_session *s, const struct imap_command *cmd);
bool imapd_cmd_expunge(struct imapd_session *s, const struct imap_command *cmd);
bool imapd_cmd_idle(struct imapd_session *s, const struct imap_command *cmd);
/* NOOP and CHECK while selected. */
bool imapd_select_poll(struct imapd_session *s, const char *name);
/* An IDLE update finished: another if the folder changed meanwhile. */
void imapd_idle_job_done(struct imapd_session *s);
/* IDLE's DONE, or the session ends. */
void imapd_idle_stop(struct imapd_session *s);

#endif
