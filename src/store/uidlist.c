/* dovecot-uidlist: parsing, formatting and reading (see uidlist.h). */
#include "store/uidlist.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/maildir_name.h"
#include "util/fileio.h"
#include "util/xmalloc.h"

void uidlist_free(struct uidlist *u)
{
    for (size_t i = 0; i < u->n; i++) {
        free(u->v[i].ext);
        free(u->v[i].file);
    }
    free(u->v);
    free(u->hdr_extra);
    memset(u, 0, sizeof(*u));
}

/* A decimal uint32 at *p (no sign, no overflow); advances *p. */
static bool parse_u32(const char **p, const char *end, uint32_t *v)
{
    uint64_t n = 0;
    const char *s = *p;
    while (s < end && *s >= '0' && *s <= '9') {
        n = n * 10 + (uint64_t)(*s - '0');
        if (n > UINT32_MAX)
            return false;
        s++;
    }
    if (s == *p)
        return false;
    *p = s;
    *v = (uint32_t)n;
    return true;
}

static void push(struct uidlist *u, uint32_t uid, const char *ext, size_t ext_len, const char *file,
                 size_t file_len)
{
    if (u->n == u->cap) {
        u->cap = u->cap ? u->cap * 2 : 32;
        u->v = xrealloc(u->v, u->cap * sizeof(*u->v));
    }
    struct uidlist_rec *r = &u->v[u->n++];
    r->uid = uid;
    r->ext = ext && ext_len ? xstrndup(ext, ext_len) : NULL;
    r->file = xstrndup(file, file_len);
}

static int parse_header_v3(const char *p, const char *end, struct uidlist *u)
{
    struct buf extra;
    buf_init(&extra);
    bool have_v = false, have_n = false;
    while (p < end) {
        while (p < end && *p == ' ')
            p++;
        const char *tok = p;
        while (p < end && *p != ' ')
            p++;
        size_t len = (size_t)(p - tok);
        if (len == 0)
            break;
        const char *val = tok + 1;
        if (tok[0] == 'V' && !have_v) {
            have_v = parse_u32(&val, p, &u->uidvalidity) && val == p;
            if (!have_v)
                break;
        } else if (tok[0] == 'N' && !have_n) {
            have_n = parse_u32(&val, p, &u->nextuid) && val == p;
            if (!have_n)
                break;
        } else if (tok[0] == 'G' && len - 1 < sizeof(u->guid)) {
            memcpy(u->guid, tok + 1, len - 1);
            u->guid[len - 1] = '\0';
        } else {
            if (extra.len)
                buf_append_char(&extra, ' ');
            buf_append(&extra, tok, len);
        }
    }
    if (extra.len)
        u->hdr_extra = extra.data;
    else
        buf_free(&extra);
    return have_v && have_n && u->uidvalidity != 0 ? 0 : EINVAL;
}

int uidlist_parse(const char *text, size_t len, struct uidlist *u)
{
    memset(u, 0, sizeof(*u));
    const char *p = text, *end = text + len;
    const char *nl = memchr(p, '\n', len);
    if (nl == NULL || memchr(text, '\0', len))
        return EINVAL;
    uint32_t version;
    int rc = 0;
    if (!parse_u32(&p, nl, &version) || (version != 1 && version != 3) || p == nl || *p != ' ')
        return EINVAL;
    if (version == 3) {
        rc = parse_header_v3(p, nl, u);
    } else {
        p++;
        if (!parse_u32(&p, nl, &u->uidvalidity) || *p++ != ' ' || !parse_u32(&p, nl, &u->nextuid) ||
            p != nl || u->uidvalidity == 0)
            rc = EINVAL;
    }
    p = nl + 1;
    uint32_t last = 0;
    while (rc == 0 && p < end) {
        nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL) {
            rc = EINVAL; /* a torn last line */
            break;
        }
        uint32_t uid;
        if (!parse_u32(&p, nl, &uid) || uid <= last || p == nl || *p != ' ') {
            rc = EINVAL;
            break;
        }
        p++;
        const char *ext = p, *file;
        size_t ext_len = 0;
        if (version == 3) {
            /* Extensions up to " :" (or ':' right away); the file after. */
            const char *colon = *p == ':' ? p : NULL;
            for (const char *q = p; colon == NULL && q + 1 < nl; q++)
                if (q[0] == ' ' && q[1] == ':')
                    colon = q + 1;
            if (colon == NULL) {
                rc = EINVAL;
                break;
            }
            ext_len = colon > p ? (size_t)(colon - 1 - p) : 0;
            file = colon + 1;
        } else {
            file = p;
        }
        if (file == nl || memchr(file, '/', (size_t)(nl - file))) {
            rc = EINVAL;
            break;
        }
        push(u, uid, ext, ext_len, file, (size_t)(nl - file));
        last = uid;
        p = nl + 1;
    }
    if (rc == 0 && u->nextuid <= last)
        u->nextuid = last + 1; /* 0 when last is UINT32_MAX: no UID left */
    if (rc == 0 && u->nextuid == 0 && last != UINT32_MAX)
        u->nextuid = 1;
    if (rc != 0)
        uidlist_free(u);
    return rc;
}

