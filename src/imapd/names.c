/* Folder names on the wire and in the store, and the store's errors as
 * IMAP response codes (RFC 5530). See names.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imapd/names.h"
#include "imapd/session.h"
#include "proto/mutf7.h"
#include "store/store.h"
#include "util/xmalloc.h"

char *imapd_folder_arg(struct imapd_session *s, const struct imap_arg *a)
{
    if (!imap_arg_is_astring(a) || a->str == NULL) {
        imapd_reply_bad(s, "Expected a folder name");
        return NULL;
    }
    if (memchr(a->str, '\0', a->len)) {
        imapd_reply_bad(s, "NUL in a folder name");
        return NULL;
    }
    if (strcasecmp(a->str, "INBOX") == 0)
        return xstrdup("INBOX");
    struct buf name;
    buf_init(&name);
    bool ok = s->utf8_enabled
                  ? utf8_to_mutf7(a->str, a->len, &name)
                  : (mutf7_valid(a->str, a->len) && (buf_append(&name, a->str, a->len), true));
    if (!ok) {
        buf_free(&name);
        imapd_reply_bad(s, s->utf8_enabled ? "Folder name is not valid UTF-8"
                                           : "Folder name is not valid modified UTF-7");
        return NULL;
    }
    buf_append_char(&name, '\0');
    if (!store_name_valid(name.data) && !store_name_is_inbox(name.data)) {
        buf_free(&name);
        imapd_reply_tagged(s, "NO", "[CANNOT] Invalid folder name");
        return NULL;
    }
    return name.data;
}

void imapd_quote(struct buf *out, const char *s, size_t len)
{
    bool literal = false;
    for (size_t i = 0; i < len && !literal; i++) {
        unsigned char c = (unsigned char)s[i];
        literal = c == '\r' || c == '\n' || c == '\0' || c >= 0x80;
    }
    if (literal || len > 1024) {
        buf_printf(out, "{%zu}\r\n", len);
        buf_append(out, s, len);
        return;
    }
    buf_append_char(out, '"');
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"' || s[i] == '\\')
            buf_append_char(out, '\\');
        buf_append_char(out, s[i]);
    }
    buf_append_char(out, '"');
}

void imapd_folder_quote(struct buf *out, const char *name, bool utf8)
{
    struct buf u;
    buf_init(&u);
    if (utf8 && mutf7_to_utf8(name, strlen(name), &u)) {
        imapd_quote(out, u.data, u.len);
    } else {
        imapd_quote(out, name, strlen(name));
    }
    buf_free(&u);
}

const char *imapd_store_error(int err, const char *name)
{
    switch (err) {
    case EINVAL:
        return "[CANNOT] Invalid folder name";
    case ENOENT:
        return "[NONEXISTENT] No such folder";
    case EEXIST:
        return "[ALREADYEXISTS] The folder already exists";
    case EPERM:
        return "[CANNOT] Not allowed on INBOX";
    case ENOTEMPTY:
        return "[CANNOT] The folder has no messages of its own (\\Noselect)";
    case EROFS:
        return "[READ-ONLY] The folder was opened with EXAMINE";
    case EAGAIN:
        return "[INUSE] The folder is locked by another program, try again";
    case ENOSPC:
        return "[LIMIT] Too many keywords in this folder";
    case EDQUOT:
        return "[OVERQUOTA] Over quota";
    }
    return "[SERVERBUG] The folder could not be read or written";
}
