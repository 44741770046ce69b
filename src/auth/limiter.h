/*
 * limiter: failed logins per client address, shared by SMTP AUTH and POP3.
 * Each failure makes the next reply to that address slower; past
 * [auth] failure_limit failures it is refused for [auth] lockout. Entries
 * expire on their own; the table is capped so a flood of addresses cannot
 * grow memory without bound. Event-loop only.
 */
#ifndef POSTERN_AUTH_LIMITER_H
#define POSTERN_AUTH_LIMITER_H

#include <stdbool.h>
#include <stdint.h>

struct auth_limiter;
struct conf;

struct auth_limiter *auth_limiter_new(void);
void auth_limiter_free(struct auth_limiter **l);

/* Milliseconds the address is still locked out for, 0 if it is not. */
uint64_t auth_limiter_locked(struct auth_limiter *l, const char *ip, uint64_t now_ms);
/* Records a failure; returns how long to delay the reply (ms). Sets
 * *locked_r when this failure starts a lockout. */
unsigned auth_limiter_failure(struct auth_limiter *l, const struct conf *conf, const char *ip,
                              uint64_t now_ms, bool *locked_r);
void auth_limiter_success(struct auth_limiter *l, const char *ip);

#endif
