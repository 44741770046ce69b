/* Fuzzes the dovecot-uidlist parser (store/uidlist.c). Invariants: what
 * parses has strictly ascending UIDs below the next UID, a non-zero
 * UIDVALIDITY, no '/' or newline in a file name; formatting it and parsing
 * again gives the same list, and formatting that gives the same text; the
 * lookups find every record; adding and removing records keeps it valid. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/uidlist.h"
#include "util/buf.h"

static void check_valid(const struct uidlist *u)
{
    assert(u->uidvalidity != 0);
    /* nextuid 0: exhausted, which only the last UID's record makes so. */
    assert(u->nextuid != 0 || (u->n > 0 && u->v[u->n - 1].uid == UINT32_MAX));
    assert(memchr(u->guid, '\0', sizeof(u->guid)) != NULL);
    for (size_t i = 0; i < u->n; i++) {
        const struct uidlist_rec *r = &u->v[i];
        assert(r->uid != 0 && (u->nextuid == 0 || r->uid < u->nextuid));
        assert(i == 0 || u->v[i - 1].uid < r->uid);
        assert(r->file && r->file[0] && !strchr(r->file, '/') && !strchr(r->file, '\n'));
        assert(r->ext == NULL || (r->ext[0] && !strchr(r->ext, '\n')));
    }
}

static void check_same(const struct uidlist *a, const struct uidlist *b)
{
    assert(a->uidvalidity == b->uidvalidity);
    assert(a->nextuid == b->nextuid);
    assert(strcmp(a->guid, b->guid) == 0);
    assert((a->hdr_extra == NULL) == (b->hdr_extra == NULL));
    assert(a->hdr_extra == NULL || strcmp(a->hdr_extra, b->hdr_extra) == 0);
    assert(a->n == b->n);
    for (size_t i = 0; i < a->n; i++) {
        assert(a->v[i].uid == b->v[i].uid);
        assert(strcmp(a->v[i].file, b->v[i].file) == 0);
        assert((a->v[i].ext == NULL) == (b->v[i].ext == NULL));
        assert(a->v[i].ext == NULL || strcmp(a->v[i].ext, b->v[i].ext) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct uidlist u;
    if (uidlist_parse((const char *)data, size, &u) != 0)
        return 0;
    check_valid(&u);
    for (size_t i = 0; i < u.n; i++) {
        assert(uidlist_find_uid(&u, u.v[i].uid) == &u.v[i]);
        /* By stem: the first record with that stem (stems may repeat). */
        struct uidlist_rec *r = uidlist_find_file(&u, u.v[i].file);
        assert(r != NULL && r <= &u.v[i]);
    }
    struct buf a;
    buf_init(&a);
    uidlist_format(&u, &a);
    struct uidlist again;
    assert(uidlist_parse(a.data, a.len, &again) == 0);
    check_same(&u, &again);
    struct buf b;
    buf_init(&b);
    uidlist_format(&again, &b);
    assert(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
    uidlist_free(&again);
    buf_free(&b);

    /* A new record gets the next UID, and the result still parses; when
     * none is left, nothing is added. */
    assert(uidlist_room(&u, 0) == (u.nextuid != 0));
    assert(!uidlist_room(&u, UINT32_MAX));
    if (u.nextuid == 0) {
        size_t n = u.n;
        assert(uidlist_add(&u, "x", NULL) == 0 && u.n == n);
    } else {
        uint32_t next = u.nextuid;
        assert(uidlist_add(&u, "1.M1P1.host,S=1", "W2") == next);
        assert(uidlist_find_uid(&u, next) == &u.v[u.n - 1]);
        if (u.n > 1)
            uidlist_remove_at(&u, 0);
        check_valid(&u);
        buf_reset(&a);
        uidlist_format(&u, &a);
        assert(uidlist_parse(a.data, a.len, &again) == 0);
        check_same(&u, &again);
        uidlist_free(&again);
    }
    buf_free(&a);
    uidlist_free(&u);
    return 0;
}
