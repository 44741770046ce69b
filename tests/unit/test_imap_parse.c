/* Unit tests for proto/imap_parse: the IMAP command parser. Every construct
 * good and bad, the RFC examples, every limit at and one past its boundary,
 * literals fed whole, octet by octet and taken externally, the errors'
 * texts, tags and fatality, and reset and reuse of one parser. A command is
 * checked through a rendering of its whole tree (see render()). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/imap_parse.h"
#include "util/buf.h"

static const struct imap_parse_limits LIMITS = {
    .line_max = 8192,
    .literal_max = 65536,
    .literals_max = 65536,
    .depth_max = 8,
    .args_max = 256,
};

/* One argument as text: atoms as sent, NIL as NIL, quoted strings in
 * quotes (unescaped), literals as {len}value or ~{len}value, external ones
 * as {len:ext}, lists in parentheses. */
static void render_arg(const struct imap_arg *a, struct buf *out)
{
    switch (a->type) {
    case IMAP_ARG_ATOM:
        assert_non_null(a->str);
        assert_int_equal(strlen(a->str), a->len);
        buf_append(out, a->str, a->len);
        break;
    case IMAP_ARG_NIL:
        assert_int_equal(a->len, 3);
        buf_append_str(out, "NIL");
        break;
    case IMAP_ARG_STRING:
        assert_int_equal(a->str[a->len], '\0');
        buf_printf(out, "\"%s\"", a->str);
        break;
    case IMAP_ARG_LITERAL:
        if (a->external) {
            assert_null(a->str);
            buf_printf(out, "%s{%zu:ext}", a->literal8 ? "~" : "", a->len);
        } else {
            assert_int_equal(a->str[a->len], '\0');
            buf_printf(out, "%s{%zu}", a->literal8 ? "~" : "", a->len);
            buf_append(out, a->str, a->len);
        }
        break;
    case IMAP_ARG_LIST:
        buf_append_char(out, '(');
        for (size_t i = 0; i < a->n; i++) {
            if (i)
                buf_append_char(out, ' ');
            render_arg(&a->list[i], out);
        }
        buf_append_char(out, ')');
        break;
    }
}

static void render(const struct imap_command *c, struct buf *out)
{
    buf_printf(out, "%s %s", c->tag, c->name);
    for (size_t i = 0; i < c->n; i++) {
        buf_append_char(out, '|');
        render_arg(&c->args[i], out);
    }
}

/* Feeds a client's byte stream as a session would: lines split at CRLF,
 * after IMAP_PARSE_LITERAL the announced octets (in pieces of at most
 * piece octets). Returns the last result; the whole input must be used. */
static enum imap_parse_result feed_stream(struct imap_parser *p, const char *in, size_t len,
                                          size_t piece)
{
    enum imap_parse_result r = IMAP_PARSE_ERROR;
    size_t pos = 0;
    while (pos < len) {
        size_t n = 0;
        while (pos + n + 1 < len && !(in[pos + n] == '\r' && in[pos + n + 1] == '\n'))
            n++;
        assert_true(pos + n + 1 < len); /* every line ends in CRLF */
        r = imap_parser_feed_line(p, in + pos, n);
        pos += n + 2;
        while (r == IMAP_PARSE_LITERAL && imap_parser_literal_left(p) > 0) {
            size_t left = imap_parser_literal_left(p);
            size_t take = left < piece ? left : piece;
            assert_true(pos + take <= len);
            r = imap_parser_feed_literal(p, in + pos, take);
            pos += take;
            if (r == IMAP_PARSE_LITERAL)
                assert_int_equal(imap_parser_literal_left(p), left - take);
        }
        if (r == IMAP_PARSE_ERROR)
            break;
    }
    return r;
}

/* Parses a whole stream with limits; returns the rendering or "ERR: text". */
static char *parse_with(const struct imap_parse_limits *limits, const char *in, size_t piece)
{
    struct imap_parser *p = imap_parser_new(limits);
    struct buf out;
    buf_init(&out);
    enum imap_parse_result r = feed_stream(p, in, strlen(in), piece);
    if (r == IMAP_PARSE_DONE) {
        assert_null(imap_parser_error(p));
        render(imap_parser_command(p), &out);
    } else if (r == IMAP_PARSE_ERROR) {
        assert_null(imap_parser_command(p));
        buf_printf(&out, "ERR: %s", imap_parser_error(p));
    } else {
        buf_append_str(&out, "INCOMPLETE");
    }
    imap_parser_free(p);
    return out.data;
}

#define assert_parse(in, expected)                                                                 \
    do {                                                                                           \
        char *got_ = parse_with(&LIMITS, in, SIZE_MAX);                                            \
        assert_string_equal(got_, expected);                                                       \
        free(got_);                                                                                \
        got_ = parse_with(&LIMITS, in, 1);                                                         \
        assert_string_equal(got_, expected);                                                       \
        free(got_);                                                                                \
    } while (0)

/* One line: the error text (NULL if it parsed), with the tag and fatality. */
static void assert_line_error(const char *line, const char *error, const char *tag, bool fatal)
{
    struct imap_parser *p = imap_parser_new(&LIMITS);
    enum imap_parse_result r = imap_parser_feed_line(p, line, strlen(line));
    assert_int_equal(r, IMAP_PARSE_ERROR);
    assert_string_equal(imap_parser_error(p), error);
    if (tag)
        assert_string_equal(imap_parser_tag(p), tag);
    else
        assert_null(imap_parser_tag(p));
    assert_int_equal(imap_parser_fatal(p), fatal);
    assert_null(imap_parser_command(p));
    imap_parser_free(p);
}

