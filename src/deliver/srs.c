/* SRS0/SRS1 rewriting and reversal (see srs.h). */
#include "deliver/srs.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

static const char base32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

static bool is_sep(char c)
{
    return c == '=' || c == '+' || c == '-';
}

bool srs_is_srs(const char *local)
{
    return strncasecmp(local, "SRS", 3) == 0 && (local[3] == '0' || local[3] == '1') &&
           is_sep(local[4]);
}

/* base64(HMAC-SHA256(key, tag \0 field \0 field ...)), lower-cased fields,
 * first SRS_HASH_LEN characters into hash (NUL-terminated). */
static void srs_hash(const unsigned char *key, size_t keylen, const char *const *fields,
                     const size_t *lens, size_t n, char hash[SRS_HASH_LEN + 1])
{
    struct buf in;
    buf_init(&in);
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < lens[i]; k++) {
            char c = (char)tolower((unsigned char)fields[i][k]);
            buf_append(&in, &c, 1);
        }
        buf_append(&in, "", 1);
    }
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned maclen = 0;
    HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)in.data, in.len, mac, &maclen);
    buf_free(&in);
    unsigned char b64[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
    EVP_EncodeBlock(b64, mac, (int)maclen);
    memcpy(hash, b64, SRS_HASH_LEN);
    hash[SRS_HASH_LEN] = '\0';
}

/* Case-insensitive, and in constant time: no early exit to time. */
static bool hash_equal(const char *given, size_t given_len, const char *want)
{
    unsigned diff = given_len != SRS_HASH_LEN;
    for (size_t i = 0; i < SRS_HASH_LEN; i++) {
        unsigned char a = i < given_len ? (unsigned char)given[i] : 0;
        diff |= (unsigned)(tolower(a) ^ tolower((unsigned char)want[i]));
    }
    return diff == 0;
}

static unsigned srs_day(int64_t now)
{
    return (unsigned)((now < 0 ? 0 : now) / 86400 % 1024);
}

static int base32_value(char c)
{
    const char *p = c ? strchr(base32, toupper((unsigned char)c)) : NULL;
    return p ? (int)(p - base32) : -1;
}

/* The SRS0 form of local@domain. */
static void forward0(const unsigned char *key, size_t keylen, int64_t now, const char *local,
                     size_t ll, const char *domain, struct buf *out)
{
    unsigned day = srs_day(now);
    char tt[3] = {base32[day >> 5], base32[day & 31], '\0'};
    const char *fields[] = {"SRS0", tt, domain, local};
    size_t lens[] = {4, 2, strlen(domain), ll};
    char hash[SRS_HASH_LEN + 1];
    srs_hash(key, keylen, fields, lens, 4, hash);
    buf_printf(out, "SRS0=%s=%s=%s=%.*s", hash, tt, domain, (int)ll, local);
}

/* SRS1=HHHH=firsthop=<rest>, where rest keeps its leading separator. */
static void forward1(const unsigned char *key, size_t keylen, const char *hop, size_t hl,
                     const char *rest, struct buf *out)
{
    const char *fields[] = {"SRS1", hop, rest};
    size_t lens[] = {4, hl, strlen(rest)};
    char hash[SRS_HASH_LEN + 1];
    srs_hash(key, keylen, fields, lens, 3, hash);
    buf_printf(out, "SRS1=%s=%.*s=%s", hash, (int)hl, hop, rest);
}

/* An SRS1 local part split: HHHH, the first hop, and the rest after the
 * hop's separator ("=HHHH=TT=d=l"). */
static bool split1(const char *local, const char **hash_r, size_t *hashl_r, const char **hop_r,
                   size_t *hopl_r, const char **rest_r)
{
    const char *h = local + 5;
    const char *e = strchr(h, '=');
    if (e == NULL)
        return false;
    const char *hop = e + 1;
    const char *e2 = strchr(hop, '=');
    if (e2 == NULL || e2 == hop || !is_sep(e2[1]) || e2[2] == '\0')
        return false;
    *hash_r = h;
    *hashl_r = (size_t)(e - h);
    *hop_r = hop;
    *hopl_r = (size_t)(e2 - hop);
    *rest_r = e2 + 1;
    return true;
}

