/*
 * sasl: pure decoding of SASL PLAIN (RFC 4616) and LOGIN responses, shared
 * by SMTP AUTH and POP3 AUTH. Base64 is strict (RFC 4648: alphabet, length
 * a multiple of 4, padding only at the end). Decoded names and passwords
 * may not contain NUL, CR or LF and are bounded in length.
 */
#ifndef POSTERN_PROTO_SASL_H
#define POSTERN_PROTO_SASL_H

#include <stddef.h>

#define SASL_USER_MAX     255
#define SASL_PASSWORD_MAX 1024

enum sasl_result {
    SASL_OK = 0,
    SASL_BAD_BASE64, /* not base64 */
    SASL_MALFORMED,  /* wrong structure (PLAIN needs exactly two NULs) */
    SASL_TOO_LONG,   /* a field over its limit */
    SASL_BAD_OCTET,  /* CR, LF or NUL inside a field */
    /* Only from the exchange (sasl_step.h), never from the decoders: */
    SASL_UNKNOWN_MECH, /* a mechanism the service does not offer */
    SASL_AUTHZID,      /* PLAIN asked to act as another user */
};

struct sasl_creds {
    char authzid[SASL_USER_MAX + 1];
    char user[SASL_USER_MAX + 1];
    char password[SASL_PASSWORD_MAX + 1];
};

/* Decodes strict base64 into out (capacity cap); returns the decoded
 * length, or -1. An empty input decodes to 0 octets. */
long base64_decode(const char *in, size_t len, unsigned char *out, size_t cap);
/* Encodes into out (capacity >= 4 * ((len + 2) / 3) + 1), NUL-terminated. */
void base64_encode(const unsigned char *in, size_t len, char *out);

/* PLAIN: base64("authzid\0user\0password"). "=" stands for an empty response. */
enum sasl_result sasl_plain_decode(const char *b64, size_t len, struct sasl_creds *out);
/* LOGIN: one base64 field (the user name or the password). */
enum sasl_result sasl_login_decode(const char *b64, size_t len, char *out, size_t cap);

const char *sasl_result_text(enum sasl_result r);

#endif