static void test_simple_commands(void **state)
{
    (void)state;
    assert_parse("a1 NOOP\r\n", "a1 NOOP");
    assert_parse("x.y capability\r\n", "x.y CAPABILITY");
    assert_parse("]tag] Noop\r\n", "]tag] NOOP");
    assert_parse("a LOGIN alice secret\r\n", "a LOGIN|alice|secret");
    assert_parse("a select ~peter/mail/&U,BTFw-/&ZeVnLIqe-\r\n",
                 "a SELECT|~peter/mail/&U,BTFw-/&ZeVnLIqe-");
}

static void test_rfc_examples(void **state)
{
    (void)state;
    assert_parse("a FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (DATE FROM)]<0.512>)\r\n",
                 "a FETCH|1:*|(FLAGS BODY.PEEK[HEADER.FIELDS (DATE FROM)]<0.512>)");
    assert_parse("a SEARCH CHARSET UTF-8 OR (FROM \"x\") NOT SEEN\r\n",
                 "a SEARCH|CHARSET|UTF-8|OR|(FROM \"x\")|NOT|SEEN");
    assert_parse("a UID STORE 1:5 +FLAGS.SILENT (\\Deleted)\r\n",
                 "a UID|STORE|1:5|+FLAGS.SILENT|(\\Deleted)");
    assert_parse("a LIST \"\" \"*\"\r\n", "a LIST|\"\"|\"*\"");
    assert_parse("a LIST \"\" %\r\n", "a LIST|\"\"|%");
    assert_parse("a STATUS INBOX (MESSAGES UIDNEXT)\r\n", "a STATUS|INBOX|(MESSAGES UIDNEXT)");
    assert_parse("a FETCH 2 BINARY.PEEK[1.2]<100.200>\r\n", "a FETCH|2|BINARY.PEEK[1.2]<100.200>");
    assert_parse("a FETCH 1 (BODY[] BODY[1.MIME])\r\n", "a FETCH|1|(BODY[] BODY[1.MIME])");
    assert_parse("a STORE 1 FLAGS (\\Seen \\*)\r\n", "a STORE|1|FLAGS|(\\Seen \\*)");
    assert_parse("a SELECT [Gmail]/Sent\r\n", "a SELECT|[Gmail]/Sent");

    /* RFC 3501 6.3.11 */
    static const char msg[] = "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n"
                              "From: Fred Foobar <foobar@Blurdybloop.COM>\r\n"
                              "Subject: afternoon meeting\r\n"
                              "To: mooch@owatagu.siam.edu\r\n"
                              "Message-Id: <B27397-0100000@Blurdybloop.COM>\r\n"
                              "MIME-Version: 1.0\r\n"
                              "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n"
                              "\r\n"
                              "Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n";
    assert_int_equal(strlen(msg), 310);
    struct buf in, want;
    buf_init(&in);
    buf_init(&want);
    buf_printf(&in, "A003 APPEND saved-messages (\\Seen) {310}\r\n%s\r\n", msg);
    buf_printf(&want, "A003 APPEND|saved-messages|(\\Seen)|{310}%s", msg);
    assert_parse(in.data, want.data);
    buf_free(&in);
    buf_free(&want);
}

static void test_literals_across_lines(void **state)
{
    (void)state;
    assert_parse("a LOGIN {5}\r\nalice {6}\r\nsecret\r\n", "a LOGIN|{5}alice|{6}secret");
    assert_parse("a LOGIN {5+}\r\nalice {6+}\r\nsecret\r\n", "a LOGIN|{5}alice|{6}secret");
    /* A literal inside a list, closed on the next line. */
    assert_parse("a X ({3}\r\nabc)\r\n", "a X|({3}abc)");
    assert_parse("a X ({3}\r\nabc {1}\r\nd) e\r\n", "a X|({3}abc {1}d)|e");
    /* Any octet but NUL; CRLF inside the literal is data. */
    assert_parse("a X {4}\r\n\r\n\"(\r\n", "a X|{4}\r\n\"(");
    assert_parse("a X {3}\r\n\xff\x01)\r\n", "a X|{3}\xff\x01)");
    /* {0}, and leading zeros */
    assert_parse("a X {0}\r\n\r\n", "a X|{0}");
    assert_parse("a X {007}\r\nabcdefg\r\n", "a X|{7}abcdefg");
    /* literal8 may hold NUL */
    struct imap_parser *p = imap_parser_new(&LIMITS);
    assert_int_equal(imap_parser_feed_line(p, "a APPEND box ~{3}", 17), IMAP_PARSE_LITERAL);
    assert_int_equal(imap_parser_literal_size(p), 3);
    assert_false(imap_parser_literal_nonsync(p));
    assert_int_equal(imap_parser_feed_literal(p, "a\0b", 3), IMAP_PARSE_DONE);
    assert_int_equal(imap_parser_feed_line(p, "", 0), IMAP_PARSE_DONE);
    const struct imap_command *c = imap_parser_command(p);
    assert_int_equal(c->n, 2);
    assert_int_equal(c->args[1].type, IMAP_ARG_LITERAL);
    assert_true(c->args[1].literal8);
    assert_int_equal(c->args[1].len, 3);
    assert_memory_equal(c->args[1].str, "a\0b", 4);
    imap_parser_free(p);
    /* ~ not before { is an atom character */
    assert_parse("a X ~ ~x\r\n", "a X|~|~x");
    assert_parse("a X ~{2+}\r\nab\r\n", "a X|~{2}ab");
}

