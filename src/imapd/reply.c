/* IMAP replies: tagged status responses for the command in progress,
 * untagged data, BYE, and the CAPABILITY list (RFC 9051 7.1, 7.2.2). */
#include <stdarg.h>
#include <stdio.h>

#include "imapd/session.h"
#include "net/conn.h"
#include "snapshot.h"
#include "util/buf.h"
#include "util/log.h"

static void vreply(struct imapd_session *s, const char *prefix, const char *status, const char *fmt,
                   va_list ap)
{
    if (s->conn == NULL)
        return;
    char text[1024];
    vsnprintf(text, sizeof(text), fmt, ap);
    if (status)
        conn_printf(s->conn, "%s %s %s\r\n", prefix, status, text);
    else
        conn_printf(s->conn, "%s %s\r\n", prefix, text);
}

void imapd_reply_tagged(struct imapd_session *s, const char *status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreply(s, s->tag[0] ? s->tag : "*", status, fmt, ap);
    va_end(ap);
}

void imapd_reply_untagged(struct imapd_session *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreply(s, "*", NULL, fmt, ap);
    va_end(ap);
}

void imapd_reply_bad(struct imapd_session *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreply(s, s->tag[0] ? s->tag : "*", "BAD", fmt, ap);
    va_end(ap);
    session_bad_command(&s->base);
}

void imapd_bye(struct imapd_session *s, const char *text)
{
    if (s->state == IMAPD_LOGOUT || s->conn == NULL)
        return;
    if (text)
        conn_printf(s->conn, "* BYE %s\r\n", text);
    s->state = IMAPD_LOGOUT;
    session_close_after_write(&s->base);
}

void imapd_capabilities(const struct imapd_session *s, struct buf *out)
{
    buf_append_str(out, "IMAP4rev1 IMAP4rev2");
    if (s->state == IMAPD_NOT_AUTHENTICATED) {
        if (s->service == SERVICE_IMAP && s->snap->tls && !imapd_secure(s))
            buf_append_str(out, " STARTTLS");
        if (imapd_login_allowed(s))
            buf_append_str(out, " AUTH=PLAIN");
        else
            buf_append_str(out, " LOGINDISABLED");
    }
    /* Each extension is listed only once it is complete. */
    buf_append_str(out, " LITERAL+ SASL-IR ID ENABLE");
    if (s->state == IMAPD_NOT_AUTHENTICATED)
        return; /* the rest after login (RFC 9051 7.2.2 lets the list change) */
    buf_append_str(out, " IDLE NAMESPACE UIDPLUS MOVE UNSELECT CHILDREN SPECIAL-USE ESEARCH "
                        "LIST-EXTENDED LIST-STATUS STATUS=SIZE UTF8=ACCEPT SEARCHRES BINARY "
                        "CREATE-SPECIAL-USE SORT SORT=DISPLAY ESORT THREAD=ORDEREDSUBJECT "
                        "THREAD=REFERENCES COMPRESS=DEFLATE MULTIAPPEND CONDSTORE QRESYNC QUOTA "
                        "QUOTA=RES-STORAGE");
    buf_printf(out, " APPENDLIMIT=%llu", (unsigned long long)s->snap->conf->message_size);
}
