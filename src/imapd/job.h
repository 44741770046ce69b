/*
 * job: how an IMAP command does its store work. The handler checks and
 * copies its arguments on the loop (the parsed command is the parser's and
 * must not be read from a worker), then imapd_job_submit() runs work() in
 * a worker with the selected folder lent to it (the session does not touch
 * it meanwhile: input waits while a command runs). work() writes the
 * untagged responses and the tagged one into j->out; on the loop, done()
 * (optional) applies the result to the session, j->out is written, and the
 * next command is read.
 *
 * A command with much to send (FETCH 1:* BODY[]) sets j->more in work():
 * what is in j->out is written, and work() runs again once the connection
 * has taken it (the output-drained event), so memory stays bounded.
 *
 * If the session ends while work() runs, the job is cancelled: its
 * arguments and the lent folder are freed when work() returns.
 */
#ifndef POSTERN_IMAPD_JOB_H
#define POSTERN_IMAPD_JOB_H

#include <stdbool.h>
#include <stddef.h>

#include "proto/imap_parse.h"
#include "util/buf.h"

struct imapd_session;
struct imapd_selected;
struct store;

struct imapd_job {
    struct imapd_session *s;    /* on the loop only */
    struct store *store;        /* the user's mailboxes (owned by the job) */
    struct imapd_selected *sel; /* lent by the session, or NULL */
    char tag[IMAP_TAG_MAX + 1];
    bool uid;         /* a UID command */
    bool more;        /* work() has more to send (see above) */
    bool idle;        /* IDLE's update: not a command, the session stays in IDLE */
    bool enters_idle; /* set by done(): the command (IDLE) goes on, waiting for DONE */
    void (*work)(struct imapd_job *j);
    void (*done)(struct imapd_job *j);
    void (*free_args)(void *args);
    void *args;
    struct buf out;
};

/* A job for the command in progress (its tag), with the session's folder
 * lent to it when one is selected. */
struct imapd_job *imapd_job_new(struct imapd_session *s, void (*work)(struct imapd_job *j),
                                void *args, void (*free_args)(void *args));
/* Submits it; the command is busy until it is done. Returns false. */
bool imapd_job_submit(struct imapd_job *j);
/* The session ends: cancels its job, if any. */
void imapd_job_cancel(struct imapd_session *s);
/* The connection took what a job with more to send wrote. */
void imapd_job_drained(struct imapd_session *s);

/* Helpers for work(): the tagged reply. */
void imapd_job_tagged(struct imapd_job *j, const char *status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
