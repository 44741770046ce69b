/*
 * names: folder names between the wire and the store. On the wire a name is
 * an astring in modified UTF-7 (RFC 3501 5.1.3), or in UTF-8 once the
 * client has enabled UTF8=ACCEPT (RFC 6855); the store takes modified
 * UTF-7, with "." as the hierarchy separator and "INBOX" in any case the
 * inbox. Also the store's errors as IMAP response codes and texts.
 */
#ifndef POSTERN_IMAPD_NAMES_H
#define POSTERN_IMAPD_NAMES_H

#include "proto/imap_parse.h"
#include "util/buf.h"

struct imapd_session;

/* The store name of a folder argument (caller frees), or NULL after a
 * tagged BAD/NO for a name that is not valid. */
char *imapd_folder_arg(struct imapd_session *s, const struct imap_arg *a);
/* The name as the client sees it, as a quoted string or a literal. */
void imapd_folder_quote(struct buf *out, const char *name, bool utf8);
/* A string as IMAP sends it: quoted when it can be, else a literal. */
void imapd_quote(struct buf *out, const char *s, size_t len);
/* "[NONEXISTENT] No such folder: NAME" and the like for a store errno. */
const char *imapd_store_error(int err, const char *name);

#endif
