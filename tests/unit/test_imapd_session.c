/* The IMAP state machine (src/imapd) as the daemon runs it:
 * imapd_session_start() on one end of a socket pair (the test is the
 * client on the other end), a real event loop and the inline worker pool
 * (the password check runs on the loop thread). Covers what the
 * integration tests cannot do quickly: the deadlines of each state (the
 * configuration refuses values below the RFC minimums, so the test sets
 * them in the loaded configuration), literals that arrive one octet at a
 * time, pipelined commands, and commands in the wrong state.
 *
 * Not covered here: STARTTLS and imaps (test_imap_login.py). */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ftw.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "auth/limiter.h"
#include "auth/users.h"
#include "conf/conf.h"
#include "daemon.h"
#include "fake_client.h"
#include "imapd/imapd.h"
#include "mailauth/dkim_keyring.h"
#include "session/session.h"
#include "snapshot.h"
#include "util/log.h"
#include "util/worker.h"

/* alice@example.test's password is "alice-pw" (sha256-crypt, 1000 rounds). */
#define USERS                                                                                      \
    "alice@example.test:$5$rounds=1000$fuzzsalt$HoPdIU2w26eADcNcNGUCBYmf03pAv42CPQXhhtKNv3A\n"

static struct daemon d;
static struct fake_client fc;
static char dir[128];
static char reply_text[16384];

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
}

/* The daemon; login_ms and timeout_ms replace the [imap] deadlines. */
static unsigned idle_timeout_ms = 60000;