static void test_literal_continuation_errors(void **state)
{
    (void)state;
    assert_parse("a X {1}\r\nbc\r\n", "ERR: Missing space between arguments");
    assert_parse("a X {1}\r\nb \r\n", "ERR: Unexpected space at the end of the line");
    assert_parse("a X ({1}\r\nb\r\n", "ERR: Unbalanced parentheses (missing ')')");
    assert_parse("a X {1}\r\nb)\r\n", "ERR: Unbalanced parentheses (')' without '(')");
    /* The text after a literal counts towards line_max. */
    struct imap_parse_limits l = LIMITS;
    l.line_max = 24;
    char *got = parse_with(&l, "a LOGIN {5}\r\nalice {3}\r\nabc 123456789\r\n", SIZE_MAX);
    assert_string_equal(got, "ERR: Line too long");
    free(got);
    /* 11 + 4 + 9 */
    got = parse_with(&l, "a LOGIN {5}\r\nalice {3}\r\nabc 12345678\r\n", SIZE_MAX);
    assert_string_equal(got, "a LOGIN|{5}alice|{3}abc|12345678");
    free(got);
}

static void test_quoted(void **state)
{
    (void)state;
    assert_parse("a X \"a\\\"b\\\\c\"\r\n", "a X|\"a\"b\\c\"");
    assert_parse("a X \"\" \"(\" \")\" \"{5}\"\r\n", "a X|\"\"|\"(\"|\")\"|\"{5}\"");
    assert_parse("a X \"tab\there \xc3\xa9\"\r\n", "a X|\"tab\there \xc3\xa9\"");
    assert_line_error("a X \"abc", "Unterminated quoted string", "a", false);
    assert_line_error("a X \"abc\\\"", "Unterminated quoted string", "a", false);
    assert_line_error("a X \"abc\\", "Unterminated quoted string", "a", false);
    assert_line_error("a X \"a\\nb\"", "Invalid escape in quoted string (only \\\" and \\\\)", "a",
                      false);
    assert_line_error("a X \"a\rb\"", "CR or LF in quoted string", "a", false);
    assert_line_error("a X \"a\nb\"", "CR or LF in quoted string", "a", false);
    struct imap_parser *p = imap_parser_new(&LIMITS);
    assert_int_equal(imap_parser_feed_line(p, "a X \"a\0b\"", 9), IMAP_PARSE_ERROR);
    assert_string_equal(imap_parser_error(p), "NUL in quoted string");
    imap_parser_free(p);
    assert_line_error("a X \"a\"b", "Missing space between arguments", "a", false);
    assert_line_error("a X \"a\"\"b\"", "Missing space between arguments", "a", false);
}

static void test_atoms_and_nil(void **state)
{
    (void)state;
    assert_parse("a X NIL nil \"NIL\" NILS Nil\r\n", "a X|NIL|NIL|\"NIL\"|NILS|NIL");
    struct imap_parser *p = imap_parser_new(&LIMITS);
    assert_int_equal(imap_parser_feed_line(p, "a X nil", 7), IMAP_PARSE_DONE);
    const struct imap_arg *a = &imap_parser_command(p)->args[0];
    assert_int_equal(a->type, IMAP_ARG_NIL);
    assert_string_equal(a->str, "nil"); /* as sent */
    imap_parser_free(p);
    assert_parse("a X } + - ] 1:*,4 \\* %x*\r\n", "a X|}|+|-|]|1:*,4|\\*|%x*");
    assert_line_error("a X a\"b", "Invalid character in atom", "a", false);
    assert_line_error("a X a{5}", "Invalid character in atom", "a", false);
    assert_line_error("a X a(b", "Invalid character in atom", "a", false);
    assert_line_error("a X a\tb", "Invalid character in atom", "a", false);
    assert_line_error("a X a\x7f", "Invalid character in atom", "a", false);
    assert_line_error("a X \xc3\xa9", "Invalid character in atom", "a", false);
    assert_line_error("a X a\rb", "Invalid character in atom", "a", false);
    p = imap_parser_new(&LIMITS);
    assert_int_equal(imap_parser_feed_line(p, "a X a\0b", 7), IMAP_PARSE_ERROR);
    assert_string_equal(imap_parser_error(p), "Invalid character in atom");
    imap_parser_free(p);
}

