/*
 * fileio: reading a whole file descriptor, the loop every reader of small
 * files (dovecot-uidlist, dovecot-keywords, messages) would otherwise
 * write again. Blocking: call it from a worker (or at start).
 */
#ifndef POSTERN_UTIL_FILEIO_H
#define POSTERN_UTIL_FILEIO_H

#include <stdint.h>

#include "util/buf.h"

/* Appends everything from fd to its end (EINTR retried); fd stays open.
 * Returns 0 or an errno value. */
int fd_read_all(int fd, struct buf *out);
/* fd_read_all() of the file at path (O_NOFOLLOW when nofollow). */
int file_read_all(const char *path, int nofollow, struct buf *out);
/* The CRLF size of what fd holds to its end: its octets with every bare LF
 * counted as two (a file already in CRLF is not doubled), the RFC822.SIZE
 * and POP3 size of a Maildir file. */
int fd_crlf_size(int fd, uint64_t *size_r);

#endif
