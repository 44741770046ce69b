/* Fuzzes the DSN builder with what a bounce takes from elsewhere: the
 * envelope's addresses, ORCPT and ENVID, the remote host names and
 * replies, the times in the envelope, and the original message. Input: 40
 * octets of numbers (kind, RET=FULL, times, recipient count), then
 * NUL-separated fields (reporting MTA, queue id, sender, envid, then six
 * per recipient), then the original message.
 * Checked: everything we write before the original message is CRLF lines
 * of printable ASCII of at most 998 octets, and no value can start a field
 * of its own in the header or the delivery-status part. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/dsn.h"

#define RCPTS_MAX 4
#define BOUNDARY  "b0und.ary=_1"

static const char *next_field(const uint8_t **p, const uint8_t *end, char **owned, size_t *nowned)
{
    const uint8_t *nul = memchr(*p, '\0', (size_t)(end - *p));
    size_t n = nul ? (size_t)(nul - *p) : (size_t)(end - *p);
    char *s = malloc(n + 1);
    memcpy(s, *p, n);
    s[n] = '\0';
    *p += nul ? n + 1 : n;
    owned[(*nowned)++] = s;
    return s;
}

static int64_t num(const uint8_t *b)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | b[i];
    return (int64_t)v;
}

static bool known_field(const char *line, size_t len)
{
    static const char *const names[] = {
        "From:",
        "To:",
        "Subject:",
        "Date:",
        "Message-ID:",
        "Auto-Submitted:",
        "MIME-Version:",
        "Content-Type:",
        "Content-Description:",
        "Reporting-MTA:",
        "X-Postern-Queue-ID:",
        "Original-Envelope-Id:",
        "Arrival-Date:",
        "Final-Recipient:",
        "Original-Recipient:",
        "Action:",
        "Status:",
        "Remote-MTA:",
        "Diagnostic-Code:",
        "Last-Attempt-Date:",
        "Will-Retry-Until:",
    };
    if (len == 0 || line[0] == ' ' || line[0] == '\t')
        return true; /* the end of a header block, or a folded line */
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (len >= strlen(names[i]) && memcmp(line, names[i], strlen(names[i])) == 0)
            return true;
    return false;
}

/* Lines of what we wrote ourselves. part counts the boundary lines: the
 * header section before the first, and the delivery-status part after the
 * second, hold only fields we write, continuations and empty lines. */
static void check_ours(const char *s, size_t len)
{
    int part = 0;
    bool top = true; /* in the message's header section */
    size_t i = 0;
    while (i < len) {
        const char *eol = memchr(s + i, '\n', len - i);
        if (eol == NULL || eol == s + i || eol[-1] != '\r')
            __builtin_trap(); /* every line ends with CRLF */
        size_t llen = (size_t)(eol - (s + i)) - 1;
        const char *line = s + i;
        if (llen > 998)
            __builtin_trap();
        for (size_t k = 0; k < llen; k++) {
            unsigned char c = (unsigned char)line[k];
            if ((c < 0x20 && c != '\t') || c >= 0x7f)
                __builtin_trap();
        }
        if (llen >= 2 && line[0] == '-' && line[1] == '-')
            part++;
        else if (((part == 0 && top) || part == 2) && !known_field(line, llen))
            __builtin_trap();
        if (llen == 0)
            top = false;
        i += llen + 2;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 40)
        return 0;
    const uint8_t *p = data + 40, *end = data + size;
    char *owned[4 + RCPTS_MAX * 6];
    size_t nowned = 0;
    struct dsn_rcpt rcpts[RCPTS_MAX];
    struct dsn_info in = {
        .reporting_mta = next_field(&p, end, owned, &nowned),
        .queue_id = next_field(&p, end, owned, &nowned),
        .to = next_field(&p, end, owned, &nowned),
        .envid = data[1] & 1 ? next_field(&p, end, owned, &nowned) : NULL,
        .arrival = num(data + 8),
        .now = num(data + 16),
        .retry_until = num(data + 24),
        .boundary = BOUNDARY,
        .message_id = "<20261203.1@mx.example.test>",
        .rcpts = rcpts,
        .nrcpts = 1 + data[0] % RCPTS_MAX,
        .kind = (enum dsn_kind)(data[2] % 3),
        .full = data[1] & 2,
    };
    for (size_t r = 0; r < in.nrcpts; r++) {
        uint8_t bits = data[3 + r];
        rcpts[r] = (struct dsn_rcpt){
            .final_rcpt = next_field(&p, end, owned, &nowned),
            .orcpt = bits & 1 ? next_field(&p, end, owned, &nowned) : NULL,
            .action = next_field(&p, end, owned, &nowned),
            .status = next_field(&p, end, owned, &nowned),
            .remote_mta = bits & 2 ? next_field(&p, end, owned, &nowned) : NULL,
            .diagnostic = bits & 4 ? next_field(&p, end, owned, &nowned) : NULL,
            .diagnostic_smtp = bits & 8,
            .last_attempt = bits & 16 ? num(data + 32) : 0,
        };
    }
    /* The rest is the original message, as the queue holds it. */
    const char *msg = (const char *)p;
    size_t msglen = (size_t)(end - p);
    in.headers = msg;
    in.headers_len = in.full ? msglen : dsn_header_section_len(msg, msglen, 64 * 1024);
    if (in.headers_len > msglen)
        __builtin_trap();

    struct buf with, without;
    buf_init(&with);
    buf_init(&without);
    dsn_build(&in, &with);
    in.headers_len = 0;
    dsn_build(&in, &without);
    /* What precedes the original headers is the same either way. */
    static const char tail[] = "\r\n--" BOUNDARY "--\r\n";
    size_t ours = without.len - (sizeof(tail) - 1);
    if (without.len < sizeof(tail) - 1 || memcmp(without.data + ours, tail, sizeof(tail) - 1) ||
        with.len < without.len || memcmp(with.data, without.data, ours) != 0 ||
        memcmp(with.data + with.len - (sizeof(tail) - 1), tail, sizeof(tail) - 1) != 0)
        __builtin_trap();
    check_ours(without.data, ours);
    buf_free(&with);
    buf_free(&without);
    for (size_t i = 0; i < nowned; i++)
        free(owned[i]);
    return 0;
}
