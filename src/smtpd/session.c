#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "daemon.h"
#include "lifecycle.h"
#include "net/addr.h"
#include "net/conn.h"
#include "net/listener.h"
#include "net/tls.h"
#include "queue/queue.h"
#include "smtpd/session.h"
#include "smtpd/smtpd.h"
#include "util/log.h"
#include "util/xmalloc.h"

static void on_read(struct conn *c, void *arg);
static void on_deadline(struct conn *c, void *arg);
static void on_close(struct conn *c, void *arg, const char *why);

static const struct conn_callbacks smtpd_conn_callbacks = {
    .on_read = on_read,
    .on_deadline = on_deadline,
    .on_close = on_close,
};

void smtpd_reply(struct smtpd_session *s, int code, const char *enhanced, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (enhanced)
        conn_printf(s->conn, "%d %s %s\r\n", code, enhanced, text);
    else
        conn_printf(s->conn, "%d %s\r\n", code, text);
}

void smtpd_reply_error(struct smtpd_session *s, const struct smtp_error *e)
{
    smtpd_reply(s, e->code, e->enhanced, "%s", e->text);
}

void smtpd_close(struct smtpd_session *s, int code, const char *enhanced, const char *text)
{
    if (s->state == SMTPD_CLOSING)
        return;
    if (code)
        smtpd_reply(s, code, enhanced, "%s %s", s->d->conf->hostname, text);
    s->state = SMTPD_CLOSING;
    conn_close_after_write(s->conn);
}

void smtpd_bad_command(struct smtpd_session *s)
{
    if (++s->bad_commands >= s->d->conf->bad_commands) {
        log_warn("event=smtp_too_many_errors client=%s errors=%u", s->ip, s->bad_commands);
        smtpd_close(s, 421, "4.7.0", "Too many errors, closing connection");
    }
}

static void error_pause_end(evutil_socket_t fd, short what, void *arg)
{
    struct smtpd_session *s = arg;
    if (s->state != SMTPD_ERROR_WAIT)
        return; /* closed meanwhile */
    s->state = s->error_return_state;
    smtpd_wait_command(s);
    smtpd_process_input(s);
}

void smtpd_error_pause(struct smtpd_session *s, unsigned ms)
{
    if (ms == 0 || s->state == SMTPD_CLOSING)
        return;
    if (s->error_timer == NULL)
        s->error_timer = evtimer_new(s->d->base, error_pause_end, s);
    s->error_return_state = s->state;
    s->state = SMTPD_ERROR_WAIT;
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(s->error_timer, &tv);
}

void smtpd_transaction_reset(struct smtpd_session *s)
{
    smtpd_data_abort(s);
    envelope_free(&s->env);
    free(s->single_rcpt);
    s->single_rcpt = NULL;
    s->rcpt_commands = 0;
    s->bdat_used = false;
    s->bdat_failed = false;
    s->bdat_errno = 0;
    memset(&s->mail, 0, sizeof(s->mail));
    if (s->state == SMTPD_MAIL || s->state == SMTPD_RCPT || s->state == SMTPD_DATA ||
        s->state == SMTPD_BDAT)
        s->state = SMTPD_READY;
}

void smtpd_wait_command(struct smtpd_session *s)
{
    if (s->d->stopping) {
        /* Shutting down: the message in progress is done, say goodbye. */
        smtpd_close(s, 421, "4.3.2", "Service shutting down, try again later");
        return;
    }
    conn_set_deadline(s->conn, s->d->conf->command_timeout_ms);
}

static void session_free(struct smtpd_session *s)
{
    smtpd_transaction_reset(s);
    smtpd_auth_cleanup(s);
    if (!s->evicted)
        listener_release(s->d->listeners, s->service, s->ip);
    if (s->error_timer)
        event_free(s->error_timer);
    s->d->sessions--;
    if (s->prev)
        s->prev->next = s->next;
    else
        s->d->smtpd_sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    struct daemon *d = s->d;
    conn_free(&s->conn);
    buf_free(&s->pending_out);
    free(s->helo);
    free(s);
    lifecycle_session_ended(d);
}

