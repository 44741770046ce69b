/* RCPT TO an SRS address of ours (see srs_rcpt.h). */
#include "smtpd/srs_rcpt.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "conf/conf.h"
#include "daemon.h"
#include "deliver/scheduler.h"
#include "deliver/srs.h"
#include "deliver/srs_secret.h"
#include "proto/smtp_cmd.h"
#include "smtpd/session.h"
#include "snapshot.h"
#include "util/log.h"
#include "util/xmalloc.h"

enum smtpd_srs smtpd_srs_rcpt(struct smtpd_session *s, const char *local, const char *domain,
                              const struct smtp_rcpt_params *rp)
{
    const struct conf *conf = s->snap->conf;
    if (!conf->srs || conf->srs_domain == NULL || strcasecmp(domain, conf->srs_domain) != 0 ||
        !srs_is_srs(local))
        return SMTPD_SRS_NO;
    const struct srs_secret *k = scheduler_srs(s->d->scheduler);
    struct buf target;
    buf_init(&target);
    enum srs_result r = k ? srs_reverse(k->key, k->len, time(NULL), local, &target) : SRS_BAD_HASH;
    const char *why = srs_result_text(r);
    if (r == SRS_OK) {
        /* What comes out must be a plain remote address: never a path into
         * our own mailboxes, never an address the client could not send. */
        const char *at = strrchr(target.data, '@');
        if (!smtp_cmd_addr_ok(target.data, false) || at == NULL ||
            conf_is_local_domain(conf, at + 1)) {
            r = SRS_BAD_FORMAT;
            why = "SRS address that does not lead to a remote sender";
        }
    }
    if (r != SRS_OK) {
        log_info("event=rcpt_rejected client=%s rcpt=%s reason=srs_invalid detail=%s", s->ip,
                 log_q(local), log_q(why));
        smtpd_reply(s, 550, "5.1.1",
                    "<%s@%s>: Recipient address rejected: %s; this address does not forward "
                    "mail",
                    local, domain, why);
        buf_free(&target);
        return SMTPD_SRS_REFUSED;
    }
    char *given = xasprintf("%s@%s", local, domain);
    log_info("event=srs_reverse client=%s rcpt=%s to=%s", s->ip, log_q(given), log_q(target.data));
    if (envelope_find_rcpt(s->env, target.data) < 0) {
        struct envelope_rcpt *er = envelope_add_rcpt(s->env, target.data, given);
        er->notify = rp->notify;
        if (rp->orcpt[0])
            er->orcpt = xstrdup(rp->orcpt);
    }
    free(given);
    buf_free(&target);
    return SMTPD_SRS_ACCEPTED;
}
