/* Fuzz target for the IMAP message structure: the MIME tree of any bytes,
 * its BODYSTRUCTURE and ENVELOPE, and fetch sections resolved against it.
 * The first line of the input is a fetch item, the rest the message. Checks
 * that every part's ranges lie inside the message and nest in their
 * parent's, and that a section's range lies inside the message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/imap_bodystructure.h"
#include "proto/imap_envelope.h"
#include "proto/imap_section.h"
#include "proto/mime.h"
#include "util/buf.h"

static void check(const struct mime_part *p, size_t len)
{
    if (p->hdr_off + p->hdr_len != p->body_off || p->body_off + p->body_len > len)
        abort();
    for (const struct mime_part *c = p->first_child; c != NULL; c = c->next) {
        if (c->hdr_off < p->body_off || c->body_off + c->body_len > p->body_off + p->body_len)
            abort();
        check(c, len);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    const char *nl = memchr(in, '\n', size);
    size_t item_len = nl != NULL ? (size_t)(nl - in) : 0;
    const char *msg = nl != NULL ? nl + 1 : in;
    size_t len = size - (size_t)(msg - in);

    struct mime_part *root = mime_parse(msg, len);
    check(root, len);
    struct buf out;
    buf_init(&out);
    imap_bodystructure(msg, root, true, &out);
    imap_bodystructure(msg, root, false, &out);
    imap_envelope(msg + root->hdr_off, root->hdr_len, &out);
    struct imap_section sec;
    if (imap_section_parse(in, item_len, &sec)) {
        struct imap_section_octets o;
        if (imap_section_resolve(&sec, msg, len, root, &o) == IMAP_SECTION_OK && !o.built &&
            o.off + o.len > len)
            abort();
        buf_free(&o.data);
        imap_section_free(&sec);
    }
    buf_free(&out);
    mime_free(root);
    return 0;
}
