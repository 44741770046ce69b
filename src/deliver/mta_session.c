/*
 * One outbound SMTP connection (RFC 5321 client): connect, greeting,
 * EHLO (HELO fallback), opportunistic STARTTLS, then transactions, one
 * job each, pipelined when the server offers PIPELINING (RFC 2920), until
 * the destination has no more jobs; then QUIT.
 *
 * Failures before a transaction starts (refused connection, time-out, 4xx
 * or 5xx greeting, EHLO and HELO refused) move on to the destination's
 * next address in MX order; once MTA_ADDR_TRIES addresses failed, the job
 * is deferred. Failures inside a transaction defer the recipients without
 * a final answer. Per-command time-outs follow RFC 5321 4.5.3.2.
 */
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "conf/conf.h"
#include "daemon.h"
#include "deliver/mta_content.h"
#include "deliver/mta_session_int.h"
#include "net/conn.h"
#include "net/conn_client.h"
#include "proto/smtp_cmd.h"
#include "proto/smtp_parse.h"
#include "proto/smtp_reply.h"
#include "snapshot.h"
#include "util/log.h"
#include "util/xmalloc.h"

static const char *state_what[] = {
    "connecting",          "waiting for the greeting",
    "after EHLO",          "after HELO",
    "after STARTTLS",      "during the TLS handshake",
    "after AUTH",          "during the dialogue",
    "sending the message", "after end of data",
    "after end of data",   "after RSET",
    "after QUIT",          "after the end",
};

const struct conf *mta_session_conf(const struct mta_session *s)
{
    return s->snap->conf;
}

const struct route_addr *mta_session_addr(const struct mta_session *s)
{
    return &s->dest->addrs[s->addr_idx];
}

/* The time-out of what the session waits for now (RFC 5321 4.5.3.2). */
void mta_session_arm(struct mta_session *s, unsigned ms)
{
    if (s->conn)
        conn_set_deadline(s->conn, ms);
}

void mta_session_send_line(struct mta_session *s, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(line) - 2)
        n = (int)strlen(line);
    memcpy(line + n, "\r\n", 2);
    conn_write(s->conn, line, (size_t)n + 2);
}

void mta_session_close_conn(struct mta_session *s)
{
    if (s->conn) {
        conn_free(&s->conn);
        s->gen++;
    }
}

static void txn_clear(struct mta_session *s)
{
    free(s->rcpt_ok);
    s->rcpt_ok = NULL;
    free(s->ridx);
    s->ridx = NULL;
    s->nr = 0;
    s->sent = s->replied = s->accepted = 0;
    s->mail_failed = false;
    mta_content_release(&s->content);
}

/* The session is over: its job (if any) has results and is finished. The
 * memory goes from the loop (on_reap), as callers may still look at s. */
static void session_end(struct mta_session *s, const char *why_dead)
{
    if (s->state == S_DEAD)
        return;
    mta_session_close_conn(s);
    txn_clear(s);
    s->state = S_DEAD;
    if (s->job) {
        mta_job_finish(s->mta, s->job);
        s->job = NULL;
    }
    event_active(s->reaper, EV_TIMEOUT, 0);
    mta_session_ended(s->dest, why_dead);
}

static void session_free(struct mta_session *s)
{
    struct mta *m = s->mta;
    if (s->prev)
        s->prev->next = s->next;
    else
        m->session_list = s->next;
    if (s->next)
        s->next->prev = s->prev;
    mta_session_close_conn(s);
    txn_clear(s);
    mta_job_free(&s->job);
    event_free(s->reaper);
    snapshot_unref(&s->snap);
    free(s);
}

void mta_session_free_all(struct mta *m)
{
    while (m->session_list)
        session_free(m->session_list);
}

/* Sets the result of recipient i from a reply. */
static void rcpt_from_reply(struct mta_session *s, size_t i, const struct smtp_reply *r,
                            const char *after)
{
    struct mta_rcpt *rc = &s->job->rcpts[i];
    struct buf b;
    buf_init(&b);
    smtp_reply_format(r, &b);
    rc->result = r->code < 300 ? MTA_DONE : r->code < 500 ? MTA_DEFER : MTA_FAIL;
    if (r->enhanced[0] && r->enhanced[0] == '0' + r->code / 100)
        snprintf(rc->dsn, sizeof(rc->dsn), "%s", r->enhanced);
    else
        snprintf(rc->dsn, sizeof(rc->dsn), "%d.0.0", r->code / 100);
    free(rc->reply);
    rc->reply = xstrdup(b.data);
    rc->remote_reply = true;
    rc->after = after;
    buf_free(&b);
}

