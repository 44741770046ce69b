/* SMTP command parsing (see smtp_parse.h): verbs, paths and the ESMTP
 * parameters of MAIL and RCPT. Pure: no I/O, no globals, no allocation. */
#include "proto/smtp_parse.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ERR(name, c, e, t) static const struct smtp_error name = {c, e, t}

ERR(err_nul, 500, "5.5.2", "NUL or control character in command");
ERR(err_syntax_mail, 501, "5.5.4", "Syntax: MAIL FROM:<address> [parameters]");
ERR(err_syntax_rcpt, 501, "5.5.4", "Syntax: RCPT TO:<address> [parameters]");
ERR(err_no_brackets, 501, "5.1.7", "Address must be in angle brackets: <user@example.com>");
ERR(err_bad_sender, 501, "5.1.7", "Bad sender address syntax");
ERR(err_bad_rcpt, 501, "5.1.3", "Bad recipient address syntax");
ERR(err_no_domain_sender, 501, "5.1.7", "Sender address must have a domain: <user@example.com>");
ERR(err_no_domain_rcpt, 501, "5.1.3", "Recipient address must have a domain: <user@example.com>");
ERR(err_null_rcpt, 501, "5.1.3", "The null address <> is not a recipient");
ERR(err_local_long, 501, "5.5.4", "Local part longer than 64 octets");
ERR(err_domain_long, 501, "5.5.4", "Domain longer than 255 octets");
ERR(err_path_long, 501, "5.5.4", "Path longer than 256 octets");
ERR(err_bad_utf8, 553, "5.6.7", "Address is not valid UTF-8");
ERR(err_param_syntax, 501, "5.5.4", "Malformed ESMTP parameter");
ERR(err_param_many, 501, "5.5.4", "Too many ESMTP parameters");
ERR(err_param_dup, 501, "5.5.4", "Duplicate ESMTP parameter");
ERR(err_param_unknown, 555, "5.5.4", "Unsupported ESMTP parameter");
ERR(err_size_big, 552, "5.3.4", "Message size exceeds fixed maximum message size");
ERR(err_size_syntax, 501, "5.5.4", "SIZE must be a decimal number of octets");
ERR(err_body, 501, "5.5.4", "BODY must be 7BIT or 8BITMIME");
ERR(err_ret, 501, "5.5.4", "RET must be FULL or HDRS");
ERR(err_envid, 501, "5.5.4", "ENVID must be xtext of at most 100 octets");
ERR(err_notify, 501, "5.5.4", "NOTIFY must be NEVER or a list of SUCCESS, FAILURE, DELAY");
ERR(err_orcpt, 501, "5.5.4", "ORCPT must be addr-type;xtext");
ERR(err_smtputf8_value, 501, "5.5.4", "SMTPUTF8 takes no value");
ERR(err_bdat_syntax, 501, "5.5.4", "Syntax: BDAT <size> [LAST]");

static const char *const verb_names[SMTP_VERB_COUNT] = {
    [SMTP_VERB_UNKNOWN] = "?", [SMTP_VERB_HELO] = "HELO",         [SMTP_VERB_EHLO] = "EHLO",
    [SMTP_VERB_MAIL] = "MAIL", [SMTP_VERB_RCPT] = "RCPT",         [SMTP_VERB_DATA] = "DATA",
    [SMTP_VERB_BDAT] = "BDAT", [SMTP_VERB_RSET] = "RSET",         [SMTP_VERB_NOOP] = "NOOP",
    [SMTP_VERB_QUIT] = "QUIT", [SMTP_VERB_VRFY] = "VRFY",         [SMTP_VERB_EXPN] = "EXPN",
    [SMTP_VERB_HELP] = "HELP", [SMTP_VERB_STARTTLS] = "STARTTLS", [SMTP_VERB_AUTH] = "AUTH",
};

const char *smtp_verb_name(enum smtp_verb verb)
{
    return verb < SMTP_VERB_COUNT ? verb_names[verb] : "?";
}

