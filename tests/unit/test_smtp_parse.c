/* Unit tests for proto/smtp_parse: the line-splitting alias, commands, paths, ESMTP
 * parameters, BDAT and UTF-8. Bad input is tested as carefully as good. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proto/line.h"
#include "proto/smtp_parse.h"
#include "util/buf.h"

#define MAX SMTP_COMMAND_LINE_MAX

/* ---- the 512-octet command line limit through line_next (proto/line.h) --- */

static void test_command_line_limit(void **state)
{
    struct line_reader r = {0};
    char in[MAX + 2];
    size_t len, used;
    assert_int_equal(line_next(&r, "EHLO x\r\nMAIL", 12, MAX, &len, &used), LINE_OK);
    assert_int_equal(len, 6);
    assert_int_equal(used, 8);
    assert_int_equal(line_next(&r, "NOOP\n", 5, MAX, &len, &used), LINE_BARE_LF);
    memset(in, 'A', sizeof(in));
    memcpy(in + MAX - 1, "\r\n", 2); /* 511 + CRLF */
    assert_int_equal(line_next(&r, in, MAX + 1, MAX, &len, &used), LINE_TOO_LONG);
    memset(in, 'A', sizeof(in));
    assert_int_equal(line_next(&r, in, MAX, MAX, &len, &used), LINE_NEED_MORE);
    assert_int_equal(used, MAX);
    assert_true(r.discarding);
}

/* ---- smtp_command_parse ------------------------------------------------ */

static void test_command_verbs(void **state)
{
    static const struct {
        const char *line;
        enum smtp_verb verb;
        const char *args;
    } cases[] = {
        {"EHLO mx.example.org", SMTP_VERB_EHLO, "mx.example.org"},
        {"ehlo x", SMTP_VERB_EHLO, "x"},
        {"HeLo x", SMTP_VERB_HELO, "x"},
        {"mail FROM:<>", SMTP_VERB_MAIL, "FROM:<>"},
        {"RCPT TO:<a@b>", SMTP_VERB_RCPT, "TO:<a@b>"},
        {"data", SMTP_VERB_DATA, ""},
        {"BDAT 5 LAST", SMTP_VERB_BDAT, "5 LAST"},
        {"rset", SMTP_VERB_RSET, ""},
        {"NOOP   ", SMTP_VERB_NOOP, ""},
        {"QUIT", SMTP_VERB_QUIT, ""},
        {"VRFY u", SMTP_VERB_VRFY, "u"},
        {"EXPN l", SMTP_VERB_EXPN, "l"},
        {"HELP", SMTP_VERB_HELP, ""},
        {"starttls", SMTP_VERB_STARTTLS, ""},
        {"AUTH PLAIN", SMTP_VERB_AUTH, "PLAIN"},
        {"HELO   spaced.example \t ", SMTP_VERB_HELO, "spaced.example"},
        {"MAILX FROM:<>", SMTP_VERB_UNKNOWN, "FROM:<>"},
        {"MAI", SMTP_VERB_UNKNOWN, ""},
        {"", SMTP_VERB_UNKNOWN, ""},
        {" NOOP", SMTP_VERB_UNKNOWN, "NOOP"},
        {"NOOP\tx", SMTP_VERB_UNKNOWN, ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct smtp_command cmd;
        assert_null(smtp_command_parse(cases[i].line, strlen(cases[i].line), &cmd));
        if (cmd.verb != cases[i].verb)
            fail_msg("'%s': verb %d, expected %d", cases[i].line, cmd.verb, cases[i].verb);
        assert_int_equal(cmd.args_len, strlen(cases[i].args));
        assert_memory_equal(cmd.args, cases[i].args, cmd.args_len);
    }
    assert_string_equal(smtp_verb_name(SMTP_VERB_STARTTLS), "STARTTLS");
    assert_string_equal(smtp_verb_name(SMTP_VERB_COUNT), "?");
    assert_string_equal(smtp_verb_name((enum smtp_verb)1000), "?");
}

static void test_command_bad_octets(void **state)
{
    static const char *const bad[] = {"NOOP\0x", "NO\0OP",    "NOOP x\r", "MAIL FROM:<a@b>\rRSET",
                                      "\r",      "HELO a\nb", "\0"};
    static const size_t lens[] = {6, 5, 7, 20, 1, 8, 1};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct smtp_command cmd;
        const struct smtp_error *e = smtp_command_parse(bad[i], lens[i], &cmd);
        if (e == NULL)
            fail_msg("case %zu accepted", i);
        assert_int_equal(e->code, 500);
        assert_string_equal(e->enhanced, "5.5.2");
    }
}

