/* The [pop3] and [imap] sections of the configuration: the keys of the two
 * mailbox-access services, their defaults and their checks, kept apart from
 * conf.c's general keys. */
#include <stddef.h>
#include <strings.h>

#include "conf/conf.h"
#include "conf/conf_value.h"

/* RFC 9051 5.4: an autologout timer of at least 30 minutes after login
 * (and at least 1 minute before); RFC 2177: clients re-issue IDLE at least
 * every 29 minutes, so a shorter IDLE timeout cuts them off. */
#define IMAP_TIMEOUT_MIN_MS       (30u * 60 * 1000)
#define IMAP_LOGIN_TIMEOUT_MIN_MS (60u * 1000)
#define IMAP_IDLE_TIMEOUT_MIN_MS  (29u * 60 * 1000)
#define IMAP_LINE_MIN             1024
#define IMAP_LINE_LIMIT           (16u * 1024 * 1024)

void conf_mailbox_defaults(struct conf *c)
{
    c->pop3_timeout_ms = 10 * 60 * 1000;
    c->imap_login_timeout_ms = IMAP_LOGIN_TIMEOUT_MIN_MS;
    c->imap_timeout_ms = IMAP_TIMEOUT_MIN_MS;
    c->imap_idle_timeout_ms = IMAP_TIMEOUT_MIN_MS;
    c->imap_line_max = 64 * 1024; /* Dovecot's imap_max_line_length */
}

static const char *parse_timeout(const char *value, unsigned min_ms, unsigned *out_r,
                                 const char *why)
{
    unsigned ms;
    if (!conf_parse_ms(value, &ms) || ms == 0)
        return "expected a duration such as 30m";
    if (ms < min_ms)
        return why;
    *out_r = ms;
    return NULL;
}

const char *conf_mailbox_key(struct conf *c, const char *section, const char *key,
                             const char *value)
{
    bool pop3 = strcasecmp(section, "pop3") == 0;
#define KEY(k) (strcasecmp(key, k) == 0)
    if (pop3 && KEY("allow_plaintext_auth"))
        return conf_parse_bool(value, &c->pop3_allow_plaintext_auth) ? NULL : "expected yes or no";
    if (pop3 && KEY("timeout")) {
        if (!conf_parse_ms(value, &c->pop3_timeout_ms) || c->pop3_timeout_ms == 0)
            return "expected a duration such as 10m (RFC 1939 asks for at least 10 minutes)";
        return NULL;
    }
    if (pop3)
        return "unknown key (expected allow_plaintext_auth or timeout)";
    if (KEY("allow_plaintext_auth"))
        return conf_parse_bool(value, &c->imap_allow_plaintext_auth) ? NULL : "expected yes or no";
    if (KEY("timeout"))
        return parse_timeout(value, IMAP_TIMEOUT_MIN_MS, &c->imap_timeout_ms,
                             "must be at least 30m (RFC 9051 5.4)");
    if (KEY("login_timeout"))
        return parse_timeout(value, IMAP_LOGIN_TIMEOUT_MIN_MS, &c->imap_login_timeout_ms,
                             "must be at least 1m (RFC 9051 5.4)");
    if (KEY("idle_timeout"))
        return parse_timeout(value, IMAP_IDLE_TIMEOUT_MIN_MS, &c->imap_idle_timeout_ms,
                             "must be at least 29m (RFC 2177: clients re-issue IDLE every 29 "
                             "minutes)");
    if (KEY("line_max")) {
        uint64_t n;
        if (!conf_parse_size(value, &n) || n < IMAP_LINE_MIN || n > IMAP_LINE_LIMIT)
            return "expected a size from 1k to 16M, such as 64k";
        c->imap_line_max = (size_t)n;
        return NULL;
    }
    if (KEY("quota")) {
        /* Enforced at APPEND, COPY and delivery; the users file can give a
         * mailbox its own ("address:hash:quota=SIZE"). */
        if (!conf_parse_size(value, &c->imap_quota))
            return "expected a size such as 1G (0: no limit)";
        return NULL;
    }
#undef KEY
    return "unknown key (expected allow_plaintext_auth, timeout, login_timeout, idle_timeout, "
           "line_max or quota)";
}
