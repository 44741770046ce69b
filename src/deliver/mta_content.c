/* Reading and encoding a queued message's content for DATA, one chunk at
 * a time in the worker pool (see mta_content.h). */
#include "deliver/mta_content.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/smtp_out.h"
#include "queue/queue.h"
#include "util/worker.h"
#include "util/xmalloc.h"

struct mta_content {
    struct queue *q;
    char id[QUEUE_ID_LEN + 1];
    int fd;
    off_t off;
    bool eof;
    bool busy;
    bool orphan; /* released while a read ran: freed when it ends */
    int error;
    struct smtp_out_encoder enc;
    struct buf chunk;
    void (*ready)(void *);
    void *arg;
};

static void content_free(struct mta_content *c)
{
    if (c->fd >= 0)
        close(c->fd);
    buf_free(&c->chunk);
    free(c);
}

struct mta_content *mta_content_new(struct queue *q, const char *id, const char *prepend)
{
    struct mta_content *c = xcalloc(1, sizeof(*c));
    c->q = q;
    snprintf(c->id, sizeof(c->id), "%s", id);
    c->fd = -1;
    smtp_out_init(&c->enc);
    buf_init(&c->chunk);
    /* Encoded like the content itself: no text of ours escapes the rules. */
    if (prepend)
        smtp_out_encode(&c->enc, prepend, strlen(prepend), &c->chunk);
    return c;
}

static void read_work(void *arg)
{
    struct mta_content *c = arg;
    if (c->fd < 0) {
        c->fd = queue_content_open(c->q, c->id);
        if (c->fd < 0) {
            c->error = errno ? errno : EIO;
            return;
        }
    }
    char *tmp = xmalloc(MTA_CONTENT_CHUNK);
    ssize_t n;
    do
        n = pread(c->fd, tmp, MTA_CONTENT_CHUNK, c->off);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        c->error = errno;
    } else if (n == 0) {
        smtp_out_finish(&c->enc, &c->chunk);
        c->eof = true;
    } else {
        smtp_out_encode(&c->enc, tmp, (size_t)n, &c->chunk);
        c->off += n;
    }
    free(tmp);
}

static void read_done(void *arg)
{
    struct mta_content *c = arg;
    c->busy = false;
    if (c->orphan) {
        content_free(c);
        return;
    }
    c->ready(c->arg);
}

void mta_content_read(struct mta_content *c, struct worker_pool *workers, void (*ready)(void *),
                      void *arg)
{
    if (c->busy || c->eof)
        return;
    c->busy = true;
    c->ready = ready;
    c->arg = arg;
    worker_pool_submit(workers, read_work, read_done, c);
}

bool mta_content_busy(const struct mta_content *c)
{
    return c->busy;
}

bool mta_content_eof(const struct mta_content *c)
{
    return c->eof;
}

int mta_content_error(const struct mta_content *c)
{
    return c->error;
}

struct buf *mta_content_chunk(struct mta_content *c)
{
    return &c->chunk;
}

void mta_content_release(struct mta_content **cp)
{
    struct mta_content *c = *cp;
    if (c == NULL)
        return;
    if (c->busy)
        c->orphan = true;
    else
        content_free(c);
    *cp = NULL;
}
