/* sasl_step: the server side of a PLAIN or LOGIN exchange (see sasl_step.h). */
#include "proto/sasl_step.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

static const char challenge_empty[] = "";
static const char challenge_username[] = "VXNlcm5hbWU6"; /* "Username:" */
static const char challenge_password[] = "UGFzc3dvcmQ6"; /* "Password:" */

void sasl_step_reset(struct sasl_step *st)
{
    OPENSSL_cleanse(&st->creds, sizeof(st->creds));
    st->stage = SASL_STAGE_IDLE;
    st->challenge = NULL;
    st->error = SASL_OK;
}

static enum sasl_step_result fail(struct sasl_step *st, enum sasl_result why)
{
    sasl_step_reset(st);
    st->error = why;
    return SASL_STEP_ERROR;
}

static enum sasl_step_result challenge(struct sasl_step *st, enum sasl_step_stage stage,
                                       const char *text)
{
    st->stage = stage;
    st->challenge = text;
    return SASL_STEP_CHALLENGE;
}

static bool mech_is(const char *mech, size_t len, const char *name)
{
    return len == strlen(name) && strncasecmp(mech, name, len) == 0;
}

enum sasl_step_result sasl_step_start(struct sasl_step *st, unsigned offered, const char *mech,
                                      size_t mech_len, const char *initial, size_t initial_len)
{
    sasl_step_reset(st);
    if ((offered & SASL_MECH_PLAIN) && mech_is(mech, mech_len, "PLAIN"))
        st->stage = SASL_STAGE_PLAIN;
    else if ((offered & SASL_MECH_LOGIN) && mech_is(mech, mech_len, "LOGIN"))
        st->stage = SASL_STAGE_LOGIN_USER;
    else
        return fail(st, SASL_UNKNOWN_MECH);
    if (initial == NULL)
        return challenge(st, st->stage,
                         st->stage == SASL_STAGE_PLAIN ? challenge_empty : challenge_username);
    if (initial_len == 1 && initial[0] == '=')
        initial_len = 0;
    return sasl_step_feed(st, initial, initial_len);
}

enum sasl_step_result sasl_step_feed(struct sasl_step *st, const char *line, size_t len)
{
    st->challenge = NULL;
    if (len == 1 && line[0] == '*') {
        sasl_step_reset(st);
        return SASL_STEP_CANCELLED;
    }
    struct sasl_creds *c = &st->creds;
    enum sasl_result r;
    switch (st->stage) {
    case SASL_STAGE_PLAIN:
        r = sasl_plain_decode(line, len, c);
        if (r != SASL_OK)
            return fail(st, r);
        /* Acting as someone else is not offered: only oneself, any case. */
        if (c->authzid[0] && strcasecmp(c->authzid, c->user) != 0)
            return fail(st, SASL_AUTHZID);
        st->stage = SASL_STAGE_IDLE;
        return SASL_STEP_READY;
    case SASL_STAGE_LOGIN_USER:
        r = sasl_login_decode(line, len, c->user, sizeof(c->user));
        if (r != SASL_OK)
            return fail(st, r);
        return challenge(st, SASL_STAGE_LOGIN_PASS, challenge_password);
    case SASL_STAGE_LOGIN_PASS:
        r = sasl_login_decode(line, len, c->password, sizeof(c->password));
        if (r != SASL_OK)
            return fail(st, r);
        st->stage = SASL_STAGE_IDLE;
        return SASL_STEP_READY;
    case SASL_STAGE_IDLE:
        break;
    }
    return fail(st, SASL_MALFORMED); /* no exchange is running */
}
