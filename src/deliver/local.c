#include "deliver/local.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf.h"
#include "deliver/maildir.h"
#include "queue/queue.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/xmalloc.h"

int64_t local_retry_delay(const struct conf *conf, unsigned attempts)
{
    size_t i = attempts == 0 ? 0 : attempts - 1;
    if (i >= conf->nretry)
        i = conf->nretry - 1;
    int64_t s = conf->retry_ms[i] / 1000;
    return s > 0 ? s : 1;
}

static bool is_local(const struct conf *conf, const char *addr)
{
    const char *at = strrchr(addr, '@');
    return at && conf_is_local_domain(conf, at + 1);
}

void local_attempt_run(struct local_attempt *a)
{
    if (a->env == NULL) {
        const char *why = NULL;
        int rc = queue_envelope_load(a->queue, a->id, &a->env, &why);
        if (rc != 0) {
            log_error("event=queue_load_failed id=%s error=%s", a->id,
                      log_q(why ? why : strerror(rc)));
            a->load_failed = true;
            return;
        }
    }
    struct envelope *env = a->env;
    if (env->held)
        return; /* `postern queue hold` */
    bool changed = false;
    int fd = -1;
    for (size_t i = 0; i < env->nrcpts; i++) {
        struct envelope_rcpt *r = &env->rcpts[i];
        if (r->state != RCPT_PENDING || !is_local(a->conf, r->addr))
            continue;
        if (r->next_attempt > a->now)
            continue;
        if (fd < 0)
            fd = queue_content_open(a->queue, env->id);
        int rc = fd < 0 ? errno : 0;
        char *file = NULL;
        if (rc == 0) {
            struct buf prefix;
            buf_init(&prefix);
            buf_printf(&prefix, "Return-Path: <%s>\r\nDelivered-To: %s\r\n", env->sender, r->addr);
            rc = maildir_deliver(a->conf->data_dir, r->addr, prefix.data, fd, &file);
            buf_free(&prefix);
        }
        changed = true;
        r->attempts++;
        if (rc == 0) {
            r->state = RCPT_DONE;
            free(r->last_error);
            r->last_error = NULL;
            log_info("event=delivered id=%s to=%s orig_to=%s relay=local file=%s "
                     "delay=%llds status=2.0.0",
                     env->id, log_q(r->addr), log_q(r->orig), log_q(file),
                     (long long)(a->now - env->arrival));
        } else {
            free(r->last_error);
            r->last_error = xasprintf("4.2.0 local delivery failed: %s", strerror(rc));
            r->next_attempt = a->now + local_retry_delay(a->conf, r->attempts);
            log_warn("event=deferred id=%s to=%s relay=local status=4.2.0 error=%s "
                     "next_attempt_in=%llds",
                     env->id, log_q(r->addr), log_q(strerror(rc)),
                     (long long)(r->next_attempt - a->now));
        }
        free(file);
    }
    if (fd >= 0)
        close(fd);
    a->next_local = 0;
    for (size_t i = 0; i < env->nrcpts; i++) {
        const struct envelope_rcpt *r = &env->rcpts[i];
        if (r->state == RCPT_PENDING && is_local(a->conf, r->addr) &&
            (a->next_local == 0 || r->next_attempt < a->next_local))
            a->next_local = r->next_attempt > a->now ? r->next_attempt : a->now + 1;
    }
    if (envelope_pending(env) == 0) {
        int rc = queue_remove(a->queue, env->id);
        if (rc == 0) {
            a->removed = true;
            log_info("event=removed id=%s", env->id);
        } else {
            log_error("event=queue_remove_failed id=%s error=%s", env->id, log_q(strerror(rc)));
        }
        return;
    }
    if (changed) {
        int rc = queue_envelope_store(a->queue, env);
        if (rc != 0)
            log_error("event=queue_update_failed id=%s error=%s", env->id, log_q(strerror(rc)));
    }
}
