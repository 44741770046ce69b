/* Building the outbound client's MAIL FROM and RCPT TO commands, with the
 * checks of what may go on the wire. Pure. */
#include "proto/smtp_cmd.h"

#include <string.h>

#include "proto/smtp_parse.h"

bool smtp_cmd_addr_ok(const char *a, bool may_be_empty)
{
    size_t n = strlen(a);
    if (n == 0)
        return may_be_empty;
    if (n > SMTP_PATH_MAX || strchr(a, '@') == NULL)
        return false;
    for (const unsigned char *p = (const unsigned char *)a; *p; p++)
        if (*p <= ' ' || *p == '<' || *p == '>' || *p == 0x7f)
            return false;
    return true;
}

bool smtp_cmd_xtext_ok(const char *s)
{
    size_t n = 0;
    for (; s && *s; s++, n++)
        if (*s < '!' || *s > '~' || *s == '=')
            return false;
    return s != NULL && n > 0 && n <= 500;
}

void smtp_cmd_mail(struct buf *out, const struct smtp_cmd_mail *m)
{
    buf_printf(out, "MAIL FROM:<%s>", m->sender);
    if (m->has_size)
        buf_printf(out, " SIZE=%llu", (unsigned long long)m->size);
    if (m->body_8bit)
        buf_append_str(out, " BODY=8BITMIME");
    if (m->smtputf8)
        buf_append_str(out, " SMTPUTF8");
    if (m->ret)
        buf_printf(out, " RET=%s", m->ret);
    if (smtp_cmd_xtext_ok(m->envid))
        buf_printf(out, " ENVID=%s", m->envid);
    buf_append(out, "\r\n", 2);
}

void smtp_cmd_rcpt(struct buf *out, const char *addr, unsigned notify, const char *orcpt)
{
    buf_printf(out, "RCPT TO:<%s>", addr);
    if (notify & SMTP_NOTIFY_NEVER) {
        buf_append_str(out, " NOTIFY=NEVER");
    } else if (notify) {
        static const struct {
            unsigned bit;
            const char *name;
        } kw[] = {{SMTP_NOTIFY_SUCCESS, "SUCCESS"},
                  {SMTP_NOTIFY_FAILURE, "FAILURE"},
                  {SMTP_NOTIFY_DELAY, "DELAY"}};
        const char *sep = " NOTIFY=";
        for (size_t i = 0; i < sizeof(kw) / sizeof(kw[0]); i++)
            if (notify & kw[i].bit) {
                buf_printf(out, "%s%s", sep, kw[i].name);
                sep = ",";
            }
    }
    if (smtp_cmd_xtext_ok(orcpt) && strchr(orcpt, ';'))
        buf_printf(out, " ORCPT=%s", orcpt);
    buf_append(out, "\r\n", 2);
}
