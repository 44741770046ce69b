/* The value syntaxes of the configuration: sizes ("35M") and durations
 * ("1.5s", "5m"), exposed in conf.h, and the numbers, booleans and host
 * names conf.c checks (conf_value.h). Strict: no signs, spaces, exponents
 * or hex, and no value that would overflow. */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <strings.h>
#include <stdbool.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "conf/conf_value.h"
#include "dns/resolver.h"

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

bool conf_parse_unsigned(const char *value, unsigned max, unsigned *out_r)
{
    uint64_t v = 0;
    if (*value == '\0')
        return false;
    for (const char *p = value; *p; p++) {
        if (!isdigit((unsigned char)*p) || v > max)
            return false;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v > max)
        return false;
    *out_r = (unsigned)v;
    return true;
}

bool conf_parse_ms(const char *value, unsigned *out_r)
{
    uint64_t v;
    if (!conf_parse_duration_ms(value, &v) || v > UINT_MAX)
        return false;
    *out_r = (unsigned)v;
    return true;
}

bool conf_parse_bool(const char *value, bool *out_r)
{
    if (strcasecmp(value, "yes") == 0 || strcasecmp(value, "true") == 0 ||
        strcmp(value, "1") == 0 || strcasecmp(value, "on") == 0)
        *out_r = true;
    else if (strcasecmp(value, "no") == 0 || strcasecmp(value, "false") == 0 ||
             strcmp(value, "0") == 0 || strcasecmp(value, "off") == 0)
        *out_r = false;
    else
        return false;
    return true;
}

bool conf_valid_hostname(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 253)
        return false;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.')
            return false;
    return true;
}

/* "host", "host:port", "[host-or-address]:port", "[IPv6]:port". */
bool conf_valid_smarthost(const char *s)
{
    char host[256];
    const char *port = NULL;
    if (*s == '[') {
        const char *end = strchr(s, ']');
        if (end == NULL || end == s + 1 || (size_t)(end - s - 1) >= sizeof(host))
            return false;
        memcpy(host, s + 1, (size_t)(end - s - 1));
        host[end - s - 1] = '\0';
        if (end[1] == ':')
            port = end + 2;
        else if (end[1] != '\0')
            return false;
        if (strchr(host, ':'))
            return dns_resolver_server_valid(s); /* an IPv6 literal */
    } else {
        const char *colon = strchr(s, ':');
        size_t n = colon ? (size_t)(colon - s) : strlen(s);
        if (n == 0 || n >= sizeof(host))
            return false;
        memcpy(host, s, n);
        host[n] = '\0';
        port = colon ? colon + 1 : NULL;
    }
    unsigned p;
    return conf_valid_hostname(host) &&
           (port == NULL || (conf_parse_unsigned(port, 65535, &p) && p > 0));
}
