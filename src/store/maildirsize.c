/* The Maildir++ maildirsize file's text: parsing, the trust rules and the
 * lines written (see maildirsize.h). Pure. */
#include "store/maildirsize.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define LIMIT_CAP ((uint64_t)INT64_MAX) /* Dovecot truncates larger limits to this */

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* A signed decimal at *p (after optional blanks), advancing *p. */
static bool parse_int(const char **p, const char *end, int64_t min, int64_t max, int64_t *v_r)
{
    const char *s = *p;
    while (s < end && is_blank(*s))
        s++;
    bool neg = s < end && *s == '-';
    if (s < end && (*s == '-' || *s == '+'))
        s++;
    if (s == end || *s < '0' || *s > '9')
        return false;
    uint64_t v = 0;
    uint64_t cap = neg ? (uint64_t)(-(min + 1)) + 1 : (uint64_t)max;
    for (; s < end && *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (cap - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *v_r = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
    *p = s;
    return true;
}

/* "<n>S" and "<n>C" items, comma-separated; items of another form are
 * skipped (Dovecot reads them so), repeated ones count last. */
static void parse_limits(const char *s, const char *end, struct maildirsize *out)
{
    while (s < end) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *item_end = comma ? comma : end;
        uint64_t v = 0;
        const char *p = s;
        bool digits = false, big = false;
        for (; p < item_end && *p >= '0' && *p <= '9'; p++) {
            digits = true;
            if (v > (UINT64_MAX - 9) / 10)
                big = true;
            else
                v = v * 10 + (uint64_t)(*p - '0');
        }
        if (big || v > LIMIT_CAP)
            v = LIMIT_CAP;
        if (digits && p + 1 == item_end && *p == 'S')
            out->bytes_limit = v;
        else if (digits && p + 1 == item_end && *p == 'C')
            out->count_limit = v;
        s = comma ? comma + 1 : end;
    }
}

enum maildirsize_parse_result maildirsize_parse(const char *text, size_t len,
                                                struct maildirsize *out)
{
    memset(out, 0, sizeof(*out));
    if (len >= MAILDIRSIZE_FILE_MAX)
        return MAILDIRSIZE_TOO_BIG;
    /* Only complete lines: a writer may be half-way through the last. */
    while (len > 0 && text[len - 1] != '\n')
        len--;
    if (len == 0)
        return MAILDIRSIZE_BROKEN;
    if (memchr(text, '\0', len))
        return MAILDIRSIZE_BROKEN;
    const char *end = text + len;
    const char *nl = memchr(text, '\n', len);
    parse_limits(text, nl, out);
    for (const char *line = nl + 1; line < end; line = nl + 1) {
        nl = memchr(line, '\n', (size_t)(end - line));
        const char *p = line;
        int64_t bytes, count;
        if (!parse_int(&p, nl, INT64_MIN, INT64_MAX, &bytes) || p == nl || !is_blank(*p) ||
            !parse_int(&p, nl, INT32_MIN, INT32_MAX, &count))
            return MAILDIRSIZE_BROKEN;
        while (p < nl && is_blank(*p))
            p++;
        if (p != nl)
            return MAILDIRSIZE_BROKEN;
        if (__builtin_add_overflow(out->bytes, bytes, &out->bytes) ||
            __builtin_add_overflow(out->count, count, &out->count))
            return MAILDIRSIZE_BROKEN;
        out->lines++;
    }
    return out->lines ? MAILDIRSIZE_OK : MAILDIRSIZE_NO_USAGE;
}

bool maildirsize_trusted(const struct maildirsize *m, uint64_t bytes_limit, uint64_t count_limit,
                         int64_t age_secs)
{
    if (bytes_limit > LIMIT_CAP)
        bytes_limit = LIMIT_CAP;
    if (count_limit > LIMIT_CAP)
        count_limit = LIMIT_CAP;
    if (m->bytes_limit != bytes_limit || m->count_limit != count_limit)
        return false; /* the limits changed: rewrite the file */
    if (m->lines == 0 || m->bytes < 0 || m->count < 0)
        return false;
    bool over = (bytes_limit && (uint64_t)m->bytes > bytes_limit) ||
                (count_limit && (uint64_t)m->count > count_limit);
    /* Over quota, only a fresh summary is believed: appended lines may have
     * been lost or doubled, and refusing mail on their word is worse. */
    if (over && (m->lines > 1 || age_secs > MAILDIRSIZE_STALE_SECS))
        return false;
    return true;
}

size_t maildirsize_format_file(char *out, size_t size, uint64_t bytes_limit, uint64_t count_limit,
                               uint64_t bytes, uint64_t count)
{
    int n;
    if (bytes_limit != 0 || count_limit == 0)
        n = count_limit
                ? snprintf(out, size, "%" PRIu64 "S,%" PRIu64 "C\n", bytes_limit, count_limit)
                : snprintf(out, size, "%" PRIu64 "S\n", bytes_limit);
    else
        n = snprintf(out, size, "%" PRIu64 "C\n", count_limit);
    if (n < 0 || (size_t)n >= size)
        return 0;
    int m = snprintf(out + n, size - (size_t)n, "%" PRIu64 " %" PRIu64 "\n", bytes, count);
    if (m < 0 || (size_t)m >= size - (size_t)n)
        return 0;
    return (size_t)n + (size_t)m;
}

size_t maildirsize_format_line(char *out, size_t size, int64_t bytes, int64_t count)
{
    int n = snprintf(out, size, "%" PRId64 " %" PRId64 "\n", bytes, count);
    return n < 0 || (size_t)n >= size ? 0 : (size_t)n;
}

bool maildirsize_name_size(const char *name, uint64_t *size_r)
{
    const char *p = strstr(name, ",S=");
    if (p == NULL)
        return false;
    p += 3;
    uint64_t v = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (*p != ':' && *p != ',' && *p != '\0')
        return false;
    *size_r = v;
    return true;
}