const struct smtp_error *smtp_command_parse(const char *line, size_t len,
                                            struct smtp_command *cmd_r)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)line[i];
        if (c == 0 || c == '\r' || c == '\n')
            return &err_nul;
    }
    size_t v = 0;
    while (v < len && line[v] != ' ')
        v++;
    cmd_r->verb = SMTP_VERB_UNKNOWN;
    for (int i = 1; i < SMTP_VERB_COUNT; i++) {
        if (strlen(verb_names[i]) == v && strncasecmp(line, verb_names[i], v) == 0) {
            cmd_r->verb = (enum smtp_verb)i;
            break;
        }
    }
    size_t a = v;
    while (a < len && line[a] == ' ')
        a++;
    size_t end = len;
    while (end > a && (line[end - 1] == ' ' || line[end - 1] == '\t'))
        end--;
    cmd_r->args = line + a;
    cmd_r->args_len = end - a;
    return NULL;
}

bool utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned cp;
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + n >= len)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += n + 1;
    }
    return true;
}

static bool is_atext(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* RFC 5321 Local-part: Dot-string / Quoted-string (with RFC 6531 UTF-8). */
static bool local_part_valid(const char *s, size_t len, bool utf8)
{
    if (len == 0)
        return false;
    if (s[0] == '"') {
        if (len < 2 || s[len - 1] != '"')
            return false;
        for (size_t i = 1; i < len - 1; i++) {
            unsigned char c = (unsigned char)s[i];
            if (c == '\\') {
                if (i + 1 >= len - 1)
                    return false;
                unsigned char q = (unsigned char)s[++i];
                if (q < 32 || q > 126)
                    return false;
            } else if (c == '"') {
                return false;
            } else if (c >= 0x80) {
                if (!utf8)
                    return false;
            } else if (c < 32 || c > 126) {
                return false;
            }
        }
        return true;
    }
    bool dot_ok = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (!dot_ok)
                return false;
            dot_ok = false;
        } else if (is_atext(c) || (c >= 0x80 && utf8)) {
            dot_ok = true;
        } else {
            return false;
        }
    }
    return dot_ok;
}

static bool ipv4_literal_valid(const char *s, size_t len)
{
    int parts = 0;
    size_t i = 0;
    while (i < len) {
        unsigned v = 0;
        size_t digits = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9' && digits < 4) {
            v = v * 10 + (unsigned)(s[i] - '0');
            i++;
            digits++;
        }
        if (digits == 0 || digits > 3 || v > 255)
            return false;
        parts++;
        if (i < len) {
            if (s[i] != '.' || parts == 4)
                return false;
            i++;
            if (i == len)
                return false;
        }
    }
    return parts == 4;
}

static bool domain_valid(const char *s, size_t len, bool utf8)
{
    if (len == 0 || len > SMTP_DOMAIN_MAX)
        return false;
    if (s[0] == '[') {
        if (s[len - 1] != ']')
            return false;
        const char *in = s + 1;
        size_t n = len - 2;
        if (n > 5 && strncasecmp(in, "IPv6:", 5) == 0) {
            for (size_t i = 5; i < n; i++) {
                char c = in[i];
                if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
                      c == ':' || c == '.'))
                    return false;
            }
            /* The characters alone allow "[IPv6:::::::::]": parse it. */
            char tmp[INET6_ADDRSTRLEN];
            struct in6_addr a6;
            if (n - 5 >= sizeof(tmp))
                return false;
            memcpy(tmp, in + 5, n - 5);
            tmp[n - 5] = '\0';
            return inet_pton(AF_INET6, tmp, &a6) == 1;
        }
        return ipv4_literal_valid(in, n);
    }
    size_t label = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (label == 0 || s[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  (c == '-' && label > 0) || (c >= 0x80 && utf8);
        if (!ok || ++label > 63)
            return false;
    }
    return label > 0 && s[len - 1] != '-';
}

/* Splits "local@domain" at the last '@' outside a quoted local part. */
static bool split_address(const char *addr, size_t len, size_t *at_r)
{
    bool quoted = false;
    size_t at = len;
    for (size_t i = 0; i < len; i++) {
        if (addr[i] == '\\' && quoted) {
            i++;
            continue;
        }
        if (addr[i] == '"')
            quoted = !quoted;
        else if (addr[i] == '@' && !quoted)
            at = i;
    }
    if (at == len)
        return false;
    *at_r = at;
    return true;
}

