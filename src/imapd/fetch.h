/*
 * fetch: FETCH and UID FETCH (RFC 9051 6.4.5), streamed in batches.
 */
#ifndef POSTERN_IMAPD_FETCH_H
#define POSTERN_IMAPD_FETCH_H

#include <stdbool.h>

struct imap_command;
struct imapd_session;

bool imapd_cmd_fetch(struct imapd_session *s, const struct imap_command *cmd);

#endif
