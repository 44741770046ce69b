/* The incremental parser of SMTP server replies (with enhanced status
 * codes) for the outbound client. */
#include "proto/smtp_reply.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

enum state {
    ST_HEAD,    /* the code and its separator */
    ST_HEAD_CR, /* a CR right after the code: "250\r" */
    ST_TEXT,
    ST_CR, /* a CR in the text: CRLF or a bare CR */
    ST_DONE,
    ST_ERROR,
};

void smtp_reply_parser_init(struct smtp_reply_parser *p)
{
    p->state = ST_HEAD;
    p->head_len = 0;
    p->last = false;
    p->line_len = 0;
    p->line_start = 0;
    p->error = NULL;
    p->reply.code = 0;
    p->reply.enhanced[0] = '\0';
    p->reply.nlines = 0;
    p->reply.truncated = false;
    p->reply.text_len = 0;
    p->reply.text[0] = '\0';
}

static int fail(struct smtp_reply_parser *p, const char *why)
{
    p->state = ST_ERROR;
    p->error = why;
    return -1;
}

static void text_put(struct smtp_reply *r, char c)
{
    if (r->text_len >= SMTP_REPLY_TEXT_MAX) {
        r->truncated = true;
        return;
    }
    r->text[r->text_len++] = c;
    r->text[r->text_len] = '\0';
}

/* Only printable ASCII is stored: no octet from the peer can end a line,
 * a string or a field anywhere we copy the text. */
static char sanitize(unsigned char c)
{
    if (c == '\t')
        return ' ';
    if (c < 0x20 || c >= 0x7f)
        return '?';
    return (char)c;
}

/* Length of an enhanced status code "c.sss.ddd" at s (followed by the end or
 * a space), or 0. */
static size_t enhanced_len(const char *s, size_t n)
{
    size_t i = 0;
    if (n < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
        return 0;
    i = 2;
    for (int part = 0; part < 2; part++) {
        size_t digits = 0;
        while (i < n && isdigit((unsigned char)s[i]) && digits < 4) {
            i++;
            digits++;
        }
        if (digits == 0 || digits > 3)
            return 0;
        if (part == 0) {
            if (i >= n || s[i] != '.')
                return 0;
            i++;
        }
    }
    if (i < n && s[i] != ' ')
        return 0;
    return i;
}

/* At the end of a line: strip a leading enhanced code of the reply's class
 * from its text, and remember the first line's. */
static void line_strip_enhanced(struct smtp_reply_parser *p)
{
    struct smtp_reply *r = &p->reply;
    if (r->truncated)
        return;
    char *s = r->text + p->line_start;
    size_t n = r->text_len - p->line_start;
    size_t e = enhanced_len(s, n);
    if (e == 0 || s[0] != p->head[0])
        return;
    if (r->nlines == 0) {
        memcpy(r->enhanced, s, e);
        r->enhanced[e] = '\0';
    }
    size_t skip = e;
    while (skip < n && s[skip] == ' ')
        skip++;
    memmove(s, s + skip, n - skip);
    r->text_len -= skip;
    r->text[r->text_len] = '\0';
}

/* The code and separator of a line are complete. */
static int head_done(struct smtp_reply_parser *p, char sep)
{
    const char *h = p->head;
    if (h[0] < '2' || h[0] > '5' || h[1] < '0' || h[1] > '5' || !isdigit((unsigned char)h[2]))
        return fail(p, "reply code is not a number from 200 to 559");
    int code = (h[0] - '0') * 100 + (h[1] - '0') * 10 + (h[2] - '0');
    if (p->reply.nlines == 0)
        p->reply.code = code;
    else if (code != p->reply.code)
        return fail(p, "reply lines carry different codes");
    if (sep == '-')
        p->last = false;
    else if (sep == ' ' || sep == '\r')
        p->last = true;
    else
        return fail(p, "reply code is not followed by a space, '-' or CRLF");
    if (p->reply.nlines > 0)
        text_put(&p->reply, '\n');
    p->line_start = p->reply.text_len;
    return 0;
}

/* CRLF: the line is complete. 1 when it ends the reply. */
static int line_done(struct smtp_reply_parser *p)
{
    line_strip_enhanced(p);
    p->reply.nlines++;
    p->head_len = 0;
    p->line_len = 0;
    if (p->last) {
        p->state = ST_DONE;
        return 1;
    }
    if (p->reply.nlines >= SMTP_REPLY_LINES_MAX)
        return fail(p, "reply has too many lines");
    p->state = ST_HEAD;
    return 0;
}

int smtp_reply_parse(struct smtp_reply_parser *p, const char *in, size_t len, size_t *consumed_r)
{
    if (p->state == ST_DONE)
        smtp_reply_parser_init(p);
    *consumed_r = 0;
    if (p->state == ST_ERROR)
        return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        *consumed_r = i + 1;
        /* line_len counts the CRLF too, as the limit does. */
        if (++p->line_len > SMTP_REPLY_LINE_MAX)
            return fail(p, "reply line is too long");
        switch (p->state) {
        case ST_HEAD:
            if (p->head_len < 3) {
                if (!isdigit(c))
                    return fail(p, "reply line does not start with a 3-digit code");
                p->head[p->head_len++] = (char)c;
            } else if (c == '\r') {
                if (head_done(p, '\r') < 0)
                    return -1;
                p->state = ST_HEAD_CR;
            } else {
                if (head_done(p, (char)c) < 0)
                    return -1;
                p->state = ST_TEXT;
            }
            break;
        case ST_HEAD_CR:
            if (c != '\n')
                return fail(p, "reply code is not followed by a space, '-' or CRLF");
            if (line_done(p) != 0)
                return p->state == ST_DONE ? 1 : -1;
            break;
        case ST_CR:
            if (c == '\n') {
                if (line_done(p) != 0)
                    return p->state == ST_DONE ? 1 : -1;
                break;
            }
            /* The CR before was a bare CR: text. */
            text_put(&p->reply, '?');
            p->state = ST_TEXT;
            /* fall through */
        case ST_TEXT:
            if (c == '\r') {
                p->state = ST_CR;
                break;
            }
            text_put(&p->reply, sanitize(c));
            break;
        default:
            return fail(p, "parser misuse");
        }
    }
    return 0;
}