void uidlist_format(const struct uidlist *u, struct buf *out)
{
    buf_printf(out, "3 V%u N%u", u->uidvalidity, u->nextuid);
    if (u->guid[0])
        buf_printf(out, " G%s", u->guid);
    if (u->hdr_extra)
        buf_printf(out, " %s", u->hdr_extra);
    buf_append_char(out, '\n');
    for (size_t i = 0; i < u->n; i++) {
        const struct uidlist_rec *r = &u->v[i];
        buf_printf(out, "%u%s%s :%s\n", r->uid, r->ext ? " " : "", r->ext ? r->ext : "", r->file);
    }
}

uint32_t uidlist_add(struct uidlist *u, const char *file, const char *ext)
{
    uint32_t uid = u->nextuid;
    if (uid == 0)
        return 0;
    u->nextuid++; /* after UINT32_MAX, 0: exhausted */
    push(u, uid, ext, ext ? strlen(ext) : 0, file, strlen(file));
    return uid;
}

bool uidlist_room(const struct uidlist *u, size_t n)
{
    return u->nextuid != 0 && n <= UINT32_MAX - u->nextuid;
}

struct uidlist_rec *uidlist_find_file(const struct uidlist *u, const char *file)
{
    size_t len = maildir_name_stem_len(file);
    for (size_t i = 0; i < u->n; i++) {
        const char *f = u->v[i].file;
        if (maildir_name_stem_len(f) == len && memcmp(f, file, len) == 0)
            return &u->v[i];
    }
    return NULL;
}

struct uidlist_rec *uidlist_find_uid(const struct uidlist *u, uint32_t uid)
{
    size_t lo = 0, hi = u->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (u->v[mid].uid == uid)
            return &u->v[mid];
        if (u->v[mid].uid < uid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

void uidlist_remove_at(struct uidlist *u, size_t i)
{
    free(u->v[i].ext);
    free(u->v[i].file);
    memmove(&u->v[i], &u->v[i + 1], (u->n - i - 1) * sizeof(*u->v));
    u->n--;
}

int uidlist_read(const char *dir, struct uidlist *u)
{
    memset(u, 0, sizeof(*u));
    char *path = xasprintf("%s/dovecot-uidlist", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    free(path);
    if (fd < 0)
        return errno;
    struct buf b;
    buf_init(&b);
    int rc = fd_read_all(fd, &b);
    close(fd);
    if (rc == 0)
        rc = uidlist_parse(b.data ? b.data : "", b.len, u);
    buf_free(&b);
    return rc;
}

int uidlist_read_uidvalidity(const char *dir, uint32_t *uidvalidity_r)
{
    char *path = xasprintf("%s/dovecot-uidlist", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    free(path);
    if (fd < 0)
        return errno;
    char head[512];
    ssize_t n;
    do
        n = read(fd, head, sizeof(head));
    while (n < 0 && errno == EINTR);
    int rc = n < 0 ? errno : 0;
    close(fd);
    const char *nl = n > 0 ? memchr(head, '\n', (size_t)n) : NULL;
    if (rc == 0 && nl == NULL)
        rc = EINVAL;
    struct uidlist u;
    if (rc == 0)
        rc = uidlist_parse(head, (size_t)(nl + 1 - head), &u);
    if (rc == 0) {
        *uidvalidity_r = u.uidvalidity;
        uidlist_free(&u);
    }
    return rc;
}

void uidlist_init_new(struct uidlist *u, uint32_t old_uidvalidity)
{
    memset(u, 0, sizeof(*u));
    uint32_t now = (uint32_t)time(NULL);
    u->uidvalidity = now > old_uidvalidity ? now : old_uidvalidity + 1;
    if (u->uidvalidity == 0)
        u->uidvalidity = 1;
    u->nextuid = 1;
    unsigned char raw[16];
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        memcpy(raw, &ts, sizeof(raw) < sizeof(ts) ? sizeof(raw) : sizeof(ts));
    }
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof(raw); i++) {
        u->guid[2 * i] = hex[raw[i] >> 4];
        u->guid[2 * i + 1] = hex[raw[i] & 15];
    }
    u->guid[32] = '\0';
}
