/* Normalising locally submitted message text (LF, CRLF or CR line ends)
 * to CRLF. Pure. */
#include "proto/text.h"

#include <string.h>
#include <strings.h>

enum text_result text_normalize(const char *in, size_t len, bool dot_ends, struct buf *out,
                                size_t *line_r)
{
    size_t line = 1, start = 0, i = 0;
    *line_r = 0;
    while (i <= len) {
        bool at_end = i == len;
        char c = at_end ? '\n' : in[i];
        if (c == '\0') {
            *line_r = line;
            return TEXT_NUL;
        }
        if (c != '\n' && c != '\r') {
            i++;
            continue;
        }
        size_t n = i - start;
        if (at_end && n == 0)
            break; /* no final partial line */
        if (n > 998) {
            *line_r = line;
            return TEXT_LONG_LINE;
        }
        if (dot_ends && n == 1 && in[start] == '.')
            return TEXT_OK;
        buf_append(out, in + start, n);
        buf_append(out, "\r\n", 2);
        if (!at_end && c == '\r' && i + 1 < len && in[i + 1] == '\n')
            i++;
        i++;
        start = i;
        line++;
        if (at_end)
            break;
    }
    return TEXT_OK;
}

size_t text_header_length(const char *msg, size_t len)
{
    if (len >= 2 && msg[0] == '\r' && msg[1] == '\n')
        return 0;
    const char *end = memmem(msg, len, "\r\n\r\n", 4);
    return end ? (size_t)(end - msg) + 2 : len;
}

void text_remove_header(struct buf *msg, const char *name)
{
    size_t hlen = text_header_length(msg->data ? msg->data : "", msg->len);
    size_t nlen = strlen(name);
    size_t i = 0;
    while (i < hlen) {
        const char *eol = memchr(msg->data + i, '\n', hlen - i);
        size_t llen = eol ? (size_t)(eol - (msg->data + i)) + 1 : hlen - i;
        bool match = llen > nlen && msg->data[i + nlen] == ':' &&
                     strncasecmp(msg->data + i, name, nlen) == 0;
        if (!match) {
            i += llen;
            continue;
        }
        size_t end = i + llen;
        while (end < hlen && (msg->data[end] == ' ' || msg->data[end] == '\t')) {
            const char *e2 = memchr(msg->data + end, '\n', hlen - end);
            end = e2 ? (size_t)(e2 - msg->data) + 1 : hlen;
        }
        memmove(msg->data + i, msg->data + end, msg->len - end);
        msg->len -= end - i;
        msg->data[msg->len] = '\0';
        hlen -= end - i;
    }
}

void text_header_values(const char *h, size_t hlen, const char *name, struct buf *out)
{
    size_t nlen = strlen(name);
    size_t i = 0;
    bool in_match = false;
    while (i < hlen) {
        const char *eol = memchr(h + i, '\n', hlen - i);
        size_t llen = eol ? (size_t)(eol - (h + i)) + 1 : hlen - i;
        const char *line = h + i;
        i += llen;
        size_t body = llen;
        while (body && (line[body - 1] == '\n' || line[body - 1] == '\r'))
            body--;
        if (line[0] == ' ' || line[0] == '\t') {
            if (in_match) {
                buf_append_char(out, ' ');
                buf_append(out, line, body);
            }
            continue;
        }
        if (in_match)
            buf_append_str(out, ", ");
        in_match = body > nlen && line[nlen] == ':' && strncasecmp(line, name, nlen) == 0;
        if (in_match)
            buf_append(out, line + nlen + 1, body - nlen - 1);
    }
    if (in_match)
        buf_append_str(out, ", ");
}
