/*
 * taglist: the tag=value lists of RFC 6376 3.2, shared by DKIM-Signature
 * fields, DKIM key records and DMARC records (RFC 7489 6.4). Pure and
 * strict: no allocation, no I/O; the tags point into the caller's text.
 *
 *   struct taglist tl;
 *   const char *why = taglist_parse(text, len, &tl);   NULL when valid
 *   const struct taglist_tag *t = taglist_find(&tl, "d");
 *
 * Grammar: tag-spec *( ";" tag-spec ) [ ";" ], tag-spec = [FWS] name [FWS]
 * "=" [FWS] value [FWS]; names are ALPHA *(ALPHA / DIGIT / "_") and case
 * sensitive; values are printable ASCII except ';' with inner whitespace;
 * FWS is SP, HTAB and CRLF followed by SP or HTAB. A duplicate name, an
 * empty tag-spec (";;"), a bare CR or LF or an 8-bit octet invalidates the
 * whole list, as RFC 6376 requires.
 */
#ifndef POSTERN_MAILAUTH_TAGLIST_H
#define POSTERN_MAILAUTH_TAGLIST_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

#define TAGLIST_MAX 32 /* a DKIM-Signature has about 12; more is hostile */

struct taglist_tag {
    const char *name;
    size_t name_len;
    const char *value; /* trimmed of surrounding FWS; may hold inner FWS */
    size_t value_len;
};

struct taglist {
    size_t n;
    struct taglist_tag tag[TAGLIST_MAX];
};

/* Returns NULL when s[0..len) is a valid tag-list, else a static reason. */
const char *taglist_parse(const char *s, size_t len, struct taglist *out);
const struct taglist_tag *taglist_find(const struct taglist *tl, const char *name);
/* Whether the tag's value equals s exactly (case-sensitive) or, with
 * nocase, ignoring ASCII case. */
bool taglist_value_is(const struct taglist_tag *t, const char *s, bool nocase);
/* Appends the value with every whitespace octet (FWS) removed: the form
 * base64 values (b=, bh=, p=) and colon lists (h=) are read in. */
void taglist_value_compact(const struct taglist_tag *t, struct buf *out);

#endif
