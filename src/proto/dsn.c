/* Building delivery status notifications (RFC 3464 in RFC 6522
 * multipart/report): failures, delay warnings and successes. Pure. */
#include "proto/dsn.h"

#include <string.h>

#include "proto/headers.h"

#define FOLD_AT   76
#define HARD_LINE 900

static bool has_8bit(const char *s)
{
    for (; s && *s; s++)
        if ((unsigned char)*s >= 0x80)
            return true;
    return false;
}

/* Appends s as printable ASCII (anything else is '?'), folding at spaces
 * past FOLD_AT columns (if fold) and, whatever fold says, breaking at
 * HARD_LINE, so that no value can make a line longer than RFC 5322's 998
 * octets. col is the current column; returns the new one. */
static size_t put_text(struct buf *out, const char *s, size_t col, bool fold)
{
    for (const unsigned char *p = (const unsigned char *)s; s && *p; p++) {
        char c = (*p < 0x20 || *p >= 0x7f) ? '?' : (char)*p;
        if (*p == '\t')
            c = ' ';
        if ((fold && c == ' ' && col >= FOLD_AT) || col >= HARD_LINE) {
            buf_append(out, "\r\n ", 3);
            col = 1;
            if (c == ' ')
                continue;
        }
        buf_append_char(out, c);
        col++;
    }
    return col;
}

static void field(struct buf *out, const char *name, const char *prefix, const char *value)
{
    buf_append_str(out, name);
    buf_append_str(out, ": ");
    size_t col = strlen(name) + 2;
    if (prefix) {
        buf_append_str(out, prefix);
        col += strlen(prefix);
    }
    put_text(out, value, col, true);
    buf_append(out, "\r\n", 2);
}

static void date_field(struct buf *out, const char *name, int64_t when)
{
    char date[64];
    header_format_date(date, sizeof(date), (time_t)when);
    field(out, name, NULL, date);
}

/* "rfc822; a@b", or "utf-8; ..." for an internationalised address (RFC
 * 6533), which is still reduced to ASCII here. */
static void address_field(struct buf *out, const char *name, const char *addr)
{
    field(out, name, has_8bit(addr) ? "utf-8; " : "rfc822; ", addr);
}

static void human_part(struct buf *out, const struct dsn_info *in)
{
    buf_printf(out, "--%s\r\n", in->boundary);
    buf_append_str(out, "Content-Description: Notification\r\n"
                        "Content-Type: text/plain; charset=us-ascii\r\n\r\n");
    buf_append_str(out, "This is the mail system at host ");
    put_text(out, in->reporting_mta, 0, false);
    buf_append_str(out, ".\r\n\r\n");
    switch (in->kind) {
    case DSN_DELAY: {
        char until[64];
        header_format_date(until, sizeof(until), (time_t)in->retry_until);
        buf_append_str(out, "####################################################\r\n"
                            "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND #\r\n"
                            "####################################################\r\n\r\n"
                            "Your message could not be delivered yet to one or more\r\n"
                            "recipients. Delivery will be tried again until\r\n");
        buf_append_str(out, until);
        buf_append_str(out, ".\r\nIts header section is attached below.\r\n\r\n");
        break;
    }
    case DSN_SUCCESS:
        buf_append_str(out, "Your message was delivered to the recipients listed below,\r\n"
                            "as you asked (NOTIFY=SUCCESS). \"delivered\" means it is in the\r\n"
                            "mailbox; \"relayed\" means it was handed to a server that does\r\n"
                            "not report delivery, so no further notice will come from there.\r\n"
                            "Its header section is attached below.\r\n\r\n");
        break;
    case DSN_FAILURE:
        buf_append_str(out, "Your message could not be delivered to one or more recipients.\r\n");
        buf_append_str(out, in->full ? "It is attached below.\r\n\r\n"
                                     : "It is attached below (its header section only).\r\n\r\n");
        buf_append_str(out, "For further assistance, send mail to postmaster. If you do so,\r\n"
                            "please include this problem report.\r\n\r\n");
        break;
    }
    for (size_t i = 0; i < in->nrcpts; i++) {
        const struct dsn_rcpt *r = &in->rcpts[i];
        buf_append_char(out, '<');
        size_t col = put_text(out, r->final_rcpt, 1, false);
        buf_append_str(out, ">: ");
        col += 3;
        if (r->remote_mta && r->diagnostic_smtp) {
            col = put_text(out, "host ", col, true);
            col = put_text(out, r->remote_mta, col, true);
            col = put_text(out, " said: ", col, true);
        }
        put_text(out, r->diagnostic ? r->diagnostic : r->action, col, true);
        buf_append_str(out, "\r\n\r\n");
    }
}

