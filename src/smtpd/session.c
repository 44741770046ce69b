/* The SMTP session on the session skeleton (session/session.h): its hooks
 * (input modes per state, the greeting delay and pregreet detection,
 * timeouts, shutdown, close), the replies, the error pause, eviction. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "daemon.h"
#include "net/conn.h"
#include "smtpd/session.h"
#include "smtpd/smtpd.h"
#include "snapshot.h"
#include "util/log.h"
#include "util/xmalloc.h"

static const struct session_ops smtpd_ops;

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
        smtpd_reply(s, code, enhanced, "%s %s", s->snap->conf->hostname, text);
    s->state = SMTPD_CLOSING;
    session_close_after_write(&s->base);
}

void smtpd_bad_command(struct smtpd_session *s)
{
    session_bad_command(&s->base);
}

void smtpd_error_pause(struct smtpd_session *s, unsigned ms)
{
    if (ms == 0 || s->state == SMTPD_CLOSING)
        return;
    s->error_return_state = s->state;
    s->state = SMTPD_ERROR_WAIT;
    session_pause_input(&s->base, ms);
}

void smtpd_transaction_reset(struct smtpd_session *s)
{
    smtpd_rcpt_quota_cancel(s);
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
    session_arm_idle(&s->base);
}

void smtpd_process_input(struct smtpd_session *s)
{
    session_process_input(&s->base);
}

static void send_greeting(struct smtpd_session *s)
{
    s->state = SMTPD_CONNECTED;
    smtpd_reply(s, 220, NULL, "%s ESMTP Postern", s->snap->conf->hostname);
    smtpd_wait_command(s);
}

/* The skeleton's hooks. */

static struct smtpd_session *smtp(struct session *base)
{
    return (struct smtpd_session *)base;
}

static enum session_input op_input(struct session *base)
{
    switch (smtp(base)->state) {
    case SMTPD_GREETING: /* any octet now is a pregreet (op_on_raw) */
    case SMTPD_DATA:
    case SMTPD_BDAT:
        return SESSION_INPUT_RAW;
    case SMTPD_COMMIT:
    case SMTPD_AUTH_CHECK:
    case SMTPD_RCPT_CHECK:
    case SMTPD_ERROR_WAIT:
        return SESSION_INPUT_BUSY;
    case SMTPD_CLOSING:
        return SESSION_INPUT_HOLD;
    case SMTPD_CONNECTED:
    case SMTPD_READY:
    case SMTPD_MAIL:
    case SMTPD_RCPT:
    case SMTPD_AUTH:
        break;
    }
    return SESSION_INPUT_LINE;
}

static size_t op_line_max(struct session *base)
{
    /* AUTH lines may be longer (RFC 4954 4: 12288 octets); every other
     * command is held to 512 in op_on_line. */
    return SMTP_AUTH_LINE_MAX;
}

static bool op_on_line(struct session *base, const char *line, size_t len, bool more_input)
{
    struct smtpd_session *s = smtp(base);
    if (s->state == SMTPD_AUTH)
        return smtpd_auth_response(s, line, len);
    bool is_auth = len >= 5 && strncasecmp(line, "AUTH ", 5) == 0;
    if (len + 2 > SMTP_COMMAND_LINE_MAX && !is_auth) {
        smtpd_reply(s, 500, "5.5.2", "Line too long (the limit is 512 octets with CRLF)");
        smtpd_bad_command(s);
        return true;
    }
    return smtpd_dispatch(s, line, len, more_input);
}

static void op_on_line_error(struct session *base, enum line_result error, size_t max)
{
    struct smtpd_session *s = smtp(base);
    if (error == LINE_TOO_LONG)
        smtpd_reply(s, 500, "5.5.2", "Line too long (the limit is 512 octets with CRLF)");
    else
        smtpd_reply(s, 500, "5.5.2", "Bare LF in command; lines must end with CRLF");
}

static size_t op_on_raw(struct session *base, const char *data, size_t len)
{
    struct smtpd_session *s = smtp(base);
    if (s->state == SMTPD_GREETING) {
        /* Talking before the banner: a spam bot's habit, never a real MTA's. */
        log_warn("event=smtp_pregreet client=%s", s->ip);
        smtpd_close(s, 554, "5.5.1", "Protocol error: you talked before the greeting");
        return 0;
    }
    return smtpd_data_feed(s, data, len);
}

