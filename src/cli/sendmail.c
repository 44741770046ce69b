/*
 * `postern sendmail` (also run as `sendmail`): takes a message on standard
 * input and leaves it in data_dir/queue/drop/ for the daemon, so it works
 * while the daemon is down. Exit codes are sendmail's (sysexits.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/sendmail.h"
#include "conf/conf.h"
#include "proto/headers.h"
#include "proto/smtp_parse.h"
#include "proto/text.h"
#include "queue/drop.h"
#include "util/buf.h"
#include "util/xmalloc.h"

struct sendmail_opts {
    const char *conf;
    const char *sender;
    const char *fullname;
    bool from_headers; /* -t */
    bool ignore_dots;  /* -i, -oi */
    bool smtp_stdio;   /* -bs */
    char **rcpts;
    size_t nrcpts;
};

static int fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("sendmail: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

static void add_rcpt(struct sendmail_opts *o, const char *addr)
{
    o->rcpts = xrealloc(o->rcpts, (o->nrcpts + 1) * sizeof(char *));
    o->rcpts[o->nrcpts++] = xstrdup(addr);
}

/* sendmail(8)'s options. Unknown ones are an error; the historical ones
 * that do not apply to Postern (-v, -odi, -oem, -bm...) are accepted. */
static int parse_args(int argc, char **argv, struct sendmail_opts *o)
{
    int i = 0;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (a[0] != '-' || a[1] == '\0')
            break;
        if (strcmp(a, "-t") == 0)
            o->from_headers = true;
        else if (strcmp(a, "-i") == 0 || strcmp(a, "-oi") == 0)
            o->ignore_dots = true;
        else if (strcmp(a, "-bs") == 0)
            o->smtp_stdio = true;
        else if (strcmp(a, "-bm") == 0 || strcmp(a, "-v") == 0 || strncmp(a, "-od", 3) == 0 ||
                 strncmp(a, "-oe", 3) == 0 || strcmp(a, "-om") == 0 || strncmp(a, "-N", 2) == 0 ||
                 strncmp(a, "-R", 2) == 0 || strncmp(a, "-V", 2) == 0 || strncmp(a, "-o", 2) == 0)
            ; /* accepted for compatibility; no effect */
        else if (a[1] == 'f' || a[1] == 'F' || a[1] == 'C' || a[1] == 'r') {
            const char *v = a[2] ? a + 2 : (i + 1 < argc ? argv[++i] : NULL);
            if (v == NULL)
                return fail(EX_USAGE, "option %s needs a value", a);
            if (a[1] == 'f' || a[1] == 'r')
                o->sender = v;
            else if (a[1] == 'F')
                o->fullname = v;
            else
                o->conf = v;
        } else if (strcmp(a, "-bp") == 0) {
            return -2; /* mailq */
        } else {
            return fail(EX_USAGE, "unknown option %s", a);
        }
    }
    for (; i < argc; i++) {
        /* "a@x, b@y" as one argument is common in scripts. */
        char *copy = xstrdup(argv[i]);
        char *save = NULL;
        for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
            add_rcpt(o, t);
        free(copy);
    }
    return 0;
}

/* Unqualified names ("root") get the first local domain, as cron expects. */
static char *qualify(const struct conf *conf, const char *addr)
{
    if (strchr(addr, '@'))
        return xstrdup(addr);
    return xasprintf("%s@%s", addr, conf->local_domains[0]);
}

static int read_all(FILE *in, uint64_t limit, struct buf *out)
{
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), in)) > 0) {
        if (out->len + n > limit)
            return EFBIG;
        buf_append(out, chunk, n);
    }
    return ferror(in) ? EIO : 0;
}

/* Opens data_dir/queue/drop without following a link below data_dir: the
 * folders are the service user's, and root (cron) must not be led to
 * write elsewhere. O_PATH: queue/ and drop/ are not readable by local
 * users, only searchable. -1 with errno. */