/* Iterates over a reply's lines: start with *pos = 0; returns false at the
 * end. The line is not NUL-terminated. */
static bool smtp_reply_line(const struct smtp_reply *r, size_t *pos, const char **line_r,
                            size_t *len_r)
{
    if (r->nlines == 0 || *pos > r->text_len)
        return false;
    const char *s = r->text + *pos;
    const char *nl = memchr(s, '\n', r->text_len - *pos);
    size_t n = nl ? (size_t)(nl - s) : r->text_len - *pos;
    *line_r = s;
    *len_r = n;
    *pos += n + 1;
    return true;
}

void smtp_reply_format(const struct smtp_reply *r, struct buf *out)
{
    buf_printf(out, "%03d", r->code);
    if (r->enhanced[0])
        buf_printf(out, " %s", r->enhanced);
    size_t pos = 0;
    const char *line;
    size_t n;
    while (smtp_reply_line(r, &pos, &line, &n)) {
        if (n == 0)
            continue;
        buf_append_char(out, ' ');
        buf_append(out, line, n);
    }
}

static bool keyword_is(const char *line, size_t n, const char *kw, const char **rest_r)
{
    size_t k = strlen(kw);
    if (n < k || strncasecmp(line, kw, k) != 0 || (n > k && line[k] != ' ' && line[k] != '='))
        return false;
    *rest_r = n > k ? line + k + 1 : line + n;
    return true;
}

void smtp_reply_ehlo(const struct smtp_reply *r, struct smtp_ehlo *e)
{
    memset(e, 0, sizeof(*e));
    size_t pos = 0;
    const char *line;
    size_t n;
    bool first = true;
    while (smtp_reply_line(r, &pos, &line, &n)) {
        if (first) { /* the greeting line: the server's name, not an extension */
            first = false;
            continue;
        }
        const char *rest;
        const char *end = line + n;
        if (keyword_is(line, n, "PIPELINING", &rest))
            e->pipelining = true;
        else if (keyword_is(line, n, "STARTTLS", &rest))
            e->starttls = true;
        else if (keyword_is(line, n, "8BITMIME", &rest))
            e->eightbitmime = true;
        else if (keyword_is(line, n, "SMTPUTF8", &rest))
            e->smtputf8 = true;
        else if (keyword_is(line, n, "ENHANCEDSTATUSCODES", &rest))
            e->enhancedstatuscodes = true;
        else if (keyword_is(line, n, "DSN", &rest))
            e->dsn = true;
        else if (keyword_is(line, n, "CHUNKING", &rest))
            e->chunking = true;
        else if (keyword_is(line, n, "SIZE", &rest)) {
            e->has_size = true;
            uint64_t v = 0;
            for (; rest < end && isdigit((unsigned char)*rest); rest++) {
                if (v > (UINT64_MAX - 9) / 10) {
                    v = 0; /* absurd: treat as no limit */
                    break;
                }
                v = v * 10 + (uint64_t)(*rest - '0');
            }
            e->size = v;
        } else if (keyword_is(line, n, "AUTH", &rest)) {
            size_t m = (size_t)(end - rest);
            size_t have = strlen(e->auth);
            if (have + m + 2 < sizeof(e->auth)) {
                if (have)
                    e->auth[have++] = ' ';
                for (size_t i = 0; i < m; i++)
                    e->auth[have++] = (char)toupper((unsigned char)rest[i]);
                e->auth[have] = '\0';
            }
        }
    }
}
