/* The header fields Postern adds (Received, Date), sanitised, and the
 * scanner of received header sections (field values, address lists). */
#include "proto/headers.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/xmalloc.h"

/* Copies s into out keeping only octets that are safe inside a comment or
 * atom of a header field: printable ASCII without parentheses, backslash or
 * angle brackets, and UTF-8. Anything else becomes '?'. */
static void append_sanitised(struct buf *out, const char *s, size_t max, bool allow_space)
{
    size_t n = 0;
    for (; *s && n < max; s++, n++) {
        unsigned char c = (unsigned char)*s;
        bool ok = ((c > ' ' || (c == ' ' && allow_space)) && c < 0x7f && c != '(' && c != ')' &&
                   c != '\\' && c != '<' && c != '>' && c != ';') ||
                  c >= 0x80;
        buf_append_char(out, ok ? (char)c : '?');
    }
}

void header_format_date(char *dst, size_t len, time_t when)
{
    struct tm tm;
    /* Out of gmtime's range, or of the years a date is written with (0 to
     * 9999; beyond INT_MAX, tm_year + 1900 would overflow): a valid date,
     * never garbage. */
    if (gmtime_r(&when, &tm) == NULL || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900) {
        time_t zero = 0;
        gmtime_r(&zero, &tm);
    }
    static const char *days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    snprintf(dst, len, "%s, %d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
             months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

void header_build_received(struct buf *out, const struct received_info *ri)
{
    buf_append_str(out, "Received: from ");
    if (ri->helo && *ri->helo)
        append_sanitised(out, ri->helo, 255, false);
    else
        buf_append_str(out, "unknown");
    buf_append_str(out, " (");
    append_sanitised(out, ri->client_ip ? ri->client_ip : "unknown", 64, false);
    buf_append_str(out, ")\r\n\tby ");
    append_sanitised(out, ri->by_host, 255, false);
    buf_append_str(out, " (Postern) with ");
    buf_append_str(out, ri->protocol);
    if (ri->tls) {
        buf_append_str(out, "\r\n\t(");
        append_sanitised(out, ri->tls, 128, true);
        buf_append_str(out, ")");
    }
    buf_append_str(out, " id ");
    buf_append_str(out, ri->queue_id);
    if (ri->for_rcpt) {
        buf_append_str(out, "\r\n\tfor <");
        append_sanitised(out, ri->for_rcpt, 320, false);
        buf_append_str(out, ">");
    }
    char date[64];
    header_format_date(date, sizeof(date), ri->when);
    buf_printf(out, ";\r\n\t%s\r\n", date);
}

int header_get(const char *h, size_t len, const char *name, struct buf *value_r)
{
    size_t nlen = strlen(name);
    int count = 0;
    size_t i = 0;
    while (i < len) {
        const char *line = h + i;
        const char *eol = memchr(line, '\n', len - i);
        size_t llen = eol ? (size_t)(eol - line) + 1 : len - i;
        if (llen <= 2 && line[0] == '\r')
            break; /* the empty line: end of the header section */
        /* RFC 5322 4.5.8 (obs-optional): whitespace may precede the colon. */
        size_t colon = nlen;
        while (colon < llen && (line[colon] == ' ' || line[colon] == '\t'))
            colon++;
        bool match = colon < llen && line[colon] == ':' && strncasecmp(line, name, nlen) == 0;
        i += llen;
        if (!match)
            continue;
        if (count++ == 0 && value_r) {
            buf_reset(value_r);
            buf_append(value_r, line + colon + 1, llen - colon - 1);
            /* Unfold: continuation lines start with a space or a tab. */
            while (i < len && (h[i] == ' ' || h[i] == '\t')) {
                const char *e2 = memchr(h + i, '\n', len - i);
                size_t l2 = e2 ? (size_t)(e2 - (h + i)) + 1 : len - i;
                buf_append(value_r, h + i, l2);
                i += l2;
            }
            /* Drop CR/LF and trim. */
            size_t o = 0;
            for (size_t k = 0; k < value_r->len; k++)
                if (value_r->data[k] != '\r' && value_r->data[k] != '\n')
                    value_r->data[o++] = value_r->data[k];
            value_r->len = o;
            value_r->data[o] = '\0';
            size_t start = 0;
            while (start < o && (value_r->data[start] == ' ' || value_r->data[start] == '\t'))
                start++;
            buf_consume(value_r, start);
            while (value_r->len && (value_r->data[value_r->len - 1] == ' ' ||
                                    value_r->data[value_r->len - 1] == '\t'))
                value_r->data[--value_r->len] = '\0';
        }
    }
    return count;
}

static void push_addr(char ***v, size_t *n, const char *s, size_t len)
{
    while (len && (*s == ' ' || *s == '\t')) {
        s++;
        len--;
    }
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (len == 0 || memchr(s, '@', len) == NULL)
        return;
    *v = xrealloc(*v, (*n + 1) * sizeof(char *));
    (*v)[(*n)++] = xstrndup(s, len);
}

size_t header_addresses(const char *value, char ***addrs_r)
{
    /* Pass 1: remove comments and quoted display names, keeping <...>. */
    size_t len = strlen(value);
    char *clean = xmalloc(len + 1);
    size_t o = 0;
    int depth = 0;
    bool quoted = false;
    for (size_t i = 0; i < len; i++) {
        char c = value[i];
        if (c == '\\' && i + 1 < len && (quoted || depth)) {
            i++;
            continue;
        }
        if (!quoted && c == '(') {
            depth++;
            continue;
        }
        if (!quoted && c == ')' && depth) {
            depth--;
            continue;
        }
        if (depth)
            continue;
        if (c == '"') {
            quoted = !quoted;
            continue;
        }
        if (quoted)
            continue;
        clean[o++] = c == ':' || c == ';' ? ',' : c; /* groups: "name: a, b;" */
    }
    clean[o] = '\0';
    char **v = NULL;
    size_t n = 0;
    char *save = NULL;
    for (char *item = strtok_r(clean, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *lt = strchr(item, '<');
        char *gt = lt ? strchr(lt, '>') : NULL;
        if (lt && gt)
            push_addr(&v, &n, lt + 1, (size_t)(gt - lt - 1));
        else if (!lt)
            push_addr(&v, &n, item, strlen(item));
    }
    free(clean);
    *addrs_r = v;
    return n;
}

bool header_has_value(const char *h, size_t len, const char *name, const char *value)
{
    size_t nlen = strlen(name), vlen = strlen(value);
    size_t i = 0;
    struct buf v;
    buf_init(&v);
    bool found = false;
    while (i < len && !found) {
        const char *line = h + i;
        const char *eol = memchr(line, '\n', len - i);
        size_t llen = eol ? (size_t)(eol - line) + 1 : len - i;
        if ((llen <= 2 && line[0] == '\r') || (llen == 1 && line[0] == '\n'))
            break; /* the empty line: end of the header section */
        i += llen;
        if (!(llen > nlen && line[nlen] == ':' && strncasecmp(line, name, nlen) == 0))
            continue;
        /* The unfolded value, without CR/LF, blanks around it or <>. */
        buf_reset(&v);
        buf_append(&v, line + nlen + 1, llen - nlen - 1);
        while (i < len && (h[i] == ' ' || h[i] == '\t')) {
            const char *e2 = memchr(h + i, '\n', len - i);
            size_t l2 = e2 ? (size_t)(e2 - (h + i)) + 1 : len - i;
            buf_append(&v, h + i, l2);
            i += l2;
        }
        size_t a = 0, b = v.len;
        while (a < b && v.data[a] != 0 && strchr(" \t\r\n<", v.data[a]))
            a++;
        while (b > a && v.data[b - 1] != 0 && strchr(" \t\r\n>", v.data[b - 1]))
            b--;
        found = b - a == vlen && strncasecmp(v.data + a, value, vlen) == 0;
    }
    buf_free(&v);
    return found;
}

/* ---- RFC 5322 address lists, strictly -------------------------------------- */

enum tok_kind { TOK_ATOM, TOK_QUOTED, TOK_LITERAL, TOK_SPECIAL, TOK_END };

struct tok {
    enum tok_kind kind;
    const char *p; /* the token's text (a special: its one character) */
    size_t n;
};

/* RFC 5322 atext, and UTF-8 (RFC 6532). */
static bool atext(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL) || c >= 0x80;
}

/* Skips whitespace (folding included) and nested comments; false for an
 * unterminated comment or a NUL in one. */
static bool skip_cfws(const char *s, size_t len, size_t *ip)
{
    size_t i = *ip;
    while (i < len) {
        char c = s[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            i++;
            continue;
        }
        if (c != '(')
            break;
        unsigned depth = 0;
        do {
            if (s[i] == '\0')
                return false;
            if (s[i] == '\\') {
                if (i + 1 >= len || s[i + 1] == '\0')
                    return false;
                i++;
            } else if (s[i] == '(') {
                depth++;
            } else if (s[i] == ')') {
                depth--;
            }
            i++;
        } while (i < len && depth > 0);
        if (depth > 0)
            return false;
    }
    *ip = i;
    return true;
}

/* A quoted-string or domain-literal from s[*ip] (the opening octet) to its
 * closing one, quoted-pairs allowed; false if it never closes. */
static bool lex_delimited(const char *s, size_t len, size_t *ip, char close)
{
    size_t i = *ip + 1;
    for (; i < len && s[i] != close; i++) {
        if (s[i] == '\0' || (close == ']' && s[i] == '['))
            return false;
        if (s[i] == '\\' && (++i >= len || s[i] == '\0'))
            return false; /* a quoted NUL is a NUL too */
    }
    if (i >= len)
        return false;
    *ip = i + 1;
    return true;
}

/* Splits the value into tokens (comments and whitespace dropped) ending in
 * TOK_END; false on a lexical error. */
static bool tokenize(const char *s, size_t len, struct tok **toks_r, size_t *n_r)
{
    struct tok *t = NULL;
    size_t n = 0, cap = 0, i = 0;
    bool ok = true;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            t = xrealloc(t, cap * sizeof(*t));
        }
        if (!skip_cfws(s, len, &i)) {
            ok = false;
            break;
        }
        if (i >= len) {
            t[n++] = (struct tok){TOK_END, s + i, 0};
            break;
        }
        size_t start = i;
        unsigned char c = (unsigned char)s[i];
        enum tok_kind kind = TOK_SPECIAL;
        if (atext(c)) {
            while (i < len && atext((unsigned char)s[i]))
                i++;
            kind = TOK_ATOM;
        } else if (c == '"' || c == '[') {
            if (!lex_delimited(s, len, &i, c == '"' ? '"' : ']')) {
                ok = false;
                break;
            }
            kind = c == '"' ? TOK_QUOTED : TOK_LITERAL;
        } else if (c != '\0' && strchr("<>:;@,.", c)) {
            i++;
        } else {
            ok = false; /* ')', ']', '\\' or a control octet out of place */
            break;
        }
        t[n++] = (struct tok){kind, s + start, i - start};
    }
    if (!ok) {
        free(t);
        return false;
    }
    *toks_r = t;
    *n_r = n;
    return true;
}