static void send_greeting(struct smtpd_session *s)
{
    s->state = SMTPD_CONNECTED;
    smtpd_reply(s, 220, NULL, "%s ESMTP Postern", s->d->conf->hostname);
    smtpd_wait_command(s);
}

/* Splits the buffered input into command lines and content, and hands each
 * to its handler, until the input runs out or the session must wait. */
void smtpd_process_input(struct smtpd_session *s)
{
    struct evbuffer *in = conn_input(s->conn);
    for (;;) {
        size_t avail = evbuffer_get_length(in);
        if (avail == 0)
            return;
        switch (s->state) {
        case SMTPD_GREETING:
            /* Talking before the banner: a spam bot's habit, never a real MTA's. */
            log_warn("event=smtp_pregreet client=%s", s->ip);
            smtpd_close(s, 554, "5.5.1", "Protocol error: you talked before the greeting");
            return;
        case SMTPD_COMMIT:
        case SMTPD_AUTH_CHECK:
        case SMTPD_ERROR_WAIT:
        case SMTPD_CLOSING:
            return;
        case SMTPD_DATA:
        case SMTPD_BDAT: {
            struct evbuffer_iovec vec;
            if (evbuffer_peek(in, -1, NULL, &vec, 1) < 1)
                return;
            size_t used = smtpd_data_feed(s, vec.iov_base, vec.iov_len);
            evbuffer_drain(in, used);
            if (used == 0)
                return;
            continue;
        }
        default:
            break;
        }
        if (s->tls_info[0] == '\0' && conn_tls(s->conn))
            tls_describe(conn_tls(s->conn), s->tls_info, sizeof(s->tls_info));
        /* AUTH lines may be longer (RFC 4954 4: 12288 octets); every other
         * command is held to 512 below. */
        size_t look = avail < SMTP_AUTH_LINE_MAX ? avail : SMTP_AUTH_LINE_MAX;
        const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)look);
        size_t line_len, consumed;
        enum smtp_line_result r =
            smtp_line_next(&s->line_reader, p, look, SMTP_AUTH_LINE_MAX, &line_len, &consumed);
        if (r == SMTP_LINE_NEED_MORE) {
            evbuffer_drain(in, consumed);
            if (consumed == 0)
                return;
            continue;
        }
        if (r == SMTP_LINE_TOO_LONG) {
            evbuffer_drain(in, consumed);
            smtpd_reply(s, 500, "5.5.2", "Line too long (the limit is 512 octets with CRLF)");
            smtpd_bad_command(s);
            continue;
        }
        if (r == SMTP_LINE_BARE_LF) {
            evbuffer_drain(in, consumed);
            smtpd_reply(s, 500, "5.5.2", "Bare LF in command; lines must end with CRLF");
            smtpd_bad_command(s);
            continue;
        }
        bool is_auth = s->state == SMTPD_AUTH || (line_len >= 5 && strncasecmp(p, "AUTH ", 5) == 0);
        if (line_len + 2 > SMTP_COMMAND_LINE_MAX && !is_auth) {
            evbuffer_drain(in, consumed);
            smtpd_reply(s, 500, "5.5.2", "Line too long (the limit is 512 octets with CRLF)");
            smtpd_bad_command(s);
            continue;
        }
        char *line = xstrndup(p, line_len);
        evbuffer_drain(in, consumed);
        bool more = evbuffer_get_length(in) > 0;
        bool go_on = s->state == SMTPD_AUTH ? smtpd_auth_response(s, line, line_len)
                                            : smtpd_dispatch(s, line, line_len, more);
        /* Each command gets its own deadline (RFC 5321 4.5.3.2), counted
         * from our reply, not from the first byte of the session. */
        if (s->state == SMTPD_CONNECTED || s->state == SMTPD_READY || s->state == SMTPD_MAIL ||
            s->state == SMTPD_RCPT || s->state == SMTPD_AUTH)
            conn_set_deadline(s->conn, s->d->conf->command_timeout_ms);
        OPENSSL_cleanse(line, line_len);
        free(line);
        if (!go_on)
            return;
    }
}

