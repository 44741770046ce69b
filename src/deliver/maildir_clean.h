/*
 * maildir_clean: removes what a crash (kill -9 during a delivery) leaves in
 * the tmp/ directories of the Maildirs under data_dir/mail/DOMAIN/USER/ and
 * of their Maildir++ folders (USER/.Folder/tmp/). The Maildir specification
 * says a reader should remove files that have sat in tmp/ for 36 hours;
 * nothing else ever does it here. The cleaner runs the scan in a worker at
 * start and once a day.
 */
#ifndef POSTERN_DELIVER_MAILDIR_CLEAN_H
#define POSTERN_DELIVER_MAILDIR_CLEAN_H

struct event_base;
struct worker_pool;
struct maildir_cleaner;

#define MAILDIR_CLEAN_AGE      (36 * 3600) /* seconds since the last change */
#define MAILDIR_CLEAN_INTERVAL (24 * 3600) /* between two scans */

/* Scans now, then every MAILDIR_CLEAN_INTERVAL, in pool. Free it after the
 * pool (whose last done() callbacks may still name it). */
struct maildir_cleaner *maildir_cleaner_start(struct event_base *base, struct worker_pool *pool,
                                              const char *data_dir);
void maildir_cleaner_free(struct maildir_cleaner **c);

#endif
