/*
 * uidlist: Dovecot's dovecot-uidlist, version 3 (read: versions 1 and 3):
 *   3 V<uidvalidity> N<nextuid> G<guid> [other header fields]
 *   <uid> [<key><value> ...] :<filename>
 * UIDs strictly ascending. N may lag behind the last record (Dovecot appends
 * records without rewriting the header): the next UID is the larger of N and
 * the last UID + 1. Record extensions (W<vsize>, G<guid>, P<pop3 uidl>...)
 * are kept as they are. Parse and format are pure; read and write do I/O.
 */
#ifndef POSTERN_STORE_UIDLIST_H
#define POSTERN_STORE_UIDLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

struct uidlist_rec {
    uint32_t uid;
    char *ext;  /* the extension fields as written ("W123 Gabc"), or NULL */
    char *file; /* as recorded; matched by the part before ':' */
};

struct uidlist {
    uint32_t uidvalidity;
    uint32_t nextuid; /* 0: UID 4294967295 is taken, no UID is left */
    char guid[33];
    char *hdr_extra; /* other header fields, kept; or NULL */
    struct uidlist_rec *v;
    size_t n, cap;
};

/* 0, or EINVAL if the text is not a uidlist Dovecot would accept (then the
 * caller rebuilds with a new UIDVALIDITY). */
int uidlist_parse(const char *text, size_t len, struct uidlist *u);
void uidlist_format(const struct uidlist *u, struct buf *out);
void uidlist_free(struct uidlist *u);
/* Appends a record with the next UID; returns it, or 0 (and adds nothing)
 * when no UID is left. ext may be NULL. */
uint32_t uidlist_add(struct uidlist *u, const char *file, const char *ext);
/* Whether n more UIDs can be given and a next UID remain; when not, the
 * caller starts a new list (a new UIDVALIDITY), as Dovecot does. */
bool uidlist_room(const struct uidlist *u, size_t n);
/* The record whose file has the same stem (before ':'), or NULL. */
struct uidlist_rec *uidlist_find_file(const struct uidlist *u, const char *file);
/* Binary search by UID. */
struct uidlist_rec *uidlist_find_uid(const struct uidlist *u, uint32_t uid);
/* Removes the record at index i. */
void uidlist_remove_at(struct uidlist *u, size_t i);

/* Reads dir/dovecot-uidlist: 0, ENOENT, EINVAL (damaged), or an errno. */
int uidlist_read(const char *dir, struct uidlist *u);
/* The UIDVALIDITY in dir/dovecot-uidlist's header line, reading no more. */
int uidlist_read_uidvalidity(const char *dir, uint32_t *uidvalidity_r);
/* A fresh uidlist: UIDVALIDITY from the clock, above old_uidvalidity (the
 * value a damaged or deleted list had, 0 if none), a random GUID. */
void uidlist_init_new(struct uidlist *u, uint32_t old_uidvalidity);

#endif