/* ---- smtp_path_parse ---------------------------------------------------- */

static struct smtp_path P;
static struct esmtp_param PARAMS[SMTP_PARAMS_MAX];
static size_t NPARAMS;

static const struct smtp_error *mail(const char *args)
{
    return smtp_path_parse(args, strlen(args), SMTP_PATH_MAIL, &P, PARAMS, &NPARAMS);
}

static const struct smtp_error *rcpt(const char *args)
{
    return smtp_path_parse(args, strlen(args), SMTP_PATH_RCPT, &P, PARAMS, &NPARAMS);
}

#define EXPECT_ERR(call, c, enh)                                                                   \
    do {                                                                                           \
        const struct smtp_error *e_ = (call);                                                      \
        if (e_ == NULL)                                                                            \
            fail_msg("%s: accepted, expected %d", #call, c);                                       \
        if (e_->code != (c) || strcmp(e_->enhanced, enh) != 0)                                     \
            fail_msg("%s: %d %s, expected %d %s", #call, e_->code, e_->enhanced, c, enh);          \
    } while (0)

#define EXPECT_OK(call)                                                                            \
    do {                                                                                           \
        const struct smtp_error *e_ = (call);                                                      \
        if (e_ != NULL)                                                                            \
            fail_msg("%s: refused with %d %s", #call, e_->code, e_->text);                         \
    } while (0)

static void test_path_basic(void **state)
{
    EXPECT_OK(mail("FROM:<john.doe@Example.ORG>"));
    assert_false(P.is_null);
    assert_false(P.utf8);
    assert_string_equal(P.local, "john.doe");
    assert_string_equal(P.domain, "Example.ORG");
    assert_int_equal(NPARAMS, 0);
    EXPECT_OK(mail("from:<a@b>"));
    assert_string_equal(P.domain, "b");
    EXPECT_OK(mail("FROM: <a@b.c>"));
    assert_string_equal(P.local, "a");
    EXPECT_OK(rcpt("To:<x+tag@sub.example.net>"));
    assert_string_equal(P.local, "x+tag");
    EXPECT_OK(mail("FROM:<>"));
    assert_true(P.is_null);
    assert_string_equal(P.local, "");
    EXPECT_ERR(rcpt("TO:<>"), 501, "5.1.3");
}

static void test_path_syntax_errors(void **state)
{
    EXPECT_ERR(mail("FROM:john@example.org"), 501, "5.1.7");
    EXPECT_ERR(mail("FROM:<john@example.org"), 501, "5.1.7");
    EXPECT_ERR(mail("FROM:<a@b>x"), 501, "5.5.4");
    EXPECT_ERR(mail("FROM:<a@b>>"), 501, "5.5.4");
    EXPECT_ERR(mail("FROM:"), 501, "5.5.4");
    EXPECT_ERR(mail("FROM: "), 501, "5.5.4");
    EXPECT_ERR(mail("FRM:<a@b>"), 501, "5.5.4");
    EXPECT_ERR(mail("TO:<a@b>"), 501, "5.5.4");
    EXPECT_ERR(rcpt("FROM:<a@b>"), 501, "5.5.4");
    EXPECT_ERR(mail(""), 501, "5.5.4");
    EXPECT_ERR(rcpt("T"), 501, "5.5.4");
    static const char *const bad[] = {
        "<a@>",         "<@b>",         "<a>",           "<a@b@c>",         "<a..b@c>",
        "<.a@c>",       "<a.@c>",       "<a@-c.org>",    "<a@c-.org>",      "<a@c..org>",
        "<a@c.org.>",   "<a@.c.org>",   "<a@c_d.org>",   "<a b@c>",         "<a@c d>",
        "<\"abc@c>",    "<\"a\"b\"@c>", "<a@[1.2.3]>",   "<a@[256.1.1.1]>", "<a@[1.2.3.4.5]>",
        "<a@[1..2.3]>", "<a@[1.2.3.]>", "<a@[IPv6:zz]>", "<a@[1.2.3.4>",    "<a(b)@c>",
        "<a@b\x01>",    "<a\x7f@b>",    "<a\t@b>",       "<@a.example>",    "<a@1.2.3.4]>",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char args[300];
        snprintf(args, sizeof(args), "TO:%s", bad[i]);
        const struct smtp_error *e = rcpt(args);
        if (e == NULL)
            fail_msg("%s accepted (local '%s', domain '%s')", args, P.local, P.domain);
        assert_true(e->code == 501 || e->code == 553);
        snprintf(args, sizeof(args), "FROM:%s", bad[i]);
        if (mail(args) == NULL)
            fail_msg("%s accepted", args);
    }
}

static void test_path_postmaster(void **state)
{
    EXPECT_OK(rcpt("TO:<postmaster>"));
    assert_string_equal(P.local, "postmaster");
    assert_string_equal(P.domain, "");
    EXPECT_OK(rcpt("TO:<PostMaster>"));
    assert_string_equal(P.local, "postmaster");
    EXPECT_ERR(mail("FROM:<postmaster>"), 501, "5.1.7");
    EXPECT_ERR(rcpt("TO:<postmaster2>"), 501, "5.1.3");
    EXPECT_ERR(rcpt("TO:<root>"), 501, "5.1.3");
    EXPECT_OK(rcpt("TO:<postmaster@example.org>"));
    assert_string_equal(P.domain, "example.org");
}

static void test_path_quoted_and_literals(void **state)
{
    EXPECT_OK(mail("FROM:<\"john doe\"@example.org>"));
    assert_string_equal(P.local, "\"john doe\"");
    EXPECT_OK(mail("FROM:<\"a>b\"@example.org> SIZE=5"));
    assert_string_equal(P.local, "\"a>b\"");
    assert_int_equal(NPARAMS, 1);
    EXPECT_OK(mail("FROM:<\"a\\\"b@c\"@example.org>"));
    assert_string_equal(P.local, "\"a\\\"b@c\"");
    assert_string_equal(P.domain, "example.org");
    EXPECT_OK(rcpt("TO:<u@[192.0.2.1]>"));
    assert_string_equal(P.domain, "[192.0.2.1]");
    EXPECT_OK(rcpt("TO:<u@[IPv6:2001:db8::1]>"));
    assert_string_equal(P.domain, "[IPv6:2001:db8::1]");
    EXPECT_OK(rcpt("TO:<u@[ipv6:::ffff:192.0.2.1]>"));
    static const char *const bad_v6[] = {"[IPv6:]",
                                         "[IPv6:::::::::]",
                                         "[IPv6:1]",
                                         "[IPv6:1.2.3.4]",
                                         "[IPv6:g::1]",
                                         "[IPv6:1:2:3:4:5:6:7:8:9]",
                                         "[IPv6:2001:db8::1%eth0]"};
    for (size_t i = 0; i < sizeof(bad_v6) / sizeof(bad_v6[0]); i++) {
        char args[100];
        snprintf(args, sizeof(args), "TO:<u@%s>", bad_v6[i]);
        if (rcpt(args) == NULL)
            fail_msg("%s accepted", args);
    }
    /* A source route is accepted and ignored (RFC 5321 appendix C). */
    EXPECT_OK(rcpt("TO:<@relay.example,@b.example:user@d.example>"));
    assert_string_equal(P.local, "user");
    assert_string_equal(P.domain, "d.example");
    EXPECT_ERR(rcpt("TO:<@relay.example,@b.example>"), 501, "5.1.3");
}

static void test_path_limits(void **state)
{
    char local[80], args[400], dom[300];
    memset(local, 'l', 64);
    local[64] = '\0';
    snprintf(args, sizeof(args), "FROM:<%s@example.org>", local);
    EXPECT_OK(mail(args));
    assert_int_equal(strlen(P.local), 64);
    memset(local, 'l', 65);
    local[65] = '\0';
    snprintf(args, sizeof(args), "FROM:<%s@example.org>", local);
    EXPECT_ERR(mail(args), 501, "5.5.4");
    /* Labels of 63 octets; a 64-octet label is refused. */
    memset(dom, 'd', 63);
    strcpy(dom + 63, ".org");
    snprintf(args, sizeof(args), "TO:<u@%s>", dom);
    EXPECT_OK(rcpt(args));
    memset(dom, 'd', 64);
    strcpy(dom + 64, ".org");
    snprintf(args, sizeof(args), "TO:<u@%s>", dom);
    EXPECT_ERR(rcpt(args), 501, "5.1.3");
    /* "u@" + 254-octet domain = 256 octets: the longest path. */
    for (int i = 0; i < 254; i++)
        dom[i] = (i % 50 == 49) ? '.' : 'd';
    dom[254] = '\0';
    snprintf(args, sizeof(args), "TO:<u@%s>", dom);
    EXPECT_OK(rcpt(args));
    assert_int_equal(strlen(P.domain), 254);
    snprintf(args, sizeof(args), "TO:<uu@%s>", dom);
    EXPECT_ERR(rcpt(args), 501, "5.5.4");
    /* A 255-octet domain cannot fit in a 256-octet path either. */
    dom[254] = 'd';
    dom[255] = '\0';
    snprintf(args, sizeof(args), "TO:<u@%s>", dom);
    EXPECT_ERR(rcpt(args), 501, "5.5.4");
}

static void test_path_utf8(void **state)
{
    EXPECT_OK(mail("FROM:<j\xc3\xb6rg@b\xc3\xbc\x63her.example> SMTPUTF8"));
    assert_true(P.utf8);
    assert_string_equal(P.local, "j\xc3\xb6rg");
    EXPECT_OK(rcpt("TO:<\xe7\x94\xa8\xe6\x88\xb7@example.org>"));
    assert_true(P.utf8);
    EXPECT_ERR(mail("FROM:<j\xffrg@example.org>"), 553, "5.6.7");
    EXPECT_ERR(mail("FROM:<\xc0\xaf"
                    "etc@example.org>"),
               553, "5.6.7");
    EXPECT_ERR(rcpt("TO:<a@\xed\xa0\x80.example>"), 553, "5.6.7");
    EXPECT_ERR(rcpt("TO:<a\xc3@example.org>"), 553, "5.6.7");
    EXPECT_OK(rcpt("TO:<plain@example.org>"));
    assert_false(P.utf8);
}

/* Addresses used in attacks on other servers: each is refused or kept
 * literally (never interpreted, never truncated, never with a control). */
static void test_path_hostile(void **state)
{
    EXPECT_ERR(mail("FROM:<;sleep 66;>"), 501, "5.1.7");
    EXPECT_ERR(rcpt("TO:<;sleep 66;>"), 501, "5.1.3");
    assert_non_null(mail("FROM:<;sleep 66;@example.org>"));
    assert_non_null(mail("FROM:<root;sleep 66;@example.org>"));
    assert_non_null(rcpt("TO:<../../etc/passwd@example.org>"));
    assert_non_null(rcpt("TO:<a/../../b@example.org>"));
    assert_non_null(rcpt("TO:<x@../example.org>"));
    assert_non_null(rcpt("TO:<x@example.org/../..>"));
    assert_non_null(rcpt("TO:<x\r\nRCPT TO:<y@z>@example.org>"));
    static const char *const literal[] = {
        "${run{/bin/sh -c id}}", "${run{/bin/id}}", "|/usr/bin/id", "`id`", "$(id)", "a|b",
    };
    for (size_t i = 0; i < sizeof(literal) / sizeof(literal[0]); i++) {
        char args[200];
        snprintf(args, sizeof(args), "TO:<%s@example.org>", literal[i]);
        if (rcpt(args) == NULL) {
            if (strcmp(P.local, literal[i]) != 0 || strcmp(P.domain, "example.org") != 0)
                fail_msg("%s became '%s'@'%s'", args, P.local, P.domain);
        }
    }
}

static void test_path_params(void **state)
{
    EXPECT_OK(mail("FROM:<a@b>  SIZE=100   BODY=8BITMIME SMTPUTF8"));
    assert_int_equal(NPARAMS, 3);
    assert_int_equal(PARAMS[0].key_len, 4);
    assert_memory_equal(PARAMS[0].key, "SIZE", 4);
    assert_int_equal(PARAMS[0].value_len, 3);
    assert_memory_equal(PARAMS[0].value, "100", 3);
    assert_memory_equal(PARAMS[1].value, "8BITMIME", 8);
    assert_null(PARAMS[2].value);
    EXPECT_ERR(mail("FROM:<a@b> SIZE=1 size=2"), 501, "5.5.4");
    assert_string_equal(mail("FROM:<a@b> SIZE=1 size=2")->text, "Duplicate ESMTP parameter");
    EXPECT_ERR(mail("FROM:<a@b> =x"), 501, "5.5.4");
    EXPECT_ERR(mail("FROM:<a@b> SIZE="), 501, "5.5.4");
    EXPECT_ERR(mail("FROM:<a@b> A=b=c"), 501, "5.5.4");
    EXPECT_ERR(mail("FROM:<a@b> -X=1"), 501, "5.5.4");
    EXPECT_ERR(mail("FROM:<a@b> X_Y=1"), 501, "5.5.4");
    EXPECT_ERR(mail("FROM:<a@b> X=\x7f"), 501, "5.5.4");
    EXPECT_OK(mail("FROM:<a@b> X-Y=1"));
    char args[300] = "FROM:<a@b>";
    for (int i = 0; i < SMTP_PARAMS_MAX; i++)
        snprintf(args + strlen(args), sizeof(args) - strlen(args), " P%d", i);
    EXPECT_OK(mail(args));
    assert_int_equal(NPARAMS, SMTP_PARAMS_MAX);
    strcat(args, " ONEMORE");
    EXPECT_ERR(mail(args), 501, "5.5.4");
    char longpath[400];
    memset(longpath, 'a', sizeof(longpath));
    memcpy(longpath, "TO:<", 4);
    memcpy(longpath + 300, "@b>", 4);
    EXPECT_ERR(rcpt(longpath), 501, "5.5.4");
}

static void test_address_valid(void **state)
{
    assert_true(smtp_address_valid("a@b.c", 5, false));
    assert_true(smtp_address_valid("\"a b\"@c", 7, false));
    assert_false(smtp_address_valid("", 0, true));
    assert_false(smtp_address_valid("a", 1, true));
    assert_false(smtp_address_valid("@b", 2, true));
    assert_false(smtp_address_valid("a@", 2, true));
    assert_false(smtp_address_valid("a@b\0c", 5, true));
    assert_false(smtp_address_valid("\xc3\xa9@b", 4, false));
    assert_true(smtp_address_valid("\xc3\xa9@b", 4, true));
    assert_false(smtp_address_valid("\xc3@b", 3, true));
}

/* ---- typed ESMTP parameters ---------------------------------------------- */

static struct smtp_mail_params MP;
static struct smtp_rcpt_params RP;

static const struct smtp_error *mailp(const char *params, uint64_t limit)
{
    char args[600];
    snprintf(args, sizeof(args), "FROM:<a@b> %s", params);
    const struct smtp_error *e = mail(args);
    if (e)
        fail_msg("path of '%s' refused: %s", params, e->text);
    return smtp_mail_params_parse(PARAMS, NPARAMS, limit, &MP);
}

static const struct smtp_error *rcptp(const char *params)
{
    char args[600];
    snprintf(args, sizeof(args), "TO:<a@b> %s", params);
    const struct smtp_error *e = rcpt(args);
    if (e)
        fail_msg("path of '%s' refused: %s", params, e->text);
    return smtp_rcpt_params_parse(PARAMS, NPARAMS, &RP);
}

static void test_mail_params(void **state)
{
    EXPECT_OK(mailp("SIZE=1000 BODY=8bitmime SMTPUTF8 RET=hdrs ENVID=QQ+2Bx", 1000));
    assert_true(MP.has_size);
    assert_int_equal(MP.size, 1000);
    assert_int_equal(MP.body, SMTP_BODY_8BITMIME);
    assert_true(MP.smtputf8);
    assert_int_equal(MP.ret, SMTP_RET_HDRS);
    assert_string_equal(MP.envid, "QQ+2Bx");
    assert_false(MP.has_auth);
    EXPECT_OK(mailp("SIZE=0 BODY=7BIT RET=FULL", 10));
    assert_int_equal(MP.body, SMTP_BODY_7BIT);
    assert_int_equal(MP.ret, SMTP_RET_FULL);
    EXPECT_OK(mailp("", 10));
    assert_false(MP.has_size);
    assert_int_equal(MP.ret, SMTP_RET_UNSET);
    EXPECT_ERR(mailp("SIZE=1001", 1000), 552, "5.3.4");
    EXPECT_ERR(mailp("SIZE=99999999999999999999", 1000), 552, "5.3.4");
    EXPECT_ERR(mailp("SIZE=99999999999999999999", UINT64_MAX), 552, "5.3.4");
    EXPECT_ERR(mailp("SIZE=18446744073709551616", UINT64_MAX), 552, "5.3.4");
    EXPECT_ERR(mailp("SIZE=1k", 1000), 501, "5.5.4");
    EXPECT_ERR(mailp("SIZE=-1", 1000), 501, "5.5.4");
    EXPECT_ERR(mailp("SIZE=+1", 1000), 501, "5.5.4");
    EXPECT_ERR(mailp("SIZE", 1000), 501, "5.5.4");
    EXPECT_ERR(mailp("BODY=BINARYMIME", 10), 501, "5.5.4");
    EXPECT_ERR(mailp("BODY", 10), 501, "5.5.4");
    EXPECT_ERR(mailp("SMTPUTF8=yes", 10), 501, "5.5.4");
    EXPECT_ERR(mailp("RET=NONE", 10), 501, "5.5.4");
    EXPECT_ERR(mailp("RET", 10), 501, "5.5.4");
    EXPECT_ERR(mailp("FOO=bar", 10), 555, "5.5.4");
    EXPECT_ERR(mailp("XFORWARD", 10), 555, "5.5.4");
    EXPECT_ERR(mailp("NOTIFY=NEVER", 10), 555, "5.5.4");
}

static void test_mail_envid_auth(void **state)
{
    char v[200] = "ENVID=";
    memset(v + 6, 'e', 100);
    v[106] = '\0';
    EXPECT_OK(mailp(v, 10));
    assert_int_equal(strlen(MP.envid), 100);
    strcat(v, "e");
    EXPECT_ERR(mailp(v, 10), 501, "5.5.4");
    static const char *const bad_envid[] = {"ENVID",      "ENVID=a+2",  "ENVID=a+",
                                            "ENVID=a+zz", "ENVID=a+2b", "ENVID=\xc3\xa9",
                                            "ENVID=+G0"};
    for (size_t i = 0; i < sizeof(bad_envid) / sizeof(bad_envid[0]); i++)
        EXPECT_ERR(mailp(bad_envid[i], 10), 501, "5.5.4");
    EXPECT_OK(mailp("AUTH=<>", 10));
    assert_true(MP.has_auth);
    EXPECT_OK(mailp("AUTH=user+40example.org", 10));
    EXPECT_OK(mailp("AUTH=e+3Dmc2@example.org", 10));
    static const char *const bad_auth[] = {"AUTH",      "AUTH=\"",       "AUTH=+", "AUTH=+4",
                                           "AUTH=a+zz", "AUTH=\xc3\xa9", "AUTH=<", "AUTH=\"x@y",
                                           "AUTH=a",    "AUTH=a+0Db@c"};
    for (size_t i = 0; i < sizeof(bad_auth) / sizeof(bad_auth[0]); i++) {
        const struct smtp_error *e = mailp(bad_auth[i], 10);
        if (e == NULL || e->code != 501)
            fail_msg("%s: %d", bad_auth[i], e ? e->code : 0);
    }
}

static void test_rcpt_params(void **state)
{
    EXPECT_OK(rcptp("NOTIFY=NEVER"));
    assert_int_equal(RP.notify, SMTP_NOTIFY_NEVER);
    assert_string_equal(RP.orcpt, "");
    EXPECT_OK(rcptp("NOTIFY=success,Failure,DELAY ORCPT=rfc822;a+40b.example"));
    assert_int_equal(RP.notify, SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE | SMTP_NOTIFY_DELAY);
    assert_string_equal(RP.orcpt, "rfc822;a+40b.example");
    EXPECT_OK(rcptp("NOTIFY=DELAY"));
    assert_int_equal(RP.notify, SMTP_NOTIFY_DELAY);
    EXPECT_OK(rcptp(""));
    assert_int_equal(RP.notify, 0);
    static const char *const bad[] = {
        "NOTIFY",
        "NOTIFY=NEVER,SUCCESS",
        "NOTIFY=SUCCESS,NEVER",
        "NOTIFY=SUCCESS,SUCCESS",
        "NOTIFY=SUCCESS,",
        "NOTIFY=,SUCCESS",
        "NOTIFY=SUCCESS,,DELAY",
        "NOTIFY=BOGUS",
        "NOTIFY=NEVERX",
        "ORCPT",
        "ORCPT=rfc822",
        "ORCPT=rfc822;",
        "ORCPT=;a@b",
        "ORCPT=rfc822;a+4",
        "ORCPT=rfc822;a+zz",
        "ORCPT=rf\xc3\xa9;a@b",
        "ORCPT=r(x);a@b",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        EXPECT_ERR(rcptp(bad[i]), 501, "5.5.4");
    EXPECT_ERR(rcpt("TO:<a@b> NOTIFY=NEVER notify=NEVER"), 501, "5.5.4");
    EXPECT_ERR(rcptp("SIZE=10"), 555, "5.5.4");
    EXPECT_ERR(rcptp("FOO"), 555, "5.5.4");
    /* The longest ORCPT value that fits (287 octets), then one more. */
    char v[400] = "ORCPT=rfc822;";
    size_t have = strlen(v);
    memset(v + have, 'o', 6 + sizeof(RP.orcpt) - 1 - have);
    v[6 + sizeof(RP.orcpt) - 1] = '\0';
    EXPECT_OK(rcptp(v));
    assert_int_equal(strlen(RP.orcpt), sizeof(RP.orcpt) - 1);
    strcat(v, "o");
    EXPECT_ERR(rcptp(v), 501, "5.5.4");
}

/* ---- smtp_bdat_parse ---------------------------------------------------- */

static void test_bdat(void **state)
{
    uint64_t size = 7;
    bool last = true;
    EXPECT_OK(smtp_bdat_parse("100", 3, &size, &last));
    assert_int_equal(size, 100);
    assert_false(last);
    EXPECT_OK(smtp_bdat_parse("0 LAST", 6, &size, &last));
    assert_int_equal(size, 0);
    assert_true(last);
    EXPECT_OK(smtp_bdat_parse("12 last", 7, &size, &last));
    assert_int_equal(size, 12);
    assert_true(last);
    EXPECT_OK(smtp_bdat_parse("9223372036854775808", 19, &size, &last));
    assert_true(size == 9223372036854775808ull);
    static const char *const bad[] = {"",    "LAST",  "-1",       "+1",        "10x",
                                      " 10", "10 LA", "10 LASTX", "10 LAST x", "10 ",
                                      "1 0", "0x10",  "10\tLAST", "10 LAST "};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const struct smtp_error *e = smtp_bdat_parse(bad[i], strlen(bad[i]), &size, &last);
        if (e == NULL || e->code != 501)
            fail_msg("BDAT '%s' -> %d", bad[i], e ? e->code : 0);
    }
    EXPECT_ERR(smtp_bdat_parse("99999999999999999999999", 23, &size, &last), 552, "5.3.4");
}

/* ---- utf8_valid ---------------------------------------------------------- */

static void test_utf8(void **state)
{
    static const char *const good[] = {
        "",
        "plain ascii",
        "\xc3\xa9",
        "\xe2\x82\xac",
        "\xf0\x9d\x84\x9e",
        "\xf4\x8f\xbf\xbf", /* U+10FFFF */
        "\xed\x9f\xbf",     /* U+D7FF */
        "\xee\x80\x80",     /* U+E000 */
        "\xc2\x80",         /* U+0080 */
        "\xe0\xa0\x80",     /* U+0800 */
        "\xf0\x90\x80\x80", /* U+10000 */
        "a\xc3\xa9z\xe2\x82\xac",
    };
    static const char *const bad[] = {
        "\x80",
        "\xbf",
        "\xc0\x80",
        "\xc1\xbf",
        "\xe0\x80\x80",
        "\xe0\x9f\xbf",
        "\xf0\x80\x80\x80",
        "\xf0\x8f\xbf\xbf",
        "\xed\xa0\x80",
        "\xed\xbf\xbf",
        "\xf4\x90\x80\x80",
        "\xf5\x80\x80\x80",
        "\xf8\x88\x80\x80\x80",
        "\xfe",
        "\xff",
        "\xc3",
        "\xe2\x82",
        "\xf0\x9d\x84",
        "\xc3\x41",
        "\xe2\x28\xa1",
        "a\xc3",
        "\xc3\xa9\xa9",
        "\xf0\x9d\x84\x9e\x9e",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (!utf8_valid(good[i], strlen(good[i])))
            fail_msg("good[%zu] refused", i);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (utf8_valid(bad[i], strlen(bad[i])))
            fail_msg("bad[%zu] accepted", i);
    /* Length is honoured: a sequence cut by len is truncated. */
    assert_false(utf8_valid("\xe2\x82\xac", 2));
    assert_true(utf8_valid("a\0b", 3));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_command_line_limit),
        cmocka_unit_test(test_command_verbs),
        cmocka_unit_test(test_command_bad_octets),
        cmocka_unit_test(test_path_basic),
        cmocka_unit_test(test_path_syntax_errors),
        cmocka_unit_test(test_path_postmaster),
        cmocka_unit_test(test_path_quoted_and_literals),
        cmocka_unit_test(test_path_limits),
        cmocka_unit_test(test_path_utf8),
        cmocka_unit_test(test_path_hostile),
        cmocka_unit_test(test_path_params),
        cmocka_unit_test(test_address_valid),
        cmocka_unit_test(test_mail_params),
        cmocka_unit_test(test_mail_envid_auth),
        cmocka_unit_test(test_rcpt_params),
        cmocka_unit_test(test_bdat),
        cmocka_unit_test(test_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
