/* POP3 command parsing (see pop3_parse.h): verb and arguments of one line,
 * checked against what each verb takes. Pure: no I/O, no allocation. */
#include "proto/pop3_parse.h"

#include <string.h>
#include <strings.h>

static const char *const verb_names[POP3_VERB_COUNT] = {
    [POP3_VERB_UNKNOWN] = "?", [POP3_VERB_USER] = "USER", [POP3_VERB_PASS] = "PASS",
    [POP3_VERB_APOP] = "APOP", [POP3_VERB_AUTH] = "AUTH", [POP3_VERB_STAT] = "STAT",
    [POP3_VERB_LIST] = "LIST", [POP3_VERB_RETR] = "RETR", [POP3_VERB_DELE] = "DELE",
    [POP3_VERB_NOOP] = "NOOP", [POP3_VERB_RSET] = "RSET", [POP3_VERB_QUIT] = "QUIT",
    [POP3_VERB_TOP] = "TOP",   [POP3_VERB_UIDL] = "UIDL", [POP3_VERB_CAPA] = "CAPA",
    [POP3_VERB_STLS] = "STLS",
};

const char *pop3_verb_name(enum pop3_verb verb)
{
    return verb > POP3_VERB_UNKNOWN && verb < POP3_VERB_COUNT ? verb_names[verb] : "unknown";
}

/* A message number or line count: 1 to 10 digits, at most UINT32_MAX. */
static const char *parse_number(const char *p, size_t n, uint32_t *out)
{
    if (n == 0)
        return "Expected a number";
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return "Expected a number (digits only)";
        v = v * 10 + (uint64_t)(p[i] - '0');
        if (v > UINT32_MAX)
            return "Number too large";
    }
    *out = (uint32_t)v;
    return NULL;
}

#define ARGS_MAX 3

const char *pop3_command_parse(const char *line, size_t len, struct pop3_command *cmd_r)
{
    memset(cmd_r, 0, sizeof(*cmd_r));
    if (len == 0)
        return "Empty command line";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)line[i];
        if (c < 0x20 || c == 0x7f)
            return "Control characters (NUL, CR, LF, TAB ...) are not allowed in a command";
    }
    size_t v = 0;
    while (v < len && line[v] != ' ')
        v++;
    cmd_r->verb = POP3_VERB_UNKNOWN;
    for (int i = 1; i < POP3_VERB_COUNT; i++)
        if (strlen(verb_names[i]) == v && strncasecmp(line, verb_names[i], v) == 0) {
            cmd_r->verb = (enum pop3_verb)i;
            break;
        }
    if (cmd_r->verb == POP3_VERB_UNKNOWN)
        return NULL;
    const char *rest = v < len ? line + v + 1 : line + len;
    size_t rest_len = v < len ? len - v - 1 : 0;

    if (cmd_r->verb == POP3_VERB_PASS) {
        /* The one argument is the rest of the line, exactly as sent. */
        if (rest_len == 0)
            return "PASS needs a password";
        cmd_r->arg = rest;
        cmd_r->arg_len = rest_len;
        return NULL;
    }

    /* Trailing spaces are forgiven (some clients send them); inside the
     * line, arguments are separated by exactly one space (RFC 1939 3). */
    while (rest_len > 0 && rest[rest_len - 1] == ' ')
        rest_len--;
    const char *args[ARGS_MAX];
    size_t lens[ARGS_MAX];
    size_t nargs = 0;
    size_t i = 0;
    while (i < rest_len) {
        size_t start = i;
        while (i < rest_len && rest[i] != ' ')
            i++;
        if (i == start)
            return "Arguments must be separated by exactly one space";
        if (nargs == ARGS_MAX)
            return "Too many arguments";
        args[nargs] = rest + start;
        lens[nargs++] = i - start;
        if (i < rest_len)
            i++; /* the separating space */
    }

    const char *err;
    switch (cmd_r->verb) {
    case POP3_VERB_USER:
        if (nargs != 1)
            return nargs == 0 ? "USER needs a name" : "USER takes one name without spaces";
        cmd_r->arg = args[0];
        cmd_r->arg_len = lens[0];
        return NULL;
    case POP3_VERB_APOP:
        /* Not offered; the session refuses it whatever the arguments. */
        return NULL;
    case POP3_VERB_AUTH:
        if (nargs > 2)
            return "Syntax: AUTH mechanism [initial-response]";
        if (nargs >= 1) {
            cmd_r->arg = args[0];
            cmd_r->arg_len = lens[0];
        } else {
            cmd_r->arg = rest;
        }
        if (nargs == 2) {
            cmd_r->initial = args[1];
            cmd_r->initial_len = lens[1];
        }
        return NULL;
    case POP3_VERB_STAT:
    case POP3_VERB_NOOP:
    case POP3_VERB_RSET:
    case POP3_VERB_QUIT:
    case POP3_VERB_CAPA:
    case POP3_VERB_STLS:
        return nargs == 0 ? NULL : "This command takes no arguments";
    case POP3_VERB_LIST:
    case POP3_VERB_UIDL:
        if (nargs > 1)
            return "Syntax: LIST [message-number] / UIDL [message-number]";
        if (nargs == 1) {
            if ((err = parse_number(args[0], lens[0], &cmd_r->msg)) != NULL)
                return err;
            cmd_r->has_msg = true;
        }
        return NULL;
    case POP3_VERB_RETR:
    case POP3_VERB_DELE:
        if (nargs != 1)
            return "Syntax: RETR message-number / DELE message-number";
        if ((err = parse_number(args[0], lens[0], &cmd_r->msg)) != NULL)
            return err;
        cmd_r->has_msg = true;
        return NULL;
    case POP3_VERB_TOP:
        if (nargs != 2)
            return "Syntax: TOP message-number lines";
        if ((err = parse_number(args[0], lens[0], &cmd_r->msg)) != NULL ||
            (err = parse_number(args[1], lens[1], &cmd_r->lines)) != NULL)
            return err;
        cmd_r->has_msg = true;
        return NULL;
    default:
        return NULL;
    }
}
