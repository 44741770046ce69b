/*
 * imap_section: fetch body sections (see the header): the parser of the
 * item text, the part lookup, HEADER.FIELDS filtering, the partial, and the
 * BINARY decoders.
 */
#include "proto/digits.h"
#include "proto/imap_section.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/xmalloc.h"

/* A buf that holds "" from the start, so .data is never NULL. */
static void str_init(struct buf *b)
{
    buf_init(b);
    buf_append(b, "", 0);
}

struct cursor {
    const char *p, *end;
};

static bool eat(struct cursor *c, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(c->end - c->p) < n || strncasecmp(c->p, word, n) != 0)
        return false;
    c->p += n;
    return true;
}

static bool number(struct cursor *c, uint32_t *v)
{
    uint64_t n = 0;
    const char *start = c->p;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        n = n * 10 + (uint64_t)(*c->p - '0');
        if (n > UINT32_MAX)
            return false;
        c->p++;
    }
    *v = (uint32_t)n;
    return c->p > start;
}

static bool is_atom_char(char ch)
{
    unsigned char u = (unsigned char)ch;
    return u > ' ' && u < 0x7f && strchr("(){%*\"\\]", ch) == NULL;
}

/* An astring of a field list: an atom or a quoted string. */
static bool field_name(struct cursor *c, struct imap_section *sec)
{
    struct buf b;
    str_init(&b);
    if (c->p < c->end && *c->p == '"') {
        for (c->p++; c->p < c->end && *c->p != '"'; c->p++) {
            if (*c->p == '\\' && c->p + 1 < c->end)
                c->p++;
            if (*c->p == '\r' || *c->p == '\n' || *c->p == '\0')
                break;
            buf_append_char(&b, *c->p);
        }
        if (c->p >= c->end || *c->p != '"') {
            buf_free(&b);
            return false;
        }
        c->p++;
    } else {
        while (c->p < c->end && is_atom_char(*c->p))
            buf_append_char(&b, *c->p++);
    }
    if (b.len == 0 || sec->n_fields >= IMAP_SECTION_MAX_FIELDS) {
        buf_free(&b);
        return false;
    }
    sec->fields = xrealloc(sec->fields, (sec->n_fields + 1) * sizeof(char *));
    sec->fields[sec->n_fields++] = b.data;
    return true;
}

static bool parse_section_text(struct cursor *c, struct imap_section *sec)
{
    if (sec->n_parts > 0 && eat(c, "MIME")) {
        sec->text = IMAP_SECTION_MIME;
        return true;
    }
    if (eat(c, "TEXT")) {
        sec->text = IMAP_SECTION_TEXT;
        return true;
    }
    if (!eat(c, "HEADER"))
        return false;
    sec->text = IMAP_SECTION_HEADER;
    if (!eat(c, ".FIELDS"))
        return true;
    sec->text = eat(c, ".NOT") ? IMAP_SECTION_HEADER_FIELDS_NOT : IMAP_SECTION_HEADER_FIELDS;
    if (!eat(c, " ("))
        return false;
    do {
        if (!field_name(c, sec))
            return false;
    } while (eat(c, " "));
    return eat(c, ")");
}

static bool parse_section(struct cursor *c, struct imap_section *sec)
{
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        uint32_t n;
        if (!number(c, &n) || sec->n_parts >= IMAP_SECTION_MAX_PARTS)
            return false;
        sec->parts[sec->n_parts++] = n;
        if (c->p < c->end && *c->p == ']')
            return true;
        if (!eat(c, "."))
            return false;
    }
    if (c->p < c->end && *c->p == ']')
        return sec->n_parts == 0;
    if (sec->item != IMAP_ITEM_BODY)
        return false; /* BINARY takes part numbers only */
    return parse_section_text(c, sec);
}