static void test_sections(void **state)
{
    (void)state;
    assert_parse("a FETCH 1 BODY[HEADER.FIELDS (\"X]\" FROM)]\r\n",
                 "a FETCH|1|BODY[HEADER.FIELDS (\"X]\" FROM)]");
    assert_parse("a FETCH 1 (BODY[HEADER.FIELDS.NOT (A\\B)] UID)\r\n",
                 "a FETCH|1|(BODY[HEADER.FIELDS.NOT (A\\B)] UID)");
    assert_line_error("a FETCH 1 BODY[HEADER", "Missing ] after section", "a", false);
    assert_line_error("a FETCH 1 BODY[HEADER.FIELDS (\"X)]", "Unterminated quoted string", "a",
                      false);
    assert_line_error("a FETCH 1 BODY[HEADER.FIELDS {4}",
                      "Literal inside a section [...] is not supported", "a", false);
    assert_line_error("a FETCH 1 BODY[1\t]", "Invalid character in atom", "a", false);
    assert_line_error("a FETCH 1 BODY[[1]]", "Invalid character in atom", "a", false);
    assert_line_error("a FETCH 1 BODY[1]<0\">", "Invalid character in atom", "a", false);
}

static void test_lists(void **state)
{
    (void)state;
    assert_parse("a X () (()) (a (b (c)) d) ((a) b)\r\n", "a X|()|(())|(a (b (c)) d)|((a) b)");
    assert_parse("a X (\"a\" NIL {1}\r\nb)\r\n", "a X|(\"a\" NIL {1}b)");
    assert_line_error("a X (a", "Unbalanced parentheses (missing ')')", "a", false);
    assert_line_error("a X a)", "Unbalanced parentheses (')' without '(')", "a", false);
    assert_line_error("a X (a))", "Unbalanced parentheses (')' without '(')", "a", false);
    assert_line_error("a X )", "Unexpected space before ')'", "a", false);
    assert_line_error("a X ( a)", "Unexpected space (arguments are separated by one space)", "a",
                      false);
    assert_line_error("a X (a )", "Unexpected space before ')'", "a", false);
    assert_line_error("a X a  b", "Unexpected space (arguments are separated by one space)", "a",
                      false);
    assert_line_error("a X (a)(b)", "Missing space between arguments", "a", false);
    assert_line_error("a X a ", "Unexpected space at the end of the line", "a", false);
    assert_line_error("a NOOP ", "Unexpected space at the end of the line", "a", false);
}

static void test_tag_and_name(void **state)
{
    (void)state;
    char line[200];
    memset(line, 't', IMAP_TAG_MAX);
    strcpy(line + IMAP_TAG_MAX, " NOOP");
    struct imap_parser *p = imap_parser_new(&LIMITS);
    assert_int_equal(imap_parser_feed_line(p, line, strlen(line)), IMAP_PARSE_DONE);
    assert_int_equal(strlen(imap_parser_command(p)->tag), IMAP_TAG_MAX);
    assert_memory_equal(imap_parser_command(p)->tag, line, IMAP_TAG_MAX);
    imap_parser_free(p);
    memset(line, 't', IMAP_TAG_MAX + 1);
    strcpy(line + IMAP_TAG_MAX + 1, " NOOP");
    assert_line_error(line, "Tag too long", NULL, false);
    assert_line_error("", "Empty command line", NULL, false);
    assert_line_error(" NOOP", "Missing tag", NULL, false);
    assert_line_error("* NOOP", "Invalid character in tag", NULL, false);
    assert_line_error("+ NOOP", "Invalid character in tag", NULL, false);
    assert_line_error("a+b NOOP", "Invalid character in tag", NULL, false);
    assert_line_error("a%b NOOP", "Invalid character in tag", NULL, false);
    assert_line_error("a(b NOOP", "Invalid character in tag", NULL, false);
    assert_line_error("a\"b NOOP", "Invalid character in tag", NULL, false);
    assert_line_error("a{1} NOOP", "Invalid character in tag", NULL, false);
    assert_line_error("a\\b NOOP", "Invalid character in tag", NULL, false);
    assert_line_error("\xc3\xa9 NOOP", "Invalid character in tag", NULL, false);
    assert_line_error("a", "Missing command", "a", false);
    assert_line_error("a ", "Missing command", "a", false);
    assert_line_error("a  NOOP", "Missing command", "a", false);
    assert_line_error("a NO(OP", "Invalid character in command name", "a", false);
    assert_line_error("a {5}", "Invalid character in command name", "a", false);
    assert_line_error("a NOOP\"", "Invalid character in command name", "a", false);
    /* IMAP_COMMAND_MAX characters, then one more */
    memset(line, 'x', sizeof(line));
    memcpy(line, "a ", 2);
    line[2 + IMAP_COMMAND_MAX] = '\0';
    p = imap_parser_new(&LIMITS);
    assert_int_equal(imap_parser_feed_line(p, line, strlen(line)), IMAP_PARSE_DONE);
    assert_int_equal(strlen(imap_parser_command(p)->name), IMAP_COMMAND_MAX);
    imap_parser_free(p);
    line[2 + IMAP_COMMAND_MAX] = 'x';
    line[3 + IMAP_COMMAND_MAX] = '\0';
    assert_line_error(line, "Command name too long", "a", false);
}

/* Feeds a line of exactly len octets ("a X " then atom characters). */
static enum imap_parse_result feed_long_line(struct imap_parser *p, size_t len)
{
    char *line = malloc(len);
    memcpy(line, "a X ", 4);
    memset(line + 4, 'y', len - 4);
    enum imap_parse_result r = imap_parser_feed_line(p, line, len);
    free(line);
    return r;
}

