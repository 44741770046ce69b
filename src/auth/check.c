/* One password check (see check.h): the hash is verified in the worker
 * pool, a failure is reported after the limiter's delay. */
#include "auth/check.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "auth/limiter.h"
#include "auth/password.h"
#include "auth/users.h"
#include "daemon.h"
#include "proto/sasl.h"
#include "util/log.h"
#include "util/worker.h"
#include "util/xmalloc.h"

struct auth_check {
    struct daemon *d;
    char ip[64];
    enum service service;
    char user[SASL_USER_MAX + 1];
    char password[SASL_PASSWORD_MAX + 1];
    char *hash;
    bool ok;
    struct worker_job *verifying; /* the hash check in the worker pool */
    struct event *delay;
    auth_check_done_fn done;
    void *arg;
};

static uint64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

/* Also the discard of a cancelled check: the password is wiped. */
static void auth_check_free(void *arg)
{
    struct auth_check *l = arg;
    OPENSSL_cleanse(l->password, sizeof(l->password));
    free(l->hash);
    if (l->delay)
        event_free(l->delay);
    free(l);
}

static void finish(struct auth_check *l, enum auth_check_result r)
{
    l->done(l->arg, r, l->user);
    auth_check_free(l);
}

static void on_delay(evutil_socket_t fd, short what, void *arg)
{
    finish(arg, AUTH_CHECK_FAILED);
}

static void verify_work(void *arg)
{
    struct auth_check *l = arg;
    l->ok = password_verify(l->password, l->hash);
}

static void verify_done(void *arg)
{
    struct auth_check *l = arg;
    l->verifying = NULL;
    OPENSSL_cleanse(l->password, sizeof(l->password));
    struct daemon *d = l->d;
    if (l->ok) {
        auth_limiter_success(d->auth_limiter, l->ip);
        log_info("event=auth_ok client=%s user=%s service=%s", l->ip, log_q(l->user),
                 service_name(l->service));
        finish(l, AUTH_CHECK_OK);
        return;
    }
    bool locked;
    unsigned delay = auth_limiter_failure(d->auth_limiter, d->conf, l->ip, now_ms(), &locked);
    log_warn("event=auth_failed client=%s user=%s service=%s", l->ip, log_q(l->user),
             service_name(l->service));
    if (locked) {
        log_warn("event=auth_lockout client=%s seconds=%u", l->ip, d->conf->auth_lockout_ms / 1000);
        finish(l, AUTH_CHECK_LOCKED);
        return;
    }
    l->delay = evtimer_new(d->base, on_delay, l);
    struct timeval tv = {.tv_sec = delay / 1000, .tv_usec = (delay % 1000) * 1000};
    evtimer_add(l->delay, &tv);
}

struct auth_check *auth_check_start(struct daemon *d, const char *ip, enum service service,
                                    const char *user, const char *password, auth_check_done_fn done,
                                    void *arg)
{
    struct auth_check *l = xcalloc(1, sizeof(*l));
    l->d = d;
    snprintf(l->ip, sizeof(l->ip), "%s", ip);
    l->service = service;
    snprintf(l->user, sizeof(l->user), "%s", user);
    address_lower(l->user);
    snprintf(l->password, sizeof(l->password), "%s", password);
    /* Only a mailbox whose path is safe can log in; anything else is checked
     * against the dummy hash, as an unknown user is (same time, same answer). */
    const char *hash =
        address_mailbox_safe(l->user) ? user_table_password_hash(d->users, l->user) : NULL;
    l->hash = hash ? xstrdup(hash) : NULL;
    l->done = done;
    l->arg = arg;
    l->verifying = worker_pool_submit(d->workers, verify_work, verify_done, l);
    return l;
}

void auth_check_cancel(struct auth_check **lp)
{
    struct auth_check *l = *lp;
    if (l == NULL)
        return;
    *lp = NULL;
    if (l->verifying)
        worker_job_cancel(&l->verifying, auth_check_free); /* freed once the worker lets go */
    else
        auth_check_free(l);
}

uint64_t auth_check_lockout_left(struct daemon *d, const char *ip, enum service service)
{
    uint64_t left = auth_limiter_locked(d->auth_limiter, ip, now_ms());
    if (left)
        log_warn("event=auth_refused client=%s reason=lockout seconds_left=%llu service=%s", ip,
                 (unsigned long long)(left / 1000), service_name(service));
    return left;
}
