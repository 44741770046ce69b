/* Unit tests for queue/envelope: the text form round-trips every value, and
 * the parser refuses anything malformed instead of guessing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/smtp_parse.h"
#include "queue/envelope.h"
#include "util/xmalloc.h"

static void set(char **field, const char *v)
{
    free(*field);
    *field = v ? xstrdup(v) : NULL;
}

static struct envelope *sample(void)
{
    struct envelope *env = envelope_new();
    strcpy(env->id, "0123456789ABCDEFGHIJ");
    env->arrival = 1796040000;
    set(&env->sender, "sender@example.org");
    set(&env->helo, "client.example");
    set(&env->client, "192.0.2.1");
    env->ret = SMTP_RET_HDRS;
    env->smtputf8 = true;
    env->body_8bit = true;
    env->held = false;
    env->size = 123456;
    struct envelope_rcpt *r = envelope_add_rcpt(env, "alice@example.test", "info@example.test");
    r->notify = SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE;
    r->orcpt = xstrdup("rfc822;info@example.test");
    r = envelope_add_rcpt(env, "bob@remote.example", NULL);
    r->state = RCPT_FAILED;
    r->attempts = 7;
    r->next_attempt = 1796043600;
    r->last_error = xstrdup("550 5.1.1 <bob@remote.example>: no such user");
    r = envelope_add_rcpt(env, "carol@example.test", NULL);
    r->state = RCPT_DONE;
    return env;
}

static bool str_eq(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static void assert_same(const struct envelope *a, const struct envelope *b)
{
    assert_string_equal(a->id, b->id);
    assert_true(a->arrival == b->arrival);
    assert_true(str_eq(a->sender, b->sender));
    assert_true(str_eq(a->helo, b->helo));
    assert_true(str_eq(a->client, b->client));
    assert_true(str_eq(a->auth_user, b->auth_user));
    assert_true(str_eq(a->envid, b->envid));
    assert_int_equal(a->ret, b->ret);
    assert_int_equal(a->smtputf8, b->smtputf8);
    assert_int_equal(a->body_8bit, b->body_8bit);
    assert_int_equal(a->held, b->held);
    assert_int_equal(a->warned, b->warned);
    assert_true(a->size == b->size);
    assert_int_equal(a->nrcpts, b->nrcpts);
    for (size_t i = 0; i < a->nrcpts; i++) {
        const struct envelope_rcpt *x = &a->rcpts[i], *y = &b->rcpts[i];
        assert_true(str_eq(x->addr, y->addr));
        assert_true(str_eq(x->orig, y->orig));
        assert_true(str_eq(x->orcpt, y->orcpt));
        assert_true(str_eq(x->last_error, y->last_error));
        assert_int_equal(x->state, y->state);
        assert_int_equal(x->notify, y->notify);
        assert_int_equal(x->attempts, y->attempts);
        assert_true(x->next_attempt == y->next_attempt);
    }
}

/* Serialises, checks the text is one field per line with nothing that is
 * not printable ASCII, parses it back and compares. */
static void round_trip(const struct envelope *env, size_t expect_lines)
{
    struct buf text;
    buf_init(&text);
    envelope_serialize(env, &text);
    size_t lines = 0;
    for (size_t i = 0; i < text.len; i++) {
        unsigned char c = (unsigned char)text.data[i];
        if (c == '\n')
            lines++;
        else if (c < 0x20 || c >= 0x7f)
            fail_msg("octet %#x at %zu in the envelope text", c, i);
    }
    assert_int_equal(lines, expect_lines);
    struct envelope *back = NULL;
    const char *why = envelope_parse(text.data, text.len, &back);
    if (why)
        fail_msg("parse failed: %s\n%s", why, text.data);
    assert_same(env, back);
    /* Serialising again gives the same text. */
    struct buf again;
    buf_init(&again);
    envelope_serialize(back, &again);
    assert_int_equal(again.len, text.len);
    assert_memory_equal(again.data, text.data, text.len);
    envelope_free(&back);
    assert_null(back);
    buf_free(&again);
    buf_free(&text);
}

#define FIXED_LINES 14 /* magic, 12 fields, end */

static void test_round_trip(void **state)
{
    struct envelope *env = sample();
    round_trip(env, FIXED_LINES + 3);
    envelope_free(&env);
    env = envelope_new();
    strcpy(env->id, "A");
    round_trip(env, FIXED_LINES); /* no recipients, null sender, NULL fields */
    envelope_free(&env);
}

