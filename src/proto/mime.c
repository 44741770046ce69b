/*
 * mime: a message's MIME tree (see mime.h): the header field scanner,
 * Content-* field parsing with RFC 2231 parameters, and the
 * boundary-driven splitting of multiparts and message/rfc822 parts. The
 * behaviour follows Dovecot 2.3.19 (lib-mail message-parser, rfc822-parser,
 * rfc2231-parser), re-implemented over one buffer.
 */
#include "proto/mime.h"

#include <stdint.h>
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

/* ---- header fields ---- */

static size_t line_end(const char *s, size_t len, size_t pos)
{
    const char *lf = memchr(s + pos, '\n', len - pos);
    return lf != NULL ? (size_t)(lf - s) + 1 : len;
}

static bool line_is_empty(const char *s, size_t len, size_t pos)
{
    return (pos < len && s[pos] == '\n') || (pos + 1 < len && s[pos] == '\r' && s[pos + 1] == '\n');
}

bool mime_field_next(const char *hdr, size_t len, size_t *pos, struct mime_field *f)
{
    size_t p = *pos, eol, colon, text_end;
    if (p >= len || line_is_empty(hdr, len, p))
        return false;
    f->off = p;
    eol = line_end(hdr, len, p);
    /* A field goes on over the lines that begin with a blank. */
    size_t end = eol;
    while (end < len && (hdr[end] == ' ' || hdr[end] == '\t'))
        end = line_end(hdr, len, end);
    f->len = end - p;
    text_end = end;
    if (text_end > p && hdr[text_end - 1] == '\n')
        text_end--;
    if (text_end > p && hdr[text_end - 1] == '\r')
        text_end--;
    const char *c = memchr(hdr + p, ':', eol - p);
    if (c == NULL) {
        f->name = hdr + p;
        f->name_len = text_end - p;
        f->value = hdr + text_end;
        f->value_len = 0;
    } else {
        colon = (size_t)(c - hdr);
        size_t n = colon;
        while (n > p && (hdr[n - 1] == ' ' || hdr[n - 1] == '\t'))
            n--;
        f->name = hdr + p;
        f->name_len = n - p;
        size_t v = colon + 1;
        while (v < text_end && (hdr[v] == ' ' || hdr[v] == '\t'))
            v++;
        f->value = hdr + v;
        f->value_len = text_end > v ? text_end - v : 0;
    }
    *pos = end;
    return true;
}

void mime_field_value(const struct mime_field *f, struct buf *out)
{
    for (size_t i = 0; i < f->value_len; i++) {
        char c = f->value[i];
        if (c == '\r' && i + 1 < f->value_len && f->value[i + 1] == '\n')
            continue;
        buf_append_char(out, c == '\0' ? (char)0x80 : c);
    }
}

static bool field_is(const struct mime_field *f, const char *name)
{
    return f->name_len == strlen(name) && strncasecmp(f->name, name, f->name_len) == 0;
}

/* ---- Content-* fields ---- */

struct raw_param {
    char *key, *value;
    unsigned idx;
    bool extended;
};

static void params_add(struct mime_params *ps, char *name, char *value)
{
    ps->v = xrealloc(ps->v, (ps->n + 1) * sizeof(*ps->v));
    ps->v[ps->n].name = name;
    ps->v[ps->n].value = value;
    ps->n++;
}

