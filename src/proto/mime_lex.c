/*
 * mime_lex: the RFC 5322 / RFC 2045 lexer (see mime.h) that the MIME
 * parameter parser and the ENVELOPE address parser share: atoms, dot-atoms,
 * quoted strings, phrases, domains, MIME tokens, comments as whitespace.
 * Its return values and leniency are Dovecot 2.3.19's rfc822-parser's, so
 * that what the parsers built on it accept is what Dovecot accepts.
 */
#include <string.h>

#include "proto/mime.h"

/* RFC 5322 atext; '/', '?' and '=' are atext but MIME tspecials. */
bool mime_is_atext(unsigned char c)
{
    if (c >= 0x80)
        return true;
    if (c <= 32 || c == 127)
        return false;
    return strchr("()<>[]:;@\\,.\"", c) == NULL;
}

static bool is_token_char(unsigned char c)
{
    return mime_is_atext(c) && c != '/' && c != '?' && c != '=';
}

void mime_lex_init(struct mime_lex *lx, const char *s, size_t len, struct buf *last_comment)
{
    lx->p = (const unsigned char *)(s != NULL ? s : "");
    lx->end = lx->p + (s != NULL ? len : 0);
    lx->last_comment = last_comment;
}

static int lex_more(const struct mime_lex *lx)
{
    return lx->p < lx->end ? 1 : 0;
}

static int lex_skip_comment(struct mime_lex *lx)
{
    const unsigned char *start = ++lx->p;
    int level = 1;
    if (lx->last_comment != NULL)
        buf_reset(lx->last_comment);
    for (; lx->p < lx->end; lx->p++) {
        switch (*lx->p) {
        case '(':
            level++;
            break;
        case ')':
            if (--level == 0) {
                if (lx->last_comment != NULL)
                    buf_append(lx->last_comment, start, (size_t)(lx->p - start));
                lx->p++;
                return lex_more(lx);
            }
            break;
        case '\n':
            if (lx->last_comment != NULL) {
                size_t n = (size_t)(lx->p - start);
                if (n > 0 && start[n - 1] == '\r')
                    n--;
                buf_append(lx->last_comment, start, n);
            }
            start = lx->p + 1;
            break;
        case '\\':
            if (++lx->p >= lx->end)
                return -1;
            if (*lx->p == '\r' || *lx->p == '\n' || *lx->p == '\0') {
                lx->p--; /* obs-qp: the backslash stays as text */
                break;
            }
            if (lx->last_comment != NULL)
                buf_append(lx->last_comment, start, (size_t)(lx->p - start - 1));
            start = lx->p;
            break;
        }
    }
    return -1;
}

int mime_lex_skip_lwsp(struct mime_lex *lx)
{
    while (lx->p < lx->end) {
        unsigned char c = *lx->p;
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            lx->p++;
            continue;
        }
        if (c != '(')
            break;
        if (lex_skip_comment(lx) < 0)
            return -1;
    }
    return lex_more(lx);
}

int mime_lex_atom(struct mime_lex *lx, struct buf *out)
{
    const unsigned char *start = lx->p;
    if (lx->p >= lx->end || !mime_is_atext(*lx->p))
        return -1;
    while (lx->p < lx->end && mime_is_atext(*lx->p))
        lx->p++;
    buf_append(out, start, (size_t)(lx->p - start));
    return lx->p < lx->end ? mime_lex_skip_lwsp(lx) : 0;
}

int mime_lex_dot_atom(struct mime_lex *lx, struct buf *out)
{
    int ret;
    if (lx->p >= lx->end || !mime_is_atext(*lx->p))
        return -1;
    for (;;) {
        const unsigned char *start = lx->p;
        while (lx->p < lx->end && mime_is_atext(*lx->p))
            lx->p++;
        if (start == lx->p)
            return -1;
        buf_append(out, start, (size_t)(lx->p - start));
        if (lx->p >= lx->end)
            return 0;
        if ((ret = mime_lex_skip_lwsp(lx)) <= 0)
            return ret;
        if (*lx->p != '.')
            return 1;
        lx->p++;
        buf_append_char(out, '.');
        if (mime_lex_skip_lwsp(lx) <= 0)
            return -1;
    }
}

