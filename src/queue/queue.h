/*
 * queue: the durable message store, the single source of truth. There is
 * one store, the file one (queue/fs.c), and callers reach it through these
 * functions directly: no table of function pointers stands in between.
 * Its interface is not store-neutral (queue_content_open() hands out a file
 * descriptor, `postern queue list` reads env/ under queue_dir(), pickup
 * reads queue/drop/), so a second store would first need those reworked;
 * a table today would only add a level of indirection with one entry.
 *
 * Layout under data_dir/queue/ (file backend):
 *   tmp/ID.msg, tmp/ID.env  being written; removed at start (a small
 *                           message has no tmp/ID.msg until its commit: its
 *                           content is held in memory until then)
 *   msg/ID                  committed content (CRLF lines), never changed
 *   env/ID                  committed envelope: its rename into env/ is the
 *                           commit point; rewritten by temp file + rename
 *   corrupt/                envelopes that failed to parse, kept for a human
 *   spare/N                 files of removed entries (N a number), reused
 *                           for new tmp/ files instead of creating inodes
 *                           (spare.h); never read
 *
 * Functions marked (worker) block on fsync: call them from the worker pool,
 * never on the event loop.
 */
#ifndef POSTERN_QUEUE_QUEUE_H
#define POSTERN_QUEUE_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "queue/envelope.h"
#include "util/buf.h"

struct queue;
struct worker_pool;

/* Content up to this size stays in memory until the commit, so that
 * receiving a small message never touches the file system on the loop. */
#define QUEUE_INCOMING_MEM_MAX (64 * 1024)

/* A message being received (opaque, queue/fs.c): content held in memory,
 * then (past QUEUE_INCOMING_MEM_MAX, or at the commit) written to
 * tmp/ID.msg. */
struct queue_incoming;

struct queue *queue_open(const char *data_dir, struct buf *err_r);
void queue_close(struct queue **q);
const char *queue_dir(const struct queue *q);

/* Makes a new unique id; no system call that blocks (the file is created
 * later, see struct queue_incoming). Never NULL. */
struct queue_incoming *queue_incoming_new(struct queue *q);
/* The id queue_incoming_new made (QUEUE_ID_LEN characters): the message's
 * queue id once committed, already usable in its Received header. */
const char *queue_incoming_id(const struct queue_incoming *in);
/* The first errno of a failed write, 0 if none. Not known while
 * queue_incoming_busy(): a write-behind worker may still set it. */
int queue_incoming_error(const struct queue_incoming *in);
/* Appends content; a failure is remembered (queue_incoming_error) and -1
 * returned.
 * Creates and writes tmp/ID.msg (O_EXCL) only past QUEUE_INCOMING_MEM_MAX. */
int queue_incoming_write(struct queue_incoming *in, const void *data, size_t len);

/* For the event loop: past QUEUE_INCOMING_MEM_MAX, queue_incoming_write()
 * hands the content to a worker of pool (one write in flight, in order)
 * instead of writing it, so the loop never waits on the file system; it
 * only buffers. After each write, ready(arg) runs on the loop (to feed
 * more once queue_incoming_backlog() is low again). */
void queue_incoming_async(struct queue_incoming *in, struct worker_pool *pool,
                          void (*ready)(void *arg), void *arg);
/* Octets buffered and not yet handed to a write. */
size_t queue_incoming_backlog(const struct queue_incoming *in);
/* True while a write runs: queue_incoming_error() is not known yet, and the incoming
 * may not be committed until fn(arg) (queue_incoming_on_idle) has run. */
bool queue_incoming_busy(const struct queue_incoming *in);
void queue_incoming_on_idle(struct queue_incoming *in, void (*fn)(void *arg), void *arg);
/* (worker) Writes and fsyncs the content and the envelope, renames both into
 * place and fsyncs the directories. Returns 0, or an errno value. The
 * incoming is consumed either way (its temp files are removed on failure).
 * Group commit: threads committing at the same time share the renames'
 * directory fsyncs (one msg/ and one env/ fsync per batch); each file is
 * still fsynced before its rename, each rename before the directory fsync
 * that covers it, and every content rename is durable before any envelope
 * rename of the batch, so a crash never leaves an envelope without content. */
int queue_incoming_commit(struct queue_incoming *in, const struct envelope *env);
/* Drops an incoming message and its temp file (with write-behind, in a
 * worker, once a running write ends; ready and on_idle never run again). */
void queue_incoming_abort(struct queue_incoming **in);

/* (worker) Rewrites an envelope atomically. 0 or errno. */
int queue_envelope_store(struct queue *q, const struct envelope *env);
/* Reads and parses env/ID. 0, or errno (EBADMSG for a corrupt file, with
 * the reason in why_r). */
int queue_envelope_load(struct queue *q, const char *id, struct envelope **env_r,
                        const char **why_r);
/* Opens msg/ID read-only; -1 with errno on failure. */
int queue_content_open(struct queue *q, const char *id);
/* (worker) Removes a message: the envelope first, so a crash in between
 * leaves only orphan content, which recovery deletes. 0 or errno. */
int queue_remove(struct queue *q, const char *id);

/* (start-up) Removes tmp/ leftovers and content without an envelope, moves
 * corrupt envelopes aside, and calls fn for every committed message id. */
typedef void (*queue_scan_fn)(void *arg, const char *id);
int queue_recover(struct queue *q, queue_scan_fn fn, void *arg);

/* Available bytes on the queue's file system, or UINT64_MAX if unknown. */
uint64_t queue_free_space(const struct queue *q);

bool queue_id_valid(const char *id);

#endif
