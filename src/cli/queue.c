/*
 * `postern queue` and `mailq`: list and show read the queue files directly
 * (so they work while the daemon is down); flush, delete, hold and release
 * ask the running daemon over its control socket (data_dir/run/control),
 * since only the daemon may change a queued message it might be sending.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "conf/conf.h"
#include "proto/text.h"
#include "queue/queue.h"
#include "util/buf.h"
#include "util/xmalloc.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char **list_ids(const char *env_dir, size_t *n_r)
{
    *n_r = 0;
    DIR *d = opendir(env_dir);
    if (d == NULL)
        return NULL;
    char **ids = NULL;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!queue_id_valid(e->d_name))
            continue;
        ids = xrealloc(ids, (*n_r + 1) * sizeof(char *));
        ids[(*n_r)++] = xstrdup(e->d_name);
    }
    closedir(d);
    if (*n_r)
        qsort(ids, *n_r, sizeof(char *), cmp_str);
    return ids;
}

static void json_string(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

static const char *state_name(enum rcpt_state s)
{
    return s == RCPT_PENDING ? "pending" : s == RCPT_DONE ? "done" : "failed";
}

static void print_text(const struct envelope *env)
{
    char when[32];
    time_t t = (time_t)env->arrival;
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(when, sizeof(when), "%a %b %e %H:%M:%S", &tm);
    printf("%-20s%c %8" PRIu64 " %s  %s\n", env->id, env->held ? '!' : ' ', env->size, when,
           *env->sender ? env->sender : "MAILER-DAEMON");
    time_t now = time(NULL);
    for (size_t i = 0; i < env->nrcpts; i++) {
        const struct envelope_rcpt *r = &env->rcpts[i];
        if (r->state != RCPT_PENDING)
            continue;
        if (r->last_error)
            printf("%52s(%s)\n", "", r->last_error);
        if (r->next_attempt > now)
            printf("%52s%s  next attempt in %llds\n", "", r->addr,
                   (long long)(r->next_attempt - now));
        else
            printf("%52s%s\n", "", r->addr);
    }
    putchar('\n');
}

static void print_json(const struct envelope *env, bool first)
{
    printf("%s{\"id\":", first ? "" : ",");
    json_string(env->id);
    printf(",\"arrival\":%" PRId64 ",\"size\":%" PRIu64 ",\"held\":%s,\"sender\":", env->arrival,
           env->size, env->held ? "true" : "false");
    json_string(env->sender);
    printf(",\"recipients\":[");
    for (size_t i = 0; i < env->nrcpts; i++) {
        const struct envelope_rcpt *r = &env->rcpts[i];
        printf("%s{\"address\":", i ? "," : "");
        json_string(r->addr);
        printf(",\"original\":");
        json_string(r->orig);
        printf(",\"state\":\"%s\",\"attempts\":%u,\"next_attempt\":%" PRId64 ",\"last_error\":",
               state_name(r->state), r->attempts, r->next_attempt);
        if (r->last_error)
            json_string(r->last_error);
        else
            printf("null");
        putchar('}');
    }
    printf("]}");
}

static int queue_list(const struct conf *conf, bool json)
{
    char *env_dir = xasprintf("%s/queue/env", conf->data_dir);
    size_t n;
    char **ids = list_ids(env_dir, &n);
    if (ids == NULL && errno != 0 && errno != ENOENT) {
        fprintf(stderr, "postern: cannot read %s: %s\n", env_dir, strerror(errno));
        free(env_dir);
        return 1;
    }
    struct buf err;
    buf_init(&err);
    struct queue *q = queue_open(conf->data_dir, &err);
    if (q == NULL) {
        fputs(err.data, stderr);
        buf_free(&err);
        free(env_dir);
        return 1;
    }
    buf_free(&err);
    if (json)
        putchar('[');
    else if (n)
        printf("-Queue ID-----------  --Size-- ----Arrival Time----  -Sender/Recipient-------\n");
    uint64_t total = 0;
    size_t shown = 0;
    for (size_t i = 0; i < n; i++) {
        struct envelope *env = NULL;
        const char *why;
        if (queue_envelope_load(q, ids[i], &env, &why) == 0) {
            total += env->size;
            if (json)
                print_json(env, shown == 0);
            else
                print_text(env);
            shown++;
        }
        envelope_free(&env);
        free(ids[i]);
    }
    free(ids);
    if (json)
        printf("]\n");
    else if (shown == 0)
        printf("Mail queue is empty\n");
    else
        printf("-- %llu Kbytes in %zu Request%s.\n", (unsigned long long)((total + 1023) / 1024),
               shown, shown == 1 ? "" : "s");
    queue_close(&q);
    free(env_dir);
    return 0;
}

static int queue_show(const struct conf *conf, const char *id)
{
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
    char *path = xasprintf("%s/run/control", conf->data_dir);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
        fprintf(stderr,
                "postern: the daemon is not running (%s: %s); start it with postern serve\n", path,
                strerror(errno));
        if (fd >= 0)
            close(fd);
        free(path);
        return 1;
    }
    free(path);
    dprintf(fd, "%s\n", line);
    shutdown(fd, SHUT_WR);
    char answer[4096];
    size_t n = 0;
    ssize_t got;
    while (n < sizeof(answer) - 1 && (got = read(fd, answer + n, sizeof(answer) - 1 - n)) > 0)
        n += (size_t)got;
    close(fd);
    answer[n] = '\0';
    bool ok = strncmp(answer, "ok", 2) == 0;
    const char *text = answer + (ok ? 2 : strncmp(answer, "error", 5) == 0 ? 5 : 0);
    while (*text == ' ')
        text++;
    fprintf(ok ? stdout : stderr, "%s%s", ok ? "" : "postern: ", *text ? text : "no answer\n");
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