static void test_line_limit(void **state)
{
    (void)state;
    struct imap_parse_limits l = LIMITS;
    l.line_max = 100;
    struct imap_parser *p = imap_parser_new(&l);
    assert_int_equal(feed_long_line(p, 100), IMAP_PARSE_DONE);
    assert_int_equal(imap_parser_command(p)->args[0].len, 96);
    imap_parser_reset(p);
    assert_int_equal(feed_long_line(p, 101), IMAP_PARSE_ERROR);
    assert_string_equal(imap_parser_error(p), "Line too long");
    assert_string_equal(imap_parser_tag(p), "a");
    assert_false(imap_parser_fatal(p));
    imap_parser_free(p);
}

static void test_depth_limit(void **state)
{
    (void)state;
    struct imap_parse_limits l = LIMITS;
    l.depth_max = 3;
    char *got = parse_with(&l, "a X (((a)) (b)) ((c))\r\n", SIZE_MAX);
    assert_string_equal(got, "a X|(((a)) (b))|((c))");
    free(got);
    got = parse_with(&l, "a X ((((a))))\r\n", SIZE_MAX);
    assert_string_equal(got, "ERR: Too deeply nested lists");
    free(got);
    l.depth_max = 0;
    got = parse_with(&l, "a X a\r\n", SIZE_MAX);
    assert_string_equal(got, "a X|a");
    free(got);
    got = parse_with(&l, "a X ()\r\n", SIZE_MAX);
    assert_string_equal(got, "ERR: Too deeply nested lists");
    free(got);
}

static void test_args_limit(void **state)
{
    (void)state;
    struct imap_parse_limits l = LIMITS;
    l.args_max = 4; /* a list counts as an argument, as do its elements */
    static const char *const ok[] = {"a X a b c d\r\n", "a X (a b) c\r\n", "a X ((()))\r\n",
                                     "a X \"a\" NIL {1}\r\nb ()\r\n"};
    static const char *const want[] = {"a X|a|b|c|d", "a X|(a b)|c", "a X|((()))",
                                       "a X|\"a\"|NIL|{1}b|()"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char *got = parse_with(&l, ok[i], SIZE_MAX);
        assert_string_equal(got, want[i]);
        free(got);
    }
    static const char *const bad[] = {"a X a b c d e\r\n", "a X (a b) c d\r\n",
                                      "a X ((((()))))\r\n", "a X a b c {1}\r\nd \"e\"\r\n",
                                      "a X a b c d {1}\r\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *got = parse_with(&l, bad[i], SIZE_MAX);
        assert_string_equal(got, "ERR: Too many arguments");
        free(got);
    }
}

static void test_literal_limits(void **state)
{
    (void)state;
    struct imap_parse_limits l = LIMITS;
    l.literal_max = 10;
    l.literals_max = 15;
    struct imap_parser *p = imap_parser_new(&l);
    /* exactly literal_max */
    assert_int_equal(imap_parser_feed_line(p, "a X {10}", 8), IMAP_PARSE_LITERAL);
    assert_int_equal(imap_parser_literal_size(p), 10);
    assert_true(imap_parser_literal_fits(p));
    assert_int_equal(imap_parser_feed_literal(p, "0123456789", 10), IMAP_PARSE_DONE);
    /* 10 held, 5 more fit, 6 do not */
    assert_int_equal(imap_parser_feed_line(p, " {6}", 4), IMAP_PARSE_LITERAL);
    assert_false(imap_parser_literal_fits(p));
    imap_parser_literal_external(p); /* the session takes it */
    assert_int_equal(imap_parser_feed_line(p, " {5}", 4), IMAP_PARSE_LITERAL);
    assert_true(imap_parser_literal_fits(p));
    assert_int_equal(imap_parser_feed_literal(p, "abcde", 5), IMAP_PARSE_DONE);
    assert_int_equal(imap_parser_feed_line(p, " {1}", 4), IMAP_PARSE_LITERAL);
    assert_false(imap_parser_literal_fits(p));
    assert_int_equal(imap_parser_feed_literal(p, "x", 1), IMAP_PARSE_ERROR);
    assert_string_equal(imap_parser_error(p), "Literals too large");
    assert_true(imap_parser_too_big(p));
    assert_true(imap_parser_fatal(p));
    imap_parser_reset(p);

    /* One past literal_max: synchronising refused, not fatal */
    assert_int_equal(imap_parser_feed_line(p, "b APPEND x {11}", 15), IMAP_PARSE_ERROR);
    assert_string_equal(imap_parser_error(p), "Literal too large");
    assert_string_equal(imap_parser_tag(p), "b");
    assert_true(imap_parser_too_big(p));
    assert_false(imap_parser_fatal(p));
    imap_parser_reset(p);
    assert_false(imap_parser_too_big(p));
    /* non-synchronising: the octets are coming, the session must close */
    assert_int_equal(imap_parser_feed_line(p, "c APPEND x {11+}", 16), IMAP_PARSE_ERROR);
    assert_string_equal(imap_parser_error(p), "Literal too large");
    assert_true(imap_parser_too_big(p));
    assert_true(imap_parser_fatal(p));
    imap_parser_reset(p);
    assert_false(imap_parser_fatal(p));
    /* sizes that overflow any integer */
    static const char huge[] = "d X {99999999999999999999}";
    assert_int_equal(imap_parser_feed_line(p, huge, strlen(huge)), IMAP_PARSE_ERROR);
    assert_string_equal(imap_parser_error(p), "Literal too large");
    assert_false(imap_parser_fatal(p));
    imap_parser_reset(p);
    static const char huge8[] = "d X ~{18446744073709551616+}";
    assert_int_equal(imap_parser_feed_line(p, huge8, strlen(huge8)), IMAP_PARSE_ERROR);
    assert_string_equal(imap_parser_error(p), "Literal too large");
    assert_true(imap_parser_fatal(p));
    imap_parser_reset(p);
    static const char max[] = "d X {18446744073709551615}";
    assert_int_equal(imap_parser_feed_line(p, max, strlen(max)), IMAP_PARSE_ERROR);
    assert_string_equal(imap_parser_error(p), "Literal too large");
    imap_parser_free(p);
}