bool smtp_address_valid(const char *addr, size_t len, bool allow_utf8)
{
    size_t at;
    if (!split_address(addr, len, &at))
        return false;
    bool has8 = false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)addr[i] >= 0x80)
            has8 = true;
    if (has8 && (!allow_utf8 || !utf8_valid(addr, len)))
        return false;
    return at > 0 && at <= SMTP_LOCAL_PART_MAX && local_part_valid(addr, at, has8) &&
           domain_valid(addr + at + 1, len - at - 1, has8);
}

/* ESMTP parameters: esmtp-keyword ["=" esmtp-value], separated by spaces. */
static const struct smtp_error *params_parse(const char *s, size_t len, struct esmtp_param *out,
                                             size_t *n_r)
{
    size_t n = 0;
    size_t i = 0;
    while (i < len) {
        while (i < len && s[i] == ' ')
            i++;
        if (i == len)
            break;
        size_t start = i;
        while (i < len && s[i] != ' ')
            i++;
        if (n == SMTP_PARAMS_MAX)
            return &err_param_many;
        const char *tok = s + start;
        size_t tlen = i - start;
        const char *eq = memchr(tok, '=', tlen);
        size_t klen = eq ? (size_t)(eq - tok) : tlen;
        if (klen == 0)
            return &err_param_syntax;
        for (size_t k = 0; k < klen; k++) {
            char c = tok[k];
            bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      (c == '-' && k > 0);
            if (!ok)
                return &err_param_syntax;
        }
        out[n].key = tok;
        out[n].key_len = klen;
        out[n].value = NULL;
        out[n].value_len = 0;
        if (eq) {
            out[n].value = eq + 1;
            out[n].value_len = tlen - klen - 1;
            if (out[n].value_len == 0)
                return &err_param_syntax;
            for (size_t k = 0; k < out[n].value_len; k++) {
                unsigned char c = (unsigned char)out[n].value[k];
                /* esmtp-value = 1*(%d33-60 / %d62-126), plus UTF-8 (RFC 6531) */
                if (c < 33 || c == '=' || c == 127)
                    return &err_param_syntax;
            }
        }
        for (size_t j = 0; j < n; j++)
            if (out[j].key_len == klen && strncasecmp(out[j].key, tok, klen) == 0)
                return &err_param_dup;
        n++;
    }
    *n_r = n;
    return NULL;
}

const struct smtp_error *smtp_path_parse(const char *args, size_t len, enum smtp_path_kind kind,
                                         struct smtp_path *path_r, struct esmtp_param *params_r,
                                         size_t *nparams_r)
{
    const char *prefix = kind == SMTP_PATH_MAIL ? "FROM:" : "TO:";
    const struct smtp_error *syntax = kind == SMTP_PATH_MAIL ? &err_syntax_mail : &err_syntax_rcpt;
    const struct smtp_error *bad = kind == SMTP_PATH_MAIL ? &err_bad_sender : &err_bad_rcpt;
    size_t plen = strlen(prefix);
    memset(path_r, 0, sizeof(*path_r));
    *nparams_r = 0;
    if (len < plen || strncasecmp(args, prefix, plen) != 0)
        return syntax;
    size_t i = plen;
    while (i < len && args[i] == ' ') /* tolerated, as most servers do */
        i++;
    if (i == len)
        return syntax;
    if (args[i] != '<')
        return &err_no_brackets;
    size_t start = ++i;
    bool quoted = false;
    while (i < len) {
        if (quoted && args[i] == '\\' && i + 1 < len) {
            i += 2;
            continue;
        }
        if (args[i] == '"')
            quoted = !quoted;
        else if (args[i] == '>' && !quoted)
            break;
        i++;
    }
    if (i == len)
        return &err_no_brackets;
    const char *addr = args + start;
    size_t alen = i - start;
    i++; /* past '>' */
    if (i < len && args[i] != ' ')
        return syntax;
    if (alen > SMTP_PATH_MAX)
        return &err_path_long;
    const struct smtp_error *perr = params_parse(args + i, len - i, params_r, nparams_r);
    if (perr)
        return perr;

    if (alen == 0) {
        if (kind == SMTP_PATH_RCPT)
            return &err_null_rcpt;
        path_r->is_null = true;
        return NULL;
    }
    /* A source route (<@a,@b:user@d>) is accepted and ignored (RFC 5321 C). */
    if (addr[0] == '@') {
        const char *colon = memchr(addr, ':', alen);
        if (colon == NULL)
            return bad;
        alen -= (size_t)(colon + 1 - addr);
        addr = colon + 1;
    }
    bool has8 = false;
    for (size_t k = 0; k < alen; k++) {
        unsigned char c = (unsigned char)addr[k];
        if (c >= 0x80)
            has8 = true;
        else if (c < 32 || c == 127)
            return bad;
    }
    if (has8 && !utf8_valid(addr, alen))
        return &err_bad_utf8;
    path_r->utf8 = has8;
    size_t at;
    if (!split_address(addr, alen, &at)) {
        if (kind == SMTP_PATH_RCPT && alen == 10 && strncasecmp(addr, "postmaster", 10) == 0) {
            memcpy(path_r->local, "postmaster", 11);
            return NULL;
        }
        return kind == SMTP_PATH_MAIL ? &err_no_domain_sender : &err_no_domain_rcpt;
    }
    if (at > SMTP_LOCAL_PART_MAX)
        return &err_local_long;
    if (alen - at - 1 > SMTP_DOMAIN_MAX)
        return &err_domain_long;
    if (!local_part_valid(addr, at, has8) || !domain_valid(addr + at + 1, alen - at - 1, has8))
        return bad;
    memcpy(path_r->local, addr, at);
    path_r->local[at] = '\0';
    memcpy(path_r->domain, addr + at + 1, alen - at - 1);
    path_r->domain[alen - at - 1] = '\0';
    return NULL;
}

