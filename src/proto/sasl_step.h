/*
 * sasl_step: one SASL exchange (RFC 4422) as a server runs it, the same for
 * every service (SMTP AUTH, POP3 AUTH, IMAP AUTHENTICATE). Pure: no I/O, no
 * globals, no allocation. The service keeps its own replies, line limits
 * and the password check; this decides what the client's lines mean.
 *
 *   r = sasl_step_start(&st, offered, mech, mech_len, initial, initial_len);
 *   while (r == SASL_STEP_CHALLENGE) {
 *       send st.challenge (base64 text; "" is the empty challenge)
 *       r = sasl_step_feed(&st, line, len);   the client's next line
 *   }
 *   SASL_STEP_READY      st.creds.user / st.creds.password are the login
 *                        (the authzid was empty or the user, in any case);
 *                        hand them on, then sasl_step_reset(&st) wipes them
 *   SASL_STEP_CANCELLED  the client sent "*"
 *   SASL_STEP_ERROR      st.error says why (sasl_result_text()):
 *                        SASL_UNKNOWN_MECH, SASL_AUTHZID, SASL_BAD_BASE64,
 *                        SASL_MALFORMED, SASL_TOO_LONG, SASL_BAD_OCTET
 *
 * After any result but CHALLENGE the exchange is over; after CANCELLED
 * and ERROR nothing secret is left in st. Mechanisms: PLAIN (RFC 4616) and
 * LOGIN (draft-murchison-sasl-login). Field limits are SASL_USER_MAX and
 * SASL_PASSWORD_MAX (sasl.h); line-length limits are the caller's.
 */
#ifndef POSTERN_PROTO_SASL_STEP_H
#define POSTERN_PROTO_SASL_STEP_H

#include <stddef.h>

#include "proto/sasl.h"

#define SASL_MECH_PLAIN 1u
#define SASL_MECH_LOGIN 2u

enum sasl_step_result {
    SASL_STEP_CHALLENGE,
    SASL_STEP_READY,
    SASL_STEP_CANCELLED,
    SASL_STEP_ERROR,
};

enum sasl_step_stage {
    SASL_STAGE_IDLE,       /* no exchange */
    SASL_STAGE_PLAIN,      /* PLAIN: waiting for the response */
    SASL_STAGE_LOGIN_USER, /* LOGIN: waiting for the user name */
    SASL_STAGE_LOGIN_PASS, /* LOGIN: the name came, waiting for the password */
};

struct sasl_step {
    enum sasl_step_stage stage;
    const char *challenge;  /* after SASL_STEP_CHALLENGE */
    enum sasl_result error; /* after SASL_STEP_ERROR */
    struct sasl_creds creds;
};

/* offered: the SASL_MECH_* bits the service offers. mech is matched without
 * regard to case. initial is the initial response (RFC 4954 4, RFC 5034 4)
 * or NULL if none was sent; "=" stands for an empty one, "*" cancels. */
enum sasl_step_result sasl_step_start(struct sasl_step *st, unsigned offered, const char *mech,
                                      size_t mech_len, const char *initial, size_t initial_len);
/* One response line (CRLF removed), as sent: "*" cancels. */
enum sasl_step_result sasl_step_feed(struct sasl_step *st, const char *line, size_t len);
/* Ends any exchange and wipes the credentials; safe to call at any time. */
void sasl_step_reset(struct sasl_step *st);

#endif