static void all_from_reply(struct mta_session *s, const struct smtp_reply *r, const char *after,
                           bool only_accepted)
{
    for (size_t i = 0; i < s->job->nrcpts; i++)
        if (s->job->rcpts[i].result == MTA_PENDING && (!only_accepted || s->rcpt_ok[i]))
            rcpt_from_reply(s, i, r, after);
}

/* ---- transactions ---------------------------------------------------- */

static void next_job(struct mta_session *s);

static void send_buf(struct mta_session *s, struct buf *b)
{
    conn_write(s->conn, b->data, b->len);
    buf_free(b);
}

static void send_mail(struct mta_session *s)
{
    const struct mta_job *j = s->job;
    bool dsn = s->ehlo.dsn;
    s->job->next_hop_dsn = dsn;
    struct smtp_cmd_mail m = {
        .sender = j->sender,
        .has_size = s->ehlo.has_size,
        .size = j->size,
        .body_8bit = j->body_8bit && s->ehlo.eightbitmime,
        .smtputf8 = j->smtputf8 && s->ehlo.smtputf8,
        .ret = !dsn                      ? NULL
               : j->ret == SMTP_RET_FULL ? "FULL"
               : j->ret == SMTP_RET_HDRS ? "HDRS"
                                         : NULL,
        .envid = dsn ? j->envid : NULL,
    };
    struct buf b;
    buf_init(&b);
    smtp_cmd_mail(&b, &m);
    send_buf(s, &b);
}

/* RCPT TO with the RFC 3461 parameters when the server takes them. */
static void send_rcpt(struct mta_session *s, const struct mta_rcpt *r)
{
    struct buf b;
    buf_init(&b);
    smtp_cmd_rcpt(&b, r->addr, s->ehlo.dsn ? r->notify : 0, s->ehlo.dsn ? r->orcpt : NULL);
    send_buf(s, &b);
}

/* Sends the transaction's next command(s): all of them when pipelining. */
static void txn_send(struct mta_session *s)
{
    size_t total = s->nr + 2;
    while (s->sent < total && (s->ehlo.pipelining || s->sent == s->replied)) {
        if (s->sent == 0)
            send_mail(s);
        else if (s->sent <= s->nr)
            send_rcpt(s, &s->job->rcpts[s->ridx[s->sent - 1]]);
        else
            mta_session_send_line(s, "DATA");
        s->sent++;
    }
    mta_session_arm(s, s->sent == total ? mta_session_conf(s)->relay_data_init_timeout_ms
                                        : mta_session_conf(s)->relay_command_timeout_ms);
}

/* Checks what the job needs against what the server offers, and what it
 * holds against what may be sent. False when nothing is left to send. */
static bool job_acceptable(struct mta_session *s)
{
    struct mta_job *j = s->job;
    if (!smtp_cmd_addr_ok(j->sender, true)) {
        mta_job_set_all(j, MTA_FAIL, "5.1.7", "bad sender address syntax in the queue", false);
        return false;
    }
    if (j->smtputf8 && !s->ehlo.smtputf8) {
        char why[400];
        snprintf(why, sizeof(why), "the message needs SMTPUTF8 (RFC 6531) and %s does not offer it",
                 s->peer);
        mta_job_set_all(j, MTA_FAIL, "5.6.7", why, false);
        return false;
    }
    if (s->ehlo.has_size && s->ehlo.size > 0 && j->size > s->ehlo.size) {
        char why[400];
        snprintf(why, sizeof(why), "message size %llu exceeds the limit of %s (%llu)",
                 (unsigned long long)j->size, s->peer, (unsigned long long)s->ehlo.size);
        mta_job_set_all(j, MTA_FAIL, "5.3.4", why, false);
        return false;
    }
    size_t left = 0;
    for (size_t i = 0; i < j->nrcpts; i++) {
        struct mta_rcpt *r = &j->rcpts[i];
        if (r->result == MTA_PENDING && !smtp_cmd_addr_ok(r->addr, false)) {
            r->result = MTA_FAIL;
            snprintf(r->dsn, sizeof(r->dsn), "5.1.3");
            free(r->reply);
            r->reply = xstrdup("bad recipient address syntax in the queue");
        }
        left += r->result == MTA_PENDING;
    }
    return left > 0;
}

