/* Message content (DATA, BDAT) and the durable commit behind the 250. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "deliver/scheduler.h"
#include "mailauth/dkim_keyring.h"
#include "mailauth/dkim_sign.h"
#include "net/conn.h"
#include "proto/headers.h"
#include "queue/queue.h"
#include "smtpd/session.h"
#include "snapshot.h"
#include "util/log.h"
#include "util/worker.h"
#include "util/xmalloc.h"

#define FLUSH_THRESHOLD (64 * 1024)
/* Content waiting for the queue's write-behind: past this, the session
 * stops taking input (the connection's own limit then stops reading). */
#define BACKLOG_MAX (256 * 1024)

static const struct smtp_error err_storage = {452, "4.3.1",
                                              "Insufficient system storage, try again later"};
static const struct smtp_error err_local = {451, "4.3.0",
                                            "Local error in processing, try again later"};
static const struct smtp_error err_hops = {554, "5.4.6",
                                           "Too many hops (Received: fields), mail loop?"};

/* Owned by the committers' pool until done() runs; a session that ends
 * first cancels it (s->commit): a commit that had not started is dropped
 * (no 250 was sent), one that ran still hands its message to the
 * scheduler. */
struct commit_job {
    struct smtpd_session *s;
    struct daemon *d;
    struct snapshot *snap;           /* the session's, for the keys: a reference of our own */
    struct queue_incoming *incoming; /* NULL once commit_work() ran */
    struct envelope *env;
    struct dkim_signer *signer;      /* the authenticated user's message, or NULL */
    const struct dkim_keyring *keys; /* snap's */
    int rc;
};

#define HEADER_SECTION_MAX (256 * 1024)

static void commit_discard(void *arg);

/* Until the header section is complete it stays in memory, so that the
 * submission policy can add fields and refuse on From:. */
static void scan_headers(struct smtpd_session *s, bool at_end)
{
    if (s->headers_done)
        return;
    const char *start = s->pending_out.data + s->content_start;
    size_t len = s->pending_out.len - s->content_start;
    size_t hlen = len;
    bool found = false;
    if (len >= 2 && start[0] == '\r' && start[1] == '\n') {
        hlen = 0; /* no header section at all */
        found = true;
    } else {
        const char *end = memmem(start, len, "\r\n\r\n", 4);
        if (end) {
            hlen = (size_t)(end - start) + 2;
            found = true;
        }
    }
    if (!found && !at_end && len < HEADER_SECTION_MAX)
        return;
    s->headers_done = true;
    smtpd_checks_strip_forged(s, &hlen);
    /* A mail loop (RFC 5321 6.3): every server on the way added a Received:
     * field; past [limits] max_hops the message has gone round too often. */
    unsigned hops =
        (unsigned)header_get(s->pending_out.data + s->content_start, hlen, "Received", NULL);
    if (hops >= s->snap->conf->max_hops) {
        log_warn("event=mail_loop client=%s hops=%u limit=%u", s->ip, hops,
                 s->snap->conf->max_hops);
        s->content_error = &err_hops;
    }
    smtpd_headers_complete(s, hlen);
}

static void flush_pending(struct smtpd_session *s)
{
    if (!s->headers_done)
        return;
    smtpd_checks_written(s, s->pending_out.data, s->pending_out.len);
    if (s->pending_out.len && s->incoming)
        queue_incoming_write(s->incoming, s->pending_out.data, s->pending_out.len);
    buf_reset(&s->pending_out);
}

/* The "with" protocol of the Received header (RFC 3848, RFC 6531). */
static void protocol_name(const struct smtpd_session *s, char *out, size_t len)
{
    if (!s->esmtp) {
        snprintf(out, len, "SMTP");
        return;
    }
    snprintf(out, len, "%s%s%s", s->mail.smtputf8 ? "UTF8SMTP" : "ESMTP", s->tls_info[0] ? "S" : "",
             s->auth_user ? "A" : "");
}

static void reply_queue_error(struct smtpd_session *s, int e)
{
    smtpd_reply_error(s, e == ENOSPC || e == EDQUOT ? &err_storage : &err_local);
}