bool srs_forward(const unsigned char *key, size_t keylen, int64_t now, const char *sender,
                 const char *srs_domain, struct buf *out)
{
    buf_reset(out);
    const char *at = strrchr(sender, '@');
    /* '=' separates the fields: a domain never has one. */
    if (at == NULL || at == sender || at[1] == '\0' || strchr(at, '=') != NULL)
        return false;
    const char *domain = at + 1;
    size_t ll = (size_t)(at - sender);
    struct buf local;
    buf_init(&local);
    buf_append(&local, sender, ll);
    const char *h, *hop, *rest;
    size_t hl, hopl;
    if (strncasecmp(local.data, "SRS0", 4) == 0 && is_sep(local.data[4]) && local.data[5]) {
        /* Already rewritten by the previous forwarder: bounces go back to
         * it, so keep its address and our hash over it. */
        forward1(key, keylen, domain, strlen(domain), local.data + 4, out);
    } else if (strncasecmp(local.data, "SRS1", 4) == 0 && is_sep(local.data[4]) &&
               split1(local.data, &h, &hl, &hop, &hopl, &rest)) {
        /* The first hop is what matters: skip the forwarders between. */
        forward1(key, keylen, hop, hopl, rest, out);
    } else {
        forward0(key, keylen, now, sender, ll, domain, out);
    }
    buf_free(&local);
    if (out->len > 64) {
        buf_reset(out);
        return false;
    }
    buf_printf(out, "@%s", srs_domain);
    return true;
}

enum srs_result srs_reverse(const unsigned char *key, size_t keylen, int64_t now, const char *local,
                            struct buf *out)
{
    buf_reset(out);
    if (!srs_is_srs(local))
        return SRS_NOT_SRS;
    char want[SRS_HASH_LEN + 1];
    if (local[3] == '1') {
        const char *h, *hop, *rest;
        size_t hl, hopl;
        if (!split1(local, &h, &hl, &hop, &hopl, &rest))
            return SRS_BAD_FORMAT;
        const char *fields[] = {"SRS1", hop, rest};
        size_t lens[] = {4, hopl, strlen(rest)};
        srs_hash(key, keylen, fields, lens, 3, want);
        if (!hash_equal(h, hl, want))
            return SRS_BAD_HASH;
        buf_printf(out, "SRS0%s@%.*s", rest, (int)hopl, hop);
        return SRS_OK;
    }
    /* SRS0=HHHH=TT=domain=local; the original local part may hold '='. */
    const char *h = local + 5;
    const char *e = strchr(h, '=');
    if (e == NULL)
        return SRS_BAD_FORMAT;
    const char *tt = e + 1;
    if (strlen(tt) < 3 || tt[2] != '=')
        return SRS_BAD_FORMAT;
    const char *domain = tt + 3;
    const char *e2 = strchr(domain, '=');
    if (e2 == NULL || e2 == domain || e2[1] == '\0')
        return SRS_BAD_FORMAT;
    const char *orig = e2 + 1;
    int t1 = base32_value(tt[0]), t0 = base32_value(tt[1]);
    if (t1 < 0 || t0 < 0)
        return SRS_BAD_FORMAT;
    char ttu[3] = {base32[t1], base32[t0], '\0'};
    const char *fields[] = {"SRS0", ttu, domain, orig};
    size_t lens[] = {4, 2, (size_t)(e2 - domain), strlen(orig)};
    srs_hash(key, keylen, fields, lens, 4, want);
    if (!hash_equal(h, (size_t)(e - h), want))
        return SRS_BAD_HASH;
    unsigned age = (srs_day(now) + 1024 - (unsigned)(t1 * 32 + t0)) % 1024;
    if (age > SRS_MAX_AGE_DAYS)
        return SRS_EXPIRED;
    buf_printf(out, "%s@%.*s", orig, (int)(e2 - domain), domain);
    return SRS_OK;
}

const char *srs_result_text(enum srs_result r)
{
    switch (r) {
    case SRS_OK:
        return "valid";
    case SRS_NOT_SRS:
        return "not an SRS address";
    case SRS_BAD_FORMAT:
        return "malformed SRS address";
    case SRS_BAD_HASH:
        return "SRS address with a wrong hash (forged or altered)";
    case SRS_EXPIRED:
        return "SRS address expired (older than 21 days)";
    }
    return "invalid SRS address";
}
