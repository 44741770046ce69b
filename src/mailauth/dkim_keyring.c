/* The signing keys of the [dkim] section, loaded once per configuration,
 * and the choice of key by a message's From domain. */
#include "mailauth/dkim_keyring.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mailauth/dkim_sign.h"
#include "mailauth/dkim_verify.h"
#include "proto/headers.h"
#include "util/xmalloc.h"

/* Signs a small message and verifies it with the key record the key's
 * public half makes: proves the key works with this OpenSSL, end to end. */
static const char *self_test(const struct dkim_key *k)
{
    static const char msg[] = "From: postern@example.invalid\r\nSubject: self-test\r\n\r\nok\r\n";
    struct buf field, err, rec;
    buf_init(&field);
    buf_init(&err);
    buf_init(&rec);
    const char *why = NULL;
    if (!dkim_sign_message(k, msg, sizeof(msg) - 1, 0, &field, &err)) {
        why = "cannot sign with this key";
    } else {
        dkim_key_record(k->pkey, &rec);
        buf_append_str(&field, msg);
        struct dkim_verify *v = dkim_verify_new(0);
        dkim_verify_update(v, field.data, field.len);
        dkim_verify_end(v);
        dkim_verify_key(v, 0, DKIM_DNS_FOUND, rec.data, rec.len);
        if (dkim_verify_count(v) != 1 || dkim_verify_result(v, 0)->result != DKIM_PASS)
            why = "a test signature does not verify";
        dkim_verify_free(&v);
    }
    buf_free(&field);
    buf_free(&err);
    buf_free(&rec);
    return why;
}

struct dkim_keyring *dkim_keyring_load(const struct conf *conf, struct buf *err_r)
{
    struct dkim_keyring *kr = xcalloc(1, sizeof(*kr));
    bool failed = false;
    for (size_t i = 0; i < conf->ndkim; i++) {
        const struct conf_dkim *d = &conf->dkim[i];
        struct buf why;
        buf_init(&why);
        struct dkim_key *k = dkim_key_load(d->domain, d->selector, d->key_file, &why);
        const char *test = k ? self_test(k) : NULL;
        if (k == NULL || test) {
            buf_printf(err_r, "%s:%u: [dkim] %s: %s\n", conf->path, d->line, d->domain,
                       k ? test : why.data);
            dkim_key_free(&k);
            failed = true;
        } else {
            kr->keys = xrealloc(kr->keys, (kr->n + 1) * sizeof(*kr->keys));
            kr->keys[kr->n++] = k;
        }
        buf_free(&why);
    }
    if (failed)
        dkim_keyring_free(&kr);
    return kr;
}

const struct dkim_key *dkim_keyring_find(const struct dkim_keyring *kr, const char *domain)
{
    const struct dkim_key *best = NULL;
    for (size_t i = 0; kr && i < kr->n; i++)
        if (domain_is_sub(domain, kr->keys[i]->domain) &&
            (best == NULL || strlen(kr->keys[i]->domain) > strlen(best->domain)))
            best = kr->keys[i];
    return best;
}

const struct dkim_key *dkim_keyring_for_message(const struct dkim_keyring *kr, const char *h,
                                                size_t hlen)
{
    struct buf from;
    buf_init(&from);
    const struct dkim_key *k = NULL;
    char **addrs = NULL;
    size_t n = 0;
    if (header_get(h, hlen, "From", &from) == 1)
        n = header_addresses(from.data ? from.data : "", &addrs);
    const char *at = n == 1 ? strrchr(addrs[0], '@') : NULL;
    if (at)
        k = dkim_keyring_find(kr, at + 1);
    for (size_t i = 0; i < n; i++)
        free(addrs[i]);
    free(addrs);
    buf_free(&from);
    return k;
}

void dkim_keyring_free(struct dkim_keyring **krp)
{
    struct dkim_keyring *kr = *krp;
    if (kr == NULL)
        return;
    for (size_t i = 0; i < kr->n; i++)
        dkim_key_free(&kr->keys[i]);
    free(kr->keys);
    free(kr);
    *krp = NULL;
}
