/* The submission services' policy (RFC 6409): who may send as whom, and the
 * header fields a message submitted by a user gets when it lacks them. */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "auth/users.h"
#include "daemon.h"
#include "proto/headers.h"
#include "queue/queue.h"
#include "smtpd/session.h"
#include "snapshot.h"
#include "util/log.h"
#include "util/xmalloc.h"

static const struct smtp_error err_no_from = {554, "5.6.0",
                                              "Message has no From: header (RFC 5322 3.6)"};
static const struct smtp_error err_many_from = {554, "5.6.0",
                                                "Message has more than one From: header"};
static const struct smtp_error err_from_not_owned = {
    553, "5.7.1", "From: header address is not one of your addresses"};

bool smtpd_is_submission(const struct smtpd_session *s)
{
    return s->service == SERVICE_SUBMISSION || s->service == SERVICE_SUBMISSIONS;
}

bool smtpd_sender_owned(const struct smtpd_session *s, const char *addr)
{
    if (s->auth_user == NULL || addr == NULL || *addr == '\0')
        return false;
    char *lower = xstrdup(addr);
    address_lower(lower);
    bool owned = strcmp(lower, s->auth_user) == 0;
    if (!owned) {
        /* An alias whose expansion reaches the user's mailbox is theirs. */
        char **targets = NULL;
        size_t n = 0;
        user_table_resolve(s->d->users, lower, &targets, &n);
        for (size_t i = 0; i < n; i++) {
            if (strcmp(targets[i], s->auth_user) == 0)
                owned = true;
            free(targets[i]);
        }
        free(targets);
        /* A catch-all reaches everyone in a domain: it proves nothing. */
        if (owned) {
            size_t nt = 0;
            const char *at = strrchr(lower, '@');
            if (s->d->users->ops->alias_targets(s->d->users, lower, &nt) == NULL &&
                !user_table_has_mailbox(s->d->users, lower) && at)
                owned = false;
        }
    }
    free(lower);
    return owned;
}

static void insert_at(struct buf *b, size_t at, const char *text)
{
    struct buf out;
    buf_init(&out);
    buf_append(&out, b->data, at);
    buf_append_str(&out, text);
    buf_append(&out, b->data + at, b->len - at);
    buf_free(b);
    *b = out;
}

void smtpd_headers_complete(struct smtpd_session *s, size_t headers_len)
{
    if (!smtpd_is_submission(s))
        return;
    const char *h = s->pending_out.data + s->content_start;
    struct buf from;
    buf_init(&from);
    int nfrom = header_get(h, headers_len, "From", &from);
    if (nfrom == 0) {
        s->content_error = &err_no_from;
    } else if (nfrom > 1) {
        s->content_error = &err_many_from;
    } else {
        char **addrs = NULL;
        size_t n = header_addresses(from.data, &addrs);
        bool ok = n > 0;
        for (size_t i = 0; i < n; i++) {
            if (!smtpd_sender_owned(s, addrs[i])) {
                log_warn("event=submission_from_rejected client=%s user=%s from=%s", s->ip,
                         log_q(s->auth_user), log_q(addrs[i]));
                ok = false;
            }
            free(addrs[i]);
        }
        free(addrs);
        if (!ok)
            s->content_error = &err_from_not_owned;
    }
    buf_free(&from);

    struct buf add;
    buf_init(&add);
    if (header_get(h, headers_len, "Date", NULL) == 0) {
        char date[64];
        header_format_date(date, sizeof(date), time(NULL));
        buf_printf(&add, "Date: %s\r\n", date);
    }
    if (header_get(h, headers_len, "Message-ID", NULL) == 0) {
        unsigned char rnd[9];
        if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
            memset(rnd, 0, sizeof(rnd));
        buf_printf(&add, "Message-ID: <%s.", s->incoming ? queue_incoming_id(s->incoming) : "0");
        for (size_t i = 0; i < sizeof(rnd); i++)
            buf_printf(&add, "%02x", rnd[i]);
        buf_printf(&add, "@%s>\r\n", s->snap->conf->hostname);
    }
    if (add.len)
        insert_at(&s->pending_out, s->content_start, add.data);
    buf_free(&add);
}