/* A write of the content ended: take the input that waited for it. */
static void content_written(void *arg)
{
    smtpd_process_input(arg);
}

/* Starts the message and writes our Received header. 0 or an errno. */
static int content_begin(struct smtpd_session *s, enum smtp_data_mode mode)
{
    s->incoming = queue_incoming_new(s->d->queue);
    if (s->incoming == NULL) {
        int e = errno;
        log_error("event=queue_write_failed client=%s error=%s", s->ip, log_q(strerror(e)));
        return e;
    }
    /* The file system is the committers' business, never the loop's. */
    queue_incoming_async(s->incoming, s->d->committers, content_written, s);
    smtp_data_decoder_init(&s->decoder, mode, s->snap->conf->message_size);
    buf_reset(&s->pending_out);
    smtpd_checks_content_begin(s);
    char proto[16];
    protocol_name(s, proto, sizeof(proto));
    struct received_info ri = {
        .helo = s->helo,
        .client_ip = s->ip,
        .by_host = s->snap->conf->hostname,
        .protocol = proto,
        .tls = s->tls_info[0] ? s->tls_info : NULL,
        .queue_id = queue_incoming_id(s->incoming),
        .for_rcpt = s->single_rcpt,
        .when = time(NULL),
    };
    header_build_received(&s->pending_out, &ri);
    s->content_start = s->pending_out.len;
    s->headers_done = false;
    s->content_error = NULL;
    conn_set_deadline(s->conn, s->snap->conf->data_timeout_ms);
    return 0;
}

bool smtpd_data_begin(struct smtpd_session *s)
{
    int e = content_begin(s, SMTP_DATA_DOT);
    if (e != 0) {
        reply_queue_error(s, e);
        return false;
    }
    s->state = SMTPD_DATA;
    return true;
}

void smtpd_data_abort(struct smtpd_session *s)
{
    queue_incoming_abort(&s->incoming);
    buf_reset(&s->pending_out);
    worker_job_cancel(&s->commit, commit_discard);
    smtpd_checks_reset(s);
}

/* (worker) The DKIM signature of a submitted message goes into the
 * envelope, to be written before the content wherever it is delivered. */
static void sign(struct commit_job *job)
{
    size_t hlen;
    const char *h = dkim_signer_header(job->signer, &hlen);
    const struct dkim_key *key = dkim_keyring_for_message(job->keys, h, hlen);
    if (key == NULL)
        return; /* no key for the From: domain: sent unsigned */
    struct buf field, err;
    buf_init(&field);
    buf_init(&err);
    if (dkim_signer_finish(job->signer, key, time(NULL), &field, &err)) {
        /* The signature goes first, before what the checks prepended. */
        char *all = xasprintf("%s%s", field.data, job->env->prepend ? job->env->prepend : "");
        free(job->env->prepend);
        job->env->prepend = all;
    } else {
        log_error("event=dkim_sign_failed id=%s error=%s", job->env->id,
                  log_q(err.data ? err.data : "?"));
    }
    buf_free(&field);
    buf_free(&err);
}

static void commit_work(void *arg)
{
    struct commit_job *job = arg;
    if (job->signer && queue_incoming_error(job->incoming) == 0)
        sign(job);
    dkim_signer_free(&job->signer);
    job->rc = queue_incoming_commit(job->incoming, job->env);
    job->incoming = NULL;
}

static void commit_log(const struct commit_job *job)
{
    const struct envelope *env = job->env;
    if (job->rc == 0)
        log_info("event=queued id=%s from=%s nrcpt=%zu size=%llu client=%s", env->id,
                 log_q(env->sender), env->nrcpts, (unsigned long long)env->size, env->client);
    else
        log_error("event=queue_commit_failed id=%s error=%s", env->id, log_q(strerror(job->rc)));
}

/* What the commit leaves to the daemon, with or without the session: the
 * message for the scheduler. Frees the job. */
static void commit_hand_over(struct commit_job *job)
{
    if (job->rc == 0)
        scheduler_add_envelope(job->d->scheduler, job->env);
    else
        envelope_free(&job->env);
    snapshot_unref(&job->snap);
    free(job);
}

