/* `postern check`: validates the configuration and the files it names. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

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
