/*
 * quota: the IMAP QUOTA extension (RFC 9208) over the store's Maildir++
 * accounting (store/store_quota.h). One quota root, "", holds every folder
 * of a user with a storage limit ([imap] quota or the users file's
 * quota=SIZE); a user without one has no quota root at all. The resource
 * is STORAGE, in units of 1024 octets rounded up, as Dovecot reports it.
 * Limits are the administrator's: SETQUOTA is refused (no QUOTASET).
 */
#ifndef POSTERN_IMAPD_QUOTA_H
#define POSTERN_IMAPD_QUOTA_H

#include <stdbool.h>

#include "proto/imap_parse.h"

struct imapd_session;

/* GETQUOTAROOT, GETQUOTA and SETQUOTA (by cmd->name). */
bool imapd_cmd_quota(struct imapd_session *s, const struct imap_command *cmd);

#endif
