/* The IMAP session on the session skeleton (session/session.h): the input
 * loop feeds lines and literal octets to the command parser
 * (proto/imap_parse.h), the deadlines follow the state (RFC 9051 5.4), and
 * shutdown and close say BYE. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf/conf.h"
#include "daemon.h"
#include "imapd/imapd.h"
#include "imapd/session.h"
#include "imapd/job.h"
#include "imapd/mailbox.h"
#include "net/conn.h"
#include "snapshot.h"
#include "util/log.h"
#include "util/worker.h"
#include "util/xmalloc.h"

/* Nesting of parenthesised lists and arguments in one command: far beyond
 * what any command needs (a SEARCH of a few hundred keys), small enough
 * that a hostile command costs little. */
#define IMAPD_DEPTH_MAX 64
#define IMAPD_ARGS_MAX  100000
/* An AUTHENTICATE response line, CRLF included (as POP3 allows). */
#define IMAPD_SASL_LINE_MAX 4096

static const struct session_ops imapd_ops;

static struct imapd_session *imap(struct session *base)
{
    return (struct imapd_session *)base;
}

bool imapd_secure(const struct imapd_session *s)
{
    /* imaps is TLS from the first octet: its greeting is written before
     * the handshake ends, and sent only after it. */
    return s->service == SERVICE_IMAPS || (s->conn && conn_tls(s->conn) != NULL);
}

bool imapd_login_allowed(const struct imapd_session *s)
{
    return imapd_secure(s) || s->snap->conf->imap_allow_plaintext_auth;
}

void imapd_arm_deadline(struct imapd_session *s)
{
    const struct conf *c = s->snap->conf;
    if (s->wait == IMAPD_WAIT_IDLE)
        s->idle_ms = c->imap_idle_timeout_ms;
    else if (s->state == IMAPD_NOT_AUTHENTICATED)
        s->idle_ms = c->imap_login_timeout_ms;
    else
        s->idle_ms = c->imap_timeout_ms;
    session_arm_idle(&s->base);
}

void imapd_command_busy(struct imapd_session *s)
{
    s->wait = IMAPD_WAIT_BUSY;
}

void imapd_command_finish(struct imapd_session *s)
{
    imap_parser_reset(s->parser);
    s->tag[0] = '\0';
    if (s->state != IMAPD_LOGOUT)
        s->wait = IMAPD_WAIT_COMMAND;
}

void imapd_command_done(struct imapd_session *s)
{
    imapd_command_finish(s);
    if (s->state == IMAPD_LOGOUT)
        return;
    imapd_arm_deadline(s);
    session_process_input(&s->base);
}

/* A parse error: BAD (or NO [TOOBIG] for a literal refused before it was
 * sent), or BYE when the octets of a non-synchronising literal over the
 * limit are already on their way. */
static void parse_failed(struct imapd_session *s)
{
    const char *why = imap_parser_error(s->parser);
    const char *tag = imap_parser_tag(s->parser);
    if (imap_parser_fatal(s->parser)) {
        log_info("event=imap_literal_refused client=%s reason=%s", s->ip, log_q(why));
        imapd_bye(s, why);
        return;
    }
    if (tag)
        snprintf(s->tag, sizeof(s->tag), "%s", tag);
    if (imap_parser_too_big(s->parser)) {
        imapd_reply_tagged(s, "NO", "[TOOBIG] %s", why);
    } else {
        imapd_reply_bad(s, "%s", why);
    }
    imap_parser_reset(s->parser);
    s->tag[0] = '\0';
}

static bool literal_announced(struct imapd_session *s)
{
    if (!imap_parser_literal_fits(s->parser)) {
        /* The command's literals together are too big to hold. */
        const char *tag = imap_parser_tag(s->parser);
        snprintf(s->tag, sizeof(s->tag), "%s", tag ? tag : "");
        if (imap_parser_literal_nonsync(s->parser)) {
            imapd_bye(s, "[TOOBIG] The literals of this command are too large");
            return false;
        }
        imapd_reply_tagged(s, "NO", "[TOOBIG] The literals of this command are too large");
        imapd_command_finish(s);
        return true;
    }
    s->wait = IMAPD_WAIT_LITERAL;
    if (!imap_parser_literal_nonsync(s->parser))
        conn_printf(s->conn, "+ Ready for literal data\r\n");
    return true;
}

