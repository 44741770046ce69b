/*
 * imap_envelope: ENVELOPE and the IMAP string writers (see the header).
 * The address parser follows Dovecot's message-address parser with its
 * "fill missing" mode, which is what Dovecot's ENVELOPE shows: lenient,
 * never failing, stopping at the first thing it cannot go past.
 */
#include "proto/imap_envelope.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/mime.h"
#include "util/xmalloc.h"

/* A buf that holds "" from the start, so .data is never NULL. */
static void str_init(struct buf *b)
{
    buf_init(b);
    buf_append(b, "", 0);
}

#define QUOTED_MAX_ESCAPES 4 /* past this a literal is shorter (Dovecot) */

static void append_literal(struct buf *out, const char *s, size_t len)
{
    buf_printf(out, "{%zu}\r\n", len);
    buf_append(out, s, len);
}

void imap_append_nstring(struct buf *out, const char *s)
{
    unsigned escapes = 0;
    if (s == NULL) {
        buf_append_str(out, "NIL");
        return;
    }
    for (const char *p = s; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            if (escapes++ < QUOTED_MAX_ESCAPES)
                continue;
        } else if (c != '\r' && c != '\n' && c < 0x80) {
            continue;
        }
        append_literal(out, s, strlen(s));
        return;
    }
    buf_append_char(out, '"');
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            buf_append_char(out, '\\');
        buf_append_char(out, *p);
    }
    buf_append_char(out, '"');
}

void imap_append_nstring_nolf(struct buf *out, const char *s)
{
    if (s == NULL || strpbrk(s, "\r\n") == NULL) {
        imap_append_nstring(out, s);
        return;
    }
    struct buf t;
    str_init(&t);
    for (size_t i = 0; s[i] != '\0'; i++) {
        if (s[i] != '\r' && s[i] != '\n')
            buf_append_char(&t, s[i]);
        else if (s[i + 1] != ' ' && s[i + 1] != '\t' && s[i + 1] != '\r' && s[i + 1] != '\n' &&
                 s[i + 1] != '\0')
            buf_append_char(&t, ' ');
    }
    imap_append_nstring(out, t.data);
    buf_free(&t);
}

