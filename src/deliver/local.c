/* One local delivery attempt, in a worker: each due local recipient's
 * Maildir copy, loop detection by Delivered-To:, and the envelope updated
 * with the outcome (see local.h). */
#include "deliver/local.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/users.h"
#include "conf/conf.h"
#include "deliver/maildir.h"
#include "deliver/retry.h"
#include "proto/headers.h"
#include "proto/smtp_parse.h"
#include "queue/queue.h"
#include "store/maildirsize.h"
#include "store/store_quota.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/xmalloc.h"

static bool is_local(const struct conf *conf, const char *addr)
{
    const char *at = strrchr(addr, '@');
    return at && conf_is_local_domain(conf, at + 1);
}

static void defer(struct local_attempt *a, const struct envelope *env, struct envelope_rcpt *r,
                  int rc)
{
    free(r->last_error);
    r->last_error = xasprintf("4.2.0 local delivery failed: %s", strerror(rc));
    r->next_attempt = retry_next(a->conf, r->attempts, env->arrival, a->now);
    log_warn("event=deferred id=%s to=%s relay=local status=4.2.0 error=%s next_attempt_in=%llds",
             env->id, log_q(r->addr), log_q(strerror(rc)), (long long)(r->next_attempt - a->now));
}

/* The mailbox's storage limit (0: none). */
static uint64_t quota_of(const struct local_attempt *a, const char *addr)
{
    return a->users ? user_table_quota(a->users, addr, a->conf->imap_quota) : a->conf->imap_quota;
}

/* Whether the prepared copy (its size is in its name) would take the
 * mailbox over its limit. A usage that cannot be read lets it in. */
static bool over_quota(const struct local_attempt *a, const char *addr, const char *name)
{
    uint64_t limit = quota_of(a, addr), size;
    if (limit == 0 || !maildirsize_name_size(name, &size))
        return false;
    char *box = maildir_path(a->conf->data_dir, addr);
    struct store_quota_usage u;
    bool over = store_quota_usage(box, limit, &u) == 0 && u.bytes + size > limit;
    free(box);
    return over;
}

/* Mailbox full: retried on the normal schedule (space may be freed); the
 * 4.2.2 becomes 5.2.2 in the bounce when the message expires. */
static void defer_full(struct local_attempt *a, const struct envelope *env, struct envelope_rcpt *r)
{
    free(r->last_error);
    r->last_error = xasprintf("4.2.2 <%s>: Mailbox full, over its storage quota", r->addr);
    r->next_attempt = retry_next(a->conf, r->attempts, env->arrival, a->now);
    log_warn("event=deferred id=%s to=%s relay=local status=4.2.2 error=mailbox_full "
             "next_attempt_in=%llds",
             env->id, log_q(r->addr), (long long)(r->next_attempt - a->now));
}

#define LOOP_HEADER_MAX (64 * 1024)

/* The start of the message's header section (enough for its trace fields),
 * read without moving fd's offset; empty if it cannot be read (the copy is
 * then written, and its own read reports the error). */
