/* The value syntaxes of the configuration that are exposed in conf.h:
 * sizes ("35M") and durations ("1.5s", "5m"). Strict: no signs, spaces,
 * exponents or hex, and no value that would overflow. */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"

bool conf_parse_size(const char *s, uint64_t *out_r)
{
    char *end;
    errno = 0;
    if (!isdigit((unsigned char)*s))
        return false;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return false;
    uint64_t mult = 1;
    if (*end) {
        switch (toupper((unsigned char)*end)) {
        case 'K':
            mult = 1024;
            break;
        case 'M':
            mult = 1024 * 1024;
            break;
        case 'G':
            mult = 1024ull * 1024 * 1024;
            break;
        default:
            return false;
        }
        end++;
        if (*end == 'B' || *end == 'b')
            end++;
        if (*end)
            return false;
    }
    if (v > UINT64_MAX / mult)
        return false;
    *out_r = v * mult;
    return true;
}

bool conf_parse_duration_ms(const char *s, uint64_t *out_r)
{
    /* digits [. digits] [ms|s|m|h|d]; nothing else (no signs, hex, exponents) */
    uint64_t whole = 0, frac = 0, scale = 1;
    const char *p = s;
    if (!isdigit((unsigned char)*p))
        return false;
    for (; isdigit((unsigned char)*p); p++) {
        if (whole > 1000000000000ull)
            return false;
        whole = whole * 10 + (uint64_t)(*p - '0');
    }
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return false;
        for (; isdigit((unsigned char)*p); p++)
            if (scale < 1000000) {
                frac = frac * 10 + (uint64_t)(*p - '0');
                scale *= 10;
            }
    }
    uint64_t mult;
    if (strcmp(p, "ms") == 0)
        mult = 1;
    else if (strcmp(p, "s") == 0 || *p == '\0')
        mult = 1000;
    else if (strcmp(p, "m") == 0)
        mult = 60 * 1000;
    else if (strcmp(p, "h") == 0)
        mult = 3600 * 1000;
    else if (strcmp(p, "d") == 0)
        mult = 86400 * 1000;
    else
        return false;
    if (whole > UINT64_MAX / mult / 2)
        return false;
    *out_r = whole * mult + frac * mult / scale;
    return true;
}
