/*
 * domain: the domain-name rules the mail-authentication modules share
 * (pure): syntax, "is a subdomain of", the organizational domain and
 * DMARC identifier alignment.
 *
 * The organizational domain is the last two labels ("mail.example.co.uk"
 * gives "co.uk"): Postern carries no public suffix list. That is wrong for
 * multi-label public suffixes (co.uk, com.au): there, two unrelated domains
 * would align in relaxed mode and the _dmarc record of the suffix would be
 * asked for. See dmarc.h.
 */
#ifndef POSTERN_MAILAUTH_DOMAIN_H
#define POSTERN_MAILAUTH_DOMAIN_H

#include <stdbool.h>
#include <stddef.h>

#define DOMAIN_MAX 253

/* Letters, digits, '-' and '_' in labels of 1 to 63 octets, dot-separated,
 * at most 253 octets, one optional final dot. */
bool domain_valid(const char *s, size_t len);
/* Whether sub equals parent or ends with "." parent (ASCII case ignored). */
bool domain_is_sub(const char *sub, const char *parent);
/* The last two labels of d (d itself when it has fewer), a pointer into d. */
const char *domain_org(const char *d);
/* RFC 7489 3.1: strict alignment is equality, relaxed is equal
 * organizational domains. */
bool domain_aligned(const char *a, const char *b, bool strict);
/* Copies s[0..len) in lower case without a final dot into out (capacity
 * DOMAIN_MAX + 1); false if it is not valid. */
bool domain_copy(char *out, const char *s, size_t len);

#endif
