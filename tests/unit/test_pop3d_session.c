/* The POP3 state machine (src/pop3d) as the daemon runs it:
 * pop3d_session_start() on one end of a socket pair (the fake connection:
 * the test is the client on the other end), a real event loop, the inline
 * worker pool (util/worker.h: the password check, the mailbox scan, RETR's
 * reads and QUIT's deletions run on the loop thread) and a daemon made
 * here: configuration, users file, and alice's Maildir of three messages
 * (one without W=, one already in cur/) in a temporary directory. Covers
 * the greeting, USER/PASS right and wrong (the failure delay), AUTH PLAIN
 * with an initial response, with a continuation and cancelled, commands in
 * the wrong state, the TRANSACTION commands with exact octet counts and
 * dot-stuffing, QUIT's deletions, line errors, too many errors and the
 * inactivity timeout.
 *
 * Not covered: STLS and pop3s (no certificate here). */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dirent.h>
#include <ftw.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "auth/limiter.h"
#include "auth/users.h"
#include "conf/conf.h"
#include "daemon.h"
#include "fake_client.h"
#include "mailauth/dkim_keyring.h"
#include "pop3d/pop3d.h"
#include "session/session.h"
#include "snapshot.h"
#include "util/log.h"
#include "util/worker.h"

/* alice@example.test's password is "alice-pw" (sha256-crypt, 1000 rounds). */
#define USERS                                                                                      \
    "alice@example.test:$5$rounds=1000$fuzzsalt$HoPdIU2w26eADcNcNGUCBYmf03pAv42CPQXhhtKNv3A\n"
#define ALICE_PLAIN                                                                                \
    "AGFsaWNlQGV4YW1wbGUudGVzdABhbGljZS1wdw=="             /* \0alice@example.test\0alice-pw       \
                                                            */
#define WRONG_PLAIN "AGFsaWNlQGV4YW1wbGUudGVzdAB3cm9uZw==" /* \0alice@example.test\0wrong */

#define MSG1_NAME "1764787200.M1P1Q1.mx"
#define MSG2_NAME "1764787201.M2P1Q2.mx"
#define MSG3_NAME "1764787202.M3P1Q3.mx"
/* LF lines, as delivery writes them: 59 octets, 66 with CRLF (W=66). */
#define MSG1_TEXT "Subject: one\nFrom: a@example.test\n\nfirst line\n.dotted\n\nend\n"
/* CRLF lines and no W=: 61 octets, measured by the scan. */
#define MSG2_TEXT "Subject: two\r\nFrom: b@example.test\r\n\r\ncrlf body\r\n..two dots\r\n"
/* In cur/: 21 octets, 24 with CRLF. */
#define MSG3_TEXT "Subject: three\n\nread\n"

static struct daemon d;
static struct fake_client fc;
static char dir[128], box[256];
static char reply_text[8192];

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
}

static void make_dir(const char *fmt, const char *arg)
{
    char path[320];
    snprintf(path, sizeof(path), fmt, arg);
    assert_int_equal(mkdir(path, 0700), 0);
}

static void mailbox_fill(void)
{
    make_dir("%s/data", dir);
    make_dir("%s/data/mail", dir);
    make_dir("%s/data/mail/example.test", dir);
    make_dir("%s", box);
    make_dir("%s/tmp", box);
    make_dir("%s/new", box);
    make_dir("%s/cur", box);
    char path[512];
    snprintf(path, sizeof(path), "%s/new/%s,S=59,W=66", box, MSG1_NAME);
    write_file(path, MSG1_TEXT);
    snprintf(path, sizeof(path), "%s/new/%s", box, MSG2_NAME);
    write_file(path, MSG2_TEXT);
    snprintf(path, sizeof(path), "%s/cur/%s,S=21,W=24:2,S", box, MSG3_NAME);
    write_file(path, MSG3_TEXT);
}