static char *read_head(int fd, size_t *len_r)
{
    char *h = xmalloc(LOOP_HEADER_MAX);
    size_t len = 0;
    while (len < LOOP_HEADER_MAX) {
        ssize_t n = pread(fd, h + len, LOOP_HEADER_MAX - len, (off_t)len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (memmem(h, len, "\r\n\r\n", 4) || memmem(h, len, "\n\n", 2))
            break;
    }
    *len_r = len;
    return h;
}

/* A mail loop: the message already went into this very mailbox once (our
 * own Delivered-To: field came back). Delivering again would go round
 * forever; it fails for good (5.4.6) and bounces. */
static void loop_fail(struct local_attempt *a, const struct envelope *env, struct envelope_rcpt *r)
{
    r->attempts++;
    free(r->last_error);
    r->last_error = xasprintf("5.4.6 mail loop: the message already has Delivered-To: %s", r->addr);
    log_warn("event=mail_loop id=%s to=%s relay=local status=5.4.6", env->id, log_q(r->addr));
    a->loops = xrealloc(a->loops, (a->nloops + 1) * sizeof(*a->loops));
    a->loops[a->nloops++] = (size_t)(r - env->rcpts);
}

/* Moves a prepared copy into new/ and records the outcome. */
static void finish_copy(struct local_attempt *a, const struct envelope *env,
                        struct envelope_rcpt *r, bool recovering)
{
    int rc = maildir_commit(a->conf->data_dir, r->addr, r->file);
    uint64_t size;
    if (rc == 0 && maildirsize_name_size(r->file, &size)) {
        char *box = maildir_path(a->conf->data_dir, r->addr);
        store_quota_change(box, quota_of(a, r->addr), (int64_t)size, 1);
        free(box);
    }
    if (rc == 0) {
        r->state = RCPT_DONE;
        a->delivered = xrealloc(a->delivered, (a->ndelivered + 1) * sizeof(*a->delivered));
        a->delivered[a->ndelivered++] = xstrdup(r->addr);
        if ((r->notify & SMTP_NOTIFY_SUCCESS) && env->sender[0] != '\0') {
            a->report = xrealloc(a->report, (a->nreport + 1) * sizeof(*a->report));
            a->report[a->nreport++] = (size_t)(r - env->rcpts);
        }
        free(r->last_error);
        r->last_error = NULL;
        log_info("event=delivered id=%s to=%s orig_to=%s relay=local file=%s delay=%llds "
                 "status=2.0.0%s",
                 env->id, log_q(r->addr), log_q(r->orig), log_q(r->file),
                 (long long)(a->now - env->arrival), recovering ? " recovered=yes" : "");
    } else {
        /* The copy is in neither tmp/ nor new/ (or cannot be moved): it was
         * never visible, so deliver it again. */
        maildir_discard(a->conf->data_dir, r->addr, r->file);
        r->state = RCPT_PENDING;
        defer(a, env, r, rc);
    }
    free(r->file);
    r->file = NULL;
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
    /* Phase 0: finish the copies a crash left between tmp/ and new/. */
    for (size_t i = 0; i < env->nrcpts; i++) {
        struct envelope_rcpt *r = &env->rcpts[i];
        if (r->state == RCPT_DELIVERING) {
            changed = true;
            finish_copy(a, env, r, true);
        }
    }
    /* Phase 1: write every due copy into tmp/ (fsynced). */
    int fd = -1;
    size_t prepared = 0;
    char *head = NULL;
    size_t head_len = 0;
    for (size_t i = 0; i < env->nrcpts; i++) {
        struct envelope_rcpt *r = &env->rcpts[i];
        if (r->state != RCPT_PENDING || !is_local(a->conf, r->addr))
            continue;
        if (r->next_attempt > a->now)
            continue;
        if (fd < 0) {
            fd = queue_content_open(a->queue, env->id);
            if (fd >= 0)
                head = read_head(fd, &head_len);
        }
        int rc = fd < 0 ? errno : 0;
        if (rc == 0 && head && header_has_value(head, head_len, "Delivered-To", r->addr)) {
            changed = true;
            loop_fail(a, env, r);
            continue;
        }
        char *name = NULL;
        if (rc == 0) {
            struct buf prefix;
            buf_init(&prefix);
            buf_printf(&prefix, "Return-Path: <%s>\r\nDelivered-To: %s\r\n", env->sender, r->addr);
            if (env->prepend)
                buf_append_str(&prefix, env->prepend);
            rc = maildir_prepare(a->conf->data_dir, r->addr, prefix.data, fd, &name);
            buf_free(&prefix);
        }
        changed = true;
        r->attempts++;
        if (rc == 0 && over_quota(a, r->addr, name)) {
            maildir_discard(a->conf->data_dir, r->addr, name);
            free(name);
            defer_full(a, env, r);
        } else if (rc == 0) {
            r->state = RCPT_DELIVERING;
            r->file = name;
            prepared++;
        } else {
            defer(a, env, r, rc);
        }
    }
    if (fd >= 0)
        close(fd);
    free(head);
    /* Phase 2: record the names durably, then move the copies into new/.
     * A crash before the record leaves only tmp/ files (retried, never
     * seen); after it, recovery finishes the move: exactly one copy. */
    if (prepared) {
        int rc = queue_envelope_store(a->queue, env);
        for (size_t i = 0; i < env->nrcpts; i++) {
            struct envelope_rcpt *r = &env->rcpts[i];
            if (r->state != RCPT_DELIVERING)
                continue;
            if (rc == 0) {
                finish_copy(a, env, r, false);
            } else {
                maildir_discard(a->conf->data_dir, r->addr, r->file);
                free(r->file);
                r->file = NULL;
                r->state = RCPT_PENDING;
                defer(a, env, r, rc);
            }
        }
    }
    a->next_local = 0;
    for (size_t i = 0; i < env->nrcpts; i++) {
        const struct envelope_rcpt *r = &env->rcpts[i];
        if (r->state == RCPT_PENDING && is_local(a->conf, r->addr) &&
            (a->next_local == 0 || r->next_attempt < a->next_local))
            a->next_local = r->next_attempt > a->now ? r->next_attempt : a->now + 1;
    }
    if (envelope_pending(env) == 0 && a->nreport == 0) {
        int rc = queue_remove(a->queue, env->id);
        if (rc == 0) {
            a->removed = true;
            log_info("event=removed id=%s", env->id);
        } else {
            log_error("event=queue_remove_failed id=%s error=%s", env->id, log_q(strerror(rc)));
        }
        return;
    }
    /* With a success report to queue, the envelope keeps saying
     * "delivering" until the caller has queued it and stores the outcome:
     * a crash in between finishes the copy again and repeats the report,
     * never loses it. */
    if (changed && a->nreport == 0) {
        int rc = queue_envelope_store(a->queue, env);
        if (rc != 0)
            log_error("event=queue_update_failed id=%s error=%s", env->id, log_q(strerror(rc)));
    }
}
