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
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "conf/conf.h"
#include "daemon.h"
#include "deliver/mta_content.h"
#include "deliver/mta_session_int.h"
#include "net/tls.h"
#include "proto/smtp_cmd.h"
#include "proto/smtp_parse.h"
#include "proto/smtp_reply.h"
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
    return s->mta->d->conf;
}

const struct route_addr *mta_session_addr(const struct mta_session *s)
{
    return &s->dest->addrs[s->addr_idx];
}

void mta_session_arm(struct mta_session *s, unsigned ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (long)(ms % 1000) * 1000};
    evtimer_add(s->timer, &tv);
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
    bufferevent_write(s->bev, line, (size_t)n + 2);
}

void mta_session_close_bev(struct mta_session *s)
{
    if (s->bev) {
        bufferevent_free(s->bev);
        s->bev = NULL;
        s->gen++;
    }
    evtimer_del(s->timer);
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
 * memory goes from the loop (on_timer), as callers may still look at s. */
static void session_end(struct mta_session *s, const char *why_dead)
{
    if (s->state == S_DEAD)
        return;
    mta_session_close_bev(s);
    txn_clear(s);
    s->state = S_DEAD;
    if (s->job) {
        mta_job_finish(s->mta, s->job);
        s->job = NULL;
    }
    mta_session_arm(s, 0);
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
    mta_session_close_bev(s);
    txn_clear(s);
    mta_job_free(&s->job);
    event_free(s->timer);
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
    bufferevent_write(s->bev, b->data, b->len);
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

/* After the reply to our QUIT: close_notify, so the server sees a TLS
 * session that ended, not one that was cut. The alert is written to the
 * socket at once (a few octets into an idle, non-blocking socket). */
static void send_close_notify(struct mta_session *s)
{
    if (!s->tls || s->bev == NULL)
        return;
    tls_send_close_notify(bufferevent_openssl_get_ssl(s->bev));
    struct bufferevent *under = bufferevent_get_underlying(s->bev);
    if (under == NULL)
        return;
    /* The layer's output is frozen for outside readers (evbuffer_write and
     * copyout refuse): look at the alert and send it, without waiting. */
    struct evbuffer_iovec v[4];
    int nv = evbuffer_peek(bufferevent_get_output(under), -1, NULL, v, 4);
    struct msghdr msg = {.msg_iov = (struct iovec *)v, .msg_iovlen = (size_t)(nv > 4 ? 4 : nv)};
    if (nv > 0 && sendmsg(bufferevent_getfd(under), &msg, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
        log_debug("event=relay_close_notify_lost relay=%s error=%s", log_q(s->peer),
                  log_q(strerror(errno)));
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

static void content_pull(struct mta_session *s)
{
    if (s->content && !mta_content_busy(s->content) && !mta_content_eof(s->content) &&
        evbuffer_get_length(bufferevent_get_output(s->bev)) < MTA_OUTPUT_AHEAD)
        mta_content_read(s->content, s->mta->d->workers, content_ready, s);
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
    bufferevent_write(s->bev, chunk->data, chunk->len);
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

/* Returns false when the session ended or its buffers changed: the caller
 * must not read from its bufferevent any more. */
static bool handle_reply(struct mta_session *s, const struct smtp_reply *r)
{
    evtimer_del(s->timer);
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
        send_close_notify(s);
        session_end(s, NULL);
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

void mta_session_on_read(struct bufferevent *bev, void *arg)
{
    struct mta_session *s = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    while (evbuffer_get_length(in) > 0) {
        size_t n = evbuffer_get_contiguous_space(in);
        const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
        size_t used;
        int rc = smtp_reply_parse(&s->parser, p, n, &used);
        evbuffer_drain(in, used);
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

void mta_session_on_write(struct bufferevent *bev, void *arg)
{
    struct mta_session *s = arg;
    if (s->state == S_CONTENT) {
        mta_session_arm(s, mta_session_conf(s)->relay_data_block_timeout_ms);
        content_pull(s);
    }
}

const char *mta_session_event_reason(struct bufferevent *bev, short what, char *buf, size_t len)
{
    unsigned long e = bufferevent_get_openssl_error(bev);
    if (e) {
        ERR_error_string_n(e, buf, len);
        return buf;
    }
    if (what & BEV_EVENT_EOF)
        return "connection closed by the server";
    int err = EVUTIL_SOCKET_ERROR();
    return err ? strerror(err) : "connection error";
}

void mta_session_on_event(struct bufferevent *bev, short what, void *arg)
{
    struct mta_session *s = arg;
    if (what & BEV_EVENT_CONNECTED) {
        note_relay(s, true);
        s->state = S_GREETING;
        mta_session_arm(s, mta_session_conf(s)->relay_greeting_timeout_ms);
        return;
    }
    char buf[256];
    const char *why = mta_session_event_reason(bev, what, buf, sizeof(buf));
    if (s->state == S_QUIT) {
        session_end(s, NULL);
        return;
    }
    if (s->state == S_CONNECT)
        mta_session_fail(s, "connect to %s: %s", s->peer, why);
    else
        mta_session_fail(s, "lost connection with %s %s: %s", s->peer, state_what[s->state], why);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct mta_session *s = arg;
    if (s->state == S_DEAD) {
        session_free(s);
        return;
    }
    if (s->state == S_CONNECT && s->last_error[0] && s->connect_failed) {
        mta_session_fail(s, "%s", s->last_error);
        return;
    }
    if (s->state == S_QUIT) {
        session_end(s, NULL);
        return;
    }
    mta_session_fail(s, "timeout %s with %s", state_what[s->state], s->peer);
}

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
    s->connect_failed = false;
    /* Deferred callbacks: none runs inside a call we make (connect errors
     * included), so no handler ever sees a half-updated session. */
    s->bev = bufferevent_socket_new(s->mta->d->base, -1,
                                    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    bufferevent_setcb(s->bev, mta_session_on_read, mta_session_on_write, mta_session_on_event, s);
    bufferevent_setwatermark(s->bev, EV_READ, 0, MTA_READ_MAX);
    bufferevent_setwatermark(s->bev, EV_WRITE, MTA_OUTPUT_LOW, 0);
    bufferevent_enable(s->bev, EV_READ | EV_WRITE);
    mta_session_arm(s, mta_session_conf(s)->relay_connect_timeout_ms);
    if (bufferevent_socket_connect(s->bev, (struct sockaddr *)&a->sa, (int)a->salen) == 0) {
        /* The content and the final dot leave in separate writes: Nagle
         * would hold the dot for the server's delayed ACK (~40 ms). */
        int one = 1;
        setsockopt(bufferevent_getfd(s->bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    } else {
        /* The deferred error event normally reports it; the timer is the
         * backstop. */
        snprintf(s->last_error, sizeof(s->last_error), "connect to %s: %s", s->peer,
                 strerror(errno));
        s->connect_failed = true;
        mta_session_arm(s, 0);
    }
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
    mta_session_close_bev(s);
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
    s->addr_idx = dest->next_addr < dest->naddrs ? dest->next_addr : 0;
    s->timer = evtimer_new(m->d->base, on_timer, s);
    s->next = m->session_list;
    if (m->session_list)
        m->session_list->prev = s;
    m->session_list = s;
    mta_session_connect(s);
}
