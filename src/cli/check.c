/* `postern check`: validates the configuration and the files it names.
 * Every problem names a file and, where there is one, a line: the
 * configuration line of the key that names a file that cannot be used, or
 * the line inside the users and aliases files. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "auth/users.h"
#include "cli/cli.h"
#include "conf/conf.h"
#include "mailauth/dkim_keyring.h"
#include "net/tls.h"
#include "util/xmalloc.h"

/* Run by root: the daemon reads the files again on SIGHUP (and the users
 * and aliases files on every `postern user` change) once it is the service
 * user, so each should be readable by that user too. A child becomes that
 * user and tries them; each failure is a warning line in warn_r (the
 * daemon still starts: it reads them as root). Returns their number. */
static int check_readable_after_drop(const struct conf *conf, struct buf *warn_r)
{
    if (geteuid() != 0)
        return 0;
    struct passwd *pw = getpwnam(conf->user);
    if (pw == NULL || pw->pw_uid == 0)
        return 0; /* the daemon refuses to start; conf says why */
    const char **files = xcalloc(6 + conf->ndkim, sizeof(char *));
    size_t n = 0;
    files[n++] = conf->path;
    files[n++] = conf->users_file;
    if (conf->aliases_file)
        files[n++] = conf->aliases_file;
    if (conf->tls_cert) {
        files[n++] = conf->tls_cert;
        files[n++] = conf->tls_key;
    }
    for (size_t i = 0; i < conf->ndkim; i++)
        files[n++] = conf->dkim[i].key_file;
    int fds[2];
    int bad = 0;
    if (pipe(fds) != 0) {
        free(files);
        return 0;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
            _exit(2);
        for (size_t i = 0; i < n; i++) {
            if (files[i] == NULL)
                continue;
            FILE *f = fopen(files[i], "r");
            if (f)
                fclose(f);
            else
                dprintf(fds[1], "%s: %s\n", files[i], strerror(errno));
        }
        _exit(0);
    }
    close(fds[1]);
    char chunk[4096];
    ssize_t got;
    struct buf out;
    buf_init(&out);
    while (pid > 0 && (got = read(fds[0], chunk, sizeof(chunk))) > 0)
        buf_append(&out, chunk, (size_t)got);
    close(fds[0]);
    int st = 0;
    if (pid > 0)
        waitpid(pid, &st, 0);
    for (char *line = out.data, *nl; line && (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
        *nl = '\0';
        struct group *gr = getgrgid(pw->pw_gid);
        buf_printf(
            warn_r,
            "postern: warning: %s (not readable by user %s, so a SIGHUP reload would fail; make it "
            "readable by group %s: chgrp %s FILE && chmod g+r FILE)\n",
            line, conf->user, gr ? gr->gr_name : conf->user, gr ? gr->gr_name : conf->user);
        bad++;
    }
    buf_free(&out);
    free(files);
    return bad;
}

/* "CONF:LINE: [section] key: FILE: " (or "CONF: [section] key (default): ")
 * before each problem with a file the configuration names. */
static void check_where(struct buf *err, const struct conf *conf, unsigned line, const char *key,
                        const char *file)
{
    if (line)
        buf_printf(err, "%s:%u: %s: %s: ", conf->path, line, key, file);
    else
        buf_printf(err, "%s: %s (default): %s: ", conf->path, key, file);
}

static FILE *check_open(const struct conf *conf, unsigned line, const char *key, const char *file,
                        struct buf *err)
{
    FILE *f = fopen(file, "r");
    if (f == NULL) {
        check_where(err, conf, line, key, file);
        buf_printf(err, "cannot open: %s\n", strerror(errno));
    }
    return f;
}

static void check_date(const ASN1_TIME *t, char *out, size_t len)
{
    struct tm tm;
    if (ASN1_TIME_to_tm(t, &tm) != 1 || strftime(out, len, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        snprintf(out, len, "an unreadable date");
}

/* Never ask for a pass phrase: the daemon cannot either. */
static int check_no_passphrase(char *buf, int size, int rwflag, void *u)
{
    return -1;
}

/* [tls] cert and key: readable, PEM, in their validity period, matching.
 * Then tls_server_new() loads them as the daemon will (the whole chain). */
static bool check_tls(const struct conf *conf, struct buf *err)
{
    const char *cert = conf->tls_cert, *key = conf->tls_key;
    FILE *f = check_open(conf, conf->tls_cert_line, "[tls] cert", cert, err);
    if (f == NULL)
        return false;
    X509 *x = PEM_read_X509(f, NULL, check_no_passphrase, NULL);
    fclose(f);
    if (x == NULL) {
        check_where(err, conf, conf->tls_cert_line, "[tls] cert", cert);
        buf_printf(err, "no PEM certificate in it (expected -----BEGIN CERTIFICATE-----)\n");
        ERR_clear_error();
        return false;
    }
    bool ok = true;
    char date[64];
    if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0) {
        check_date(X509_get0_notAfter(x), date, sizeof(date));
        check_where(err, conf, conf->tls_cert_line, "[tls] cert", cert);
        buf_printf(err, "the certificate expired on %s\n", date);
        ok = false;
    } else if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0) {
        check_date(X509_get0_notBefore(x), date, sizeof(date));
        check_where(err, conf, conf->tls_cert_line, "[tls] cert", cert);
        buf_printf(err, "the certificate is not valid before %s\n", date);
        ok = false;
    }
    EVP_PKEY *k = NULL;
    f = check_open(conf, conf->tls_key_line, "[tls] key", key, err);
    if (f) {
        k = PEM_read_PrivateKey(f, NULL, check_no_passphrase, NULL);
        fclose(f);
        if (k == NULL) {
            check_where(err, conf, conf->tls_key_line, "[tls] key", key);
            buf_printf(err, "no PEM private key in it (or one protected by a pass phrase)\n");
            ERR_clear_error();
        } else if (X509_check_private_key(x, k) != 1) {
            check_where(err, conf, conf->tls_key_line, "[tls] key", key);
            buf_printf(err, "this key does not match the certificate in %s\n", cert);
            ERR_clear_error();
            ok = false;
        }
    }
    ok = ok && k != NULL;
    EVP_PKEY_free(k);
    X509_free(x);
    if (ok) {
        SSL_CTX *tls = tls_server_new(cert, key, err);
        ok = tls != NULL;
        tls_ctx_free(&tls);
    }
    return ok;
}

/* The users and aliases files; their own problems carry their own lines. */
static bool check_users(const struct conf *conf, struct buf *err)
{
    FILE *f =
        check_open(conf, conf->users_file_line, "[domains] users_file", conf->users_file, err);
    bool ok = f != NULL;
    if (f)
        fclose(f);
    if (conf->aliases_file) {
        f = check_open(conf, conf->aliases_file_line, "[domains] aliases_file", conf->aliases_file,
                       err);
        ok = ok && f != NULL;
        if (f)
            fclose(f);
    }
    if (!ok)
        return false;
    struct user_table *users = user_table_load_files(conf->users_file, conf->aliases_file, err);
    ok = users != NULL;
    user_table_free(&users);
    return ok;
}

int cli_check(const char *conf_path)
{
    struct buf err;
    buf_init(&err);
    struct conf *conf = conf_load(conf_path, &err);
    int status = 0;
    if (conf) {
        if (!check_users(conf, &err))
            status = 1;
        if (conf->tls_cert && !check_tls(conf, &err))
            status = 1;
        /* Each [dkim] key loads and makes a signature that verifies. */
        struct dkim_keyring *keys = dkim_keyring_load(conf, &err);
        if (keys == NULL)
            status = 1;
        dkim_keyring_free(&keys);
        struct buf warn;
        buf_init(&warn);
        if (check_readable_after_drop(conf, &warn) > 0)
            fputs(warn.data, stderr);
        buf_free(&warn);
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
