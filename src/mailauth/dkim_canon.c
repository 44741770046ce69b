/* DKIM canonicalisation (RFC 6376 3.4, simple and relaxed) of header
 * fields and the streamed body, and the body hash. */
#include "mailauth/dkim_canon.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "util/xmalloc.h"

static bool is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

void dkim_canon_header(enum dkim_canon c, const char *field, size_t len, bool crlf, struct buf *out)
{
    if (c == DKIM_CANON_SIMPLE) {
        size_t n = len;
        if (n >= 2 && field[n - 2] == '\r' && field[n - 1] == '\n')
            n -= 2;
        buf_append(out, field, n);
        if (crlf)
            buf_append(out, "\r\n", 2);
        return;
    }
    /* The final CRLF is the caller's to add back; without this a field
     * with no colon (malformed) kept its own CRLF in the "name". */
    if (len >= 2 && field[len - 2] == '\r' && field[len - 1] == '\n')
        len -= 2;
    const char *colon = memchr(field, ':', len);
    size_t name_len = colon ? (size_t)(colon - field) : len;
    /* The name unfolded too (a continuation line before the colon, or a
     * malformed field without one), then stripped of trailing WSP. */
    size_t name_start = out->len;
    for (size_t i = 0; i < name_len; i++) {
        if (field[i] == '\r' && i + 1 < name_len && field[i + 1] == '\n') {
            i++;
            continue;
        }
        buf_append_char(out, (char)tolower((unsigned char)field[i]));
    }
    while (out->len > name_start && is_wsp(out->data[out->len - 1]))
        out->data[--out->len] = '\0';
    if (colon == NULL) {
        if (crlf)
            buf_append(out, "\r\n", 2);
        return;
    }
    buf_append_char(out, ':');
    /* Unfold (drop CRLF), turn each whitespace run into one SP, and drop
     * the runs at both ends of the value. */
    bool wsp = false, started = false;
    for (size_t i = (size_t)(colon - field) + 1; i < len; i++) {
        char ch = field[i];
        if (ch == '\r' && i + 1 < len && field[i + 1] == '\n') {
            i++;
            continue;
        }
        if (is_wsp(ch)) {
            wsp = true;
            continue;
        }
        if (wsp && started)
            buf_append_char(out, ' ');
        wsp = false;
        started = true;
        buf_append_char(out, ch);
    }
    if (crlf)
        buf_append(out, "\r\n", 2);
}

/* ---- body ---------------------------------------------------------------- */

static void body_flush(struct dkim_body *b)
{
    if (b->nout == 0)
        return;
    if (b->copy)
        buf_append(b->copy, b->out, b->nout);
    EVP_DigestUpdate(b->md, b->out, b->nout);
    b->nout = 0;
}

/* Emits canonical octets, counting them all but hashing at most limit. */
static void body_emit(struct dkim_body *b, const char *p, size_t n)
{
    uint64_t room = b->length >= b->limit ? 0 : b->limit - b->length;
    b->length += n;
    if (n > room)
        n = (size_t)room;
    if (n >= sizeof(b->out)) {
        /* Long runs go to the hash directly, not through the batch. */
        body_flush(b);
        if (b->copy)
            buf_append(b->copy, p, n);
        EVP_DigestUpdate(b->md, p, n);
        return;
    }
    if (b->nout + n > sizeof(b->out))
        body_flush(b);
    memcpy(b->out + b->nout, p, n);
    b->nout += n;
}

/* Content octets of the current line (no CR, and no WSP when relaxed):
 * first the line ends held back (they were not trailing after all), then
 * a held whitespace run. */
static void body_content(struct dkim_body *b, const char *p, size_t n)
{
    for (; b->held_crlf > 0; b->held_crlf--)
        body_emit(b, "\r\n", 2);
    if (b->wsp) {
        body_emit(b, " ", 1);
        b->wsp = false;
    }
    body_emit(b, p, n);
    b->in_line = true;
    b->any = true;
}

static void body_octet(struct dkim_body *b, char c)
{
    if (b->cr) {
        b->cr = false;
        if (c == '\n') {
            /* End of line: trailing whitespace is dropped (relaxed). */
            b->wsp = false;
            b->in_line = false;
            b->held_crlf++;
            return;
        }
        body_content(b, "\r", 1);
    }
    if (c == '\r')
        b->cr = true;
    else if (b->canon == DKIM_CANON_RELAXED && is_wsp(c))
        b->wsp = true;
    else
        body_content(b, &c, 1);
}

void dkim_body_init(struct dkim_body *b, enum dkim_canon c, uint64_t limit)
{
    memset(b, 0, sizeof(*b));
    b->canon = c;
    b->limit = limit;
    b->md = EVP_MD_CTX_new();
    if (b->md == NULL || EVP_DigestInit_ex(b->md, EVP_sha256(), NULL) != 1)
        abort();
}

