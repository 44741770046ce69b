/* Strict parsing of RFC 6376 3.2 tag=value lists (DKIM signatures and key
 * records, DMARC records), pointing into the caller's text. */
#include "mailauth/taglist.h"

#include <string.h>
#include <strings.h>

static bool is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_valchar(unsigned char c)
{
    return c >= 0x21 && c <= 0x7e && c != ';';
}

/* Skips FWS at s[*i]; returns false on a CR or LF that is not part of FWS. */
static bool skip_fws(const char *s, size_t len, size_t *i)
{
    while (*i < len) {
        char c = s[*i];
        if (c == ' ' || c == '\t') {
            (*i)++;
        } else if (c == '\r') {
            if (*i + 2 >= len || s[*i + 1] != '\n' || (s[*i + 2] != ' ' && s[*i + 2] != '\t'))
                return false;
            *i += 3;
        } else if (c == '\n') {
            return false;
        } else {
            break;
        }
    }
    return true;
}

const char *taglist_parse(const char *s, size_t len, struct taglist *out)
{
    out->n = 0;
    size_t i = 0;
    if (!skip_fws(s, len, &i))
        return "bare CR or LF";
    if (i == len)
        return NULL; /* an empty list */
    for (;;) {
        if (!skip_fws(s, len, &i))
            return "bare CR or LF";
        if (i == len)
            return NULL; /* after a trailing ';' */
        size_t name = i;
        if (!is_alpha((unsigned char)s[i]))
            return s[i] == ';' ? "empty tag" : "tag name must start with a letter";
        while (i < len &&
               (is_alpha((unsigned char)s[i]) || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            i++;
        size_t name_len = i - name;
        if (!skip_fws(s, len, &i))
            return "bare CR or LF";
        if (i == len || s[i] != '=')
            return "expected '=' after the tag name";
        i++;
        if (!skip_fws(s, len, &i))
            return "bare CR or LF";
        size_t value = i, value_end = i;
        /* tval *( 1*FWS tval ): remember where the last tval ended so that
         * trailing FWS is not part of the value. */
        while (i < len && s[i] != ';') {
            unsigned char c = (unsigned char)s[i];
            if (is_valchar(c)) {
                i++;
                value_end = i;
            } else if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
                if (!skip_fws(s, len, &i))
                    return "bare CR or LF";
            } else {
                return "invalid octet in a tag value";
            }
        }
        for (size_t k = 0; k < out->n; k++)
            if (out->tag[k].name_len == name_len &&
                memcmp(out->tag[k].name, s + name, name_len) == 0)
                return "duplicate tag";
        if (out->n == TAGLIST_MAX)
            return "too many tags";
        out->tag[out->n++] = (struct taglist_tag){
            .name = s + name,
            .name_len = name_len,
            .value = s + value,
            .value_len = value_end - value,
        };
        if (i == len)
            return NULL;
        i++; /* ';' */
    }
}

const struct taglist_tag *taglist_find(const struct taglist *tl, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < tl->n; i++)
        if (tl->tag[i].name_len == n && memcmp(tl->tag[i].name, name, n) == 0)
            return &tl->tag[i];
    return NULL;
}

bool taglist_value_is(const struct taglist_tag *t, const char *s, bool nocase)
{
    size_t n = strlen(s);
    if (t->value_len != n)
        return false;
    return nocase ? strncasecmp(t->value, s, n) == 0 : memcmp(t->value, s, n) == 0;
}

void taglist_value_compact(const struct taglist_tag *t, struct buf *out)
{
    for (size_t i = 0; i < t->value_len; i++) {
        char c = t->value[i];
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
            buf_append_char(out, c);
    }
}