static void test_round_trip_hostile(void **state)
{
    static const char *const values[] = {
        "-",
        "%",
        "%2D",
        "%%41",
        " ",
        "a b  c ",
        "line\r\nrcpt done 0 0 0 evil@x - - -\nend\n",
        "\r",
        "\n",
        "tab\there",
        "\x01\x02\x1f\x7f",
        "\xff\xfe\x80",
        "j\xc3\xb6rg@b\xc3\xbc\x63her.example",
        "end",
        "rcpt",
        "+-=;:<>\"'\\`${run{/bin/sh}}",
    };
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        struct envelope *env = sample();
        const char *v = values[i];
        set(&env->sender, v);
        set(&env->helo, v);
        set(&env->client, v);
        set(&env->auth_user, v);
        set(&env->envid, v);
        for (size_t k = 0; k < env->nrcpts; k++) {
            set(&env->rcpts[k].addr, v);
            set(&env->rcpts[k].orig, v);
            set(&env->rcpts[k].orcpt, v);
            set(&env->rcpts[k].last_error, v);
        }
        round_trip(env, FIXED_LINES + 3);
        envelope_free(&env);
    }
}

static void test_round_trip_numbers(void **state)
{
    struct envelope *env = sample();
    env->arrival = INT64_MAX;
    env->size = (uint64_t)INT64_MAX;
    env->held = true;
    env->warned = true;
    env->ret = SMTP_RET_FULL;
    env->rcpts[0].notify = 15;
    env->rcpts[0].attempts = 1000000;
    env->rcpts[0].next_attempt = -1;
    env->rcpts[1].next_attempt = INT64_MIN + 1;
    round_trip(env, FIXED_LINES + 4); /* "warned 1" is written only when set */
    envelope_free(&env);
}

static void test_helpers(void **state)
{
    struct envelope *env = sample();
    struct envelope *empty = envelope_new();
    assert_string_equal(empty->sender, "");
    assert_int_equal(empty->nrcpts, 0);
    envelope_free(&empty);
    assert_int_equal(envelope_find_rcpt(env, "bob@remote.example"), 1);
    assert_int_equal(envelope_find_rcpt(env, "alice@example.test"), 0);
    assert_int_equal(envelope_find_rcpt(env, "nobody@example.test"), -1);
    assert_int_equal(envelope_find_rcpt(env, "ALICE@example.test"), -1);
    assert_int_equal(envelope_pending(env), 1);
    env->rcpts[0].state = RCPT_DONE;
    assert_int_equal(envelope_pending(env), 0);
    assert_string_equal(env->rcpts[2].orig, "carol@example.test"); /* orig defaults to addr */
    envelope_free(&env);
    assert_null(env);
    envelope_free(&env); /* NULL is fine */
}

static struct buf good_text(void)
{
    struct envelope *env = sample();
    env->warned = true; /* so that its line is there to spoil too */
    struct buf text;
    buf_init(&text);
    envelope_serialize(env, &text);
    envelope_free(&env);
    return text;
}

static void test_truncated(void **state)
{
    struct buf text = good_text();
    struct envelope *env = NULL;
    assert_null(envelope_parse(text.data, text.len, &env));
    envelope_free(&env);
    /* Every proper prefix is refused: a file cut anywhere is detected. */
    for (size_t len = 0; len < text.len; len++) {
        const char *why = envelope_parse(text.data, len, &env);
        if (why == NULL)
            fail_msg("a prefix of %zu octets was accepted", len);
        assert_null(env);
    }
    /* So is anything after the end line. */
    buf_append_str(&text, "x");
    assert_non_null(envelope_parse(text.data, text.len, &env));
    text.len--;
    buf_append_str(&text, "\n");
    assert_non_null(envelope_parse(text.data, text.len, &env));
    buf_free(&text);
}

/* Replaces the line of key (the "end" line for "end"), or inserts line
 * before the end line when key is NULL, and expects a refusal. */
static void expect_refused(const char *key, const char *line)
{
    struct buf text = good_text();
    struct buf bad;
    buf_init(&bad);
    const char *p = text.data;
    const char *k = key ? key : "end";
    size_t klen = strlen(k);
    bool replaced = false;
    while (*p) {
        size_t n = (size_t)(strchr(p, '\n') - p) + 1;
        if (!replaced && strncmp(p, k, klen) == 0 && (p[klen] == ' ' || p[klen] == '\n')) {
            buf_append_str(&bad, line);
            if (key == NULL)
                buf_append(&bad, p, n);
            replaced = true;
        } else {
            buf_append(&bad, p, n);
        }
        p += n;
    }
    assert_true(replaced);
    struct envelope *env = (struct envelope *)1;
    const char *why = envelope_parse(bad.data, bad.len, &env);
    if (why == NULL)
        fail_msg("accepted: %s", bad.data);
    assert_null(env);
    buf_free(&text);
    buf_free(&bad);
}

