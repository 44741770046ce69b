/*
 * srs_secret: the SRS key, kept in data_dir/srs.secret. Made at the first
 * start (32 random octets as 64 hex digits, mode 0600, owned by whoever
 * runs it: call it after the privilege drop, so that is the service user);
 * an existing file is kept as it is, so addresses handed out before a
 * restart stay valid. Copy the file to share the secret between servers.
 */
#ifndef POSTERN_DELIVER_SRS_SECRET_H
#define POSTERN_DELIVER_SRS_SECRET_H

#include <stdbool.h>
#include <stddef.h>

#include "deliver/srs.h"
#include "util/buf.h"

#define SRS_SECRET_FILE "srs.secret"
#define SRS_SECRET_MIN  16 /* octets of secret we insist on */

struct srs_secret {
    unsigned char key[SRS_KEY_MAX];
    size_t len;
};

/* Reads (or first creates) data_dir/srs.secret. False with the reason in
 * err_r. Blocking file work: at start-up only. */
bool srs_secret_load(const char *data_dir, struct srs_secret *out, struct buf *err_r);

#endif
