/*
 * maildir_name: the pure parts of a Maildir file name as Dovecot writes it:
 * BASE[,S=<size>][,W=<crlf size>][:2,<letters>]. The base (up to ',' or
 * ':') identifies the message for life; the info letters after ":2," are
 * the system flags (D F R S T, ASCII order) followed by keyword letters
 * a-z (index i is the letter 'a'+i in dovecot-keywords).
 */
#ifndef POSTERN_STORE_MAILDIR_NAME_H
#define POSTERN_STORE_MAILDIR_NAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct maildir_name {
    size_t base_len; /* octets of the base name */
    size_t info_at;  /* offset of ":" (strlen when there is none) */
    bool has_s, has_w;
    uint64_t s, w;
    unsigned flags;    /* enum store_flag */
    uint32_t keywords; /* bit per letter a-z */
};

/* False for names that are not messages (empty, dot files, '/'). */
bool maildir_name_parse(const char *name, struct maildir_name *r);
/* Length of the part that identifies a message: up to ':' (the uidlist and
 * the lookups compare that, as Dovecot does). */
size_t maildir_name_stem_len(const char *name);
/* name with its info replaced by ":2,<flags><keywords>" (caller frees). */
char *maildir_name_with_flags(const char *name, unsigned flags, uint32_t keywords);

#endif
