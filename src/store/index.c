/* postern-index: the pure encoding and decoding (see index.h). */
#include "store/index.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/maildir_name.h"
#include "util/xmalloc.h"

static const char magic[8] = {'P', 'S', 'T', 'N', 'I', 'D', 'X', '\n'};
#define HEADER_SIZE  136u
#define RECORD_FIXED 48u /* a record without its name and cached strings */

uint64_t index_checksum(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

uint64_t index_digest(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t)len;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8); /* any alignment */
        h = (h ^ w) * 0x9e3779b97f4a7c15ull;
        h ^= h >> 29;
    }
    for (; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    h ^= h >> 32;
    return h;
}

bool index_stamp_same(const struct index_stamp *a, const struct index_stamp *b)
{
    return a->ino != 0 && b->ino != 0 && a->ino == b->ino && a->sec == b->sec &&
           a->nsec == b->nsec && a->size == b->size;
}

bool index_stamps_same(const struct index_stamps *a, const struct index_stamps *b)
{
    return index_stamp_same(&a->cur, &b->cur) && index_stamp_same(&a->new_, &b->new_) &&
           index_stamp_same(&a->uidlist, &b->uidlist);
}

void index_free(struct folder_index *ix)
{
    for (size_t i = 0; i < ix->n; i++) {
        free(ix->msgs[i].file);
        for (int k = 0; k < STORE_CACHE_N; k++)
            free(ix->msgs[i].cache[k]);
    }
    free(ix->msgs);
    expunges_free(&ix->expunged);
    memset(ix, 0, sizeof(*ix));
}

/* ---- writing ---- */

static void put32(struct buf *b, uint32_t v)
{
    unsigned char o[4];
    for (int i = 0; i < 4; i++)
        o[i] = (unsigned char)(v >> (8 * i));
    buf_append(b, o, sizeof(o));
}

static void put64(struct buf *b, uint64_t v)
{
    unsigned char o[8];
    for (int i = 0; i < 8; i++)
        o[i] = (unsigned char)(v >> (8 * i));
    buf_append(b, o, sizeof(o));
}

static void put_stamp(struct buf *b, const struct index_stamp *st)
{
    put64(b, (uint64_t)st->sec);
    put64(b, (uint64_t)st->nsec);
    put64(b, st->ino);
    put64(b, st->size);
}

void index_format(const struct folder_index *ix, struct buf *out)
{
    size_t start = out->len;
    buf_append(out, magic, sizeof(magic));
    put32(out, INDEX_VERSION);
    put32(out, HEADER_SIZE);
    put32(out, ix->uidvalidity);
    put32(out, ix->uidnext);
    put64(out, ix->highest_modseq);
    put_stamp(out, &ix->stamps.cur);
    put_stamp(out, &ix->stamps.new_);
    put_stamp(out, &ix->stamps.uidlist);
    put32(out, (uint32_t)ix->n);
    put32(out, 0);
    for (size_t i = 0; i < ix->n; i++) {
        const struct store_msg *m = &ix->msgs[i];
        size_t flen = strlen(m->file);
        put32(out, m->uid);
        put32(out, m->flags);
        put32(out, m->keywords);
        put32(out, (uint32_t)flen);
        put64(out, m->modseq);
        put64(out, m->size);
        put64(out, m->file_size);
        put64(out, (uint64_t)m->internal_date);
        buf_append(out, m->file, flen);
        uint32_t nc = 0;
        for (int k = 0; k < STORE_CACHE_N; k++)
            nc += m->cache[k] != NULL;
        put32(out, nc);
        for (int k = 0; k < STORE_CACHE_N; k++) {
            if (m->cache[k] == NULL)
                continue;
            size_t clen = strlen(m->cache[k]);
            put32(out, (uint32_t)k);
            put32(out, (uint32_t)clen);
            buf_append(out, m->cache[k], clen);
        }
    }
    put32(out, 1);
    struct buf blk;
    buf_init(&blk);
    expunges_encode(&ix->expunged, &blk);
    put32(out, INDEX_BLOCK_EXPUNGES);
    put32(out, (uint32_t)blk.len);
    buf_append(out, blk.data, blk.len);
    buf_free(&blk);
    put64(out, index_digest(out->data + start, out->len - start));
}

/* ---- reading ---- */

struct reader {
    const unsigned char *p, *end;
    bool bad;
};

static uint64_t get(struct reader *r, int octets)
{
    if (r->bad || r->end - r->p < octets) {
        r->bad = true;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < octets; i++)
        v |= (uint64_t)r->p[i] << (8 * i);
    r->p += octets;
    return v;
}

static uint32_t get32(struct reader *r)
{
    return (uint32_t)get(r, 4);
}

