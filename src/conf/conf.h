/*
 * conf: the configuration file (INI, parsed with libinih) turned into one
 * immutable struct conf. conf_load() (or conf_load_string(), on text in
 * memory) validates every key and reports the
 * first problems as "FILE:LINE: [section] key: reason" in err_r; unknown
 * sections and keys are errors, so a typo never silently changes behaviour.
 * Relative paths are resolved against the configuration file's directory.
 */
#ifndef POSTERN_CONF_CONF_H
#define POSTERN_CONF_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

enum service {
    SERVICE_SMTP,
    SERVICE_SUBMISSION,
    SERVICE_SUBMISSIONS,
    SERVICE_POP3,
    SERVICE_POP3S,
    SERVICE_IMAP,
    SERVICE_IMAPS,
};
#define SERVICE_COUNT 7

/* The services whose connections start with TLS (no greeting in clear). */
static inline int service_implicit_tls(enum service s)
{
    return s == SERVICE_SUBMISSIONS || s == SERVICE_POP3S || s == SERVICE_IMAPS;
}

struct conf_listen {
    enum service service;
    char *host; /* NULL for a unix socket */
    char *port;
    char *unix_path;
};

/* [dkim] DOMAIN = SELECTOR:KEYFILE: the key that signs mail from DOMAIN. */
struct conf_dkim {
    char *domain; /* lower case */
    char *selector;
    char *key_file; /* resolved against the configuration file's directory */
    unsigned line;  /* where it was set, for error messages */
};

enum conf_tls_policy { CONF_TLS_MAY, CONF_TLS_ENCRYPT, CONF_TLS_VERIFY };

struct conf {
    char *path;
    char *hostname;
    char *data_dir;
    char *user;

    struct conf_listen *listens;
    size_t nlistens;

    char *tls_cert;
    char *tls_key;
    unsigned tls_cert_line, tls_key_line; /* where they were set (0: not set) */

    char **local_domains; /* lower case */
    size_t nlocal_domains;
    char *users_file;
    char *aliases_file;
    unsigned users_file_line, aliases_file_line; /* where they were set (0: the default) */

    uint64_t message_size;
    unsigned recipients;
    unsigned connections;
    unsigned connections_per_ip;
    /* [limits] connections_SERVICE: each listener's share of connections, so
     * that one service (port 25) cannot take all of them. Set by conf_load:
     * 3/4 of connections for smtp, 1/4 for each other service by default. */
    unsigned connections_service[SERVICE_COUNT];
    unsigned bad_commands;
    unsigned max_hops;       /* Received: fields in a message before 554 5.4.6 */
    unsigned error_delay_ms; /* pause after an unknown user past half bad_commands */

    /* [smtpd]; all durations in milliseconds */
    unsigned greeting_delay_ms;
    unsigned command_timeout_ms;
    unsigned data_timeout_ms;
    unsigned workers;
    unsigned shutdown_grace_ms; /* [server] shutdown_grace */
    bool smtp_auth;             /* offer AUTH on the smtp (MX) listener too */

    /* [pop3] */
    bool pop3_allow_plaintext_auth; /* USER/PASS and AUTH before STLS */
    unsigned pop3_timeout_ms;       /* inactivity (RFC 1939 3: at least 10 minutes) */

    /* [imap]; durations in milliseconds */
    bool imap_allow_plaintext_auth; /* LOGIN and AUTHENTICATE before STARTTLS */
    unsigned imap_login_timeout_ms; /* before login (RFC 9051 5.4: at least 1 minute) */
    unsigned imap_timeout_ms;       /* after login (RFC 9051 5.4: at least 30 minutes) */
    unsigned imap_idle_timeout_ms;  /* in IDLE (RFC 2177: re-issue at least every 29 min) */
    size_t imap_line_max;           /* a command's text, literals excluded */
    uint64_t imap_quota;            /* storage per mailbox in octets (QUOTA); 0: none */

    /* [auth] */
    unsigned auth_failure_delay_ms; /* reply delay after one failure; grows */
    unsigned auth_failure_limit;    /* failures from one address before lockout */
    unsigned auth_lockout_ms;       /* how long that address is refused */

    /* [relay] */
    char *resolver;
    unsigned relay_port;
    char *smarthost;
    char *smarthost_user; /* AUTH PLAIN to the smarthost (only over TLS), or NULL */
    char *smarthost_password;
    /* TLS to the smarthost: VERIFY (default) checks chain and name against
     * ca_file (NULL: the system store); ENCRYPT needs TLS, unverified; MAY
     * is opportunistic, like direct MX delivery. */
    enum conf_tls_policy smarthost_tls;
    char *relay_ca_file;
    /* SRS for forwarded mail: on unless "srs = no"; the domain defaults to
     * the first local domain. */
    bool srs;
    char *srs_domain;
    unsigned *retry_ms;
    size_t nretry;
    uint64_t queue_lifetime_ms;
    uint64_t relay_delay_warning_ms;       /* 0: no delay warnings */
    unsigned relay_connections;            /* outbound sessions in all */
    unsigned relay_connections_per_domain; /* to one destination */
    unsigned relay_dns_timeout_ms;
    /* outbound time-outs (RFC 5321 4.5.3.2), in milliseconds */
    unsigned relay_connect_timeout_ms;
    unsigned relay_greeting_timeout_ms;
    unsigned relay_command_timeout_ms; /* EHLO, HELO, STARTTLS, MAIL, RCPT, RSET */
    unsigned relay_data_init_timeout_ms;
    unsigned relay_data_block_timeout_ms;
    unsigned relay_data_done_timeout_ms;

    /* [dkim] */
    struct conf_dkim *dkim;
    size_t ndkim;
    /* [mailauth] */
    bool mailauth_checks; /* SPF/DKIM/DMARC on the smtp listener (default yes) */
    bool spf_reject;      /* refuse mail whose SPF result is fail (default no) */
    bool dmarc_reject;    /* refuse DMARC failures under p=reject, 550 5.7.1 (default yes) */
};

const char *service_name(enum service s);

/* Returns NULL and fills err_r (one problem per line) on failure. A key
 * set twice in one section is an error ("duplicate key"), except those
 * whose values add up: [domains] local, the [listen] services, and [dkim]
 * (one key per domain). */
struct conf *conf_load(const char *path, struct buf *err_r);
/* The same, over text already in memory (len octets, NUL not needed);
 * path names it in messages and anchors relative paths. */
struct conf *conf_load_string(const char *path, const char *text, size_t len, struct buf *err_r);
void conf_free(struct conf **conf);

/* conf_mailbox.c: the [pop3] and [imap] keys. conf_mailbox_key returns
 * NULL, or why value is refused (the key is checked against the section). */
void conf_mailbox_defaults(struct conf *c);
const char *conf_mailbox_key(struct conf *c, const char *section, const char *key,
                             const char *value);

bool conf_is_local_domain(const struct conf *conf, const char *domain);

/* Value parsers, exposed for unit tests. Return false on a malformed value. */
bool conf_parse_size(const char *s, uint64_t *out_r);
bool conf_parse_duration_ms(const char *s, uint64_t *out_r);

/* Which file to use: -c argument, $POSTERN_CONF, ./postern.conf, /etc/postern/postern.conf */
const char *conf_default_path(const char *cli_path);

#endif