/* How many messages of alice's are in new/ and cur/ together. */
static int mailbox_count(void)
{
    int n = 0;
    static const char *const sub[] = {"new", "cur"};
    for (size_t i = 0; i < 2; i++) {
        char path[320];
        snprintf(path, sizeof(path), "%s/%s", box, sub[i]);
        DIR *dp = opendir(path);
        assert_non_null(dp);
        struct dirent *e;
        while ((e = readdir(dp)) != NULL)
            n += e->d_name[0] != '.';
        closedir(dp);
    }
    return n;
}

static bool message_exists(const char *sub, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s/%s", box, sub, name);
    struct stat st;
    return stat(path, &st) == 0;
}

/* The daemon with [limits] bad_commands and the given extra lines. */
static void daemon_start_limit(unsigned bad_commands, const char *extra)
{
    log_set_level(LOG_LEVEL_ERROR + 1);
    memset(&d, 0, sizeof(d));
    snprintf(dir, sizeof(dir), "/tmp/postern-test-pop3d-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(box, sizeof(box), "%s/data/mail/example.test/alice", dir);
    mailbox_fill();
    char path[256], text[2048];
    snprintf(path, sizeof(path), "%s/users", dir);
    write_file(path, USERS);
    snprintf(text, sizeof(text),
             "[server]\nhostname = mx.example.test\ndata_dir = %s/data\n"
             "[listen]\npop3 = 127.0.0.1:2110\n"
             "[domains]\nlocal = example.test\nusers_file = %s/users\n"
             "[pop3]\nallow_plaintext_auth = yes\n"
             "[limits]\nbad_commands = %u\n"
             "[auth]\nfailure_delay = 100ms\nfailure_limit = 100\n%s",
             dir, dir, bad_commands, extra);
    struct buf err;
    buf_init(&err);
    struct conf *conf = conf_load_string("t.conf", text, strlen(text), &err);
    if (conf == NULL)
        fail_msg("%s", err.data);
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

static void daemon_start(const char *extra)
{
    daemon_start_limit(4, extra);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static int teardown(void **state)
{
    if (d.base == NULL)
        return 0; /* the set-up failed (and said why) */
    session_close_all(&d);
    fc_close(&fc);
    worker_pool_free(&d.workers);
    event_base_loop(d.base, EVLOOP_NONBLOCK); /* freed bufferevents finalise */
    auth_limiter_free(&d.auth_limiter);
    event_base_free(d.base);
    snapshot_unref(&d.snap);
    assert_int_equal(snapshot_live(), 0);
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* One line. */
static size_t line_complete(const char *buf, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++)
        if (buf[i] == '\r' && buf[i + 1] == '\n')
            return i + 2;
    return 0;
}

/* A multi-line reply up to its "." line, or a single -ERR line. */
static size_t multi_complete(const char *buf, size_t len)
{
    if (len >= 4 && memcmp(buf, "-ERR", 4) == 0)
        return line_complete(buf, len);
    size_t first = line_complete(buf, len);
    if (first == 0)
        return 0;
    for (size_t i = first - 2; i + 5 <= len; i++)
        if (memcmp(buf + i, "\r\n.\r\n", 5) == 0)
            return i + 5;
    return 0;
}

static const char *reply(void)
{
    size_t n = fc_wait(&fc, line_complete, 2000);
    return fc_take(&fc, n, reply_text, sizeof(reply_text));
}

static const char *cmd(const char *line)
{
    fc_send(&fc, line);
    fc_send(&fc, "\r\n");
    return reply();
}

static const char *cmd_multi(const char *line)
{
    fc_send(&fc, line);
    fc_send(&fc, "\r\n");
    size_t n = fc_wait(&fc, multi_complete, 2000);
    return fc_take(&fc, n, reply_text, sizeof(reply_text));
}

static void assert_closed(void)
{
    assert_true(fc_wait_eof(&fc, 2000));
    assert_int_equal(fc.len, 0);
    assert_int_equal(d.sessions, 0);
    assert_null(d.session_list);
}

static void connect_pop3(void)
{
    socklen_t len;
    const struct sockaddr *peer = fc_peer(&len);
    int fd = fc_open(&fc, d.base);
    assert_true(fd >= 0);
    pop3d_session_start(&d, SERVICE_POP3, fd, peer, len);
    assert_string_equal(reply(), "+OK mx.example.test Postern POP3 ready\r\n");
}

static void login(void)
{
    assert_string_equal(cmd("USER alice@example.test"), "+OK Send PASS\r\n");
    assert_string_equal(cmd("PASS alice-pw"), "+OK Logged in, 3 messages (151 octets)\r\n");
}

static void test_user_pass(void **state)
{
    daemon_start("");
    connect_pop3();
    assert_string_equal(cmd("PASS alice-pw"), "-ERR Send USER first\r\n");
    assert_string_equal(cmd("USER alice@example.test"), "+OK Send PASS\r\n");
    uint64_t t0 = fc_now_ms();
    assert_string_equal(cmd("PASS wrong"), "-ERR [AUTH] Authentication failed\r\n");
    /* [auth] failure_delay; libevent's timers run on CLOCK_MONOTONIC_COARSE,
     * which lags the precise clock by a few ms, hence the tolerance. */
    assert_true(fc_now_ms() - t0 >= 100 - FC_CLOCK_SLACK_MS);
    /* A failed PASS starts over at USER. */
    assert_string_equal(cmd("PASS alice-pw"), "-ERR Send USER first\r\n");
    /* An unknown user gets the same answers. */
    assert_string_equal(cmd("USER nobody@example.test"), "+OK Send PASS\r\n");
    assert_string_equal(cmd("PASS alice-pw"), "-ERR [AUTH] Authentication failed\r\n");
    login();
    assert_string_equal(cmd("NOOP"), "+OK Still here\r\n");
}

static void test_auth_plain(void **state)
{
    daemon_start_limit(10, "");
    connect_pop3();
    assert_string_equal(cmd_multi("AUTH"), "+OK Mechanisms follow\r\nPLAIN\r\n.\r\n");
    assert_string_equal(cmd("AUTH LOGIN"),
                        "-ERR Unsupported authentication mechanism (use PLAIN)\r\n");
    assert_string_equal(cmd("AUTH PLAIN " WRONG_PLAIN), "-ERR [AUTH] Authentication failed\r\n");
    /* A continuation, cancelled. */
    assert_string_equal(cmd("AUTH PLAIN"), "+ \r\n");
    assert_string_equal(cmd("*"), "-ERR Authentication cancelled\r\n");
    assert_string_equal(cmd("AUTH PLAIN"), "+ \r\n");
    assert_string_equal(cmd("not base64!"), "-ERR Invalid base64 in authentication data\r\n");
    /* A continuation with the credentials. */
    assert_string_equal(cmd("AUTH PLAIN"), "+ \r\n");
    assert_string_equal(cmd(ALICE_PLAIN), "+OK Logged in, 3 messages (151 octets)\r\n");
    assert_string_equal(cmd("STAT"), "+OK 3 151\r\n");
}

static void test_auth_plain_initial_response(void **state)
{
    daemon_start("");
    connect_pop3();
    assert_string_equal(cmd("AUTH PLAIN " ALICE_PLAIN),
                        "+OK Logged in, 3 messages (151 octets)\r\n");
    assert_string_equal(cmd("STAT"), "+OK 3 151\r\n");
}

static void test_wrong_state(void **state)
{
    daemon_start_limit(20, "");
    connect_pop3();
    const char *before[] = {"STAT", "LIST", "RETR 1", "DELE 1", "NOOP", "RSET", "UIDL"};
    for (size_t i = 0; i < sizeof(before) / sizeof(before[0]); i++)
        assert_string_equal(cmd(before[i]),
                            "-ERR Not logged in: authenticate first (USER and PASS, or AUTH)\r\n");
    assert_string_equal(
        cmd("APOP alice@example.test 0123456789abcdef0123456789abcdef"),
        "-ERR APOP is not supported: use USER and PASS, or AUTH PLAIN, over TLS\r\n");
    login();
    assert_string_equal(cmd("USER alice@example.test"), "-ERR USER is not valid after login\r\n");
    assert_string_equal(cmd("PASS alice-pw"), "-ERR PASS is not valid after login\r\n");
    assert_string_equal(cmd("AUTH PLAIN " ALICE_PLAIN), "-ERR AUTH is not valid after login\r\n");
    assert_string_equal(cmd("STAT"), "+OK 3 151\r\n");
}

static void test_transaction_commands(void **state)
{
    daemon_start("");
    connect_pop3();
    login();
    assert_string_equal(cmd("STAT"), "+OK 3 151\r\n");
    assert_string_equal(cmd_multi("LIST"),
                        "+OK 3 messages (151 octets)\r\n1 66\r\n2 61\r\n3 24\r\n.\r\n");
    assert_string_equal(cmd("LIST 2"), "+OK 2 61\r\n");
    assert_string_equal(cmd("LIST 4"), "-ERR No such message (there are 3)\r\n");
    assert_string_equal(cmd_multi("UIDL"),
                        "+OK Unique-ID listing follows\r\n"
                        "1 " MSG1_NAME "\r\n2 " MSG2_NAME "\r\n3 " MSG3_NAME "\r\n.\r\n");
    assert_string_equal(cmd("UIDL 3"), "+OK 3 " MSG3_NAME "\r\n");
    /* RETR: CRLF lines, dot-stuffed; the octet count is the unstuffed size. */
    assert_string_equal(cmd_multi("RETR 1"), "+OK 66 octets\r\n"
                                             "Subject: one\r\nFrom: a@example.test\r\n\r\n"
                                             "first line\r\n..dotted\r\n\r\nend\r\n.\r\n");
    assert_string_equal(cmd_multi("RETR 2"), "+OK 61 octets\r\n"
                                             "Subject: two\r\nFrom: b@example.test\r\n\r\n"
                                             "crlf body\r\n...two dots\r\n.\r\n");
    assert_string_equal(cmd_multi("TOP 1 0"), "+OK Top of message follows\r\n"
                                              "Subject: one\r\nFrom: a@example.test\r\n\r\n.\r\n");
    assert_string_equal(cmd_multi("TOP 1 2"),
                        "+OK Top of message follows\r\n"
                        "Subject: one\r\nFrom: a@example.test\r\n\r\nfirst line\r\n..dotted\r\n"
                        ".\r\n");
    assert_string_equal(cmd("RETR 0"), "-ERR No such message (there are 3)\r\n");
    assert_string_equal(cmd("DELE 2"), "+OK Message 2 deleted (removed at QUIT)\r\n");
    assert_string_equal(cmd("STAT"), "+OK 2 90\r\n");
    assert_string_equal(cmd("RETR 2"), "-ERR Message 2 is deleted\r\n");
    assert_string_equal(cmd("DELE 2"), "-ERR Message 2 is deleted\r\n");
    assert_string_equal(cmd_multi("LIST"), "+OK 2 messages (90 octets)\r\n1 66\r\n3 24\r\n.\r\n");
    assert_string_equal(cmd("RSET"), "+OK 3 messages (151 octets)\r\n");
    assert_string_equal(cmd("NOOP"), "+OK Still here\r\n");
    assert_string_equal(cmd("STAT"), "+OK 3 151\r\n");
    /* Nothing was removed: RSET undid the DELE, and there was no QUIT. */
    assert_int_equal(mailbox_count(), 3);
}

static void test_quit_applies_deletions(void **state)
{
    daemon_start("");
    connect_pop3();
    login();
    assert_string_equal(cmd("DELE 1"), "+OK Message 1 deleted (removed at QUIT)\r\n");
    assert_string_equal(cmd("DELE 3"), "+OK Message 3 deleted (removed at QUIT)\r\n");
    assert_true(message_exists("new", MSG1_NAME ",S=59,W=66"));
    assert_string_equal(cmd("QUIT"), "+OK Logging out, 2 message(s) deleted\r\n");
    assert_closed();
    assert_false(message_exists("new", MSG1_NAME ",S=59,W=66"));
    assert_false(message_exists("cur", MSG3_NAME ",S=21,W=24:2,S"));
    assert_int_equal(mailbox_count(), 1);
    /* The lock is gone with the session: a new one sees what is left. */
    connect_pop3();
    assert_string_equal(cmd("USER alice@example.test"), "+OK Send PASS\r\n");
    assert_string_equal(cmd("PASS alice-pw"), "+OK Logged in, 1 messages (61 octets)\r\n");
}

static void test_quit_before_login_and_without_deletions(void **state)
{
    daemon_start("");
    connect_pop3();
    assert_string_equal(cmd("QUIT"), "+OK Bye\r\n");
    assert_closed();
    connect_pop3();
    login();
    assert_string_equal(cmd("QUIT"), "+OK Logging out\r\n");
    assert_closed();
    assert_int_equal(mailbox_count(), 3);
}

static void test_mailbox_in_use(void **state)
{
    daemon_start("");
    connect_pop3();
    login();
    struct fake_client first = fc;
    connect_pop3();
    assert_string_equal(cmd("USER alice@example.test"), "+OK Send PASS\r\n");
    assert_string_equal(cmd("PASS alice-pw"),
                        "-ERR [IN-USE] Mailbox is in use by another POP3 session\r\n");
    fc_close(&fc);
    fc = first;
    assert_string_equal(cmd("STAT"), "+OK 3 151\r\n");
}

static void test_line_errors_and_too_many(void **state)
{
    daemon_start("");
    connect_pop3();
    char line[300];
    memset(line, 'x', sizeof(line));
    memcpy(line, "NOOP ", 5);
    line[sizeof(line) - 1] = '\0';
    assert_string_equal(cmd(line), "-ERR Line too long (the limit is 255 octets with CRLF)\r\n");
    fc_send(&fc, "CAPA\n");
    assert_string_equal(reply(), "-ERR Lines must end with CRLF\r\n");
    /* Under the limit the session reads on. */
    assert_string_equal(cmd_multi("CAPA"), "+OK Capability list follows\r\n"
                                           "TOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\n"
                                           "PIPELINING\r\nUSER\r\nSASL PLAIN\r\n"
                                           "IMPLEMENTATION Postern\r\n.\r\n");
    assert_string_equal(cmd("XYZZY"), "-ERR Unknown command\r\n");
    assert_int_equal(d.sessions, 1);
    assert_string_equal(cmd("STAT"),
                        "-ERR Not logged in: authenticate first (USER and PASS, or AUTH)\r\n");
    assert_string_equal(reply(), "-ERR Too many errors, closing connection\r\n");
    assert_closed();
}

static void test_inactivity_timeout(void **state)
{
    daemon_start("[pop3]\ntimeout = 150ms\n");
    connect_pop3();
    uint64_t t0 = fc_now_ms();
    fc_run_for(&fc, 100);
    login(); /* each command restarts the timer */
    fc_run_for(&fc, 100);
    assert_int_equal(fc.len, 0);
    assert_int_equal(d.sessions, 1);
    assert_string_equal(reply(), "-ERR Disconnected for inactivity\r\n");
    assert_true(fc_now_ms() - t0 >= 250 - FC_CLOCK_SLACK_MS);
    assert_closed();
    assert_int_equal(mailbox_count(), 3);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* as the daemon: a closed peer is an error, not a signal */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_user_pass, teardown),
        cmocka_unit_test_teardown(test_auth_plain, teardown),
        cmocka_unit_test_teardown(test_auth_plain_initial_response, teardown),
        cmocka_unit_test_teardown(test_wrong_state, teardown),
        cmocka_unit_test_teardown(test_transaction_commands, teardown),
        cmocka_unit_test_teardown(test_quit_applies_deletions, teardown),
        cmocka_unit_test_teardown(test_quit_before_login_and_without_deletions, teardown),
        cmocka_unit_test_teardown(test_mailbox_in_use, teardown),
        cmocka_unit_test_teardown(test_line_errors_and_too_many, teardown),
        cmocka_unit_test_teardown(test_inactivity_timeout, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
