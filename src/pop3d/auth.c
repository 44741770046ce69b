/* POP3 login: USER/PASS (RFC 1939 7) and AUTH PLAIN (RFC 5034, with the
 * initial response), verified in a worker, failures delayed and rate
 * limited per client address by the limiter SMTP AUTH shares. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "auth/limiter.h"
#include "auth/password.h"
#include "auth/users.h"
#include "daemon.h"
#include "net/conn.h"
#include "pop3d/session.h"
#include "util/log.h"
#include "util/worker.h"
#include "util/xmalloc.h"

/* Owned by the worker pool while it runs; s is cleared if the session ends. */
struct pop3d_auth_job {
    struct pop3d_session *s;
    char user[SASL_USER_MAX + 1];
    char password[SASL_PASSWORD_MAX + 1];
    char *hash;
    bool ok;
};

static uint64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

static void on_failure_delay(evutil_socket_t fd, short what, void *arg)
{
    struct pop3d_session *s = arg;
    if (s->state == POP3D_CLOSING)
        return;
    pop3d_reply_err(s, "[AUTH] Authentication failed");
    s->state = POP3D_AUTHORIZATION;
    pop3d_wait_command(s);
    pop3d_process_input(s);
}

static void verify_work(void *arg)
{
    struct pop3d_auth_job *job = arg;
    job->ok = password_verify(job->password, job->hash);
}

static void verify_done(void *arg)
{
    struct pop3d_auth_job *job = arg;
    struct pop3d_session *s = job->s;
    if (s == NULL)
        goto out;
    s->auth = NULL;
    if (s->state == POP3D_CLOSING)
        goto out; /* shut down meanwhile */
    if (job->ok) {
        auth_limiter_success(s->d->auth_limiter, s->ip);
        if (pop3d_mailbox_in_use(s, job->user)) {
            log_info("event=pop3_mailbox_in_use client=%s user=%s", s->ip, log_q(job->user));
            pop3d_reply_err(s, "[IN-USE] Mailbox is in use by another POP3 session");
            s->state = POP3D_AUTHORIZATION;
            pop3d_wait_command(s);
            pop3d_process_input(s);
            goto out;
        }
        log_info("event=auth_ok client=%s user=%s service=%s", s->ip, log_q(job->user),
                 service_name(s->service));
        pop3d_open_mailbox(s, job->user); /* replies once the mailbox is read */
        goto out;
    }
    bool locked;
    unsigned delay = auth_limiter_failure(s->d->auth_limiter, s->d->conf, s->ip, now_ms(), &locked);
    /* The line fail2ban and its kin look for. */
    log_warn("event=auth_failed client=%s user=%s service=%s", s->ip, log_q(job->user),
             service_name(s->service));
    if (locked) {
        log_warn("event=auth_lockout client=%s seconds=%u", s->ip,
                 s->d->conf->auth_lockout_ms / 1000);
        pop3d_close(s, "[SYS/TEMP] Too many failed logins from your address, try again later");
        goto out;
    }
    if (s->auth_timer == NULL)
        s->auth_timer = evtimer_new(s->d->base, on_failure_delay, s);
    struct timeval tv = {.tv_sec = delay / 1000, .tv_usec = (delay % 1000) * 1000};
    evtimer_add(s->auth_timer, &tv);
out:
    OPENSSL_cleanse(job->password, sizeof(job->password));
    free(job->hash);
    free(job);
}

/* Refuses a locked-out address before any password is checked. */
static bool locked_out(struct pop3d_session *s)
{
    uint64_t left = auth_limiter_locked(s->d->auth_limiter, s->ip, now_ms());
    if (left == 0)
        return false;
    log_warn("event=auth_refused client=%s reason=lockout seconds_left=%llu service=pop3", s->ip,
             (unsigned long long)(left / 1000));
    pop3d_close(s, "[SYS/TEMP] Too many failed logins from your address, try again later");
    return true;
}

static void start_verify(struct pop3d_session *s, const char *user, const char *password)
{
    struct pop3d_auth_job *job = xcalloc(1, sizeof(*job));
    job->s = s;
    snprintf(job->user, sizeof(job->user), "%s", user);
    address_lower(job->user);
    snprintf(job->password, sizeof(job->password), "%s", password);
    /* Only a mailbox whose path is safe can log in; anything else is
     * verified against the dummy hash, as an unknown user is. */
    const char *hash =
        address_mailbox_safe(job->user) ? user_table_password_hash(s->d->users, job->user) : NULL;
    job->hash = hash ? xstrdup(hash) : NULL;
    s->auth = job;
    s->state = POP3D_AUTH_CHECK;
    worker_pool_submit(s->d->workers, verify_work, verify_done, job);
}