/* The job's relay_host/relay_addr name the server it talked to (or ""). */
static void note_relay(struct mta_session *s, bool connected)
{
    if (s->job == NULL)
        return;
    if (!connected) {
        s->job->relay_host[0] = s->job->relay_addr[0] = '\0';
        return;
    }
    const struct route_addr *a = mta_session_addr(s);
    snprintf(s->job->relay_host, sizeof(s->job->relay_host), "%s", a->host);
    snprintf(s->job->relay_addr, sizeof(s->job->relay_addr), "%s%s%s:%u",
             a->sa.ss_family == AF_INET6 ? "[" : "", a->ip, a->sa.ss_family == AF_INET6 ? "]" : "",
             s->dest->port);
}

void mta_session_txn_start(struct mta_session *s)
{
    txn_clear(s);
    note_relay(s, true);
    if (!job_acceptable(s)) {
        mta_job_finish(s->mta, s->job);
        s->job = NULL;
        next_job(s);
        return;
    }
    s->rcpt_ok = xcalloc(s->job->nrcpts, sizeof(bool));
    s->ridx = xcalloc(s->job->nrcpts, sizeof(size_t));
    for (size_t i = 0; i < s->job->nrcpts; i++)
        if (s->job->rcpts[i].result == MTA_PENDING)
            s->ridx[s->nr++] = i;
    s->state = S_TXN;
    s->need_rset = true;
    txn_send(s);
}

/* The current job is finished (or there is none): take the next one on
 * this connection, or say goodbye. */
static void next_job(struct mta_session *s)
{
    txn_clear(s);
    if (s->job) {
        mta_job_finish(s->mta, s->job);
        s->job = NULL;
    }
    s->job = mta_dest_take_job(s->dest);
    note_relay(s, true);
    if (s->job == NULL) {
        s->state = S_QUIT;
        mta_session_send_line(s, "QUIT");
        mta_session_arm(s, 10000);
        return;
    }
    if (s->need_rset) {
        s->state = S_RSET;
        mta_session_send_line(s, "RSET");
        mta_session_arm(s, mta_session_conf(s)->relay_command_timeout_ms);
        return;
    }
    mta_session_txn_start(s);
}

static void content_ready(void *arg);

/* The next chunk is read while less than MTA_OUTPUT_AHEAD waits for the
 * server; above that, on_drained brings us back once it took the output
 * down to MTA_OUTPUT_LOW. */
static void content_pull(struct mta_session *s)
{
    if (s->content == NULL || mta_content_busy(s->content) || mta_content_eof(s->content))
        return;
    if (conn_output_pending(s->conn) < MTA_OUTPUT_AHEAD)
        mta_content_read(s->content, s->mta->d->workers, content_ready, s);
    else
        conn_notify_drained(s->conn, MTA_OUTPUT_LOW);
}

static void content_ready(void *arg)
{
    struct mta_session *s = arg;
    struct buf *chunk = mta_content_chunk(s->content);
    int err = mta_content_error(s->content);
    if (err != 0) {
        /* Never send the final dot after an incomplete message: dropping
         * the connection makes the server discard it. */
        log_error("event=queue_read_failed id=%s error=%s", s->job->id, log_q(strerror(err)));
        mta_job_set_all(s->job, MTA_DEFER, "4.3.0", "cannot read the queued message", false);
        session_end(s, NULL);
        return;
    }
    conn_write(s->conn, chunk->data, chunk->len);
    buf_reset(chunk);
    mta_session_arm(s, mta_session_conf(s)->relay_data_block_timeout_ms);
    if (mta_content_eof(s->content)) {
        s->state = S_DOT;
        mta_session_arm(s, mta_session_conf(s)->relay_data_done_timeout_ms);
        return;
    }
    content_pull(s);
}

