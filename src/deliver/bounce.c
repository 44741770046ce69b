#include "deliver/bounce.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "queue/queue.h"
#include "util/buf.h"
#include "util/xmalloc.h"

#define HEADERS_MAX (64 * 1024) /* of the original message, in the bounce */

/* The original message's header section, read from the queue. */
static void read_headers(struct queue *q, const char *id, struct buf *out)
{
    int fd = queue_content_open(q, id);
    if (fd < 0)
        return;
    buf_reserve(out, HEADERS_MAX);
    ssize_t n;
    do
        n = pread(fd, out->data, HEADERS_MAX, 0);
    while (n < 0 && errno == EINTR);
    close(fd);
    if (n <= 0)
        return;
    out->len = dsn_header_section_len(out->data, (size_t)n, HEADERS_MAX);
    out->data[out->len] = '\0';
}

static int queue_dsn(struct queue *q, const char *hostname, const struct envelope *orig,
                     const struct dsn_rcpt *rcpts, size_t nrcpts, char *const *targets,
                     size_t ntargets, int64_t now, int64_t retry_until, struct envelope **env_r)
{
    struct queue_incoming *in = queue_incoming_new(q);
    if (in == NULL)
        return errno ? errno : EIO;
    struct buf headers, msg;
    buf_init(&headers);
    buf_init(&msg);
    read_headers(q, orig->id, &headers);
    char *boundary = xasprintf("%s/%s", in->id, hostname);
    char *message_id = xasprintf("<%s.%s@%s>", in->id, retry_until ? "delay" : "bounce", hostname);
    struct dsn_info info = {
        .reporting_mta = hostname,
        .queue_id = orig->id,
        .to = orig->sender,
        .envid = orig->envid,
        .arrival = orig->arrival,
        .now = now,
        .boundary = boundary,
        .message_id = message_id,
        .rcpts = rcpts,
        .nrcpts = nrcpts,
        .headers = headers.data,
        .headers_len = headers.len,
        .delayed = retry_until != 0,
        .retry_until = retry_until,
    };
    dsn_build(&info, &msg);
    free(boundary);
    free(message_id);
    buf_free(&headers);

    struct envelope *env = envelope_new(); /* the null sender */
    memcpy(env->id, in->id, sizeof(env->id));
    env->arrival = now;
    env->helo = xstrdup(hostname);
    env->client = xstrdup("local");
    env->size = msg.len;
    for (size_t i = 0; i < msg.len && !env->body_8bit; i++)
        env->body_8bit = (unsigned char)msg.data[i] >= 0x80;
    env->smtputf8 = orig->smtputf8 && env->body_8bit;
    for (size_t i = 0; i < ntargets; i++)
        if (envelope_find_rcpt(env, targets[i]) < 0)
            envelope_add_rcpt(env, targets[i], orig->sender);
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

int bounce_queue(struct queue *q, const char *hostname, const struct envelope *orig,
                 const struct dsn_rcpt *rcpts, size_t nrcpts, char *const *targets, size_t ntargets,
                 int64_t now, struct envelope **env_r)
{
    return queue_dsn(q, hostname, orig, rcpts, nrcpts, targets, ntargets, now, 0, env_r);
}

int bounce_queue_delay(struct queue *q, const char *hostname, const struct envelope *orig,
                       const struct dsn_rcpt *rcpts, size_t nrcpts, char *const *targets,
                       size_t ntargets, int64_t now, int64_t retry_until, struct envelope **env_r)
{
    return queue_dsn(q, hostname, orig, rcpts, nrcpts, targets, ntargets, now, retry_until, env_r);
}
