/* Fuzzes the SASL exchange (proto/sasl_step.h) as a service drives it. The
 * first octet picks the offered mechanisms (bits 0-1) and whether an initial
 * response is sent (bit 2); the rest, split at LF, is the mechanism name,
 * the initial response, then the client's lines. Each piece is copied into a
 * buffer of exactly its size, so ASan sees any read past it. Invariants:
 * a challenge is one of the three the mechanisms send; credentials handed
 * out are non-empty, within the limits, free of NUL, CR and LF, for an
 * offered mechanism, with the authzid empty or the user's; after a cancel
 * or an error nothing is left in the step; a finished exchange takes no
 * more credentials. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/sasl_step.h"

static void check_field(const char *s, size_t cap, bool nonempty)
{
    size_t n = strnlen(s, cap);
    if (n >= cap || (nonempty && n == 0) || memchr(s, '\r', n) || memchr(s, '\n', n))
        __builtin_trap();
}

static void check_wiped(const struct sasl_step *st)
{
    static const struct sasl_creds zero;
    if (st->stage != SASL_STAGE_IDLE || memcmp(&st->creds, &zero, sizeof(zero)) != 0)
        __builtin_trap();
}

/* Checks one result; returns true while the exchange goes on. */
static bool check(struct sasl_step *st, enum sasl_step_result r, unsigned offered)
{
    switch (r) {
    case SASL_STEP_CHALLENGE:
        if (st->stage == SASL_STAGE_IDLE || st->challenge == NULL)
            __builtin_trap();
        if (strcmp(st->challenge, st->stage == SASL_STAGE_PLAIN        ? ""
                                  : st->stage == SASL_STAGE_LOGIN_USER ? "VXNlcm5hbWU6"
                                                                       : "UGFzc3dvcmQ6") != 0)
            __builtin_trap();
        if ((st->stage == SASL_STAGE_PLAIN && !(offered & SASL_MECH_PLAIN)) ||
            (st->stage != SASL_STAGE_PLAIN && !(offered & SASL_MECH_LOGIN)))
            __builtin_trap();
        return true;
    case SASL_STEP_READY:
        if (st->stage != SASL_STAGE_IDLE || offered == 0)
            __builtin_trap();
        check_field(st->creds.user, sizeof(st->creds.user), true);
        check_field(st->creds.password, sizeof(st->creds.password), true);
        check_field(st->creds.authzid, sizeof(st->creds.authzid), false);
        if (st->creds.authzid[0] && strcasecmp(st->creds.authzid, st->creds.user) != 0)
            __builtin_trap();
        sasl_step_reset(st);
        check_wiped(st);
        return false;
    case SASL_STEP_CANCELLED:
        check_wiped(st);
        return false;
    case SASL_STEP_ERROR:
        check_wiped(st);
        if (st->error == SASL_OK || st->error > SASL_AUTHZID ||
            strlen(sasl_result_text(st->error)) < 3)
            __builtin_trap();
        return false;
    }
    __builtin_trap();
}

/* The next LF-separated piece, copied into a buffer of its exact size. */
static char *piece(const uint8_t **p, const uint8_t *end, size_t *len)
{
    const uint8_t *lf = memchr(*p, '\n', (size_t)(end - *p));
    size_t n = lf ? (size_t)(lf - *p) : (size_t)(end - *p);
    char *out = malloc(n ? n : 1);
    memcpy(out, *p, n);
    *p += n + (lf != NULL);
    *len = n;
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned offered = data[0] & 3u;
    bool has_initial = data[0] & 4u;
    const uint8_t *p = data + 1, *end = data + size;
    size_t mlen, ilen = 0;
    char *mech = piece(&p, end, &mlen);
    char *initial = has_initial ? piece(&p, end, &ilen) : NULL;
    struct sasl_step st = {0};
    enum sasl_step_result r = sasl_step_start(&st, offered, mech, mlen, initial, ilen);
    bool known = (mlen == 5 && strncasecmp(mech, "PLAIN", 5) == 0 && (offered & SASL_MECH_PLAIN)) ||
                 (mlen == 5 && strncasecmp(mech, "LOGIN", 5) == 0 && (offered & SASL_MECH_LOGIN));
    if (known != !(r == SASL_STEP_ERROR && st.error == SASL_UNKNOWN_MECH))
        __builtin_trap();
    bool running = check(&st, r, offered);
    while (p < end) {
        size_t len;
        char *line = piece(&p, end, &len);
        bool cancel = len == 1 && line[0] == '*';
        r = sasl_step_feed(&st, line, len);
        if (!running && !(cancel ? r == SASL_STEP_CANCELLED
                                 : r == SASL_STEP_ERROR && st.error == SASL_MALFORMED))
            __builtin_trap(); /* nothing is taken once the exchange is over */
        running = check(&st, r, offered);
        free(line);
    }
    sasl_step_reset(&st);
    check_wiped(&st);
    free(initial);
    free(mech);
    return 0;
}
