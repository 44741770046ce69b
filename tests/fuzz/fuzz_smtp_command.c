/* Fuzzes the command stream: line splitting, command, path and parameter
 * parsing, exactly as the session chains them. The first input octet picks
 * a read size: splitting the stream into reads must not change any result.
 * Whatever is accepted is re-checked against the rules it claims to meet. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/line.h"
#include "proto/smtp_parse.h"

#define SIZE_LIMIT 1000000

static void check_path(const struct smtp_path *p, enum smtp_path_kind kind)
{
    /* NUL-terminated, within limits, never a control octet. */
    size_t l = strnlen(p->local, sizeof(p->local));
    size_t d = strnlen(p->domain, sizeof(p->domain));
    if (l == sizeof(p->local) || d == sizeof(p->domain))
        __builtin_trap();
    bool has8 = false;
    for (size_t i = 0; i < l; i++) {
        unsigned char c = (unsigned char)p->local[i];
        if (c < 32 || c == 127)
            __builtin_trap();
        has8 |= c >= 0x80;
    }
    for (size_t i = 0; i < d; i++) {
        unsigned char c = (unsigned char)p->domain[i];
        if (c < 32 || c == 127 || c == '/' || c == '\\')
            __builtin_trap();
        has8 |= c >= 0x80;
    }
    if (p->is_null) {
        if (kind != SMTP_PATH_MAIL || l || d || p->utf8)
            __builtin_trap();
        return;
    }
    if (has8 != p->utf8)
        __builtin_trap();
    if (d == 0) { /* only RCPT TO:<postmaster> has no domain */
        if (kind != SMTP_PATH_RCPT || strcmp(p->local, "postmaster") != 0)
            __builtin_trap();
        return;
    }
    /* What the path parser accepts, the address validator accepts too. */
    char addr[SMTP_LOCAL_PART_MAX + 1 + SMTP_DOMAIN_MAX + 1];
    memcpy(addr, p->local, l);
    addr[l] = '@';
    memcpy(addr + l + 1, p->domain, d);
    if (l == 0 || !smtp_address_valid(addr, l + 1 + d, true) || !utf8_valid(addr, l + 1 + d))
        __builtin_trap();
}

static void check_params(const struct esmtp_param *params, size_t n)
{
    if (n > SMTP_PARAMS_MAX)
        __builtin_trap();
    for (size_t i = 0; i < n; i++) {
        if (params[i].key_len == 0 || (params[i].value && params[i].value_len == 0))
            __builtin_trap();
        for (size_t k = 0; k < params[i].value_len; k++)
            if ((unsigned char)params[i].value[k] <= ' ')
                __builtin_trap();
    }
}

static void command(const char *p, size_t line_len)
{
    if (line_len + 2 > SMTP_COMMAND_LINE_MAX || memchr(p, '\n', line_len))
        __builtin_trap();
    struct smtp_command cmd;
    if (smtp_command_parse(p, line_len, &cmd) != NULL)
        return;
    if (memchr(p, '\0', line_len) || memchr(p, '\r', line_len))
        __builtin_trap();
    if (cmd.args < p || cmd.args + cmd.args_len > p + line_len)
        __builtin_trap();
    struct smtp_path path;
    struct esmtp_param params[SMTP_PARAMS_MAX];
    size_t n;
    if (cmd.verb == SMTP_VERB_MAIL &&
        !smtp_path_parse(cmd.args, cmd.args_len, SMTP_PATH_MAIL, &path, params, &n)) {
        check_path(&path, SMTP_PATH_MAIL);
        check_params(params, n);
        struct smtp_mail_params mp;
        if (smtp_mail_params_parse(params, n, SIZE_LIMIT, &mp) == NULL) {
            if (mp.has_size && mp.size > SIZE_LIMIT)
                __builtin_trap();
            if (strlen(mp.envid) > 100)
                __builtin_trap();
        }
    } else if (cmd.verb == SMTP_VERB_RCPT &&
               !smtp_path_parse(cmd.args, cmd.args_len, SMTP_PATH_RCPT, &path, params, &n)) {
        check_path(&path, SMTP_PATH_RCPT);
        check_params(params, n);
        struct smtp_rcpt_params rp;
        if (smtp_rcpt_params_parse(params, n, &rp) == NULL) {
            if ((rp.notify & SMTP_NOTIFY_NEVER) && rp.notify != SMTP_NOTIFY_NEVER)
                __builtin_trap();
            if (rp.orcpt[0] && strchr(rp.orcpt, ';') == NULL)
                __builtin_trap();
        }
    } else if (cmd.verb == SMTP_VERB_BDAT) {
        uint64_t sz;
        bool last;
        smtp_bdat_parse(cmd.args, cmd.args_len, &sz, &last);
    }
    smtp_address_valid(cmd.args, cmd.args_len, true);
    utf8_valid(cmd.args, cmd.args_len);
}

/* Runs the reader over data as reads of `chunk` octets, calling command()
 * for each line, and returns a digest of the results. */
static uint64_t run(const char *data, size_t size, size_t chunk, bool parse)
{
    struct line_reader r = {0};
    char *pending = malloc(size + 1);
    size_t plen = 0, pos = 0;
    uint64_t digest = 1469598103934665603ull;
    while (pos < size) {
        size_t take = size - pos < chunk ? size - pos : chunk;
        memcpy(pending + plen, data + pos, take);
        plen += take;
        pos += take;
        for (;;) {
            size_t line_len, used;
            enum line_result res =
                line_next(&r, pending, plen, SMTP_COMMAND_LINE_MAX, &line_len, &used);
            if (used > plen || (res == LINE_OK && line_len + 2 != used))
                __builtin_trap();
            if (res == LINE_OK && parse)
                command(pending, line_len);
            if (res != LINE_NEED_MORE) {
                digest = (digest ^ (uint64_t)(res + 3)) * 1099511628211ull;
                for (size_t i = 0; res == LINE_OK && i < line_len; i++)
                    digest = (digest ^ (unsigned char)pending[i]) * 1099511628211ull;
            }
            memmove(pending, pending + used, plen - used);
            plen -= used;
            if (res == LINE_NEED_MORE)
                break;
        }
        /* The reader never makes its caller buffer more than one line. */
        if (plen >= SMTP_COMMAND_LINE_MAX)
            __builtin_trap();
    }
    free(pending);
    return digest;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t chunk = (size_t)data[0] % 64 + 1;
    const char *in = (const char *)data + 1;
    size_t len = size - 1;
    uint64_t whole = run(in, len, len ? len : 1, true);
    if (run(in, len, chunk, false) != whole)
        __builtin_trap();
    return 0;
}
