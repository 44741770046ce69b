/*
 * authres: the Authentication-Results header field (RFC 8601) that records
 * what Postern found, and the check for such fields arriving from outside
 * that claim to be ours (they must be removed: RFC 8601 5). Pure.
 *
 *   struct authres ar = {.hostname = conf->hostname, .spf = ..., .dkim = ...};
 *   authres_build(&ar, &field);     "Authentication-Results: ...CRLF", folded
 *   authres_strip(h, hlen, hostname, &out)  the header section without forged fields
 *
 * or, on a message as it streams into the queue file:
 *
 *   authres_filter_init(&f, hostname);
 *   authres_filter_update(&f, chunk, n, &out);   write out, then buf_reset(&out)
 *   authres_filter_finish(&f, &out);             at the end; frees f's buffer
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

#include "mailauth/dkim_canon.h"
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

/* The streaming form of authres_strip(): the header section is held back
 * until it is complete (its end, or the end of the message), then appended
 * without the forged fields; everything after it passes through as is. */
struct authres_filter {
    struct dkim_split split;
    char *hostname;
    bool flushed;
    size_t dropped; /* forged fields removed */
};

void authres_filter_init(struct authres_filter *f, const char *hostname);
void authres_filter_update(struct authres_filter *f, const void *data, size_t len, struct buf *out);
void authres_filter_finish(struct authres_filter *f, struct buf *out);

#endif
