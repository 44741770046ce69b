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
        bool match = llen > nlen && line[nlen] == ':' && strncasecmp(line, name, nlen) == 0;
        i += llen;
        if (!match)
            continue;
        if (count++ == 0 && value_r) {
            buf_reset(value_r);
            buf_append(value_r, line + nlen + 1, llen - nlen - 1);
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
