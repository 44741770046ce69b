/*
 * mutf7: IMAP's modified UTF-7 for mailbox names (RFC 3501 5.1.3), to and
 * from UTF-8. Strict both ways, so that a name has exactly one encoding
 * and the conversion round-trips: printable US-ASCII (0x20-0x7e) stands for
 * itself except '&', written "&-"; everything else is UTF-16 in modified
 * BASE64 (',' for '/', no '=' padding) between '&' and '-'.
 *
 * Refused in modified UTF-7: a raw octet outside 0x20-0x7e, an unterminated
 * "&...", a character outside the modified BASE64 alphabet, a run whose bits
 * do not end on a UTF-16 unit (or whose leftover bits are not zero), printable
 * US-ASCII encoded, two encoded runs next to each other ("&AOE-&AOE-" is
 * "&AOEA4Q-"), unpaired surrogates, and U+0000. Refused in UTF-8: any
 * invalid sequence (overlong forms, surrogates, over U+10FFFF, truncated)
 * and NUL.
 *
 * The converters append to out (out->data is a NUL-terminated string
 * afterwards, even when nothing was added); on invalid input they return
 * false and leave out's contents as they were.
 */
#ifndef POSTERN_PROTO_MUTF7_H
#define POSTERN_PROTO_MUTF7_H

#include <stdbool.h>
#include <stddef.h>

struct buf;

bool mutf7_to_utf8(const char *in, size_t len, struct buf *out);
bool utf8_to_mutf7(const char *in, size_t len, struct buf *out);
/* Whether in is valid (canonical) modified UTF-7: mutf7_to_utf8 would succeed. */
bool mutf7_valid(const char *in, size_t len);

#endif
