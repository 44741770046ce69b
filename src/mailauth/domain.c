/* Domain-name rules shared by SPF, DKIM and DMARC: syntax, subdomains,
 * the organizational domain and identifier alignment. Pure. */
#include "mailauth/domain.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

bool domain_valid(const char *s, size_t len)
{
    if (len > 0 && s[len - 1] == '.')
        len--;
    if (len == 0 || len > DOMAIN_MAX)
        return false;
    size_t label = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (label == 0)
                return false;
            label = 0;
        } else if (isalnum(c) || c == '-' || c == '_') {
            if (++label > 63)
                return false;
        } else {
            return false;
        }
    }
    return label > 0;
}

bool domain_copy(char *out, const char *s, size_t len)
{
    if (!domain_valid(s, len))
        return false;
    if (s[len - 1] == '.')
        len--;
    for (size_t i = 0; i < len; i++)
        out[i] = (char)tolower((unsigned char)s[i]);
    out[len] = '\0';
    return true;
}

bool domain_is_sub(const char *sub, const char *parent)
{
    size_t n = strlen(sub), p = strlen(parent);
    if (n == p)
        return strcasecmp(sub, parent) == 0;
    return n > p && sub[n - p - 1] == '.' && strcasecmp(sub + n - p, parent) == 0;
}

const char *domain_org(const char *d)
{
    const char *last = strrchr(d, '.');
    if (last == NULL)
        return d;
    for (const char *p = last - 1; p >= d; p--)
        if (*p == '.')
            return p + 1;
    return d;
}

bool domain_aligned(const char *a, const char *b, bool strict)
{
    if (strict)
        return strcasecmp(a, b) == 0;
    return strcasecmp(domain_org(a), domain_org(b)) == 0;
}
