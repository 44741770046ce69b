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

struct imap_search;
struct imap_search_msg;
struct imapd_job;
struct store_msg;
/* One message that matched: sm->data holds its octets when they were read. */
typedef void (*imapd_match_fn)(void *arg, const struct imap_search_msg *sm,
                               const struct store_msg *m);
/* In a job: brings the view up to date (expunges for UID commands), then
 * calls each for every message of the selected folder that matches, in
 * sequence order, with the message read when the search needs it or
 * want_data. Returns how many matched. */
size_t imapd_search_run(struct imapd_job *j, struct imap_search *search, bool want_data,
                        imapd_match_fn each, void *arg);

#endif