static void test_bad_lines(void **state)
{
    expect_refused(NULL, "color red\n");   /* unknown key */
    expect_refused(NULL, "\n");            /* empty line */
    expect_refused(NULL, "Sender a@b\n");  /* keys are case-sensitive */
    expect_refused(NULL, " sender a@b\n"); /* leading space: empty key */
    expect_refused(NULL, "sender\n");      /* no value */
    expect_refused("end", "end \n");       /* trailing space */
    expect_refused("end", "end\r\n");      /* CRLF */
    expect_refused("end", "end x\n");
    expect_refused("end", "END\n");
    expect_refused("sender", "sender a@b c@d\n"); /* two values */
    expect_refused("sender", "sender \n");        /* empty token */
    expect_refused("sender", "sender a@b \n");
    expect_refused("sender", "sender  a@b\n");
    expect_refused("helo", "helo a\tb\n");
    expect_refused("helo", "helo a\rb\n");
    expect_refused("helo", "helo a\xff\n");
    expect_refused("helo", "helo a\x7f\n");
    expect_refused("helo", "helo %\n");
    expect_refused("helo", "helo %4\n");
    expect_refused("helo", "helo a%4\n");
    expect_refused("helo", "helo %GG\n");
    expect_refused("helo", "helo %00\n"); /* NUL */
    expect_refused("helo", "helo %0\n");
    expect_refused("id", "id abc\n");
    expect_refused("id", "id 0123456789ABCDEFGHIJK\n");
    expect_refused("id", "id -\n");
    expect_refused("id", "id A/B\n");
    expect_refused("id", "id ../X\n");
    /* A field given twice is an error, not "the last one wins". */
    static const char *const once[] = {
        "id A",  "arrival 1",  "sender a@b", "helo h", "client c", "auth u",  "envid e",
        "ret 1", "smtputf8 0", "body8bit 0", "held 0", "size 1",   "warned 1"};
    for (size_t i = 0; i < sizeof(once) / sizeof(once[0]); i++) {
        char line[64];
        snprintf(line, sizeof(line), "%s\n", once[i]);
        expect_refused(NULL, line);
    }
}

static void test_bad_numbers(void **state)
{
    static const char *const keys[] = {"arrival",  "size", "ret",   "smtputf8",
                                       "body8bit", "held", "warned"};
    static const char *const bad[] = {
        "x",   "-1", "1x", "+1", "\t1", " 1", "0x1", "", "1 ", "1.0", "99999999999999999999",
        "1e3", "-",  "1\r"};
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            char line[100];
            snprintf(line, sizeof(line), "%s %s\n", keys[k], bad[i]);
            expect_refused(keys[k], line);
        }
    }
    /* Values outside a field's range are errors, not guesses. */
    expect_refused("ret", "ret 3\n");
    expect_refused("smtputf8", "smtputf8 2\n");
    expect_refused("body8bit", "body8bit 10\n");
    expect_refused("held", "held 7\n");
    expect_refused("warned", "warned 2\n");
}

static void test_bad_rcpt(void **state)
{
    static const char *const bad[] = {
        "rcpt pending 0 0 0 a@b a@b - - -",
        "rcpt pending 0 0 0 a@b a@b - - - -",
        "rcpt pending 0 0 0 a@b a@b -",
        "rcpt sent 0 0 0 a@b a@b - -",
        "rcpt Pending 0 0 0 a@b a@b - -",
        "rcpt pending 16 0 0 a@b a@b - -",
        "rcpt pending -1 0 0 a@b a@b - -",
        "rcpt pending 0 -1 0 a@b a@b - -",
        "rcpt pending 0 1000001 0 a@b a@b - -",
        "rcpt pending 0 0 x a@b a@b - -",
        "rcpt pending 0 0 +5 a@b a@b - -",
        "rcpt pending x 0 0 a@b a@b - -",
        "rcpt pending 0 0 0 - a@b - -",
        "rcpt pending 0 0 0 a@b a@b - - ",
        "rcpt pending 0 0 0 a@b a@b  -",
        "rcpt pending 0 0 0 a@b a@b - %",
        "rcpt pending 0 0 0 a@b a@b %00 -",
        "rcpt  pending 0 0 0 a@b a@b - -",
        "rcpt",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char line[200];
        snprintf(line, sizeof(line), "%s\n", bad[i]);
        expect_refused(NULL, line);
    }
}