static uint64_t get64(struct reader *r)
{
    return get(r, 8);
}

/* len octets as a string without NUL; NULL (and r->bad) otherwise. */
static char *get_str(struct reader *r, uint32_t len)
{
    if (r->bad || (size_t)(r->end - r->p) < len || memchr(r->p, '\0', len)) {
        r->bad = true;
        return NULL;
    }
    char *s = xstrndup((const char *)r->p, len);
    r->p += len;
    return s;
}

static void get_stamp(struct reader *r, struct index_stamp *st)
{
    st->sec = (int64_t)get64(r);
    st->nsec = (int64_t)get64(r);
    st->ino = get64(r);
    st->size = get64(r);
}

/* A file name the store could have written: cur/NAME or new/NAME. */
static bool file_ok(const char *file)
{
    struct maildir_name mn;
    return (strncmp(file, "cur/", 4) == 0 || strncmp(file, "new/", 4) == 0) &&
           maildir_name_parse(file + 4, &mn);
}

static bool read_record(struct reader *r, struct store_msg *m, uint32_t prev_uid)
{
    m->uid = get32(r);
    m->flags = get32(r);
    m->keywords = get32(r);
    uint32_t flen = get32(r);
    m->modseq = get64(r);
    m->size = get64(r);
    m->file_size = get64(r);
    m->internal_date = (int64_t)get64(r);
    if (r->bad || m->uid <= prev_uid || m->flags > 0x1f || (m->keywords >> STORE_KEYWORDS_MAX) ||
        flen == 0 || flen > INDEX_NAME_MAX)
        return false;
    m->file = get_str(r, flen);
    if (m->file == NULL || !file_ok(m->file))
        return false;
    m->recent = m->file[0] == 'n';
    uint32_t nc = get32(r);
    if (nc > STORE_CACHE_N)
        return false;
    for (uint32_t i = 0; i < nc && !r->bad; i++) {
        uint32_t field = get32(r), clen = get32(r);
        if (r->bad || field >= STORE_CACHE_N || m->cache[field] || clen > INDEX_CACHED_MAX)
            return false;
        m->cache[field] = get_str(r, clen);
    }
    return !r->bad;
}

int index_parse(const char *data, size_t len, struct folder_index *ix)
{
    memset(ix, 0, sizeof(*ix));
    if (len < HEADER_SIZE + 4 + 8 || memcmp(data, magic, sizeof(magic)) != 0)
        return EINVAL;
    struct reader r = {(const unsigned char *)data, (const unsigned char *)data + len - 8, false};
    struct reader sum = {r.end, r.end + 8, false};
    if (get64(&sum) != index_digest(data, len - 8))
        return EINVAL;
    r.p += sizeof(magic);
    if (get32(&r) != INDEX_VERSION || get32(&r) != HEADER_SIZE)
        return EINVAL;
    ix->uidvalidity = get32(&r);
    ix->uidnext = get32(&r);
    ix->highest_modseq = get64(&r);
    get_stamp(&r, &ix->stamps.cur);
    get_stamp(&r, &ix->stamps.new_);
    get_stamp(&r, &ix->stamps.uidlist);
    uint32_t n = get32(&r);
    if (get32(&r) != 0 || ix->uidvalidity == 0 || n > (size_t)(r.end - r.p) / (RECORD_FIXED + 5))
        return EINVAL;
    ix->msgs = xcalloc((size_t)n + 1, sizeof(*ix->msgs));
    bool ok = true;
    for (uint32_t i = 0; ok && i < n; i++) {
        ok = read_record(&r, &ix->msgs[i], i ? ix->msgs[i - 1].uid : 0);
        ix->n = i + 1; /* what to free, even a half-read record */
    }
    /* UIDs below uidnext, unless the last UID was given (uidnext 0). */
    if (ok && ix->n && ix->uidnext != 0 && ix->msgs[ix->n - 1].uid >= ix->uidnext)
        ok = false;
    uint32_t nblocks = ok ? get32(&r) : 0;
    bool have_expunges = false;
    for (uint32_t i = 0; ok && !r.bad && i < nblocks; i++) {
        uint32_t type = get32(&r);
        uint32_t blen = get32(&r);
        if (r.bad || (size_t)(r.end - r.p) < blen) {
            ok = false;
            break;
        }
        if (type == INDEX_BLOCK_EXPUNGES) {
            ok = !have_expunges && expunges_decode(r.p, blen, &ix->expunged) == 0;
            have_expunges = true;
        }
        r.p += blen;
    }
    if (!ok || r.bad || r.p != r.end) {
        index_free(ix);
        return EINVAL;
    }
    return 0;
}
