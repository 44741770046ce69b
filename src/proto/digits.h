/*
 * digits: the value of one hexadecimal or base64 digit, shared by every
 * decoder (quoted-printable, base64, modified UTF-7's base64, xtext).
 */
#ifndef POSTERN_PROTO_DIGITS_H
#define POSTERN_PROTO_DIGITS_H

/* 0-15, or -1 for anything else (either case). */
static inline int hex_digit_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* 0-63, or -1. digit63 is the 64th digit: '/' in base64 (RFC 4648), ','
 * in IMAP's modified UTF-7 (RFC 3501 5.1.3). */
static inline int base64_digit_value(int c, int digit63)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == digit63)
        return 63;
    return -1;
}

#endif
