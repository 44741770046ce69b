/* Parsing and rewriting a Maildir file name's size fields and flags. */
#include "store/maildir_name.h"

#include <string.h>

#include "store/store.h"
#include "util/buf.h"

static const struct {
    char letter;
    unsigned flag;
} flag_letters[] = {
    /* ASCII order, which the Maildir spec asks the info to be in. */
    {'D', STORE_F_DRAFT}, {'F', STORE_F_FLAGGED}, {'R', STORE_F_ANSWERED},
    {'S', STORE_F_SEEN},  {'T', STORE_F_DELETED},
};

size_t maildir_name_stem_len(const char *name)
{
    return strcspn(name, ":");
}

/* ",X=<digits>" field: true and the value when well-formed. */
static bool size_field(const char *p, size_t len, char key, uint64_t *v)
{
    if (len < 3 || len > 22 || p[0] != key || p[1] != '=')
        return false;
    uint64_t n = 0;
    for (size_t i = 2; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        n = n * 10 + (uint64_t)(p[i] - '0');
    }
    *v = n;
    return true;
}

bool maildir_name_parse(const char *name, struct maildir_name *r)
{
    memset(r, 0, sizeof(*r));
    if (name[0] == '\0' || name[0] == '.' || strchr(name, '/'))
        return false;
    r->base_len = strcspn(name, ",:");
    r->info_at = maildir_name_stem_len(name);
    if (r->base_len == 0)
        return false;
    const char *p = name + r->base_len;
    const char *end = name + r->info_at;
    while (p < end && *p == ',') {
        p++;
        size_t flen = strcspn(p, ",:");
        if (!r->has_s)
            r->has_s = size_field(p, flen, 'S', &r->s);
        if (!r->has_w)
            r->has_w = size_field(p, flen, 'W', &r->w);
        p += flen;
    }
    if (strncmp(name + r->info_at, ":2,", 3) == 0) {
        for (const char *c = name + r->info_at + 3; *c; c++) {
            if (*c >= 'a' && *c <= 'z')
                r->keywords |= 1u << (*c - 'a');
            for (size_t i = 0; i < sizeof(flag_letters) / sizeof(flag_letters[0]); i++)
                if (*c == flag_letters[i].letter)
                    r->flags |= flag_letters[i].flag;
        }
    }
    return true;
}

char *maildir_name_with_flags(const char *name, unsigned flags, uint32_t keywords)
{
    struct buf b;
    buf_init(&b);
    buf_append(&b, name, maildir_name_stem_len(name));
    buf_append_str(&b, ":2,");
    for (size_t i = 0; i < sizeof(flag_letters) / sizeof(flag_letters[0]); i++)
        if (flags & flag_letters[i].flag)
            buf_append_char(&b, flag_letters[i].letter);
    for (int i = 0; i < STORE_KEYWORDS_MAX; i++)
        if (keywords & (1u << i))
            buf_append_char(&b, (char)('a' + i));
    return b.data;
}
