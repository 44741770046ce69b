/*
 * maildirsize: the Maildir++ quota file ("maildirsize" at the Maildir
 * root), as Courier, Exim and Dovecot's `quota = maildir` backend read and
 * write it. Pure: no I/O (store_quota.c does the file work).
 *
 *   1073741824S            the limits: "<bytes>S" and/or "<count>C",
 *                          comma-separated; 0 (or absent) is unlimited
 *   4711 3                 the usage when the file was (re)written
 *   -1200 -1               then one "<bytes> <count>" line per change,
 *   512 1                  appended with O_APPEND by whoever changed it
 *
 * The usage is the sum of the lines after the first. When the file cannot
 * be trusted it is recalculated from the messages' sizes and rewritten
 * (maildirsize_trusted says when, with Dovecot's rules).
 */
#ifndef POSTERN_STORE_MAILDIRSIZE_H
#define POSTERN_STORE_MAILDIRSIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A file this long or longer is recalculated (Courier and Dovecot). */
#define MAILDIRSIZE_FILE_MAX 5120
/* Over quota, a file older than this is recalculated (Dovecot, Courier). */
#define MAILDIRSIZE_STALE_SECS (15 * 60)
/* The longest line maildirsize_format_* writes, NUL included. */
#define MAILDIRSIZE_LINE_MAX 48

struct maildirsize {
    uint64_t bytes_limit; /* 0: none */
    uint64_t count_limit; /* 0: none */
    int64_t bytes;        /* the sums of the usage lines */
    int64_t count;
    size_t lines; /* usage lines (after the limits line) */
};

enum maildirsize_parse_result {
    MAILDIRSIZE_OK,
    MAILDIRSIZE_BROKEN,   /* a NUL, a line that is not two integers, an overflow */
    MAILDIRSIZE_NO_USAGE, /* only the limits line */
    MAILDIRSIZE_TOO_BIG,  /* len >= MAILDIRSIZE_FILE_MAX */
};

/* Parses the file's text (len octets as read; a last line without its LF
 * is being written by someone else and is ignored, as Dovecot does). */
enum maildirsize_parse_result maildirsize_parse(const char *text, size_t len,
                                                struct maildirsize *out);

/* Whether what parsed may be used under the limits configured (count_limit
 * 0 here: Postern limits storage only): the limits line must say the same,
 * the sums must not be negative, and when they are over a limit the file
 * must hold one usage line only and be younger than MAILDIRSIZE_STALE_SECS
 * (age_secs), else the numbers are suspect. */
bool maildirsize_trusted(const struct maildirsize *m, uint64_t bytes_limit, uint64_t count_limit,
                         int64_t age_secs);

/* "1073741824S\n" (or "0S\n" without limits, as Dovecot writes; a count
 * limit as ",<n>C"), then "<bytes> <count>\n": a whole new file, into out
 * (at least 2 * MAILDIRSIZE_LINE_MAX). Returns its length. */
size_t maildirsize_format_file(char *out, size_t size, uint64_t bytes_limit, uint64_t count_limit,
                               uint64_t bytes, uint64_t count);
/* One usage line "<bytes> <count>\n" (size >= MAILDIRSIZE_LINE_MAX). */
size_t maildirsize_format_line(char *out, size_t size, int64_t bytes, int64_t count);

/* The size a Maildir file name states (",S=<digits>" followed by ':', ','
 * or the end), as Dovecot's recalculation reads it; false when the name
 * has none and the file must be stat()ed. */
bool maildirsize_name_size(const char *name, uint64_t *size_r);

#endif
