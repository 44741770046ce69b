/* The POP3 command parser: line splitting with the RFC 2449 limit, verbs,
 * arguments and numbers, and hostile lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/line.h"
#include "proto/pop3_parse.h"

static const char *parse(const char *line, struct pop3_command *cmd)
{
    return pop3_command_parse(line, strlen(line), cmd);
}

static void test_line_limit_is_255_with_crlf(void **state)
{
    struct line_reader r = {0};
    size_t len, used;
    char buf[600];
    memset(buf, 'a', sizeof(buf));
    memcpy(buf + 253, "\r\n", 2); /* 255 octets in all: the longest line */
    assert_int_equal(line_next(&r, buf, 255, POP3_LINE_MAX, &len, &used), LINE_OK);
    assert_int_equal(len, 253);
    memset(buf, 'a', sizeof(buf));
    memcpy(buf + 254, "\r\n", 2); /* 256 */
    assert_int_equal(line_next(&r, buf, 256, POP3_LINE_MAX, &len, &used), LINE_TOO_LONG);
    assert_int_equal(used, 256);
    assert_false(r.discarding);
}

static void test_sasl_lines_may_be_longer(void **state)
{
    struct line_reader r = {0};
    size_t len, used;
    char buf[POP3_SASL_LINE_MAX];
    memset(buf, 'Q', sizeof(buf));
    memcpy(buf + sizeof(buf) - 2, "\r\n", 2);
    assert_int_equal(line_next(&r, buf, sizeof(buf), POP3_SASL_LINE_MAX, &len, &used), LINE_OK);
    assert_int_equal(line_next(&r, buf, sizeof(buf), POP3_LINE_MAX, &len, &used), LINE_TOO_LONG);
    assert_int_equal(used, sizeof(buf));
}

static void test_verbs_case_insensitive_and_unknown(void **state)
{
    struct pop3_command c;
    assert_null(parse("stat", &c));
    assert_int_equal(c.verb, POP3_VERB_STAT);
    assert_null(parse("CaPa", &c));
    assert_int_equal(c.verb, POP3_VERB_CAPA);
    assert_null(parse("STLS", &c));
    assert_int_equal(c.verb, POP3_VERB_STLS);
    assert_null(parse("XTND XMIT", &c));
    assert_int_equal(c.verb, POP3_VERB_UNKNOWN);
    assert_null(parse("STATS", &c));
    assert_int_equal(c.verb, POP3_VERB_UNKNOWN);
    assert_string_equal(pop3_verb_name(POP3_VERB_UIDL), "UIDL");
    assert_string_equal(pop3_verb_name(POP3_VERB_UNKNOWN), "unknown");
    assert_string_equal(pop3_verb_name((enum pop3_verb)99), "unknown");
}

static void test_empty_and_control_characters(void **state)
{
    struct pop3_command c;
    assert_non_null(parse("", &c));
    assert_non_null(pop3_command_parse("US\0ER x", 7, &c));
    assert_non_null(parse("USER a\tb", &c));
    assert_non_null(parse("PASS a\rb", &c));
    assert_non_null(parse("NOOP\x7f", &c));
    /* 8-bit octets are data (UTF-8 names and passwords). */
    assert_null(parse("PASS gr\xc3\xbc\xc3\x9f", &c));
}

static void test_user_and_pass(void **state)
{
    struct pop3_command c;
    assert_null(parse("USER alice@example.test", &c));
    assert_int_equal(c.verb, POP3_VERB_USER);
    assert_int_equal(c.arg_len, strlen("alice@example.test"));
    assert_memory_equal(c.arg, "alice@example.test", c.arg_len);
    assert_non_null(parse("USER", &c));
    assert_non_null(parse("USER a b", &c));
    /* PASS keeps the rest of the line as is: spaces, trailing ones too. */
    assert_null(parse("PASS my secret pass ", &c));
    assert_int_equal(c.verb, POP3_VERB_PASS);
    assert_int_equal(c.arg_len, strlen("my secret pass "));
    assert_memory_equal(c.arg, "my secret pass ", c.arg_len);
    assert_null(parse("PASS  lead", &c));
    assert_int_equal(c.arg_len, 5);
    assert_non_null(parse("PASS", &c));
    assert_non_null(parse("PASS ", &c));
}

