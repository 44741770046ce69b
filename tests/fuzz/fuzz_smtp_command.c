/* Fuzzes the command stream: line splitting, command, path and parameter
 * parsing, exactly as the session chains them. */
#include <stdint.h>
#include <string.h>

#include "proto/smtp_parse.h"

static void check_path(const struct smtp_path *p)
{
    /* Invariants: NUL-terminated, within limits, never a control octet. */
    size_t l = strnlen(p->local, sizeof(p->local));
    size_t d = strnlen(p->domain, sizeof(p->domain));
    if (l == sizeof(p->local) || d == sizeof(p->domain))
        __builtin_trap();
    for (size_t i = 0; i < l; i++)
        if ((unsigned char)p->local[i] < 32)
            __builtin_trap();
    for (size_t i = 0; i < d; i++)
        if ((unsigned char)p->domain[i] < 32)
            __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct smtp_line_reader r = {0};
    const char *p = (const char *)data;
    size_t left = size;
    while (left > 0) {
        size_t line_len, used;
        enum smtp_line_result res =
            smtp_line_next(&r, p, left, SMTP_COMMAND_LINE_MAX, &line_len, &used);
        if (used > left)
            __builtin_trap();
        if (res == SMTP_LINE_OK) {
            if (line_len + 2 > SMTP_COMMAND_LINE_MAX)
                __builtin_trap();
            struct smtp_command cmd;
            if (smtp_command_parse(p, line_len, &cmd) == NULL) {
                struct smtp_path path;
                struct esmtp_param params[SMTP_PARAMS_MAX];
                size_t n;
                if (cmd.verb == SMTP_VERB_MAIL &&
                    !smtp_path_parse(cmd.args, cmd.args_len, SMTP_PATH_MAIL, &path, params, &n)) {
                    check_path(&path);
                    struct smtp_mail_params mp;
                    smtp_mail_params_parse(params, n, 1000000, &mp);
                } else if (cmd.verb == SMTP_VERB_RCPT &&
                           !smtp_path_parse(cmd.args, cmd.args_len, SMTP_PATH_RCPT, &path, params,
                                            &n)) {
                    check_path(&path);
                    struct smtp_rcpt_params rp;
                    smtp_rcpt_params_parse(params, n, &rp);
                } else if (cmd.verb == SMTP_VERB_BDAT) {
                    uint64_t sz;
                    bool last;
                    smtp_bdat_parse(cmd.args, cmd.args_len, &sz, &last);
                }
                smtp_address_valid(cmd.args, cmd.args_len, true);
            }
        }
        if (used == 0)
            break;
        p += used;
        left -= used;
    }
    return 0;
}
