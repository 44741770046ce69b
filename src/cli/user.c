/* `postern user add|del|passwd|list`: manages the users file in place, by
 * rewriting it atomically (temp file, fsync, rename) so the daemon never
 * reads a half-written table. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "auth/password.h"
#include "auth/users.h"
#include "cli/cli.h"
#include "conf/conf.h"
#include "proto/sasl.h"
#include "util/buf.h"
#include "util/xmalloc.h"

struct lines {
    char **v;
    size_t n;
};

static void lines_free(struct lines *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

static int read_lines(const char *path, struct lines *out)
{
    memset(out, 0, sizeof(*out));
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return errno == ENOENT ? 0 : errno;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) >= 0) {
        if (n > 0 && line[n - 1] == '\n')
            line[n - 1] = '\0';
        out->v = xrealloc(out->v, (out->n + 1) * sizeof(char *));
        out->v[out->n++] = xstrdup(line);
    }
    free(line);
    fclose(f);
    return 0;
}

/* The index of the line for addr, or -1. */
static long find_user(const struct lines *l, const char *addr)
{
    size_t alen = strlen(addr);
    for (size_t i = 0; i < l->n; i++) {
        const char *p = l->v[i];
        while (*p == ' ' || *p == '\t')
            p++;
        if (strncasecmp(p, addr, alen) == 0 && (p[alen] == ':' || p[alen] == ' '))
            return (long)i;
    }
    return -1;
}

