/* The session skeleton (src/session): its input loop in line mode (lines
 * split across writes, pipelined, too long, bare LF, bad-command counting
 * to the close), raw mode for a counted literal inside a command, busy
 * input that waits, the input pause, the idle deadline (fired, and
 * re-armed while busy), shutdown and the close-all over the registry, and
 * the snapshot reference a session holds. A made-up protocol drives it,
 * on one end of a socket pair and a real event loop; the test is the
 * client on the other end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "conf/conf.h"
#include "daemon.h"
#include "net/conn.h"
#include "proto/smtp_parse.h"
#include "session/session.h"
#include "snapshot.h"
#include "util/log.h"

enum test_mode { MODE_LINE, MODE_RAW, MODE_BUSY, MODE_HOLD };

struct test_session {
    SESSION_EMBED;
    enum test_mode mode;
    size_t raw_left; /* octets of the literal still to come */
};

/* What the protocol saw; kept outside the session, which is freed. */
static struct record {
    char lines[1024]; /* "LINE|" per line, "+" after one with more input behind */
    char raw[256];
    unsigned too_long, bare_lf, too_many, timeouts, resumes, shutdowns, close_alls, frees;
    char close_why[64];
} rec;

static struct daemon d;
static int client = -1;

static struct test_session *ts(struct session *s)
{
    return (struct test_session *)s;
}

static enum session_input op_input(struct session *s)
{
    switch (ts(s)->mode) {
    case MODE_RAW:
        return SESSION_INPUT_RAW;
    case MODE_BUSY:
        return SESSION_INPUT_BUSY;
    case MODE_HOLD:
        return SESSION_INPUT_HOLD;
    case MODE_LINE:
        break;
    }
    return SESSION_INPUT_LINE;
}

static size_t op_line_max(struct session *s)
{
    return 16;
}

/* "RAW n": a literal of n octets follows; "BUSY": our work starts;
 * "BAD": a protocol error; "QUIT": close. */
static bool op_on_line(struct session *s, const char *line, size_t len, bool more_input)
{
    size_t used = strlen(rec.lines);
    snprintf(rec.lines + used, sizeof(rec.lines) - used, "%.*s%s|", (int)len, line,
             more_input ? "+" : "");
    if (len > 4 && strncmp(line, "RAW ", 4) == 0) {
        ts(s)->raw_left = strtoul(line + 4, NULL, 10);
        ts(s)->mode = MODE_RAW;
    } else if (len == 4 && memcmp(line, "BUSY", 4) == 0) {
        ts(s)->mode = MODE_BUSY;
        return false;
    } else if (len == 3 && memcmp(line, "BAD", 3) == 0) {
        session_bad_command(s);
    } else if (len == 4 && memcmp(line, "QUIT", 4) == 0) {
        session_close_after_write(s);
        return false;
    }
    return true;
}

static size_t op_on_raw(struct session *s, const char *data, size_t len)
{
    size_t take = len < ts(s)->raw_left ? len : ts(s)->raw_left;
    strncat(rec.raw, data, take);
    ts(s)->raw_left -= take;
    if (ts(s)->raw_left == 0)
        ts(s)->mode = MODE_LINE; /* the rest of the command is a line again */
    return take;
}

static void op_on_line_error(struct session *s, enum line_result error, size_t max)
{
    assert_int_equal(max, 16);
    if (error == LINE_TOO_LONG)
        rec.too_long++;
    else if (error == LINE_BARE_LF)
        rec.bare_lf++;
    else
        fail_msg("line error %d", (int)error);
}

static void op_too_many_errors(struct session *s)
{
    rec.too_many++;
    session_close_after_write(s);
}

static void op_on_timeout(struct session *s)
{
    rec.timeouts++;
    session_close_after_write(s);
}

static void op_on_resume(struct session *s)
{
    rec.resumes++;
}

static void op_on_shutdown(struct session *s)
{
    rec.shutdowns++;
}

static void op_on_close_all(struct session *s)
{
    rec.close_alls++;
}

static bool op_on_close(struct session *s, const char *why)
{
    snprintf(rec.close_why, sizeof(rec.close_why), "%s", why);
    return false;
}

static void op_on_free(struct session *s)
{
    rec.frees++;
}

