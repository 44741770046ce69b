#include "auth/login.h"

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

struct login {
    struct daemon *d;
    char ip[64];
    enum service service;
    char user[SASL_USER_MAX + 1];
    char password[SASL_PASSWORD_MAX + 1];
    char *hash;
    bool ok;
    bool in_worker;
    bool cancelled;
    struct event *delay;
    login_done_fn done;
    void *arg;
};

static uint64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

static void login_free(struct login *l)
{
    OPENSSL_cleanse(l->password, sizeof(l->password));
    free(l->hash);
    if (l->delay)
        event_free(l->delay);
    free(l);
}

static void finish(struct login *l, enum login_result r)
{
    l->done(l->arg, r, l->user);
    login_free(l);
}

static void on_delay(evutil_socket_t fd, short what, void *arg)
{
    finish(arg, LOGIN_FAILED);
}

static void verify_work(void *arg)
{
    struct login *l = arg;
    l->ok = password_verify(l->password, l->hash);
}

static void verify_done(void *arg)
{
    struct login *l = arg;
    l->in_worker = false;
    OPENSSL_cleanse(l->password, sizeof(l->password));
    if (l->cancelled) {
        login_free(l);
        return;
    }
    struct daemon *d = l->d;
    if (l->ok) {
        auth_limiter_success(d->auth_limiter, l->ip);
        log_info("event=auth_ok client=%s user=%s service=%s", l->ip, log_q(l->user),
                 service_name(l->service));
        finish(l, LOGIN_OK);
        return;
    }
    bool locked;
    unsigned delay = auth_limiter_failure(d->auth_limiter, d->conf, l->ip, now_ms(), &locked);
    log_warn("event=auth_failed client=%s user=%s service=%s", l->ip, log_q(l->user),
             service_name(l->service));
    if (locked) {
        log_warn("event=auth_lockout client=%s seconds=%u", l->ip, d->conf->auth_lockout_ms / 1000);
        finish(l, LOGIN_LOCKED);
        return;
    }
    l->delay = evtimer_new(d->base, on_delay, l);
    struct timeval tv = {.tv_sec = delay / 1000, .tv_usec = (delay % 1000) * 1000};
    evtimer_add(l->delay, &tv);
}

struct login *login_start(struct daemon *d, const char *ip, enum service service, const char *user,
                          const char *password, login_done_fn done, void *arg)
{
    struct login *l = xcalloc(1, sizeof(*l));
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
    l->in_worker = true;
    worker_pool_submit(d->workers, verify_work, verify_done, l);
    return l;
}

void login_cancel(struct login **lp)
{
    struct login *l = *lp;
    if (l == NULL)
        return;
    if (l->in_worker)
        l->cancelled = true; /* freed when the worker hands it back */
    else
        login_free(l);
    *lp = NULL;
}

uint64_t login_lockout_left(struct daemon *d, const char *ip, enum service service)
{
    uint64_t left = auth_limiter_locked(d->auth_limiter, ip, now_ms());
    if (left)
        log_warn("event=auth_refused client=%s reason=lockout seconds_left=%llu service=%s", ip,
                 (unsigned long long)(left / 1000), service_name(service));
    return left;
}
