/* Fuzzes the postern-index parser (store/index.c). The checksum would stop
 * almost every mutation at the door, so the input's last 8 octets are
 * replaced by the right checksum before parsing. Invariants: what parses
 * has ascending UIDs, names in cur/ or new/, known flags; formatting it and
 * parsing again gives the same index, and formatting that the same
 * octets. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/index.h"
#include "util/buf.h"
#include "util/xmalloc.h"

static void check_same(const struct folder_index *a, const struct folder_index *b)
{
    assert(a->uidvalidity == b->uidvalidity && a->uidnext == b->uidnext);
    assert(a->highest_modseq == b->highest_modseq);
    assert(memcmp(&a->stamps, &b->stamps, sizeof(a->stamps)) == 0);
    assert(a->n == b->n);
    for (size_t i = 0; i < a->n; i++) {
        const struct store_msg *x = &a->msgs[i], *y = &b->msgs[i];
        assert(x->uid == y->uid && x->modseq == y->modseq && x->flags == y->flags);
        assert(x->keywords == y->keywords && x->size == y->size && x->file_size == y->file_size);
        assert(x->internal_date == y->internal_date && x->recent == y->recent);
        assert(strcmp(x->file, y->file) == 0);
        for (int k = 0; k < STORE_CACHE_N; k++)
            assert((x->cache[k] == NULL) == (y->cache[k] == NULL) &&
                   (x->cache[k] == NULL || strcmp(x->cache[k], y->cache[k]) == 0));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = xmalloc(size + 1);
    memcpy(text, data, size);
    if (size >= 8) {
        uint64_t h = index_digest(text, size - 8);
        for (int i = 0; i < 8; i++)
            text[size - 8 + (size_t)i] = (char)(h >> (8 * i));
    }
    struct folder_index ix;
    if (index_parse(text, size, &ix) != 0) {
        free(text);
        return 0;
    }
    for (size_t i = 0; i < ix.n; i++) {
        assert(ix.msgs[i].uid != 0 && (i == 0 || ix.msgs[i - 1].uid < ix.msgs[i].uid));
        assert(ix.uidnext == 0 || ix.msgs[i].uid < ix.uidnext);
        assert(ix.msgs[i].flags <= 0x1f);
        assert(strncmp(ix.msgs[i].file, "cur/", 4) == 0 ||
               strncmp(ix.msgs[i].file, "new/", 4) == 0);
        assert(strchr(ix.msgs[i].file + 4, '/') == NULL);
    }
    struct buf a, b;
    buf_init(&a);
    buf_init(&b);
    index_format(&ix, &a);
    struct folder_index again;
    assert(index_parse(a.data, a.len, &again) == 0);
    check_same(&ix, &again);
    index_format(&again, &b);
    assert(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
    index_free(&again);
    index_free(&ix);
    buf_free(&a);
    buf_free(&b);
    free(text);
    return 0;
}
