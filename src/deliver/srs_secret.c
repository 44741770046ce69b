/* data_dir/srs.secret: created once, then only read (see srs_secret.h). */
#include "deliver/srs_secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "util/xmalloc.h"

/* O_EXCL: two starts racing, or an existing file, never overwrite. */
static bool create(const char *path, struct buf *err_r)
{
    unsigned char raw[32];
    char hex[2 * sizeof(raw) + 2];
    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        buf_printf(err_r, "%s: no random bytes for the SRS secret\n", path);
        return false;
    }
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    hex[2 * sizeof(raw)] = '\n';
    OPENSSL_cleanse(raw, sizeof(raw));
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        OPENSSL_cleanse(hex, sizeof(hex));
        if (errno == EEXIST)
            return true;
        buf_printf(err_r, "%s: cannot create: %s\n", path, strerror(errno));
        return false;
    }
    size_t want = 2 * sizeof(raw) + 1;
    bool ok = write(fd, hex, want) == (ssize_t)want && fsync(fd) == 0;
    int e = errno;
    OPENSSL_cleanse(hex, sizeof(hex));
    if (close(fd) != 0)
        ok = false;
    if (!ok) {
        buf_printf(err_r, "%s: cannot write: %s\n", path, strerror(e));
        unlink(path);
    }
    return ok;
}

bool srs_secret_load(const char *data_dir, struct srs_secret *out, struct buf *err_r)
{
    char *path = xasprintf("%s/%s", data_dir, SRS_SECRET_FILE);
    memset(out, 0, sizeof(*out));
    bool ok = create(path, err_r);
    int fd = ok ? open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
    if (ok && fd < 0) {
        buf_printf(err_r, "%s: cannot open: %s\n", path, strerror(errno));
        ok = false;
    }
    struct stat st;
    if (ok && (fstat(fd, &st) != 0 || (st.st_mode & 077) != 0 || st.st_uid != geteuid())) {
        buf_printf(err_r, "%s: must be a file of the service user with mode 0600\n", path);
        ok = false;
    }
    if (ok) {
        ssize_t n = read(fd, out->key, sizeof(out->key));
        while (n > 0 && (out->key[n - 1] == '\n' || out->key[n - 1] == '\r'))
            n--;
        if (n < SRS_SECRET_MIN) {
            buf_printf(err_r, "%s: the secret must have at least %d octets\n", path,
                       SRS_SECRET_MIN);
            ok = false;
        } else {
            out->len = (size_t)n; /* a longer file: its first SRS_KEY_MAX octets */
        }
    }
    if (fd >= 0)
        close(fd);
    if (!ok)
        OPENSSL_cleanse(out, sizeof(*out));
    free(path);
    return ok;
}
