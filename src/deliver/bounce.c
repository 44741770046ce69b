/* Queuing a delivery status notification (bounce, delay warning or success
 * report) as a new message from the null sender (see bounce.h). */
#include "deliver/bounce.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/users.h"
#include "conf/conf.h"
#include "proto/smtp_parse.h"
#include "queue/queue.h"
#include "util/buf.h"
#include "util/xmalloc.h"

#define HEADERS_MAX (64 * 1024) /* of the original message, in the bounce */

void bounce_targets(const struct conf *conf, const struct user_table *users, const char *sender,
                    char ***targets_r, size_t *n_r)
{
    *targets_r = NULL;
    *n_r = 0;
    const char *at = strrchr(sender, '@');
    if (at && conf_is_local_domain(conf, at + 1)) {
        user_table_resolve(users, sender, targets_r, n_r);
        return;
    }
    *targets_r = xcalloc(1, sizeof(char *));
    (*targets_r)[0] = xstrdup(sender);
    *n_r = 1;
}

/* The original message from the queue: its header section, or with full
 * all of it (at most BOUNCE_FULL_MAX octets, else the header section and
 * *full_r becomes false). */
static void read_original(struct queue *q, const char *id, bool *full_r, struct buf *out)
{
    int fd = queue_content_open(q, id);
    if (fd < 0) {
        *full_r = false;
        return;
    }
    struct stat st;
    if (*full_r && (fstat(fd, &st) != 0 || st.st_size > BOUNCE_FULL_MAX))
        *full_r = false;
    size_t want = *full_r ? (size_t)st.st_size : HEADERS_MAX;
    buf_reserve(out, want + 1);
    size_t got = 0;
    while (got < want) {
        ssize_t n = pread(fd, out->data + got, want - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (*full_r && got != want)
        *full_r = false; /* cut short: fall back to the headers we have */
    out->len = *full_r ? got : dsn_header_section_len(out->data, got, HEADERS_MAX);
    out->data[out->len] = '\0';
}

int bounce_queue(struct queue *q, const char *hostname, const struct envelope *orig,
                 const struct bounce_report *rep, struct envelope **env_r)
{
    struct queue_incoming *in = queue_incoming_new(q);
    if (in == NULL)
        return errno ? errno : EIO;
    struct buf original, msg;
    buf_init(&original);
    buf_init(&msg);
    /* RFC 3461 4.3: RET=FULL asks for the whole message in failure reports
     * only. */
    bool full = rep->kind == DSN_FAILURE && orig->ret == SMTP_RET_FULL;
    read_original(q, orig->id, &full, &original);
    static const char *const kinds[] = {
        [DSN_FAILURE] = "bounce", [DSN_DELAY] = "delay", [DSN_SUCCESS] = "success"};
    char *boundary = xasprintf("%s/%s", queue_incoming_id(in), hostname);
    char *message_id = xasprintf("<%s.%s@%s>", queue_incoming_id(in), kinds[rep->kind], hostname);
    struct dsn_info info = {
        .reporting_mta = hostname,
        .queue_id = orig->id,
        .to = orig->sender,
        .envid = orig->envid,
        .arrival = orig->arrival,
        .now = rep->now,
        .boundary = boundary,
        .message_id = message_id,
        .rcpts = rep->rcpts,
        .nrcpts = rep->nrcpts,
        .headers = original.data,
        .headers_len = original.len,
        .full = full,
        .kind = rep->kind,
        .retry_until = rep->retry_until,
    };
    dsn_build(&info, &msg);
    free(boundary);
    free(message_id);
    buf_free(&original);

    struct envelope *env = envelope_new(); /* the null sender */
    memcpy(env->id, queue_incoming_id(in), sizeof(env->id));
    env->arrival = rep->now;
    env->helo = xstrdup(hostname);
    env->client = xstrdup("local");
    env->size = msg.len;
    for (size_t i = 0; i < msg.len && !env->body_8bit; i++)
        env->body_8bit = (unsigned char)msg.data[i] >= 0x80;
    env->smtputf8 = orig->smtputf8 && env->body_8bit;
    for (size_t i = 0; i < rep->ntargets; i++)
        if (envelope_find_rcpt(env, rep->targets[i]) < 0)
            envelope_add_rcpt(env, rep->targets[i], orig->sender);
    queue_incoming_write(in, msg.data, msg.len);
    buf_free(&msg);
    int rc = queue_incoming_commit(in, env);
    if (rc != 0) {
        envelope_free(&env);
        return rc;
    }
    *env_r = env;
    return 0;
}