static const struct session_ops test_ops = {
    .proto = "test",
    .input = op_input,
    .line_max = op_line_max,
    .on_line = op_on_line,
    .on_line_error = op_on_line_error,
    .on_raw = op_on_raw,
    .on_too_many_errors = op_too_many_errors,
    .on_timeout = op_on_timeout,
    .on_resume = op_on_resume,
    .on_shutdown = op_on_shutdown,
    .on_close_all = op_on_close_all,
    .on_close = op_on_close,
    .on_free = op_on_free,
};

static int setup(void **state)
{
    log_set_level(LOG_LEVEL_ERROR);
    static const char text[] = "[listen]\nsmtp = 127.0.0.1:2525\n[domains]\nlocal = example.test\n"
                               "[limits]\nbad_commands = 3\n";
    struct buf err;
    buf_init(&err);
    struct conf *conf = conf_load_string("t.conf", text, sizeof(text) - 1, &err);
    if (conf == NULL)
        fail_msg("%s", err.data);
    buf_free(&err);
    memset(&d, 0, sizeof(d));
    daemon_install_snapshot(&d, snapshot_new(conf, NULL, NULL, NULL));
    d.base = event_base_new();
    memset(&rec, 0, sizeof(rec));
    return 0;
}

static int teardown(void **state)
{
    session_close_all(&d);
    if (client >= 0)
        close(client);
    client = -1;
    event_base_loop(d.base, EVLOOP_NONBLOCK); /* freed bufferevents finalise */
    event_base_free(d.base);
    snapshot_unref(&d.snap);
    assert_int_equal(snapshot_live(), 0);
    return 0;
}

static struct test_session *start(unsigned idle_ms)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    client = sv[1];
    fcntl(client, F_SETFL, O_NONBLOCK);
    struct sockaddr_in peer = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    struct test_session *s =
        (struct test_session *)session_new(&d, sizeof(*s), &test_ops, SERVICE_SMTP, sv[0],
                                           (const struct sockaddr *)&peer, sizeof(peer), NULL);
    s->idle_ms = idle_ms;
    session_arm_idle(&s->base);
    return s;
}

static void run(void)
{
    for (int i = 0; i < 20; i++)
        event_base_loop(d.base, EVLOOP_NONBLOCK);
}

/* Runs the loop for about ms milliseconds (timers fire). */
static void run_for(unsigned ms)
{
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        struct timeval tv = {0, 5000};
        event_base_loopexit(d.base, &tv);
        event_base_dispatch(d.base);
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000 < ms);
}

static void send_text(const char *text)
{
    assert_int_equal(write(client, text, strlen(text)), (ssize_t)strlen(text));
    run();
}

static void test_lines_split_and_pipelined(void **state)
{
    struct test_session *s = start(10000);
    assert_int_equal(d.sessions, 1);
    assert_ptr_equal(d.session_list, &s->base);
    assert_string_equal(s->ip, "127.0.0.1");
    assert_ptr_equal(s->snap, d.snap);
    send_text("NO");
    assert_string_equal(rec.lines, ""); /* half a line waits */
    send_text("OP\r\nA\r\nB");
    assert_string_equal(rec.lines, "NOOP+|A+|"); /* "B" waits behind "A" */
    send_text("\r\n");
    assert_string_equal(rec.lines, "NOOP+|A+|B|");
    assert_int_equal(s->bad_commands, 0);
}

static void test_bad_lines_count_to_the_close(void **state)
{
    struct test_session *s = start(10000);
    send_text("0123456789abcdefXYZ\r\n"); /* 21 octets with CRLF: over 16 */
    assert_int_equal(rec.too_long, 1);
    assert_string_equal(rec.lines, ""); /* the over-long line is dropped whole */
    send_text("OK\r\nbare\n");
    assert_int_equal(rec.bare_lf, 1);
    assert_string_equal(rec.lines, "OK+|");
    assert_int_equal(s->bad_commands, 2);
    assert_int_equal(rec.too_many, 0);
    send_text("BAD\r\nAFTER\r\n");
    assert_int_equal(rec.too_many, 1); /* the third error closes */
    /* Nothing is read after the close began; the session then ends. */
    assert_string_equal(rec.lines, "OK+|BAD+|");
    assert_int_equal(rec.frees, 1);
    assert_string_equal(rec.close_why, "done");
    assert_int_equal(d.sessions, 0);
    assert_null(d.session_list);
}

