/* Unit tests for deliver/retry: the wait after each failed attempt (the
 * configured steps, the last one repeating), and the give-up decision at the
 * end of the queue lifetime, with the clock at, before and after the edges. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "conf/conf.h"
#include "deliver/retry.h"
#include "util/buf.h"

#define MINIMAL "[listen]\nsmtp = 127.0.0.1:2525\n[domains]\nlocal = example.test\n"

/* An arbitrary arrival time (2026-12-04), far from 0 and from overflow. */
#define ARRIVAL ((int64_t)1796342400)

static struct conf *load(const char *relay)
{
    struct buf text, err;
    buf_init(&text);
    buf_init(&err);
    buf_printf(&text, MINIMAL "[relay]\n%s", relay);
    struct conf *c = conf_load_string("retry.conf", text.data, text.len, &err);
    if (c == NULL)
        fail_msg("%s", err.data);
    buf_free(&text);
    buf_free(&err);
    return c;
}

/* Without [relay] retry: 1m, 5m, 15m, 30m, 1h, 2h, 4h, then every 4h; the
 * lifetime is 5 days. */
static void test_default_schedule(void **state)
{
    (void)state;
    struct conf *c = load("");
    static const int64_t want[] = {60, 300, 900, 1800, 3600, 7200, 14400, 14400, 14400};
    for (unsigned n = 1; n <= sizeof(want) / sizeof(want[0]); n++)
        assert_int_equal(retry_delay(c, n), want[n - 1]);
    assert_int_equal(retry_delay(c, 1000), 14400);
    assert_int_equal(retry_delay(c, UINT_MAX), 14400);
    /* No failed attempt yet counts as the first. */
    assert_int_equal(retry_delay(c, 0), 60);
    assert_int_equal(retry_expiry(c, ARRIVAL), ARRIVAL + 5 * 86400);
    conf_free(&c);
}

static void test_configured_schedule(void **state)
{
    (void)state;
    struct conf *c = load("retry = 10s, 1m, 2h\nqueue_lifetime = 1d\n");
    assert_int_equal(retry_delay(c, 0), 10);
    assert_int_equal(retry_delay(c, 1), 10);
    assert_int_equal(retry_delay(c, 2), 60);
    assert_int_equal(retry_delay(c, 3), 7200);
    /* Past the list: its last step again, clamped, not wrapped around. */
    assert_int_equal(retry_delay(c, 4), 7200);
    assert_int_equal(retry_delay(c, 50), 7200);
    assert_int_equal(retry_expiry(c, ARRIVAL), ARRIVAL + 86400);
    conf_free(&c);

    /* One step: it repeats from the first attempt on. */
    c = load("retry = 3s\n");
    assert_int_equal(retry_delay(c, 1), 3);
    assert_int_equal(retry_delay(c, 2), 3);
    assert_int_equal(retry_delay(c, 99), 3);
    conf_free(&c);
}

/* A step below one second waits one second (0 would retry at once, in a
 * loop); whole seconds are truncated, never rounded up. */
static void test_subsecond_steps(void **state)
{
    (void)state;
    struct conf *c = load("retry = 500ms, 1500ms, 2999ms\nqueue_lifetime = 2500ms\n");
    assert_int_equal(retry_delay(c, 1), 1);
    assert_int_equal(retry_delay(c, 2), 1);
    assert_int_equal(retry_delay(c, 3), 2);
    assert_int_equal(retry_expiry(c, ARRIVAL), ARRIVAL + 2);
    conf_free(&c);

    /* A conf built by hand with no steps (conf_load never makes one) still
     * waits, and reads nothing outside the list. */
    struct conf bare;
    memset(&bare, 0, sizeof(bare));
    bare.queue_lifetime_ms = 60000;
    assert_int_equal(retry_delay(&bare, 0), 1);
    assert_int_equal(retry_delay(&bare, 5), 1);
}

static void test_expired(void **state)
{
    (void)state;
    struct conf *c = load("retry = 10s, 1m\nqueue_lifetime = 1h\n");
    int64_t end = ARRIVAL + 3600;
    assert_false(retry_expired(c, ARRIVAL, ARRIVAL));
    assert_false(retry_expired(c, ARRIVAL, end - 1));
    /* Exactly at the end of the lifetime: given up (the last try was due
     * then, see retry_next). */
    assert_true(retry_expired(c, ARRIVAL, end));
    assert_true(retry_expired(c, ARRIVAL, end + 1));
    assert_true(retry_expired(c, ARRIVAL, end + 86400 * 365));
    /* A clock set earlier than the arrival (stepped back, or an envelope
     * from a machine ahead of us) is not a reason to give up. */
    assert_false(retry_expired(c, ARRIVAL, ARRIVAL - 1));
    assert_false(retry_expired(c, ARRIVAL, ARRIVAL - 86400 * 30));
    assert_false(retry_expired(c, ARRIVAL, 0));
    conf_free(&c);
}

static void test_next_attempt(void **state)
{
    (void)state;
    struct conf *c = load("retry = 10s, 1m, 20m\nqueue_lifetime = 1h\n");
    int64_t end = ARRIVAL + 3600;
    /* Early on: now plus the step of that attempt count. */
    assert_int_equal(retry_next(c, 1, ARRIVAL, ARRIVAL), ARRIVAL + 10);
    assert_int_equal(retry_next(c, 2, ARRIVAL, ARRIVAL + 10), ARRIVAL + 70);
    assert_int_equal(retry_next(c, 3, ARRIVAL, ARRIVAL + 70), ARRIVAL + 70 + 1200);
    assert_int_equal(retry_next(c, 9, ARRIVAL, ARRIVAL + 100), ARRIVAL + 100 + 1200);
    /* A step that would overshoot the end: the last try is at the end. */
    assert_int_equal(retry_next(c, 3, ARRIVAL, end - 60), end);
    assert_int_equal(retry_next(c, 1, ARRIVAL, end - 5), end);
    /* One that lands exactly on it, and one just before it. */
    assert_int_equal(retry_next(c, 3, ARRIVAL, end - 1200), end);
    assert_int_equal(retry_next(c, 3, ARRIVAL, end - 1201), end - 1);
    /* At or past the end (the caller gives up instead): never later than
     * the end, so no timer is armed into the far future. */
    assert_int_equal(retry_next(c, 3, ARRIVAL, end), end);
    assert_int_equal(retry_next(c, 3, ARRIVAL, end + 500), end);
    /* Clock before the arrival: the step counts from now. */
    assert_int_equal(retry_next(c, 1, ARRIVAL, ARRIVAL - 1000), ARRIVAL - 990);
    conf_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_schedule), cmocka_unit_test(test_configured_schedule),
        cmocka_unit_test(test_subsecond_steps),  cmocka_unit_test(test_expired),
        cmocka_unit_test(test_next_attempt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