static void daemon_start(unsigned login_ms, unsigned timeout_ms)
{
    log_set_level(LOG_LEVEL_ERROR + 1);
    memset(&d, 0, sizeof(d));
    snprintf(dir, sizeof(dir), "/tmp/postern-test-imapd-XXXXXX");
    assert_non_null(mkdtemp(dir));
    char path[256], text[2048];
    snprintf(path, sizeof(path), "%s/users", dir);
    write_file(path, USERS);
    snprintf(text, sizeof(text),
             "[server]\nhostname = mx.example.test\ndata_dir = %s/data\n"
             "[listen]\nimap = 127.0.0.1:2143\n"
             "[domains]\nlocal = example.test\nusers_file = %s/users\n"
             "[imap]\nallow_plaintext_auth = yes\nline_max = 1k\n"
             "[limits]\nbad_commands = 4\nmessage_size = 2k\n"
             "[auth]\nfailure_delay = 10ms\nfailure_limit = 100\n",
             dir, dir);
    struct buf err;
    buf_init(&err);
    struct conf *conf = conf_load_string("t.conf", text, strlen(text), &err);
    if (conf == NULL)
        fail_msg("%s", err.data);
    conf->imap_login_timeout_ms = login_ms;
    conf->imap_timeout_ms = timeout_ms;
    conf->imap_idle_timeout_ms = idle_timeout_ms;
    struct user_table *users = user_table_load_files(conf->users_file, NULL, &err);
    struct dkim_keyring *keys = dkim_keyring_load(conf, &err);
    if (users == NULL || keys == NULL)
        fail_msg("%s", err.data);
    buf_free(&err);
    daemon_install_snapshot(&d, snapshot_new(conf, users, keys, NULL));
    d.base = event_base_new();
    d.workers = worker_pool_new_inline(d.base);
    d.auth_limiter = auth_limiter_new();
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static int teardown(void **state)
{
    if (d.base == NULL)
        return 0;
    session_close_all(&d);
    fc_close(&fc);
    worker_pool_free(&d.workers);
    event_base_loop(d.base, EVLOOP_NONBLOCK);
    auth_limiter_free(&d.auth_limiter);
    event_base_free(d.base);
    snapshot_unref(&d.snap);
    assert_int_equal(snapshot_live(), 0);
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static size_t line_complete(const char *buf, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++)
        if (buf[i] == '\r' && buf[i + 1] == '\n')
            return i + 2;
    return 0;
}

/* Everything up to and including the line that starts with the tag "a". */
static size_t tagged_complete(const char *buf, size_t len)
{
    size_t start = 0;
    while (start < len) {
        size_t n = line_complete(buf + start, len - start);
        if (n == 0)
            return 0;
        if (n >= 2 && buf[start] == 'a' && buf[start + 1] == ' ')
            return start + n;
        start += n;
    }
    return 0;
}

static const char *reply(void)
{
    size_t n = fc_wait(&fc, line_complete, 2000);
    return fc_take(&fc, n, reply_text, sizeof(reply_text));
}

static const char *until_tagged(void)
{
    size_t n = fc_wait(&fc, tagged_complete, 2000);
    return fc_take(&fc, n, reply_text, sizeof(reply_text));
}

static const char *cmd(const char *line)
{
    fc_send(&fc, line);
    fc_send(&fc, "\r\n");
    return until_tagged();
}

static void connect_imap(void)
{
    socklen_t len;
    const struct sockaddr *peer = fc_peer(&len);
    int fd = fc_open(&fc, d.base);
    assert_true(fd >= 0);
    imapd_session_start(&d, SERVICE_IMAP, fd, peer, len);
    const char *g = reply();
    assert_non_null(strstr(g, "* OK [CAPABILITY IMAP4rev1 IMAP4rev2 AUTH=PLAIN"));
    assert_non_null(strstr(g, "mx.example.test Postern IMAP ready\r\n"));
}

static void assert_closed(void)
{
    assert_true(fc_wait_eof(&fc, 2000));
    assert_int_equal(fc.len, 0);
    assert_int_equal(d.sessions, 0);
}

static void test_login_timeout(void **state)
{
    daemon_start(150, 60000);
    connect_imap();
    uint64_t t0 = fc_now_ms();
    fc_run_for(&fc, 100);
    /* A command restarts the deadline. */
    assert_string_equal(cmd("a NOOP"), "a OK NOOP completed\r\n");
    fc_run_for(&fc, 100);
    assert_int_equal(fc.len, 0);
    assert_string_equal(reply(), "* BYE Autologout; idle for too long\r\n");
    assert_true(fc_now_ms() - t0 >= 250 - FC_CLOCK_SLACK_MS);
    assert_closed();
}

static void test_authenticated_timeout_is_the_longer_one(void **state)
{
    daemon_start(100, 300);
    connect_imap();
    const char *r = cmd("a LOGIN alice@example.test alice-pw");
    assert_non_null(strstr(r, "a OK [CAPABILITY IMAP4rev1"));
    /* Past the login deadline, inside the authenticated one. */
    fc_run_for(&fc, 200);
    assert_int_equal(fc.len, 0);
    /* t0 before the command: its deadline is armed when it is answered. */
    uint64_t t0 = fc_now_ms();
    assert_string_equal(cmd("a NOOP"), "a OK NOOP completed\r\n");
    assert_string_equal(reply(), "* BYE Autologout; idle for too long\r\n");
    assert_true(fc_now_ms() - t0 >= 300 - FC_CLOCK_SLACK_MS);
    assert_closed();
}

static void test_literal_one_octet_at_a_time(void **state)
{
    daemon_start(5000, 5000);
    connect_imap();
    fc_send(&fc, "a LOGIN {18}\r\n");
    assert_string_equal(reply(), "+ Ready for literal data\r\n");
    const char *user = "alice@example.test";
    for (const char *p = user; *p; p++) {
        fc_send_raw(&fc, p, 1);
        fc_run_for(&fc, 2);
    }
    fc_send(&fc, " {8+}\r\nalic");
    fc_run_for(&fc, 5);
    fc_send(&fc, "e-pw\r\n");
    assert_non_null(strstr(until_tagged(), "a OK [CAPABILITY"));
}

static void test_pipelined_commands_answer_in_order(void **state)
{
    daemon_start(5000, 5000);
    connect_imap();
    fc_send(&fc, "b NOOP\r\nc CAPABILITY\r\nd LOGIN alice@example.test wrong\r\n"
                 "e NOOP\r\na LOGIN alice@example.test alice-pw\r\n");
    const char *r = until_tagged();
    const char *b = strstr(r, "b OK NOOP completed");
    const char *c = strstr(r, "c OK CAPABILITY completed");
    const char *dd = strstr(r, "d NO [AUTHENTICATIONFAILED]");
    const char *e = strstr(r, "e OK NOOP completed");
    const char *a = strstr(r, "a OK [CAPABILITY");
    assert_true(b && c && dd && e && a);
    assert_true(b < c && c < dd && dd < e && e < a);
}

static void test_wrong_state_and_too_many_errors(void **state)
{
    daemon_start(5000, 5000);
    connect_imap();
    assert_string_equal(cmd("a ENABLE UTF8=ACCEPT"),
                        "a BAD ENABLE: log in first (LOGIN or AUTHENTICATE)\r\n");
    assert_string_equal(cmd("a CHECK"), "a BAD CHECK: log in first (LOGIN or AUTHENTICATE)\r\n");
    assert_non_null(strstr(cmd("a LOGIN alice@example.test alice-pw"), "a OK"));
    assert_string_equal(cmd("a CHECK"),
                        "a BAD CHECK: select a folder first (SELECT or EXAMINE)\r\n");
    /* The fourth error ends the session ([limits] bad_commands = 4). */
    assert_string_equal(cmd("a AUTHENTICATE PLAIN"), "a BAD AUTHENTICATE: already logged in\r\n");
    assert_string_equal(reply(), "* BYE Too many invalid commands\r\n");
    assert_closed();
}

static void test_line_too_long(void **state)
{
    daemon_start(5000, 5000);
    connect_imap();
    char line[1200];
    memset(line, 'x', sizeof(line) - 1);
    line[sizeof(line) - 1] = '\0';
    memcpy(line, "a NOOP ", 7);
    fc_send(&fc, line);
    fc_send(&fc, "\r\n");
    /* Its tag went with the rest of it: the BAD is untagged. */
    assert_string_equal(reply(), "* BAD [TOOBIG] Line too long (the limit is 1026 octets)\r\n");
    /* The session reads on after the over-long line. */
    assert_string_equal(cmd("a NOOP"), "a OK NOOP completed\r\n");
}

static void test_idle_timeout_and_done(void **state)
{
    idle_timeout_ms = 250;
    daemon_start(5000, 5000);
    idle_timeout_ms = 60000;
    connect_imap();
    assert_non_null(strstr(cmd("a LOGIN alice@example.test alice-pw"), "a OK"));
    const char *r = cmd("a SELECT INBOX");
    assert_non_null(strstr(r, "* 0 EXISTS\r\n"));
    assert_non_null(strstr(r, "a OK [READ-WRITE] SELECT completed\r\n"));
    /* DONE ends IDLE; anything else is BAD, and IDLE ends too. */
    fc_send(&fc, "a IDLE\r\n");
    assert_string_equal(reply(), "+ idling\r\n");
    assert_string_equal(cmd("DONE"), "a OK IDLE terminated\r\n");
    fc_send(&fc, "a IDLE\r\n");
    assert_string_equal(reply(), "+ idling\r\n");
    assert_string_equal(cmd("NOOP"), "a BAD Expected DONE to end IDLE\r\n");
    /* In IDLE the deadline is [imap] idle_timeout, not the command one. */
    uint64_t t0 = fc_now_ms(); /* before IDLE: its deadline starts at "+ idling" */
    fc_send(&fc, "a IDLE\r\n");
    assert_string_equal(reply(), "+ idling\r\n");
    assert_string_equal(reply(), "* BYE Autologout; idle for too long\r\n");
    uint64_t waited = fc_now_ms() - t0;
    assert_true(waited >= 250 - FC_CLOCK_SLACK_MS && waited < 4000);
    assert_closed();
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_login_timeout, teardown),
        cmocka_unit_test_teardown(test_authenticated_timeout_is_the_longer_one, teardown),
        cmocka_unit_test_teardown(test_literal_one_octet_at_a_time, teardown),
        cmocka_unit_test_teardown(test_pipelined_commands_answer_in_order, teardown),
        cmocka_unit_test_teardown(test_wrong_state_and_too_many_errors, teardown),
        cmocka_unit_test_teardown(test_line_too_long, teardown),
        cmocka_unit_test_teardown(test_idle_timeout_and_done, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
