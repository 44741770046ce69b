/*
 * login: one password check of a session, shared by SMTP AUTH and POP3 so
 * that both behave alike. The hash is looked up on the loop and verified in
 * the worker pool; a failure charges the client address in the limiter, is
 * logged as "event=auth_failed client=IP user=... service=..." (the line
 * fail2ban-style tools read) and is reported only after a growing delay.
 *
 *   l = login_start(d, ip, service, user, password, done, arg);
 *   done(arg, result, user) runs later on the loop, once; l is freed then
 *   login_cancel(&l);   the session ended first: done is never called
 *
 * login_lockout_left() says whether an address is locked out right now.
 */
#ifndef POSTERN_AUTH_LOGIN_H
#define POSTERN_AUTH_LOGIN_H

#include <stdint.h>

#include "conf/conf.h"

struct daemon;
struct login;

enum login_result {
    LOGIN_OK,
    LOGIN_FAILED, /* wrong user or password; reported after the delay */
    LOGIN_LOCKED, /* this failure locked the address out */
};

typedef void (*login_done_fn)(void *arg, enum login_result result, const char *user);

struct login *login_start(struct daemon *d, const char *ip, enum service service, const char *user,
                          const char *password, login_done_fn done, void *arg);
void login_cancel(struct login **l);
/* Milliseconds the address is still locked out for (and logs the refusal),
 * or 0. */
uint64_t login_lockout_left(struct daemon *d, const char *ip, enum service service);

#endif
