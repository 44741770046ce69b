/*
 * imapd: the IMAP service (RFC 3501 IMAP4rev1 and RFC 9051 IMAP4rev2) over
 * the users' Maildirs. One session per connection on the event loop; the
 * `imap` listener offers STARTTLS, `imaps` is implicit TLS. See session.h
 * for its parts.
 */
#ifndef POSTERN_IMAPD_IMAPD_H
#define POSTERN_IMAPD_IMAPD_H

#include <sys/socket.h>

#include "conf/conf.h"

struct daemon;

/* Takes ownership of fd. */
void imapd_session_start(struct daemon *d, enum service svc, int fd, const struct sockaddr *sa,
                         socklen_t salen);

/* A message was delivered into user's INBOX (by this process): sessions
 * of that user idling on INBOX report it now, without waiting for inotify. */
void imapd_notify_delivery(struct daemon *d, const char *user);

#endif
