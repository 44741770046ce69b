/* Fuzzes the CRLF line reader (proto/line.h) against a model of what it
 * must do, computed over the whole input at once: every LF ends a line;
 * one longer than max octets with its CRLF is TOO_LONG, else one not ended
 * by CRLF is BARE_LF, else it is a line. The reader sees the input in reads
 * of a size taken from the data and must give exactly the model's results,
 * never make its caller hold more than max octets, and never consume more
 * than it was given. The first octet picks max, the second the read size. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/line.h"

struct event {
    enum line_result res;
    size_t start, len; /* LINE_OK: the line in the input */
};

/* The model: the events of the whole input, in order. */
static size_t model(const char *in, size_t size, size_t max, struct event *ev)
{
    size_t n = 0, start = 0;
    for (size_t i = 0; i < size; i++) {
        if (in[i] != '\n')
            continue;
        size_t total = i + 1 - start;
        if (total > max)
            ev[n++] = (struct event){LINE_TOO_LONG, 0, 0};
        else if (total < 2 || in[i - 1] != '\r')
            ev[n++] = (struct event){LINE_BARE_LF, 0, 0};
        else
            ev[n++] = (struct event){LINE_OK, start, total - 2};
        start = i + 1;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t limits[] = {255, 512, 1000, 4096, 12288};
    if (size < 2)
        return 0;
    size_t max = data[0] < 200 ? 1 + data[0] % 40 : limits[data[0] % 5];
    size_t chunk = 1 + data[1] % 64;
    if (data[1] >= 250)
        chunk = size; /* one read */
    const char *in = (const char *)data + 2;
    size -= 2;

    struct event *ev = malloc((size + 1) * sizeof(*ev));
    size_t nev = model(in, size, max, ev), next = 0;
    struct line_reader r = {0};
    char *pending = malloc(size + 1);
    size_t plen = 0, pos = 0;
    while (pos < size) {
        size_t take = size - pos < chunk ? size - pos : chunk;
        memcpy(pending + plen, in + pos, take);
        plen += take;
        pos += take;
        for (;;) {
            size_t line_len = 12345, used = 12345;
            enum line_result res = line_next(&r, pending, plen, max, &line_len, &used);
            if (used > plen)
                __builtin_trap();
            if (res != LINE_OK && line_len != 0)
                __builtin_trap();
            if (res != LINE_NEED_MORE) {
                if (next == nev || ev[next].res != res)
                    __builtin_trap();
                if (res == LINE_OK && (line_len != ev[next].len || used != line_len + 2 ||
                                       memcmp(pending, in + ev[next].start, line_len) != 0))
                    __builtin_trap();
                next++;
            }
            memmove(pending, pending + used, plen - used);
            plen -= used;
            if (res == LINE_NEED_MORE)
                break;
        }
        /* The caller never holds more than a line's worth (a kept CR while
         * discarding at max 1 is the one case that reaches max). */
        if (plen > max || (max >= 2 && plen >= max))
            __builtin_trap();
    }
    if (next != nev)
        __builtin_trap(); /* a line the reader never reported */
    free(pending);
    free(ev);
    return 0;
}
