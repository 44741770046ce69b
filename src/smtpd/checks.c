/*
 * The mail-authentication glue of the SMTP session (issue 7):
 *  - inbound on the smtp listener: SPF starts at MAIL, the content is fed to
 *    the DKIM/DMARC checks as it streams, and at the end of the message the
 *    session waits for the results before its 250 (a From field DMARC
 *    cannot evaluate: none, several, malformed, several domains, issue 11;
 *    DMARC p=reject and, when configured, SPF fail are refused; otherwise
 *    the Authentication-Results field goes into the envelope, written
 *    before the content on delivery);
 *  - on every listener, Authentication-Results fields claiming our host
 *    name are removed from the header section;
 *  - for authenticated users, a DKIM signer sees exactly the bytes written
 *    to the queue file and signs in the commit worker (data.c).
 * Nothing here blocks: lookups go through the asynchronous resolver.
 */
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "mailauth/authres.h"
#include "mailauth/dkim_keyring.h"
#include "mailauth/dkim_sign.h"
#include "mailauth/mailauth.h"
#include "smtpd/session.h"
#include "snapshot.h"
#include "util/log.h"
#include "util/xmalloc.h"

void smtpd_checks_mail(struct smtpd_session *s, const char *sender)
{
    struct daemon *d = s->d;
    if (s->service == SERVICE_SMTP && s->auth_user == NULL && d->resolver &&
        s->snap->conf->mailauth_checks) {
        s->checks = mailauth_new(d->base, d->resolver, s->snap->conf->hostname);
        mailauth_spf_start(s->checks, s->ip, s->helo ? s->helo : "", sender);
    }
}

void smtpd_checks_content_begin(struct smtpd_session *s)
{
    dkim_signer_free(&s->signer);
    if (s->auth_user && s->snap->dkim && s->snap->dkim->n > 0)
        s->signer = dkim_signer_new();
}

void smtpd_checks_data(struct smtpd_session *s, const char *data, size_t len)
{
    if (s->checks && len)
        mailauth_data(s->checks, data, len);
}

void smtpd_checks_written(struct smtpd_session *s, const char *data, size_t len)
{
    if (s->signer && len)
        dkim_signer_update(s->signer, data, len);
}

void smtpd_checks_strip_forged(struct smtpd_session *s, size_t *headers_len)
{
    const char *h = s->pending_out.data + s->content_start;
    struct buf clean;
    buf_init(&clean);
    size_t dropped = authres_strip(h, *headers_len, s->snap->conf->hostname, &clean);
    if (dropped) {
        log_warn("event=forged_authres_removed client=%s fields=%zu", s->ip, dropped);
        struct buf out;
        buf_init(&out);
        buf_append(&out, s->pending_out.data, s->content_start);
        buf_append(&out, clean.data, clean.len);
        size_t rest = s->content_start + *headers_len;
        buf_append(&out, s->pending_out.data + rest, s->pending_out.len - rest);
        buf_free(&s->pending_out);
        s->pending_out = out;
        *headers_len = clean.len;
    }
    buf_free(&clean);
}

/* RFC 7489 6.6.1: a message whose author DMARC cannot name is refused,
 * not let through unchecked (issue 11). */
static const struct smtp_error *from_refusal(const struct mailauth *m)
{
    static const struct smtp_error missing = {
        550, "5.6.0", "Message has no From: field (RFC 5322 3.6), so its author cannot be checked"};
    static const struct smtp_error many_fields = {
        550, "5.7.1", "Message has more than one From: field (RFC 5322 3.6, RFC 7489 6.6.1)"};
    static const struct smtp_error syntax = {
        550, "5.6.0", "From: field is not a valid address list (RFC 5322 3.4)"};
    static const struct smtp_error empty = {550, "5.6.0",
                                            "From: field holds no address (RFC 5322 3.6.2)"};
    static const struct smtp_error many_domains = {
        550, "5.7.1", "From: names authors in more than one domain (RFC 7489 6.6.1)"};
    static const struct smtp_error bad_domain = {
        550, "5.6.0", "From: address has no domain name that DMARC can check"};
    static const struct smtp_error too_large = {550, "5.6.0",
                                                "Header section too large to check (over 1 MB)"};
    if (mailauth_header_truncated(m))
        return &too_large;
    switch (mailauth_from(m)) {
    case DMARC_FROM_OK:
        return NULL;
    case DMARC_FROM_MISSING:
        return &missing;
    case DMARC_FROM_MANY_FIELDS:
        return &many_fields;
    case DMARC_FROM_SYNTAX:
        return &syntax;
    case DMARC_FROM_EMPTY:
        return &empty;
    case DMARC_FROM_MANY_DOMAINS:
        return &many_domains;
    case DMARC_FROM_BAD_DOMAIN:
        return &bad_domain;
    }
    return &syntax;
}

static void checked(void *arg)
{
    struct smtpd_session *s = arg;
    const struct conf *conf = s->snap->conf;
    struct mailauth *m = s->checks;
    const struct dmarc_outcome *dm = mailauth_dmarc(m);
    const struct smtp_error *refuse = from_refusal(m);
    static const struct smtp_error dmarc_reject = {
        550, "5.7.1",
        "Rejected by the DMARC policy of the From: domain (p=reject): the message is neither "
        "SPF- nor DKIM-aligned with it"};
    static const struct smtp_error spf_reject = {
        550, "5.7.23",
        "SPF check failed: this host is not allowed to send for the sender's domain"};
    if (refuse == NULL && conf->dmarc_reject && mailauth_dmarc_rejects(m))
        refuse = &dmarc_reject;
    else if (refuse == NULL && conf->spf_reject && mailauth_spf_result(m) == SPF_FAIL)
        refuse = &spf_reject;
    struct buf field;
    buf_init(&field);
    mailauth_authres(m, &field);
    /* The results in one log line: the field itself, unfolded. */
    for (size_t i = 0; i < field.len; i++)
        if (field.data[i] == '\r' || field.data[i] == '\n' || field.data[i] == '\t')
            field.data[i] = ' ';
    log_info("event=mailauth client=%s result=%s%s", s->ip, log_q(field.data),
             refuse ? " action=reject" : "");
    buf_reset(&field);
    mailauth_authres(m, &field);
    (void)dm;
    smtpd_commit_checked(s, refuse, refuse ? NULL : field.data);
    buf_free(&field);
}

bool smtpd_checks_end(struct smtpd_session *s)
{
    if (s->checks == NULL)
        return false;
    mailauth_end(s->checks, checked, s);
    return true;
}

void smtpd_checks_reset(struct smtpd_session *s)
{
    mailauth_free(&s->checks);
    dkim_signer_free(&s->signer);
}
