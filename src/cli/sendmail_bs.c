/* `sendmail -bs`: SMTP on standard input and output, as sendmail(8) has it
 * (mutt, some MUAs and scripts use it). The parsers are the server's; each
 * accepted message becomes a drop file, like plain `sendmail`. Lines may end
 * in LF or CRLF: the peer is a local program, not the network. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cli/sendmail.h"
#include "proto/smtp_parse.h"
#include "proto/text.h"
#include "util/xmalloc.h"

static void reply(const char *fmt, const char *arg)
{
    printf(fmt, arg);
    fputs("\r\n", stdout);
    fflush(stdout);
}

/* Reads one line without its ending; NULL at end of input. */
static char *read_line(char **line, size_t *cap)
{
    ssize_t n = getline(line, cap, stdin);
    if (n < 0)
        return NULL;
    while (n > 0 && ((*line)[n - 1] == '\n' || (*line)[n - 1] == '\r'))
        (*line)[--n] = '\0';
    return *line;
}

int sendmail_bs(const struct conf *conf)
{
    char *line = NULL;
    size_t cap = 0;
    struct drop_head head = {0};
    bool have_mail = false;
    reply("220 %s ESMTP Postern (sendmail -bs)", conf->hostname);
    while (read_line(&line, &cap)) {
        struct smtp_command cmd;
        if (smtp_command_parse(line, strlen(line), &cmd) != NULL) {
            reply("500 5.5.2 %s", "Malformed command");
            continue;
        }
        struct smtp_path path;
        struct esmtp_param params[SMTP_PARAMS_MAX];
        size_t np;
        switch (cmd.verb) {
        case SMTP_VERB_HELO:
        case SMTP_VERB_EHLO:
            if (cmd.verb == SMTP_VERB_EHLO) {
                printf("250-%s\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n", conf->hostname);
                reply("250 %s", "PIPELINING");
            } else {
                reply("250 %s", conf->hostname);
            }
            break;
        case SMTP_VERB_MAIL:
            if (have_mail) {
                reply("503 5.5.1 %s", "Nested MAIL command");
            } else if (smtp_path_parse(cmd.args, cmd.args_len, SMTP_PATH_MAIL, &path, params,
                                       &np) != NULL) {
                reply("501 5.1.7 %s", "Bad sender address syntax");
            } else {
                drop_head_clear(&head);
                if (!path.is_null)
                    head.sender = xasprintf("%s@%s", path.local, path.domain);
                have_mail = true;
                reply("250 2.1.0 %s", "Ok");
            }
            break;
        case SMTP_VERB_RCPT:
            if (!have_mail) {
                reply("503 5.5.1 %s", "Need MAIL before RCPT");
            } else if (smtp_path_parse(cmd.args, cmd.args_len, SMTP_PATH_RCPT, &path, params,
                                       &np) != NULL ||
                       path.domain[0] == '\0') {
                reply("501 5.1.3 %s", "Bad recipient address syntax");
            } else if (head.nrcpts >= DROP_RCPTS_MAX) {
                reply("452 4.5.3 %s", "Too many recipients");
            } else {
                head.rcpts = xrealloc(head.rcpts, (head.nrcpts + 1) * sizeof(char *));
                head.rcpts[head.nrcpts++] = xasprintf("%s@%s", path.local, path.domain);
                reply("250 2.1.5 %s", "Ok");
            }
            break;
        case SMTP_VERB_DATA: {
            if (!have_mail || head.nrcpts == 0) {
                reply("503 5.5.1 %s", "Need MAIL and RCPT before DATA");
                break;
            }
            reply("354 %s", "End data with <CR><LF>.<CR><LF>");
            struct buf raw, msg;
            buf_init(&raw);
            buf_init(&msg);
            bool ended = false;
            while (read_line(&line, &cap)) {
                if (strcmp(line, ".") == 0) {
                    ended = true;
                    break;
                }
                const char *l = line[0] == '.' ? line + 1 : line; /* dot-unstuffing */
                buf_append_str(&raw, l);
                buf_append_char(&raw, '\n');
            }
            size_t bad;
            enum text_result tr =
                text_normalize(raw.data ? raw.data : "", raw.len, false, &msg, &bad);
            char why[512];
            if (!ended)
                ; /* input ended inside DATA: nothing is queued */
            else if (tr != TEXT_OK)
                reply("554 5.6.0 %s", tr == TEXT_NUL ? "Message contains a NUL octet"
                                                     : "Message has a line over 998 octets");
            else if (msg.len > conf->message_size)
                reply("552 5.3.4 %s", "Message size exceeds fixed maximum message size");
            else if (sendmail_write_drop(conf, &head, &msg, why, sizeof(why)) != 0)
                reply("451 4.3.0 %s", why);
            else
                reply("250 2.0.0 %s", "Ok: queued");
            buf_free(&raw);
            buf_free(&msg);
            drop_head_clear(&head);
            have_mail = false;
            if (!ended)
                goto out;
            break;
        }
        case SMTP_VERB_RSET:
            drop_head_clear(&head);
            have_mail = false;
            reply("250 2.0.0 %s", "Ok");
            break;
        case SMTP_VERB_NOOP:
            reply("250 2.0.0 %s", "Ok");
            break;
        case SMTP_VERB_QUIT:
            reply("221 2.0.0 %s", "Bye");
            goto out;
        default:
            reply("502 5.5.1 %s", "Command not implemented");
            break;
        }
    }
out:
    drop_head_clear(&head);
    free(line);
    return EX_OK;
}
