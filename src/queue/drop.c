/* The sendmail drop files' head: parsing it strictly, and its text form
 * (see drop.h for the format). */
#include "queue/drop.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "queue/envelope.h"
#include "util/xmalloc.h"

#define DROP_MAGIC "postern-drop 1\n"

void drop_head_serialize(const struct drop_head *h, struct buf *out)
{
    buf_append_str(out, DROP_MAGIC "sender ");
    envelope_escape(out, h->sender);
    buf_append_str(out, "\nfullname ");
    envelope_escape(out, h->fullname);
    buf_append_char(out, '\n');
    for (size_t i = 0; i < h->nrcpts; i++) {
        buf_append_str(out, "rcpt ");
        envelope_escape(out, h->rcpts[i]);
        buf_append_char(out, '\n');
    }
    buf_append_char(out, '\n');
}

void drop_head_clear(struct drop_head *h)
{
    free(h->sender);
    free(h->fullname);
    for (size_t i = 0; i < h->nrcpts; i++)
        free(h->rcpts[i]);
    free(h->rcpts);
    memset(h, 0, sizeof(*h));
}

const char *drop_head_parse(const char *data, size_t len, struct drop_head *h)
{
    memset(h, 0, sizeof(*h));
    size_t magic = strlen(DROP_MAGIC);
    if (len < magic || memcmp(data, DROP_MAGIC, magic) != 0)
        return "not a drop file (bad first line)";
    size_t pos = magic;
    bool have_sender = false, have_fullname = false;
    const char *why = "no end of the head";
    while (pos < len && pos < DROP_HEAD_MAX) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        if (nl == NULL)
            break;
        const char *line = data + pos;
        size_t llen = (size_t)(nl - line);
        pos += llen + 1;
        if (llen == 0) {
            if (!have_sender || !have_fullname) {
                why = "sender or fullname missing";
                goto fail;
            }
            h->body_offset = pos;
            return NULL;
        }
        const char *sp = memchr(line, ' ', llen);
        if (sp == NULL || sp == line + llen - 1) {
            why = "malformed line";
            goto fail;
        }
        size_t klen = (size_t)(sp - line);
        const char *v = sp + 1;
        size_t vlen = llen - klen - 1;
        if (memchr(v, ' ', vlen)) {
            why = "malformed value";
            goto fail;
        }
        bool ok;
        char *value = envelope_unescape(v, vlen, &ok);
        if (!ok) {
            why = "bad escape";
            goto fail;
        }
        if (klen == 6 && memcmp(line, "sender", 6) == 0 && !have_sender) {
            h->sender = value;
            have_sender = true;
        } else if (klen == 8 && memcmp(line, "fullname", 8) == 0 && !have_fullname) {
            h->fullname = value;
            have_fullname = true;
        } else if (klen == 4 && memcmp(line, "rcpt", 4) == 0 && value &&
                   h->nrcpts < DROP_RCPTS_MAX) {
            h->rcpts = xrealloc(h->rcpts, (h->nrcpts + 1) * sizeof(char *));
            h->rcpts[h->nrcpts++] = value;
        } else {
            free(value);
            why = "unknown, repeated or empty field";
            goto fail;
        }
    }
fail:
    drop_head_clear(h);
    return why;
}