static int raw_param_cmp(const struct raw_param *a, const struct raw_param *b)
{
    int r = strcmp(a->key, b->key);
    if (r != 0)
        return r;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* Merges the RFC 2231 pieces: sorted by name and index; a name whose
 * indexes have a gap is given back piece by piece as sent. */
static void params_merge_2231(struct mime_params *ps, struct raw_param *r, size_t n)
{
    /* insertion sort: stable, and n is small */
    for (size_t i = 1; i < n; i++) {
        struct raw_param t = r[i];
        size_t j = i;
        while (j > 0 && raw_param_cmp(&r[j - 1], &t) > 0) {
            r[j] = r[j - 1];
            j--;
        }
        r[j] = t;
    }
    for (size_t i = 0, next; i < n; i = next) {
        bool ok = true, extended = false;
        unsigned want = 0;
        for (next = i; next < n && strcasecmp(r[i].key, r[next].key) == 0; next++) {
            if (r[next].idx != want)
                ok = false;
            extended |= r[next].extended;
            want++;
        }
        if (!ok) {
            for (size_t j = i; j < next; j++)
                params_add(ps, xasprintf(r[j].extended ? "%s*%u*" : "%s*%u", r[j].key, r[j].idx),
                           xstrdup(r[j].value));
            continue;
        }
        struct buf v;
        str_init(&v);
        if (!r[i].extended && extended)
            buf_append_str(&v, "''");
        for (size_t j = i; j < next; j++) {
            if (!r[j].extended && extended) {
                for (const char *s = r[j].value; *s != '\0'; s++)
                    buf_append_str(&v, *s == '%' ? "%25" : (char[]){*s, 0});
            } else {
                buf_append_str(&v, r[j].value);
            }
        }
        params_add(ps, xasprintf(extended ? "%s*" : "%s", r[i].key), xstrdup(v.data));
        buf_free(&v);
    }
}

/* *(";" attribute "=" value), RFC 2045 with RFC 2231 continuations. */
static void parse_params(struct mime_lex *lx, struct mime_params *ps)
{
    struct raw_param *raw = NULL;
    size_t n_raw = 0;
    unsigned last_idx = 0;
    struct buf key, value;
    str_init(&key);
    str_init(&value);
    while (lx->p < lx->end) {
        int ret = -1;
        buf_reset(&key);
        buf_reset(&value);
        if (*lx->p == ';') {
            lx->p++;
            if (mime_lex_skip_lwsp(lx) > 0 && mime_lex_mime_token(lx, &key) > 0 && *lx->p == '=') {
                lx->p++;
                if ((ret = mime_lex_skip_lwsp(lx)) <= 0) {
                    /* no value */
                } else if (*lx->p == '"') {
                    ret = mime_lex_quoted(lx, &value);
                } else if (*lx->p == '=') {
                    /* broken senders' name==?utf-8?b?...?= */
                    while (lx->p < lx->end && !strchr("; \t\r\n", *lx->p))
                        buf_append_char(&value, (char)*lx->p++);
                } else {
                    ret = mime_lex_mime_token(lx, &value);
                }
                ret = ret < 0 ? -1 : 1;
            }
        }
        if (ret < 0) {
            /* skip a byte and try to go on, as Dovecot does */
            if (lx->p >= lx->end)
                break;
            lx->p++;
            continue;
        }
        const char *star = strchr(key.data, '*');
        bool is_2231 = false;
        struct raw_param rp = {0};
        if (star != NULL) {
            const char *s = star;
            rp.idx = last_idx;
            if (s[1] != '\0') {
                s++;
                rp.idx = 0;
                for (; *s >= '0' && *s <= '9'; s++)
                    rp.idx = rp.idx * 10 + (unsigned)(*s - '0');
            }
            if (*s == '*') {
                rp.extended = true;
                s++;
            }
            if (*s == '\0') {
                is_2231 = true;
                last_idx = rp.idx;
                rp.key = xstrndup(key.data, (size_t)(star - key.data));
                rp.value = xstrdup(value.data);
                raw = xrealloc(raw, (n_raw + 1) * sizeof(*raw));
                raw[n_raw++] = rp;
            }
        }
        if (!is_2231)
            params_add(ps, xstrdup(key.data), xstrdup(value.data));
    }
    params_merge_2231(ps, raw, n_raw);
    for (size_t i = 0; i < n_raw; i++) {
        free(raw[i].key);
        free(raw[i].value);
    }
    free(raw);
    buf_free(&key);
    buf_free(&value);
}

static void params_free(struct mime_params *ps)
{
    for (size_t i = 0; i < ps->n; i++) {
        free(ps->v[i].name);
        free(ps->v[i].value);
    }
    free(ps->v);
    ps->v = NULL;
    ps->n = 0;
}

static void parse_content_type(struct mime_part *part, const char *v, size_t len)
{
    struct mime_lex lx;
    struct buf t;
    int ret = -1;
    size_t slash = 0;
    str_init(&t);
    mime_lex_init(&lx, v, len, NULL);
    if (mime_lex_skip_lwsp(&lx) > 0 && mime_lex_mime_token(&lx, &t) > 0 && t.len > 0) {
        if (*lx.p != '/') {
            buf_reset(&t);
        } else {
            lx.p++;
            slash = t.len;
            buf_append_char(&t, '/');
            if (mime_lex_skip_lwsp(&lx) <= 0) {
                buf_reset(&t);
            } else if ((ret = mime_lex_mime_token(&lx, &t)) < 0 || t.len == slash + 1 ||
                       (lx.p != lx.end && *lx.p != ';')) {
                buf_reset(&t);
                ret = -1;
            }
        }
    }
    char *sl = memchr(t.data, '/', t.len);
    part->type = xstrndup(t.data, sl != NULL ? (size_t)(sl - t.data) : t.len);
    part->subtype = xstrdup(sl != NULL ? sl + 1 : "");
    if (ret >= 0)
        parse_params(&lx, &part->type_params);
    buf_free(&t);
}

static char *parse_encoding(const char *v, size_t len)
{
    struct mime_lex lx;
    struct buf t;
    char *r = NULL;
    str_init(&t);
    mime_lex_init(&lx, v, len, NULL);
    mime_lex_skip_lwsp(&lx);
    if (mime_lex_mime_token(&lx, &t) >= 0 && mime_lex_skip_lwsp(&lx) == 0 && t.len > 0)
        r = xstrdup(t.data);
    buf_free(&t);
    return r;
}

static void parse_disposition(struct mime_part *part, const char *v, size_t len)
{
    struct mime_lex lx;
    struct buf t;
    str_init(&t);
    mime_lex_init(&lx, v, len, NULL);
    mime_lex_skip_lwsp(&lx);
    if (mime_lex_mime_token(&lx, &t) >= 0) {
        part->disposition = xstrdup(t.data);
        parse_params(&lx, &part->disposition_params);
    }
    buf_free(&t);
}

static void parse_language(struct mime_part *part, const char *v, size_t len)
{
    struct mime_lex lx;
    struct buf t;
    str_init(&t);
    mime_lex_init(&lx, v, len, NULL);
    mime_lex_skip_lwsp(&lx);
    while (mime_lex_atom(&lx, &t) >= 0) {
        part->languages = xrealloc(part->languages, (part->n_languages + 1) * sizeof(char *));
        part->languages[part->n_languages++] = xstrdup(t.data);
        buf_reset(&t);
        if (lx.p >= lx.end || *lx.p != ',')
            break;
        lx.p++;
        mime_lex_skip_lwsp(&lx);
    }
    buf_free(&t);
}

static void part_clear_content(struct mime_part *part)
{
    free(part->type);
    free(part->subtype);
    params_free(&part->type_params);
    free(part->id);
    free(part->description);
    free(part->encoding);
    free(part->md5);
    free(part->location);
    free(part->disposition);
    params_free(&part->disposition_params);
    for (size_t i = 0; i < part->n_languages; i++)
        free(part->languages[i]);
    free(part->languages);
    part->type = part->subtype = part->id = part->description = NULL;
    part->encoding = part->md5 = part->location = part->disposition = NULL;
    part->languages = NULL;
    part->n_languages = 0;
}

static void set_once(char **dst, const struct buf *v)
{
    if (*dst == NULL)
        *dst = xstrdup(v->data);
}

/* Reads the Content-* fields of the part's header. Returns whether the
 * header makes the part MIME (a MIME-Version or a Content-Type field). */
static bool parse_content_fields(struct mime_part *part, const char *msg)
{
    const char *h = msg + part->hdr_off;
    size_t pos = 0;
    struct mime_field f;
    struct buf v;
    bool is_mime = false, seen_disposition = false;
    str_init(&v);
    while (mime_field_next(h, part->hdr_len, &pos, &f)) {
        if (field_is(&f, "MIME-Version")) {
            is_mime = true;
            continue;
        }
        if (f.name_len < 8 || strncasecmp(f.name, "Content-", 8) != 0)
            continue;
        buf_reset(&v);
        mime_field_value(&f, &v);
        if (field_is(&f, "Content-Type")) {
            is_mime = true;
            if (part->type == NULL)
                parse_content_type(part, v.data, v.len);
        } else if (field_is(&f, "Content-Transfer-Encoding")) {
            if (part->encoding == NULL)
                part->encoding = parse_encoding(v.data, v.len);
        } else if (field_is(&f, "Content-ID")) {
            set_once(&part->id, &v);
        } else if (field_is(&f, "Content-MD5")) {
            set_once(&part->md5, &v);
        } else if (field_is(&f, "Content-Description")) {
            set_once(&part->description, &v);
        } else if (field_is(&f, "Content-Location")) {
            set_once(&part->location, &v);
        } else if (field_is(&f, "Content-Language")) {
            if (part->languages == NULL)
                parse_language(part, v.data, v.len);
        } else if (field_is(&f, "Content-Disposition")) {
            if (!seen_disposition)
                parse_disposition(part, v.data, v.len);
            seen_disposition = true;
        }
    }
    buf_free(&v);
    return is_mime;
}

/* ---- the tree ---- */

struct boundary {
    const char *s;
    size_t len;
};

struct parser {
    const char *m;
    size_t len;
    size_t parts;
    struct boundary stack[MIME_MAX_DEPTH + 1];
    size_t nb;
};

/* Where a part ends: at the [CR]LF before a boundary line (idx: which one
 * in the stack, final: it ends with "--"), or at the end (idx -1). */
struct term {
    size_t end, next;
    int idx;
    bool final;
};

/* Whether the line at pos is a boundary line of an enclosing multipart:
 * the longest boundary that begins the line after "--" (RFC 2046 lets the
 * line hold more than the boundary). */
static bool boundary_at(const struct parser *ps, size_t pos, struct term *t)
{
    const char *m = ps->m;
    size_t eol = line_end(m, ps->len, pos), n;
    if (eol - pos < 2 || m[pos] != '-' || m[pos + 1] != '-' || ps->parts >= MIME_MAX_PARTS)
        return false;
    const char *d = m + pos + 2;
    n = eol - pos - 2;
    if (n > 0 && d[n - 1] == '\n')
        n--;
    if (n > 0 && d[n - 1] == '\r')
        n--;
    bool dashes = n > 2 && d[n - 1] == '-' && d[n - 2] == '-';
    int best = -1;
    for (int i = (int)ps->nb - 1; i >= 0; i--) {
        const struct boundary *b = &ps->stack[i];
        if (b->len <= n && memcmp(b->s, d, b->len) == 0 &&
            (best < 0 || ps->stack[best].len < b->len)) {
            best = i;
            if (b->len == n || (b->len + 2 == n && dashes))
                break;
        }
    }
    if (best < 0)
        return false;
    size_t bl = ps->stack[best].len;
    t->idx = best;
    t->final = n >= bl + 2 && d[bl] == '-' && d[bl + 1] == '-';
    t->next = eol;
    return true;
}

/* The end of a line-start position's preceding line end, not before origin. */
static size_t before_newline(const char *m, size_t pos, size_t origin)
{
    if (pos > origin && m[pos - 1] == '\n') {
        pos--;
        if (pos > origin && m[pos - 1] == '\r')
            pos--;
    }
    return pos;
}

/* The next boundary line from pos (a line start) on. */
static struct term find_boundary(const struct parser *ps, size_t pos)
{
    struct term t = {ps->len, ps->len, -1, false};
    size_t origin = pos;
    if (ps->nb == 0)
        return t;
    while (pos < ps->len) {
        if (boundary_at(ps, pos, &t)) {
            t.end = before_newline(ps->m, pos, origin);
            return t;
        }
        pos = line_end(ps->m, ps->len, pos);
    }
    return t;
}

static size_t count_lf(const char *s, size_t n)
{
    size_t c = 0;
    const char *p = s, *end = s + n;
    while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        c++;
        p++;
    }
    return c;
}

