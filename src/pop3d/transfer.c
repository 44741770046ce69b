/* RETR and TOP: the message is read and encoded (CRLF, dot-stuffing) in a
 * worker, one chunk at a time, and the next chunk is read only once the
 * connection has taken the previous one, so a big message never sits in
 * memory whole and a client that stops reading costs one chunk. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "net/conn.h"
#include "pop3d/mailbox.h"
#include "pop3d/session.h"
#include "proto/pop3_msg.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/worker.h"
#include "util/xmalloc.h"

#define XFER_CHUNK     (64 * 1024)  /* octets read from the file per step */
#define XFER_LOW_WATER (128 * 1024) /* read on once no more than this waits to be sent */

/* One RETR or TOP. Owned by the worker pool while job is set (a session
 * that goes first cancels it), else by the session. */
struct pop3d_xfer {
    struct pop3d_session *s;
    struct worker_job *job; /* a chunk is being read */
    char *path;             /* the Maildir */
    char *rel;              /* "new/NAME" or "cur/NAME" */
    char *moved;            /* the new relative name, if another reader renamed it */
    size_t index;
    bool top;
    int fd; /* -1 until opened */
    int err;
    bool eof;
    bool started; /* the +OK line has been sent */
    struct pop3_msg_encoder enc;
    struct buf out;
};

static void xfer_free(struct pop3d_xfer *x)
{
    if (x->fd >= 0)
        close(x->fd);
    free(x->path);
    free(x->rel);
    free(x->moved);
    buf_free(&x->out);
    free(x);
}

static void read_work(void *arg)
{
    struct pop3d_xfer *x = arg;
    if (x->fd < 0) {
        int fd = pop3d_mailbox_open(x->path, x->rel, &x->moved);
        if (fd < 0) {
            x->err = -fd;
            return;
        }
        x->fd = fd;
    }
    char chunk[XFER_CHUNK];
    ssize_t n;
    do
        n = read(x->fd, chunk, sizeof(chunk));
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        x->err = errno;
        return;
    }
    if (n > 0)
        pop3_msg_encode(&x->enc, chunk, (size_t)n, &x->out);
    if (n == 0 || x->enc.done) {
        pop3_msg_finish(&x->enc, &x->out);
        x->eof = true;
        close(x->fd);
        x->fd = -1;
    }
}

static void read_done(void *arg);

static void submit(struct pop3d_xfer *x)
{
    x->job = worker_pool_submit(x->s->d->workers, read_work, read_done, x);
}

/* The next chunk is read once the connection has taken the last one down
 * to the low-water mark (conn_output_pending() counts the TLS layer too). */
void pop3d_transfer_drained(struct pop3d_session *s)
{
    if (s->xfer && s->xfer->job == NULL && s->state == POP3D_SENDING)
        submit(s->xfer);
}

static void finish(struct pop3d_session *s)
{
    struct pop3d_xfer *x = s->xfer;
    s->xfer = NULL;
    xfer_free(x);
    s->state = POP3D_TRANSACTION;
    pop3d_wait_command(s);
    pop3d_process_input(s);
}

static void read_done(void *arg)
{
    struct pop3d_xfer *x = arg;
    struct pop3d_session *s = x->s;
    x->job = NULL;
    if (s->state == POP3D_CLOSING) {
        /* Hung up meanwhile (shutdown, deadline): nothing more to send. */
        s->xfer = NULL;
        xfer_free(x);
        return;
    }
    struct pop3d_msg *m = &s->box->msgs[x->index];
    if (x->moved) {
        /* Found under another name: remember it for the rest of the session. */
        free(m->name);
        m->in_cur = strncmp(x->moved, "cur/", 4) == 0;
        m->name = xstrdup(x->moved + 4);
        free(x->moved);
        x->moved = NULL;
    }
    if (x->err) {
        log_error("event=pop3_read_failed client=%s user=%s file=%s error=%s", s->ip,
                  log_q(s->auth_user), log_q(x->rel), log_q(strerror(x->err)));
        if (x->started) {
            /* Half a message is out: the only honest end is to hang up. */
            pop3d_close(s, NULL);
            return;
        }
        pop3d_reply_err(s, "[SYS/TEMP] Cannot read message %zu%s", x->index + 1,
                        x->err == ENOENT ? ": it was removed by another client" : "");
        finish(s);
        return;
    }
    if (!x->started) {
        x->started = true;
        if (x->top)
            pop3d_reply_ok(s, "Top of message follows");
        else
            pop3d_reply_ok(s, "%llu octets", (unsigned long long)m->size);
    }
    conn_write(s->conn, x->out.data, x->out.len);
    buf_reset(&x->out);
    /* Progress: the inactivity deadline counts from here. */
    pop3d_wait_command(s);
    if (!x->eof) {
        conn_notify_drained(s->conn, XFER_LOW_WATER);
        return;
    }
    if (!x->top) {
        m->retrieved = true;
        s->retrieved++;
    }
    finish(s);
}

void pop3d_transfer_start(struct pop3d_session *s, size_t i, bool top, uint32_t lines)
{
    struct pop3d_xfer *x = xcalloc(1, sizeof(*x));
    x->s = s;
    x->path = xstrdup(s->box->path);
    x->rel = pop3d_mailbox_rel(s->box, i);
    x->index = i;
    x->top = top;
    x->fd = -1;
    pop3_msg_encoder_init(&x->enc, top, lines);
    buf_init(&x->out);
    s->xfer = x;
    s->state = POP3D_SENDING;
    submit(x);
}

static void xfer_discard(void *arg)
{
    xfer_free(arg);
}

void pop3d_transfer_cleanup(struct pop3d_session *s)
{
    struct pop3d_xfer *x = s->xfer;
    if (x == NULL)
        return;
    s->xfer = NULL;
    if (x->job)
        worker_job_cancel(&x->job, xfer_discard);
    else
        xfer_free(x);
}
