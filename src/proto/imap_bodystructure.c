/*
 * imap_bodystructure: BODY / BODYSTRUCTURE from a MIME tree (see the
 * header). A text part gets "charset" "us-ascii" when it names no charset;
 * a multipart without parts shows one empty text/plain part; a part the
 * limits left unparsed is application/octet-stream (all as Dovecot does).
 */
#include "proto/imap_bodystructure.h"

#include <string.h>
#include <strings.h>

#include "proto/imap_envelope.h"

#define EMPTY_BODY "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0"

static void params_write(const struct mime_params *ps, bool default_charset, struct buf *out)
{
    bool seen_charset = false;
    if (!default_charset && ps->n == 0) {
        buf_append_str(out, "NIL");
        return;
    }
    buf_append_char(out, '(');
    for (size_t i = 0; i < ps->n; i++) {
        if (i > 0)
            buf_append_char(out, ' ');
        if (strcasecmp(ps->v[i].name, "charset") == 0)
            seen_charset = true;
        imap_append_nstring(out, ps->v[i].name);
        buf_append_char(out, ' ');
        imap_append_nstring(out, ps->v[i].value);
    }
    if (default_charset && !seen_charset)
        buf_append_str(out, ps->n > 0 ? " \"charset\" \"us-ascii\"" : "\"charset\" \"us-ascii\"");
    buf_append_char(out, ')');
}

/* disposition, language, location: the extension data every part has */
static void write_common(const struct mime_part *p, struct buf *out)
{
    buf_append_char(out, ' ');
    if (p->disposition == NULL) {
        buf_append_str(out, "NIL");
    } else {
        buf_append_char(out, '(');
        imap_append_nstring(out, p->disposition);
        buf_append_char(out, ' ');
        params_write(&p->disposition_params, false, out);
        buf_append_char(out, ')');
    }
    buf_append_char(out, ' ');
    if (p->n_languages == 0) {
        buf_append_str(out, "NIL");
    } else {
        buf_append_char(out, '(');
        for (size_t i = 0; i < p->n_languages; i++) {
            if (i > 0)
                buf_append_char(out, ' ');
            imap_append_nstring(out, p->languages[i]);
        }
        buf_append_char(out, ')');
    }
    buf_append_char(out, ' ');
    imap_append_nstring_nolf(out, p->location);
}

static void write_part(const char *msg, const struct mime_part *p, bool ext, struct buf *out)
{
    if (p->kind == MIME_MULTIPART && !p->truncated) {
        if (p->first_child == NULL) {
            buf_append_str(out, EMPTY_BODY);
            buf_append_str(out, ext ? " NIL NIL NIL NIL)" : ")");
        }
        for (const struct mime_part *c = p->first_child; c != NULL; c = c->next)
            imap_bodystructure(msg, c, ext, out);
        buf_append_char(out, ' ');
        imap_append_nstring(out, p->subtype);
        if (!ext)
            return;
        buf_append_char(out, ' ');
        params_write(&p->type_params, false, out);
        write_common(p, out);
        return;
    }
    bool message = p->kind == MIME_MESSAGE && !p->truncated;
    bool text = false;
    if (message) {
        buf_append_str(out, "\"message\" \"rfc822\"");
    } else if (p->truncated) {
        buf_append_str(out, "\"application\" \"octet-stream\"");
    } else if (p->type == NULL) {
        text = true;
        buf_append_str(out, "\"text\" \"plain\"");
    } else {
        text = strcasecmp(p->type, "text") == 0;
        imap_append_nstring(out, p->type);
        buf_append_char(out, ' ');
        imap_append_nstring(out, p->subtype);
    }
    buf_append_char(out, ' ');
    params_write(&p->type_params, text, out);
    buf_append_char(out, ' ');
    imap_append_nstring_nolf(out, p->id);
    buf_append_char(out, ' ');
    imap_append_nstring_nolf(out, p->description);
    buf_append_char(out, ' ');
    if (p->encoding != NULL)
        imap_append_nstring(out, p->encoding);
    else
        buf_append_str(out, "\"7bit\"");
    buf_printf(out, " %zu", p->body_len);
    if (text) {
        buf_printf(out, " %zu", p->body_lines);
    } else if (message && p->first_child != NULL) {
        const struct mime_part *c = p->first_child;
        buf_append_char(out, ' ');
        imap_envelope(msg + c->hdr_off, c->hdr_len, out);
        buf_append_char(out, ' ');
        imap_bodystructure(msg, c, ext, out);
        buf_printf(out, " %zu", p->body_lines);
    }
    if (!ext)
        return;
    buf_append_char(out, ' ');
    imap_append_nstring_nolf(out, p->md5);
    write_common(p, out);
}

void imap_bodystructure(const char *msg, const struct mime_part *part, bool extended,
                        struct buf *out)
{
    buf_append_char(out, '(');
    write_part(msg, part, extended, out);
    buf_append_char(out, ')');
}