static struct mime_part *add_child(struct parser *ps, struct mime_part *parent,
                                   struct mime_part ***tail)
{
    struct mime_part *c = xcalloc(1, sizeof(*c));
    c->parent = parent;
    **tail = c;
    *tail = &c->next;
    parent->n_children++;
    ps->parts++;
    return c;
}

static struct term parse_part(struct parser *ps, struct mime_part *part, size_t off, unsigned depth,
                              bool in_multipart, bool in_digest);

static struct term parse_multipart_body(struct parser *ps, struct mime_part *part, unsigned depth,
                                        const char *boundary)
{
    size_t k = ps->nb++;
    struct mime_part **tail = &part->first_child;
    ps->stack[k].s = boundary;
    ps->stack[k].len = strlen(boundary);
    bool digest = strcasecmp(part->subtype, "digest") == 0;
    struct term t = find_boundary(ps, part->body_off);
    while (t.idx == (int)k) {
        if (t.final) {
            ps->nb = k;
            return find_boundary(ps, t.next); /* the epilogue */
        }
        struct mime_part *c = add_child(ps, part, &tail);
        t = parse_part(ps, c, t.next, depth + 1, true, digest);
        if (t.idx >= 0 && t.idx <= (int)k)
            ps->nb = (size_t)t.idx + 1;
    }
    ps->nb = k;
    return t;
}