struct alist {
    const struct tok *t;
    size_t i;
    char **v;
    size_t n;
};

static bool is_special(const struct alist *a, char c)
{
    return a->t[a->i].kind == TOK_SPECIAL && a->t[a->i].p[0] == c;
}

static bool is_word(const struct tok *t)
{
    return t->kind == TOK_ATOM || t->kind == TOK_QUOTED;
}

/* domain = dot-atom / domain-literal / obs-domain (atoms and dots, CFWS
 * between them already gone) */
static bool parse_domain(struct alist *a, struct buf *out)
{
    const struct tok *t = &a->t[a->i];
    if (t->kind == TOK_LITERAL) {
        buf_append(out, t->p, t->n);
        a->i++;
        return true;
    }
    for (;;) {
        t = &a->t[a->i];
        if (t->kind != TOK_ATOM)
            return false;
        buf_append(out, t->p, t->n);
        a->i++;
        if (!is_special(a, '.'))
            return true;
        buf_append_char(out, '.');
        a->i++;
    }
}

/* addr-spec = local-part "@" domain. The local part is words and dots in
 * any order (obs-local-part, and the a..b@ some senders use): only the
 * domain matters to the checks. */
static bool parse_addr_spec(struct alist *a, struct buf *out)
{
    size_t start = a->i;
    while (is_word(&a->t[a->i]) || is_special(a, '.')) {
        buf_append(out, a->t[a->i].p, a->t[a->i].n);
        a->i++;
    }
    if (a->i == start || !is_special(a, '@'))
        return false;
    buf_append_char(out, '@');
    a->i++;
    return parse_domain(a, out);
}

