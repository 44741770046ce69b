/*
 * imap_parse: the IMAP command parser (RFC 3501 9 / RFC 9051 9), pure and
 * incremental. The session feeds it what the client sends, one line at a
 * time (CRLF removed, as proto/line.c delivers them) and, after a line that
 * ends in a literal announcement ("{12}", "{12+}", "~{12}"), the literal's
 * octets; the parser says at each step what it needs next. When a command
 * is complete it is parsed at once into a tree of arguments.
 *
 *   struct imap_parser *p = imap_parser_new(&limits);
 *   r = imap_parser_feed_line(p, line, len);
 *   IMAP_PARSE_LITERAL: n = imap_parser_literal_size(p), sync or not
 *       (n is at most literal_max: a larger one is an ERROR already);
 *       if !imap_parser_literal_fits(p) it cannot be held in memory;
 *       a synchronising literal: the session answers "+ ..." (or refuses
 *       it: imap_parser_reset() and a tagged NO/BAD), then feeds exactly n
 *       octets with imap_parser_feed_literal() (in as many pieces as they
 *       arrive), or skips them itself with imap_parser_literal_external()
 *       (APPEND streams a message to a file instead of memory);
 *       then the next line is fed again with imap_parser_feed_line().
 *   IMAP_PARSE_DONE: imap_parser_command(p) is the command, valid until
 *       imap_parser_reset(p), which makes it ready for the next one.
 *   IMAP_PARSE_ERROR: imap_parser_error(p) is the text for a tagged BAD
 *       (imap_parser_tag(p) is the tag, or NULL if none was read: reply
 *       "* BAD"; imap_parser_too_big(p): a literal over the limits, reply
 *       NO [TOOBIG] instead); imap_parser_fatal(p) says the session must
 *       close: octets of a literal are on the way and cannot be told from
 *       commands (a non-synchronising literal over the limit or announced
 *       at the end of a line that has an error; an error in a literal's
 *       octets, e.g. NUL; feeding a literal that does not fit).
 *
 * Limits bound memory whatever the client sends: the command text
 * (literals excluded), each literal, all literals of one command, the
 * nesting depth of parenthesised lists, and the number of arguments.
 *
 * Atoms (RFC 3501 ATOM-CHAR, plus what IMAP's grammar puts into atoms):
 * flags ("\Seen", "\*"), sequence sets ("1:*,4"), and fetch items with a
 * section and a partial ("BODY[HEADER.FIELDS (FROM TO)]<0.100>",
 * "BINARY.PEEK[1.2]"): an atom that contains '[' runs to its matching ']'
 * (spaces and parentheses inside included) and then on to the next space or
 * ')'. The parser keeps the atom text as sent; the caller interprets it.
 * Quoted strings are unescaped (\" and \\; other escapes, CR, LF and NUL are
 * errors; 8-bit octets are kept, not checked as UTF-8). NIL is its own type (an atom spelled NIL in
 * any case). Literals may hold any octet except NUL (literal8, "~{n}", may hold NUL: BINARY APPEND,
 * RFC 3516); every string/literal value is also NUL-terminated for convenience (len is the real
 * length).
 *
 * Arguments are separated by exactly one space, with none after '(' or
 * before ')' and none at the end of the line (RFC 3501 9); a literal
 * announcement must end its line, and after the literal's octets the next
 * line goes on with a space, ')' or the end of the command.
 */
#ifndef POSTERN_PROTO_IMAP_PARSE_H
#define POSTERN_PROTO_IMAP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IMAP_TAG_MAX     64 /* longer tags are an error */
#define IMAP_COMMAND_MAX 32 /* the longest command name */

enum imap_arg_type {
    IMAP_ARG_ATOM,
    IMAP_ARG_STRING,  /* a quoted string */
    IMAP_ARG_LITERAL, /* {n}, {n+} or ~{n} */
    IMAP_ARG_NIL,
    IMAP_ARG_LIST, /* ( ... ) */
};

struct imap_arg {
    enum imap_arg_type type;
    const char *str;             /* ATOM, STRING, LITERAL: the value, NUL-terminated
                                    (NULL for an external literal) */
    size_t len;                  /* its length (for an external literal: its size) */
    bool literal8;               /* ~{n} */
    bool external;               /* the session took the octets (imap_parser_literal_external) */
    const struct imap_arg *list; /* LIST: its n elements */
    size_t n;
};