static bool command_ready(struct imapd_session *s)
{
    const struct imap_command *cmd = imap_parser_command(s->parser);
    snprintf(s->tag, sizeof(s->tag), "%s", cmd->tag);
    return imapd_dispatch(s, cmd);
}

static bool on_command_line(struct imapd_session *s, const char *line, size_t len)
{
    switch (imap_parser_feed_line(s->parser, line, len)) {
    case IMAP_PARSE_DONE:
        return command_ready(s);
    case IMAP_PARSE_LITERAL:
        return literal_announced(s);
    case IMAP_PARSE_ERROR:
        break;
    }
    parse_failed(s);
    return s->state != IMAPD_LOGOUT;
}

/* "DONE" ends IDLE (RFC 2177); anything else is a protocol error. */
static bool on_idle_line(struct imapd_session *s, const char *line, size_t len)
{
    s->wait = IMAPD_WAIT_COMMAND;
    imapd_mailbox_idle_end(s);
    if (len == 4 && strncasecmp(line, "DONE", 4) == 0) {
        imapd_reply_tagged(s, "OK", "IDLE terminated");
    } else {
        imapd_reply_bad(s, "Expected DONE to end IDLE");
    }
    imapd_command_finish(s);
    return s->state != IMAPD_LOGOUT;
}

/* The skeleton's hooks. */

static enum session_input op_input(struct session *base)
{
    struct imapd_session *s = imap(base);
    if (s->state == IMAPD_LOGOUT)
        return SESSION_INPUT_HOLD;
    if (s->paced)
        return SESSION_INPUT_HOLD; /* the client must read: the deadline runs */
    if (s->job)
        return SESSION_INPUT_BUSY; /* our work: the client waits */
    switch (s->wait) {
    case IMAPD_WAIT_LITERAL:
        return SESSION_INPUT_RAW;
    case IMAPD_WAIT_BUSY:
        return SESSION_INPUT_BUSY;
    case IMAPD_WAIT_COMMAND:
    case IMAPD_WAIT_SASL:
    case IMAPD_WAIT_IDLE:
        break;
    }
    return SESSION_INPUT_LINE;
}

static size_t op_line_max(struct session *base)
{
    struct imapd_session *s = imap(base);
    if (s->wait == IMAPD_WAIT_SASL)
        return IMAPD_SASL_LINE_MAX;
    return s->snap->conf->imap_line_max + 2;
}

static bool op_on_line(struct session *base, const char *line, size_t len, bool more_input)
{
    struct imapd_session *s = imap(base);
    switch (s->wait) {
    case IMAPD_WAIT_SASL:
        return imapd_auth_response(s, line, len);
    case IMAPD_WAIT_IDLE:
        return on_idle_line(s, line, len);
    case IMAPD_WAIT_COMMAND:
    case IMAPD_WAIT_LITERAL:
    case IMAPD_WAIT_BUSY:
        break;
    }
    return on_command_line(s, line, len);
}

static void op_on_line_error(struct session *base, enum line_result error, size_t max)
{
    struct imapd_session *s = imap(base);
    const char *tag = imap_parser_tag(s->parser);
    snprintf(s->tag, sizeof(s->tag), "%s", tag ? tag : "");
    if (s->wait == IMAPD_WAIT_SASL) {
        /* The exchange is over (RFC 9051 6.2.2: BAD for a bad response). */
        sasl_step_reset(&s->sasl);
        s->wait = IMAPD_WAIT_COMMAND;
    }
    if (error == LINE_TOO_LONG)
        conn_printf(s->conn, "%s BAD [TOOBIG] Line too long (the limit is %zu octets)\r\n",
                    s->tag[0] ? s->tag : "*", max);
    else
        conn_printf(s->conn, "%s BAD Lines must end with CRLF\r\n", s->tag[0] ? s->tag : "*");
    imap_parser_reset(s->parser);
    s->tag[0] = '\0';
}

