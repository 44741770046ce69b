/* crypt(3) password hashing and verification through libxcrypt's crypt_r.
 * Slow on purpose: workers only. */
#include "auth/password.h"

#include <crypt.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "util/xmalloc.h"

static char dummy_hash[CRYPT_OUTPUT_SIZE];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void make_dummy(void)
{
    char *h = password_hash_new("postern-dummy-password");
    strncpy(dummy_hash, h ? h : "*", sizeof(dummy_hash) - 1);
    free(h);
}

bool password_verify(const char *password, const char *hash)
{
    bool usable = hash && hash[0] == '$';
    if (!usable) {
        pthread_once(&dummy_once, make_dummy);
        hash = dummy_hash;
    }
    struct crypt_data *cd = xcalloc(1, sizeof(*cd));
    const char *out = crypt_r(password, hash, cd);
    bool ok = false;
    if (out && out[0] != '*') {
        size_t n = strlen(hash);
        ok = strlen(out) == n && CRYPTO_memcmp(out, hash, n) == 0;
    }
    OPENSSL_cleanse(cd, sizeof(*cd));
    free(cd);
    return ok && usable;
}

char *password_hash_new(const char *password)
{
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    if (crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof(salt)) == NULL)
        return NULL;
    struct crypt_data *cd = xcalloc(1, sizeof(*cd));
    const char *out = crypt_r(password, salt, cd);
    char *result = out && out[0] == '$' ? xstrdup(out) : NULL;
    OPENSSL_cleanse(cd, sizeof(*cd));
    free(cd);
    return result;
}
