/*
 * smtp_cmd: building the outbound client's MAIL and RCPT commands (pure).
 * The session decides which extensions apply (what the server offered);
 * these functions check what may go on the wire and write the line:
 *
 *   if (!smtp_cmd_addr_ok(sender, true)) refuse;
 *   struct smtp_cmd_mail m = {.sender = s, .size = n, .body_8bit = true};
 *   smtp_cmd_mail(&out, &m);    appends "MAIL FROM:<s> SIZE=n BODY=8BITMIME\r\n"
 *
 * Addresses and RFC 3461 values come from the queue, which a damaged or
 * foreign file could fill with anything: an address with a space, CR, LF
 * or angle bracket is refused (smtp_cmd_addr_ok), and an ENVID or ORCPT
 * that is not plain xtext is left out, so no input can inject a command.
 */
#ifndef POSTERN_PROTO_SMTP_CMD_H
#define POSTERN_PROTO_SMTP_CMD_H

#include <stdbool.h>
#include <stdint.h>

#include "util/buf.h"

struct smtp_cmd_mail {
    const char *sender; /* "" for the null sender */
    bool has_size;
    uint64_t size;
    bool body_8bit; /* BODY=8BITMIME */
    bool smtputf8;
    const char *ret;   /* "FULL", "HDRS" or NULL */
    const char *envid; /* xtext or NULL */
};

/* An address that may be sent between angle brackets. */
bool smtp_cmd_addr_ok(const char *addr, bool may_be_empty);
/* A value that may be sent as is as xtext (RFC 3461 4): printable, no
 * space, no '=', 1 to 500 octets. */
bool smtp_cmd_xtext_ok(const char *s);

void smtp_cmd_mail(struct buf *out, const struct smtp_cmd_mail *m);
/* notify: SMTP_NOTIFY_* bits or 0 (no NOTIFY); orcpt: "type;xtext" or NULL. */
void smtp_cmd_rcpt(struct buf *out, const char *addr, unsigned notify, const char *orcpt);

#endif
