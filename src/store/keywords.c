/* dovecot-keywords: the pure part (parsing, formatting, lookup); the file
 * is read and extended in keywords_file.c. */
#include "store/keywords.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/xmalloc.h"

void keywords_free(char *names[STORE_KEYWORDS_MAX])
{
    for (int i = 0; i < STORE_KEYWORDS_MAX; i++) {
        free(names[i]);
        names[i] = NULL;
    }
}

void keywords_parse(const char *text, size_t len, char *names[STORE_KEYWORDS_MAX])
{
    for (int i = 0; i < STORE_KEYWORDS_MAX; i++)
        names[i] = NULL;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        unsigned idx = 0;
        const char *q = p;
        while (q < eol && *q >= '0' && *q <= '9' && idx < 1000)
            idx = idx * 10 + (unsigned)(*q++ - '0');
        if (q > p && q < eol && *q == ' ' && idx < STORE_KEYWORDS_MAX && names[idx] == NULL) {
            char *name = xstrndup(q + 1, (size_t)(eol - q - 1));
            if (store_keyword_valid(name) && keywords_find(names, name) < 0)
                names[idx] = name;
            else
                free(name);
        }
        p = eol + 1;
    }
}

void keywords_format(char *const names[STORE_KEYWORDS_MAX], struct buf *out)
{
    for (int i = 0; i < STORE_KEYWORDS_MAX; i++)
        if (names[i])
            buf_printf(out, "%d %s\n", i, names[i]);
}

int keywords_find(char *const names[STORE_KEYWORDS_MAX], const char *name)
{
    for (int i = 0; i < STORE_KEYWORDS_MAX; i++)
        if (names[i] && strcasecmp(names[i], name) == 0)
            return i;
    return -1;
}
