/*
 * store_quota: a user's storage usage, kept in the Maildir++ maildirsize
 * file at the Maildir root (store/maildirsize.h), so that Dovecot's
 * `quota = maildir` backend, Courier and Postern read and update the same
 * numbers:
 *   - reading: the file's sums, unless maildirsize_trusted() says no (or the
 *     file is missing or damaged): then every folder's new/ and cur/ are
 *     summed (",S=" in the name, else stat), and the file is rewritten
 *     through a temporary file renamed over it; if a folder changed during
 *     the scan it is not written but removed, for the next reader to redo;
 *   - a change: one "<bytes> <count>" line appended with O_APPEND (atomic
 *     between processes on a local file system, as Maildir++ relies on).
 * There is no lock (Dovecot takes none): a change that races a rewrite can
 * be lost until the next recalculation, which the trust rules bring about
 * soon when the numbers say "over quota".
 *
 * Every function does file I/O: call it from a worker. root is the
 * Maildir (INBOX); limit is the storage limit in octets, 0 for none.
 */
#ifndef POSTERN_STORE_STORE_QUOTA_H
#define POSTERN_STORE_STORE_QUOTA_H

#include <stdint.h>

struct store_quota_usage {
    uint64_t bytes;
    uint64_t count;
};

/* The usage under limit (> 0), recalculated when the file cannot be
 * trusted. 0 or an errno. */
int store_quota_usage(const char *root, uint64_t limit, struct store_quota_usage *u_r);
/* Records a change already made on disk (a message stored: +size, +1; one
 * removed: -size, -1). With limit 0 the line is appended only to a file
 * that exists (a user whose limit was lifted keeps a correct file, a user
 * who never had one gets none). 0 or an errno; a failure leaves the file
 * to the next recalculation. */
int store_quota_change(const char *root, uint64_t limit, int64_t bytes, int64_t count);
/* Sums every folder now and rewrites the file (the recalculation above). */
int store_quota_recalc(const char *root, uint64_t limit, struct store_quota_usage *u_r);
/* The messages of one folder directory (new/ and cur/), as the
 * recalculation counts them. */
int store_quota_folder_usage(const char *dir, struct store_quota_usage *u_r);

#endif
