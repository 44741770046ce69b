/* The Authentication-Results header field (RFC 8601): building ours and
 * removing incoming ones that claim our host name. */
#include "mailauth/authres.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mailauth/dkim_canon.h"
#include "util/xmalloc.h"

/* RFC 2045 token characters: no space, CTL or tspecial. */
static bool token_char(char c)
{
    return c > 0x20 && c < 0x7f && !strchr("()<>@,;:\\\"/[]?=", c);
}

/* A pvalue: as is when it is a token (or local@domain made of token
 * characters), else a quoted-string without control octets. */
static void append_value(struct buf *out, const char *s)
{
    bool plain = *s != '\0';
    int ats = 0;
    for (const char *p = s; *p && plain; p++)
        if (*p == '@')
            ats++;
        else if (!token_char(*p))
            plain = false;
    if (plain && ats <= 1 && s[0] != '@') {
        buf_append_str(out, s);
        return;
    }
    buf_append_char(out, '"');
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c >= 0x7f)
            buf_append_char(out, '?');
        else if (c == '"' || c == '\\')
            buf_append_char(out, '\\'), buf_append_char(out, (char)c);
        else
            buf_append_char(out, (char)c);
    }
    buf_append_char(out, '"');
}

/* " (comment)": printable ASCII, no parentheses or backslash, capped. */
static void append_comment(struct buf *out, const char *s)
{
    if (s == NULL || *s == '\0')
        return;
    buf_append_str(out, " (");
    size_t n = 0;
    for (const char *p = s; *p && n < 100; p++, n++) {
        unsigned char c = (unsigned char)*p;
        buf_append_char(out,
                        c < 0x20 || c >= 0x7f || c == '(' || c == ')' || c == '\\' ? ' ' : (char)c);
    }
    buf_append_char(out, ')');
}

void authres_build(const struct authres *a, struct buf *out)
{
    buf_append_str(out, "Authentication-Results: ");
    append_value(out, a->hostname);
    buf_append_char(out, ';');
    size_t results = 0;
    if (a->have_spf) {
        buf_printf(out, "\r\n\tspf=%s", spf_result_name(a->spf));
        append_comment(out, a->spf_why);
        buf_append_str(out, a->spf_helo ? " smtp.helo=" : " smtp.mailfrom=");
        append_value(out, a->spf_identity ? a->spf_identity : "");
        buf_append_char(out, ';');
        results++;
    }
    if (a->have_dkim && a->ndkim == 0) {
        buf_append_str(out, "\r\n\tdkim=none;");
        results++;
    }
    for (size_t i = 0; a->have_dkim && i < a->ndkim; i++) {
        const struct dkim_sig_result *r = a->dkim[i];
        buf_printf(out, "\r\n\tdkim=%s", dkim_result_name(r->result));
        if (r->result == DKIM_POLICY && r->why) {
            /* RFC 8601 2.3: why the ADMD did not accept it, as a reason. */
            buf_append_str(out, " reason=");
            append_value(out, r->why);
        } else if (r->result != DKIM_PASS) {
            append_comment(out, r->why);
        }
        if (r->domain[0]) {
            buf_append_str(out, " header.d=");
            append_value(out, r->domain);
        }
        if (r->selector[0]) {
            buf_append_str(out, " header.s=");
            append_value(out, r->selector);
        }
        if (r->b[0]) {
            buf_append_str(out, " header.b=");
            append_value(out, r->b);
        }
        if (r->algorithm && r->algorithm[0])
            buf_printf(out, " header.a=%s", r->algorithm);
        buf_append_char(out, ';');
        results++;
    }
    if (a->dmarc) {
        const struct dmarc_outcome *d = a->dmarc;
        buf_printf(out, "\r\n\tdmarc=%s", dmarc_result_name(d->result));
        if (d->have_record)
            buf_printf(out, " (p=%s dis=%s)", dmarc_policy_name(d->policy),
                       dmarc_policy_name(d->disposition));
        else
            append_comment(out, d->why);
        if (d->from_domain[0]) {
            buf_append_str(out, " header.from=");
            append_value(out, d->from_domain);
        }
        buf_append_char(out, ';');
        results++;
    }
    if (results == 0)
        buf_append_str(out, " none;");
    /* The last result needs no ';' (RFC 8601 2.2 allows none after it). */
    out->data[--out->len] = '\0';
    buf_append_str(out, "\r\n");
}

/* Skips CFWS (whitespace, CRLF folding and nested comments). */
static size_t skip_cfws(const char *s, size_t len, size_t i)
{
    int depth = 0;
    while (i < len) {
        char c = s[i];
        if (depth > 0) {
            if (c == '\\' && i + 1 < len)
                i++;
            else if (c == '(')
                depth++;
            else if (c == ')')
                depth--;
        } else if (c == '(') {
            depth++;
        } else if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
            break;
        }
        i++;
    }
    return i;
}

bool authres_claims_host(const char *field, size_t len, const char *hostname)
{
    static const char name[] = "Authentication-Results";
    size_t n = sizeof(name) - 1;
    size_t i = n;
    if (len < n || strncasecmp(field, name, n) != 0)
        return false;
    while (i < len && (field[i] == ' ' || field[i] == '\t'))
        i++;
    if (i >= len || field[i] != ':')
        return false;
    i = skip_cfws(field, len, i + 1);
    /* authserv-id = value: a token or a quoted-string. */
    char id[256];
    size_t k = 0;
    if (i < len && field[i] == '"') {
        for (i++; i < len && field[i] != '"' && k < sizeof(id) - 1; i++) {
            if (field[i] == '\\' && i + 1 < len)
                i++;
            id[k++] = field[i];
        }
    } else {
        for (; i < len && token_char(field[i]) && k < sizeof(id) - 1; i++)
            id[k++] = field[i];
    }
    id[k] = '\0';
    return k > 0 && strcasecmp(id, hostname) == 0;
}

size_t authres_strip(const char *h, size_t hlen, const char *hostname, struct buf *out)
{
    size_t off = 0, dropped = 0;
    struct dkim_field f;
    while (dkim_field_next(h, hlen, &off, &f)) {
        if (authres_claims_host(f.text, f.len, hostname))
            dropped++;
        else
            buf_append(out, f.text, f.len);
    }
    return dropped;
}

void authres_filter_init(struct authres_filter *f, const char *hostname)
{
    memset(f, 0, sizeof(*f));
    /* No bound here: the message size limit bounds the header section, and
     * nothing may be lost on its way to the queue. */
    dkim_split_init(&f->split, SIZE_MAX);
    f->hostname = xstrdup(hostname);
}

static void filter_flush(struct authres_filter *f, struct buf *out, bool body_follows)
{
    if (f->flushed)
        return;
    f->flushed = true;
    const char *h = f->split.header.data ? f->split.header.data : "";
    f->dropped = authres_strip(h, f->split.header.len, f->hostname, out);
    if (body_follows)
        buf_append(out, "\r\n", 2);
    dkim_split_free(&f->split);
}

void authres_filter_update(struct authres_filter *f, const void *data, size_t len, struct buf *out)
{
    size_t k = 0;
    if (!f->flushed) {
        k = dkim_split_update(&f->split, data, len);
        if (!f->split.in_body)
            return;
        filter_flush(f, out, true);
    }
    buf_append(out, (const char *)data + k, len - k);
}

void authres_filter_finish(struct authres_filter *f, struct buf *out)
{
    /* A message that is all header: what the splitter held back is kept,
     * including a last line without CRLF. */
    filter_flush(f, out, false);
    free(f->hostname);
    f->hostname = NULL;
}
