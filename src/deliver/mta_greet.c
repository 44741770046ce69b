/* The start of an outbound session: greeting, EHLO (HELO fallback),
 * STARTTLS (RFC 3207) as the destination's policy says, then the first
 * transaction; AUTH PLAIN to a smarthost that wants it, only over TLS that
 * was verified (or that [relay] smarthost_tls = encrypt accepts unverified).
 *
 * Policies (dest->tls_mode): MAY is opportunistic (MX hosts, RFC 7435):
 * any certificate is accepted and logged, a failed handshake is retried in
 * plaintext. ENCRYPT needs TLS, any certificate. VERIFY needs TLS with a
 * certificate that verifies for the destination's name. */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "conf/conf.h"
#include "daemon.h"
#include "deliver/mta_session_int.h"
#include "net/conn_client.h"
#include "util/log.h"

static void mta_greet_send_ehlo(struct mta_session *s)
{
    s->state = S_EHLO;
    mta_session_send_line(s, "EHLO %s", mta_session_conf(s)->hostname);
    mta_session_arm(s, mta_session_conf(s)->relay_command_timeout_ms);
}

static const char *tls_mode_name(enum conf_tls_policy m)
{
    return m == CONF_TLS_VERIFY ? "verify" : m == CONF_TLS_ENCRYPT ? "encrypt" : "may";
}

/* The smarthost wants our credentials ([relay] smarthost_user). */
static bool needs_auth(const struct mta_session *s)
{
    const struct conf *conf = mta_session_conf(s);
    return s->dest->key[0] == '\0' && conf->smarthost && conf->smarthost_user;
}

static bool offers_plain(const struct smtp_ehlo *e)
{
    for (const char *p = e->auth; (p = strstr(p, "PLAIN")) != NULL; p += 5)
        if ((p == e->auth || p[-1] == ' ') && (p[5] == '\0' || p[5] == ' '))
            return true;
    return false;
}

/* AUTH PLAIN (RFC 4616), only inside TLS: a password is never sent in the
 * clear, whatever the server offers. */
static void greet_auth(struct mta_session *s)
{
    const struct conf *conf = mta_session_conf(s);
    if (!s->tls) {
        mta_session_fail(s,
                         "%s: TLS is unavailable, so the smarthost credentials were not sent "
                         "(AUTH needs STARTTLS)",
                         s->peer);
        return;
    }
    const char *unverified = conn_tls_verify_error(s->conn);
    if (!s->verified && s->dest->tls_mode != CONF_TLS_ENCRYPT) {
        /* Unverified TLS may be a man in the middle: it would get the
         * password. Only "encrypt" says the administrator accepts that. */
        mta_session_fail(s,
                         "%s: the TLS certificate was not verified (%s), so the smarthost "
                         "credentials were not sent (set [relay] smarthost_tls = verify)",
                         s->peer, unverified ? unverified : "unknown");
        return;
    }
    if (!offers_plain(&s->ehlo)) {
        mta_session_fail(s, "%s does not offer AUTH PLAIN", s->peer);
        return;
    }
    size_t ul = strlen(conf->smarthost_user), pl = strlen(conf->smarthost_password);
    unsigned char raw[2 + 2 * 255];
    raw[0] = '\0';
    memcpy(raw + 1, conf->smarthost_user, ul);
    raw[1 + ul] = '\0';
    memcpy(raw + 2 + ul, conf->smarthost_password, pl);
    char b64[4 * ((sizeof(raw) + 2) / 3) + 1];
    EVP_EncodeBlock((unsigned char *)b64, raw, (int)(2 + ul + pl));
    s->state = S_AUTH;
    mta_session_send_line(s, "AUTH PLAIN %s", b64);
    OPENSSL_cleanse(raw, sizeof(raw));
    OPENSSL_cleanse(b64, sizeof(b64));
    mta_session_arm(s, conf->relay_command_timeout_ms);
}

static void greet_ready(struct mta_session *s)
{
    enum conf_tls_policy mode = s->dest->tls_mode;
    if (!s->tls && !s->no_tls && s->ehlo.starttls && s->dest->tls_ctx) {
        s->state = S_STARTTLS;
        mta_session_send_line(s, "STARTTLS");
        mta_session_arm(s, mta_session_conf(s)->relay_command_timeout_ms);
        return;
    }
    if (!s->tls && mode != CONF_TLS_MAY) {
        /* Nothing is sent in plain text, the message included. */
        mta_session_fail(s, "TLS is required for smarthost %s ([relay] smarthost_tls = %s): %s",
                         s->peer, tls_mode_name(mode),
                         s->dest->tls_ctx == NULL ? "no TLS client context (see the start-up log)"
                         : s->no_tls              ? "it refused STARTTLS"
                                                  : "it does not offer STARTTLS");
        return;
    }
    if (needs_auth(s) && !s->authed) {
        greet_auth(s);
        return;
    }
    s->dest->next_addr = s->addr_idx;
    log_info("event=relay_session relay=%s tls=%s pipelining=%s", log_q(s->peer),
             s->tls ? "yes" : "no", s->ehlo.pipelining ? "yes" : "no");
    mta_session_txn_start(s);
}

