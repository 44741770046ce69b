/* The POP3 command table (RFC 1939, 2449 CAPA, 2595 STLS) and the
 * handlers of the TRANSACTION state. One dispatcher checks the state and
 * the TLS policy, so no handler repeats those checks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "daemon.h"
#include "net/conn.h"
#include "pop3d/mailbox.h"
#include "pop3d/session.h"
#include "snapshot.h"
#include "util/buf.h"
#include "util/log.h"

#define S(x) POP3D_STATE_BIT(POP3D_##x)

/* The command carries credentials: refused before TLS unless [pop3]
 * allow_plaintext_auth (RFC 2595 2.1, answered with [AUTH] per RFC 3206). */
#define CMD_LOGIN 0x1u

struct pop3d_command {
    enum pop3_verb verb;
    unsigned states;
    unsigned flags;
    bool (*handler)(struct pop3d_session *s, const struct pop3_command *cmd);
};

static bool cmd_apop(struct pop3d_session *s, const struct pop3_command *cmd);
static bool cmd_stls(struct pop3d_session *s, const struct pop3_command *cmd);
static bool cmd_capa(struct pop3d_session *s, const struct pop3_command *cmd);
static bool cmd_quit(struct pop3d_session *s, const struct pop3_command *cmd);
static bool cmd_stat(struct pop3d_session *s, const struct pop3_command *cmd);
static bool cmd_list(struct pop3d_session *s, const struct pop3_command *cmd);
static bool cmd_retr(struct pop3d_session *s, const struct pop3_command *cmd);
static bool cmd_dele(struct pop3d_session *s, const struct pop3_command *cmd);
static bool cmd_noop(struct pop3d_session *s, const struct pop3_command *cmd);
static bool cmd_rset(struct pop3d_session *s, const struct pop3_command *cmd);

static const struct pop3d_command command_table[] = {
    {POP3_VERB_USER, S(AUTHORIZATION), CMD_LOGIN, pop3d_cmd_user},
    {POP3_VERB_PASS, S(AUTHORIZATION), CMD_LOGIN, pop3d_cmd_pass},
    {POP3_VERB_AUTH, S(AUTHORIZATION), CMD_LOGIN, pop3d_cmd_auth},
    {POP3_VERB_APOP, S(AUTHORIZATION), 0, cmd_apop},
    {POP3_VERB_STLS, S(AUTHORIZATION), 0, cmd_stls},
    {POP3_VERB_CAPA, S(AUTHORIZATION) | S(TRANSACTION), 0, cmd_capa},
    {POP3_VERB_QUIT, S(AUTHORIZATION) | S(TRANSACTION), 0, cmd_quit},
    {POP3_VERB_STAT, S(TRANSACTION), 0, cmd_stat},
    {POP3_VERB_LIST, S(TRANSACTION), 0, cmd_list},
    {POP3_VERB_UIDL, S(TRANSACTION), 0, cmd_list},
    {POP3_VERB_RETR, S(TRANSACTION), 0, cmd_retr},
    {POP3_VERB_TOP, S(TRANSACTION), 0, cmd_retr},
    {POP3_VERB_DELE, S(TRANSACTION), 0, cmd_dele},
    {POP3_VERB_NOOP, S(TRANSACTION), 0, cmd_noop},
    {POP3_VERB_RSET, S(TRANSACTION), 0, cmd_rset},
};

bool pop3d_dispatch(struct pop3d_session *s, const char *line, size_t len)
{
    struct pop3_command cmd;
    const char *err = pop3_command_parse(line, len, &cmd);
    if (err == NULL && cmd.verb == POP3_VERB_UNKNOWN)
        err = "Unknown command";
    if (err) {
        pop3d_reply_err(s, "%s", err);
        pop3d_bad_command(s);
        return s->state != POP3D_CLOSING;
    }
    const struct pop3d_command *entry = NULL;
    for (size_t i = 0; i < sizeof(command_table) / sizeof(command_table[0]); i++)
        if (command_table[i].verb == cmd.verb)
            entry = &command_table[i];
    if (!(entry->states & POP3D_STATE_BIT(s->state))) {
        if (s->state == POP3D_AUTHORIZATION)
            pop3d_reply_err(s, "Not logged in: authenticate first (USER and PASS, or AUTH)");
        else
            pop3d_reply_err(s, "%s is not valid after login", pop3_verb_name(cmd.verb));
        pop3d_bad_command(s);
        return s->state != POP3D_CLOSING;
    }
    if ((entry->flags & CMD_LOGIN) && !pop3d_login_allowed(s)) {
        log_info("event=pop3_plaintext_refused client=%s command=%s", s->ip,
                 pop3_verb_name(cmd.verb));
        s->has_user = false;
        pop3d_reply_err(s, "[AUTH] Plain-text authentication is not allowed without TLS: "
                           "send STLS first");
        return true;
    }
    return entry->handler(s, &cmd);
}

static bool cmd_apop(struct pop3d_session *s, const struct pop3_command *cmd)
{
    pop3d_reply_err(s, "APOP is not supported: use USER and PASS, or AUTH PLAIN, over TLS");
    return true;
}