static void status_part(struct buf *out, const struct dsn_info *in)
{
    buf_printf(out, "--%s\r\n", in->boundary);
    buf_append_str(out, "Content-Description: Delivery report\r\n"
                        "Content-Type: message/delivery-status\r\n\r\n");
    field(out, "Reporting-MTA", "dns; ", in->reporting_mta);
    field(out, "X-Postern-Queue-ID", NULL, in->queue_id);
    if (in->envid)
        field(out, "Original-Envelope-Id", NULL, in->envid);
    date_field(out, "Arrival-Date", in->arrival);
    for (size_t i = 0; i < in->nrcpts; i++) {
        const struct dsn_rcpt *r = &in->rcpts[i];
        buf_append(out, "\r\n", 2);
        address_field(out, "Final-Recipient", r->final_rcpt);
        if (r->orcpt) {
            const char *semi = strchr(r->orcpt, ';');
            if (semi) /* already "type; address" */
                field(out, "Original-Recipient", NULL, r->orcpt);
            else
                address_field(out, "Original-Recipient", r->orcpt);
        }
        field(out, "Action", NULL, r->action);
        field(out, "Status", NULL, r->status);
        if (r->remote_mta)
            field(out, "Remote-MTA", "dns; ", r->remote_mta);
        if (r->diagnostic)
            field(out, "Diagnostic-Code", r->diagnostic_smtp ? "smtp; " : "X-Postern; ",
                  r->diagnostic);
        if (r->last_attempt)
            date_field(out, "Last-Attempt-Date", r->last_attempt);
        if (in->kind == DSN_DELAY && in->retry_until)
            date_field(out, "Will-Retry-Until", in->retry_until);
    }
    buf_append(out, "\r\n", 2);
}

void dsn_build(const struct dsn_info *in, struct buf *out)
{
    buf_append_str(out, "From: Mail Delivery System <MAILER-DAEMON@");
    put_text(out, in->reporting_mta, 0, false);
    buf_append_str(out, ">\r\n");
    buf_append_str(out, "To: <");
    put_text(out, in->to, 0, false);
    buf_append_str(out, ">\r\n");
    static const char *const subjects[] = {
        [DSN_FAILURE] = "Undelivered Mail Returned to Sender",
        [DSN_DELAY] = "Delayed Mail (still being retried)",
        [DSN_SUCCESS] = "Successful Mail Delivery Report",
    };
    field(out, "Subject", NULL, subjects[in->kind]);
    date_field(out, "Date", in->now);
    field(out, "Message-ID", NULL, in->message_id);
    field(out, "Auto-Submitted", NULL, "auto-replied"); /* RFC 3834: no auto-reply loops */
    field(out, "MIME-Version", NULL, "1.0");
    buf_printf(out,
               "Content-Type: multipart/report; report-type=delivery-status;\r\n"
               "\tboundary=\"%s\"\r\n\r\n"
               "This is a MIME-encapsulated message.\r\n\r\n",
               in->boundary);
    human_part(out, in);
    status_part(out, in);
    buf_printf(out, "--%s\r\n", in->boundary);
    static const char *const what[] = {
        [DSN_FAILURE] = "Undelivered",
        [DSN_DELAY] = "Delayed",
        [DSN_SUCCESS] = "Delivered",
    };
    if (in->full)
        buf_printf(out,
                   "Content-Description: %s Message\r\n"
                   "Content-Type: message/rfc822\r\n\r\n",
                   what[in->kind]);
    else
        buf_printf(out,
                   "Content-Description: %s Message Headers\r\n"
                   "Content-Type: text/rfc822-headers\r\n\r\n",
                   what[in->kind]);
    if (in->headers_len > 0) {
        buf_append(out, in->headers, in->headers_len);
        if (in->headers_len < 2 || memcmp(in->headers + in->headers_len - 2, "\r\n", 2) != 0)
            buf_append(out, "\r\n", 2);
    }
    buf_printf(out, "\r\n--%s--\r\n", in->boundary);
}

size_t dsn_header_section_len(const char *msg, size_t len, size_t max)
{
    if (len > max)
        len = max;
    if (len >= 2 && msg[0] == '\r' && msg[1] == '\n')
        return 0; /* no header at all */
    for (size_t i = 0; i + 3 < len; i++)
        if (msg[i] == '\r' && msg[i + 1] == '\n' && msg[i + 2] == '\r' && msg[i + 3] == '\n')
            return i + 2;
    /* No end within max: cut after the last complete line. */
    for (size_t i = len; i >= 2; i--)
        if (msg[i - 2] == '\r' && msg[i - 1] == '\n')
            return i;
    return 0;
}
