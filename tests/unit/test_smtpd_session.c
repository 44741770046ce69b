/* The inbound SMTP state machine (src/smtpd) as the daemon runs it:
 * smtpd_session_start() on one end of a socket pair (the fake connection:
 * the test is the client on the other end), a real event loop, the inline
 * worker pools (util/worker.h) and a daemon made here: configuration,
 * users file, a queue in a temporary directory and a scheduler. Covers the
 * greeting, EHLO per service, the command sequence (503), syntax (501),
 * unknown commands, line errors, too many errors, a DATA and a BDAT
 * transaction committed to the queue, RSET, AUTH refusals, QUIT and the
 * command deadline.
 *
 * The delivery attempts the scheduler starts go to d->workers, a pool on a
 * second event base that only teardown runs: the queue files can be looked
 * at after the 250 before local delivery takes them away.
 *
 * Not covered: AUTH with a password (SMTP offers it only under TLS, and
 * there is no certificate here; the shared password check with its delay
 * is covered through POP3 in test_pop3d_session.c), STARTTLS. */
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
#include "deliver/scheduler.h"
#include "fake_client.h"
#include "mailauth/dkim_keyring.h"
#include "queue/queue.h"
#include "session/session.h"
#include "smtpd/smtpd.h"
#include "snapshot.h"
#include "util/log.h"
#include "util/worker.h"

#define USERS                                                                                      \
    "alice@example.test:$5$rounds=1000$fuzzsalt$HoPdIU2w26eADcNcNGUCBYmf03pAv42CPQXhhtKNv3A\n"

static struct daemon d;
static struct event_base *held_base; /* d.workers' loop: delivery waits */
static struct fake_client fc;
static char dir[128];
static char reply_text[8192];

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
}

