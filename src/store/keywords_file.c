/* dovecot-keywords: reading the file, and adding keywords to it under its
 * dotlock (see keywords.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/dotlock.h"
#include "store/keywords.h"
#include "util/fileio.h"
#include "util/xmalloc.h"

static int read_file(const char *path, struct buf *b)
{
    return file_read_all(path, 0, b);
}

int keywords_read(const char *dir, char *names[STORE_KEYWORDS_MAX])
{
    char *path = xasprintf("%s/dovecot-keywords", dir);
    struct buf b;
    buf_init(&b);
    int rc = read_file(path, &b);
    free(path);
    if (rc == ENOENT)
        rc = 0;
    keywords_parse(b.data ? b.data : "", b.len, names);
    buf_free(&b);
    return rc;
}

/* The mask of the names already known; *missing_r: whether some are not. */
static uint32_t known_mask(char *const names[STORE_KEYWORDS_MAX], const char *const *kw, size_t n,
                           bool *missing_r)
{
    uint32_t mask = 0;
    *missing_r = false;
    for (size_t i = 0; i < n; i++) {
        int idx = keywords_find(names, kw[i]);
        if (idx < 0)
            *missing_r = true;
        else
            mask |= 1u << idx;
    }
    return mask;
}

int keywords_mask(const char *dir, char *names[STORE_KEYWORDS_MAX], const char *const *kw, size_t n,
                  uint32_t *mask_r)
{
    for (size_t i = 0; i < n; i++)
        if (!store_keyword_valid(kw[i]))
            return EINVAL;
    bool missing;
    *mask_r = known_mask(names, kw, n, &missing);
    if (!missing)
        return 0;
    char *path = xasprintf("%s/dovecot-keywords", dir);
    struct dotlock lock;
    int rc = dotlock_take(path, &lock);
    free(path);
    if (rc != 0)
        return rc;
    /* Another program may have added keywords since we read the file. kw
     * may point into names (a message's present keywords, as STORE +FLAGS
     * passes them), so names is replaced only once kw is read no more. */
    char *fresh[STORE_KEYWORDS_MAX];
    rc = keywords_read(dir, fresh);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (keywords_find(fresh, kw[i]) >= 0)
            continue;
        int free_idx = -1;
        for (int j = 0; j < STORE_KEYWORDS_MAX && free_idx < 0; j++)
            if (fresh[j] == NULL)
                free_idx = j;
        if (free_idx < 0)
            rc = ENOSPC;
        else
            fresh[free_idx] = xstrdup(kw[i]);
    }
    if (rc != 0) {
        keywords_free(fresh);
        dotlock_release(&lock);
        return rc;
    }
    struct buf out;
    buf_init(&out);
    keywords_format(fresh, &out);
    rc = dotlock_replace(&lock, out.data ? out.data : "", out.len);
    buf_free(&out);
    if (rc == 0)
        *mask_r = known_mask(fresh, kw, n, &missing);
    keywords_free(names);
    memcpy(names, fresh, sizeof(fresh));
    return rc;
}