static const char *param_get(const struct mime_params *ps, const char *name)
{
    for (size_t i = 0; i < ps->n; i++)
        if (strcasecmp(ps->v[i].name, name) == 0)
            return ps->v[i].value;
    return NULL;
}

static struct term parse_part(struct parser *ps, struct mime_part *part, size_t off, unsigned depth,
                              bool in_multipart, bool in_digest)
{
    const char *m = ps->m;
    size_t pos = off;
    struct term t;
    bool cut = false;
    part->hdr_off = off;
    while (pos < ps->len) {
        if (boundary_at(ps, pos, &t)) {
            /* a boundary in the header: the header ends, and the line end
             * before the boundary belongs to the boundary */
            t.end = before_newline(m, pos, off);
            cut = true;
            break;
        }
        bool empty = line_is_empty(m, ps->len, pos);
        pos = line_end(m, ps->len, pos);
        if (empty)
            break;
    }
    part->hdr_len = (cut ? t.end : pos) - off;
    part->body_off = off + part->hdr_len;
    bool is_mime = parse_content_fields(part, m) || in_multipart;
    if (!is_mime)
        part_clear_content(part);
    if (part->type == NULL) {
        part->kind = in_digest ? MIME_MESSAGE : MIME_LEAF;
    } else if (strcasecmp(part->type, "message") == 0 && strcasecmp(part->subtype, "rfc822") == 0) {
        part->kind = MIME_MESSAGE;
    } else if (strcasecmp(part->type, "multipart") == 0 && part->subtype[0] != '\0') {
        part->kind = MIME_MULTIPART;
    }
    bool room = depth + 1 < MIME_MAX_DEPTH && ps->parts < MIME_MAX_PARTS;
    if (cut) {
        /* no body: a message/rfc822 holds an empty message (Dovecot) */
        part->body_len = 0;
        if (part->kind == MIME_MESSAGE && room) {
            struct mime_part **tail = &part->first_child;
            struct mime_part *c = add_child(ps, part, &tail);
            c->hdr_off = c->body_off = part->body_off;
        } else {
            part->truncated = part->kind == MIME_MESSAGE;
        }
        return t;
    }
    const char *boundary =
        part->kind == MIME_MULTIPART ? param_get(&part->type_params, "boundary") : NULL;
    char *bcopy = NULL;
    if (part->kind == MIME_MULTIPART && boundary != NULL && room) {
        bcopy = xstrndup(boundary, strnlen(boundary, MIME_BOUNDARY_MAX));
        t = parse_multipart_body(ps, part, depth, bcopy);
    } else if (part->kind == MIME_MESSAGE && room) {
        struct mime_part **tail = &part->first_child;
        struct mime_part *c = add_child(ps, part, &tail);
        t = parse_part(ps, c, part->body_off, depth + 1, false, false);
    } else {
        if (part->kind != MIME_LEAF && (!room || boundary != NULL))
            part->truncated = true;
        t = find_boundary(ps, part->body_off);
    }
    free(bcopy);
    part->body_len = t.end - part->body_off;
    part->body_lines = count_lf(m + part->body_off, part->body_len);
    return t;
}