static void test_auth(void **state)
{
    struct pop3_command c;
    assert_null(parse("AUTH", &c));
    assert_int_equal(c.verb, POP3_VERB_AUTH);
    assert_int_equal(c.arg_len, 0);
    assert_null(c.initial);
    assert_null(parse("AUTH PLAIN", &c));
    assert_int_equal(c.arg_len, 5);
    assert_null(c.initial);
    assert_null(parse("AUTH PLAIN AGFsaWNlAHNlY3JldA==", &c));
    assert_non_null(c.initial);
    assert_int_equal(c.initial_len, strlen("AGFsaWNlAHNlY3JldA=="));
    assert_null(parse("AUTH PLAIN =", &c));
    assert_int_equal(c.initial_len, 1);
    assert_non_null(parse("AUTH PLAIN a b", &c));
}

static void test_no_argument_commands(void **state)
{
    struct pop3_command c;
    const char *ok[] = {"STAT", "NOOP", "RSET", "QUIT", "CAPA", "STLS", "STAT  ", "QUIT "};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        assert_null(parse(ok[i], &c));
    const char *bad[] = {"STAT 1", "NOOP x", "RSET now", "QUIT 0", "CAPA x", "STLS x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_non_null(parse(bad[i], &c));
}

static void test_message_numbers(void **state)
{
    struct pop3_command c;
    assert_null(parse("LIST", &c));
    assert_false(c.has_msg);
    assert_null(parse("LIST 7", &c));
    assert_true(c.has_msg);
    assert_int_equal(c.msg, 7);
    assert_null(parse("UIDL 0012", &c));
    assert_int_equal(c.msg, 12);
    assert_null(parse("RETR 4294967295", &c));
    assert_int_equal(c.msg, 4294967295u);
    /* Zero parses: "no such message" is the session's answer. */
    assert_null(parse("DELE 0", &c));
    assert_int_equal(c.msg, 0);
    const char *bad[] = {
        "RETR",    "DELE",     "RETR x",  "RETR -1",         "RETR +1",
        "RETR 1x", "LIST 1 2", "LIST  1", "RETR 4294967296", "RETR 99999999999999999999999",
        "UIDL 1.0"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_non_null(parse(bad[i], &c));
}

static void test_top(void **state)
{
    struct pop3_command c;
    assert_null(parse("TOP 1 10", &c));
    assert_int_equal(c.verb, POP3_VERB_TOP);
    assert_int_equal(c.msg, 1);
    assert_int_equal(c.lines, 10);
    assert_null(parse("top 2 0", &c));
    assert_int_equal(c.lines, 0);
    const char *bad[] = {"TOP",     "TOP 1",    "TOP 1 2 3",       "TOP x 1",
                         "TOP 1 x", "TOP 1  2", "TOP 1 4294967296"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_non_null(parse(bad[i], &c));
}

static void test_apop_is_recognised(void **state)
{
    struct pop3_command c;
    assert_null(parse("APOP mrose c4c9334bac560ecc979e58001b3e22fb", &c));
    assert_int_equal(c.verb, POP3_VERB_APOP);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_limit_is_255_with_crlf),
        cmocka_unit_test(test_sasl_lines_may_be_longer),
        cmocka_unit_test(test_verbs_case_insensitive_and_unknown),
        cmocka_unit_test(test_empty_and_control_characters),
        cmocka_unit_test(test_user_and_pass),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_no_argument_commands),
        cmocka_unit_test(test_message_numbers),
        cmocka_unit_test(test_top),
        cmocka_unit_test(test_apop_is_recognised),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
