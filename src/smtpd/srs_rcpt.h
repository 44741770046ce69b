/*
 * srs_rcpt: RCPT TO an SRS address of ours ([relay] srs_domain): the
 * bounce (or any mail) is accepted and relayed to the original sender when
 * the address is valid, refused with 550 5.1.1 when forged, altered,
 * expired or malformed. See deliver/srs.h for the scheme.
 */
#ifndef POSTERN_SMTPD_SRS_RCPT_H
#define POSTERN_SMTPD_SRS_RCPT_H

struct smtpd_session;
struct smtp_rcpt_params;

enum smtpd_srs { SMTPD_SRS_NO, SMTPD_SRS_ACCEPTED, SMTPD_SRS_REFUSED };

/* local: the local part as given (case kept: the original sender's local
 * part is restored from it); domain: lower-cased. NO: not an SRS address,
 * carry on. ACCEPTED: added to the envelope, not yet replied. REFUSED:
 * replied with 550. */
enum smtpd_srs smtpd_srs_rcpt(struct smtpd_session *s, const char *local, const char *domain,
                              const struct smtp_rcpt_params *rp);

#endif