bool imap_section_parse(const char *item, size_t len, struct imap_section *sec)
{
    struct cursor c = {item, item + len};
    const char *name;
    memset(sec, 0, sizeof(*sec));
    if (eat(&c, "BINARY.SIZE[")) {
        sec->item = IMAP_ITEM_BINARY_SIZE;
        name = "BINARY.SIZE";
    } else if (eat(&c, "BINARY")) {
        sec->item = IMAP_ITEM_BINARY;
        name = "BINARY";
        sec->peek = eat(&c, ".PEEK");
        if (!eat(&c, "["))
            return false;
    } else if (eat(&c, "BODY")) {
        sec->item = IMAP_ITEM_BODY;
        name = "BODY";
        sec->peek = eat(&c, ".PEEK");
        if (!eat(&c, "["))
            return false;
    } else {
        return false;
    }
    const char *spec = c.p;
    if (!parse_section(&c, sec) || !eat(&c, "]"))
        goto bad;
    size_t spec_len = (size_t)(c.p - 1 - spec);
    if (eat(&c, "<")) {
        if (sec->item == IMAP_ITEM_BINARY_SIZE || !number(&c, &sec->origin) || !eat(&c, ".") ||
            !number(&c, &sec->count) || !eat(&c, ">"))
            goto bad;
        sec->partial = true;
    }
    if (c.p != c.end)
        goto bad;
    struct buf n;
    str_init(&n);
    buf_printf(&n, "%s[", name);
    for (size_t i = 0; i < spec_len; i++)
        buf_append_char(&n, (char)toupper((unsigned char)spec[i]));
    buf_append_char(&n, ']');
    if (sec->partial)
        buf_printf(&n, "<%u>", (unsigned)sec->origin);
    sec->name = n.data;
    return true;
bad:
    imap_section_free(sec);
    return false;
}

void imap_section_free(struct imap_section *sec)
{
    for (size_t i = 0; i < sec->n_fields; i++)
        free(sec->fields[i]);
    free(sec->fields);
    free(sec->name);
    sec->fields = NULL;
    sec->name = NULL;
    sec->n_fields = 0;
}

/* ---- resolving ---- */

/* A message/rfc822 part whose embedded message was parsed. */
static bool is_message(const struct mime_part *p)
{
    return p->kind == MIME_MESSAGE && !p->truncated && p->first_child != NULL;
}

/* The part that sec's numbers name, Dovecot's way (RFC 3501 6.4.5): the
 * numbers of a multipart are its children; the only number of any other
 * part is 1, the part itself, and after it the path goes on only into a
 * message/rfc822, whose numbers are those of the embedded message. So the
 * root, even when it is message/rfc822 itself, is part 1 of a message that
 * is not multipart, and 1.1 of a plain message does not exist. */
static const struct mime_part *find_part(const struct imap_section *sec,
                                         const struct mime_part *root)
{
    const struct mime_part *p = root;
    for (size_t i = 0; i < sec->n_parts && p != NULL; i++) {
        bool more = i + 1 < sec->n_parts;
        if (p->kind == MIME_MULTIPART && !p->truncated)
            p = mime_child(p, sec->parts[i]);
        else if (sec->parts[i] != 1 || (more && !is_message(p)))
            p = NULL;
        if (p != NULL && more && is_message(p))
            p = p->first_child;
    }
    return p;
}

static bool field_listed(const struct imap_section *sec, const struct mime_field *f)
{
    for (size_t i = 0; i < sec->n_fields; i++)
        if (strlen(sec->fields[i]) == f->name_len &&
            strncasecmp(sec->fields[i], f->name, f->name_len) == 0)
            return true;
    return false;
}

static void header_fields(const struct imap_section *sec, const char *h, size_t len,
                          struct buf *out)
{
    bool want = sec->text == IMAP_SECTION_HEADER_FIELDS;
    struct mime_field f;
    size_t pos = 0;
    while (mime_field_next(h, len, &pos, &f)) {
        if (field_listed(sec, &f) != want)
            continue;
        buf_append(out, h + f.off, f.len);
        if (f.len == 0 || h[f.off + f.len - 1] != '\n')
            buf_append(out, "\r\n", 2); /* the last line of a header cut short */
    }
    buf_append(out, "\r\n", 2);
}

static void decode_body(const char *s, size_t len, const char *enc, struct buf *out)
{
    if (strcasecmp(enc, "base64") == 0)
        imap_decode_base64(s, len, out);
    else
        imap_decode_qp(s, len, out);
}

static bool encoding_known(const char *enc, bool *decode)
{
    *decode = false;
    if (enc == NULL || strcasecmp(enc, "7bit") == 0 || strcasecmp(enc, "8bit") == 0 ||
        strcasecmp(enc, "binary") == 0)
        return true;
    *decode = strcasecmp(enc, "base64") == 0 || strcasecmp(enc, "quoted-printable") == 0;
    return *decode;
}