/* angle-addr = "<" [obs-route] addr-spec ">", at the "<" */
static bool parse_angle(struct alist *a, struct buf *out)
{
    a->i++;
    if (is_special(a, '@') || is_special(a, ',')) {
        /* obs-route: *("," / CFWS) "@" domain *("," [CFWS] ["@" domain]) ":" */
        struct buf route;
        buf_init(&route);
        bool ok = true;
        while (ok && (is_special(a, ',') || is_special(a, '@'))) {
            if (is_special(a, '@')) {
                a->i++;
                ok = parse_domain(a, &route);
            } else {
                a->i++;
            }
        }
        buf_free(&route);
        if (!ok || !is_special(a, ':'))
            return false;
        a->i++;
    }
    if (!parse_addr_spec(a, out) || !is_special(a, '>'))
        return false;
    a->i++;
    return true;
}

/* Where a phrase starting at a->i ends: word *(word / ".") (obs-phrase). */
static size_t phrase_end(const struct alist *a)
{
    size_t k = a->i;
    while (is_word(&a->t[k]) || (k > a->i && a->t[k].kind == TOK_SPECIAL && a->t[k].p[0] == '.'))
        k++;
    return k;
}

/* mailbox = name-addr / addr-spec */
static bool parse_mailbox(struct alist *a)
{
    size_t k = phrase_end(a);
    struct buf addr;
    buf_init(&addr);
    bool ok;
    if (a->t[k].kind == TOK_SPECIAL && a->t[k].p[0] == '<') {
        a->i = k;
        ok = parse_angle(a, &addr);
    } else {
        ok = parse_addr_spec(a, &addr);
    }
    if (ok) {
        a->v = xrealloc(a->v, (a->n + 1) * sizeof(char *));
        a->v[a->n++] = xstrndup(addr.data, addr.len);
    }
    buf_free(&addr);
    return ok;
}

