/* DKIM keys with OpenSSL (rsa-sha256, ed25519-sha256): loading, generating,
 * the record to publish, parsing published keys, signing and verifying. */
#include "mailauth/dkim_key.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "proto/sasl.h"
#include "util/xmalloc.h"

/* Never prompt on a terminal for a pass phrase: an encrypted key is an error. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
    return 0;
}

static void openssl_reason(struct buf *err_r)
{
    unsigned long e = ERR_get_error();
    char msg[256];
    ERR_error_string_n(e, msg, sizeof(msg));
    buf_append_str(err_r, e ? msg : "unknown OpenSSL error");
    ERR_clear_error();
}

static char *lower_dup(const char *s)
{
    char *d = xstrdup(s);
    for (char *p = d; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return d;
}

struct dkim_key *dkim_key_from_pem(const char *domain, const char *selector, const char *pem,
                                   size_t len, struct buf *err_r)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL) : NULL;
    BIO_free(bio);
    if (pkey == NULL) {
        buf_append_str(err_r, "not an unencrypted PEM private key (");
        openssl_reason(err_r);
        buf_append_str(err_r, ")");
        return NULL;
    }
    enum dkim_key_type type;
    if (EVP_PKEY_is_a(pkey, "ED25519")) {
        type = DKIM_KEY_ED25519;
    } else if (EVP_PKEY_is_a(pkey, "RSA")) {
        int bits = EVP_PKEY_get_bits(pkey);
        if (bits < DKIM_RSA_MIN_BITS || bits > DKIM_RSA_MAX_BITS) {
            buf_printf(err_r, "RSA key of %d bits (%d to %d allowed, %d recommended)", bits,
                       DKIM_RSA_MIN_BITS, DKIM_RSA_MAX_BITS, DKIM_RSA_BITS);
            EVP_PKEY_free(pkey);
            return NULL;
        }
        type = DKIM_KEY_RSA;
    } else {
        buf_append_str(err_r, "neither an RSA nor an Ed25519 key");
        EVP_PKEY_free(pkey);
        return NULL;
    }
    struct dkim_key *k = xcalloc(1, sizeof(*k));
    k->domain = lower_dup(domain);
    k->selector = xstrdup(selector);
    k->type = type;
    k->pkey = pkey;
    return k;
}

struct dkim_key *dkim_key_load(const char *domain, const char *selector, const char *path,
                               struct buf *err_r)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        buf_printf(err_r, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct buf pem;
    buf_init(&pem);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && pem.len < (1u << 20))
        buf_append(&pem, chunk, n);
    bool failed = ferror(f);
    fclose(f);
    struct dkim_key *k = NULL;
    if (failed) {
        buf_printf(err_r, "%s: read error", path);
    } else {
        struct buf why;
        buf_init(&why);
        k = dkim_key_from_pem(domain, selector, pem.data ? pem.data : "", pem.len, &why);
        if (k == NULL)
            buf_printf(err_r, "%s: %s", path, why.data);
        buf_free(&why);
    }
    OPENSSL_cleanse(pem.data, pem.cap);
    buf_free(&pem);
    return k;
}

void dkim_key_free(struct dkim_key **kp)
{
    struct dkim_key *k = *kp;
    if (k == NULL)
        return;
    free(k->domain);
    free(k->selector);
    EVP_PKEY_free(k->pkey);
    free(k);
    *kp = NULL;
}

EVP_PKEY *dkim_key_generate(enum dkim_key_type t)
{
    if (t == DKIM_KEY_ED25519)
        return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)DKIM_RSA_BITS);
}

bool dkim_key_write(EVP_PKEY *pkey, const char *path, struct buf *err_r)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        buf_printf(err_r, "%s: %s", path, strerror(errno));
        return false;
    }
    BIO *bio = BIO_new(BIO_s_mem());
    bool ok = bio && PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) == 1;
    char *data = NULL;
    long len = ok ? BIO_get_mem_data(bio, &data) : 0;
    const char *p = data;
    while (ok && len > 0) {
        ssize_t w = write(fd, p, (size_t)len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            ok = false;
            break;
        }
        p += w;
        len -= w;
    }
    if (fsync(fd) != 0)
        ok = false;
    if (close(fd) != 0)
        ok = false;
    BIO_free(bio);
    if (!ok) {
        buf_printf(err_r, "%s: cannot write the key: %s", path, strerror(errno));
        unlink(path);
    }
    return ok;
}

void dkim_base64_append(struct buf *out, const unsigned char *p, size_t len)
{
    char *tmp = xmalloc(4 * ((len + 2) / 3) + 1);
    base64_encode(p, len, tmp);
    buf_append_str(out, tmp);
    free(tmp);
}

bool dkim_base64_decode(const char *s, size_t len, struct buf *out)
{
    if (len > (1u << 16))
        return false;
    buf_reset(out);
    buf_reserve(out, len / 4 * 3 + 3);
    long n = base64_decode(s, len, (unsigned char *)out->data, out->cap - 1);
    if (n < 0)
        return false;
    out->len = (size_t)n;
    out->data[n] = '\0';
    return true;
}

void dkim_key_record(EVP_PKEY *pkey, struct buf *out)
{
    bool ed = EVP_PKEY_is_a(pkey, "ED25519");
    buf_printf(out, "v=DKIM1; k=%s; p=", ed ? "ed25519" : "rsa");
    if (ed) {
        unsigned char raw[32];
        size_t n = sizeof(raw);
        if (EVP_PKEY_get_raw_public_key(pkey, raw, &n) == 1)
            dkim_base64_append(out, raw, n);
        return;
    }
    /* SubjectPublicKeyInfo, as opendkim-genkey and most signers publish. */
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(pkey, &der);
    if (n > 0)
        dkim_base64_append(out, der, (size_t)n);
    OPENSSL_free(der);
}