static bool key_is(const struct esmtp_param *p, const char *name)
{
    return strlen(name) == p->key_len && strncasecmp(p->key, name, p->key_len) == 0;
}

static bool value_is(const struct esmtp_param *p, const char *v)
{
    return p->value && strlen(v) == p->value_len && strncasecmp(p->value, v, p->value_len) == 0;
}

/* xtext (RFC 3461 4): "+" followed by two upper-case hex digits encodes. */
static bool xtext_valid(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '+') {
            if (i + 2 >= len)
                return false;
            for (int k = 1; k <= 2; k++) {
                char h = s[i + (size_t)k];
                if (!((h >= '0' && h <= '9') || (h >= 'A' && h <= 'F')))
                    return false;
            }
            i += 2;
        } else if (c < 33 || c > 126 || c == '=') {
            return false;
        }
    }
    return true;
}

/* AUTH=xtext decodes to "<>" or a mailbox (RFC 4954 5). */
static bool auth_value_valid(const char *s, size_t len)
{
    char dec[SMTP_PATH_MAX + 1];
    size_t n = 0;
    if (!xtext_valid(s, len))
        return false;
    for (size_t i = 0; i < len; i++) {
        if (n == SMTP_PATH_MAX)
            return false;
        if (s[i] == '+') {
            char hex[3] = {s[i + 1], s[i + 2], '\0'};
            dec[n++] = (char)strtoul(hex, NULL, 16);
            i += 2;
        } else {
            dec[n++] = s[i];
        }
    }
    return (n == 2 && dec[0] == '<' && dec[1] == '>') || smtp_address_valid(dec, n, false);
}

const struct smtp_error *smtp_mail_params_parse(const struct esmtp_param *params, size_t n,
                                                uint64_t size_limit, struct smtp_mail_params *out_r)
{
    memset(out_r, 0, sizeof(*out_r));
    for (size_t i = 0; i < n; i++) {
        const struct esmtp_param *p = &params[i];
        if (key_is(p, "SIZE")) {
            if (p->value == NULL)
                return &err_size_syntax;
            uint64_t v = 0;
            bool overflow = false;
            for (size_t k = 0; k < p->value_len; k++) {
                char c = p->value[k];
                if (c < '0' || c > '9')
                    return &err_size_syntax;
                if (v > (UINT64_MAX - 9) / 10)
                    overflow = true;
                else
                    v = v * 10 + (uint64_t)(c - '0');
            }
            if (overflow || v > size_limit)
                return &err_size_big;
            out_r->has_size = true;
            out_r->size = v;
        } else if (key_is(p, "BODY")) {
            if (value_is(p, "7BIT"))
                out_r->body = SMTP_BODY_7BIT;
            else if (value_is(p, "8BITMIME"))
                out_r->body = SMTP_BODY_8BITMIME;
            else
                return &err_body;
        } else if (key_is(p, "SMTPUTF8")) {
            if (p->value)
                return &err_smtputf8_value;
            out_r->smtputf8 = true;
        } else if (key_is(p, "RET")) {
            if (value_is(p, "FULL"))
                out_r->ret = SMTP_RET_FULL;
            else if (value_is(p, "HDRS"))
                out_r->ret = SMTP_RET_HDRS;
            else
                return &err_ret;
        } else if (key_is(p, "ENVID")) {
            if (p->value == NULL || p->value_len > 100 || !xtext_valid(p->value, p->value_len))
                return &err_envid;
            memcpy(out_r->envid, p->value, p->value_len);
            out_r->envid[p->value_len] = '\0';
        } else if (key_is(p, "AUTH")) {
            /* RFC 4954 5: accepted, and not trusted from unauthenticated peers. */
            if (p->value == NULL || !auth_value_valid(p->value, p->value_len))
                return &err_param_syntax;
            out_r->has_auth = true;
        } else {
            return &err_param_unknown;
        }
    }
    return NULL;
}

