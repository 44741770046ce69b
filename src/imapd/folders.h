/*
 * folders: the folder commands of the authenticated state (CREATE,
 * DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST, LSUB, NAMESPACE, STATUS,
 * APPEND) and the flag lists APPEND and STORE share.
 */
#ifndef POSTERN_IMAPD_FOLDERS_H
#define POSTERN_IMAPD_FOLDERS_H

#include <stdbool.h>
#include <stddef.h>

struct imap_arg;
struct imap_command;
struct imapd_session;
struct store;
struct buf;

/* CREATE, DELETE, RENAME, SUBSCRIBE and UNSUBSCRIBE (by cmd->name). */
bool imapd_cmd_folder(struct imapd_session *s, const struct imap_command *cmd);
bool imapd_cmd_namespace(struct imapd_session *s, const struct imap_command *cmd);
bool imapd_cmd_status(struct imapd_session *s, const struct imap_command *cmd);
bool imapd_cmd_append(struct imapd_session *s, const struct imap_command *cmd);

/* STATUS items "(MESSAGES UNSEEN ...)" as bits; false after a BAD. */
bool imapd_status_items(struct imapd_session *s, const struct imap_arg *list, unsigned *items_r);
/* In a worker: the STATUS response of a folder into out, or an errno. */
int imapd_status_format(struct store *store, const char *name, unsigned items, bool utf8,
                        struct buf *out);
/* LIST and LSUB (list.c) */
bool imapd_cmd_list(struct imapd_session *s, const struct imap_command *cmd);

/* A special-use list "(\Sent \Archive)" as STORE_A_* bits; false after a NO. */
bool imapd_special_use_parse(struct imapd_session *s, const struct imap_arg *list, unsigned *use_r);
/* A flag list (or one flag): system flags as enum store_flag bits, and
 * keywords (caller frees with imapd_keywords_free). False after a BAD. */
bool imapd_flags_parse(struct imapd_session *s, const struct imap_arg *list, unsigned *flags_r,
                       char ***keywords_r, size_t *n_r);
void imapd_keywords_free(char **keywords, size_t n);

#endif