static void test_literal_announcement_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {"a X {}", "a X {+}", "a X {5x}", "a X {-1}", "a X {5++}",
                                      "a X {5", "a X ~{",  "a X {5]",  "a X { 5}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_line_error(bad[i], "Invalid literal announcement (expected {size})", "a", false);
    assert_line_error("a X {5} x", "Literal announcement not at the end of the line", "a", false);
    assert_line_error("a X {5}}", "Literal announcement not at the end of the line", "a", false);
    /* An error in a line that ends in a non-synchronising literal is fatal:
     * its octets follow whatever the server answers. */
    assert_line_error("a X \"abc {5+}", "Unterminated quoted string", "a", true);
    assert_line_error("a X a\"b {5+}", "Invalid character in atom", "a", true);
    assert_line_error("a X \"abc {5}", "Unterminated quoted string", "a", false);
    struct imap_parse_limits l = LIMITS;
    l.args_max = 1;
    struct imap_parser *p = imap_parser_new(&l);
    assert_int_equal(imap_parser_feed_line(p, "a X b ~{1+}", 11), IMAP_PARSE_ERROR);
    assert_string_equal(imap_parser_error(p), "Too many arguments");
    assert_true(imap_parser_fatal(p));
    imap_parser_free(p);
}

static void test_nul_in_literal(void **state)
{
    (void)state;
    struct imap_parser *p = imap_parser_new(&LIMITS);
    /* The command is read to its end (its octets are on their way), then
     * refused: the session stays in step with the client. */
    assert_int_equal(imap_parser_feed_line(p, "a LOGIN {3}", 11), IMAP_PARSE_LITERAL);
    assert_int_equal(imap_parser_feed_literal(p, "a", 1), IMAP_PARSE_LITERAL);
    assert_int_equal(imap_parser_feed_literal(p, "\0b", 2), IMAP_PARSE_DONE);
    assert_int_equal(imap_parser_feed_line(p, " {2+}", 5), IMAP_PARSE_LITERAL);
    assert_int_equal(imap_parser_feed_literal(p, "pw", 2), IMAP_PARSE_DONE);
    assert_int_equal(imap_parser_feed_line(p, "", 0), IMAP_PARSE_ERROR);
    assert_string_equal(imap_parser_error(p), "NUL in literal");
    assert_string_equal(imap_parser_tag(p), "a");
    assert_false(imap_parser_fatal(p));
    assert_false(imap_parser_too_big(p));
    /* After a reset the next command parses. */
    imap_parser_reset(p);
    assert_int_equal(imap_parser_feed_line(p, "b NOOP", 6), IMAP_PARSE_DONE);
    assert_string_equal(imap_parser_command(p)->name, "NOOP");
    /* NUL is fine in literal8. */
    imap_parser_reset(p);
    assert_int_equal(imap_parser_feed_line(p, "c APPEND x ~{2+}", 16), IMAP_PARSE_LITERAL);
    assert_int_equal(imap_parser_feed_literal(p, "\0\1", 2), IMAP_PARSE_DONE);
    assert_int_equal(imap_parser_feed_line(p, "", 0), IMAP_PARSE_DONE);
    imap_parser_free(p);
}

static void test_piecewise_literal(void **state)
{
    (void)state;
    /* The same stream fed whole, in pieces of 1, 2 and 3 octets */
    static const char in[] = "t1 APPEND {4}\r\nbox1 (\\Seen) \"date\" {12}\r\nline1\r\nline2 "
                             "{0}\r\n ~{3+}\r\n)()\r\n";
    char *whole = parse_with(&LIMITS, in, SIZE_MAX);
    assert_string_equal(whole,
                        "t1 APPEND|{4}box1|(\\Seen)|\"date\"|{12}line1\r\nline2|{0}|~{3})()");
    for (size_t piece = 1; piece <= 3; piece++) {
        char *got = parse_with(&LIMITS, in, piece);
        assert_string_equal(got, whole);
        free(got);
    }
    free(whole);
    /* A zero-length feed changes nothing */
    struct imap_parser *p = imap_parser_new(&LIMITS);
    assert_int_equal(imap_parser_feed_line(p, "a X {2}", 7), IMAP_PARSE_LITERAL);
    assert_int_equal(imap_parser_feed_literal(p, NULL, 0), IMAP_PARSE_LITERAL);
    assert_int_equal(imap_parser_literal_left(p), 2);
    assert_int_equal(imap_parser_feed_literal(p, "a", 1), IMAP_PARSE_LITERAL);
    assert_int_equal(imap_parser_literal_left(p), 1);
    assert_int_equal(imap_parser_literal_size(p), 2);
    /* more than announced */
    assert_int_equal(imap_parser_feed_literal(p, "bc", 2), IMAP_PARSE_ERROR);
    assert_true(imap_parser_fatal(p));
    imap_parser_reset(p);
    /* {0} completed by feed_literal(0) too */
    assert_int_equal(imap_parser_feed_line(p, "a X {0+}", 8), IMAP_PARSE_LITERAL);
    assert_true(imap_parser_literal_nonsync(p));
    assert_int_equal(imap_parser_feed_literal(p, "", 0), IMAP_PARSE_DONE);
    assert_int_equal(imap_parser_feed_line(p, "", 0), IMAP_PARSE_DONE);
    assert_int_equal(imap_parser_command(p)->args[0].len, 0);
    assert_string_equal(imap_parser_command(p)->args[0].str, "");
    imap_parser_free(p);
}