static void op_too_many_errors(struct session *base)
{
    smtpd_close(smtp(base), 421, "4.7.0", "Too many errors, closing connection");
}

static void op_on_timeout(struct session *base)
{
    struct smtpd_session *s = smtp(base);
    if (s->state == SMTPD_GREETING) {
        send_greeting(s);
        smtpd_process_input(s);
        return;
    }
    log_info("event=smtp_timeout client=%s state=%d", s->ip, (int)s->state);
    smtpd_close(s, 421, "4.4.2", "Error: timeout exceeded");
}

static void op_on_resume(struct session *base)
{
    struct smtpd_session *s = smtp(base);
    if (s->state != SMTPD_ERROR_WAIT)
        return;
    s->state = s->error_return_state;
    smtpd_wait_command(s);
}

static void op_on_shutdown(struct session *base)
{
    struct smtpd_session *s = smtp(base);
    bool in_message = s->state == SMTPD_DATA || s->state == SMTPD_BDAT || s->state == SMTPD_COMMIT;
    if (!in_message)
        smtpd_close(s, 421, "4.3.2", "Service shutting down, try again later");
}

static void op_on_close_all(struct session *base)
{
    struct smtpd_session *s = smtp(base);
    if (s->state != SMTPD_CLOSING)
        smtpd_reply(s, 421, "4.3.2", "%s Service shutting down, try again later",
                    s->snap->conf->hostname);
}

static bool op_on_close(struct session *base, const char *why)
{
    struct smtpd_session *s = smtp(base);
    log_info("event=disconnect service=%s client=%s reason=%s messages=%llu",
             service_name(s->service), s->ip, log_q(why), (unsigned long long)s->messages);
    return false;
}

static void op_on_free(struct session *base)
{
    struct smtpd_session *s = smtp(base);
    smtpd_transaction_reset(s);
    smtpd_auth_cleanup(s);
    buf_free(&s->pending_out);
    free(s->helo);
}

static const struct session_ops smtpd_ops = {
    .proto = "smtp",
    .input = op_input,
    .line_max = op_line_max,
    .on_line = op_on_line,
    .on_line_error = op_on_line_error,
    .on_raw = op_on_raw,
    .on_too_many_errors = op_too_many_errors,
    .on_timeout = op_on_timeout,
    .on_resume = op_on_resume,
    .on_shutdown = op_on_shutdown,
    .on_close_all = op_on_close_all,
    .on_close = op_on_close,
    .on_free = op_on_free,
};

void smtpd_session_start(struct daemon *d, enum service svc, int fd, const struct sockaddr *sa,
                         socklen_t salen)
{
    struct smtpd_session *s = (struct smtpd_session *)session_new(
        d, sizeof(struct smtpd_session), &smtpd_ops, svc, fd, sa, salen,
        svc == SERVICE_SUBMISSIONS ? d->snap->tls : NULL);
    buf_init(&s->pending_out);
    s->idle_ms = s->snap->conf->command_timeout_ms;
    if (s->snap->conf->greeting_delay_ms) {
        s->state = SMTPD_GREETING;
        conn_set_deadline(s->conn, s->snap->conf->greeting_delay_ms);
    } else {
        send_greeting(s);
    }
}

bool smtpd_evict_idle(void *arg)
{
    struct daemon *d = arg;
    struct smtpd_session *oldest = NULL; /* the registry is newest first */
    for (struct session *o = d->session_list; o; o = o->next) {
        if (o->ops != &smtpd_ops)
            continue;
        struct smtpd_session *s = smtp(o);
        if (s->service == SERVICE_SMTP && !s->evicted && s->auth_user == NULL &&
            (s->state == SMTPD_GREETING || s->state == SMTPD_CONNECTED || s->state == SMTPD_READY))
            oldest = s;
    }
    if (oldest == NULL)
        return false;
    log_warn("event=connection_evicted service=smtp client=%s state=%d messages=%llu", oldest->ip,
             (int)oldest->state, (unsigned long long)oldest->messages);
    smtpd_close(oldest, 421, "4.7.0", "Too many connections, closing idle session");
    session_release_slot(&oldest->base);
    return true;
}
