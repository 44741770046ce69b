/* `postern check`: validates the configuration and the files it names. */
#include <stdio.h>

#include "auth/users.h"
#include "cli/cli.h"
#include "conf/conf.h"
#include "mailauth/dkim_keyring.h"
#include "net/tls.h"

int cli_check(const char *conf_path)
{
    struct buf err;
    buf_init(&err);
    struct conf *conf = conf_load(conf_path, &err);
    int status = 0;
    if (conf) {
        struct user_table *users =
            user_table_load_files(conf->users_file, conf->aliases_file, &err);
        if (users == NULL)
            status = 1;
        user_table_free(&users);
        if (conf->tls_cert) {
            SSL_CTX *tls = tls_server_new(conf->tls_cert, conf->tls_key, &err);
            if (tls == NULL)
                status = 1;
            tls_ctx_free(&tls);
        }
        /* Each [dkim] key loads and makes a signature that verifies. */
        struct dkim_keyring *keys = dkim_keyring_load(conf, &err);
        if (keys == NULL)
            status = 1;
        dkim_keyring_free(&keys);
    } else {
        status = 1;
    }
    if (status) {
        fputs(err.data, stderr);
    } else {
        printf("%s: configuration is valid (%zu local domain%s, %zu listener%s, %zu DKIM key%s)\n",
               conf_path, conf->nlocal_domains, conf->nlocal_domains == 1 ? "" : "s",
               conf->nlistens, conf->nlistens == 1 ? "" : "s", conf->ndkim,
               conf->ndkim == 1 ? "" : "s");
    }
    conf_free(&conf);
    buf_free(&err);
    return status;
}
