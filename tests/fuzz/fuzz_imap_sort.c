/* Fuzz target for proto/imap_sort, imap_thread and imap_basesubject: the
 * input is a criteria byte, then header sections separated by "\0\0".
 * Each section becomes a sort key (with criteria chosen by the first
 * byte) and a thread message; the messages are sorted and threaded with
 * both algorithms. Nothing may crash, leak or loop, and the order must be
 * a permutation of the messages. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/imap_basesubject.h"
#include "proto/imap_sort.h"
#include "proto/imap_thread.h"

#define MSGS_MAX 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct imap_sort_spec spec;
    memset(&spec, 0, sizeof(spec));
    unsigned pick = data[0];
    /* two criteria from the byte, each maybe reversed */
    spec.crit[0].field = (enum imap_sort_field)((pick & 0x0F) % 9);
    spec.crit[0].reverse = (pick & 0x10) != 0;
    spec.crit[1].field = (enum imap_sort_field)(((pick >> 5) + 3) % 9);
    spec.crit[1].reverse = (pick & 0x80) != 0;
    spec.n_crit = 2;
    const char *p = (const char *)data + 1, *end = (const char *)data + size;

    struct imap_sort_key keys[MSGS_MAX];
    struct imap_thread_msg msgs[MSGS_MAX];
    size_t n = 0;
    while (n < MSGS_MAX) {
        const char *sep = p;
        while (sep + 1 < end && !(sep[0] == '\0' && sep[1] == '\0'))
            sep++;
        if (sep + 1 >= end)
            sep = end;
        size_t len = (size_t)(sep - p);
        struct imap_sort_msg m = {.seq = (uint32_t)n + 1,
                                  .uid = (uint32_t)n * 3 + 1,
                                  .internal_date = (time_t)(len * 1000),
                                  .size = len,
                                  .header = p,
                                  .header_len = len};
        imap_sort_key_build(&spec, &m, &keys[n]);
        imap_thread_msg_build(&msgs[n], m.uid, m.internal_date, p, len);
        struct buf b, folded;
        buf_init(&b);
        buf_init(&folded);
        imap_base_subject(p, len, &b);
        imap_casemap(b.data != NULL ? b.data : "", b.len, &folded);
        buf_free(&b);
        buf_free(&folded);
        n++;
        if (sep >= end)
            break;
        p = sep + 2;
    }

    size_t order[MSGS_MAX];
    bool seen[MSGS_MAX] = {false};
    uint32_t nums[MSGS_MAX];
    imap_sort_order(&spec, keys, n, order);
    for (size_t k = 0; k < n; k++) {
        if (order[k] >= n || seen[order[k]])
            abort();
        seen[order[k]] = true;
        nums[k] = keys[order[k]].uid;
    }
    struct buf out;
    buf_init(&out);
    imap_sort_format_sort(&out, nums, n);
    imap_sort_format_esort(&out, "t", true, IMAP_SEARCH_RETURN_ALL | IMAP_SEARCH_RETURN_MIN, nums,
                           n);
    imap_thread_format(&out, IMAP_THREAD_REFERENCES, msgs, n);
    imap_thread_format(&out, IMAP_THREAD_ORDEREDSUBJECT, msgs, n);
    buf_free(&out);
    for (size_t k = 0; k < n; k++) {
        imap_sort_key_free(&keys[k]);
        imap_thread_msg_free(&msgs[k]);
    }
    return 0;
}