bool pop3d_cmd_user(struct pop3d_session *s, const struct pop3_command *cmd)
{
    if (cmd->arg_len > SASL_USER_MAX) {
        pop3d_reply_err(s, "User name too long");
        pop3d_bad_command(s);
        return s->state != POP3D_CLOSING;
    }
    memcpy(s->user, cmd->arg, cmd->arg_len);
    s->user[cmd->arg_len] = '\0';
    s->has_user = true;
    /* The same answer for every name: USER reveals nothing. */
    pop3d_reply_ok(s, "Send PASS");
    return true;
}

bool pop3d_cmd_pass(struct pop3d_session *s, const struct pop3_command *cmd)
{
    if (!s->has_user) {
        pop3d_reply_err(s, "Send USER first");
        pop3d_bad_command(s);
        return s->state != POP3D_CLOSING;
    }
    s->has_user = false; /* a failed PASS starts over at USER (RFC 1939 7) */
    if (locked_out(s))
        return false;
    if (cmd->arg_len > SASL_PASSWORD_MAX) {
        pop3d_reply_err(s, "[AUTH] Authentication failed");
        return true;
    }
    char password[SASL_PASSWORD_MAX + 1];
    memcpy(password, cmd->arg, cmd->arg_len);
    password[cmd->arg_len] = '\0';
    start_verify(s, s->user, password);
    OPENSSL_cleanse(password, sizeof(password));
    OPENSSL_cleanse(s->user, sizeof(s->user));
    return false;
}

/* Decodes one PLAIN response and starts the check, or replies why not. */
static bool plain_response(struct pop3d_session *s, const char *data, size_t len)
{
    if (len == 1 && data[0] == '*') {
        s->state = POP3D_AUTHORIZATION;
        pop3d_reply_err(s, "Authentication cancelled");
        return true;
    }
    struct sasl_creds creds;
    enum sasl_result r = sasl_plain_decode(data, len, &creds);
    if (r != SASL_OK) {
        OPENSSL_cleanse(&creds, sizeof(creds));
        s->state = POP3D_AUTHORIZATION;
        if (r == SASL_BAD_BASE64)
            pop3d_reply_err(s, "Invalid base64 in authentication data");
        else
            pop3d_reply_err(s, "Malformed authentication data: %s", sasl_result_text(r));
        pop3d_bad_command(s);
        return s->state != POP3D_CLOSING;
    }
    if (creds.authzid[0] && strcasecmp(creds.authzid, creds.user) != 0) {
        OPENSSL_cleanse(&creds, sizeof(creds));
        s->state = POP3D_AUTHORIZATION;
        pop3d_reply_err(s, "[AUTH] Acting as another user (authzid) is not allowed");
        return true;
    }
    start_verify(s, creds.user, creds.password);
    OPENSSL_cleanse(&creds, sizeof(creds));
    return false;
}

bool pop3d_auth_response(struct pop3d_session *s, const char *line, size_t len)
{
    return plain_response(s, line, len);
}

bool pop3d_cmd_auth(struct pop3d_session *s, const struct pop3_command *cmd)
{
    if (cmd->arg_len == 0) {
        /* "AUTH" alone: the mechanism list, as many clients expect. */
        conn_printf(s->conn, "+OK Mechanisms follow\r\nPLAIN\r\n.\r\n");
        return true;
    }
    if (cmd->arg_len != 5 || strncasecmp(cmd->arg, "PLAIN", 5) != 0) {
        pop3d_reply_err(s, "Unsupported authentication mechanism (use PLAIN)");
        return true;
    }
    if (locked_out(s))
        return false;
    s->has_user = false;
    if (cmd->initial) {
        /* RFC 5034 4: "=" is an empty initial response. */
        size_t len = cmd->initial_len == 1 && cmd->initial[0] == '=' ? 0 : cmd->initial_len;
        return plain_response(s, cmd->initial, len);
    }
    s->state = POP3D_SASL;
    conn_write(s->conn, "+ \r\n", 4);
    return true;
}

void pop3d_auth_cleanup(struct pop3d_session *s)
{
    if (s->auth) {
        s->auth->s = NULL;
        s->auth = NULL;
    }
    if (s->auth_timer) {
        event_free(s->auth_timer);
        s->auth_timer = NULL;
    }
    OPENSSL_cleanse(s->user, sizeof(s->user));
}
