/*
 * check: one password check of a session, shared by SMTP AUTH and POP3 so
 * that both behave alike. The hash is looked up on the loop and verified in
 * the worker pool; a failure charges the client address in the limiter, is
 * logged as "event=auth_failed client=IP user=... service=..." (the line
 * fail2ban-style tools read) and is reported only after a growing delay.
 *
 *   c = auth_check_start(d, ip, service, user, password, done, arg);
 *   done(arg, result, user) runs later on the loop, once; c is freed then
 *   auth_check_cancel(&c);   the session ended first: done is never called
 *
 * auth_check_lockout_left() says whether an address is locked out right now.
 */
#ifndef POSTERN_AUTH_CHECK_H
#define POSTERN_AUTH_CHECK_H

#include <stdint.h>

#include "conf/conf.h"

struct daemon;
struct auth_check;

enum auth_check_result {
    AUTH_CHECK_OK,
    AUTH_CHECK_FAILED, /* wrong user or password; reported after the delay */
    AUTH_CHECK_LOCKED, /* this failure locked the address out */
};

typedef void (*auth_check_done_fn)(void *arg, enum auth_check_result result, const char *user);

struct auth_check *auth_check_start(struct daemon *d, const char *ip, enum service service,
                                    const char *user, const char *password, auth_check_done_fn done,
                                    void *arg);
void auth_check_cancel(struct auth_check **c);
/* Milliseconds the address is still locked out for (and logs the refusal),
 * or 0. */
uint64_t auth_check_lockout_left(struct daemon *d, const char *ip, enum service service);

#endif