static void test_external_literal(void **state)
{
    (void)state;
    struct imap_parser *p = imap_parser_new(&LIMITS);
    static const char l1[] = "A1 APPEND {5}";
    assert_int_equal(imap_parser_feed_line(p, l1, strlen(l1)), IMAP_PARSE_LITERAL);
    assert_string_equal(imap_parser_name(p), "APPEND");
    assert_int_equal(imap_parser_arg_count(p), 1);
    assert_int_equal(imap_parser_depth(p), 0);
    assert_int_equal(imap_parser_feed_literal(p, "INBOX", 5), IMAP_PARSE_DONE);
    static const char l2[] = " (\\Seen) {100000}";
    assert_int_equal(imap_parser_feed_line(p, l2, strlen(l2)), IMAP_PARSE_ERROR);
    assert_true(imap_parser_too_big(p)); /* over literal_max even if taken externally */
    imap_parser_reset(p);
    assert_null(imap_parser_name(p));
    assert_null(imap_parser_tag(p));

    assert_int_equal(imap_parser_feed_line(p, l1, strlen(l1)), IMAP_PARSE_LITERAL);
    assert_int_equal(imap_parser_feed_literal(p, "INBOX", 5), IMAP_PARSE_DONE);
    static const char l3[] = " (\\Seen) {65536+}";
    assert_int_equal(imap_parser_feed_line(p, l3, strlen(l3)), IMAP_PARSE_LITERAL);
    assert_int_equal(imap_parser_arg_count(p), 3);
    assert_false(imap_parser_literal_fits(p)); /* 5 + 65536 > literals_max */
    /* feeding what does not fit, even nothing, is an error */
    assert_int_equal(imap_parser_feed_literal(p, "xyz", 0), IMAP_PARSE_ERROR);
    imap_parser_reset(p);
    assert_int_equal(imap_parser_feed_line(p, l1, strlen(l1)), IMAP_PARSE_LITERAL);
    assert_int_equal(imap_parser_feed_literal(p, "INBOX", 5), IMAP_PARSE_DONE);
    assert_int_equal(imap_parser_feed_line(p, l3, strlen(l3)), IMAP_PARSE_LITERAL);
    imap_parser_literal_external(p);
    assert_int_equal(imap_parser_literal_left(p), 0);
    assert_int_equal(imap_parser_feed_line(p, "", 0), IMAP_PARSE_DONE);
    const struct imap_command *c = imap_parser_command(p);
    struct buf out;
    buf_init(&out);
    render(c, &out);
    assert_string_equal(out.data, "A1 APPEND|{5}INBOX|(\\Seen)|{65536:ext}");
    buf_free(&out);
    assert_true(imap_arg_is_string(&c->args[2]));
    imap_parser_reset(p);
    /* in a list (CATENATE), after some octets were fed */
    static const char l4[] = "A2 APPEND box (TEXT {4}";
    assert_int_equal(imap_parser_feed_line(p, l4, strlen(l4)), IMAP_PARSE_LITERAL);
    assert_int_equal(imap_parser_arg_count(p), 2);
    assert_int_equal(imap_parser_depth(p), 1);
    assert_int_equal(imap_parser_feed_literal(p, "ab", 2), IMAP_PARSE_LITERAL);
    imap_parser_literal_external(p);
    assert_int_equal(imap_parser_feed_line(p, " x)", 3), IMAP_PARSE_DONE);
    buf_init(&out);
    render(imap_parser_command(p), &out);
    assert_string_equal(out.data, "A2 APPEND|box|(TEXT {4:ext} x)");
    buf_free(&out);
    imap_parser_free(p);
}

static void test_misuse(void **state)
{
    (void)state;
    struct imap_parser *p = imap_parser_new(&LIMITS);
    assert_int_equal(imap_parser_feed_literal(p, "x", 1), IMAP_PARSE_ERROR);
    assert_string_equal(imap_parser_error(p), "No literal expected");
    imap_parser_reset(p);
    assert_int_equal(imap_parser_feed_line(p, "a X {2}", 7), IMAP_PARSE_LITERAL);
    assert_int_equal(imap_parser_feed_line(p, "zz", 2), IMAP_PARSE_ERROR);
    assert_string_equal(imap_parser_error(p), "Literal octets expected, not a line");
    assert_true(imap_parser_fatal(p));
    imap_parser_reset(p);
    assert_int_equal(imap_parser_feed_line(p, "a NOOP", 6), IMAP_PARSE_DONE);
    assert_int_equal(imap_parser_feed_line(p, "b NOOP", 6), IMAP_PARSE_ERROR);
    assert_null(imap_parser_command(p));
    imap_parser_literal_external(p); /* ignored */
    imap_parser_free(p);
    imap_parser_free(NULL);
}