struct imap_command {
    const char *tag;
    const char *name; /* upper-cased ("UID" is a command; its subcommand is
                         args[0], an atom) */
    const struct imap_arg *args;
    size_t n;
};

struct imap_parse_limits {
    size_t line_max;     /* the command's text, literals excluded */
    size_t literal_max;  /* one literal (APPEND: [limits] message_size) */
    size_t literals_max; /* all literals of one command held in memory */
    unsigned depth_max;  /* nested lists */
    size_t args_max;     /* arguments in all lists of one command */
};

enum imap_parse_result {
    IMAP_PARSE_DONE,
    IMAP_PARSE_LITERAL,
    IMAP_PARSE_ERROR,
};

struct imap_parser;

struct imap_parser *imap_parser_new(const struct imap_parse_limits *limits);
void imap_parser_free(struct imap_parser *p);
/* Forgets the current command (after DONE, an ERROR, or a refused literal). */
void imap_parser_reset(struct imap_parser *p);

enum imap_parse_result imap_parser_feed_line(struct imap_parser *p, const char *line, size_t len);
/* After IMAP_PARSE_LITERAL: the size announced, and whether it was "{n+}"
 * (LITERAL+, RFC 7888: no "+ " continuation is sent). */
size_t imap_parser_literal_size(const struct imap_parser *p);
bool imap_parser_literal_nonsync(const struct imap_parser *p);
/* After IMAP_PARSE_LITERAL: how many of its octets are still expected. */
size_t imap_parser_literal_left(const struct imap_parser *p);
/* After IMAP_PARSE_LITERAL: whether its octets fit into memory with the
 * command's other literals (literals_max). If not, the session takes it
 * with imap_parser_literal_external() or refuses it (a synchronising one:
 * NO [TOOBIG] before "+ "); feeding it anyway is a fatal error. */
bool imap_parser_literal_fits(const struct imap_parser *p);
/* While a command is read (a literal pending): its upper-cased name (NULL
 * before it was read), how many top-level arguments it has so far (the
 * pending literal included) and how many lists are open, so that the
 * session can tell APPEND's message literal from its mailbox name. */
const char *imap_parser_name(const struct imap_parser *p);
size_t imap_parser_arg_count(const struct imap_parser *p);
unsigned imap_parser_depth(const struct imap_parser *p);
/* Literal octets (at most imap_parser_literal_left()). Returns
 * IMAP_PARSE_LITERAL while more octets are expected, IMAP_PARSE_DONE once
 * the literal is complete (feed the rest of the command, the next line,
 * then), or IMAP_PARSE_ERROR (NUL in a literal that is not literal8, more
 * octets than announced, or a literal that does not fit: all fatal). A
 * zero-size literal needs no call: the next feed_line completes it. */
enum imap_parse_result imap_parser_feed_literal(struct imap_parser *p, const char *data,
                                                size_t len);
/* The session reads the announced octets itself (it streams them to a
 * file); the argument is an external LITERAL with len = its size. Feed the
 * next line afterwards. Octets already fed to the parser are dropped. */
void imap_parser_literal_external(struct imap_parser *p);

const struct imap_command *imap_parser_command(const struct imap_parser *p);
const char *imap_parser_error(const struct imap_parser *p);
const char *imap_parser_tag(const struct imap_parser *p);
bool imap_parser_fatal(const struct imap_parser *p);
/* After IMAP_PARSE_ERROR: the error is a literal over literal_max or
 * literals_max (reply NO [TOOBIG], RFC 4469/7888, rather than BAD). */
bool imap_parser_too_big(const struct imap_parser *p);

/* Argument helpers. An astring (RFC 3501) is an atom, a string or a
 * literal (NIL included: "NIL" is an astring, e.g. a mailbox called NIL;
 * an external literal is one too, with str NULL); a "string" is a quoted
 * string or a literal. */
bool imap_arg_is_astring(const struct imap_arg *a);
bool imap_arg_is_string(const struct imap_arg *a);
/* Case-insensitive comparison of an atom (or NIL) with word. */
bool imap_arg_atom_is(const struct imap_arg *a, const char *word);

#endif
