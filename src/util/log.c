/* Logging: one key=value line per event on stderr, and log_q() quoting
 * of untrusted values. */
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static enum log_level min_level = LOG_LEVEL_INFO;

void log_set_level(enum log_level level)
{
    min_level = level;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    if (level < min_level)
        return;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char line[4096];
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (long)(tv.tv_usec / 1000), names[level]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    /* One write per line, so lines from worker threads never interleave. */
    fwrite(line, 1, len, stderr);
    fflush(stderr);
}

static const char *log_qn(const char *s, size_t len)
{
    static _Thread_local char ring[8][600];
    static _Thread_local unsigned next;
    char *out = ring[next++ % 8];
    size_t cap = sizeof(ring[0]);
    if (s == NULL)
        return "-";
    int plain = len > 0;
    for (size_t i = 0; i < len && plain; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == '"' || c == '\\' || c == '=' || c >= 0x7f)
            plain = 0;
    }
    size_t o = 0;
    if (!plain)
        out[o++] = '"';
    for (size_t i = 0; i < len; i++) {
        if (o + 8 >= cap) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < ' ' || c == 0x7f) {
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
        } else {
            /* UTF-8 is kept as is: addresses may be internationalised. */
            out[o++] = (char)c;
        }
    }
    if (!plain)
        out[o++] = '"';
    out[o] = '\0';
    return out;
}

const char *log_q(const char *s)
{
    return log_qn(s, s ? strlen(s) : 0);
}
