#include "proto/headers.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

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
    gmtime_r(&when, &tm);
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
