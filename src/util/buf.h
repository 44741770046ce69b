/*
 * buf: a growable byte buffer. The owner frees it with buf_free(). The data
 * is always NUL-terminated (the NUL is not counted in len) so that text can
 * be handed to string functions, but the contents may hold NULs themselves.
 */
#ifndef POSTERN_UTIL_BUF_H
#define POSTERN_UTIL_BUF_H

#include <stddef.h>

struct buf {
    char *data;
    size_t len;
    size_t cap;
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *data, size_t len);
void buf_append_str(struct buf *b, const char *s);
void buf_append_char(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Removes the first n bytes. */
void buf_consume(struct buf *b, size_t n);

#endif
