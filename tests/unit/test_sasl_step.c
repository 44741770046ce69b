/* Unit tests for proto/sasl_step: the PLAIN and LOGIN exchanges every
 * service runs. Every path: challenges, initial responses ("=" empty, "*"
 * cancels), authzid, unknown mechanisms, bad base64, malformed and
 * over-long credentials, and that nothing secret is left behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/sasl_step.h"

#define BOTH (SASL_MECH_PLAIN | SASL_MECH_LOGIN)

/* base64 of raw octets (which may hold NULs), in a static buffer. */
static const char *b64n(const char *raw, size_t len)
{
    static char out[16384];
    assert_true(4 * ((len + 2) / 3) + 1 <= sizeof(out));
    base64_encode((const unsigned char *)raw, len, out);
    return out;
}

static const char *b64(const char *s)
{
    return b64n(s, strlen(s));
}

/* "authzid\0user\0password" */
static const char *plain(const char *authzid, const char *user, const char *password)
{
    static char raw[12000];
    size_t a = strlen(authzid), u = strlen(user), p = strlen(password);
    assert_true(a + u + p + 2 <= sizeof(raw));
    memcpy(raw, authzid, a);
    raw[a] = '\0';
    memcpy(raw + a + 1, user, u);
    raw[a + 1 + u] = '\0';
    memcpy(raw + a + u + 2, password, p);
    return b64n(raw, a + u + p + 2);
}

static enum sasl_step_result start(struct sasl_step *st, unsigned offered, const char *mech,
                                   const char *initial)
{
    return sasl_step_start(st, offered, mech, strlen(mech), initial, initial ? strlen(initial) : 0);
}

static enum sasl_step_result feed(struct sasl_step *st, const char *line)
{
    return sasl_step_feed(st, line, strlen(line));
}

/* Nothing of the credentials is left, and no exchange runs. */
static void assert_wiped(const struct sasl_step *st)
{
    static const struct sasl_creds zero;
    assert_int_equal(st->stage, SASL_STAGE_IDLE);
    assert_memory_equal(&st->creds, &zero, sizeof(zero));
}

static void assert_error(struct sasl_step *st, enum sasl_step_result r, enum sasl_result why)
{
    assert_int_equal(r, SASL_STEP_ERROR);
    assert_int_equal(st->error, why);
    assert_wiped(st);
}

static void assert_ready(const struct sasl_step *st, enum sasl_step_result r, const char *user,
                         const char *password)
{
    assert_int_equal(r, SASL_STEP_READY);
    assert_int_equal(st->stage, SASL_STAGE_IDLE);
    assert_string_equal(st->creds.user, user);
    assert_string_equal(st->creds.password, password);
}

static void test_plain_with_challenge(void **state)
{
    struct sasl_step st = {0};
    assert_int_equal(start(&st, BOTH, "PLAIN", NULL), SASL_STEP_CHALLENGE);
    assert_string_equal(st.challenge, ""); /* the empty challenge: "334 " / "+ " */
    assert_int_equal(st.stage, SASL_STAGE_PLAIN);
    assert_ready(&st, feed(&st, plain("", "alice@example.test", "s3cret pw")), "alice@example.test",
                 "s3cret pw");
    assert_string_equal(st.creds.authzid, "");
    sasl_step_reset(&st);
    assert_wiped(&st);
    sasl_step_reset(&st); /* twice is harmless */
    assert_wiped(&st);
}

static void test_plain_initial_response(void **state)
{
    struct sasl_step st = {0};
    assert_ready(&st, start(&st, SASL_MECH_PLAIN, "plain", plain("", "bob", "pw")), "bob", "pw");
    sasl_step_reset(&st);
    /* The mechanism name is matched in any case. */
    assert_ready(&st, start(&st, BOTH, "PlAiN", plain("", "bob", "pw")), "bob", "pw");
    sasl_step_reset(&st);
}

static void test_plain_authzid(void **state)
{
    struct sasl_step st = {0};
    /* Oneself, in any case: accepted. */
    enum sasl_step_result r =
        start(&st, BOTH, "PLAIN", plain("Alice@Example.TEST", "alice@example.test", "pw"));
    assert_ready(&st, r, "alice@example.test", "pw");
    assert_string_equal(st.creds.authzid, "Alice@Example.TEST");
    sasl_step_reset(&st);
    /* Anyone else: refused, and the password is not kept. */
    r = start(&st, BOTH, "PLAIN", plain("bob@example.test", "alice@example.test", "pw"));
    assert_error(&st, r, SASL_AUTHZID);
    assert_int_equal(start(&st, BOTH, "PLAIN", NULL), SASL_STEP_CHALLENGE);
    assert_error(&st, feed(&st, plain("alice", "alice@example.test", "pw")), SASL_AUTHZID);
    assert_string_equal(sasl_result_text(SASL_AUTHZID),
                        "acting as another user (authzid) is not allowed");
}

