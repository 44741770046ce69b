/*
 * password: crypt(3) hashes through libxcrypt's crypt_r (yescrypt for new
 * hashes). Verification is deliberately slow: call it from a worker, never
 * on the event loop.
 */
#ifndef POSTERN_AUTH_PASSWORD_H
#define POSTERN_AUTH_PASSWORD_H

#include <stdbool.h>

/* (worker) True if password matches hash. A missing or disabled hash (NULL,
 * "!", "*") is checked against a dummy hash so that an unknown user costs
 * the same time as a wrong password, and then fails. */
bool password_verify(const char *password, const char *hash);
/* A new yescrypt hash of password (caller frees), or NULL on failure. */
char *password_hash_new(const char *password);

#endif