const struct smtp_error *smtp_rcpt_params_parse(const struct esmtp_param *params, size_t n,
                                                struct smtp_rcpt_params *out_r)
{
    memset(out_r, 0, sizeof(*out_r));
    for (size_t i = 0; i < n; i++) {
        const struct esmtp_param *p = &params[i];
        if (key_is(p, "NOTIFY")) {
            if (p->value == NULL)
                return &err_notify;
            unsigned flags = 0;
            size_t s = 0;
            while (s <= p->value_len) {
                size_t e = s;
                while (e < p->value_len && p->value[e] != ',')
                    e++;
                struct esmtp_param item = {.value = p->value + s, .value_len = e - s};
                unsigned f;
                if (value_is(&item, "NEVER"))
                    f = SMTP_NOTIFY_NEVER;
                else if (value_is(&item, "SUCCESS"))
                    f = SMTP_NOTIFY_SUCCESS;
                else if (value_is(&item, "FAILURE"))
                    f = SMTP_NOTIFY_FAILURE;
                else if (value_is(&item, "DELAY"))
                    f = SMTP_NOTIFY_DELAY;
                else
                    return &err_notify;
                if (flags & f)
                    return &err_notify;
                flags |= f;
                s = e + 1;
            }
            if ((flags & SMTP_NOTIFY_NEVER) && flags != SMTP_NOTIFY_NEVER)
                return &err_notify;
            out_r->notify = flags;
        } else if (key_is(p, "ORCPT")) {
            const char *semi = p->value ? memchr(p->value, ';', p->value_len) : NULL;
            if (semi == NULL || semi == p->value || p->value_len >= sizeof(out_r->orcpt) ||
                !xtext_valid(semi + 1, p->value_len - (size_t)(semi + 1 - p->value)) ||
                (size_t)(semi + 1 - p->value) == p->value_len)
                return &err_orcpt;
            for (const char *c = p->value; c < semi; c++) /* addr-type = atom */
                if (!is_atext((unsigned char)*c))
                    return &err_orcpt;
            memcpy(out_r->orcpt, p->value, p->value_len);
            out_r->orcpt[p->value_len] = '\0';
        } else {
            return &err_param_unknown;
        }
    }
    return NULL;
}

const struct smtp_error *smtp_bdat_parse(const char *args, size_t len, uint64_t *size_r,
                                         bool *last_r)
{
    size_t i = 0;
    uint64_t v = 0;
    if (len == 0)
        return &err_bdat_syntax;
    while (i < len && args[i] >= '0' && args[i] <= '9') {
        if (v > (UINT64_MAX - 9) / 10)
            return &err_size_big;
        v = v * 10 + (uint64_t)(args[i] - '0');
        i++;
    }
    if (i == 0)
        return &err_bdat_syntax;
    *last_r = false;
    if (i < len) {
        if (args[i] != ' ')
            return &err_bdat_syntax;
        while (i < len && args[i] == ' ')
            i++;
        if (len - i != 4 || strncasecmp(args + i, "LAST", 4) != 0)
            return &err_bdat_syntax;
        *last_r = true;
    }
    *size_r = v;
    return NULL;
}