/* Elements separated by ',' (empty ones allowed, obs-mbox-list) up to the
 * end or, inside a group, to its ';'. */
static bool parse_list(struct alist *a, bool in_group)
{
    for (;;) {
        const struct tok *t = &a->t[a->i];
        if (t->kind == TOK_END)
            return !in_group;
        if (in_group && is_special(a, ';')) {
            a->i++;
            return true;
        }
        if (is_special(a, ',')) {
            a->i++;
            continue;
        }
        size_t k = phrase_end(a);
        if (!in_group && k > a->i && a->t[k].kind == TOK_SPECIAL && a->t[k].p[0] == ':') {
            a->i = k + 1; /* group = display-name ":" [group-list] ";" */
            if (!parse_list(a, true))
                return false;
        } else if (!parse_mailbox(a)) {
            return false;
        }
        if (!is_special(a, ',') && a->t[a->i].kind != TOK_END && !(in_group && is_special(a, ';')))
            return false;
    }
}

bool header_mailboxes(const char *value, size_t len, char ***addrs_r, size_t *n_r)
{
    struct tok *toks;
    size_t ntoks;
    *addrs_r = NULL;
    *n_r = 0;
    if (!tokenize(value, len, &toks, &ntoks))
        return false;
    struct alist a = {.t = toks};
    bool ok = parse_list(&a, false);
    free(toks);
    if (!ok) {
        header_mailboxes_free(a.v, a.n);
        return false;
    }
    *addrs_r = a.v;
    *n_r = a.n;
    return true;
}

void header_mailboxes_free(char **addrs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(addrs[i]);
    free(addrs);
}
