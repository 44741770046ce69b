/* The configuration file: parsing each [section] key into struct conf,
 * with defaults, validation and "FILE:LINE: [section] key: reason" errors. */
#include "conf/conf.h"
#include "conf/conf_value.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <ini.h>

#include "dns/resolver.h"

#include "util/strmap.h"
#include "util/xmalloc.h"

struct parse_state {
    struct conf *conf;
    struct buf *err;
    const char *path;
    const char *dir;
    unsigned line;
    int errors;
    struct strmap *seen; /* "section]key" (lower case) -> the line it was set on */
};

#define CONF_TEXT_MAX (4 * 1024 * 1024)

const char *service_name(enum service s)
{
    switch (s) {
    case SERVICE_SMTP:
        return "smtp";
    case SERVICE_SUBMISSION:
        return "submission";
    case SERVICE_SUBMISSIONS:
        return "submissions";
    case SERVICE_POP3:
        return "pop3";
    case SERVICE_POP3S:
        return "pop3s";
    case SERVICE_IMAP:
        return "imap";
    case SERVICE_IMAPS:
        return "imaps";
    }
    return "?";
}

static void conf_error(struct parse_state *st, const char *section, const char *key,
                       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void conf_error(struct parse_state *st, const char *section, const char *key,
                       const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (key)
        buf_printf(st->err, "%s:%u: [%s] %s: %s\n", st->path, st->line, section, key, msg);
    else
        buf_printf(st->err, "%s:%u: %s\n", st->path, st->line, msg);
    st->errors++;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* Splits a comma-separated value into trimmed, non-empty items. */
static char **split_list(const char *value, size_t *n_r)
{
    char *copy = xstrdup(value);
    char **items = NULL;
    size_t n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *t = trim(tok);
        if (*t == '\0')
            continue;
        items = xrealloc(items, (n + 1) * sizeof(*items));
        items[n++] = xstrdup(t);
    }
    free(copy);
    *n_r = n;
    return items;
}

static void free_list(char **items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(items[i]);
    free(items);
}

static char *resolve_path(const struct parse_state *st, const char *value)
{
    if (value[0] == '/' || st->dir == NULL)
        return xstrdup(value);
    return xasprintf("%s/%s", st->dir, value);
}

/* A plain count: decimal digits only (no size suffixes). */
/* The service a [limits] connections_SERVICE key names, or -1. */
static int conf_limits_service(const char *name)
{
    for (int i = 0; i < SERVICE_COUNT; i++)
        if (strcasecmp(name, service_name((enum service)i)) == 0)
            return i;
    return -1;
}

/* Each service's share of [limits] connections: what the file says, else
 * 3/4 of the total for smtp and 1/4 for each other service, so that port 25
 * alone never takes the connections submission and POP3 users need. */
static void conf_limits_shares(struct conf *c, struct buf *err_r, int *errors)
{
    for (int i = 0; i < SERVICE_COUNT; i++) {
        unsigned *v = &c->connections_service[i];
        if (*v == 0) {
            *v = i == SERVICE_SMTP ? c->connections * 3 / 4 : c->connections / 4;
            if (*v == 0)
                *v = 1;
        } else if (*v > c->connections) {
            buf_printf(err_r, "%s: [limits] connections_%s: %u is more than connections (%u)\n",
                       c->path, service_name((enum service)i), *v, c->connections);
            (*errors)++;
        }
    }
}

static void set_str(char **field, char *value)
{
    free(*field);
    *field = value;
}

static bool add_listens(struct parse_state *st, enum service svc, const char *value)
{
    struct conf *c = st->conf;
    size_t n;
    char **items = split_list(value, &n);
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        struct conf_listen l = {.service = svc};
        const char *item = items[i];
        if (strncmp(item, "unix:", 5) == 0) {
            l.unix_path = resolve_path(st, item + 5);
        } else {
            const char *colon = strrchr(item, ':');
            if (colon == NULL || colon[1] == '\0') {
                conf_error(st, "listen", service_name(svc),
                           "'%s' is not host:port (use [::1]:25 for IPv6)", item);
                ok = false;
                continue;
            }
            const char *h = item;
            size_t hl = (size_t)(colon - item);
            if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
                h++;
                hl -= 2;
            }
            char *end;
            long port = strtol(colon + 1, &end, 10);
            if (*end || port < 0 || port > 65535) {
                conf_error(st, "listen", service_name(svc), "bad port in '%s'", item);
                ok = false;
                continue;
            }
            if (hl == 0) {
                conf_error(st, "listen", service_name(svc),
                           "'%s' has no host (use 0.0.0.0:PORT or [::]:PORT for all addresses)",
                           item);
                ok = false;
                continue;
            }
            l.host = xstrndup(h, hl);
            l.port = xstrdup(colon + 1);
        }
        c->listens = xrealloc(c->listens, (c->nlistens + 1) * sizeof(*c->listens));
        c->listens[c->nlistens++] = l;
    }
    free_list(items, n);
    return ok;
}