static void greet_start_tls(struct mta_session *s)
{
    /* Plaintext that arrived after the 220 is an injection attempt
     * (CVE-2011-0411 in reverse): it is never read as a reply (the conn
     * drops it when TLS starts). */
    size_t early = conn_input_length(s->conn);
    if (early > 0)
        log_warn("event=relay_starttls_injection relay=%s octets=%zu", log_q(s->peer), early);
    /* A smarthost is verified under the name it was configured by; an MX
     * host's name is only logged against (opportunistic). */
    const char *host = s->dest->use_mx ? mta_session_addr(s)->host : s->dest->name;
    struct conn_tls_client params = {.sni = host, .verify_name = host};
    char err[256];
    if (!conn_tls_client_check(&params, err, sizeof(err))) {
        log_warn("event=relay_tls_name_refused relay=%s name=%s", log_q(s->peer), log_q(host));
        if (s->dest->tls_mode == CONF_TLS_VERIFY) {
            /* Without the name, verification would mean any CA's customer. */
            mta_session_fail(s, "cannot start TLS: %s", err);
            return;
        }
        params.sni = params.verify_name = NULL;
    }
    if (!conn_starttls_client(s->conn, s->dest->tls_ctx, &params, err, sizeof(err))) {
        mta_session_fail(s, "cannot start TLS: %s", err);
        return;
    }
    s->gen++;
    s->state = S_HANDSHAKE;
    mta_session_arm(s, mta_session_conf(s)->relay_command_timeout_ms);
}

static void greet_log_tls(struct mta_session *s)
{
    const char *verify_error = conn_tls_verify_error(s->conn);
    s->verified = verify_error == NULL;
    char subject[256];
    conn_tls_peer_subject(s->conn, subject, sizeof(subject));
    log_info("event=relay_tls relay=%s version=%s cipher=%s peer_subject=%s verified=%s policy=%s",
             log_q(s->peer), conn_tls_version(s->conn), log_q(conn_tls_cipher(s->conn)),
             log_q(subject), verify_error ? log_q(verify_error) : "yes",
             tls_mode_name(s->dest->tls_mode));
}

void mta_greet_reply(struct mta_session *s, const struct smtp_reply *r)
{
    struct buf b;
    buf_init(&b);
    smtp_reply_format(r, &b);
    switch (s->state) {
    case S_GREETING:
        if (r->code == 220)
            mta_greet_send_ehlo(s);
        else
            mta_session_fail(s, "%s refused the session: %s", s->peer, b.data);
        break;
    case S_EHLO:
        if (r->code == 250) {
            s->esmtp = true;
            smtp_reply_ehlo(r, &s->ehlo);
            greet_ready(s);
        } else if (r->code >= 500 && r->code != 554) {
            /* No ESMTP (RFC 5321 3.2): HELO and none of the extensions. */
            memset(&s->ehlo, 0, sizeof(s->ehlo));
            s->state = S_HELO;
            mta_session_send_line(s, "HELO %s", mta_session_conf(s)->hostname);
            mta_session_arm(s, mta_session_conf(s)->relay_command_timeout_ms);
        } else {
            mta_session_fail(s, "%s refused EHLO: %s", s->peer, b.data);
        }
        break;
    case S_HELO:
        if (r->code == 250)
            greet_ready(s);
        else
            mta_session_fail(s, "%s refused HELO: %s", s->peer, b.data);
        break;
    case S_STARTTLS:
        if (r->code == 220) {
            greet_start_tls(s);
        } else {
            /* Refused: carry on in plaintext if the policy allows it. */
            log_info("event=relay_starttls_refused relay=%s reply=%s", log_q(s->peer),
                     log_q(b.data));
            s->no_tls = true;
            greet_ready(s);
        }
        break;
    case S_AUTH:
        if (r->code == 235) {
            s->authed = true;
            log_info("event=relay_auth relay=%s user=%s", log_q(s->peer),
                     log_q(mta_session_conf(s)->smarthost_user));
            greet_ready(s);
        } else {
            mta_session_fail(s, "%s refused our credentials: %s", s->peer, b.data);
        }
        break;
    default:
        break;
    }
    buf_free(&b);
}

void mta_greet_tls_done(struct mta_session *s)
{
    if (s->state != S_HANDSHAKE)
        return;
    s->tls = true;
    greet_log_tls(s);
    smtp_reply_parser_init(&s->parser);
    mta_greet_send_ehlo(s); /* RFC 3207 4.2: forget what was learnt before TLS */
}

void mta_greet_tls_failed(struct mta_session *s, const char *why)
{
    if (s->dest->tls_mode != CONF_TLS_MAY) {
        if (s->dest->tls_mode == CONF_TLS_VERIFY && conn_tls_verify_failed(s->conn))
            mta_session_fail(s, "TLS certificate verification failed for smarthost %s: %s", s->peer,
                             conn_tls_verify_error(s->conn));
        else
            mta_session_fail(s, "TLS handshake with smarthost %s failed: %s", s->peer, why);
        return;
    }
    log_warn("event=relay_tls_failed relay=%s error=%s; retrying without TLS", log_q(s->peer),
             log_q(why));
    /* Opportunistic: the same address again, in plaintext. */
    mta_session_close_conn(s);
    s->no_tls = true;
    mta_session_connect(s);
}