static bool is_lwsp(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

void imap_append_string_for_humans(struct buf *out, const char *s, size_t len)
{
    bool modify = false, last_lwsp = true;
    /* the fast path: nothing to collapse, escape or make a literal for */
    for (size_t i = 0; i < len && !modify; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\0' || c == '\r' || c == '\n' || c == '\t' || c == '"' || c == '\\' || c >= 0x80)
            modify = true;
        else if (c == ' ')
            modify = last_lwsp;
        last_lwsp = c == ' ';
    }
    if (len > 0 && s[len - 1] == ' ')
        modify = true;
    if (!modify) {
        buf_append_char(out, '"');
        buf_append(out, s, len);
        buf_append_char(out, '"');
        return;
    }
    struct buf t;
    str_init(&t);
    last_lwsp = true;
    for (size_t i = 0; i < len; i++) {
        if (is_lwsp(s[i])) {
            if (!last_lwsp)
                buf_append_char(&t, ' ');
            last_lwsp = true;
        } else {
            buf_append_char(&t, s[i] == '\0' ? (char)0x80 : s[i]);
            last_lwsp = false;
        }
    }
    if (t.len > 0 && t.data[t.len - 1] == ' ')
        t.len--;
    if (t.len == 0)
        buf_append_str(out, "\"\"");
    else
        append_literal(out, t.data, t.len);
    buf_free(&t);
}

/* ---- addresses ---- */

struct address {
    char *name, *route, *mailbox, *domain; /* NULL: NIL */
};

struct addr_parser {
    struct mime_lex lx;
    struct buf str, comment;
    struct address cur;
    bool invalid;
    struct address *v;
    size_t n;
};

static void add_address(struct addr_parser *ap)
{
    ap->v = xrealloc(ap->v, (ap->n + 1) * sizeof(*ap->v));
    ap->v[ap->n++] = ap->cur;
    memset(&ap->cur, 0, sizeof(ap->cur));
    ap->invalid = false;
}

static void set(char **dst, const char *s)
{
    free(*dst);
    *dst = s != NULL ? xstrdup(s) : NULL;
}

static int more(const struct addr_parser *ap)
{
    return ap->lx.p < ap->lx.end;
}

static unsigned char at(const struct addr_parser *ap)
{
    return more(ap) ? *ap->lx.p : 0;
}

/* A local part that may have dots anywhere (as Dovecot without strict
 * dots); 0 when the input ends in it. */
static int parse_local_part(struct addr_parser *ap)
{
    int ret = -1;
    buf_reset(&ap->str);
    if (at(ap) == '"') {
        ret = mime_lex_quoted(&ap->lx, &ap->str);
    } else {
        do {
            while (ret != 0 && at(ap) == '.') {
                buf_append_char(&ap->str, '.');
                ap->lx.p++;
                ret = more(ap) ? 1 : 0;
            }
            if (ret == 0 || at(ap) == '@')
                break;
            ret = mime_lex_atom(&ap->lx, &ap->str);
        } while (ret > 0 && at(ap) == '.');
    }
    if (ret < 0)
        return -1;
    set(&ap->cur.mailbox, ap->str.data);
    return ret;
}

static int parse_domain(struct addr_parser *ap)
{
    int ret;
    buf_reset(&ap->str);
    if ((ret = mime_lex_domain(&ap->lx, &ap->str)) < 0)
        return -1;
    set(&ap->cur.domain, ap->str.data);
    return ret;
}

static int parse_domain_list(struct addr_parser *ap)
{
    int ret;
    buf_reset(&ap->str);
    for (;;) {
        if (!more(ap))
            return 0;
        if (at(ap) != '@')
            break;
        if (ap->str.len > 0)
            buf_append_char(&ap->str, ',');
        buf_append_char(&ap->str, '@');
        if ((ret = mime_lex_domain(&ap->lx, &ap->str)) <= 0)
            return ret;
        while (mime_lex_skip_lwsp(&ap->lx) > 0 && at(ap) == ',')
            ap->lx.p++;
    }
    set(&ap->cur.route, ap->str.data);
    return 1;
}

static int parse_angle_addr(struct addr_parser *ap)
{
    ap->lx.p++; /* '<' */
    if (mime_lex_skip_lwsp(&ap->lx) <= 0)
        return -1;
    if (at(ap) == '@') {
        if (parse_domain_list(ap) > 0 && at(ap) == ':') {
            ap->lx.p++;
        } else {
            set(&ap->cur.route, "INVALID_ROUTE");
            if (!more(ap))
                return -1;
        }
        if (mime_lex_skip_lwsp(&ap->lx) <= 0)
            return -1;
    }
    if (at(ap) != '>') {
        if (parse_local_part(ap) <= 0)
            return -1;
        if (at(ap) == '@' && parse_domain(ap) <= 0)
            return -1;
    }
    if (at(ap) != '>')
        return -1;
    ap->lx.p++;
    return mime_lex_skip_lwsp(&ap->lx);
}

static int parse_name_addr(struct addr_parser *ap)
{
    buf_reset(&ap->str);
    if (mime_lex_phrase(&ap->lx, &ap->str) <= 0 || at(ap) != '<')
        return -1;
    set(&ap->cur.name, ap->str.len > 0 ? ap->str.data : NULL);
    if (parse_angle_addr(ap) < 0) {
        set(&ap->cur.domain, "SYNTAX_ERROR");
        ap->invalid = true;
    }
    return more(ap) ? 1 : 0;
}

static int parse_addr_spec(struct addr_parser *ap)
{
    int ret, ret2 = -2;
    buf_reset(&ap->comment);
    bool quoted = at(ap) == '"';
    ret = parse_local_part(ap);
    if (ret <= 0)
        ap->invalid = true;
    if (ret != 0 && at(ap) == '@') {
        ret2 = parse_domain(ap);
        if (ret2 <= 0)
            ret = ret2;
    }
    if (ap->comment.len > 0) {
        set(&ap->cur.name, ap->comment.data);
    } else if (ret2 == -2) {
        /* a lone "user" is a mailbox, but words after it make a name */
        buf_append_char(&ap->str, ' ');
        size_t before = ap->str.len;
        (void)mime_lex_phrase(&ap->lx, &ap->str);
        if (ap->str.len != before) {
            set(&ap->cur.mailbox, NULL);
            set(&ap->cur.name, ap->str.data);
        } else if (!quoted) {
            set(&ap->cur.domain, "");
        }
        ap->invalid = true;
        ret = -1;
    }
    return ret;
}

static void add_fixed_address(struct addr_parser *ap)
{
    if (ap->cur.mailbox == NULL)
        set(&ap->cur.mailbox, "MISSING_MAILBOX");
    if (ap->cur.domain == NULL || ap->cur.domain[0] == '\0')
        set(&ap->cur.domain, "MISSING_DOMAIN");
    add_address(ap);
}

static int parse_mailbox(struct addr_parser *ap)
{
    const unsigned char *start = ap->lx.p;
    int ret;
    if ((ret = parse_name_addr(ap)) < 0) {
        ap->lx.p = start;
        ret = parse_addr_spec(ap);
        if (ap->invalid && ap->cur.name == NULL && ap->cur.mailbox != NULL &&
            ap->cur.domain == NULL) {
            ap->cur.name = ap->cur.mailbox;
            ap->cur.mailbox = NULL;
        }
    }
    add_fixed_address(ap);
    return ret;
}

static int parse_group(struct addr_parser *ap)
{
    int ret;
    buf_reset(&ap->str);
    if (mime_lex_phrase(&ap->lx, &ap->str) <= 0 || at(ap) != ':')
        return -1;
    /* from here on it is a group, whatever follows */
    ap->lx.p++;
    ret = mime_lex_skip_lwsp(&ap->lx);
    set(&ap->cur.mailbox, ap->str.data);
    add_address(ap);
    if (ret > 0 && at(ap) != ';') {
        for (;;) {
            (void)parse_mailbox(ap);
            if (!more(ap) || at(ap) != ',')
                break;
            ap->lx.p++;
            if (mime_lex_skip_lwsp(&ap->lx) <= 0) {
                ret = -1;
                break;
            }
        }
    }
    if (ret >= 0) {
        if (!more(ap) || at(ap) != ';') {
            ret = -1;
        } else {
            ap->lx.p++;
            ret = mime_lex_skip_lwsp(&ap->lx);
        }
    }
    add_address(ap); /* the end of the group */
    return ret == 0 ? 0 : 1;
}

static int parse_address(struct addr_parser *ap)
{
    const unsigned char *start = ap->lx.p;
    int ret;
    if ((ret = parse_group(ap)) < 0) {
        ap->lx.p = start;
        ret = parse_mailbox(ap);
    }
    return ret;
}

static void parse_address_list(struct addr_parser *ap)
{
    int ret;
    for (;;) {
        if (parse_address(ap) == 0)
            break;
        if (!more(ap) || at(ap) != ',')
            break;
        ap->lx.p++;
        if ((ret = mime_lex_skip_lwsp(&ap->lx)) <= 0) {
            if (ret < 0)
                add_fixed_address(ap); /* ends with garbage */
            break;
        }
    }
}

static void address_free(struct address *a)
{
    free(a->name);
    free(a->route);
    free(a->mailbox);
    free(a->domain);
}

/* Parses value into ap->v (appending). */
static void addresses_parse(struct addr_parser *ap, const char *value, size_t len)
{
    mime_lex_init(&ap->lx, value, len, &ap->comment);
    memset(&ap->cur, 0, sizeof(ap->cur));
    ap->invalid = false;
    if (mime_lex_skip_lwsp(&ap->lx) > 0)
        parse_address_list(ap);
    address_free(&ap->cur);
    memset(&ap->cur, 0, sizeof(ap->cur));
}

static void addresses_write(const struct address *v, size_t n, struct buf *out)
{
    if (n == 0) {
        buf_append_str(out, "NIL");
        return;
    }
    buf_append_char(out, '(');
    for (size_t i = 0; i < n; i++) {
        buf_append_char(out, '(');
        if (v[i].name == NULL)
            buf_append_str(out, "NIL");
        else
            imap_append_string_for_humans(out, v[i].name, strlen(v[i].name));
        buf_append_char(out, ' ');
        imap_append_nstring(out, v[i].route);
        buf_append_char(out, ' ');
        imap_append_nstring(out, v[i].mailbox);
        buf_append_char(out, ' ');
        imap_append_nstring(out, v[i].domain);
        buf_append_char(out, ')');
    }
    buf_append_char(out, ')');
}

static void addr_parser_init(struct addr_parser *ap)
{
    memset(ap, 0, sizeof(*ap));
    str_init(&ap->str);
    str_init(&ap->comment);
}

static void addr_parser_free(struct addr_parser *ap)
{
    for (size_t i = 0; i < ap->n; i++)
        address_free(&ap->v[i]);
    free(ap->v);
    buf_free(&ap->str);
    buf_free(&ap->comment);
}

void imap_address_list(const char *value, size_t len, struct buf *out)
{
    struct addr_parser ap;
    addr_parser_init(&ap);
    addresses_parse(&ap, value, len);
    addresses_write(ap.v, ap.n, out);
    addr_parser_free(&ap);
}

/* ---- the envelope ---- */

enum {
    E_DATE,
    E_SUBJECT,
    E_FROM,
    E_SENDER,
    E_REPLY_TO,
    E_TO,
    E_CC,
    E_BCC,
    E_IN_REPLY_TO,
    E_MESSAGE_ID,
    E_COUNT
};

static const char *const field_names[E_COUNT] = {
    "Date", "Subject", "From", "Sender", "Reply-To", "To", "Cc", "Bcc", "In-Reply-To", "Message-ID",
};

void imap_envelope(const char *hdr, size_t len, struct buf *out)
{
    struct buf str[E_COUNT];
    bool seen[E_COUNT] = {false};
    struct addr_parser addrs[E_COUNT];
    struct mime_field f;
    size_t pos = 0;
    for (int i = 0; i < E_COUNT; i++) {
        buf_init(&str[i]);
        addr_parser_init(&addrs[i]);
    }
    while (mime_field_next(hdr, len, &pos, &f)) {
        int i;
        for (i = 0; i < E_COUNT; i++)
            if (strlen(field_names[i]) == f.name_len &&
                strncasecmp(field_names[i], f.name, f.name_len) == 0)
                break;
        if (i == E_COUNT)
            continue;
        seen[i] = true;
        if (i >= E_FROM && i <= E_BCC) {
            /* every field of the name counts, as if comma-separated */
            struct buf v;
            str_init(&v);
            mime_field_value(&f, &v);
            addresses_parse(&addrs[i], v.data, v.len);
            buf_free(&v);
        } else {
            buf_reset(&str[i]); /* the last one counts */
            mime_field_value(&f, &str[i]);
        }
    }
    for (int i = 0; i < E_COUNT; i++)
        if (seen[i] && str[i].data == NULL)
            buf_append_str(&str[i], ""); /* an empty field is "", not NIL */
    buf_append_char(out, '(');
    imap_append_nstring_nolf(out, seen[E_DATE] ? str[E_DATE].data : NULL);
    buf_append_char(out, ' ');
    if (seen[E_SUBJECT])
        imap_append_string_for_humans(out, str[E_SUBJECT].data, str[E_SUBJECT].len);
    else
        buf_append_str(out, "NIL");
    for (int i = E_FROM; i <= E_BCC; i++) {
        const struct addr_parser *a = &addrs[i];
        if ((i == E_SENDER || i == E_REPLY_TO) && a->n == 0)
            a = &addrs[E_FROM];
        buf_append_char(out, ' ');
        addresses_write(a->v, a->n, out);
    }
    buf_append_char(out, ' ');
    imap_append_nstring_nolf(out, seen[E_IN_REPLY_TO] ? str[E_IN_REPLY_TO].data : NULL);
    buf_append_char(out, ' ');
    imap_append_nstring_nolf(out, seen[E_MESSAGE_ID] ? str[E_MESSAGE_ID].data : NULL);
    buf_append_char(out, ')');
    for (int i = 0; i < E_COUNT; i++) {
        buf_free(&str[i]);
        addr_parser_free(&addrs[i]);
    }
}