/* [dkim] DOMAIN = SELECTOR:KEYFILE */
static void add_dkim(struct parse_state *st, const char *key, const char *value)
{
    struct conf *c = st->conf;
    char *domain = xstrdup(key);
    for (char *p = domain; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    const char *colon = strchr(value, ':');
    size_t sl = colon ? (size_t)(colon - value) : 0;
    bool selector_ok = sl > 0 && sl <= 63;
    for (size_t i = 0; i < sl; i++)
        if (!isalnum((unsigned char)value[i]) && value[i] != '-' && value[i] != '_' &&
            value[i] != '.')
            selector_ok = false;
    if (!conf_valid_hostname(domain) || strchr(domain, '.') == NULL) {
        conf_error(st, "dkim", key, "'%s' is not a valid domain", key);
    } else if (!selector_ok || colon[1] == '\0') {
        conf_error(st, "dkim", key, "expected SELECTOR:KEYFILE, such as mail:dkim/%s.key", domain);
    } else {
        for (size_t i = 0; i < c->ndkim; i++)
            if (strcmp(c->dkim[i].domain, domain) == 0) {
                conf_error(st, "dkim", key, "a key for this domain is already set on line %u",
                           c->dkim[i].line);
                free(domain);
                return;
            }
        c->dkim = xrealloc(c->dkim, (c->ndkim + 1) * sizeof(*c->dkim));
        c->dkim[c->ndkim++] = (struct conf_dkim){.domain = domain,
                                                 .selector = xstrndup(value, sl),
                                                 .key_file = resolve_path(st, colon + 1),
                                                 .line = st->line};
        return;
    }
    free(domain);
}

/* The [relay] time-out keys and their fields. */
static unsigned *relay_timeout(struct conf *c, const char *key)
{
    static const struct {
        const char *key;
        size_t offset;
    } keys[] = {
        {"dns_timeout", offsetof(struct conf, relay_dns_timeout_ms)},
        {"connect_timeout", offsetof(struct conf, relay_connect_timeout_ms)},
        {"greeting_timeout", offsetof(struct conf, relay_greeting_timeout_ms)},
        {"command_timeout", offsetof(struct conf, relay_command_timeout_ms)},
        {"data_init_timeout", offsetof(struct conf, relay_data_init_timeout_ms)},
        {"data_block_timeout", offsetof(struct conf, relay_data_block_timeout_ms)},
        {"data_done_timeout", offsetof(struct conf, relay_data_done_timeout_ms)},
    };
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (strcasecmp(key, keys[i].key) == 0)
            return (unsigned *)((char *)c + keys[i].offset);
    return NULL;
}

static int on_key(void *user, const char *section, const char *key, const char *value)
{
    struct parse_state *st = user;
    struct conf *c = st->conf;
#define IS(s, k) (strcasecmp(section, s) == 0 && strcasecmp(key, k) == 0)
#define BAD(...)                                                                                   \
    do {                                                                                           \
        conf_error(st, section, key, __VA_ARGS__);                                                 \
        return 1;                                                                                  \
    } while (0)
    if (IS("server", "hostname")) {
        if (!conf_valid_hostname(value))
            BAD("'%s' is not a valid host name", value);
        set_str(&c->hostname, xstrdup(value));
    } else if (IS("server", "data_dir")) {
        if (*value == '\0')
            BAD("must not be empty");
        set_str(&c->data_dir, resolve_path(st, value));
    } else if (IS("server", "user")) {
        set_str(&c->user, xstrdup(value));
    } else if (IS("server", "shutdown_grace")) {
        if (!conf_parse_ms(value, &c->shutdown_grace_ms))
            BAD("expected a duration such as 30s");
    } else if (IS("server", "workers")) {
        if (!conf_parse_unsigned(value, 64, &c->workers) || c->workers == 0)
            BAD("expected a number of threads from 1 to 64");
    } else if (strcasecmp(section, "listen") == 0) {
        static const enum service svcs[] = {SERVICE_SMTP, SERVICE_SUBMISSION, SERVICE_SUBMISSIONS,
                                            SERVICE_POP3, SERVICE_POP3S,      SERVICE_IMAP,
                                            SERVICE_IMAPS};
        for (size_t i = 0; i < sizeof(svcs) / sizeof(svcs[0]); i++)
            if (strcasecmp(key, service_name(svcs[i])) == 0) {
                add_listens(st, svcs[i], value);
                return 1;
            }
        BAD("unknown service (expected smtp, submission, submissions, pop3, pop3s, imap or "
            "imaps)");
    } else if (IS("tls", "cert")) {
        set_str(&c->tls_cert, resolve_path(st, value));
        c->tls_cert_line = st->line;
    } else if (IS("tls", "key")) {
        set_str(&c->tls_key, resolve_path(st, value));
        c->tls_key_line = st->line;
    } else if (IS("domains", "local")) {
        /* Several "local =" lines add up, so long lists can be split. */
        size_t n;
        char **items = split_list(value, &n);
        for (size_t i = 0; i < n; i++) {
            for (char *p = items[i]; *p; p++)
                *p = (char)tolower((unsigned char)*p);
            if (!conf_valid_hostname(items[i])) {
                conf_error(st, section, key, "'%s' is not a valid domain", items[i]);
                free(items[i]);
                continue;
            }
            c->local_domains = xrealloc(c->local_domains, (c->nlocal_domains + 1) * sizeof(char *));
            c->local_domains[c->nlocal_domains++] = items[i];
        }
        free(items);
    } else if (IS("domains", "users_file")) {
        set_str(&c->users_file, resolve_path(st, value));
        c->users_file_line = st->line;
    } else if (IS("domains", "aliases_file")) {
        set_str(&c->aliases_file, resolve_path(st, value));
        c->aliases_file_line = st->line;
    } else if (IS("limits", "message_size")) {
        if (!conf_parse_size(value, &c->message_size) || c->message_size < 1024)
            BAD("expected a size such as 35M (at least 1K)");
    } else if (IS("limits", "recipients")) {
        if (!conf_parse_unsigned(value, 100000, &c->recipients) || c->recipients == 0)
            BAD("expected a number from 1 to 100000");
    } else if (IS("limits", "connections")) {
        if (!conf_parse_unsigned(value, 1000000, &c->connections) || c->connections == 0)
            BAD("expected a number from 1 to 1000000");
    } else if (IS("limits", "connections_per_ip")) {
        if (!conf_parse_unsigned(value, 1000000, &c->connections_per_ip) ||
            c->connections_per_ip == 0)
            BAD("expected a number from 1 to 1000000");
    } else if (strcasecmp(section, "limits") == 0 && strncasecmp(key, "connections_", 12) == 0 &&
               conf_limits_service(key + 12) >= 0) {
        unsigned *v = &c->connections_service[conf_limits_service(key + 12)];
        if (!conf_parse_unsigned(value, 1000000, v) || *v == 0)
            BAD("expected a number from 1 to 1000000");
    } else if (IS("limits", "error_delay")) {
        if (!conf_parse_ms(value, &c->error_delay_ms) || c->error_delay_ms > 60000)
            BAD("expected a duration up to 1m such as 1s (0: no delay)");
    } else if (IS("limits", "max_hops")) {
        if (!conf_parse_unsigned(value, 1000, &c->max_hops) || c->max_hops == 0)
            BAD("expected a number from 1 to 1000");
    } else if (IS("limits", "bad_commands")) {
        if (!conf_parse_unsigned(value, 1000, &c->bad_commands) || c->bad_commands == 0)
            BAD("expected a number from 1 to 1000");
    } else if (IS("smtpd", "greeting_delay")) {
        if (!conf_parse_ms(value, &c->greeting_delay_ms))
            BAD("expected a duration such as 500ms, 30s or 5m");
    } else if (IS("smtpd", "command_timeout")) {
        if (!conf_parse_ms(value, &c->command_timeout_ms) || c->command_timeout_ms == 0)
            BAD("expected a duration such as 30s or 5m");
    } else if (IS("smtpd", "data_timeout")) {
        if (!conf_parse_ms(value, &c->data_timeout_ms) || c->data_timeout_ms == 0)
            BAD("expected a duration such as 30s or 10m");
    } else if (IS("smtpd", "smtp_auth")) {
        if (!conf_parse_bool(value, &c->smtp_auth))
            BAD("expected yes or no");
    } else if (strcasecmp(section, "pop3") == 0 || strcasecmp(section, "imap") == 0) {
        const char *why = conf_mailbox_key(c, section, key, value);
        if (why)
            BAD("%s", why);
    } else if (IS("auth", "failure_delay")) {
        if (!conf_parse_ms(value, &c->auth_failure_delay_ms))
            BAD("expected a duration such as 1s");
    } else if (IS("auth", "failure_limit")) {
        if (!conf_parse_unsigned(value, 100000, &c->auth_failure_limit) ||
            c->auth_failure_limit == 0)
            BAD("expected a number from 1 to 100000");
    } else if (IS("auth", "lockout")) {
        if (!conf_parse_ms(value, &c->auth_lockout_ms))
            BAD("expected a duration such as 10m");
    } else if (IS("relay", "resolver")) {
        if (*value && !dns_resolver_server_valid(value))
            BAD("'%s' is not IP, IP:PORT or [IPv6]:PORT", value);
        set_str(&c->resolver, *value ? xstrdup(value) : NULL);
    } else if (IS("relay", "port")) {
        if (!conf_parse_unsigned(value, 65535, &c->relay_port) || c->relay_port == 0)
            BAD("expected a port number");
    } else if (IS("relay", "smarthost_user") || IS("relay", "smarthost_password")) {
        size_t n = strlen(value);
        bool bad = n == 0 || n > 255;
        for (const unsigned char *p = (const unsigned char *)value; *p && !bad; p++)
            bad = *p < 0x20 || *p == 0x7f;
        if (bad)
            BAD("expected 1 to 255 characters, no control characters");
        set_str(strcasecmp(key, "smarthost_user") == 0 ? &c->smarthost_user
                                                       : &c->smarthost_password,
                xstrdup(value));
    } else if (IS("relay", "smarthost")) {
        if (*value && !conf_valid_smarthost(value))
            BAD("'%s' is not host, host:port, [address]:port or [IPv6]:port", value);
        set_str(&c->smarthost, *value ? xstrdup(value) : NULL);
    } else if (IS("relay", "smarthost_tls")) {
        if (strcasecmp(value, "verify") == 0)
            c->smarthost_tls = CONF_TLS_VERIFY;
        else if (strcasecmp(value, "encrypt") == 0)
            c->smarthost_tls = CONF_TLS_ENCRYPT;
        else if (strcasecmp(value, "may") == 0)
            c->smarthost_tls = CONF_TLS_MAY;
        else
            BAD("expected verify, encrypt or may");
    } else if (IS("relay", "ca_file")) {
        char *path = *value ? resolve_path(st, value) : NULL;
        if (path && access(path, R_OK) != 0)
            conf_error(st, section, key, "cannot read %s: %s", path, strerror(errno));
        set_str(&c->relay_ca_file, path);
    } else if (IS("relay", "srs")) {
        if (!conf_parse_bool(value, &c->srs))
            BAD("expected yes or no");
    } else if (IS("relay", "srs_domain")) {
        if (!conf_valid_hostname(value) || strchr(value, '.') == NULL)
            BAD("'%s' is not a domain name", value);
        set_str(&c->srs_domain, xstrdup(value));
        for (char *p = c->srs_domain; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    } else if (IS("relay", "retry")) {
        size_t n;
        char **items = split_list(value, &n);
        free(c->retry_ms);
        c->retry_ms = xcalloc(n ? n : 1, sizeof(unsigned));
        c->nretry = 0;
        for (size_t i = 0; i < n; i++) {
            if (!conf_parse_ms(items[i], &c->retry_ms[c->nretry]) || c->retry_ms[c->nretry] == 0) {
                conf_error(st, section, key, "'%s' is not a duration", items[i]);
                continue;
            }
            c->nretry++;
        }
        free_list(items, n);
        if (c->nretry == 0)
            BAD("expected a list of durations such as 1m, 5m, 1h");
    } else if (IS("relay", "delay_warning")) {
        if (!conf_parse_duration_ms(value, &c->relay_delay_warning_ms))
            BAD("expected a duration such as 4h, or 0 for none");
    } else if (IS("relay", "queue_lifetime")) {
        if (!conf_parse_duration_ms(value, &c->queue_lifetime_ms) || c->queue_lifetime_ms == 0)
            BAD("expected a duration such as 5d");
    } else if (IS("relay", "connections")) {
        if (!conf_parse_unsigned(value, 100000, &c->relay_connections) || c->relay_connections == 0)
            BAD("expected a number from 1 to 100000");
    } else if (IS("relay", "connections_per_domain")) {
        if (!conf_parse_unsigned(value, 100000, &c->relay_connections_per_domain) ||
            c->relay_connections_per_domain == 0)
            BAD("expected a number from 1 to 100000");
    } else if (strcasecmp(section, "relay") == 0 && relay_timeout(c, key) != NULL) {
        unsigned *field = relay_timeout(c, key);
        if (!conf_parse_ms(value, field) || *field == 0)
            BAD("expected a duration such as 30s or 5m");
    } else if (strcasecmp(section, "dkim") == 0) {
        add_dkim(st, key, value);
    } else if (IS("mailauth", "checks")) {
        if (!conf_parse_bool(value, &c->mailauth_checks))
            BAD("expected yes or no");
    } else if (IS("mailauth", "spf_reject")) {
        if (!conf_parse_bool(value, &c->spf_reject))
            BAD("expected yes or no");
    } else if (IS("mailauth", "dmarc_reject")) {
        if (!conf_parse_bool(value, &c->dmarc_reject))
            BAD("expected yes or no");
    } else {
        BAD("unknown key");
    }
    return 1;
#undef IS
#undef BAD
}

/* The sections on_key knows. */
static const char *const known_sections[] = {"server", "listen", "tls",  "domains",
                                             "limits", "smtpd",  "auth", "relay",
                                             "pop3",   "imap",   "dkim", "mailauth"};

/* The configuration text being parsed, and the parse it feeds. */
struct text_stream {
    const char *p;
    size_t left;
    struct parse_state *st;
};

/* The reader for ini_parse_stream, over the text in memory. It counts lines
 * so that errors can name them, and refuses what libinih would silently
 * misread: lines it would cut at 199 octets, NUL octets (which would end a
 * line early), indented continuation lines (which replace the previous
 * value), and unknown [sections] even when they are empty. */
static char *counting_reader(char *str, int num, void *stream)
{
    struct text_stream *ts = stream;
    struct parse_state *st = ts->st;
    if (ts->left == 0)
        return NULL;
    const char *nl = memchr(ts->p, '\n', ts->left);
    size_t n = nl ? (size_t)(nl - ts->p) + 1 : ts->left;
    bool nul = memchr(ts->p, '\0', n) != NULL;
    char *line = xstrndup(ts->p, n);
    ts->p += n;
    ts->left -= n;
    st->line++;
    const char *t = line;
    while (*t == ' ' || *t == '\t')
        t++;
    bool blank = *t == '\0' || *t == '\n' || *t == '\r' || *t == ';' || *t == '#';
    if (n + 1 > (size_t)num) {
        conf_error(st, NULL, NULL,
                   "line longer than %d characters (split a long list over several keys: "
                   "local and the [listen] keys add up)",
                   num - 2);
        blank = true;
    } else if (nul) {
        conf_error(st, NULL, NULL, "NUL character in the line");
        blank = true;
    } else if (t != line && !blank) {
        conf_error(st, NULL, NULL, "indented line: continuation lines are not supported");
        blank = true;
    } else if (*t == '[') {
        const char *end = strchr(t, ']');
        size_t len = end ? (size_t)(end - t - 1) : 0;
        bool known = false;
        for (size_t i = 0; end && i < sizeof(known_sections) / sizeof(known_sections[0]); i++)
            if (strlen(known_sections[i]) == len && strncasecmp(t + 1, known_sections[i], len) == 0)
                known = true;
        if (end && !known)
            conf_error(st, NULL, NULL, "unknown section [%.*s]", (int)len, t + 1);
    }
    snprintf(str, (size_t)num, "%s", blank ? "\n" : line);
    free(line);
    return str;
}

/* Keys that may be given more than once because their values add up. */
static bool key_adds_up(const char *section, const char *key)
{
    return strcasecmp(section, "listen") == 0 || strcasecmp(section, "dkim") == 0 ||
           (strcasecmp(section, "domains") == 0 && strcasecmp(key, "local") == 0);
}

/* The handler libinih calls: refuses a key set twice in one section (the
 * second would silently win), then hands the key to on_key. The first line
 * is remembered only once the key was accepted, so a bad value repeated is
 * reported as bad each time. ([dkim] keys are domains; add_dkim reports a
 * domain given twice itself.) */
static int on_key_once(void *user, const char *section, const char *key, const char *value)
{
    struct parse_state *st = user;
    if (key_adds_up(section, key))
        return on_key(user, section, key, value);
    char *id = xasprintf("%s]%s", section, key);
    for (char *p = id; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    const unsigned *first = strmap_get(st->seen, id);
    if (first) {
        buf_printf(st->err, "%s:%u: duplicate key '%s' in [%s] (first on line %u)\n", st->path,
                   st->line, key, section, *first);
        st->errors++;
    } else {
        int before = st->errors;
        on_key(user, section, key, value);
        if (st->errors == before) {
            unsigned *line = xmalloc(sizeof(*line));
            *line = st->line;
            strmap_put(st->seen, id, line);
        }
    }
    free(id);
    return 1;
}

static void set_defaults(struct conf *c)
{
    char host[256];
    if (gethostname(host, sizeof(host)) != 0 || !conf_valid_hostname(host))
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    c->hostname = xstrdup(host);
    c->data_dir = xstrdup("/var/lib/postern");
    c->user = xstrdup("postern");
    c->message_size = 35ull * 1024 * 1024;
    c->recipients = 100;
    c->connections = 2000;
    c->connections_per_ip = 20;
    c->bad_commands = 10;
    c->error_delay_ms = 1000; /* Postfix's smtpd_error_sleep_time */
    c->max_hops = 100;        /* Postfix's hopcount_limit is 50; RFC 5321 6.3 asks for 100 */
    c->greeting_delay_ms = 0;
    c->command_timeout_ms = 5 * 60 * 1000;
    c->data_timeout_ms = 10 * 60 * 1000;
    c->workers = 4;
    c->shutdown_grace_ms = 30 * 1000;
    conf_mailbox_defaults(c);
    c->auth_failure_delay_ms = 1000;
    c->auth_failure_limit = 10;
    c->auth_lockout_ms = 10 * 60 * 1000;
    c->relay_port = 25;
    static const unsigned retry[] = {60, 300, 900, 1800, 3600, 7200, 14400};
    c->nretry = sizeof(retry) / sizeof(retry[0]);
    c->retry_ms = xcalloc(c->nretry, sizeof(unsigned));
    for (size_t i = 0; i < c->nretry; i++)
        c->retry_ms[i] = retry[i] * 1000;
    c->queue_lifetime_ms = 5ull * 86400 * 1000;
    c->relay_delay_warning_ms = 4ull * 3600 * 1000;
    c->relay_connections = 100;
    c->relay_connections_per_domain = 20; /* Postfix's default_destination_concurrency_limit */
    c->relay_dns_timeout_ms = 30 * 1000;
    c->relay_connect_timeout_ms = 30 * 1000;
    c->relay_greeting_timeout_ms = 5 * 60 * 1000;
    c->relay_command_timeout_ms = 5 * 60 * 1000;
    c->relay_data_init_timeout_ms = 2 * 60 * 1000;
    c->relay_data_block_timeout_ms = 3 * 60 * 1000;
    c->relay_data_done_timeout_ms = 10 * 60 * 1000;
    c->smarthost_tls = CONF_TLS_VERIFY;
    c->srs = true;
    c->dmarc_reject = true;
    c->mailauth_checks = true;
}

struct conf *conf_load_string(const char *path, const char *text, size_t len, struct buf *err_r)
{
    struct conf *c = xcalloc(1, sizeof(*c));
    set_defaults(c);
    c->path = xstrdup(path);
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        strcpy(dir, ".");
    struct parse_state st = {
        .conf = c, .err = err_r, .path = path, .dir = dir, .seen = strmap_new()};
    struct text_stream ts = {.p = text, .left = len, .st = &st};
    int rc = ini_parse_stream(counting_reader, &ts, on_key_once, &st);
    strmap_free(&st.seen, free);
    if (rc > 0 && st.errors == 0) {
        st.line = (unsigned)rc;
        conf_error(&st, NULL, NULL, "syntax error (expected [section] or key = value)");
    }
    st.line = 0;
    if (c->nlocal_domains == 0)
        buf_printf(err_r, "%s: [domains] local: at least one local domain is required\n", path),
            st.errors++;
    if ((c->smarthost_user == NULL) != (c->smarthost_password == NULL) ||
        (c->smarthost_user && c->smarthost == NULL))
        buf_printf(err_r,
                   "%s: [relay] smarthost_user and smarthost_password go together, with "
                   "smarthost\n",
                   path),
            st.errors++;
    if (c->nlistens == 0)
        buf_printf(err_r, "%s: [listen]: no service to listen on\n", path), st.errors++;
    conf_limits_shares(c, err_r, &st.errors);
    if ((c->tls_cert == NULL) != (c->tls_key == NULL))
        buf_printf(err_r, "%s: [tls]: cert and key must be set together\n", path), st.errors++;
    for (size_t i = 0; i < c->nlistens && c->tls_cert == NULL; i++) {
        enum service svc = c->listens[i].service;
        if (svc == SERVICE_SUBMISSION || service_implicit_tls(svc) ||
            (svc == SERVICE_POP3 && !c->pop3_allow_plaintext_auth) ||
            (svc == SERVICE_IMAP && !c->imap_allow_plaintext_auth)) {
            buf_printf(err_r,
                       "%s: [listen] %s: needs [tls] cert and key (passwords are only "
                       "accepted over TLS)\n",
                       path, service_name(svc));
            st.errors++;
            break;
        }
    }
    if (c->srs && c->srs_domain == NULL && c->nlocal_domains > 0)
        c->srs_domain = xstrdup(c->local_domains[0]);
    if (c->users_file == NULL)
        c->users_file = resolve_path(&st, "users");
    free(dir);
    if (st.errors) {
        conf_free(&c);
        return NULL;
    }
    return c;
}

struct conf *conf_load(const char *path, struct buf *err_r)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        buf_printf(err_r, "%s: cannot open: %s\n", path, strerror(errno));
        return NULL;
    }
    struct buf text;
    buf_init(&text);
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && text.len <= CONF_TEXT_MAX)
        buf_append(&text, chunk, n);
    bool failed = ferror(f) != 0;
    int e = errno;
    fclose(f);
    struct conf *c = NULL;
    if (failed)
        buf_printf(err_r, "%s: cannot read: %s\n", path, strerror(e));
    else if (text.len > CONF_TEXT_MAX)
        buf_printf(err_r, "%s: larger than %d octets: not a configuration file\n", path,
                   CONF_TEXT_MAX);
    else
        c = conf_load_string(path, text.data ? text.data : "", text.len, err_r);
    buf_free(&text);
    return c;
}