static bool cmd_stls(struct pop3d_session *s, const struct pop3_command *cmd)
{
    if (conn_tls_started(s->conn)) {
        pop3d_reply_err(s, "TLS is already active");
        return true;
    }
    if (s->service != SERVICE_POP3 || s->snap->tls == NULL) {
        pop3d_reply_err(s, "STLS is not available ([tls] cert and key are not configured)");
        return true;
    }
    size_t injected = evbuffer_get_length(conn_input(s->conn));
    if (injected)
        log_warn("event=pop3_stls_input_discarded client=%s octets=%zu", s->ip, injected);
    pop3d_reply_ok(s, "Begin TLS negotiation");
    /* Everything learnt before TLS is forgotten (RFC 2595 4); the buffered
     * plaintext input is dropped by conn_starttls (CVE-2011-0411). */
    s->has_user = false;
    if (!conn_starttls(s->conn, s->snap->tls)) {
        log_warn("event=pop3_stls_failed client=%s", s->ip);
        pop3d_close(s, NULL);
    }
    pop3d_wait_command(s);
    return false;
}

static bool cmd_capa(struct pop3d_session *s, const struct pop3_command *cmd)
{
    struct buf b;
    buf_init(&b);
    buf_append_str(&b, "+OK Capability list follows\r\n"
                       "TOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n");
    if (s->state == POP3D_AUTHORIZATION) {
        if (s->service == SERVICE_POP3 && s->snap->tls && !conn_tls_started(s->conn))
            buf_append_str(&b, "STLS\r\n");
        /* Passwords only where they may be used: not in plain text, unless
         * the administrator allows it. */
        if (pop3d_login_allowed(s))
            buf_append_str(&b, "USER\r\nSASL PLAIN\r\n");
    }
    buf_append_str(&b, "IMPLEMENTATION Postern\r\n.\r\n");
    conn_write(s->conn, b.data, b.len);
    buf_free(&b);
    return true;
}

static bool cmd_quit(struct pop3d_session *s, const struct pop3_command *cmd)
{
    if (s->state == POP3D_AUTHORIZATION) {
        pop3d_reply_ok(s, "Bye");
        pop3d_close(s, NULL);
        return false;
    }
    pop3d_quit_update(s);
    return false;
}

/* The message numbered n, or NULL after replying why not. */
static struct pop3d_msg *msg_get(struct pop3d_session *s, uint32_t n)
{
    if (n == 0 || n > s->box->n) {
        pop3d_reply_err(s, "No such message (there are %zu)", s->box->n);
        return NULL;
    }
    struct pop3d_msg *m = &s->box->msgs[n - 1];
    if (m->deleted) {
        pop3d_reply_err(s, "Message %u is deleted", (unsigned)n);
        return NULL;
    }
    return m;
}

static void totals(const struct pop3d_session *s, size_t *count_r, uint64_t *octets_r)
{
    *count_r = 0;
    *octets_r = 0;
    for (size_t i = 0; i < s->box->n; i++)
        if (!s->box->msgs[i].deleted) {
            (*count_r)++;
            *octets_r += s->box->msgs[i].size;
        }
}

static bool cmd_stat(struct pop3d_session *s, const struct pop3_command *cmd)
{
    size_t count;
    uint64_t octets;
    totals(s, &count, &octets);
    pop3d_reply_ok(s, "%zu %llu", count, (unsigned long long)octets);
    return true;
}

/* LIST and UIDL: one message, or a multi-line listing of all but the
 * deleted ones. */
static bool cmd_list(struct pop3d_session *s, const struct pop3_command *cmd)
{
    bool uidl = cmd->verb == POP3_VERB_UIDL;
    if (cmd->has_msg) {
        struct pop3d_msg *m = msg_get(s, cmd->msg);
        if (m == NULL)
            return true;
        if (uidl)
            pop3d_reply_ok(s, "%u %s", (unsigned)cmd->msg, m->uid);
        else
            pop3d_reply_ok(s, "%u %llu", (unsigned)cmd->msg, (unsigned long long)m->size);
        return true;
    }
    size_t count;
    uint64_t octets;
    totals(s, &count, &octets);
    struct buf b;
    buf_init(&b);
    if (uidl)
        buf_append_str(&b, "+OK Unique-ID listing follows\r\n");
    else
        buf_printf(&b, "+OK %zu messages (%llu octets)\r\n", count, (unsigned long long)octets);
    for (size_t i = 0; i < s->box->n; i++) {
        const struct pop3d_msg *m = &s->box->msgs[i];
        if (m->deleted)
            continue;
        if (uidl)
            buf_printf(&b, "%zu %s\r\n", i + 1, m->uid);
        else
            buf_printf(&b, "%zu %llu\r\n", i + 1, (unsigned long long)m->size);
    }
    buf_append_str(&b, ".\r\n");
    conn_write(s->conn, b.data, b.len);
    buf_free(&b);
    return true;
}

static bool cmd_retr(struct pop3d_session *s, const struct pop3_command *cmd)
{
    if (msg_get(s, cmd->msg) == NULL)
        return true;
    pop3d_transfer_start(s, cmd->msg - 1, cmd->verb == POP3_VERB_TOP, cmd->lines);
    return false;
}

static bool cmd_dele(struct pop3d_session *s, const struct pop3_command *cmd)
{
    struct pop3d_msg *m = msg_get(s, cmd->msg);
    if (m == NULL)
        return true;
    m->deleted = true;
    pop3d_reply_ok(s, "Message %u deleted (removed at QUIT)", (unsigned)cmd->msg);
    return true;
}

static bool cmd_noop(struct pop3d_session *s, const struct pop3_command *cmd)
{
    pop3d_reply_ok(s, "Still here");
    return true;
}

static bool cmd_rset(struct pop3d_session *s, const struct pop3_command *cmd)
{
    for (size_t i = 0; i < s->box->n; i++)
        s->box->msgs[i].deleted = false;
    size_t count;
    uint64_t octets;
    totals(s, &count, &octets);
    pop3d_reply_ok(s, "%zu messages (%llu octets)", count, (unsigned long long)octets);
    return true;
}
