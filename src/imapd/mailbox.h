/*
 * mailbox: the IMAP commands that work on folders and messages (RFC 9051
 * 6.3 and 6.4), over the store (store/store.h); each runs its store work in
 * a worker and replies in its done().
 */
#ifndef POSTERN_IMAPD_MAILBOX_H
#define POSTERN_IMAPD_MAILBOX_H

#include <stdbool.h>

struct imapd_command;
struct imapd_session;

/* The command table entry of a mailbox command, or NULL. */
const struct imapd_command *imapd_mailbox_command(const char *name);
/* After a successful login: prepares the user's Maildir (the default
 * folders at first login), then replies OK to the login command. */
void imapd_mailbox_login(struct imapd_session *s, const char *user);
/* NOOP and CHECK in the selected state: reports changes, then OK. */
bool imapd_mailbox_poll(struct imapd_session *s, const char *name);
/* IDLE ended (DONE): stop watching. */
void imapd_mailbox_idle_end(struct imapd_session *s);
/* The session ends: cancels work, closes the folder. */
void imapd_mailbox_cleanup(struct imapd_session *s);

#endif
