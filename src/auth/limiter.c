/* Failed logins per client address: growing delays, then a lockout, in a
 * capped table whose entries expire. Event-loop only. */
#include "auth/limiter.h"

#include <stdlib.h>

#include "conf/conf.h"
#include "util/strmap.h"
#include "util/xmalloc.h"

#define LIMITER_MAX_ENTRIES 100000
#define DELAY_CAP_MS        10000

struct failures {
    unsigned count;
    uint64_t last_ms;
    uint64_t locked_until_ms;
    uint64_t forget_after_ms;
};

struct auth_limiter {
    struct strmap *by_ip;
};

struct auth_limiter *auth_limiter_new(void)
{
    struct auth_limiter *l = xcalloc(1, sizeof(*l));
    l->by_ip = strmap_new();
    return l;
}

void auth_limiter_free(struct auth_limiter **lp)
{
    if (*lp == NULL)
        return;
    strmap_free(&(*lp)->by_ip, free);
    free(*lp);
    *lp = NULL;
}

static int expired(const char *key, void *value, void *arg)
{
    struct failures *f = value;
    if (f->forget_after_ms <= *(const uint64_t *)arg) {
        free(f);
        return 1;
    }
    return 0;
}

uint64_t auth_limiter_locked(struct auth_limiter *l, const char *ip, uint64_t now_ms)
{
    struct failures *f = strmap_get(l->by_ip, ip);
    return f && f->locked_until_ms > now_ms ? f->locked_until_ms - now_ms : 0;
}

unsigned auth_limiter_failure(struct auth_limiter *l, const struct conf *conf, const char *ip,
                              uint64_t now_ms, bool *locked_r)
{
    *locked_r = false;
    if (strmap_count(l->by_ip) >= LIMITER_MAX_ENTRIES)
        strmap_sweep(l->by_ip, expired, &now_ms);
    struct failures *f = strmap_get(l->by_ip, ip);
    if (f && f->forget_after_ms <= now_ms) {
        f->count = 0;
        f->locked_until_ms = 0;
    }
    if (f == NULL) {
        if (strmap_count(l->by_ip) >= LIMITER_MAX_ENTRIES)
            return conf->auth_failure_delay_ms; /* full of live entries: still delay */
        f = xcalloc(1, sizeof(*f));
        strmap_put(l->by_ip, ip, f);
    }
    f->count++;
    f->last_ms = now_ms;
    /* A failure is remembered for the lockout period. */
    f->forget_after_ms = now_ms + conf->auth_lockout_ms;
    if (f->count >= conf->auth_failure_limit) {
        f->locked_until_ms = now_ms + conf->auth_lockout_ms;
        *locked_r = true;
    }
    uint64_t delay = (uint64_t)conf->auth_failure_delay_ms * f->count;
    return (unsigned)(delay > DELAY_CAP_MS ? DELAY_CAP_MS : delay);
}

void auth_limiter_success(struct auth_limiter *l, const char *ip)
{
    free(strmap_del(l->by_ip, ip));
}
