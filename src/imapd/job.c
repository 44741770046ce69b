/* IMAP command jobs: store work in a worker, replies on the loop, and the
 * drained-event pacing of long outputs (see job.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "imapd/job.h"
#include "imapd/select.h"
#include "imapd/session.h"
#include "net/conn.h"
#include "store/store.h"
#include "util/worker.h"
#include "util/xmalloc.h"

/* A job with more to send runs again once its output is down to this. */
#define IMAPD_JOB_LOW_WATER (64 * 1024)

static void job_free(struct imapd_job *j)
{
    if (j->free_args)
        j->free_args(j->args);
    imapd_selected_free(j->sel);
    store_free(j->store);
    buf_free(&j->out);
    free(j);
}

static void job_discard(void *arg)
{
    job_free(arg);
}

struct imapd_job *imapd_job_new(struct imapd_session *s, void (*work)(struct imapd_job *j),
                                void *args, void (*free_args)(void *args))
{
    struct imapd_job *j = xcalloc(1, sizeof(*j));
    j->s = s;
    j->store = store_maildir_new(s->maildir);
    store_set_quota(j->store, s->quota);
    snprintf(j->tag, sizeof(j->tag), "%s", s->tag);
    j->work = work;
    j->args = args;
    j->free_args = free_args;
    buf_init(&j->out);
    return j;
}

static void job_work(void *arg)
{
    struct imapd_job *j = arg;
    j->more = false;
    j->work(j);
}

static void job_done(void *arg)
{
    struct imapd_job *j = arg;
    struct imapd_session *s = j->s;
    s->job = NULL;
    if (j->more && s->conn) {
        conn_write(s->conn, j->out.data, j->out.len);
        buf_reset(&j->out);
        s->paced = j; /* runs again on the drained event */
        conn_notify_drained(s->conn, IMAPD_JOB_LOW_WATER);
        return;
    }
    if (j->done)
        j->done(j);
    if (s->conn && j->out.len)
        conn_write(s->conn, j->out.data, j->out.len);
    /* The folder goes back to the session (done() may have replaced it). */
    if (s->sel == NULL) {
        s->sel = j->sel;
        j->sel = NULL;
    }
    bool idle = j->idle, enters_idle = j->enters_idle;
    job_free(j);
    if (idle) {
        imapd_idle_job_done(s);
        return;
    }
    if (enters_idle && s->state != IMAPD_LOGOUT) {
        s->wait = IMAPD_WAIT_IDLE;
        imapd_arm_deadline(s);
        session_process_input(&s->base);
        return;
    }
    imapd_command_done(s);
}

bool imapd_job_submit(struct imapd_job *j)
{
    struct imapd_session *s = j->s;
    if (j->sel == NULL) {
        j->sel = s->sel; /* lent for the work */
        s->sel = NULL;
    }
    if (!j->idle)
        imapd_command_busy(s);
    s->job = worker_pool_submit(s->d->workers, job_work, job_done, j);
    return false;
}

void imapd_job_drained(struct imapd_session *s)
{
    struct imapd_job *j = s->paced;
    if (j == NULL)
        return;
    s->paced = NULL;
    s->job = worker_pool_submit(s->d->workers, job_work, job_done, j);
}

void imapd_job_cancel(struct imapd_session *s)
{
    worker_job_cancel(&s->job, job_discard);
    if (s->paced) {
        job_free(s->paced);
        s->paced = NULL;
    }
}

void imapd_job_tagged(struct imapd_job *j, const char *status, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    buf_printf(&j->out, "%s %s %s\r\n", j->tag, status, text);
}