struct mime_part *mime_parse(const char *msg, size_t len)
{
    struct parser *ps = xcalloc(1, sizeof(*ps));
    struct mime_part *root = xcalloc(1, sizeof(*root));
    ps->m = msg;
    ps->len = len;
    ps->parts = 1;
    parse_part(ps, root, 0, 0, false, false);
    free(ps);
    return root;
}

void mime_free(struct mime_part *root)
{
    /* iterative, so a deep tree cannot exhaust the stack */
    struct mime_part *p = root;
    while (p != NULL) {
        if (p->first_child != NULL) {
            struct mime_part *c = p->first_child;
            p->first_child = NULL;
            p = c;
            continue;
        }
        struct mime_part *next = p->next != NULL ? p->next : p->parent;
        bool last = p == root;
        part_clear_content(p);
        free(p);
        if (last)
            break;
        p = next;
    }
}

bool mime_is_text(const struct mime_part *part)
{
    return part->kind == MIME_LEAF && !part->truncated &&
           (part->type == NULL || strcasecmp(part->type, "text") == 0);
}

struct mime_part *mime_child(const struct mime_part *part, size_t n)
{
    struct mime_part *c = part->first_child;
    for (size_t i = 1; c != NULL && i < n; i++)
        c = c->next;
    return n == 0 ? NULL : c;
}

void mime_to_crlf(const char *msg, size_t len, struct buf *out)
{
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (msg[i] == '\n' && (i == 0 || msg[i - 1] != '\r')) {
            buf_append(out, msg + start, i - start);
            buf_append(out, "\r\n", 2);
            start = i + 1;
        }
    }
    buf_append(out, msg + start, len - start);
}
