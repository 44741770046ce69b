/*
 * pop3_parse: pure parsers for the POP3 command stream (RFC 1939, 2449,
 * 2595, 5034). No I/O, no globals, no allocation: the session hands in
 * bytes and gets back a line or a command struct, or an error with a
 * reason that it sends as "-ERR <reason>".
 *
 *   POP3_LINE_MAX         the line limits the session's line reader
 *                         (proto/line.h) applies: 255 octets with CRLF for a
 *                         command line (RFC 2449 4), more for a SASL response
 *   pop3_command_parse()  verb and arguments of one command line, checked
 *                         against what that verb takes (numbers, counts)
 *
 * Arguments point into the caller's line; they are not NUL-terminated.
 */
#ifndef POSTERN_PROTO_POP3_PARSE_H
#define POSTERN_PROTO_POP3_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POP3_LINE_MAX      255  /* a command line, CRLF included (RFC 2449 4) */
#define POP3_SASL_LINE_MAX 4096 /* a SASL response line, CRLF included */
#define POP3_UIDL_MAX      70   /* unique-id length (RFC 1939 7) */

enum pop3_verb {
    POP3_VERB_UNKNOWN,
    POP3_VERB_USER,
    POP3_VERB_PASS,
    POP3_VERB_APOP,
    POP3_VERB_AUTH,
    POP3_VERB_STAT,
    POP3_VERB_LIST,
    POP3_VERB_RETR,
    POP3_VERB_DELE,
    POP3_VERB_NOOP,
    POP3_VERB_RSET,
    POP3_VERB_QUIT,
    POP3_VERB_TOP,
    POP3_VERB_UIDL,
    POP3_VERB_CAPA,
    POP3_VERB_STLS,
    POP3_VERB_COUNT
};

struct pop3_command {
    enum pop3_verb verb;
    /* USER: the name; PASS: the rest of the line, spaces included (RFC 1939
     * 7 allows spaces in a password); AUTH: the mechanism (may be empty:
     * "AUTH" alone asks for the list). */
    const char *arg;
    size_t arg_len;
    /* AUTH: the initial response (RFC 5034 4), NULL if none. */
    const char *initial;
    size_t initial_len;
    /* LIST, UIDL: optional; RETR, DELE, TOP: required. Syntax only: the
     * session checks the range. */
    bool has_msg;
    uint32_t msg;
    uint32_t lines; /* TOP */
};

/* Parses one line (CRLF removed). Returns NULL on success, else the reason
 * to send after "-ERR ". An unknown verb is not an error here: verb is
 * POP3_VERB_UNKNOWN and the session decides. */
const char *pop3_command_parse(const char *line, size_t len, struct pop3_command *cmd_r);

const char *pop3_verb_name(enum pop3_verb verb);

#endif
