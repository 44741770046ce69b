/* Unit tests for conf: the value parsers, and conf_load on real files
 * (errors name FILE:LINE and the key; unknown keys are errors; relative
 * paths are resolved against the configuration's directory). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf/conf.h"

static void test_parse_size(void **state)
{
    static const struct {
        const char *s;
        uint64_t v;
    } good[] = {
        {"0", 0},
        {"1024", 1024},
        {"1K", 1024},
        {"1k", 1024},
        {"1KB", 1024},
        {"10kb", 10240},
        {"35M", 35ull << 20},
        {"2G", 2ull << 30},
        {"1Gb", 1ull << 30},
        {"18446744073709551615", UINT64_MAX},
        {"17179869183G", 17179869183ull << 30},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        uint64_t v = 7;
        if (!conf_parse_size(good[i].s, &v) || v != good[i].v)
            fail_msg("'%s' -> %llu", good[i].s, (unsigned long long)v);
    }
    static const char *const bad[] = {
        "",
        "K",
        "-1",
        "+1",
        " 1",
        "1 ",
        "1 K",
        "1.5M",
        "1T",
        "1KK",
        "1KBB",
        "1MK",
        "0x10",
        "18446744073709551616",
        "17179869184G",
        "99999999999999999999K",
        "1e3",
        "1B",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t v = 7;
        if (conf_parse_size(bad[i], &v))
            fail_msg("'%s' accepted as %llu", bad[i], (unsigned long long)v);
        assert_int_equal(v, 7); /* untouched on error */
    }
}

static void test_parse_duration(void **state)
{
    static const struct {
        const char *s;
        uint64_t ms;
    } good[] = {
        {"0", 0},        {"30", 30000},     {"500ms", 500}, {"30s", 30000}, {"5m", 300000},
        {"1h", 3600000}, {"5d", 432000000}, {"0ms", 0},     {"1.5s", 1500}, {"10m", 600000},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        uint64_t v = 7;
        if (!conf_parse_duration_ms(good[i].s, &v) || v != good[i].ms)
            fail_msg("'%s' -> %llu", good[i].s, (unsigned long long)v);
    }
    static const char *const bad[] = {
        "",
        "s",
        "ms",
        "-1s",
        "+1s",
        " 1s",
        "1 s",
        "5x",
        "5mm",
        "5M",
        "5S",
        "1e400",
        "nan",
        "inf",
        "5 m",
        "m5",
        "99999999999999d",
        "1sec",
        "1min",
        "5ms ",
        "0x10",
        "1e3",
        "0x1p4m",
        "1.s",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t v = 7;
        if (conf_parse_duration_ms(bad[i], &v))
            fail_msg("'%s' accepted as %llu ms", bad[i], (unsigned long long)v);
        assert_int_equal(v, 7);
    }
}

/* ---- conf_load ------------------------------------------------------------ */

static char dir[64];
static char path[128];

