/* Unit tests for the [dkim] and [mailauth] configuration and the keyring
 * built from it: parsing, defaults, errors with line numbers, key paths
 * relative to the configuration file, loading and choosing keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <cmocka.h>

#include "conf/conf.h"
#include "mailauth/dkim_keyring.h"

static char dir[64];
static char path[128];

static int setup(void **state)
{
    snprintf(dir, sizeof(dir), "/tmp/test_dkim_conf_XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    char *keys = NULL;
    if (asprintf(&keys, "%s/keys", dir) < 0 || mkdir(keys, 0700) != 0)
        return -1;
    struct buf err;
    buf_init(&err);
    static const char *names[] = {"example.com.ed.key", "example.org.rsa.key"};
    for (int i = 0; i < 2; i++) {
        char p[256];
        snprintf(p, sizeof(p), "%s/%s", keys, names[i]);
        EVP_PKEY *k = dkim_key_generate(i ? DKIM_KEY_RSA : DKIM_KEY_ED25519);
        if (!dkim_key_write(k, p, &err))
            return -1;
        EVP_PKEY_free(k);
    }
    buf_free(&err);
    free(keys);
    snprintf(path, sizeof(path), "%s/postern.conf", dir);
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static struct conf *load(const char *extra, struct buf *err)
{
    FILE *f = fopen(path, "w");
    fprintf(f, "[listen]\nsmtp = 127.0.0.1:2525\n[domains]\nlocal = example.com\n%s", extra);
    fclose(f);
    buf_reset(err);
    return conf_load(path, err);
}

static void test_defaults(void **state)
{
    struct buf err;
    buf_init(&err);
    struct conf *c = load("", &err);
    assert_non_null(c);
    assert_false(c->spf_reject);
    assert_true(c->dmarc_reject);
    assert_int_equal(c->ndkim, 0);
    struct dkim_keyring *kr = dkim_keyring_load(c, &err);
    assert_non_null(kr);
    assert_int_equal(kr->n, 0);
    assert_null(dkim_keyring_find(kr, "example.com"));
    dkim_keyring_free(&kr);
    conf_free(&c);
    buf_free(&err);
}

static void test_keys(void **state)
{
    struct buf err;
    buf_init(&err);
    struct conf *c = load("[dkim]\n"
                          "Example.COM = ed:keys/example.com.ed.key\n"
                          "example.org = rsa:keys/example.org.rsa.key\n"
                          "[mailauth]\n"
                          "spf_reject = yes\n"
                          "dmarc_reject = no\n",
                          &err);
    assert_non_null(c);
    assert_true(c->spf_reject);
    assert_false(c->dmarc_reject);
    assert_int_equal(c->ndkim, 2);
    assert_string_equal(c->dkim[0].domain, "example.com");
    assert_string_equal(c->dkim[0].selector, "ed");
    char want[256];
    snprintf(want, sizeof(want), "%s/keys/example.com.ed.key", dir);
    assert_string_equal(c->dkim[0].key_file, want);
    assert_int_equal(c->dkim[1].line, 7);
    struct dkim_keyring *kr = dkim_keyring_load(c, &err);
    assert_non_null(kr);
    assert_int_equal(kr->n, 2);
    const struct dkim_key *k = dkim_keyring_find(kr, "mail.EXAMPLE.com");
    assert_non_null(k);
    assert_int_equal(k->type, DKIM_KEY_ED25519);
    assert_null(dkim_keyring_find(kr, "badexample.com"));
    const char *h = "Subject: x\r\nFrom: \"Org\" <news@example.org>\r\n";
    k = dkim_keyring_for_message(kr, h, strlen(h));
    assert_non_null(k);
    assert_string_equal(k->selector, "rsa");
    h = "From: a@example.org, b@example.com\r\n";
    assert_null(dkim_keyring_for_message(kr, h, strlen(h)));
    h = "From: a@example.net\r\n";
    assert_null(dkim_keyring_for_message(kr, h, strlen(h)));
    dkim_keyring_free(&kr);
    conf_free(&c);
    buf_free(&err);
}

static void test_errors(void **state)
{
    static const struct {
        const char *text, *error;
    } cases[] = {
        {"[dkim]\nexample.com = keys/x.key\n", ":6: [dkim] example.com: expected SELECTOR:KEYFILE"},
        {"[dkim]\nexample.com = sel:\n", ":6: [dkim] example.com: expected SELECTOR:KEYFILE"},
        {"[dkim]\nexample.com = a b:x.key\n", "expected SELECTOR:KEYFILE"},
        {"[dkim]\nlocalhost = sel:x.key\n", "'localhost' is not a valid domain"},
        {"[dkim]\nexample.com = a:x\nEXAMPLE.com = b:y\n",
         ":7: [dkim] EXAMPLE.com: a key for this domain is already set on line 6"},
        {"[mailauth]\nspf_reject = sometimes\n", ":6: [mailauth] spf_reject: expected yes or no"},
        {"[mailauth]\ndkim_sign = yes\n", ":6: [mailauth] dkim_sign: unknown key"},
    };
    struct buf err;
    buf_init(&err);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct conf *c = load(cases[i].text, &err);
        if (c != NULL || strstr(err.data, cases[i].error) == NULL)
            fail_msg("case %zu: %s", i, err.data ? err.data : "(accepted)");
    }
    /* A key that is missing or not a key: the keyring names file, line, domain. */
    struct conf *c = load("[dkim]\nexample.com = ed:keys/missing.key\n"
                          "example.org = rsa:postern.conf\n",
                          &err);
    assert_non_null(c);
    assert_null(dkim_keyring_load(c, &err));
    assert_non_null(strstr(err.data, "postern.conf:6: [dkim] example.com: "));
    assert_non_null(strstr(err.data, "missing.key: No such file or directory"));
    assert_non_null(strstr(err.data, "postern.conf:7: [dkim] example.org: "));
    assert_non_null(strstr(err.data, "not an unencrypted PEM private key"));
    conf_free(&c);
    buf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