static void test_empty_initial_response(void **state)
{
    struct sasl_step st = {0};
    /* "=" is the empty response (RFC 4954 4): no credentials in it. */
    assert_error(&st, start(&st, BOTH, "PLAIN", "="), SASL_MALFORMED);
    assert_error(&st, start(&st, BOTH, "LOGIN", "="), SASL_MALFORMED);
    /* "AUTH PLAIN " with nothing after the space is the same. */
    assert_error(&st, start(&st, BOTH, "PLAIN", ""), SASL_MALFORMED);
    assert_error(&st, start(&st, BOTH, "LOGIN", ""), SASL_MALFORMED);
    /* "==" is not "=": not base64 at all. */
    assert_error(&st, start(&st, BOTH, "PLAIN", "=="), SASL_BAD_BASE64);
}

static void test_cancel(void **state)
{
    struct sasl_step st = {0};
    assert_int_equal(start(&st, BOTH, "PLAIN", NULL), SASL_STEP_CHALLENGE);
    assert_int_equal(feed(&st, "*"), SASL_STEP_CANCELLED);
    assert_wiped(&st);
    assert_int_equal(start(&st, BOTH, "PLAIN", "*"), SASL_STEP_CANCELLED);
    assert_wiped(&st);
    assert_int_equal(start(&st, BOTH, "LOGIN", "*"), SASL_STEP_CANCELLED);
    /* Cancelled after the user name: the name goes too. */
    assert_int_equal(start(&st, BOTH, "LOGIN", b64("carol")), SASL_STEP_CHALLENGE);
    assert_string_equal(st.creds.user, "carol");
    assert_int_equal(feed(&st, "*"), SASL_STEP_CANCELLED);
    assert_wiped(&st);
    /* "**" or " *" are not a cancel, just bad data. */
    assert_int_equal(start(&st, BOTH, "PLAIN", NULL), SASL_STEP_CHALLENGE);
    assert_error(&st, feed(&st, "**"), SASL_BAD_BASE64);
    assert_int_equal(start(&st, BOTH, "PLAIN", NULL), SASL_STEP_CHALLENGE);
    assert_error(&st, feed(&st, " *"), SASL_BAD_BASE64);
}

static void test_unknown_mechanism(void **state)
{
    static const char *const names[] = {"CRAM-MD5", "",        "PLAI",          "PLAINX",
                                        "LOGIN ",   "XOAUTH2", "SCRAM-SHA-256", "P\0AIN"};
    struct sasl_step st = {0};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t n = i == 7 ? 5 : strlen(names[i]);
        enum sasl_step_result r = sasl_step_start(&st, BOTH, names[i], n, NULL, 0);
        assert_error(&st, r, SASL_UNKNOWN_MECH);
    }
    /* Only what the service offers: POP3 offers PLAIN alone. */
    assert_error(&st, start(&st, SASL_MECH_PLAIN, "LOGIN", NULL), SASL_UNKNOWN_MECH);
    assert_error(&st, start(&st, SASL_MECH_LOGIN, "PLAIN", plain("", "a", "b")), SASL_UNKNOWN_MECH);
    assert_error(&st, start(&st, 0, "PLAIN", NULL), SASL_UNKNOWN_MECH);
    /* The name is matched on its length, not up to a NUL. */
    assert_error(&st, sasl_step_start(&st, BOTH, "PLAINX", 6, NULL, 0), SASL_UNKNOWN_MECH);
    assert_int_equal(sasl_step_start(&st, BOTH, "PLAINX", 5, NULL, 0), SASL_STEP_CHALLENGE);
    sasl_step_reset(&st);
}

