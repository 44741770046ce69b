/*
 * sort: SORT and THREAD (RFC 5256) and their UID forms (the handler tells
 * them apart by cmd->name "UID", the subcommand in args[0]).
 */
#ifndef POSTERN_IMAPD_SORT_H
#define POSTERN_IMAPD_SORT_H

#include <stdbool.h>

struct imap_command;
struct imapd_session;

/* SORT and THREAD */
bool imapd_cmd_sort(struct imapd_session *s, const struct imap_command *cmd);

#endif