EVP_PKEY *dkim_key_public(enum dkim_key_type t, const char *b64, size_t len, const char **why_r)
{
    struct buf raw;
    buf_init(&raw);
    EVP_PKEY *pkey = NULL;
    if (len == 0) {
        *why_r = "key revoked (empty p=)";
        goto out;
    }
    if (!dkim_base64_decode(b64, len, &raw)) {
        *why_r = "key is not valid base64";
        goto out;
    }
    const unsigned char *p = (const unsigned char *)raw.data;
    if (t == DKIM_KEY_ED25519) {
        if (raw.len != 32) {
            *why_r = "ed25519 key is not 32 octets";
            goto out;
        }
        pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, p, 32);
        if (pkey == NULL)
            *why_r = "invalid ed25519 key";
        goto out;
    }
    pkey = d2i_PUBKEY(NULL, &p, (long)raw.len);
    if (pkey == NULL || p != (const unsigned char *)raw.data + raw.len) {
        /* RFC 6376 3.6.1 literally says RSAPublicKey (PKCS#1). */
        EVP_PKEY_free(pkey);
        p = (const unsigned char *)raw.data;
        pkey = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, (long)raw.len);
    }
    if (pkey == NULL || !EVP_PKEY_is_a(pkey, "RSA")) {
        *why_r = "invalid RSA key";
        EVP_PKEY_free(pkey);
        pkey = NULL;
        goto out;
    }
    int bits = EVP_PKEY_get_bits(pkey);
    if (bits < DKIM_RSA_MIN_BITS || bits > DKIM_RSA_MAX_BITS) {
        *why_r = bits < DKIM_RSA_MIN_BITS ? "RSA key too short" : "RSA key too long";
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
out:
    ERR_clear_error();
    buf_free(&raw);
    return pkey;
}

/* What the signature covers: for rsa-sha256 the data itself, hashed by the
 * signing call with *md_r = SHA-256; for ed25519-sha256 (RFC 8463) its
 * SHA-256 hash, signed as is (*md_r = NULL: Ed25519 takes no digest). */
static bool prehash(enum dkim_key_type t, const void **data, size_t *len, unsigned char hash[32],
                    const EVP_MD **md_r)
{
    *md_r = EVP_sha256();
    if (t != DKIM_KEY_ED25519)
        return true;
    unsigned n;
    if (EVP_Digest(*data, *len, hash, &n, EVP_sha256(), NULL) != 1)
        return false;
    *data = hash;
    *len = 32;
    *md_r = NULL;
    return true;
}

bool dkim_key_sign(EVP_PKEY *pkey, enum dkim_key_type t, const void *data, size_t len,
                   struct buf *sig_r)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char hash[32];
    const EVP_MD *md = NULL;
    bool ok = ctx != NULL && prehash(t, &data, &len, hash, &md);
    size_t siglen = 0;
    ok = ok && EVP_DigestSignInit(ctx, NULL, md, NULL, pkey) == 1 &&
         EVP_DigestSign(ctx, NULL, &siglen, data, len) == 1;
    if (ok) {
        buf_reset(sig_r);
        buf_reserve(sig_r, siglen);
        ok = EVP_DigestSign(ctx, (unsigned char *)sig_r->data, &siglen, data, len) == 1;
        sig_r->len = ok ? siglen : 0;
        sig_r->data[sig_r->len] = '\0';
    }
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return ok;
}

bool dkim_key_verify(EVP_PKEY *pkey, enum dkim_key_type t, const void *data, size_t len,
                     const unsigned char *sig, size_t siglen)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char hash[32];
    const EVP_MD *md = NULL;
    bool ok = ctx != NULL && prehash(t, &data, &len, hash, &md);
    ok = ok && EVP_DigestVerifyInit(ctx, NULL, md, NULL, pkey) == 1 &&
         EVP_DigestVerify(ctx, sig, siglen, data, len) == 1;
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return ok;
}