static void test_bad_files(void **state)
{
    struct envelope *env = NULL;
    static const char *const bad[] = {
        "",
        "end\n",
        "postern-envelope 2\nid A\nend\n",
        "postern-envelope 1\r\nid A\nend\n",
        "postern-envelope 1\nend\n", /* no id */
        "postern-envelope 1\nid A\nend",
        "postern-envelope 1\nid A\n",
        "postern-envelope 1\nid A\nend\nend\n",
        "postern-envelope 1\nid A\nend\n\n",
        "postern-envelope 1\nid A\0\nend\n",
        "postern-envelope 1",
        "\npostern-envelope 1\nid A\nend\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t len = strlen(bad[i]) + (i == 9 ? 6 : 0);
        if (envelope_parse(bad[i], len, &env) == NULL)
            fail_msg("file %zu accepted", i);
        assert_null(env);
    }
    static const char ok[] = "postern-envelope 1\nid A\nend\n";
    assert_null(envelope_parse(ok, sizeof(ok) - 1, &env));
    assert_string_equal(env->id, "A");
    assert_string_equal(env->sender, "");
    assert_null(env->helo);
    envelope_free(&env);
    /* The shape the bad rcpt lines above are variations of is accepted. */
    static const char one[] = "postern-envelope 1\nid A\nrcpt pending 0 0 0 a@b a@b - -\nend\n";
    assert_null(envelope_parse(one, sizeof(one) - 1, &env));
    assert_int_equal(env->nrcpts, 1);
    assert_string_equal(env->rcpts[0].addr, "a@b");
    assert_null(env->rcpts[0].orcpt);
    envelope_free(&env);
}

/* A recipient being delivered names its Maildir file; the pair survives a
 * round trip and every malformed variation is refused. */
static void test_delivering_files(void **state)
{
    struct envelope *env = envelope_new();
    snprintf(env->id, sizeof(env->id), "ABC");
    envelope_add_rcpt(env, "a@b", NULL);
    struct envelope_rcpt *r = envelope_add_rcpt(env, "c@d", NULL);
    r->state = RCPT_DELIVERING;
    r->file = strdup("1795.M1P2Q3.host,S=10,W=12");
    assert_int_equal(envelope_pending(env), 2);
    struct buf text;
    buf_init(&text);
    envelope_serialize(env, &text);
    assert_non_null(strstr(text.data, "rcpt delivering "));
    assert_non_null(strstr(text.data, "\nfile 1 1795.M1P2Q3.host,S=10,W=12\n"));
    struct envelope *back = NULL;
    assert_null(envelope_parse(text.data, text.len, &back));
    assert_int_equal(back->rcpts[1].state, RCPT_DELIVERING);
    assert_string_equal(back->rcpts[1].file, r->file);
    assert_null(back->rcpts[0].file);
    envelope_free(&back);
    envelope_free(&env);
    buf_free(&text);

    static const char *const bad[] = {
        /* delivering without its file */
        "postern-envelope 1\nid A\nrcpt delivering 0 1 0 a@b a@b - -\nend\n",
        /* a file for a recipient that is not being delivered */
        "postern-envelope 1\nid A\nrcpt pending 0 1 0 a@b a@b - -\nfile 0 x\nend\n",
        /* index out of range, repeated, not a number, a path, hidden */
        "postern-envelope 1\nid A\nrcpt delivering 0 1 0 a@b a@b - -\nfile 1 x\nend\n",
        "postern-envelope 1\nid A\nrcpt delivering 0 1 0 a@b a@b - -\nfile 0 x\nfile 0 x\nend\n",
        "postern-envelope 1\nid A\nrcpt delivering 0 1 0 a@b a@b - -\nfile x x\nend\n",
        "postern-envelope 1\nid A\nrcpt delivering 0 1 0 a@b a@b - -\nfile 0 ../x\nend\n",
        "postern-envelope 1\nid A\nrcpt delivering 0 1 0 a@b a@b - -\nfile 0 .x\nend\n",
        "postern-envelope 1\nid A\nrcpt delivering 0 1 0 a@b a@b - -\nfile 0\nend\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct envelope *e = NULL;
        if (envelope_parse(bad[i], strlen(bad[i]), &e) == NULL)
            fail_msg("accepted %zu: %s", i, bad[i]);
        assert_null(e);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),         cmocka_unit_test(test_round_trip_hostile),
        cmocka_unit_test(test_round_trip_numbers), cmocka_unit_test(test_helpers),
        cmocka_unit_test(test_truncated),          cmocka_unit_test(test_bad_lines),
        cmocka_unit_test(test_bad_numbers),        cmocka_unit_test(test_bad_rcpt),
        cmocka_unit_test(test_bad_files),          cmocka_unit_test(test_delivering_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