/* The daemon with [limits] bad_commands and the given extra lines. */
static void daemon_start_limit(unsigned bad_commands, const char *extra)
{
    log_set_level(LOG_LEVEL_ERROR + 1);
    memset(&d, 0, sizeof(d));
    snprintf(dir, sizeof(dir), "/tmp/postern-test-smtpd-XXXXXX");
    assert_non_null(mkdtemp(dir));
    char path[256], text[2048];
    snprintf(path, sizeof(path), "%s/users", dir);
    write_file(path, USERS);
    snprintf(text, sizeof(text),
             "[server]\nhostname = mx.example.test\ndata_dir = %s/data\n"
             "[listen]\nsmtp = 127.0.0.1:2525\n"
             "[domains]\nlocal = example.test\nusers_file = %s/users\n"
             "[limits]\nbad_commands = %u\nmessage_size = 100000\n%s",
             dir, dir, bad_commands, extra);
    snprintf(path, sizeof(path), "%s/data", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    struct buf err;
    buf_init(&err);
    struct conf *conf = conf_load_string("t.conf", text, strlen(text), &err);
    if (conf == NULL)
        fail_msg("%s", err.data);
    struct user_table *users = user_table_load_files(conf->users_file, NULL, &err);
    struct dkim_keyring *keys = dkim_keyring_load(conf, &err);
    if (users == NULL || keys == NULL)
        fail_msg("%s", err.data);
    daemon_install_snapshot(&d, snapshot_new(conf, users, keys, NULL));
    d.queue = queue_open(conf->data_dir, &err);
    if (d.queue == NULL)
        fail_msg("%s", err.data);
    buf_free(&err);
    d.base = event_base_new();
    held_base = event_base_new();
    d.workers = worker_pool_new_inline(held_base);
    d.committers = worker_pool_new_inline(d.base);
    d.scheduler = scheduler_new(&d);
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
    /* As the daemon stops: commits, then the workers (delivery), then
     * the scheduler. */
    worker_pool_free(&d.committers);
    worker_pool_free(&d.workers);
    scheduler_free(&d.scheduler);
    event_base_loop(d.base, EVLOOP_NONBLOCK); /* freed bufferevents finalise */
    auth_limiter_free(&d.auth_limiter);
    event_base_free(held_base);
    event_base_free(d.base);
    queue_close(&d.queue);
    snapshot_unref(&d.snap);
    assert_int_equal(snapshot_live(), 0);
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static void connect_service(enum service svc)
{
    socklen_t len;
    const struct sockaddr *peer = fc_peer(&len);
    int fd = fc_open(&fc, d.base);
    assert_true(fd >= 0);
    smtpd_session_start(&d, svc, fd, peer, len);
    assert_int_equal(d.sessions, 1);
}

/* One complete reply: lines "DDD-..." up to the line "DDD ..." or "DDD". */
static size_t smtp_complete(const char *buf, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i + 1 < len; i++) {
        if (buf[i] != '\r' || buf[i + 1] != '\n')
            continue;
        size_t line_len = i - start;
        if (line_len < 4 || buf[start + 3] != '-')
            return i + 2;
        start = i + 2;
    }
    return 0;
}

/* The next reply (all its lines, CRLF included), or "" when none came
 * within 2 seconds. */
static const char *reply(void)
{
    size_t n = fc_wait(&fc, smtp_complete, 2000);
    return fc_take(&fc, n, reply_text, sizeof(reply_text));
}

/* Sends a line (CRLF added) and returns the reply to it. */
static const char *cmd(const char *line)
{
    fc_send(&fc, line);
    fc_send(&fc, "\r\n");
    return reply();
}

/* The session is gone: the server closed, nothing more was said. */
static void assert_closed(void)
{
    assert_true(fc_wait_eof(&fc, 2000));
    assert_int_equal(fc.len, 0);
    assert_int_equal(d.sessions, 0);
    assert_null(d.session_list);
}

static void start_ready(enum service svc)
{
    connect_service(svc);
    assert_string_equal(reply(), "220 mx.example.test ESMTP Postern\r\n");
    assert_string_equal(cmd("HELO client.test"), "250 mx.example.test\r\n");
}

static void test_greeting_and_ehlo_smtp(void **state)
{
    daemon_start("");
    connect_service(SERVICE_SMTP);
    assert_string_equal(reply(), "220 mx.example.test ESMTP Postern\r\n");
    assert_string_equal(cmd("EHLO client.test"), "250-mx.example.test Hello [127.0.0.1]\r\n"
                                                 "250-PIPELINING\r\n"
                                                 "250-SIZE 100000\r\n"
                                                 "250-8BITMIME\r\n"
                                                 "250-ENHANCEDSTATUSCODES\r\n"
                                                 "250-SMTPUTF8\r\n"
                                                 "250-CHUNKING\r\n"
                                                 "250-DSN\r\n"
                                                 "250 HELP\r\n");
    /* No AUTH on port 25 unless [smtpd] allows it. */
    assert_string_equal(cmd("AUTH PLAIN AGFsaWNlAGFsaWNlLXB3"),
                        "503 5.5.1 AUTH is not offered on this service\r\n");
    assert_string_equal(cmd("NOOP"), "250 2.0.0 Ok\r\n");
}

static void test_submission_refuses_without_tls(void **state)
{
    daemon_start(""); /* the session's service is what counts, not [listen] */
    connect_service(SERVICE_SUBMISSION);
    assert_string_equal(reply(), "220 mx.example.test ESMTP Postern\r\n");
    /* Without TLS neither STARTTLS (no certificate) nor AUTH is offered. */
    const char *ehlo = cmd("EHLO client.test");
    assert_non_null(strstr(ehlo, "250-CHUNKING\r\n"));
    assert_null(strstr(ehlo, "AUTH"));
    assert_null(strstr(ehlo, "STARTTLS"));
    assert_string_equal(cmd("AUTH PLAIN AGFsaWNlAGFsaWNlLXB3"),
                        "538 5.7.11 Encryption required for requested authentication mechanism: "
                        "send STARTTLS first\r\n");
    assert_string_equal(cmd("MAIL FROM:<alice@example.test>"),
                        "530 5.7.0 Must issue a STARTTLS command first, then AUTH\r\n");
    assert_string_equal(cmd("RCPT TO:<alice@example.test>"), "503 5.5.1 Need MAIL before RCPT\r\n");
}

static void test_sequence_errors(void **state)
{
    daemon_start("");
    connect_service(SERVICE_SMTP);
    assert_string_equal(reply(), "220 mx.example.test ESMTP Postern\r\n");
    assert_string_equal(cmd("MAIL FROM:<a@remote.test>"), "503 5.5.1 Send HELO/EHLO first\r\n");
    cmd("EHLO client.test");
    assert_string_equal(cmd("RCPT TO:<alice@example.test>"), "503 5.5.1 Need MAIL before RCPT\r\n");
    assert_string_equal(cmd("DATA"), "503 5.5.1 Need MAIL and RCPT before DATA\r\n");
    assert_string_equal(cmd("MAIL FROM:<a@remote.test>"), "250 2.1.0 Ok\r\n");
    /* Three errors so far; the limit is four. */
    assert_string_equal(cmd("NOOP"), "250 2.0.0 Ok\r\n");
    assert_int_equal(d.sessions, 1);
    assert_string_equal(cmd("DATA"),
                        "503 5.5.1 Need RCPT before DATA (no valid recipient yet)\r\n");
    assert_string_equal(reply(),
                        "421 4.7.0 mx.example.test Too many errors, closing connection\r\n");
    assert_closed();
}

static void test_too_many_errors_close(void **state)
{
    daemon_start("");
    start_ready(SERVICE_SMTP);
    assert_string_equal(cmd("FOO bar"), "500 5.5.1 Command unrecognized\r\n");
    assert_string_equal(cmd("EHLO"), "501 5.5.4 Syntax: EHLO hostname\r\n");
    assert_string_equal(cmd("MAIL FROM:a@remote.test"),
                        "501 5.1.7 Address must be in angle brackets: <user@example.com>\r\n");
    assert_int_equal(d.sessions, 1);
    assert_string_equal(cmd("RCPT TO:<alice@example.test>"), "503 5.5.1 Need MAIL before RCPT\r\n");
    assert_string_equal(reply(),
                        "421 4.7.0 mx.example.test Too many errors, closing connection\r\n");
    assert_closed();
}

static void test_syntax_errors(void **state)
{
    daemon_start("");
    start_ready(SERVICE_SMTP);
    assert_string_equal(cmd("MAIL TO:<a@remote.test>"),
                        "501 5.5.4 Syntax: MAIL FROM:<address> [parameters]\r\n");
    assert_string_equal(cmd("MAIL FROM:<a@remote.test>"), "250 2.1.0 Ok\r\n");
    assert_string_equal(cmd("RCPT TO:<>"), "501 5.1.3 The null address <> is not a recipient\r\n");
    assert_string_equal(cmd("RSET"), "250 2.0.0 Ok\r\n");
    /* HELO, not EHLO: no ESMTP parameters. */
    assert_string_equal(cmd("MAIL FROM:<a@remote.test> SIZE=10"),
                        "555 5.5.4 Parameters need EHLO, not HELO\r\n");
    assert_int_equal(d.sessions, 1);
}

static void test_line_errors(void **state)
{
    daemon_start_limit(10, "");
    start_ready(SERVICE_SMTP);
    char line[600];
    memset(line, 'x', sizeof(line));
    memcpy(line, "NOOP ", 5);
    line[sizeof(line) - 1] = '\0';
    assert_string_equal(cmd(line),
                        "500 5.5.2 Line too long (the limit is 512 octets with CRLF)\r\n");
    /* Past the longest AUTH line the reader drops the line by itself. */
    static char huge[13000];
    memset(huge, 'y', sizeof(huge));
    huge[sizeof(huge) - 1] = '\0';
    assert_string_equal(cmd(huge),
                        "500 5.5.2 Line too long (the limit is 512 octets with CRLF)\r\n");
    fc_send(&fc, "NOOP\n");
    assert_string_equal(reply(), "500 5.5.2 Bare LF in command; lines must end with CRLF\r\n");
    /* The session reads on: 511 octets with CRLF is allowed. */
    assert_string_equal(cmd("NOOP"), "250 2.0.0 Ok\r\n");
    line[510] = '\0';
    assert_string_equal(cmd(line), "250 2.0.0 Ok\r\n");
    assert_int_equal(fc.len, 0);
}

/* The path of a queue file of id ("env" or "msg"). */
static bool queue_file_exists(const char *sub, const char *id)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s/%s", queue_dir(d.queue), sub, id);
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static char *read_queue_msg(const char *id)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/msg/%s", queue_dir(d.queue), id);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char text[8192];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

/* "250 2.0.0 Ok: queued as ID\r\n": the id. */
static const char *queued_id(const char *r)
{
    static char id[64];
    const char *prefix = "250 2.0.0 Ok: queued as ";
    assert_memory_equal(r, prefix, strlen(prefix));
    snprintf(id, sizeof(id), "%.*s", (int)strcspn(r + strlen(prefix), "\r"), r + strlen(prefix));
    assert_true(queue_id_valid(id));
    return id;
}

static void test_data_transaction_is_queued(void **state)
{
    daemon_start("");
    connect_service(SERVICE_SMTP);
    reply();
    cmd("EHLO client.test");
    assert_string_equal(cmd("MAIL FROM:<sender@remote.test>"), "250 2.1.0 Ok\r\n");
    assert_string_equal(cmd("RCPT TO:<nobody@example.test>"),
                        "550 5.1.1 <nobody@example.test>: Recipient address rejected: no such "
                        "user here\r\n");
    assert_string_equal(cmd("RCPT TO:<someone@elsewhere.test>"),
                        "554 5.7.1 <someone@elsewhere.test>: Relay access denied (this server "
                        "only accepts mail for its own domains; log in on the submission port "
                        "to send elsewhere)\r\n");
    assert_string_equal(cmd("RCPT TO:<Alice@Example.Test>"), "250 2.1.5 Ok\r\n");
    assert_string_equal(cmd("DATA"), "354 End data with <CR><LF>.<CR><LF>\r\n");
    fc_send(&fc, "Subject: test\r\n\r\nhello\r\n..dotted\r\n");
    fc_run_for(&fc, 20);
    assert_int_equal(fc.len, 0); /* no reply before the end of the content */
    const char *id = queued_id(cmd("."));
    assert_true(queue_file_exists("env", id));
    assert_true(queue_file_exists("msg", id));
    const char *msg = read_queue_msg(id);
    assert_memory_equal(msg, "Received: from client.test", 26);
    assert_non_null(strstr(msg, "for <alice@example.test>"));
    assert_non_null(strstr(msg, "\r\nSubject: test\r\n\r\nhello\r\n.dotted\r\n"));
    /* Back in READY: a new transaction may start, an old RCPT may not. */
    assert_string_equal(cmd("RCPT TO:<alice@example.test>"), "503 5.5.1 Need MAIL before RCPT\r\n");
    assert_string_equal(cmd("MAIL FROM:<>"), "250 2.1.0 Ok\r\n");
    assert_string_equal(cmd("QUIT"), "221 2.0.0 mx.example.test Bye\r\n");
    assert_closed();
}

static void test_rset_returns_to_ready(void **state)
{
    daemon_start("");
    start_ready(SERVICE_SMTP);
    assert_string_equal(cmd("MAIL FROM:<a@remote.test>"), "250 2.1.0 Ok\r\n");
    assert_string_equal(cmd("MAIL FROM:<b@remote.test>"),
                        "503 5.5.1 Nested MAIL command: send RSET to start over\r\n");
    assert_string_equal(cmd("RCPT TO:<alice@example.test>"), "250 2.1.5 Ok\r\n");
    assert_string_equal(cmd("RSET"), "250 2.0.0 Ok\r\n");
    assert_string_equal(cmd("DATA"), "503 5.5.1 Need MAIL and RCPT before DATA\r\n");
    assert_string_equal(cmd("MAIL FROM:<b@remote.test>"), "250 2.1.0 Ok\r\n");
}

static void test_bdat_chunks(void **state)
{
    daemon_start("");
    connect_service(SERVICE_SMTP);
    reply();
    cmd("EHLO client.test");
    /* A refused chunk is still read, then answered. */
    fc_send(&fc, "BDAT 5\r\nabcde");
    assert_string_equal(reply(), "503 5.5.1 Need MAIL and RCPT before BDAT\r\n");
    assert_string_equal(cmd("MAIL FROM:<sender@remote.test>"), "250 2.1.0 Ok\r\n");
    assert_string_equal(cmd("RCPT TO:<alice@example.test>"), "250 2.1.5 Ok\r\n");
    fc_send(&fc, "BDAT 16\r\nSubject: chunk\r\n");
    assert_string_equal(reply(), "250 2.0.0 16 octets received\r\n");
    assert_string_equal(cmd("DATA"), "503 5.5.1 DATA after BDAT in one transaction: send RSET\r\n");
    fc_send(&fc, "BDAT 11 LAST\r\n\r\n.one\r\ntwo");
    const char *id = queued_id(reply());
    assert_true(queue_file_exists("env", id));
    assert_true(queue_file_exists("msg", id));
    /* No dot-stuffing in BDAT; the missing final CRLF is added. */
    assert_non_null(strstr(read_queue_msg(id), "\r\nSubject: chunk\r\n\r\n.one\r\ntwo\r\n"));
    /* Out of a transaction a malformed BDAT is out of sequence; inside one
     * its chunk cannot be skipped: the session closes. */
    assert_string_equal(cmd("BDAT x"), "503 5.5.1 Need MAIL and RCPT before DATA\r\n");
    assert_string_equal(cmd("MAIL FROM:<sender@remote.test>"), "250 2.1.0 Ok\r\n");
    assert_string_equal(cmd("RCPT TO:<alice@example.test>"), "250 2.1.5 Ok\r\n");
    assert_string_equal(cmd("BDAT x"), "501 5.5.4 Syntax: BDAT <size> [LAST]\r\n");
    assert_string_equal(reply(),
                        "421 4.5.0 mx.example.test Cannot recover from a malformed BDAT\r\n");
    assert_closed();
}

static void test_pipelining_violation(void **state)
{
    daemon_start("");
    connect_service(SERVICE_SMTP);
    reply();
    fc_send(&fc, "EHLO client.test\r\nNOOP\r\n");
    assert_string_equal(reply(), "554 5.5.0 mx.example.test Protocol error: commands sent before "
                                 "the reply to a command that must end a pipelined group (RFC "
                                 "2920)\r\n");
    assert_closed();
}

static void test_quit(void **state)
{
    daemon_start("");
    connect_service(SERVICE_SMTP);
    reply();
    assert_string_equal(cmd("QUIT"), "221 2.0.0 mx.example.test Bye\r\n");
    assert_closed();
}

static void test_command_deadline(void **state)
{
    daemon_start("[smtpd]\ncommand_timeout = 150ms\n");
    connect_service(SERVICE_SMTP);
    uint64_t t0 = fc_now_ms();
    reply();
    fc_run_for(&fc, 100);
    assert_string_equal(cmd("NOOP"), "250 2.0.0 Ok\r\n"); /* each command restarts it */
    fc_run_for(&fc, 100);
    assert_int_equal(fc.len, 0);
    assert_int_equal(d.sessions, 1);
    assert_string_equal(reply(), "421 4.4.2 mx.example.test Error: timeout exceeded\r\n");
    assert_true(fc_now_ms() - t0 >= 250 - FC_CLOCK_SLACK_MS);
    assert_closed();
}

static void test_pregreet_is_refused(void **state)
{
    daemon_start("[smtpd]\ngreeting_delay = 200ms\n");
    connect_service(SERVICE_SMTP);
    fc_send(&fc, "EHLO early.test\r\n");
    assert_string_equal(
        reply(), "554 5.5.1 mx.example.test Protocol error: you talked before the greeting\r\n");
    assert_closed();
}

static void test_greeting_delay(void **state)
{
    daemon_start("[smtpd]\ngreeting_delay = 100ms\n");
    connect_service(SERVICE_SMTP);
    fc_run_for(&fc, 50);
    assert_int_equal(fc.len, 0);
    assert_string_equal(reply(), "220 mx.example.test ESMTP Postern\r\n");
    assert_string_equal(cmd("HELO client.test"), "250 mx.example.test\r\n");
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* as the daemon: a closed peer is an error, not a signal */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_greeting_and_ehlo_smtp, teardown),
        cmocka_unit_test_teardown(test_submission_refuses_without_tls, teardown),
        cmocka_unit_test_teardown(test_sequence_errors, teardown),
        cmocka_unit_test_teardown(test_too_many_errors_close, teardown),
        cmocka_unit_test_teardown(test_syntax_errors, teardown),
        cmocka_unit_test_teardown(test_line_errors, teardown),
        cmocka_unit_test_teardown(test_data_transaction_is_queued, teardown),
        cmocka_unit_test_teardown(test_rset_returns_to_ready, teardown),
        cmocka_unit_test_teardown(test_bdat_chunks, teardown),
        cmocka_unit_test_teardown(test_pipelining_violation, teardown),
        cmocka_unit_test_teardown(test_quit, teardown),
        cmocka_unit_test_teardown(test_command_deadline, teardown),
        cmocka_unit_test_teardown(test_pregreet_is_refused, teardown),
        cmocka_unit_test_teardown(test_greeting_delay, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
