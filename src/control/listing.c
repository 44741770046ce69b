/* The queue listing of `mailq` (see listing.h). */
#include "control/listing.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "queue/queue.h"
#include "util/xmalloc.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char **list_ids(const char *env_dir, size_t *n_r, int *err_r)
{
    *n_r = 0;
    *err_r = 0;
    DIR *d = opendir(env_dir);
    if (d == NULL) {
        *err_r = errno == ENOENT ? 0 : errno;
        return NULL;
    }
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

static void json_string(struct buf *out, const char *s)
{
    buf_append_char(out, '"');
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\')
            buf_printf(out, "\\%c", *p);
        else if (*p < 0x20)
            buf_printf(out, "\\u%04x", *p);
        else
            buf_append_char(out, (char)*p);
    }
    buf_append_char(out, '"');
}

static const char *state_name(enum rcpt_state s)
{
    return s == RCPT_PENDING ? "pending" : s == RCPT_DONE ? "done" : "failed";
}

static void add_text(struct buf *out, const struct envelope *env)
{
    char when[32];
    time_t t = (time_t)env->arrival;
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(when, sizeof(when), "%a %b %e %H:%M:%S", &tm);
    buf_printf(out, "%-20s%c %8" PRIu64 " %s  %s\n", env->id, env->held ? '!' : ' ', env->size,
               when, *env->sender ? env->sender : "MAILER-DAEMON");
    time_t now = time(NULL);
    for (size_t i = 0; i < env->nrcpts; i++) {
        const struct envelope_rcpt *r = &env->rcpts[i];
        if (r->state != RCPT_PENDING)
            continue;
        if (r->last_error)
            buf_printf(out, "%52s(%s)\n", "", r->last_error);
        if (r->next_attempt > now)
            buf_printf(out, "%52s%s  next attempt in %llds\n", "", r->addr,
                       (long long)(r->next_attempt - now));
        else
            buf_printf(out, "%52s%s\n", "", r->addr);
    }
    buf_append_char(out, '\n');
}

static void add_json(struct buf *out, const struct envelope *env, bool first)
{
    buf_printf(out, "%s{\"id\":", first ? "" : ",");
    json_string(out, env->id);
    buf_printf(out, ",\"arrival\":%" PRId64 ",\"size\":%" PRIu64 ",\"held\":%s,\"sender\":",
               env->arrival, env->size, env->held ? "true" : "false");
    json_string(out, env->sender);
    buf_append_str(out, ",\"recipients\":[");
    for (size_t i = 0; i < env->nrcpts; i++) {
        const struct envelope_rcpt *r = &env->rcpts[i];
        buf_printf(out, "%s{\"address\":", i ? "," : "");
        json_string(out, r->addr);
        buf_append_str(out, ",\"original\":");
        json_string(out, r->orig);
        buf_printf(out,
                   ",\"state\":\"%s\",\"attempts\":%u,\"next_attempt\":%" PRId64 ",\"last_error\":",
                   state_name(r->state), r->attempts, r->next_attempt);
        if (r->last_error)
            json_string(out, r->last_error);
        else
            buf_append_str(out, "null");
        buf_append_char(out, '}');
    }
    buf_append_str(out, "]}");
}

int control_listing(struct queue *q, bool json, struct buf *out)
{
    char *env_dir = xasprintf("%s/env", queue_dir(q));
    size_t n;
    int err;
    char **ids = list_ids(env_dir, &n, &err);
    free(env_dir);
    if (err != 0)
        return err;
    if (json)
        buf_append_char(out, '[');
    else if (n)
        buf_append_str(out, "-Queue ID-----------  --Size-- ----Arrival Time----  "
                            "-Sender/Recipient-------\n");
    uint64_t total = 0;
    size_t shown = 0;
    for (size_t i = 0; i < n; i++) {
        struct envelope *env = NULL;
        const char *why;
        /* An entry removed since the directory was read is simply left out. */
        if (queue_envelope_load(q, ids[i], &env, &why) == 0) {
            total += env->size;
            if (json)
                add_json(out, env, shown == 0);
            else
                add_text(out, env);
            shown++;
        }
        envelope_free(&env);
        free(ids[i]);
    }
    free(ids);
    if (json)
        buf_append_str(out, "]\n");
    else if (shown == 0)
        buf_append_str(out, "Mail queue is empty\n");
    else
        buf_printf(out, "-- %llu Kbytes in %zu Request%s.\n",
                   (unsigned long long)((total + 1023) / 1024), shown, shown == 1 ? "" : "s");
    return 0;
}