static void commit_done(void *arg)
{
    struct commit_job *job = arg;
    struct smtpd_session *s = job->s;
    s->commit = NULL;
    commit_log(job);
    if (job->rc == 0) {
        s->messages++;
        smtpd_reply(s, 250, "2.0.0", "Ok: queued as %s", job->env->id);
    } else {
        smtpd_reply_error(s, job->rc == ENOSPC || job->rc == EDQUOT ? &err_storage : &err_local);
    }
    s->state = SMTPD_READY;
    smtpd_transaction_reset(s);
    smtpd_wait_command(s);
    commit_hand_over(job);
    smtpd_process_input(s);
}

static void commit_discard(void *arg)
{
    struct commit_job *job = arg;
    if (job->incoming == NULL) {
        /* commit_work() ran: the message is queued (or failed) after all. */
        commit_log(job);
        commit_hand_over(job);
        return;
    }
    queue_incoming_abort(&job->incoming);
    dkim_signer_free(&job->signer);
    envelope_free(&job->env);
    snapshot_unref(&job->snap);
    free(job);
}

/* Hands the message to a worker: sign (if a signer runs), then commit. */
static void commit_start(struct smtpd_session *s, const char *prepend)
{
    struct commit_job *job = xcalloc(1, sizeof(*job));
    job->s = s;
    job->d = s->d;
    job->incoming = s->incoming;
    s->incoming = NULL;
    job->env = s->env;
    s->env = NULL;
    memcpy(job->env->id, queue_incoming_id(job->incoming), sizeof(job->env->id));
    job->env->arrival = time(NULL);
    job->env->size = s->decoder.size;
    if (prepend)
        job->env->prepend = xstrdup(prepend);
    if (s->decoder.flags & SMTP_DATA_8BIT)
        job->env->body_8bit = true;
    job->signer = s->signer;
    s->signer = NULL;
    job->snap = snapshot_ref(s->snap);
    job->keys = job->snap->dkim;
    s->state = SMTPD_COMMIT;
    s->commit = worker_pool_submit(s->d->committers, commit_work, commit_done, job);
}

static void data_finish_written(struct smtpd_session *s);

static void data_finish_idle(void *arg)
{
    struct smtpd_session *s = arg;
    data_finish_written(s);
    smtpd_process_input(s);
}

/* The message is complete: refuse it with the decoder's reason, or commit
 * (once a running write of its content has ended). */
static void data_finish(struct smtpd_session *s)
{
    if (s->decoder.mode == SMTP_DATA_CHUNK)
        smtp_data_finish(&s->decoder);
    if (s->decoder.mode == SMTP_DATA_CHUNK && smtp_data_in_line(&s->decoder) &&
        smtp_data_error(&s->decoder) == NULL)
        buf_append(&s->pending_out, "\r\n", 2);
    if (smtp_data_error(&s->decoder) == NULL)
        scan_headers(s, true);
    flush_pending(s);
    if (s->incoming && queue_incoming_busy(s->incoming)) {
        /* A write is still running: its result decides the reply. */
        s->state = SMTPD_COMMIT;
        queue_incoming_on_idle(s->incoming, data_finish_idle, s);
        return;
    }
    data_finish_written(s);
}

/* The content is all in the queue's hands: refuse it, or commit it. */
static void data_finish_written(struct smtpd_session *s)
{
    const struct smtp_error *err = smtp_data_error(&s->decoder);
    if (err == NULL)
        err = s->content_error;
    int werr = s->incoming ? queue_incoming_error(s->incoming) : EIO;
    if (err == NULL && werr != 0) {
        log_error("event=queue_write_failed client=%s error=%s", s->ip, log_q(strerror(werr)));
        err = werr == ENOSPC || werr == EDQUOT ? &err_storage : &err_local;
    }
    if (err) {
        log_info("event=message_rejected client=%s code=%d reason=%s size=%llu", s->ip, err->code,
                 log_q(err->text), (unsigned long long)s->decoder.size);
        smtpd_reply_error(s, err);
        s->state = SMTPD_READY;
        smtpd_transaction_reset(s);
        smtpd_wait_command(s);
        return;
    }
    if (smtpd_checks_end(s)) {
        s->state = SMTPD_COMMIT; /* waiting for SPF/DKIM/DMARC, then the queue */
        return;
    }
    commit_start(s, NULL);
}

