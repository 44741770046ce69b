/*
 * keywords: Dovecot's dovecot-keywords, one line per keyword, "<index>
 * <name>", index 0-25 being the letter 'a'+index in file names. Lines that
 * do not parse are ignored, as Dovecot does. Parse and format are pure;
 * keywords_read / keywords_add do I/O (keywords_add under the file's own
 * dotlock, with the rename Dovecot uses).
 */
#ifndef POSTERN_STORE_KEYWORDS_H
#define POSTERN_STORE_KEYWORDS_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "util/buf.h"

/* names[i] (caller frees each) for each index found; others NULL. */
void keywords_parse(const char *text, size_t len, char *names[STORE_KEYWORDS_MAX]);
void keywords_format(char *const names[STORE_KEYWORDS_MAX], struct buf *out);
void keywords_free(char *names[STORE_KEYWORDS_MAX]);
/* Index of name (case-insensitive, as IMAP keywords are), or -1. */
int keywords_find(char *const names[STORE_KEYWORDS_MAX], const char *name);

/* Reads dir/dovecot-keywords (a missing file: no keywords). */
int keywords_read(const char *dir, char *names[STORE_KEYWORDS_MAX]);
/* Maps keyword names to a letter mask, adding the missing ones to
 * dir/dovecot-keywords (names is refreshed from the file first). ENOSPC when
 * all 26 letters are taken, EINVAL for a name store_keyword_valid()
 * refuses. */
int keywords_mask(const char *dir, char *names[STORE_KEYWORDS_MAX], const char *const *kw, size_t n,
                  uint32_t *mask_r);

#endif
