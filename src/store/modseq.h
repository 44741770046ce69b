/*
 * modseq: the folder's modification sequence counter, postern-modseq, the
 * one place that remembers the highest modseq ever given out in the folder
 * (postern-index is a cache and may be lost). One line, always as long:
 * "PMS1 <20 digits> <16 hex digits: FNV-1a of the digits>\n", rewritten in
 * place. Whoever gives out a modseq holds flock() on it (between threads
 * too: each open of the file is its own lock), reads it, writes the new
 * value; it is fdatasync'ed before any change carrying the value is
 * reported or an index naming it is written (modseq_sync), so after a crash
 * the counter is at least every modseq anybody saw.
 */
#ifndef POSTERN_STORE_MODSEQ_H
#define POSTERN_STORE_MODSEQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MODSEQ_FILE "postern-modseq"

/* Opens (creating) dir/postern-modseq: an fd, or -errno. */
int modseq_open(const char *dir);
/* flock(LOCK_EX) / LOCK_UN. */
int modseq_lock(int fd);
void modseq_unlock(int fd);
/* The counter: 0 and *v_r, ENOENT when never written (empty file), EINVAL
 * when damaged. */
int modseq_read(int fd, uint64_t *v_r);
/* Writes v in place (no sync). */
int modseq_write(int fd, uint64_t v);
/* fdatasync. */
int modseq_sync(int fd);
/* For a folder just made (no dovecot-uidlist): postern-modseq at 0, which
 * says no modseq was ever given (else a folder without one starts from the
 * clock: Dovecot may have served it, and its clients know its modseqs). The
 * caller fsyncs dir. */
int modseq_init_new(const char *dir);
/* The counter of dir without locking or creating: 0 when unknown. */
uint64_t modseq_peek(const char *dir);

/* Formats and parses the line (pure). */
void modseq_format(uint64_t v, char out[44]);
bool modseq_parse(const char *line, size_t len, uint64_t *v_r);

#define MODSEQ_LINE 43

#endif
