/*
 * smtp_parse: pure parsers for the SMTP command stream (RFC 5321, 6531,
 * 1870, 6152, 3461). No I/O, no globals, no allocation: every function
 * reads a buffer and fills a caller's struct, or returns an error reply
 * (code, enhanced code, text) that the session sends as is.
 *
 *   smtp_command_parse()    verb and argument of one line
 *   smtp_path_parse()       "FROM:<addr> params" / "TO:<addr> params"
 *   smtp_mail_params_parse(), smtp_rcpt_params_parse()  typed ESMTP params
 */
#ifndef POSTERN_PROTO_SMTP_PARSE_H
#define POSTERN_PROTO_SMTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SMTP_COMMAND_LINE_MAX 512   /* octets, CRLF included (RFC 5321 4.5.3.1.4) */
#define SMTP_TEXT_LINE_MAX    1000  /* octets, CRLF included (RFC 5321 4.5.3.1.6) */
#define SMTP_AUTH_LINE_MAX    12288 /* an AUTH line or response (RFC 4954 4) */
#define SMTP_LOCAL_PART_MAX   64
#define SMTP_DOMAIN_MAX       255
#define SMTP_PATH_MAX         256
#define SMTP_PARAMS_MAX       16

struct smtp_error {
    int code;
    const char *enhanced;
    const char *text;
};

enum smtp_verb {
    SMTP_VERB_UNKNOWN,
    SMTP_VERB_HELO,
    SMTP_VERB_EHLO,
    SMTP_VERB_MAIL,
    SMTP_VERB_RCPT,
    SMTP_VERB_DATA,
    SMTP_VERB_BDAT,
    SMTP_VERB_RSET,
    SMTP_VERB_NOOP,
    SMTP_VERB_QUIT,
    SMTP_VERB_VRFY,
    SMTP_VERB_EXPN,
    SMTP_VERB_HELP,
    SMTP_VERB_STARTTLS,
    SMTP_VERB_AUTH,
    SMTP_VERB_COUNT
};

struct smtp_command {
    enum smtp_verb verb;
    const char *args; /* points into the line, not NUL-terminated */
    size_t args_len;
};

/* Returns NULL on success, or the reply for a malformed line (NUL bytes,
 * control characters). An unknown verb is not an error here: verb is
 * SMTP_VERB_UNKNOWN and the session decides. */
const struct smtp_error *smtp_command_parse(const char *line, size_t len,
                                            struct smtp_command *cmd_r);
const char *smtp_verb_name(enum smtp_verb verb);

struct smtp_path {
    bool is_null; /* <> */
    bool utf8;    /* the address has non-ASCII octets (needs SMTPUTF8) */
    char local[SMTP_LOCAL_PART_MAX + 1];
    char domain[SMTP_DOMAIN_MAX + 1]; /* empty only for RCPT TO:<postmaster> */
};

struct esmtp_param {
    const char *key;
    size_t key_len;
    const char *value; /* NULL when the keyword has no "=value" */
    size_t value_len;
};

enum smtp_path_kind { SMTP_PATH_MAIL, SMTP_PATH_RCPT };

/* Parses the argument of MAIL ("FROM:<path> params") or RCPT ("TO:<path>
 * params"). Fails closed: anything that is not a valid address is an error. */
const struct smtp_error *smtp_path_parse(const char *args, size_t len, enum smtp_path_kind kind,
                                         struct smtp_path *path_r, struct esmtp_param *params_r,
                                         size_t *nparams_r);

/* Validates one address "local@domain" (no angle brackets); exposed for the
 * users and aliases tables. */
bool smtp_address_valid(const char *addr, size_t len, bool allow_utf8);

enum smtp_body { SMTP_BODY_7BIT, SMTP_BODY_8BITMIME };
enum smtp_ret { SMTP_RET_UNSET, SMTP_RET_FULL, SMTP_RET_HDRS };

struct smtp_mail_params {
    bool has_size;
    uint64_t size;
    enum smtp_body body;
    bool smtputf8;
    enum smtp_ret ret;
    char envid[101]; /* xtext-decoded is not needed: kept as sent (xtext) */
    bool has_auth;
};

#define SMTP_NOTIFY_NEVER   1u
#define SMTP_NOTIFY_SUCCESS 2u
#define SMTP_NOTIFY_FAILURE 4u
#define SMTP_NOTIFY_DELAY   8u

struct smtp_rcpt_params {
    unsigned notify;                /* 0 when not given */
    char orcpt[SMTP_PATH_MAX + 32]; /* "rfc822;addr" as sent (xtext) */
};

/* Typed validation of the parameters found by smtp_path_parse(). size_limit
 * is the server's limit: a declared SIZE above it, or one that overflows, is
 * 552 5.3.4. Unknown parameters are 555 5.5.4; duplicates 501 5.5.4. */
const struct smtp_error *smtp_mail_params_parse(const struct esmtp_param *params, size_t n,
                                                uint64_t size_limit,
                                                struct smtp_mail_params *out_r);
const struct smtp_error *smtp_rcpt_params_parse(const struct esmtp_param *params, size_t n,
                                                struct smtp_rcpt_params *out_r);

/* Parses "BDAT <size> [LAST]". */
const struct smtp_error *smtp_bdat_parse(const char *args, size_t len, uint64_t *size_r,
                                         bool *last_r);

/* UTF-8 well-formedness (no overlongs, no surrogates, max U+10FFFF). */
bool utf8_valid(const char *s, size_t len);

#endif
