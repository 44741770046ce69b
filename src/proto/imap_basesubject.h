/*
 * imap_basesubject: the base subject of RFC 5256 2.1 (SORT SUBJECT, both
 * THREAD algorithms) and the comparison form of the strings SORT compares
 * (pure). The subject's RFC 2047 encoded words are decoded to UTF-8 (the
 * charsets SEARCH knows: UTF-8, US-ASCII, ISO-8859-1; others stay as
 * written), blanks collapsed, then "(fwd)" trailers, "Re:", "Fw:", "Fwd:"
 * and "[blob]" leaders and a "[fwd: ...]" wrapper removed until nothing
 * changes.
 */
#ifndef POSTERN_PROTO_IMAP_BASESUBJECT_H
#define POSTERN_PROTO_IMAP_BASESUBJECT_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

/* Appends the base subject of the raw Subject: value raw[0..len) (folds
 * and encoded words still in it) to out, as written (not case-folded).
 * Returns whether the subject was a reply or a forward (RFC 5256 2.1: a
 * "Re:"/"Fwd:" leader, a "(fwd)" trailer or a "[fwd: ...]" wrapper was
 * removed), which THREAD=REFERENCES needs. */
bool imap_base_subject(const char *raw, size_t len, struct buf *out);

/* Appends s[0..len) (UTF-8) in the form two strings are compared in, for
 * i;unicode-casemap (RFC 5051) as far as it goes here: the simple
 * upper-case of ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic
 * letters (upper, as i;ascii-casemap does, so that "_" sorts after
 * letters as it does in Dovecot); no decomposition (Dovecot's "Ä" sorts
 * as "A", this one after "Z"), other code points and
 * invalid octets as they are. The result compares with strcmp(). */
void imap_casemap(const char *s, size_t len, struct buf *out);

#endif