static int open_drop_dir(const struct conf *conf)
{
    const int flags = O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    int top = open(conf->data_dir, flags & ~O_NOFOLLOW); /* the administrator's */
    int queue = top < 0 ? -1 : openat(top, "queue", flags);
    int drop = queue < 0 ? -1 : openat(queue, "drop", flags);
    int e = errno;
    if (queue >= 0)
        close(queue);
    if (top >= 0)
        close(top);
    errno = e;
    return drop;
}

/* Writes the drop file: hidden temp name, fsync, rename, fsync the folder. */
int sendmail_write_drop(const struct conf *conf, const struct drop_head *head,
                        const struct buf *msg, char *errbuf, size_t errlen)
{
    char *dir = xasprintf("%s/queue/drop", conf->data_dir);
    uint32_t rnd = 0;
    if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
        rnd = (uint32_t)time(NULL);
    char *tmp = xasprintf(".tmp.%d.%08x", (int)getpid(), rnd);
    char *final = xasprintf("%lld.%d.%08x", (long long)time(NULL), (int)getpid(), rnd);
    struct buf data;
    buf_init(&data);
    drop_head_serialize(head, &data);
    buf_append(&data, msg->data, msg->len);
    int rc = 0;
    if (access(dir, F_OK) != 0) {
        /* The daemon has never run here: make the folders it would make. */
        char *queue = xasprintf("%s/queue", conf->data_dir);
        mkdir(conf->data_dir, 0711);
        mkdir(queue, 0711);
        if (mkdir(dir, 01733) == 0)
            chmod(dir, 01733);
        free(queue);
    }
    int dfd = open_drop_dir(conf);
    int fd = dfd < 0 ? -1 : openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = errno == ELOOP ? ENOTDIR : errno;
    } else {
        /* Readable by the daemon's user whatever the caller's umask; the
         * folder is not listable, so other users cannot find it. */
        if (fchmod(fd, 0644) != 0)
            rc = errno;
        size_t off = 0;
        while (off < data.len && rc == 0) {
            ssize_t w = write(fd, data.data + off, data.len - off);
            if (w < 0 && errno != EINTR)
                rc = errno;
            else if (w > 0)
                off += (size_t)w;
        }
        if (rc == 0 && fsync(fd) != 0)
            rc = errno;
        if (close(fd) != 0 && rc == 0)
            rc = errno;
        if (rc == 0 && renameat(dfd, tmp, dfd, final) != 0)
            rc = errno;
        if (rc != 0)
            unlinkat(dfd, tmp, 0);
    }
    if (rc == 0) {
        /* Only root and the service user may read drop/ to fsync it; for
         * anyone else the file is fsynced, its name in drop/ is not. */
        int sync_fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (sync_fd >= 0) {
            fsync(sync_fd);
            close(sync_fd);
        }
    } else
        snprintf(errbuf, errlen, "cannot queue the message in %s: %s%s", dir, strerror(rc),
                 rc == EACCES   ? " (is postern installed setgid postdrop? see make install)"
                 : rc == ENOENT ? " (has the daemon ever run on this data_dir?)"
                                : "");
    if (dfd >= 0)
        close(dfd);
    buf_free(&data);
    free(tmp);
    free(final);
    free(dir);
    return rc;
}

/* Recipients from every To, Cc and Bcc field (-t); the Bcc fields go. */
static void rcpts_from_headers(struct sendmail_opts *o, struct buf *msg)
{
    static const char *const fields[] = {"To", "Cc", "Bcc"};
    size_t hlen = text_header_length(msg->data, msg->len);
    struct buf values;
    buf_init(&values);
    for (size_t f = 0; f < 3; f++)
        text_header_values(msg->data, hlen, fields[f], &values);
    char **addrs = NULL;
    size_t n = header_addresses(values.data ? values.data : "", &addrs);
    for (size_t i = 0; i < n; i++) {
        add_rcpt(o, addrs[i]);
        free(addrs[i]);
    }
    free(addrs);
    buf_free(&values);
    text_remove_header(msg, "Bcc");
}