static void txn_reply(struct mta_session *s, const struct smtp_reply *r)
{
    struct mta_job *j = s->job;
    size_t k = s->replied++;
    size_t n = s->nr;
    if (k == 0) {
        if (r->code >= 300) {
            s->mail_failed = true;
            all_from_reply(s, r, "MAIL FROM", false);
        }
    } else if (k <= n) {
        size_t i = s->ridx[k - 1];
        if (!s->mail_failed && j->rcpts[i].result == MTA_PENDING) {
            if (r->code < 300) {
                s->rcpt_ok[i] = true;
                s->accepted++;
            } else {
                rcpt_from_reply(s, i, r, "RCPT TO");
            }
        }
    } else {
        bool go = !s->mail_failed && s->accepted > 0;
        if (r->code == 354 && go) {
            s->state = S_CONTENT;
            s->content = mta_content_new(s->mta->d->queue, j->id, j->prepend);
            mta_session_arm(s, mta_session_conf(s)->relay_data_block_timeout_ms);
            content_pull(s);
            return;
        }
        if (r->code == 354) {
            /* 354 although nothing was accepted (a pipelining server may do
             * that, RFC 2920 3.1): send an empty message, ignore the reply. */
            s->state = S_DISCARD;
            mta_session_send_line(s, ".");
            mta_session_arm(s, mta_session_conf(s)->relay_data_done_timeout_ms);
            return;
        }
        if (go)
            all_from_reply(s, r, "DATA", true);
        next_job(s);
        return;
    }
    if (!s->ehlo.pipelining) {
        /* Without pipelining, stop as soon as the rest is pointless. */
        if (s->mail_failed || (k == n && s->accepted == 0)) {
            next_job(s);
            return;
        }
    }
    txn_send(s);
}

/* ---- connection set-up ------------------------------------------------ */

/* Returns false when the session ended or its connection changed: the
 * caller must not read from it any more. */
static bool handle_reply(struct mta_session *s, const struct smtp_reply *r)
{
    mta_session_arm(s, 0);
    unsigned gen = s->gen;
    switch (s->state) {
    case S_GREETING:
    case S_EHLO:
    case S_HELO:
    case S_STARTTLS:
    case S_AUTH:
        mta_greet_reply(s, r);
        break;
    case S_TXN:
        txn_reply(s, r);
        break;
    case S_DOT:
        all_from_reply(s, r, "end of data", true);
        s->need_rset = false;
        next_job(s);
        break;
    case S_DISCARD:
        next_job(s);
        break;
    case S_RSET:
        if (r->code != 250) {
            mta_session_fail(s, "%s refused RSET", s->peer);
            return false;
        }
        s->need_rset = false;
        mta_session_txn_start(s);
        break;
    case S_QUIT:
        /* The goodbye is flushed (with a TLS close_notify, so the server
         * sees a session that ended, not one that was cut); on_close
         * ends the session then. */
        conn_close_after_write(s->conn);
        return false;
    default: {
        struct buf b;
        buf_init(&b);
        smtp_reply_format(r, &b);
        mta_session_fail(s, "unexpected reply from %s %s: %s", s->peer, state_what[s->state],
                         b.data);
        buf_free(&b);
        return false;
    }
    }
    return s->state != S_DEAD && s->gen == gen && s->state != S_HANDSHAKE;
}

static void on_read(struct conn *c, void *arg)
{
    struct mta_session *s = arg;
    size_t n;
    const char *p;
    while ((p = conn_input_peek(c, &n)) != NULL) {
        size_t used;
        int rc = smtp_reply_parse(&s->parser, p, n, &used);
        conn_input_drain(c, used);
        if (rc < 0) {
            mta_session_fail(s, "malformed reply from %s %s: %s", s->peer, state_what[s->state],
                             s->parser.error);
            return;
        }
        if (rc == 1) {
            /* Every state that reads waits for a reply; any other is a
             * server talking out of turn. */
            if (!handle_reply(s, &s->parser.reply))
                return;
        }
    }
}

/* The server took the output down to MTA_OUTPUT_LOW: more content. */
static void on_drained(struct conn *c, void *arg)
{
    struct mta_session *s = arg;
    if (s->state == S_CONTENT) {
        mta_session_arm(s, mta_session_conf(s)->relay_data_block_timeout_ms);
        content_pull(s);
    }
}

static void on_connected(struct conn *c, void *arg)
{
    struct mta_session *s = arg;
    note_relay(s, true);
    s->state = S_GREETING;
    mta_session_arm(s, mta_session_conf(s)->relay_greeting_timeout_ms);
}