enum imap_section_status imap_section_resolve(const struct imap_section *sec, const char *msg,
                                              size_t len, const struct mime_part *root,
                                              struct imap_section_octets *out)
{
    const struct mime_part *p = find_part(sec, root);
    memset(out, 0, sizeof(*out));
    str_init(&out->data);
    size_t off = 0, n = 0;
    if (p == NULL) {
        /* no such part: the empty string */
    } else if (sec->n_parts == 0 && sec->text == IMAP_SECTION_ALL) {
        n = len;
    } else if (sec->text == IMAP_SECTION_ALL) {
        off = p->body_off;
        n = p->body_len;
    } else if (sec->text == IMAP_SECTION_MIME) {
        off = p->hdr_off;
        n = p->hdr_len;
    } else {
        const struct mime_part *m = p;
        if (sec->n_parts > 0)
            m = is_message(p) ? p->first_child : NULL;
        if (m == NULL) {
            /* HEADER or TEXT of a part that is no message: empty */
        } else if (sec->text == IMAP_SECTION_TEXT) {
            off = m->body_off;
            n = m->body_len;
        } else if (sec->text == IMAP_SECTION_HEADER) {
            off = m->hdr_off;
            n = m->hdr_len;
        } else {
            out->built = true;
            header_fields(sec, msg + m->hdr_off, m->hdr_len, &out->data);
        }
    }
    if (sec->item != IMAP_ITEM_BODY && p != NULL && sec->n_parts > 0) {
        bool decode;
        if (!encoding_known(p->encoding, &decode))
            return IMAP_SECTION_UNKNOWN_CTE;
        if (decode) {
            out->built = true;
            out->literal8 = true;
            decode_body(msg + off, n, p->encoding, &out->data);
        }
    }
    if (out->built) {
        off = 0;
        n = out->data.len;
    }
    out->size = n;
    if (sec->partial) {
        size_t o = sec->origin < n ? sec->origin : n;
        size_t c = n - o < sec->count ? n - o : sec->count;
        if (out->built) {
            memmove(out->data.data, out->data.data + o, c);
            out->data.len = c;
            out->data.data[c] = '\0';
        }
        off += o;
        n = c;
    }
    out->off = out->built ? 0 : off;
    out->len = n;
    return IMAP_SECTION_OK;
}

/* ---- decoders ---- */

static int b64_value(unsigned char c)
{
    return base64_digit_value(c, '/');
}

void imap_decode_base64(const char *s, size_t len, struct buf *out)
{
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len && s[i] != '='; i++) {
        int v = b64_value((unsigned char)s[i]);
        if (v < 0)
            continue;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf_append_char(out, (char)((acc >> bits) & 0xff));
        }
    }
}

static int hex_value(char c)
{
    return hex_digit_value((unsigned char)c);
}

void imap_decode_qp(const char *s, size_t len, struct buf *out)
{
    size_t i = 0;
    while (i < len) {
        char c = s[i];
        if (c == ' ' || c == '\t') {
            /* blanks before a line end are padding (RFC 2045 6.7 (3)) */
            size_t j = i;
            while (j < len && (s[j] == ' ' || s[j] == '\t'))
                j++;
            if (j == len || s[j] == '\n' || (s[j] == '\r' && j + 1 < len && s[j + 1] == '\n')) {
                i = j;
                continue;
            }
            buf_append(out, s + i, j - i);
            i = j;
            continue;
        }
        if (c != '=') {
            buf_append_char(out, c);
            i++;
            continue;
        }
        if (i + 2 < len && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
            buf_append_char(out, (char)(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2])));
            i += 3;
            continue;
        }
        /* a soft line break: "=", maybe blanks, then the line end */
        size_t j = i + 1;
        while (j < len && (s[j] == ' ' || s[j] == '\t'))
            j++;
        if (j == len) {
            i = j;
        } else if (s[j] == '\n') {
            i = j + 1;
        } else if (s[j] == '\r' && j + 1 < len && s[j + 1] == '\n') {
            i = j + 2;
        } else {
            buf_append_char(out, '=');
            i++;
        }
    }
}
