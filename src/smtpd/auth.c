/* SMTP AUTH (RFC 4954): PLAIN and LOGIN, only under TLS, verified in a
 * worker, failures delayed and rate limited per client address. */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "auth/login.h"
#include "daemon.h"
#include "net/conn.h"
#include "proto/sasl.h"
#include "smtpd/session.h"
#include "util/log.h"
#include "util/xmalloc.h"

enum { AUTH_MECH_PLAIN = 1, AUTH_MECH_LOGIN_USER, AUTH_MECH_LOGIN_PASS };

bool smtpd_auth_offered(const struct smtpd_session *s)
{
    if (s->service == SERVICE_SMTP)
        return s->d->conf->smtp_auth;
    return s->service == SERVICE_SUBMISSION || s->service == SERVICE_SUBMISSIONS;
}

static void auth_finish(struct smtpd_session *s)
{
    s->state = s->auth_return_state;
    s->auth_mech = 0;
    OPENSSL_cleanse(s->auth_login_user, sizeof(s->auth_login_user));
    smtpd_wait_command(s);
}

static void login_done(void *arg, enum login_result result, const char *user)
{
    struct smtpd_session *s = arg;
    s->login = NULL;
    if (result == LOGIN_LOCKED) {
        smtpd_close(s, 421, "4.7.0", "Too many failed logins from your address, try later");
        return;
    }
    if (result == LOGIN_OK) {
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
    s->login = login_start(s->d, s->ip, s->service, user, password, login_done, s);
}

static void reply_sasl_error(struct smtpd_session *s, enum sasl_result r)
{
    if (r == SASL_BAD_BASE64)
        smtpd_reply(s, 501, "5.5.2", "Invalid base64 in authentication data");
    else
        smtpd_reply(s, 501, "5.5.2", "Malformed authentication data: %s", sasl_result_text(r));
    auth_finish(s);
    smtpd_bad_command(s);
}

/* Handles one base64 response for the current mechanism step. */
static bool auth_step(struct smtpd_session *s, const char *data, size_t len)
{
    if (len == 1 && data[0] == '*') {
        smtpd_reply(s, 501, "5.0.0", "Authentication cancelled");
        auth_finish(s);
        return true;
    }
    enum sasl_result r;
    switch (s->auth_mech) {
    case AUTH_MECH_PLAIN: {
        struct sasl_creds creds;
        r = sasl_plain_decode(data, len, &creds);
        if (r != SASL_OK) {
            OPENSSL_cleanse(&creds, sizeof(creds));
            reply_sasl_error(s, r);
            return s->state != SMTPD_CLOSING;
        }
        if (creds.authzid[0] && strcasecmp(creds.authzid, creds.user) != 0) {
            OPENSSL_cleanse(&creds, sizeof(creds));
            smtpd_reply(s, 535, "5.7.8", "Acting as another user (authzid) is not allowed");
            auth_finish(s);
            return true;
        }
        start_verify(s, creds.user, creds.password);
        OPENSSL_cleanse(&creds, sizeof(creds));
        return false;
    }
    case AUTH_MECH_LOGIN_USER:
        r = sasl_login_decode(data, len, s->auth_login_user, sizeof(s->auth_login_user));
        if (r != SASL_OK) {
            reply_sasl_error(s, r);
            return s->state != SMTPD_CLOSING;
        }
        s->auth_mech = AUTH_MECH_LOGIN_PASS;
        smtpd_reply(s, 334, NULL, "UGFzc3dvcmQ6"); /* "Password:" */
        return true;
    case AUTH_MECH_LOGIN_PASS: {
        char password[SASL_PASSWORD_MAX + 1];
        r = sasl_login_decode(data, len, password, sizeof(password));
        if (r != SASL_OK) {
            OPENSSL_cleanse(password, sizeof(password));
            reply_sasl_error(s, r);
            return s->state != SMTPD_CLOSING;
        }
        start_verify(s, s->auth_login_user, password);
        OPENSSL_cleanse(password, sizeof(password));
        return false;
    }
    }
    return true;
}

bool smtpd_auth_response(struct smtpd_session *s, const char *line, size_t len)
{
    return auth_step(s, line, len);
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
    if (login_lockout_left(s->d, s->ip, s->service)) {
        smtpd_close(s, 421, "4.7.0", "Too many failed logins from your address, try later");
        return false;
    }
    const char *sp = memchr(cmd->args, ' ', cmd->args_len);
    size_t mlen = sp ? (size_t)(sp - cmd->args) : cmd->args_len;
    const char *initial = sp ? sp + 1 : NULL;
    size_t ilen = sp ? cmd->args_len - mlen - 1 : 0;
    s->auth_return_state = s->state;
    if (mlen == 5 && strncasecmp(cmd->args, "PLAIN", 5) == 0) {
        s->auth_mech = AUTH_MECH_PLAIN;
    } else if (mlen == 5 && strncasecmp(cmd->args, "LOGIN", 5) == 0) {
        s->auth_mech = AUTH_MECH_LOGIN_USER;
    } else {
        smtpd_reply(s, 504, "5.5.4", "Unrecognized authentication type (use PLAIN or LOGIN)");
        return true;
    }
    s->state = SMTPD_AUTH;
    if (initial) {
        /* RFC 4954 4: "=" is an empty initial response. */
        if (ilen == 1 && initial[0] == '=')
            ilen = 0;
        return auth_step(s, initial, ilen);
    }
    if (s->auth_mech == AUTH_MECH_PLAIN)
        conn_write(s->conn, "334 \r\n", 6);
    else
        smtpd_reply(s, 334, NULL, "VXNlcm5hbWU6"); /* "Username:" */
    return true;
}

void smtpd_auth_cleanup(struct smtpd_session *s)
{
    login_cancel(&s->login);
    OPENSSL_cleanse(s->auth_login_user, sizeof(s->auth_login_user));
    free(s->auth_user);
    s->auth_user = NULL;
}