static size_t op_on_raw(struct session *base, const char *data, size_t len)
{
    struct imapd_session *s = imap(base);
    size_t left = imap_parser_literal_left(s->parser);
    size_t take = len < left ? len : left;
    enum imap_parse_result r = imap_parser_feed_literal(s->parser, data, take);
    if (r == IMAP_PARSE_LITERAL)
        return take;
    s->wait = IMAPD_WAIT_COMMAND;
    if (r == IMAP_PARSE_ERROR) /* fed more than announced: cannot happen */
        imapd_bye(s, imap_parser_error(s->parser));
    return take;
}

static void op_on_drained(struct session *base)
{
    imapd_job_drained(imap(base));
}

static void op_too_many_errors(struct session *base)
{
    imapd_bye(imap(base), "Too many invalid commands");
}

static void op_on_timeout(struct session *base)
{
    struct imapd_session *s = imap(base);
    log_info("event=imap_timeout client=%s state=%d sending=%s", s->ip, (int)s->state,
             s->paced ? "yes" : "no");
    /* A client that stopped reading a FETCH: nothing can be said inside
     * its literal; the connection just ends. */
    imapd_bye(s, s->paced ? NULL : "Autologout; idle for too long");
}

static void op_on_shutdown(struct session *base)
{
    struct imapd_session *s = imap(base);
    if (s->state != IMAPD_LOGOUT)
        imapd_bye(s, "[UNAVAILABLE] Server shutting down, try again later");
}

static void op_on_close_all(struct session *base)
{
    struct imapd_session *s = imap(base);
    if (s->state != IMAPD_LOGOUT && s->conn)
        conn_printf(s->conn, "* BYE [UNAVAILABLE] Server shutting down, try again later\r\n");
}

static bool op_on_close(struct session *base, const char *why)
{
    struct imapd_session *s = imap(base);
    log_info("event=disconnect service=%s client=%s reason=%s user=%s", service_name(s->service),
             s->ip, log_q(why), log_q(s->auth_user ? s->auth_user : ""));
    return false;
}

static void op_on_free(struct session *base)
{
    struct imapd_session *s = imap(base);
    imapd_auth_cleanup(s);
    imapd_mailbox_cleanup(s);
    imap_parser_free(s->parser);
    free(s->auth_user);
    free(s->maildir);
}

static const struct session_ops imapd_ops = {
    .proto = "imap",
    .input = op_input,
    .line_max = op_line_max,
    .on_line = op_on_line,
    .on_line_error = op_on_line_error,
    .on_raw = op_on_raw,
    .on_too_many_errors = op_too_many_errors,
    .on_timeout = op_on_timeout,
    .on_drained = op_on_drained,
    .on_shutdown = op_on_shutdown,
    .on_close_all = op_on_close_all,
    .on_close = op_on_close,
    .on_free = op_on_free,
};

struct imapd_session *imapd_session_of(struct session *s)
{
    return s->ops == &imapd_ops ? (struct imapd_session *)s : NULL;
}

void imapd_session_start(struct daemon *d, enum service svc, int fd, const struct sockaddr *sa,
                         socklen_t salen)
{
    struct imapd_session *s =
        (struct imapd_session *)session_new(d, sizeof(struct imapd_session), &imapd_ops, svc, fd,
                                            sa, salen, svc == SERVICE_IMAPS ? d->snap->tls : NULL);
    const struct conf *c = s->snap->conf;
    struct imap_parse_limits limits = {
        .line_max = c->imap_line_max,
        .literal_max = c->message_size,
        /* Literals other than APPEND's (a LOGIN password, a SEARCH string)
         * are small: all of one command's held in memory are bounded by the
         * message size too, since APPEND's is the one big one. */
        .literals_max = c->message_size + c->imap_line_max,
        .depth_max = IMAPD_DEPTH_MAX,
        .args_max = IMAPD_ARGS_MAX,
    };
    s->parser = imap_parser_new(&limits);
    s->state = IMAPD_NOT_AUTHENTICATED;
    s->wait = IMAPD_WAIT_COMMAND;
    struct buf caps;
    buf_init(&caps);
    imapd_capabilities(s, &caps);
    conn_printf(s->conn, "* OK [CAPABILITY %s] %s Postern IMAP ready\r\n", caps.data, c->hostname);
    buf_free(&caps);
    imapd_arm_deadline(s);
}