void conf_free(struct conf **cp)
{
    struct conf *c = *cp;
    if (c == NULL)
        return;
    free(c->path);
    free(c->hostname);
    free(c->data_dir);
    free(c->user);
    for (size_t i = 0; i < c->nlistens; i++) {
        free(c->listens[i].host);
        free(c->listens[i].port);
        free(c->listens[i].unix_path);
    }
    free(c->listens);
    free(c->tls_cert);
    free(c->tls_key);
    free_list(c->local_domains, c->nlocal_domains);
    free(c->users_file);
    free(c->aliases_file);
    free(c->resolver);
    free(c->smarthost);
    free(c->relay_ca_file);
    free(c->srs_domain);
    free(c->smarthost_user);
    if (c->smarthost_password) {
        explicit_bzero(c->smarthost_password, strlen(c->smarthost_password));
        free(c->smarthost_password);
    }
    free(c->retry_ms);
    for (size_t i = 0; i < c->ndkim; i++) {
        free(c->dkim[i].domain);
        free(c->dkim[i].selector);
        free(c->dkim[i].key_file);
    }
    free(c->dkim);
    free(c);
    *cp = NULL;
}

bool conf_is_local_domain(const struct conf *conf, const char *domain)
{
    for (size_t i = 0; i < conf->nlocal_domains; i++)
        if (strcasecmp(conf->local_domains[i], domain) == 0)
            return true;
    return false;
}

const char *conf_default_path(const char *cli_path)
{
    if (cli_path)
        return cli_path;
    const char *env = getenv("POSTERN_CONF");
    if (env && *env)
        return env;
    if (access("postern.conf", F_OK) == 0)
        return "postern.conf";
    return "/etc/postern/postern.conf";
}