static void on_read(struct conn *c, void *arg)
{
    smtpd_process_input(arg);
}

static void on_deadline(struct conn *c, void *arg)
{
    struct smtpd_session *s = arg;
    if (s->state == SMTPD_GREETING) {
        send_greeting(s);
        smtpd_process_input(s);
        return;
    }
    if (s->state == SMTPD_COMMIT || s->state == SMTPD_AUTH_CHECK || s->state == SMTPD_ERROR_WAIT) {
        /* The queue is slow; the client waits (its own timeout is 10 min). */
        conn_set_deadline(c, s->d->conf->command_timeout_ms);
        return;
    }
    log_info("event=smtp_timeout client=%s state=%d", s->ip, (int)s->state);
    smtpd_close(s, 421, "4.4.2", "Error: timeout exceeded");
}

static void on_close(struct conn *c, void *arg, const char *why)
{
    struct smtpd_session *s = arg;
    log_info("event=disconnect service=%s client=%s reason=%s messages=%llu",
             service_name(s->service), s->ip, log_q(why), (unsigned long long)s->messages);
    session_free(s);
}

void smtpd_session_start(struct daemon *d, enum service svc, int fd, const struct sockaddr *sa,
                         socklen_t salen)
{
    struct smtpd_session *s = xcalloc(1, sizeof(*s));
    s->d = d;
    s->service = svc;
    sockaddr_ip(sa, s->ip, sizeof(s->ip));
    buf_init(&s->pending_out);
    s->conn = conn_new_tls(d->base, fd, sa, salen, svc == SERVICE_SUBMISSIONS ? d->tls : NULL,
                           &smtpd_conn_callbacks, s);
    d->sessions++;
    s->next = d->smtpd_sessions;
    if (s->next)
        s->next->prev = s;
    d->smtpd_sessions = s;
    log_info("event=connect service=%s client=%s", service_name(svc), s->ip);
    if (d->conf->greeting_delay_ms) {
        s->state = SMTPD_GREETING;
        conn_set_deadline(s->conn, d->conf->greeting_delay_ms);
    } else {
        send_greeting(s);
    }
}

bool smtpd_evict_idle(void *arg)
{
    struct daemon *d = arg;
    struct smtpd_session *oldest = NULL; /* the list is newest first */
    for (struct smtpd_session *s = d->smtpd_sessions; s; s = s->next)
        if (s->service == SERVICE_SMTP && !s->evicted && s->auth_user == NULL &&
            (s->state == SMTPD_GREETING || s->state == SMTPD_CONNECTED || s->state == SMTPD_READY))
            oldest = s;
    if (oldest == NULL)
        return false;
    log_warn("event=connection_evicted service=smtp client=%s state=%d messages=%llu", oldest->ip,
             (int)oldest->state, (unsigned long long)oldest->messages);
    smtpd_close(oldest, 421, "4.7.0", "Too many connections, closing idle session");
    oldest->evicted = true;
    listener_release(d->listeners, oldest->service, oldest->ip);
    return true;
}

void smtpd_shutdown_begin(struct daemon *d)
{
    for (struct smtpd_session *s = d->smtpd_sessions; s; s = s->next) {
        bool in_message =
            s->state == SMTPD_DATA || s->state == SMTPD_BDAT || s->state == SMTPD_COMMIT;
        if (!in_message)
            smtpd_close(s, 421, "4.3.2", "Service shutting down, try again later");
    }
}

void smtpd_close_all(struct daemon *d)
{
    while (d->smtpd_sessions) {
        struct smtpd_session *s = d->smtpd_sessions;
        if (s->state != SMTPD_CLOSING)
            smtpd_reply(s, 421, "4.3.2", "%s Service shutting down, try again later",
                        d->conf->hostname);
        log_info("event=disconnect service=%s client=%s reason=shutdown", service_name(s->service),
                 s->ip);
        session_free(s);
    }
}
