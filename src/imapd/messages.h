/*
 * messages: STORE, COPY, MOVE and SEARCH, and their UID forms (the
 * handlers tell them apart by cmd->name "UID", the subcommand in args[0]).
 */
#ifndef POSTERN_IMAPD_MESSAGES_H
#define POSTERN_IMAPD_MESSAGES_H

#include <stdbool.h>

struct imap_command;
struct imapd_session;

bool imapd_cmd_store(struct imapd_session *s, const struct imap_command *cmd);
/* COPY and MOVE */
bool imapd_cmd_copy(struct imapd_session *s, const struct imap_command *cmd);
bool imapd_cmd_search(struct imapd_session *s, const struct imap_command *cmd);

#endif
