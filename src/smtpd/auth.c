/* SMTP AUTH (RFC 4954): PLAIN and LOGIN, only under TLS, verified in a
 * worker, failures delayed and rate limited per client address. What the
 * client's lines mean is proto/sasl_step.h; this file holds when AUTH is
 * allowed and the SMTP replies. */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "auth/check.h"
#include "daemon.h"
#include "net/conn.h"
#include "proto/sasl_step.h"
#include "smtpd/session.h"
#include "snapshot.h"
#include "util/log.h"
#include "util/xmalloc.h"

bool smtpd_auth_offered(const struct smtpd_session *s)
{
    if (s->service == SERVICE_SMTP)
        return s->snap->conf->smtp_auth;
    return s->service == SERVICE_SUBMISSION || s->service == SERVICE_SUBMISSIONS;
}

static void auth_finish(struct smtpd_session *s)
{
    s->state = s->auth_return_state;
    sasl_step_reset(&s->sasl);
    smtpd_wait_command(s);
}

static void check_done(void *arg, enum auth_check_result result, const char *user)
{
    struct smtpd_session *s = arg;
    s->check = NULL;
    if (result == AUTH_CHECK_LOCKED) {
        smtpd_close(s, 421, "4.7.0", "Too many failed logins from your address, try later");
        return;
    }
    if (result == AUTH_CHECK_OK) {
        free(s->auth_user);
        s->auth_user = xstrdup(user);
        smtpd_reply(s, 235, "2.7.0", "Authentication successful");
    } else {
        smtpd_reply(s, 535, "5.7.8", "Authentication credentials invalid");
    }
    auth_finish(s);
    smtpd_process_input(s);
}

static void start_verify(struct smtpd_session *s, const char *user, const char *password)
{
    s->state = SMTPD_AUTH_CHECK;
    s->check = auth_check_start(s->d, s->ip, s->service, user, password, check_done, s);
}

/* Answers one result of the SASL exchange; returns false when input
 * processing must stop (the password is being checked, or closing). */
static bool auth_result(struct smtpd_session *s, enum sasl_step_result r)
{
    switch (r) {
    case SASL_STEP_CHALLENGE:
        if (s->sasl.challenge[0] == '\0')
            conn_write(s->conn, "334 \r\n", 6);
        else
            smtpd_reply(s, 334, NULL, "%s", s->sasl.challenge);
        return true;
    case SASL_STEP_READY:
        start_verify(s, s->sasl.creds.user, s->sasl.creds.password);
        sasl_step_reset(&s->sasl);
        return false;
    case SASL_STEP_CANCELLED:
        smtpd_reply(s, 501, "5.0.0", "Authentication cancelled");
        auth_finish(s);
        return true;
    case SASL_STEP_ERROR:
        break;
    }
    if (s->sasl.error == SASL_AUTHZID) {
        smtpd_reply(s, 535, "5.7.8", "Acting as another user (authzid) is not allowed");
        auth_finish(s);
        return true;
    }
    if (s->sasl.error == SASL_BAD_BASE64)
        smtpd_reply(s, 501, "5.5.2", "Invalid base64 in authentication data");
    else
        smtpd_reply(s, 501, "5.5.2", "Malformed authentication data: %s",
                    sasl_result_text(s->sasl.error));
    auth_finish(s);
    smtpd_bad_command(s);
    return s->state != SMTPD_CLOSING;
}

bool smtpd_auth_response(struct smtpd_session *s, const char *line, size_t len)
{
    return auth_result(s, sasl_step_feed(&s->sasl, line, len));
}

bool smtpd_cmd_auth(struct smtpd_session *s, const struct smtp_command *cmd)
{
    if (!smtpd_auth_offered(s)) {
        smtpd_reply(s, 503, "5.5.1", "AUTH is not offered on this service");
        return true;
    }
    if (conn_tls(s->conn) == NULL) {
        smtpd_reply(s, 538, "5.7.11",
                    "Encryption required for requested authentication mechanism: send "
                    "STARTTLS first");
        return true;
    }
    if (s->auth_user) {
        smtpd_reply(s, 503, "5.5.1", "Already authenticated");
        return true;
    }
    if (auth_check_lockout_left(s->d, s->ip, s->service)) {
        smtpd_close(s, 421, "4.7.0", "Too many failed logins from your address, try later");
        return false;
    }
    const char *sp = memchr(cmd->args, ' ', cmd->args_len);
    size_t mlen = sp ? (size_t)(sp - cmd->args) : cmd->args_len;
    const char *initial = sp ? sp + 1 : NULL;
    size_t ilen = sp ? cmd->args_len - mlen - 1 : 0;
    enum sasl_step_result r = sasl_step_start(&s->sasl, SASL_MECH_PLAIN | SASL_MECH_LOGIN,
                                              cmd->args, mlen, initial, ilen);
    if (r == SASL_STEP_ERROR && s->sasl.error == SASL_UNKNOWN_MECH) {
        smtpd_reply(s, 504, "5.5.4", "Unrecognized authentication type (use PLAIN or LOGIN)");
        return true;
    }
    s->auth_return_state = s->state;
    s->state = SMTPD_AUTH;
    return auth_result(s, r);
}

void smtpd_auth_cleanup(struct smtpd_session *s)
{
    auth_check_cancel(&s->check);
    sasl_step_reset(&s->sasl);
    free(s->auth_user);
    s->auth_user = NULL;
}