int mime_lex_quoted(struct mime_lex *lx, struct buf *out)
{
    const unsigned char *start = ++lx->p;
    for (; lx->p < lx->end; lx->p++) {
        switch (*lx->p) {
        case '"':
            buf_append(out, start, (size_t)(lx->p - start));
            lx->p++;
            return mime_lex_skip_lwsp(lx);
        case '\n': {
            size_t n = (size_t)(lx->p - start);
            if (n > 0 && start[n - 1] == '\r')
                n--;
            buf_append(out, start, n);
            start = lx->p + 1;
            break;
        }
        case '\\':
            if (++lx->p >= lx->end)
                return -1;
            if (*lx->p == '\r' || *lx->p == '\n' || *lx->p == '\0') {
                lx->p--;
                break;
            }
            buf_append(out, start, (size_t)(lx->p - start - 1));
            start = lx->p;
            break;
        }
    }
    return -1;
}

/* An atom that may hold dots, without skipping the blanks inside it. */
static int lex_atom_or_dot(struct mime_lex *lx, struct buf *out)
{
    const unsigned char *start = lx->p;
    while (lx->p < lx->end && (mime_is_atext(*lx->p) || *lx->p == '.'))
        lx->p++;
    buf_append(out, start, (size_t)(lx->p - start));
    return lx->p < lx->end ? mime_lex_skip_lwsp(lx) : 0;
}

int mime_lex_phrase(struct mime_lex *lx, struct buf *out)
{
    int ret;
    if (lx->p >= lx->end)
        return 0;
    if (*lx->p == '.')
        return -1;
    for (;;) {
        if (*lx->p == '"')
            ret = mime_lex_quoted(lx, out);
        else
            ret = lex_atom_or_dot(lx, out);
        if (ret <= 0)
            return ret;
        if (!mime_is_atext(*lx->p) && *lx->p != '"' && *lx->p != '.')
            break;
        buf_append_char(out, ' ');
    }
    return mime_lex_skip_lwsp(lx);
}

static int lex_domain_literal(struct mime_lex *lx, struct buf *out)
{
    const unsigned char *start = lx->p++;
    for (; lx->p < lx->end; lx->p++) {
        switch (*lx->p) {
        case '[':
            return -1;
        case ']':
            buf_append(out, start, (size_t)(lx->p - start + 1));
            lx->p++;
            return mime_lex_skip_lwsp(lx);
        case '\n': {
            size_t n = (size_t)(lx->p - start);
            if (n > 0 && start[n - 1] == '\r')
                n--;
            buf_append(out, start, n);
            start = lx->p + 1;
            break;
        }
        case '\\':
            if (++lx->p >= lx->end)
                return -1;
            if (*lx->p == '\r' || *lx->p == '\n' || *lx->p == '\0') {
                buf_append(out, start, (size_t)(lx->p - start));
                start = lx->p;
                lx->p--;
            }
            break;
        }
    }
    return -1;
}

int mime_lex_domain(struct mime_lex *lx, struct buf *out)
{
    lx->p++; /* the '@' */
    if (mime_lex_skip_lwsp(lx) <= 0)
        return -1;
    if (*lx->p == '[')
        return lex_domain_literal(lx, out);
    return mime_lex_dot_atom(lx, out);
}

/* A MIME token (RFC 2045: tspecials end it, '.' does not). */
int mime_lex_mime_token(struct mime_lex *lx, struct buf *out)
{
    const unsigned char *start = lx->p;
    while (lx->p < lx->end && (is_token_char(*lx->p) || *lx->p == '.'))
        lx->p++;
    buf_append(out, start, (size_t)(lx->p - start));
    return lx->p < lx->end ? mime_lex_skip_lwsp(lx) : 0;
}