static void test_reset_and_reuse(void **state)
{
    (void)state;
    struct imap_parser *p = imap_parser_new(&LIMITS);
    for (int round = 0; round < 3; round++) {
        assert_int_equal(imap_parser_feed_line(p, "a1 LOGIN {3}", 12), IMAP_PARSE_LITERAL);
        assert_int_equal(imap_parser_feed_literal(p, "bob", 3), IMAP_PARSE_DONE);
        assert_int_equal(imap_parser_feed_line(p, " (x", 3), IMAP_PARSE_ERROR);
        assert_string_equal(imap_parser_tag(p), "a1");
        imap_parser_reset(p);
        assert_null(imap_parser_error(p));
        assert_null(imap_parser_tag(p));
        assert_null(imap_parser_command(p));
        assert_int_equal(imap_parser_feed_line(p, "a2 login x {3}", 14), IMAP_PARSE_LITERAL);
        assert_int_equal(imap_parser_feed_literal(p, "pw!", 3), IMAP_PARSE_DONE);
        assert_int_equal(imap_parser_feed_line(p, "", 0), IMAP_PARSE_DONE);
        const struct imap_command *c = imap_parser_command(p);
        assert_string_equal(c->tag, "a2");
        assert_string_equal(c->name, "LOGIN");
        assert_int_equal(c->n, 2);
        assert_string_equal(c->args[0].str, "x");
        assert_string_equal(c->args[1].str, "pw!");
        imap_parser_reset(p);
        /* a big literal, then a small command: the tree is rebuilt */
        char big[40000];
        memset(big, 'q', sizeof(big));
        assert_int_equal(imap_parser_feed_line(p, "a3 X {40000}", 12), IMAP_PARSE_LITERAL);
        assert_int_equal(imap_parser_feed_literal(p, big, sizeof(big)), IMAP_PARSE_DONE);
        assert_int_equal(imap_parser_feed_line(p, "", 0), IMAP_PARSE_DONE);
        assert_int_equal(imap_parser_command(p)->args[0].len, sizeof(big));
        imap_parser_reset(p);
        assert_int_equal(imap_parser_feed_line(p, "a4 NOOP", 7), IMAP_PARSE_DONE);
        assert_int_equal(imap_parser_command(p)->n, 0);
        imap_parser_reset(p);
    }
    imap_parser_free(p);
}

static void test_arg_helpers(void **state)
{
    (void)state;
    struct imap_parser *p = imap_parser_new(&LIMITS);
    static const char line[] = "a X atom \"q\" NIL () {1}";
    assert_int_equal(imap_parser_feed_line(p, line, strlen(line)), IMAP_PARSE_LITERAL);
    assert_int_equal(imap_parser_feed_literal(p, "l", 1), IMAP_PARSE_DONE);
    assert_int_equal(imap_parser_feed_line(p, "", 0), IMAP_PARSE_DONE);
    const struct imap_arg *a = imap_parser_command(p)->args;
    assert_true(imap_arg_is_astring(&a[0]));
    assert_false(imap_arg_is_string(&a[0]));
    assert_true(imap_arg_is_astring(&a[1]));
    assert_true(imap_arg_is_string(&a[1]));
    assert_true(imap_arg_is_astring(&a[2]));
    assert_false(imap_arg_is_string(&a[2]));
    assert_false(imap_arg_is_astring(&a[3]));
    assert_false(imap_arg_is_string(&a[3]));
    assert_true(imap_arg_is_astring(&a[4]));
    assert_true(imap_arg_is_string(&a[4]));
    assert_true(imap_arg_atom_is(&a[0], "ATOM"));
    assert_true(imap_arg_atom_is(&a[0], "atom"));
    assert_false(imap_arg_atom_is(&a[0], "ato"));
    assert_false(imap_arg_atom_is(&a[0], "atoms"));
    assert_false(imap_arg_atom_is(&a[1], "q"));
    assert_true(imap_arg_atom_is(&a[2], "nil"));
    assert_false(imap_arg_atom_is(&a[4], "l"));
    imap_parser_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_commands),
        cmocka_unit_test(test_rfc_examples),
        cmocka_unit_test(test_literals_across_lines),
        cmocka_unit_test(test_literal_continuation_errors),
        cmocka_unit_test(test_quoted),
        cmocka_unit_test(test_atoms_and_nil),
        cmocka_unit_test(test_sections),
        cmocka_unit_test(test_lists),
        cmocka_unit_test(test_tag_and_name),
        cmocka_unit_test(test_line_limit),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_args_limit),
        cmocka_unit_test(test_literal_limits),
        cmocka_unit_test(test_literal_announcement_errors),
        cmocka_unit_test(test_nul_in_literal),
        cmocka_unit_test(test_piecewise_literal),
        cmocka_unit_test(test_external_literal),
        cmocka_unit_test(test_misuse),
        cmocka_unit_test(test_reset_and_reuse),
        cmocka_unit_test(test_arg_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