int cli_sendmail(int argc, char **argv)
{
    struct sendmail_opts o = {0};
    int rc = parse_args(argc, argv, &o);
    if (rc == -2)
        return cli_mailq(conf_default_path(o.conf), 0, NULL);
    if (rc != 0)
        return rc;
    struct buf err;
    buf_init(&err);
    const char *conf_path = conf_default_path(o.conf);
    struct conf *conf = conf_load(conf_path, &err);
    if (conf == NULL) {
        fputs(err.data, stderr);
        buf_free(&err);
        return EX_CONFIG;
    }
    buf_free(&err);
    int status = EX_OK;
    if (o.smtp_stdio) {
        status = sendmail_bs(conf);
        goto out;
    }
    struct buf raw, msg;
    buf_init(&raw);
    buf_init(&msg);
    rc = read_all(stdin, conf->message_size * 2 + 1024 * 1024, &raw);
    if (rc == EFBIG) {
        status = fail(EX_DATAERR, "message larger than the limit of %llu octets",
                      (unsigned long long)conf->message_size);
        goto out_msg;
    }
    if (rc != 0) {
        status = fail(EX_NOINPUT, "cannot read the message from standard input: %s", strerror(rc));
        goto out_msg;
    }
    size_t line;
    enum text_result tr =
        text_normalize(raw.data ? raw.data : "", raw.len, !o.ignore_dots, &msg, &line);
    if (tr == TEXT_NUL) {
        status = fail(EX_DATAERR,
                      "line %zu contains a NUL octet: binary data must be sent as "
                      "a MIME attachment (base64)",
                      line);
        goto out_msg;
    }
    if (tr == TEXT_LONG_LINE) {
        status = fail(EX_DATAERR,
                      "line %zu is longer than 998 octets (RFC 5322 2.1.1); encode "
                      "the content (quoted-printable or base64)",
                      line);
        goto out_msg;
    }
    if (msg.len > conf->message_size) {
        status = fail(EX_DATAERR, "message larger than the limit of %llu octets",
                      (unsigned long long)conf->message_size);
        goto out_msg;
    }
    if (o.from_headers)
        rcpts_from_headers(&o, &msg);
    if (o.nrcpts == 0) {
        status = fail(EX_USAGE, "no recipients (name them as arguments, or use -t)");
        goto out_msg;
    }
    struct drop_head head = {0};
    for (size_t i = 0; i < o.nrcpts && status == EX_OK; i++) {
        char *addr = qualify(conf, o.rcpts[i]);
        if (!smtp_address_valid(addr, strlen(addr), true)) {
            status = fail(EX_DATAERR, "'%s' is not a valid address", o.rcpts[i]);
            free(addr);
            break;
        }
        head.rcpts = xrealloc(head.rcpts, (head.nrcpts + 1) * sizeof(char *));
        head.rcpts[head.nrcpts++] = addr;
    }
    if (status == EX_OK && o.sender && *o.sender) {
        char *s = qualify(conf, o.sender);
        if (!smtp_address_valid(s, strlen(s), true)) {
            status = fail(EX_DATAERR, "sender '%s' is not a valid address", o.sender);
            free(s);
        } else {
            head.sender = s;
        }
    }
    if (status == EX_OK && o.fullname)
        head.fullname = xstrdup(o.fullname);
    if (status == EX_OK) {
        char why[512];
        if (sendmail_write_drop(conf, &head, &msg, why, sizeof(why)) != 0)
            status = fail(EX_TEMPFAIL, "%s", why);
    }
    drop_head_clear(&head);
out_msg:
    buf_free(&raw);
    buf_free(&msg);
out:
    for (size_t i = 0; i < o.nrcpts; i++)
        free(o.rcpts[i]);
    free(o.rcpts);
    conf_free(&conf);
    return status;
}