void dkim_body_update(struct dkim_body *b, const void *data, size_t len)
{
    const char *p = data;
    bool relaxed = b->canon == DKIM_CANON_RELAXED;
    size_t i = 0;
    while (i < len) {
        /* The common case in bulk: a run of octets that need no decision. */
        size_t j = i;
        if (!b->cr && !(relaxed && b->wsp)) {
            /* Relaxed: a single SP between two content octets is already
             * canonical, so it stays in the run. */
            while (j < len && p[j] != '\r' &&
                   (!relaxed ||
                    (p[j] != '\t' && (p[j] != ' ' || (j > i && j + 1 < len && p[j + 1] != ' ' &&
                                                      p[j + 1] != '\t' && p[j + 1] != '\r')))))
                j++;
        }
        if (j > i) {
            body_content(b, p + i, j - i);
            i = j;
        } else {
            body_octet(b, p[i++]);
        }
    }
}

void dkim_body_final(struct dkim_body *b, unsigned char hash[DKIM_HASH_LEN])
{
    if (b->cr) {
        b->cr = false;
        body_content(b, "\r", 1);
    }
    /* RFC 6376 3.4.3 and 3.4.4: the body ends with exactly one CRLF, except
     * an empty relaxed body, which stays empty; a simple empty body is CRLF. */
    if (b->in_line || (b->any && b->held_crlf > 0) || (!b->any && b->canon == DKIM_CANON_SIMPLE))
        body_emit(b, "\r\n", 2);
    b->held_crlf = 0;
    body_flush(b);
    unsigned int n = 0;
    EVP_DigestFinal_ex(b->md, hash, &n);
    dkim_body_free(b);
}

void dkim_body_free(struct dkim_body *b)
{
    EVP_MD_CTX_free(b->md);
    b->md = NULL;
}

/* ---- splitting header and body -------------------------------------------- */

enum { SPLIT_LINE_START, SPLIT_START_CR, SPLIT_MID, SPLIT_MID_CR };

void dkim_split_init(struct dkim_split *s, size_t header_max)
{
    memset(s, 0, sizeof(*s));
    buf_init(&s->header);
    s->header_max = header_max;
    s->state = SPLIT_LINE_START;
}

static void split_keep(struct dkim_split *s, const char *p, size_t n)
{
    if (s->overflow || s->header.len + n > s->header_max) {
        s->overflow = true;
        return;
    }
    buf_append(&s->header, p, n);
}

size_t dkim_split_update(struct dkim_split *s, const char *data, size_t len)
{
    size_t i = 0;
    while (i < len && !s->in_body) {
        char c = data[i++];
        switch (s->state) {
        case SPLIT_LINE_START:
            /* A CR here may start the empty line: it is kept, and taken
             * back if the LF follows, so that nothing is ever held. */
            s->state = c == '\r' ? SPLIT_START_CR : SPLIT_MID;
            break;
        case SPLIT_START_CR:
            if (c == '\n') {
                s->in_body = true;
                if (!s->overflow)
                    s->header.data[--s->header.len] = '\0';
                continue;
            }
            s->state = c == '\r' ? SPLIT_MID_CR : SPLIT_MID;
            break;
        case SPLIT_MID:
            if (c == '\r')
                s->state = SPLIT_MID_CR;
            break;
        case SPLIT_MID_CR:
            s->state = c == '\n' ? SPLIT_LINE_START : c == '\r' ? SPLIT_MID_CR : SPLIT_MID;
            break;
        }
        split_keep(s, &c, 1);
    }
    return i;
}

void dkim_split_free(struct dkim_split *s)
{
    buf_free(&s->header);
}

bool dkim_field_next(const char *h, size_t len, size_t *off, struct dkim_field *f)
{
    size_t i = *off;
    if (i >= len || (h[i] == '\r' && i + 1 < len && h[i + 1] == '\n'))
        return false;
    size_t start = i;
    for (;;) {
        /* Only CRLF ends a line, as in the splitter: a bare LF inside a
         * field must not make the next octets look like the empty line. */
        const char *nl = memmem(h + i, len - i, "\r\n", 2);
        i = nl ? (size_t)(nl - h) + 2 : len;
        if (i >= len || !is_wsp(h[i]))
            break;
    }
    f->text = h + start;
    f->len = i - start;
    const char *colon = memchr(f->text, ':', f->len);
    f->name = f->text;
    f->name_len = colon ? (size_t)(colon - f->text) : 0;
    while (f->name_len > 0 && is_wsp(f->name[f->name_len - 1]))
        f->name_len--;
    *off = i;
    return true;
}

void dkim_canon_select(enum dkim_canon c, const char *h, size_t hlen, const char *names,
                       size_t nlen, struct buf *out)
{
    struct dkim_field *fields = NULL;
    bool *used = NULL;
    size_t n = 0, cap = 0, off = 0;
    struct dkim_field f;
    while (dkim_field_next(h, hlen, &off, &f)) {
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            fields = xrealloc(fields, cap * sizeof(*fields));
        }
        fields[n++] = f;
    }
    used = xcalloc(n ? n : 1, sizeof(*used));
    size_t i = 0;
    while (i < nlen) {
        const char *colon = memchr(names + i, ':', nlen - i);
        size_t len = colon ? (size_t)(colon - (names + i)) : nlen - i;
        for (size_t k = n; len > 0 && k-- > 0;) {
            if (used[k] || fields[k].name_len != len ||
                strncasecmp(fields[k].name, names + i, len) != 0)
                continue;
            used[k] = true;
            dkim_canon_header(c, fields[k].text, fields[k].len, true, out);
            break;
        }
        i += len + 1;
    }
    free(fields);
    free(used);
}
