/*
 * mta_content: a queued message's content, read and encoded for DATA in
 * the worker pool (file reads never block the loop), one chunk at a time so
 * that memory stays bounded whatever the message size. The encoding
 * (proto/smtp_out.h) gives CRLF only, lines of at most 998 octets, dot-
 * stuffing, and the final ".CRLF" with the last chunk.
 *
 *   c = mta_content_new(queue, id, prepend);   prepend: header text sent first, or NULL
 *   mta_content_read(c, workers, ready, arg);   at most one read at a time
 *   ready(arg): check mta_content_error(c); send mta_content_chunk(c) and
 *               empty it; stop once mta_content_eof(c)
 *   mta_content_release(&c);   safe while a read runs: it frees itself then
 */
#ifndef POSTERN_DELIVER_MTA_CONTENT_H
#define POSTERN_DELIVER_MTA_CONTENT_H

#include <stdbool.h>

#include "util/buf.h"

struct queue;
struct worker_pool;
struct mta_content;

#define MTA_CONTENT_CHUNK (64 * 1024)

struct mta_content *mta_content_new(struct queue *q, const char *id, const char *prepend);
void mta_content_read(struct mta_content *c, struct worker_pool *workers, void (*ready)(void *),
                      void *arg);
bool mta_content_busy(const struct mta_content *c);
bool mta_content_eof(const struct mta_content *c);
int mta_content_error(const struct mta_content *c);
struct buf *mta_content_chunk(struct mta_content *c);
void mta_content_release(struct mta_content **c);

#endif
