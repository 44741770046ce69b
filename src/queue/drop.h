/*
 * drop: the files `postern sendmail` leaves in data_dir/queue/drop/ for the
 * daemon to pick up (it works while the daemon is down).
 *
 * A drop file is a small text head, then a blank line, then the message
 * (CRLF lines):
 *   postern-drop 1
 *   sender ESCAPED        the -f address, or "-"
 *   fullname ESCAPED      the -F name, or "-"
 *   rcpt ESCAPED          one per recipient
 *   (empty line)
 * Values use the envelope escaping. The daemon trusts none of it: it parses
 * strictly (drop_parse is pure), takes the sender's identity from the file
 * owner, and validates every address again.
 */
#ifndef POSTERN_QUEUE_DROP_H
#define POSTERN_QUEUE_DROP_H

#include <stddef.h>

#include "util/buf.h"

#define DROP_RCPTS_MAX 10000
#define DROP_HEAD_MAX  (1024 * 1024)

struct drop_head {
    char *sender;   /* NULL: none requested */
    char *fullname; /* NULL: none */
    char **rcpts;
    size_t nrcpts;
    size_t body_offset; /* where the message starts in the file */
};

void drop_head_serialize(const struct drop_head *h, struct buf *out);
/* Parses the head of a drop file; NULL on success, else a static reason. */
const char *drop_head_parse(const char *data, size_t len, struct drop_head *h);
void drop_head_clear(struct drop_head *h);

#endif
