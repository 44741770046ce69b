/*
 * mailauth: the inbound checks of one SMTP transaction (SPF, DKIM, DMARC)
 * run on the event loop with the asynchronous resolver; nothing blocks.
 * It drives the pure state machines of spf.h, dkim_verify.h and dmarc.h
 * with DNS answers and builds the Authentication-Results field.
 *
 *   at MAIL FROM:   m = mailauth_new(base, resolver, conf->hostname);
 *                   mailauth_spf_start(m, client_ip, helo, mail_from);
 *   (optional, at RCPT when [mailauth] spf_reject: mailauth_wait_spf(m, fn, arg),
 *    then mailauth_spf_result(m) == SPF_FAIL -> 550 5.7.23)
 *   during DATA:    mailauth_data(m, decoded_chunk, n);   (CRLF lines, unstuffed)
 *   at the end:     mailauth_end(m, on_checked, arg);
 *   in on_checked:  mailauth_from(m), mailauth_dmarc_rejects(m) -> refuse;
 *                   else mailauth_authres(m, &field) ...
 *   RSET/QUIT/end:  mailauth_free(&m);   (cancels whatever is in flight)
 *
 * Key and _dmarc lookups start as soon as the header section has arrived,
 * while the body is still streaming. Callbacks run on the loop, never
 * inside the call that requested them, and not at all once
 * mailauth_free() has run.
 */
#ifndef POSTERN_MAILAUTH_MAILAUTH_H
#define POSTERN_MAILAUTH_MAILAUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "dns/resolver.h"
#include "mailauth/dkim_verify.h"
#include "mailauth/dmarc.h"
#include "mailauth/spf.h"
#include "util/buf.h"

struct event_base;
struct mailauth;

typedef void (*mailauth_fn)(void *arg);

struct mailauth *mailauth_new(struct event_base *base, struct dns_resolver *resolver,
                              const char *hostname);
/* sender: the MAIL FROM address ("" for the null sender: HELO is checked). */
void mailauth_spf_start(struct mailauth *m, const char *ip, const char *helo, const char *sender);
/* fn(arg) once SPF has its result (at once, deferred, when it already has). */
void mailauth_wait_spf(struct mailauth *m, mailauth_fn fn, void *arg);
void mailauth_data(struct mailauth *m, const void *data, size_t len);
/* The message ended: fn(arg) once SPF, every DKIM signature and DMARC have
 * results. Replaces a pending mailauth_wait_spf() callback. */
void mailauth_end(struct mailauth *m, mailauth_fn fn, void *arg);

/* Results (after the callbacks). */
enum spf_result mailauth_spf_result(const struct mailauth *m);
size_t mailauth_dkim_count(const struct mailauth *m);
const struct dkim_sig_result *mailauth_dkim(const struct mailauth *m, size_t i);
const struct dmarc_outcome *mailauth_dmarc(const struct mailauth *m);
/* DMARC failed under a policy whose disposition is reject (after pct=). */
bool mailauth_dmarc_rejects(const struct mailauth *m);
/* What the From field allows (RFC 7489 6.6.1; anything but DMARC_FROM_OK
 * leaves DMARC nothing to check: the smtp listener refuses it), and
 * whether the header section was too large to be seen whole
 * (DKIM_HEADER_MAX), so that a field past the limit went unchecked. */
enum dmarc_from mailauth_from(const struct mailauth *m);
bool mailauth_header_truncated(const struct mailauth *m);
/* Appends "Authentication-Results: HOSTNAME; ...CRLF". */
void mailauth_authres(const struct mailauth *m, struct buf *out);
/* The message's header section as received (to strip forged
 * Authentication-Results with authres_strip()). */
const char *mailauth_header(const struct mailauth *m, size_t *len_r);

void mailauth_free(struct mailauth **m);

#endif