static int setup(void **state)
{
    strcpy(dir, "/tmp/postern-test-conf-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    unlink(path);
    return rmdir(dir);
}

static void write_conf(const char *text)
{
    snprintf(path, sizeof(path), "%s/postern.conf", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

#define MINIMAL "[listen]\nsmtp = 127.0.0.1:2525\n[domains]\nlocal = example.test\n"

/* Loads text; on failure returns NULL and leaves the errors in *err. */
static struct conf *load(const char *text, struct buf *err)
{
    write_conf(text);
    buf_reset(err);
    return conf_load(path, err);
}

/* Expects text to be refused with an error containing "FILE:LINE: " + what. */
static void expect_error(const char *text, unsigned line, const char *what)
{
    struct buf err;
    buf_init(&err);
    struct conf *c = load(text, &err);
    if (c != NULL)
        fail_msg("accepted:\n%s", text);
    char expect[512];
    if (line)
        snprintf(expect, sizeof(expect), "%s:%u: %s", path, line, what);
    else
        snprintf(expect, sizeof(expect), "%s: %s", path, what);
    if (err.data == NULL || strstr(err.data, expect) == NULL)
        fail_msg("expected '%s' in:\n%s", expect, err.data ? err.data : "(nothing)");
    buf_free(&err);
}

static void test_load_minimal(void **state)
{
    struct buf err;
    buf_init(&err);
    struct conf *c = load(MINIMAL, &err);
    if (c == NULL)
        fail_msg("%s", err.data);
    assert_int_equal(err.len, 0);
    assert_int_equal(c->nlistens, 1);
    assert_int_equal(c->listens[0].service, SERVICE_SMTP);
    assert_string_equal(c->listens[0].host, "127.0.0.1");
    assert_string_equal(c->listens[0].port, "2525");
    assert_null(c->listens[0].unix_path);
    assert_int_equal(c->nlocal_domains, 1);
    assert_true(conf_is_local_domain(c, "example.test"));
    assert_true(conf_is_local_domain(c, "EXAMPLE.Test"));
    assert_false(conf_is_local_domain(c, "example.org"));
    assert_false(conf_is_local_domain(c, "sub.example.test"));
    /* Defaults, as documented in the README. */
    assert_true(c->message_size == 35ull << 20);
    assert_int_equal(c->recipients, 100);
    assert_int_equal(c->connections, 2000);
    assert_int_equal(c->connections_per_ip, 20);
    assert_int_equal(c->bad_commands, 10);
    assert_int_equal(c->command_timeout_ms, 300000);
    assert_int_equal(c->data_timeout_ms, 600000);
    assert_int_equal(c->greeting_delay_ms, 0);
    assert_true(c->queue_lifetime_ms == 5ull * 86400 * 1000);
    assert_int_equal(c->nretry, 7);
    assert_int_equal(c->retry_ms[0], 60000);
    char users[160];
    snprintf(users, sizeof(users), "%s/users", dir);
    assert_string_equal(c->users_file, users); /* the default, next to the config */
    assert_null(c->aliases_file);
    conf_free(&c);
    assert_null(c);
    conf_free(&c);
    buf_free(&err);
}

static void test_load_full(void **state)
{
    struct buf err;
    buf_init(&err);
    struct conf *c = load("; comment\n"
                          "# another\n"
                          "\n"
                          "[server]\n"
                          "hostname = mx.example.test\n"
                          "data_dir = data\n"
                          "user = mail\n"
                          "workers = 8\n"
                          "[listen]\n"
                          "smtp = 0.0.0.0:25, [::1]:2525 , unix:run/smtp.sock\n"
                          "[domains]\n"
                          "local = Example.TEST, example.org\n"
                          "users_file = etc/users\n"
                          "aliases_file = /etc/postern/aliases\n"
                          "[limits]\n"
                          "message_size = 10M\n"
                          "recipients = 50\n"
                          "connections = 10\n"
                          "connections_per_ip = 2\n"
                          "bad_commands = 3\n"
                          "[smtpd]\n"
                          "greeting_delay = 500ms\n"
                          "command_timeout = 30s\n"
                          "data_timeout = 2m\n"
                          "[relay]\n"
                          "retry = 1m, 5m,1h\n"
                          "queue_lifetime = 2d\n"
                          "[imap]\n"
                          "allow_plaintext_auth = yes\n"
                          "timeout = 45m\n"
                          "login_timeout = 2m\n"
                          "idle_timeout = 29m\n"
                          "line_max = 8k\n",
                          &err);
    if (c == NULL)
        fail_msg("%s", err.data);
    char p[200];
    assert_string_equal(c->hostname, "mx.example.test");
    snprintf(p, sizeof(p), "%s/data", dir);
    assert_string_equal(c->data_dir, p);
    assert_string_equal(c->user, "mail");
    assert_int_equal(c->workers, 8);
    assert_int_equal(c->nlistens, 3);
    assert_string_equal(c->listens[0].host, "0.0.0.0");
    assert_string_equal(c->listens[0].port, "25");
    assert_string_equal(c->listens[1].host, "::1");
    assert_string_equal(c->listens[1].port, "2525");
    snprintf(p, sizeof(p), "%s/run/smtp.sock", dir);
    assert_string_equal(c->listens[2].unix_path, p);
    assert_null(c->listens[2].host);
    assert_int_equal(c->nlocal_domains, 2);
    assert_string_equal(c->local_domains[0], "example.test"); /* lower-cased */
    assert_string_equal(c->local_domains[1], "example.org");
    snprintf(p, sizeof(p), "%s/etc/users", dir);
    assert_string_equal(c->users_file, p);
    assert_string_equal(c->aliases_file, "/etc/postern/aliases"); /* absolute stays */
    assert_true(c->message_size == 10ull << 20);
    assert_int_equal(c->recipients, 50);
    assert_int_equal(c->connections, 10);
    assert_int_equal(c->connections_per_ip, 2);
    assert_int_equal(c->bad_commands, 3);
    assert_int_equal(c->greeting_delay_ms, 500);
    assert_int_equal(c->command_timeout_ms, 30000);
    assert_int_equal(c->data_timeout_ms, 120000);
    assert_int_equal(c->nretry, 3);
    assert_int_equal(c->retry_ms[2], 3600000);
    assert_true(c->queue_lifetime_ms == 2ull * 86400 * 1000);
    assert_true(c->imap_allow_plaintext_auth);
    assert_int_equal(c->imap_timeout_ms, 45 * 60000);
    assert_int_equal(c->imap_login_timeout_ms, 2 * 60000);
    assert_int_equal(c->imap_idle_timeout_ms, 29 * 60000);
    assert_int_equal(c->imap_line_max, 8192);
    conf_free(&c);
    buf_free(&err);
}

static void test_load_errors(void **state)
{
    expect_error(MINIMAL "[server]\nbogus = 1\n", 6, "[server] bogus: unknown key");
    expect_error(MINIMAL "[nosuch]\nkey = 1\n", 6, "[nosuch] key:");
    expect_error(MINIMAL "[limits]\nmessage_size = 1T\n", 6, "[limits] message_size:");
    expect_error(MINIMAL "[limits]\nmessage_size = 100\n", 6, "[limits] message_size:");
    expect_error(MINIMAL "[limits]\nrecipients = 0\n", 6, "[limits] recipients:");
    expect_error(MINIMAL "[limits]\nrecipients = -1\n", 6, "[limits] recipients:");
    expect_error(MINIMAL "[limits]\nrecipients = 100001\n", 6, "[limits] recipients:");
    expect_error(MINIMAL "[limits]\nconnections = many\n", 6, "[limits] connections:");
    expect_error(MINIMAL "[smtpd]\ncommand_timeout = 0\n", 6, "[smtpd] command_timeout:");
    expect_error(MINIMAL "[smtpd]\ndata_timeout = soon\n", 6, "[smtpd] data_timeout:");
    expect_error(MINIMAL "[smtpd]\ngreeting_delay = 50000d\n", 6, "[smtpd] greeting_delay:");
    expect_error(MINIMAL "[server]\nworkers = 0\n", 6, "[server] workers:");
    expect_error(MINIMAL "[server]\nworkers = 65\n", 6, "[server] workers:");
    expect_error(MINIMAL "[server]\nhostname = bad host\n", 6, "[server] hostname:");
    expect_error(MINIMAL "[server]\nhostname = a/b\n", 6, "[server] hostname:");
    expect_error(MINIMAL "[relay]\nretry = 1m, soon\n", 6, "[relay] retry: 'soon'");
    expect_error(MINIMAL "[relay]\nretry = ,\n", 6, "[relay] retry:");
    expect_error(MINIMAL "[relay]\nport = 0\n", 6, "[relay] port:");
    expect_error(MINIMAL "[relay]\nqueue_lifetime = 0\n", 6, "[relay] queue_lifetime:");
    expect_error(MINIMAL "[listen]\nsmtp = 127.0.0.1\n", 6, "[listen] smtp:");
    expect_error(MINIMAL "[listen]\nsmtp = 127.0.0.1:\n", 6, "[listen] smtp:");
    expect_error(MINIMAL "[listen]\nsmtp = 127.0.0.1:99999\n", 6, "[listen] smtp: bad port");
    expect_error(MINIMAL "[listen]\nsmtp = 127.0.0.1:2x\n", 6, "[listen] smtp: bad port");
    expect_error(MINIMAL "[listen]\nlmtp = 127.0.0.1:24\n", 6, "[listen] lmtp: unknown service");
    /* IMAP: passwords only over TLS unless allowed, and the RFC minimums. */
    expect_error(MINIMAL "[listen]\nimap = 127.0.0.1:143\n", 0,
                 "[listen] imap: needs [tls] cert and key");
    expect_error(MINIMAL "[listen]\nimaps = 127.0.0.1:993\n", 0,
                 "[listen] imaps: needs [tls] cert and key");
    expect_error(MINIMAL "[imap]\ntimeout = 5m\n", 6, "[imap] timeout: must be at least 30m");
    expect_error(MINIMAL "[imap]\nlogin_timeout = 10s\n", 6,
                 "[imap] login_timeout: must be at least 1m");
    expect_error(MINIMAL "[imap]\nidle_timeout = 10m\n", 6,
                 "[imap] idle_timeout: must be at least 29m");
    expect_error(MINIMAL "[imap]\nidle_timeout = soon\n", 6, "[imap] idle_timeout: expected");
    expect_error(MINIMAL "[imap]\nline_max = 10\n", 6, "[imap] line_max:");
    expect_error(MINIMAL "[imap]\nline_max = 1G\n", 6, "[imap] line_max:");
    expect_error(MINIMAL "[imap]\nallow_plaintext_auth = maybe\n", 6,
                 "[imap] allow_plaintext_auth: expected yes or no");
    expect_error(MINIMAL "[imap]\nfrob = 1\n", 6, "[imap] frob: unknown key");
    expect_error(MINIMAL "[pop3]\nfrob = 1\n", 6, "[pop3] frob: unknown key");
    expect_error(MINIMAL "[domains]\nlocal = ok.test, bad_domain!\n", 6, "[domains] local:");
    expect_error(MINIMAL "this is not ini\n", 5, "syntax error");
    expect_error(MINIMAL "[server\n", 5, "syntax error");
    /* Required settings. */
    expect_error("[domains]\nlocal = example.test\n", 0, "[listen]");
    expect_error("[listen]\nsmtp = 127.0.0.1:25\n", 0, "[domains] local");
}

static void test_load_line_numbers(void **state)
{
    /* Comments, blank lines and sections all count. */
    expect_error("; c\n\n# c\n" MINIMAL "\n\n[limits]\n; c\nbad_commands = x\n", 12,
                 "[limits] bad_commands:");
    /* Every problem is reported, each with its own line. */
    struct buf err;
    buf_init(&err);
    assert_null(
        load(MINIMAL "[limits]\nrecipients = x\nconnections = 1\nbad_commands = y\n", &err));
    char a[200], b[200];
    snprintf(a, sizeof(a), "%s:6: [limits] recipients:", path);
    snprintf(b, sizeof(b), "%s:8: [limits] bad_commands:", path);
    assert_non_null(strstr(err.data, a));
    assert_non_null(strstr(err.data, b));
    buf_free(&err);
}

/* What libinih would silently misread is refused with the right line. */
static void test_load_inih_traps(void **state)
{
    /* An indented line would be a continuation replacing the previous value. */
    expect_error(MINIMAL "  other.test\n", 5, "indented line");
    expect_error("[limits]\nrecipients = 5\n  bogus = 1\n" MINIMAL, 3, "indented line");
    /* Lines libinih would cut at 199 octets. */
    char long_line[400];
    snprintf(long_line, sizeof(long_line), "%s; %0250d\n", MINIMAL, 0);
    expect_error(long_line, 5, "line longer than 198 characters");
    /* An unknown section is an error even when it holds no key. */
    expect_error(MINIMAL "[bogus]\n", 5, "unknown section [bogus]");
    /* Counts are plain numbers; sizes take suffixes. */
    expect_error(MINIMAL "[limits]\nrecipients = 1K\n", 6, "[limits] recipients");
    expect_error("[server]\ndata_dir =\n" MINIMAL, 2, "[server] data_dir");
    expect_error("[listen]\nsmtp = :25\n[domains]\nlocal = a.test\n", 2, "[listen] smtp");
    /* Several "local =" lines add up. */
    struct buf err;
    buf_init(&err);
    struct conf *c = load(MINIMAL "local = b.test, c.test\n", &err);
    assert_non_null(c);
    assert_int_equal(c->nlocal_domains, 3);
    assert_true(conf_is_local_domain(c, "c.test"));
    conf_free(&c);
    buf_free(&err);
}

/* A key given twice in one section is refused, naming both lines; the
 * keys documented as adding up are not. */
static void test_load_duplicate_keys(void **state)
{
    expect_error("[server]\nhostname = a.test\nhostname = b.test\n" MINIMAL, 3,
                 "duplicate key 'hostname' in [server] (first on line 2)");
    /* Case does not make it another key, nor do other lines between. */
    expect_error("[limits]\nrecipients = 5\n; c\n[server]\n[limits]\nRECIPIENTS = 6\n" MINIMAL, 6,
                 "duplicate key 'RECIPIENTS' in [limits] (first on line 2)");
    expect_error(MINIMAL "users_file = a\nusers_file = b\n", 6,
                 "duplicate key 'users_file' in [domains] (first on line 5)");
    expect_error(MINIMAL "[relay]\nretry = 1m\nretry = 5m\n", 7,
                 "duplicate key 'retry' in [relay] (first on line 6)");
    /* The same key in two sections is two keys. */
    struct buf err;
    buf_init(&err);
    struct conf *c =
        load(MINIMAL "[smtpd]\ncommand_timeout = 1m\n[relay]\ncommand_timeout = 2m\n", &err);
    if (c == NULL)
        fail_msg("%s", err.data);
    assert_int_equal(c->command_timeout_ms, 60000);
    assert_int_equal(c->relay_command_timeout_ms, 120000);
    conf_free(&c);
    /* [listen] keys and [domains] local add up. */
    c = load(MINIMAL "local = b.test\n[listen]\nsmtp = 127.0.0.1:2526\nsmtp = unix:s.sock\n", &err);
    if (c == NULL)
        fail_msg("%s", err.data);
    assert_int_equal(c->nlistens, 3);
    assert_int_equal(c->nlocal_domains, 2);
    conf_free(&c);
    /* A bad value given twice is reported as bad twice, not as a duplicate. */
    assert_null(load(MINIMAL "[limits]\nrecipients = x\nrecipients = y\n", &err));
    assert_null(strstr(err.data, "duplicate"));
    char a[200];
    snprintf(a, sizeof(a), "%s:7: [limits] recipients:", path);
    assert_non_null(strstr(err.data, a));
    buf_free(&err);
}

/* conf_load_string parses text in memory as conf_load parses the file. */
static void test_load_string(void **state)
{
    struct buf err;
    buf_init(&err);
    static const char text[] = "[server]\nhostname = mem.test\ndata_dir = d\n" MINIMAL;
    struct conf *c = conf_load_string("/etc/x/p.conf", text, sizeof(text) - 1, &err);
    if (c == NULL)
        fail_msg("%s", err.data);
    assert_string_equal(c->hostname, "mem.test");
    assert_string_equal(c->data_dir, "/etc/x/d");
    assert_string_equal(c->path, "/etc/x/p.conf");
    conf_free(&c);
    /* No final newline; the length, not a NUL, ends the text. */
    static const char cut[] = MINIMAL "[limits]\nrecipients = 7garbage";
    c = conf_load_string("m.conf", cut, sizeof(cut) - 1 - 7, &err);
    if (c == NULL)
        fail_msg("%s", err.data);
    assert_int_equal(c->recipients, 7);
    conf_free(&c);
    /* A NUL inside a line would end it early: refused, with its line. */
    static const char nul[] = MINIMAL "[limits]\nrecipients = 7\0bogus\n";
    buf_reset(&err);
    assert_null(conf_load_string("m.conf", nul, sizeof(nul) - 1, &err));
    assert_non_null(strstr(err.data, "m.conf:6: NUL character"));
    /* Empty text: the required settings are missing. */
    buf_reset(&err);
    assert_null(conf_load_string("m.conf", "", 0, &err));
    assert_non_null(strstr(err.data, "m.conf: [domains] local"));
    buf_free(&err);
}

/* The lines of the file-naming keys are kept for later messages. */
static void test_load_file_lines(void **state)
{
    struct buf err;
    buf_init(&err);
    struct conf *c =
        load(MINIMAL "users_file = u\naliases_file = a\n[tls]\ncert = c.pem\nkey = k.pem\n", &err);
    if (c == NULL)
        fail_msg("%s", err.data);
    assert_int_equal(c->users_file_line, 5);
    assert_int_equal(c->aliases_file_line, 6);
    assert_int_equal(c->tls_cert_line, 8);
    assert_int_equal(c->tls_key_line, 9);
    conf_free(&c);
    c = load(MINIMAL, &err);
    assert_non_null(c);
    assert_int_equal(c->users_file_line, 0); /* the default */
    conf_free(&c);
    buf_free(&err);
}

static void test_load_missing_file(void **state)
{
    struct buf err;
    buf_init(&err);
    char p[160];
    snprintf(p, sizeof(p), "%s/does-not-exist.conf", dir);
    assert_null(conf_load(p, &err));
    assert_non_null(strstr(err.data, p));
    assert_non_null(strstr(err.data, "cannot open"));
    buf_free(&err);
}

static void test_default_path(void **state)
{
    assert_string_equal(conf_default_path("/x/y.conf"), "/x/y.conf");
    setenv("POSTERN_CONF", "/from/env.conf", 1);
    assert_string_equal(conf_default_path(NULL), "/from/env.conf");
    assert_string_equal(conf_default_path("cli.conf"), "cli.conf");
    unsetenv("POSTERN_CONF");
    char cwd[512];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(dir), 0);
    snprintf(path, sizeof(path), "%s/postern.conf", dir);
    unlink(path);
    assert_string_equal(conf_default_path(NULL), "/etc/postern/postern.conf");
    write_conf(MINIMAL);
    assert_string_equal(conf_default_path(NULL), "postern.conf");
    assert_int_equal(chdir(cwd), 0);
}

/* [relay] smarthost_tls, ca_file, srs, srs_domain: defaults and refusals. */
static void test_relay_tls_and_srs_keys(void **state)
{
    struct buf err;
    buf_init(&err);
    struct conf *c = load(MINIMAL, &err);
    assert_non_null(c);
    assert_int_equal(c->smarthost_tls, CONF_TLS_VERIFY);
    assert_null(c->relay_ca_file);
    assert_true(c->srs);
    assert_string_equal(c->srs_domain, "example.test"); /* the first local domain */
    conf_free(&c);
    c = load(MINIMAL "[relay]\nsmarthost_tls = Encrypt\nsrs_domain = Bounces.Example.NET\n"
                     "ca_file = postern.conf\n",
             &err);
    if (c == NULL)
        fail_msg("%s", err.data);
    assert_int_equal(c->smarthost_tls, CONF_TLS_ENCRYPT);
    assert_string_equal(c->srs_domain, "bounces.example.net");
    assert_string_equal(c->relay_ca_file, path);
    conf_free(&c);
    c = load(MINIMAL "[relay]\nsmarthost_tls = may\nsrs = no\n", &err);
    assert_non_null(c);
    assert_int_equal(c->smarthost_tls, CONF_TLS_MAY);
    assert_false(c->srs);
    assert_null(c->srs_domain);
    conf_free(&c);
    buf_free(&err);
    expect_error(MINIMAL "[relay]\nsmarthost_tls = yes\n", 6,
                 "[relay] smarthost_tls: expected verify, encrypt or may");
    expect_error(MINIMAL "[relay]\nca_file = /nonexistent/ca.pem\n", 6,
                 "[relay] ca_file: cannot read /nonexistent/ca.pem");
    expect_error(MINIMAL "[relay]\nsrs = perhaps\n", 6, "[relay] srs: expected yes or no");
    expect_error(MINIMAL "[relay]\nsrs_domain = a b\n", 6, "[relay] srs_domain:");
    expect_error(MINIMAL "[relay]\nsrs_domain = localhost\n", 6, "[relay] srs_domain:");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_parse_duration),
        cmocka_unit_test(test_relay_tls_and_srs_keys),
        cmocka_unit_test(test_load_minimal),
        cmocka_unit_test(test_load_full),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_load_line_numbers),
        cmocka_unit_test(test_load_missing_file),
        cmocka_unit_test(test_load_inih_traps),
        cmocka_unit_test(test_default_path),
        cmocka_unit_test(test_load_duplicate_keys),
        cmocka_unit_test(test_load_string),
        cmocka_unit_test(test_load_file_lines),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
