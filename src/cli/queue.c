/*
 * `postern queue` and `mailq`: list asks the running daemon over
 * data_dir/run/query, which lists the queue for any local user;
 * while the daemon is down, root and the service user read the files
 * directly, as does show. flush, delete, hold and release ask the daemon
 * over data_dir/run/control (root and the service user only), since only it
 * may change a queued message it might be sending.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "conf/conf.h"
#include "control/listing.h"
#include "proto/text.h"
#include "queue/queue.h"
#include "util/buf.h"
#include "util/xmalloc.h"

/* Reading the queue files directly (the daemon is down, or `queue show`)
 * is done as the service user when root runs the command: they are that
 * user's, and root must not follow what it may have put in data_dir. */
static int become_service_user(const struct conf *conf)
{
    if (geteuid() != 0)
        return 0;
    struct passwd *pw = getpwnam(conf->user);
    if (pw == NULL || pw->pw_uid == 0) {
        fprintf(stderr, "postern: [server] user '%s' does not exist or is root\n", conf->user);
        return -1;
    }
    if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
        fprintf(stderr, "postern: cannot switch to user %s: %s\n", conf->user, strerror(errno));
        return -1;
    }
    return 0;
}

/* The queue files themselves, for root and the service user while the
 * daemon is down. */
static int queue_list_files(const struct conf *conf, bool json)
{
    if (become_service_user(conf) != 0)
        return 1;
    struct buf err;
    buf_init(&err);
    struct queue *q = queue_open(conf->data_dir, &err);
    if (q == NULL) {
        fprintf(stderr, "postern: the daemon is not running and %s", err.data);
        buf_free(&err);
        return 1;
    }
    buf_free(&err);
    struct buf out;
    buf_init(&out);
    int rc = control_listing(q, json, &out);
    queue_close(&q);
    if (rc != 0)
        fprintf(stderr, "postern: the daemon is not running and %s/queue/env cannot be read: %s\n",
                conf->data_dir, strerror(rc));
    else
        fwrite(out.data, 1, out.len, stdout);
    buf_free(&out);
    return rc != 0;
}

/* Anyone may list the queue: the running daemon does it for them. */
static int queue_list(const struct conf *conf, bool json)
{
    struct buf answer;
    buf_init(&answer);
    int rc = cli_control_ask(conf, "query", json ? "list json" : "list", &answer);
    if (rc == ENOENT || rc == ECONNREFUSED) {
        buf_free(&answer);
        return queue_list_files(conf, json);
    }
    int status = 1;
    bool ok;
    const char *text = cli_control_text(&answer, &ok);
    if (rc != 0) {
        fprintf(stderr, "postern: cannot ask the daemon (%s/run/control): %s\n", conf->data_dir,
                strerror(rc));
    } else if (!ok) {
        fprintf(stderr, "postern: %s", text);
    } else {
        if (*text == '\n')
            text++;
        fputs(text, stdout);
        status = 0;
    }
    buf_free(&answer);
    return status;
}

static int queue_show(const struct conf *conf, const char *id)
{
    if (become_service_user(conf) != 0)
        return 1;
    struct buf err;
    buf_init(&err);
    struct queue *q = queue_open(conf->data_dir, &err);
    buf_free(&err);
    if (q == NULL || !queue_id_valid(id)) {
        fprintf(stderr, "postern: no such message: %s\n", id);
        queue_close(&q);
        return 1;
    }
    struct envelope *env = NULL;
    const char *why;
    int rc = queue_envelope_load(q, id, &env, &why);
    if (rc != 0) {
        fprintf(stderr, "postern: %s: %s\n", id,
                rc == ENOENT ? "no such message in the queue"
                : why        ? why
                             : strerror(rc));
        queue_close(&q);
        return 1;
    }
    struct buf text;
    buf_init(&text);
    envelope_serialize(env, &text);
    printf("%s\n", text.data);
    buf_reset(&text);
    int fd = queue_content_open(q, id);
    if (fd >= 0) {
        char chunk[65536];
        ssize_t got;
        while ((got = read(fd, chunk, sizeof(chunk))) > 0) {
            buf_append(&text, chunk, (size_t)got);
            if (text_header_length(text.data, text.len) < text.len)
                break;
        }
        close(fd);
        size_t hlen = text_header_length(text.data ? text.data : "", text.len);
        fwrite(text.data, 1, hlen, stdout);
    }
    buf_free(&text);
    envelope_free(&env);
    queue_close(&q);
    return 0;
}

/* Sends one command line to the daemon and prints its answer. */
static int control(const struct conf *conf, const char *line)
{
    struct buf answer;
    buf_init(&answer);
    int rc = cli_control_ask(conf, "control", line, &answer);
    if (rc == EACCES) {
        fprintf(stderr,
                "postern: permission denied: only root and the service user (%s) may act on "
                "the queue\n",
                conf->user);
        buf_free(&answer);
        return 1;
    } else if (rc != 0) {
        fprintf(stderr,
                "postern: the daemon is not running (%s/run/control: %s); start it with postern "
                "serve\n",
                conf->data_dir, strerror(rc));
        buf_free(&answer);
        return 1;
    }
    bool ok;
    const char *text = cli_control_text(&answer, &ok);
    fprintf(ok ? stdout : stderr, "%s%s", ok ? "" : "postern: ", *text ? text : "no answer\n");
    buf_free(&answer);
    return ok ? 0 : 1;
}

static int usage(void)
{
    fputs("usage: postern queue list [--json] | show ID | flush [ID] | delete ID | hold ID | "
          "release ID\n",
          stderr);
    return 1;
}

static int with_conf(const char *conf_path, struct conf **conf_r)
{
    struct buf err;
    buf_init(&err);
    *conf_r = conf_load(conf_path, &err);
    if (*conf_r == NULL)
        fputs(err.data, stderr);
    buf_free(&err);
    return *conf_r ? 0 : 1;
}

int cli_queue(const char *conf_path, int argc, char **argv)
{
    if (argc < 1)
        return usage();
    struct conf *conf;
    if (with_conf(conf_path, &conf) != 0)
        return 1;
    const char *verb = argv[0];
    const char *arg = argc > 1 ? argv[1] : NULL;
    int rc;
    if (strcmp(verb, "list") == 0)
        rc = queue_list(conf, arg && strcmp(arg, "--json") == 0);
    else if (strcmp(verb, "show") == 0 && arg)
        rc = queue_show(conf, arg);
    else if (strcmp(verb, "flush") == 0 ||
             ((strcmp(verb, "delete") == 0 || strcmp(verb, "hold") == 0 ||
               strcmp(verb, "release") == 0) &&
              arg)) {
        if (arg && !queue_id_valid(arg)) {
            fprintf(stderr, "postern: '%s' is not a queue id\n", arg);
            rc = 1;
        } else {
            char line[64];
            snprintf(line, sizeof(line), "%s%s%s", verb, arg ? " " : "", arg ? arg : "");
            rc = control(conf, line);
        }
    } else {
        rc = usage();
    }
    conf_free(&conf);
    return rc;
}

int cli_mailq(const char *conf_path, int argc, char **argv)
{
    struct conf *conf;
    if (with_conf(conf_path, &conf) != 0)
        return 1;
    int rc = queue_list(conf, argc > 0 && strcmp(argv[0], "--json") == 0);
    conf_free(&conf);
    return rc;
}