static void test_raw_literal_inside_a_command(void **state)
{
    start(10000);
    send_text("RAW 5\r\nhel");
    assert_string_equal(rec.raw, "hel");
    send_text("loNEXT\r\n"); /* the literal ends inside a write: a line follows */
    assert_string_equal(rec.raw, "hello");
    assert_string_equal(rec.lines, "RAW 5+|NEXT|");
    /* A literal may hold what would be a bad line: it is not one. */
    send_text("RAW 4\r\na\nb\nEND\r\n");
    assert_string_equal(rec.raw, "helloa\nb\n");
    assert_int_equal(rec.bare_lf, 0);
    assert_string_equal(rec.lines, "RAW 5+|NEXT|RAW 4+|END|");
}

static void test_busy_input_waits(void **state)
{
    struct test_session *s = start(10000);
    send_text("BUSY\r\nX\r\n");
    assert_string_equal(rec.lines, "BUSY+|");
    send_text("Y\r\n");
    assert_string_equal(rec.lines, "BUSY+|"); /* still busy: nothing read */
    s->mode = MODE_LINE;                      /* the work is done */
    session_process_input(&s->base);
    assert_string_equal(rec.lines, "BUSY+|X+|Y|");
}

static void test_pause_holds_input_then_resumes(void **state)
{
    struct test_session *s = start(10000);
    session_pause_input(&s->base, 60);
    send_text("P\r\n");
    assert_string_equal(rec.lines, "");
    assert_int_equal(rec.resumes, 0);
    run_for(120);
    assert_int_equal(rec.resumes, 1);
    assert_string_equal(rec.lines, "P|");
}

static void test_idle_deadline(void **state)
{
    struct test_session *s = start(100);
    send_text("BUSY\r\n");
    run_for(250); /* busy: the deadline re-arms, no timeout */
    assert_int_equal(rec.timeouts, 0);
    s->mode = MODE_LINE;
    send_text("A\r\n");
    run_for(60);
    send_text("B\r\n"); /* each line restarts the deadline */
    run_for(50);
    assert_int_equal(rec.timeouts, 0);
    run_for(300);
    assert_int_equal(rec.timeouts, 1);
    assert_int_equal(rec.frees, 1);
    assert_int_equal(d.sessions, 0);
}

static void test_hold_sends_the_deadline_to_the_protocol(void **state)
{
    struct test_session *s = start(40);
    s->mode = MODE_HOLD;
    send_text("A\r\n");
    assert_string_equal(rec.lines, "");
    run_for(120);
    assert_int_equal(rec.timeouts, 1);
}

static void test_shutdown_and_close_all(void **state)
{
    start(10000);
    start(10000);
    assert_int_equal(d.sessions, 2);
    assert_int_equal(d.snap->refs, 3); /* the daemon's and one per session */
    session_shutdown_begin(&d);
    assert_int_equal(rec.shutdowns, 2);
    session_close_all(&d);
    assert_int_equal(rec.close_alls, 2);
    assert_int_equal(rec.frees, 2);
    assert_int_equal(d.sessions, 0);
    assert_int_equal(d.snap->refs, 1);
}

/* A reload during a session: the session keeps its configuration. */
static void test_session_keeps_its_snapshot(void **state)
{
    struct test_session *s = start(10000);
    struct snapshot *first = d.snap;
    static const char text[] = "[listen]\nsmtp = 127.0.0.1:2525\n[domains]\nlocal = example.test\n"
                               "[limits]\nbad_commands = 1\n";
    struct buf err;
    buf_init(&err);
    struct conf *conf = conf_load_string("t.conf", text, sizeof(text) - 1, &err);
    assert_non_null(conf);
    buf_free(&err);
    daemon_install_snapshot(&d, snapshot_new(conf, NULL, NULL, NULL));
    assert_ptr_equal(s->snap, first);
    assert_int_equal(snapshot_live(), 2);
    send_text("BAD\r\n");
    assert_int_equal(rec.too_many, 0); /* its limit is still 3 */
    send_text("BAD\r\nBAD\r\n");
    assert_int_equal(rec.too_many, 1);
    assert_int_equal(d.sessions, 0);
    assert_int_equal(snapshot_live(), 1); /* the old one went with the session */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lines_split_and_pipelined, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_lines_count_to_the_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_raw_literal_inside_a_command, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy_input_waits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pause_holds_input_then_resumes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hold_sends_the_deadline_to_the_protocol, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_and_close_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_keeps_its_snapshot, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