void smtpd_commit_checked(struct smtpd_session *s, const struct smtp_error *refuse,
                          const char *prepend)
{
    if (refuse) {
        log_info("event=message_rejected client=%s code=%d reason=%s", s->ip, refuse->code,
                 log_q(refuse->text));
        smtpd_reply_error(s, refuse);
        s->state = SMTPD_READY;
        smtpd_transaction_reset(s);
        smtpd_wait_command(s);
        smtpd_process_input(s);
        return;
    }
    commit_start(s, prepend);
}

static void bdat_chunk_end(struct smtpd_session *s)
{
    if (s->bdat_failed) {
        if (s->bdat_errno)
            reply_queue_error(s, s->bdat_errno);
        else
            smtpd_reply(s, 503, "5.5.1",
                        s->env ? "BDAT refused: send RSET and start over"
                               : "Need MAIL and RCPT before BDAT");
        if (!s->bdat_errno)
            smtpd_bad_command(s);
        if (s->state == SMTPD_CLOSING)
            return;
        smtpd_transaction_reset(s);
        s->state = s->helo ? SMTPD_READY : SMTPD_CONNECTED;
        smtpd_wait_command(s);
        return;
    }
    if (s->bdat_last) {
        data_finish(s);
        return;
    }
    if (s->decoder.flags & SMTP_DATA_TOO_BIG) {
        /* Say so now rather than after the last chunk (RFC 3030 4.2). */
        smtpd_reply_error(s, smtp_data_error(&s->decoder));
        smtpd_transaction_reset(s);
        s->state = SMTPD_READY;
        smtpd_wait_command(s);
        return;
    }
    flush_pending(s);
    smtpd_reply(s, 250, "2.0.0", "%llu octets received", (unsigned long long)s->decoder.size);
    s->state = SMTPD_RCPT;
    smtpd_wait_command(s);
}

void smtpd_bdat_start(struct smtpd_session *s, uint64_t size, bool last, bool refuse)
{
    s->bdat_remaining = size;
    s->bdat_last = last;
    if (refuse) {
        s->bdat_failed = true;
    } else if (!s->bdat_used && !s->bdat_failed) {
        s->bdat_used = true;
        s->bdat_errno = content_begin(s, SMTP_DATA_CHUNK);
        if (s->bdat_errno)
            s->bdat_failed = true;
    }
    s->state = SMTPD_BDAT;
    conn_set_deadline(s->conn, s->snap->conf->data_timeout_ms);
    if (size == 0)
        bdat_chunk_end(s);
}

size_t smtpd_data_feed(struct smtpd_session *s, const char *in, size_t len)
{
    if (s->incoming && queue_incoming_backlog(s->incoming) >= BACKLOG_MAX)
        return 0; /* content_written() takes the rest */
    if (s->state == SMTPD_DATA) {
        size_t consumed;
        size_t before = s->pending_out.len;
        int done = smtp_data_decode(&s->decoder, in, len, &consumed, &s->pending_out);
        smtpd_checks_data(s, s->pending_out.data + before, s->pending_out.len - before);
        scan_headers(s, false);
        if (s->pending_out.len >= FLUSH_THRESHOLD)
            flush_pending(s);
        if (done)
            data_finish(s);
        return consumed;
    }
    /* BDAT */
    size_t take = len < s->bdat_remaining ? len : (size_t)s->bdat_remaining;
    if (!s->bdat_failed) {
        size_t consumed;
        size_t before = s->pending_out.len;
        smtp_data_decode(&s->decoder, in, take, &consumed, &s->pending_out);
        smtpd_checks_data(s, s->pending_out.data + before, s->pending_out.len - before);
        scan_headers(s, false);
        if (s->pending_out.len >= FLUSH_THRESHOLD)
            flush_pending(s);
    }
    s->bdat_remaining -= take;
    if (s->bdat_remaining == 0)
        bdat_chunk_end(s);
    return take;
}
