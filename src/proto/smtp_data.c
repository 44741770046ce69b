/* The incremental decoder of DATA (dot-stuffed) and BDAT content, which
 * flags bare CR and LF so SMTP smuggling cannot end a message early. */
#include "proto/smtp_data.h"

#include "proto/octet_scan.h"

enum state {
    ST_LINE_START, /* at the start of a line */
    ST_IN_LINE,
    ST_CR,     /* a CR inside a line */
    ST_DOT,    /* a '.' at the start of a line */
    ST_DOT_CR, /* ".\r" at the start of a line */
};

static const struct smtp_error err_bare_lf = {
    554, "5.6.0",
    "Message contains a bare LF; lines must end with CRLF (refused to prevent SMTP smuggling)"};
static const struct smtp_error err_bare_cr = {
    554, "5.6.0",
    "Message contains a bare CR; lines must end with CRLF (refused to prevent SMTP smuggling)"};
static const struct smtp_error err_long = {
    554, "5.6.0", "Message has a line longer than 998 octets (RFC 5322 2.1.1); not truncated"};
static const struct smtp_error err_nul = {554, "5.6.0", "Message contains a NUL octet"};
static const struct smtp_error err_big = {552, "5.3.4",
                                          "Message size exceeds fixed maximum message size"};

void smtp_data_decoder_init(struct smtp_data_decoder *d, enum smtp_data_mode mode,
                            uint64_t max_size)
{
    d->mode = mode;
    d->state = ST_LINE_START;
    d->line_len = 0;
    d->size = 0;
    d->max_size = max_size;
    d->flags = 0;
}

void smtp_data_finish(struct smtp_data_decoder *d)
{
    if (d->state == ST_CR || d->state == ST_DOT_CR)
        d->flags |= SMTP_DATA_BARE_CR;
}

bool smtp_data_in_line(const struct smtp_data_decoder *d)
{
    return d->state != ST_LINE_START;
}

const struct smtp_error *smtp_data_error(const struct smtp_data_decoder *d)
{
    if (d->flags & SMTP_DATA_TOO_BIG)
        return &err_big;
    if (d->flags & SMTP_DATA_BARE_LF)
        return &err_bare_lf;
    if (d->flags & SMTP_DATA_BARE_CR)
        return &err_bare_cr;
    if (d->flags & SMTP_DATA_NUL)
        return &err_nul;
    if (d->flags & SMTP_DATA_LONG_LINE)
        return &err_long;
    return NULL;
}

#define REJECTED                                                                                   \
    (SMTP_DATA_BARE_LF | SMTP_DATA_BARE_CR | SMTP_DATA_LONG_LINE | SMTP_DATA_NUL |                 \
     SMTP_DATA_TOO_BIG)

static void emit(struct smtp_data_decoder *d, struct buf *out, const char *p, size_t n)
{
    d->size += n;
    if (d->max_size && d->size > d->max_size)
        d->flags |= SMTP_DATA_TOO_BIG;
    if (!(d->flags & REJECTED) && out)
        buf_append(out, p, n);
}

/* One octet of line content (not CR, not LF). */
static void content_octet(struct smtp_data_decoder *d, struct buf *out, char c)
{
    unsigned char u = (unsigned char)c;
    if (u == 0)
        d->flags |= SMTP_DATA_NUL;
    else if (u >= 0x80)
        d->flags |= SMTP_DATA_8BIT;
    if (++d->line_len > SMTP_TEXT_LINE_MAX - 2)
        d->flags |= SMTP_DATA_LONG_LINE;
    emit(d, out, &c, 1);
}

/* Octets of line content, none of them CR, LF or NUL. */
static void content_run(struct smtp_data_decoder *d, struct buf *out, const char *p, size_t n)
{
    if (!(d->flags & SMTP_DATA_8BIT) && octet_scan_8bit(p, n))
        d->flags |= SMTP_DATA_8BIT;
    size_t max = SMTP_TEXT_LINE_MAX - 2;
    size_t room = d->line_len < max ? max - d->line_len : 0;
    if (n > room) {
        /* As octet by octet: what fits is taken, then the line is too long. */
        d->line_len += room;
        emit(d, out, p, room);
        d->flags |= SMTP_DATA_LONG_LINE;
        d->line_len += n - room;
        emit(d, out, p + room, n - room);
        return;
    }
    d->line_len += n;
    emit(d, out, p, n);
}

int smtp_data_decode(struct smtp_data_decoder *d, const char *in, size_t len, size_t *consumed_r,
                     struct buf *out)
{
    size_t i = 0;
    bool dot_mode = d->mode == SMTP_DATA_DOT;
    while (i < len) {
        char c = in[i++];
        switch (d->state) {
        case ST_LINE_START:
            if (c == '.' && dot_mode) {
                d->state = ST_DOT;
                break;
            }
            d->state = ST_IN_LINE;
            /* fall through */
        case ST_IN_LINE:
            if (c == '\r') {
                d->state = ST_CR;
            } else if (c == '\n') {
                /* A bare LF is content, not a line end. */
                d->flags |= SMTP_DATA_BARE_LF;
                content_octet(d, out, c);
            } else if (c == '\0') {
                content_octet(d, out, c);
            } else {
                /* The common case: a run of ordinary octets, taken at once
                 * rather than one call per octet (1 MiB messages). */
                size_t start = i - 1;
                size_t j = i + octet_scan_plain(in + i, len - i, true);
                content_run(d, out, in + start, j - start);
                i = j;
            }
            break;
        case ST_CR:
            if (c == '\n') {
                emit(d, out, "\r\n", 2);
                d->line_len = 0;
                d->state = ST_LINE_START;
            } else {
                d->flags |= SMTP_DATA_BARE_CR;
                content_octet(d, out, '\r');
                if (c != '\r') {
                    d->state = ST_IN_LINE;
                    i--; /* reprocess c inside the line */
                }
            }
            break;
        case ST_DOT:
            if (c == '\r') {
                d->state = ST_DOT_CR;
            } else {
                /* Dot-unstuffing: the leading dot is removed (RFC 5321 4.5.2). */
                d->state = ST_IN_LINE;
                i--;
            }
            break;
        case ST_DOT_CR:
            if (c == '\n') {
                *consumed_r = i;
                d->state = ST_LINE_START;
                return 1;
            }
            /* ".\r" not followed by LF: a bare CR after an unstuffed dot. */
            d->flags |= SMTP_DATA_BARE_CR;
            content_octet(d, out, '\r');
            d->state = ST_IN_LINE;
            if (c != '\r')
                i--;
            else
                d->state = ST_CR;
            break;
        }
    }
    *consumed_r = i;
    return 0;
}
