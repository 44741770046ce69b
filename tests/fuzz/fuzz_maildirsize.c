/* Fuzzes the maildirsize parser (store/maildirsize.c). Invariants: a file
 * that parses OK has usage lines and sums that re-formatting as one new
 * file reproduces; trust never holds for negative sums or changed limits;
 * the name-size reader never reads past the name. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/maildirsize.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    struct maildirsize m;
    enum maildirsize_parse_result r = maildirsize_parse(text, size, &m);
    if (size >= MAILDIRSIZE_FILE_MAX)
        assert(r == MAILDIRSIZE_TOO_BIG);
    if (r == MAILDIRSIZE_OK) {
        assert(m.lines > 0);
        bool t = maildirsize_trusted(&m, m.bytes_limit, m.count_limit, 0);
        if (m.bytes < 0 || m.count < 0)
            assert(!t);
        if (m.bytes_limit < (uint64_t)INT64_MAX)
            assert(!maildirsize_trusted(&m, m.bytes_limit + 1, m.count_limit, 0));
        if (m.bytes >= 0 && m.count >= 0) {
            char file[2 * MAILDIRSIZE_LINE_MAX];
            size_t len = maildirsize_format_file(file, sizeof(file), m.bytes_limit, m.count_limit,
                                                 (uint64_t)m.bytes, (uint64_t)m.count);
            assert(len > 0);
            struct maildirsize again;
            assert(maildirsize_parse(file, len, &again) == MAILDIRSIZE_OK);
            assert(again.lines == 1 && again.bytes == m.bytes && again.count == m.count);
            assert(again.bytes_limit == m.bytes_limit && again.count_limit == m.count_limit);
            assert(t == maildirsize_trusted(&again, m.bytes_limit, m.count_limit, 0) ||
                   m.lines > 1);
        }
    } else {
        assert(r == MAILDIRSIZE_BROKEN || r == MAILDIRSIZE_NO_USAGE || r == MAILDIRSIZE_TOO_BIG);
    }
    /* The same octets as a file name. */
    char *name = malloc(size + 1);
    memcpy(name, data, size);
    name[size] = '\0';
    uint64_t n;
    if (maildirsize_name_size(name, &n))
        assert(strstr(name, ",S=") != NULL);
    free(name);
    return 0;
}
