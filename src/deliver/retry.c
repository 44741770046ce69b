/* The retry schedule and the queue lifetime (see retry.h); pure. */
#include "deliver/retry.h"

#include "conf/conf.h"

int64_t retry_delay(const struct conf *conf, unsigned attempts)
{
    if (conf->nretry == 0)
        return 1; /* conf never leaves it empty; never index before it */
    size_t i = attempts == 0 ? 0 : attempts - 1;
    if (i >= conf->nretry)
        i = conf->nretry - 1;
    int64_t s = conf->retry_ms[i] / 1000;
    return s > 0 ? s : 1;
}

int64_t retry_expiry(const struct conf *conf, int64_t arrival)
{
    return arrival + (int64_t)(conf->queue_lifetime_ms / 1000);
}

bool retry_expired(const struct conf *conf, int64_t arrival, int64_t now)
{
    return now >= retry_expiry(conf, arrival);
}

int64_t retry_next(const struct conf *conf, unsigned attempts, int64_t arrival, int64_t now)
{
    int64_t next = now + retry_delay(conf, attempts);
    int64_t expiry = retry_expiry(conf, arrival);
    return next < expiry ? next : expiry;
}
