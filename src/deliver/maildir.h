/*
 * maildir: local delivery into data_dir/mail/DOMAIN/LOCALPART/ with the
 * Maildir rules: a unique name created with O_EXCL in tmp/, write, fsync,
 * close (checked), rename into new/ as NAME,S=SIZE,W=CRLFSIZE (Dovecot's
 * naming: S= the file's size, W= its size with CRLF line endings, which
 * POP3 reports), fsync new/. Files hold LF line endings, as Dovecot and
 * mutt expect. Blocks: run in a worker.
 */
#ifndef POSTERN_DELIVER_MAILDIR_H
#define POSTERN_DELIVER_MAILDIR_H

#include <stddef.h>

/* Delivering prefix (header lines with CRLF endings, may be NULL) followed
 * by the queue content read from content_fd (CRLF lines) into the mailbox
 * of addr, which must satisfy address_mailbox_safe(), in two halves, for a
 * caller that records the file between them (so that a crash can be
 * finished, not repeated); nothing partial is ever left in new/:
 * maildir_prepare writes and fsyncs tmp/NAME and returns the name the file
 * will have in new/ in *new_name_r (caller frees); maildir_commit renames
 * it into new/ and fsyncs new/. maildir_commit of a file already in new/
 * succeeds (recovery); of a file in neither place fails with ENOENT. */
int maildir_prepare(const char *data_dir, const char *addr, const char *prefix, int content_fd,
                    char **new_name_r);
int maildir_commit(const char *data_dir, const char *addr, const char *new_name);
/* Removes a prepared file that will not be committed. */
void maildir_discard(const char *data_dir, const char *addr, const char *new_name);

/* data_dir/mail/DOMAIN/LOCALPART for addr (caller frees). */
char *maildir_path(const char *data_dir, const char *addr);

#endif