static void test_bad_base64(void **state)
{
    static const char *const bad[] = {
        "not base64!", "QUJD=", "QUJ", "Q===", "AA=A", "YW*j", "AGFsaWNlAHB3\r", "AGFsaWNlAHB3 "};
    struct sasl_step st = {0};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(start(&st, BOTH, "PLAIN", NULL), SASL_STEP_CHALLENGE);
        assert_error(&st, feed(&st, bad[i]), SASL_BAD_BASE64);
        assert_error(&st, start(&st, BOTH, "PLAIN", bad[i]), SASL_BAD_BASE64);
        assert_int_equal(start(&st, BOTH, "LOGIN", NULL), SASL_STEP_CHALLENGE);
        assert_error(&st, feed(&st, bad[i]), SASL_BAD_BASE64);
    }
    /* As a later line "=" is not special: PLAIN calls it malformed, LOGIN
     * bad base64 (what both services answered before). */
    assert_int_equal(start(&st, BOTH, "PLAIN", NULL), SASL_STEP_CHALLENGE);
    assert_error(&st, feed(&st, "="), SASL_MALFORMED);
    assert_int_equal(start(&st, BOTH, "LOGIN", NULL), SASL_STEP_CHALLENGE);
    assert_error(&st, feed(&st, "="), SASL_BAD_BASE64);
}

static void test_malformed_plain(void **state)
{
    struct sasl_step st = {0};
    /* No NUL, one NUL, empty user, empty password. */
    assert_error(&st, start(&st, BOTH, "PLAIN", b64("onlyone")), SASL_MALFORMED);
    assert_error(&st, start(&st, BOTH, "PLAIN", b64n("alice\0pw", 8)), SASL_MALFORMED);
    assert_error(&st, start(&st, BOTH, "PLAIN", plain("", "", "pw")), SASL_MALFORMED);
    assert_error(&st, start(&st, BOTH, "PLAIN", plain("", "alice", "")), SASL_MALFORMED);
    assert_error(&st, start(&st, BOTH, "PLAIN", b64n("\0\0", 2)), SASL_MALFORMED);
    /* A third NUL, CR or LF inside a field. */
    assert_error(&st, start(&st, BOTH, "PLAIN", b64n("\0alice\0pa\0ss", 12)), SASL_BAD_OCTET);
    assert_error(&st, start(&st, BOTH, "PLAIN", plain("", "alice", "pa\r\nss")), SASL_BAD_OCTET);
    assert_error(&st, start(&st, BOTH, "PLAIN", plain("", "al\nice", "pw")), SASL_BAD_OCTET);
    assert_error(&st, start(&st, BOTH, "PLAIN", plain("x\ry", "alice", "pw")), SASL_BAD_OCTET);
}

static void test_login_exchange(void **state)
{
    struct sasl_step st = {0};
    assert_int_equal(start(&st, BOTH, "LOGIN", NULL), SASL_STEP_CHALLENGE);
    assert_string_equal(st.challenge, "VXNlcm5hbWU6"); /* "Username:" */
    assert_int_equal(feed(&st, b64("alice@example.test")), SASL_STEP_CHALLENGE);
    assert_string_equal(st.challenge, "UGFzc3dvcmQ6"); /* "Password:" */
    assert_int_equal(st.stage, SASL_STAGE_LOGIN_PASS);
    assert_ready(&st, feed(&st, b64("pass word")), "alice@example.test", "pass word");
    sasl_step_reset(&st);
    assert_wiped(&st);
    /* The initial response is the user name. */
    assert_int_equal(start(&st, BOTH, "login", b64("bob")), SASL_STEP_CHALLENGE);
    assert_string_equal(st.challenge, "UGFzc3dvcmQ6");
    assert_ready(&st, feed(&st, b64("pw")), "bob", "pw");
    sasl_step_reset(&st);
}

static void test_login_bad_fields(void **state)
{
    struct sasl_step st = {0};
    /* An empty name or password (an empty line) is malformed. */
    assert_int_equal(start(&st, BOTH, "LOGIN", NULL), SASL_STEP_CHALLENGE);
    assert_error(&st, feed(&st, ""), SASL_MALFORMED);
    assert_int_equal(start(&st, BOTH, "LOGIN", b64("bob")), SASL_STEP_CHALLENGE);
    assert_error(&st, feed(&st, ""), SASL_MALFORMED);
    /* The failure after the name wipes the name. */
    assert_int_equal(start(&st, BOTH, "LOGIN", b64("bob")), SASL_STEP_CHALLENGE);
    assert_error(&st, feed(&st, b64("p\r\nw")), SASL_BAD_OCTET);
    assert_int_equal(start(&st, BOTH, "LOGIN", NULL), SASL_STEP_CHALLENGE);
    assert_error(&st, feed(&st, b64n("b\0b", 3)), SASL_BAD_OCTET);
}

