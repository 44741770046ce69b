/* RCPT TO a local mailbox with a storage limit (QUOTA): its maildirsize is
 * read in a worker, never on the loop, and the RCPT answered from there:
 * 452 4.2.2 when the mailbox is full (with SIZE=, when usage plus the size
 * would be over), 552 5.2.2 when the declared size alone is above the limit
 * (it can never fit). A RCPT whose targets are several (an alias) is
 * refused only when none of them could take the message; the others'
 * copies are then made and the full mailbox's is deferred at delivery. */
#include <stdlib.h>
#include <string.h>

#include "auth/users.h"
#include "daemon.h"
#include "deliver/maildir.h"
#include "smtpd/session.h"
#include "snapshot.h"
#include "store/store_quota.h"
#include "util/log.h"
#include "util/worker.h"
#include "util/xmalloc.h"

enum verdict { FITS, FULL, TOO_BIG };

struct rcpt_quota_job {
    struct smtpd_session *s;
    enum smtpd_state return_state; /* MAIL or RCPT, for a refusal */
    char *addr;
    struct smtp_rcpt_params rp;
    char **targets; /* every target of the RCPT */
    size_t n;
    /* worker's input: the targets with a limit */
    char **boxes;
    uint64_t *limits;
    size_t nboxes;
    bool others;   /* a target without a limit (or remote): the RCPT is taken */
    uint64_t size; /* MAIL FROM SIZE=, or 0 */
    /* worker's output */
    enum verdict verdict;
};

static void job_free(void *arg)
{
    struct rcpt_quota_job *j = arg;
    for (size_t i = 0; i < j->n; i++)
        free(j->targets[i]);
    free(j->targets);
    for (size_t i = 0; i < j->nboxes; i++)
        free(j->boxes[i]);
    free(j->boxes);
    free(j->limits);
    free(j->addr);
    free(j);
}

static void check_work(void *arg)
{
    struct rcpt_quota_job *j = arg;
    /* Refused only if every limited target refuses; TOO_BIG only if each
     * of them is too small for the message. */
    bool any_full = false, all_too_big = true;
    for (size_t i = 0; i < j->nboxes; i++) {
        if (j->size > j->limits[i])
            continue;
        all_too_big = false;
        struct store_quota_usage u;
        /* A usage that cannot be read does not refuse mail. */
        if (store_quota_usage(j->boxes[i], j->limits[i], &u) != 0) {
            j->verdict = FITS;
            return;
        }
        /* Full means not even a one-octet message would fit. */
        uint64_t need = j->size ? j->size : 1;
        if (u.bytes + need <= j->limits[i]) {
            j->verdict = FITS;
            return;
        }
        any_full = true;
    }
    j->verdict = all_too_big && !any_full ? TOO_BIG : FULL;
}

static void check_done(void *arg)
{
    struct rcpt_quota_job *j = arg;
    struct smtpd_session *s = j->s;
    s->rcpt_check = NULL;
    if (s->state != SMTPD_RCPT_CHECK) {
        job_free(j); /* closing meanwhile (shutdown): nothing to answer */
        return;
    }
    if (j->others || j->verdict == FITS) {
        smtpd_rcpt_add_targets(s, j->addr, &j->rp, j->targets, j->n);
        smtpd_rcpt_accepted(s, j->addr);
    } else if (j->verdict == TOO_BIG) {
        s->state = j->return_state;
        log_info("event=rcpt_rejected client=%s rcpt=%s reason=message_over_quota size=%llu", s->ip,
                 log_q(j->addr), (unsigned long long)j->size);
        smtpd_reply(s, 552, "5.2.2",
                    "<%s>: Mailbox full: the message is larger than the mailbox's storage limit",
                    j->addr);
    } else {
        s->state = j->return_state;
        log_info("event=rcpt_rejected client=%s rcpt=%s reason=mailbox_full", s->ip,
                 log_q(j->addr));
        smtpd_reply(s, 452, "4.2.2", "<%s>: Mailbox full, try again later", j->addr);
    }
    job_free(j);
    smtpd_wait_command(s);
    smtpd_process_input(s);
}

bool smtpd_rcpt_quota_start(struct smtpd_session *s, const char *addr,
                            const struct smtp_rcpt_params *rp, char *const *targets, size_t n)
{
    const struct conf *conf = s->snap->conf;
    struct rcpt_quota_job *j = NULL;
    bool others = false;
    for (size_t i = 0; i < n; i++) {
        const char *at = strrchr(targets[i], '@');
        bool local = at && conf_is_local_domain(conf, at + 1) &&
                     user_table_has_mailbox(s->d->users, targets[i]) &&
                     address_mailbox_safe(targets[i]);
        uint64_t limit = local ? user_table_quota(s->d->users, targets[i], conf->imap_quota) : 0;
        if (limit == 0) {
            others = true;
            continue;
        }
        if (j == NULL) {
            j = xcalloc(1, sizeof(*j));
            j->boxes = xcalloc(n, sizeof(*j->boxes));
            j->limits = xcalloc(n, sizeof(*j->limits));
        }
        j->boxes[j->nboxes] = maildir_path(conf->data_dir, targets[i]);
        j->limits[j->nboxes++] = limit;
    }
    if (j == NULL)
        return false;
    j->others = others;
    if (others) {
        /* Taken whatever the check says: no need to wait for it. */
        job_free(j);
        return false;
    }
    j->s = s;
    j->return_state = s->state;
    j->addr = xstrdup(addr);
    j->rp = *rp;
    j->targets = xcalloc(n, sizeof(*j->targets));
    for (size_t i = 0; i < n; i++)
        j->targets[j->n++] = xstrdup(targets[i]);
    j->size = s->mail.has_size ? s->mail.size : 0;
    s->state = SMTPD_RCPT_CHECK;
    s->rcpt_check = worker_pool_submit(s->d->workers, check_work, check_done, j);
    return true;
}

void smtpd_rcpt_quota_cancel(struct smtpd_session *s)
{
    worker_job_cancel(&s->rcpt_check, job_free);
}