static int write_lines(const struct conf *conf, const char *path, const struct lines *l)
{
    char *tmp = xasprintf("%s.tmp.%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    int rc = fd < 0 ? errno : 0;
    struct buf b;
    buf_init(&b);
    for (size_t i = 0; i < l->n; i++)
        buf_printf(&b, "%s\n", l->v[i]);
    if (rc == 0) {
        size_t off = 0;
        while (off < b.len && rc == 0) {
            ssize_t w = write(fd, b.data + off, b.len - off);
            if (w < 0 && errno != EINTR)
                rc = errno;
            else if (w > 0)
                off += (size_t)w;
        }
        /* The daemon drops to the service user and re-reads this on reload:
         * the file is root's and readable by that user's group. */
        struct passwd *pw = geteuid() == 0 ? getpwnam(conf->user) : NULL;
        if (pw && fchown(fd, 0, pw->pw_gid) != 0)
            rc = rc ? rc : errno;
        if (rc == 0 && fsync(fd) != 0)
            rc = errno;
        if (close(fd) != 0 && rc == 0)
            rc = errno;
    }
    if (rc == 0 && rename(tmp, path) != 0)
        rc = errno;
    if (rc != 0)
        unlink(tmp);
    buf_free(&b);
    free(tmp);
    return rc;
}

static char *read_password(bool from_stdin)
{
    char buf[SASL_PASSWORD_MAX + 2];
    if (from_stdin) {
        if (fgets(buf, sizeof(buf), stdin) == NULL)
            return NULL;
        buf[strcspn(buf, "\r\n")] = '\0';
        return xstrdup(buf);
    }
    if (!isatty(STDIN_FILENO)) {
        fputs("postern: no terminal to ask for the password; use --password-stdin\n", stderr);
        return NULL;
    }
    char *first = NULL;
    for (int round = 0; round < 2; round++) {
        struct termios old, quiet;
        tcgetattr(STDIN_FILENO, &old);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        fputs(round == 0 ? "Password: " : "Again: ", stderr);
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
        char *ok = fgets(buf, sizeof(buf), stdin);
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
        if (ok == NULL) {
            free(first);
            return NULL;
        }
        buf[strcspn(buf, "\r\n")] = '\0';
        if (round == 0) {
            first = xstrdup(buf);
        } else if (strcmp(first, buf) != 0) {
            fputs("postern: the passwords differ\n", stderr);
            OPENSSL_cleanse(first, strlen(first));
            free(first);
            return NULL;
        }
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    return first;
}

/* The change takes effect at once: the running daemon is told to re-read
 * the users and aliases files, and answers once it has. 0, or 1 when it
 * refused (the file is written all the same). */
static int tell_daemon(const struct conf *conf)
{
    struct buf answer;
    buf_init(&answer);
    int rc = cli_control_ask(conf, "control", "reload-users", &answer);
    int status = 0;
    if (rc == ENOENT || rc == ECONNREFUSED) {
        printf("(the daemon is not running; it reads the change when it starts)\n");
    } else if (rc != 0) {
        fprintf(stderr,
                "postern: the file is written, but the daemon could not be told (%s); "
                "send it SIGHUP\n",
                strerror(rc));
        status = 1;
    } else {
        bool ok;
        const char *text = cli_control_text(&answer, &ok);
        if (ok) {
            fputs(text, stdout);
        } else {
            fprintf(stderr, "postern: the file is written, but the daemon did not take it: %s",
                    text);
            status = 1;
        }
    }
    buf_free(&answer);
    return status;
}

static int usage(void)
{
    fputs("usage: postern user add ADDRESS [--password-stdin]\n"
          "       postern user passwd ADDRESS [--password-stdin]\n"
          "       postern user del ADDRESS\n"
          "       postern user list\n",
          stderr);
    return 1;
}

int cli_user(const char *conf_path, int argc, char **argv)
{
    if (argc < 1)
        return usage();
    const char *verb = argv[0];
    const char *addr_arg = NULL;
    bool from_stdin = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--password-stdin") == 0)
            from_stdin = true;
        else if (strcmp(argv[i], "-c") == 0)
            i++;
        else if (addr_arg == NULL)
            addr_arg = argv[i];
        else
            return usage();
    }
    struct buf err;
    buf_init(&err);
    struct conf *conf = conf_load(conf_path, &err);
    if (conf == NULL) {
        fputs(err.data, stderr);
        buf_free(&err);
        return 1;
    }
    buf_free(&err);
    int status = 1;
    struct lines l;
    int rc = read_lines(conf->users_file, &l);
    if (rc != 0) {
        fprintf(stderr, "postern: cannot read %s: %s\n", conf->users_file, strerror(rc));
        conf_free(&conf);
        return 1;
    }
    char *addr = addr_arg ? xstrdup(addr_arg) : NULL;
    if (addr)
        address_lower(addr);
    if (strcmp(verb, "list") == 0 && addr == NULL) {
        for (size_t i = 0; i < l.n; i++) {
            const char *p = l.v[i];
            while (*p == ' ' || *p == '\t')
                p++;
            if (*p == '#' || *p == '\0')
                continue;
            printf("%.*s\n", (int)strcspn(p, ": \t"), p);
        }
        status = 0;
    } else if (addr == NULL) {
        usage();
    } else if (strcmp(verb, "add") == 0 || strcmp(verb, "passwd") == 0) {
        bool add = verb[0] == 'a';
        long at = find_user(&l, addr);
        const char *dom = strrchr(addr, '@');
        if (!address_mailbox_safe(addr)) {
            fprintf(stderr, "postern: '%s' is not a valid mailbox address\n", addr_arg);
        } else if (!conf_is_local_domain(conf, dom + 1)) {
            fprintf(stderr, "postern: %s is not a local domain (add it to [domains] local in %s)\n",
                    dom + 1, conf_path);
        } else if (add && at >= 0) {
            fprintf(stderr, "postern: %s already exists (use user passwd to change it)\n", addr);
        } else if (!add && at < 0) {
            fprintf(stderr, "postern: no such user: %s\n", addr);
        } else {
            char *pw = read_password(from_stdin);
            char *hash = pw && *pw ? password_hash_new(pw) : NULL;
            if (pw == NULL || *pw == '\0')
                fputs("postern: an empty password is not allowed\n", stderr);
            else if (hash == NULL)
                fputs("postern: hashing the password failed\n", stderr);
            if (pw) {
                OPENSSL_cleanse(pw, strlen(pw));
                free(pw);
            }
            if (hash) {
                char *line = xasprintf("%s:%s", addr, hash);
                if (add) {
                    l.v = xrealloc(l.v, (l.n + 1) * sizeof(char *));
                    l.v[l.n++] = line;
                } else {
                    /* Keep the line's other fields ("quota=SIZE"). */
                    const char *colon = strchr(l.v[at], ':');
                    const char *rest = colon ? strchr(colon + 1, ':') : NULL;
                    if (rest) {
                        char *with = xasprintf("%s%s", line, rest);
                        free(line);
                        line = with;
                    }
                    free(l.v[at]);
                    l.v[at] = line;
                }
                rc = write_lines(conf, conf->users_file, &l);
                if (rc == 0) {
                    printf("%s %s\n", add ? "added" : "password changed for", addr);
                    status = tell_daemon(conf);
                } else {
                    fprintf(stderr, "postern: cannot write %s: %s\n", conf->users_file,
                            strerror(rc));
                }
                free(hash);
            }
        }
    } else if (strcmp(verb, "del") == 0) {
        long at = find_user(&l, addr);
        if (at < 0) {
            fprintf(stderr, "postern: no such user: %s\n", addr);
        } else {
            free(l.v[at]);
            memmove(&l.v[at], &l.v[at + 1], (l.n - (size_t)at - 1) * sizeof(char *));
            l.n--;
            rc = write_lines(conf, conf->users_file, &l);
            if (rc == 0) {
                printf("deleted %s (the Maildir is kept)\n", addr);
                status = tell_daemon(conf);
            } else {
                fprintf(stderr, "postern: cannot write %s: %s\n", conf->users_file, strerror(rc));
            }
        }
    } else {
        usage();
    }
    free(addr);
    lines_free(&l);
    conf_free(&conf);
    return status;
}
