/*
 * authres: the Authentication-Results header field (RFC 8601) that records
 * what Postern found, and the check for such fields arriving from outside
 * that claim to be ours (they must be removed: RFC 8601 5). Pure.
 *
 *   struct authres ar = {.hostname = conf->hostname, .spf = ..., .dkim = ...};
 *   authres_build(&ar, &field);     "Authentication-Results: ...CRLF", folded
 *   authres_strip(h, hlen, hostname, &out)  the header section without forged fields
 *
 * Everything that came from outside (addresses, domains, reasons taken from
 * DNS) is sanitised: values are tokens or quoted-strings, comments hold
 * printable ASCII without parentheses, so nothing can add a field or a
 * result.
 */
#ifndef POSTERN_MAILAUTH_AUTHRES_H
#define POSTERN_MAILAUTH_AUTHRES_H

#include <stdbool.h>
#include <stddef.h>

#include "mailauth/dkim_verify.h"
#include "mailauth/dmarc.h"
#include "mailauth/spf.h"
#include "util/buf.h"

struct authres {
    const char *hostname; /* the authserv-id */
    /* SPF: omitted when !have_spf */
    bool have_spf;
    enum spf_result spf;
    const char *spf_why;      /* a comment, or NULL */
    bool spf_helo;            /* the identity is HELO: smtp.helo=, else smtp.mailfrom= */
    const char *spf_identity; /* the HELO name, or the MAIL FROM address */
    /* DKIM: one result per signature; none when ndkim is 0 */
    bool have_dkim;
    const struct dkim_sig_result *const *dkim;
    size_t ndkim;
    /* DMARC: omitted when NULL */
    const struct dmarc_outcome *dmarc;
};

void authres_build(const struct authres *a, struct buf *out);

/* Whether field (a whole header field, name included) is an
 * Authentication-Results field whose authserv-id is hostname (ASCII case
 * ignored). */
bool authres_claims_host(const char *field, size_t len, const char *hostname);
/* Appends the header section h[0..hlen) to out without the fields that
 * authres_claims_host() matches; returns how many were dropped. */
size_t authres_strip(const char *h, size_t hlen, const char *hostname, struct buf *out);

#endif