static void test_too_long(void **state)
{
    struct sasl_step st = {0};
    char user[SASL_USER_MAX + 2], pw[SASL_PASSWORD_MAX + 2];
    memset(user, 'u', sizeof(user));
    memset(pw, 'p', sizeof(pw));
    /* Exactly at the limits: accepted. */
    user[SASL_USER_MAX] = '\0';
    pw[SASL_PASSWORD_MAX] = '\0';
    assert_ready(&st, start(&st, BOTH, "PLAIN", plain("", user, pw)), user, pw);
    sasl_step_reset(&st);
    assert_int_equal(start(&st, BOTH, "LOGIN", b64(user)), SASL_STEP_CHALLENGE);
    assert_ready(&st, feed(&st, b64(pw)), user, pw);
    sasl_step_reset(&st);
    /* One octet over. */
    user[SASL_USER_MAX] = 'u';
    user[SASL_USER_MAX + 1] = '\0';
    pw[SASL_PASSWORD_MAX] = 'p';
    pw[SASL_PASSWORD_MAX + 1] = '\0';
    assert_error(&st, start(&st, BOTH, "PLAIN", plain("", user, "pw")), SASL_TOO_LONG);
    assert_error(&st, start(&st, BOTH, "PLAIN", plain("", "alice", pw)), SASL_TOO_LONG);
    assert_error(&st, start(&st, BOTH, "PLAIN", plain(user, "alice", "pw")), SASL_TOO_LONG);
    assert_error(&st, start(&st, BOTH, "LOGIN", b64(user)), SASL_TOO_LONG);
    assert_int_equal(start(&st, BOTH, "LOGIN", b64("alice")), SASL_STEP_CHALLENGE);
    assert_error(&st, feed(&st, b64(pw)), SASL_TOO_LONG);
    /* 8 KB of credentials: refused before decoding. */
    static char big[8001];
    memset(big, 'u', sizeof(big) - 1);
    assert_error(&st, start(&st, BOTH, "PLAIN", plain("", big, "pw")), SASL_TOO_LONG);
    assert_int_equal(start(&st, BOTH, "LOGIN", NULL), SASL_STEP_CHALLENGE);
    assert_error(&st, feed(&st, b64(big)), SASL_TOO_LONG);
    assert_string_equal(sasl_result_text(SASL_TOO_LONG), "credentials too long");
}

static void test_feed_without_exchange(void **state)
{
    struct sasl_step st = {0};
    /* Never started, or already over: a line is not credentials. */
    assert_error(&st, feed(&st, plain("", "alice", "pw")), SASL_MALFORMED);
    assert_ready(&st, start(&st, BOTH, "PLAIN", plain("", "alice", "pw")), "alice", "pw");
    assert_error(&st, feed(&st, plain("", "mallory", "pw")), SASL_MALFORMED);
    assert_int_equal(start(&st, BOTH, "PLAIN", "*"), SASL_STEP_CANCELLED);
    assert_error(&st, feed(&st, b64("pw")), SASL_MALFORMED);
    assert_string_equal(sasl_result_text(SASL_UNKNOWN_MECH), "unknown mechanism");
}

static void test_restart_wipes(void **state)
{
    struct sasl_step st = {0};
    /* A new AUTH in the middle of LOGIN forgets the old name. */
    assert_int_equal(start(&st, BOTH, "LOGIN", b64("old-user")), SASL_STEP_CHALLENGE);
    assert_int_equal(start(&st, BOTH, "PLAIN", NULL), SASL_STEP_CHALLENGE);
    assert_string_equal(st.creds.user, "");
    assert_error(&st, feed(&st, b64n("\0\0pw", 4)), SASL_MALFORMED);
    /* A READY left unreset is wiped by the next start. */
    assert_ready(&st, start(&st, BOTH, "PLAIN", plain("", "alice", "pw")), "alice", "pw");
    assert_int_equal(start(&st, BOTH, "LOGIN", NULL), SASL_STEP_CHALLENGE);
    assert_string_equal(st.creds.password, "");
    sasl_step_reset(&st);
    assert_wiped(&st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_with_challenge),
        cmocka_unit_test(test_plain_initial_response),
        cmocka_unit_test(test_plain_authzid),
        cmocka_unit_test(test_empty_initial_response),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_unknown_mechanism),
        cmocka_unit_test(test_bad_base64),
        cmocka_unit_test(test_malformed_plain),
        cmocka_unit_test(test_login_exchange),
        cmocka_unit_test(test_login_bad_fields),
        cmocka_unit_test(test_too_long),
        cmocka_unit_test(test_feed_without_exchange),
        cmocka_unit_test(test_restart_wipes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