static void on_tls_done(struct conn *c, void *arg)
{
    mta_greet_tls_done(arg);
}

static void on_close(struct conn *c, void *arg, const char *why)
{
    struct mta_session *s = arg;
    switch (s->state) {
    case S_QUIT:
        session_end(s, NULL);
        break;
    case S_HANDSHAKE:
        mta_greet_tls_failed(s, why);
        break;
    case S_CONNECT:
        mta_session_fail(s, "connect to %s: %s", s->peer, why);
        break;
    default:
        mta_session_fail(s, "lost connection with %s %s: %s", s->peer, state_what[s->state], why);
        break;
    }
}

static void on_deadline(struct conn *c, void *arg)
{
    struct mta_session *s = arg;
    if (s->state == S_QUIT) {
        session_end(s, NULL);
        return;
    }
    mta_session_fail(s, "timeout %s with %s", state_what[s->state], s->peer);
}

static void on_reap(evutil_socket_t fd, short what, void *arg)
{
    struct mta_session *s = arg;
    if (s->state == S_DEAD)
        session_free(s);
}

static const struct conn_callbacks session_callbacks = {
    .on_read = on_read,
    .on_deadline = on_deadline,
    .on_close = on_close,
    .on_drained = on_drained,
    .on_tls_done = on_tls_done,
    .on_connected = on_connected,
};

void mta_session_connect(struct mta_session *s)
{
    const struct route_addr *a = mta_session_addr(s);
    snprintf(s->peer, sizeof(s->peer), "%s[%s]:%u", a->host, a->ip, s->dest->port);
    s->state = S_CONNECT;
    s->tls = false;
    s->verified = false;
    s->authed = false;
    note_relay(s, false);
    s->esmtp = false;
    memset(&s->ehlo, 0, sizeof(s->ehlo));
    smtp_reply_parser_init(&s->parser);
    /* Every outcome, an immediate refusal included, comes from the loop:
     * no handler ever sees a half-updated session. */
    s->conn = conn_connect(s->mta->d->base, (const struct sockaddr *)&a->sa, a->salen,
                           &session_callbacks, s);
    conn_set_eof_text(s->conn, "connection closed by the server");
    conn_set_input_max(s->conn, MTA_READ_MAX);
    mta_session_arm(s, mta_session_conf(s)->relay_connect_timeout_ms);
}

/* Before a transaction: next address. Inside one: the job is deferred. */
void mta_session_fail(struct mta_session *s, const char *fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    if (s->state == S_DEAD)
        return;
    mta_session_close_conn(s);
    if (s->state >= S_TXN && s->state != S_RSET) {
        log_warn("event=relay_session_failed relay=%s error=%s", log_q(s->peer), log_q(why));
        if (s->job)
            mta_job_set_all(s->job, MTA_DEFER, "4.4.2", why, false);
        session_end(s, NULL);
        return;
    }
    log_info("event=relay_connect_failed relay=%s error=%s", log_q(s->peer), log_q(why));
    snprintf(s->last_error, sizeof(s->last_error), "%s", why);
    s->tries++;
    s->no_tls = false;
    if (s->job == NULL) {
        session_end(s, NULL);
        return;
    }
    if (s->tries < MTA_ADDR_TRIES && s->addr_idx + 1 < s->dest->naddrs) {
        s->addr_idx++;
        mta_session_connect(s);
        return;
    }
    mta_job_set_all(s->job, MTA_DEFER, "4.4.1", why, false);
    session_end(s, why);
}

void mta_session_start(struct mta_dest *dest, struct mta_job *job)
{
    struct mta *m = dest->mta;
    struct mta_session *s = xcalloc(1, sizeof(*s));
    s->mta = m;
    s->dest = dest;
    s->job = job;
    /* Timeouts and our name stay as they were when the session started,
     * whatever a reload does meanwhile. */
    s->snap = snapshot_ref(m->d->snap);
    s->addr_idx = dest->next_addr < dest->naddrs ? dest->next_addr : 0;
    s->reaper = event_new(m->d->base, -1, 0, on_reap, s);
    s->next = m->session_list;
    if (m->session_list)
        m->session_list->prev = s;
    m->session_list = s;
    mta_session_connect(s);
}
