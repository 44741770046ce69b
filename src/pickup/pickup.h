/*
 * pickup: takes the files `postern sendmail` leaves in queue/drop/ into the
 * queue. A worker reads the folder at start and whenever inotify says a
 * file arrived (renamed in, closed after writing, or linked); nothing
 * polls, except a slow rescan when inotify cannot be used. Each file is
 * validated as if it came from a stranger: the head is parsed strictly,
 * the text must be CRLF lines of at most 998 octets without NUL, and the
 * sender is the file owner's login at [server] hostname unless the owner is
 * root or the service user (who may name any sender with -f). Missing
 * From:, Date: and Message-ID: are added. A DKIM signature is added for
 * root and the service user, and for anyone else only when every From:
 * address is theirs (login@hostname, or the users file's login@DOMAIN and
 * its aliases). A file that is not a regular file with one link, or fails
 * another check, is moved to queue/corrupt/ and logged; a good one is
 * committed to the queue and only then removed from drop/.
 */
#ifndef POSTERN_PICKUP_PICKUP_H
#define POSTERN_PICKUP_PICKUP_H

struct daemon;
struct pickup;

struct pickup *pickup_new(struct daemon *d);
void pickup_free(struct pickup **p);

#endif
