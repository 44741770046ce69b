/*
 * fileio: reading a whole file descriptor and writing a whole buffer, the
 * loops every reader and writer of small files (dovecot-uidlist,
 * dovecot-keywords, postern-index, maildirsize, messages) would otherwise
 * write again. Blocking: call it from a worker (or at start).
 */
#ifndef POSTERN_UTIL_FILEIO_H
#define POSTERN_UTIL_FILEIO_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* Appends everything from fd to its end (EINTR retried); fd stays open.
 * Returns 0 or an errno value. */
int fd_read_all(int fd, struct buf *out);
/* Writes all of p[0..len) to fd (EINTR and short writes retried).
 * Returns 0 or an errno value. */
int fd_write_all(int fd, const void *p, size_t len);
/* fd_read_all() of the file at path (O_NOFOLLOW when nofollow). */
int file_read_all(const char *path, int nofollow, struct buf *out);
/* The CRLF size of what fd holds to its end: its octets with every bare LF
 * counted as two (a file already in CRLF is not doubled), the RFC822.SIZE
 * and POP3 size of a Maildir file. */
int fd_crlf_size(int fd, uint64_t *size_r);

#endif
