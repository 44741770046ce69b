/* The mailq listing the control socket serves (control/listing.h), built
 * from envelope files in a temporary queue: text and JSON layouts, held
 * entries, errors, escaping, entries that are not (or no longer) there. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "control/listing.h"
#include "queue/queue.h"
#include "util/xmalloc.h"

struct world {
    char dir[64];
    struct queue *q;
};

static int setup(void **state)
{
    struct world *w = xcalloc(1, sizeof(*w));
    snprintf(w->dir, sizeof(w->dir), "/tmp/postern-listing-XXXXXX");
    assert_non_null(mkdtemp(w->dir));
    struct buf err;
    buf_init(&err);
    w->q = queue_open(w->dir, &err);
    assert_non_null(w->q);
    buf_free(&err);
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    struct world *w = *state;
    queue_close(&w->q);
    char *cmd = xasprintf("rm -rf '%s'", w->dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    free(w);
    return 0;
}

static void put_file(struct world *w, const char *name, const char *text, size_t len)
{
    char *path = xasprintf("%s/queue/env/%s", w->dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    free(path);
}

static void put(struct world *w, const char *id, const char *sender, bool held, uint64_t size)
{
    struct envelope *env = envelope_new();
    snprintf(env->id, sizeof(env->id), "%s", id);
    free(env->sender);
    env->sender = xstrdup(sender);
    env->arrival = 1764000000;
    env->size = size;
    env->held = held;
    struct envelope_rcpt *r = envelope_add_rcpt(env, "bob@remote.test", "bob@remote.test");
    r->last_error = xstrdup("451 4.4.1 \"busy\"\ttry later");
    r->next_attempt = time(NULL) + 3600;
    r->attempts = 2;
    envelope_add_rcpt(env, "done@remote.test", "done@remote.test")->state = RCPT_DONE;
    struct buf text;
    buf_init(&text);
    envelope_serialize(env, &text);
    put_file(w, id, text.data, text.len);
    buf_free(&text);
    envelope_free(&env);
}

static char *listing(struct world *w, bool json)
{
    struct buf out;
    buf_init(&out);
    assert_int_equal(control_listing(w->q, json, &out), 0);
    return out.data ? out.data : xstrdup("");
}

static void test_empty(void **state)
{
    struct world *w = *state;
    char *t = listing(w, false);
    assert_string_equal(t, "Mail queue is empty\n");
    free(t);
    t = listing(w, true);
    assert_string_equal(t, "[]\n");
    free(t);
}

static void test_text(void **state)
{
    struct world *w = *state;
    put(w, "00000000000000002", "", false, 2048);
    put(w, "00000000000000001", "alice@example.test", true, 100);
    put_file(w, "not-a-queue-id", "x", 1);
    put_file(w, "00000000000000003", "this is not an envelope\n\0\xff", 27);
    char *t = listing(w, false);
    /* sorted by id (arrival), held marked with !, the null sender named */
    char *first = strstr(t, "00000000000000001   !      100 ");
    char *second = strstr(t, "00000000000000002         2048 ");
    assert_non_null(first);
    assert_non_null(second);
    assert_true(first < second);
    assert_non_null(strstr(first, "alice@example.test\n"));
    assert_non_null(strstr(second, "MAILER-DAEMON\n"));
    assert_non_null(strstr(t, "(451 4.4.1 \"busy\"\ttry later)\n"));
    assert_non_null(strstr(t, "bob@remote.test  next attempt in "));
    assert_null(strstr(t, "done@remote.test")); /* only pending recipients */
    assert_null(strstr(t, "not-a-queue-id"));
    assert_null(strstr(t, "00000000000000003"));
    assert_non_null(strstr(t, "-- 3 Kbytes in 2 Requests.\n"));
    free(t);
}

static void test_json(void **state)
{
    struct world *w = *state;
    put(w, "00000000000000001", "we\"ird\\\x01@example.test", true, 10);
    char *t = listing(w, true);
    assert_non_null(strstr(t, "[{\"id\":\"00000000000000001\",\"arrival\":1764000000,\"size\":10,"
                              "\"held\":true,\"sender\":\"we\\\"ird\\\\\\u0001@example.test\""));
    assert_non_null(strstr(t, "\"last_error\":\"451 4.4.1 \\\"busy\\\"\\u0009try later\""));
    assert_non_null(strstr(t, "\"state\":\"done\""));
    assert_non_null(strstr(t, "\"attempts\":2"));
    assert_int_equal(t[strlen(t) - 2], ']');
    free(t);
}

static void test_no_env_dir(void **state)
{
    struct world *w = *state;
    char *path = xasprintf("%s/queue/env", w->dir);
    assert_int_equal(rmdir(path), 0);
    char *t = listing(w, false);
    assert_string_equal(t, "Mail queue is empty\n");
    free(t);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_env_dir, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
