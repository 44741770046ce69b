/* Fuzzes the IMAP command parser (proto/imap_parse.h) as a session drives
 * it: the input after a 5-octet header is a client's byte stream, split
 * into lines at LF (a CR before it removed); after IMAP_PARSE_LITERAL the
 * announced octets are fed in pieces, or taken "externally" (skipped), as
 * the header says. The header picks small limits (line, literal, literals,
 * depth, arguments), the piece size and which literals go external.
 *
 * Every parsed command must respect the limits and the tree's invariants
 * (values NUL-terminated at len, atoms free of separators, upper-case
 * name), errors must be one-line texts, and the command written back in
 * IMAP (minimal quoting, literals as {n}) must parse, with the same limits,
 * to the same tree. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/imap_parse.h"
#include "util/buf.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            __builtin_trap();                                                                      \
    } while (0)

struct stream {
    const char *in;
    size_t size, pos;
    size_t piece;
    unsigned ext_mask; /* literal k is taken externally if bit k % 8 */
    unsigned literals; /* literals seen so far */
};

static void check_arg(const struct imap_arg *a, const struct imap_parse_limits *l, unsigned depth,
                      size_t *count, size_t *held)
{
    (*count)++;
    CHECK(*count <= l->args_max);
    switch (a->type) {
    case IMAP_ARG_ATOM:
    case IMAP_ARG_NIL:
        CHECK(a->str && a->len > 0 && a->str[a->len] == '\0' && strlen(a->str) == a->len);
        if (a->type == IMAP_ARG_NIL)
            CHECK(a->len == 3);
        if (!memchr(a->str, '[', a->len))
            CHECK(!strpbrk(a->str, " ()\"{"));
        break;
    case IMAP_ARG_STRING:
        CHECK(a->str && a->str[a->len] == '\0' && strlen(a->str) == a->len);
        CHECK(!memchr(a->str, '\r', a->len) && !memchr(a->str, '\n', a->len));
        break;
    case IMAP_ARG_LITERAL:
        CHECK(a->len <= l->literal_max);
        if (a->external) {
            CHECK(a->str == NULL);
        } else {
            CHECK(a->str && a->str[a->len] == '\0');
            CHECK(a->literal8 || strlen(a->str) == a->len);
            *held += a->len;
        }
        break;
    case IMAP_ARG_LIST:
        CHECK(depth < l->depth_max);
        CHECK(a->n == 0 || a->list);
        for (size_t i = 0; i < a->n; i++)
            check_arg(&a->list[i], l, depth + 1, count, held);
        break;
    default:
        CHECK(0);
    }
}

/* Writes a back in IMAP: the text goes to text, each literal's octets to
 * lits (in order), a literal ends the current line ('\n' in text). */
static void write_arg(const struct imap_arg *a, struct buf *text, struct buf *lits)
{
    switch (a->type) {
    case IMAP_ARG_ATOM:
    case IMAP_ARG_NIL:
        buf_append(text, a->str, a->len);
        break;
    case IMAP_ARG_STRING:
        buf_append_char(text, '"');
        for (size_t i = 0; i < a->len; i++) {
            if (a->str[i] == '"' || a->str[i] == '\\')
                buf_append_char(text, '\\');
            buf_append_char(text, a->str[i]);
        }
        buf_append_char(text, '"');
        break;
    case IMAP_ARG_LITERAL:
        buf_printf(text, "%s{%zu}\n", a->literal8 ? "~" : "", a->len);
        if (!a->external)
            buf_append(lits, a->str, a->len);
        break;
    case IMAP_ARG_LIST:
        buf_append_char(text, '(');
        for (size_t i = 0; i < a->n; i++) {
            if (i)
                buf_append_char(text, ' ');
            write_arg(&a->list[i], text, lits);
        }
        buf_append_char(text, ')');
        break;
    }
}

static void same_arg(const struct imap_arg *a, const struct imap_arg *b)
{
    CHECK(a->type == b->type && a->len == b->len && a->n == b->n);
    CHECK(a->literal8 == b->literal8 && a->external == b->external);
    if (a->str || b->str)
        CHECK(a->str && b->str && memcmp(a->str, b->str, a->len) == 0);
    for (size_t i = 0; a->type == IMAP_ARG_LIST && i < a->n; i++)
        same_arg(&a->list[i], &b->list[i]);
}

/* Feeds the stream's next line; false at its end (an unfinished last line
 * is not a line). */
static bool feed_next_line(struct stream *s, struct imap_parser *p, enum imap_parse_result *r)
{
    const char *start = s->in + s->pos;
    const char *lf = memchr(start, '\n', s->size - s->pos);
    if (!lf)
        return false;
    size_t len = (size_t)(lf - start);
    s->pos += len + 1;
    if (len > 0 && start[len - 1] == '\r')
        len--;
    *r = imap_parser_feed_line(p, start, len);
    return true;
}

/* After IMAP_PARSE_LITERAL: its octets, fed or skipped. False if the
 * stream ends first. */
static bool take_literal(struct stream *s, struct imap_parser *p, enum imap_parse_result *r)
{
    size_t size = imap_parser_literal_size(p);
    CHECK(imap_parser_literal_left(p) == size);
    bool external = (s->ext_mask >> (s->literals++ % 8)) & 1;
    if (external || !imap_parser_literal_fits(p)) {
        if (s->size - s->pos < size)
            return false;
        s->pos += size;
        imap_parser_literal_external(p);
        CHECK(imap_parser_literal_left(p) == 0);
        *r = IMAP_PARSE_DONE;
        return true;
    }
    do {
        size_t left = imap_parser_literal_left(p);
        size_t take = left < s->piece ? left : s->piece;
        if (s->size - s->pos < take)
            return false;
        *r = imap_parser_feed_literal(p, s->in + s->pos, take);
        s->pos += take;
        if (*r == IMAP_PARSE_LITERAL)
            CHECK(imap_parser_literal_left(p) == left - take);
    } while (*r == IMAP_PARSE_LITERAL);
    return true;
}

/* Parses c written back in IMAP, with the same limits: the same tree. */
static void check_reparse(const struct imap_command *c, const struct imap_parse_limits *l)
{
    struct buf text, lits;
    buf_init(&text);
    buf_init(&lits);
    buf_printf(&text, "%s %s", c->tag, c->name);
    for (size_t i = 0; i < c->n; i++) {
        buf_append_char(&text, ' ');
        write_arg(&c->args[i], &text, &lits);
    }
    buf_append_char(&text, '\n');
    /* The literals' external flags, in document order, come from c itself:
     * walk the written text's literals alongside a flat list of c's. */
    const struct imap_arg *flat[4096];
    size_t n_flat = 0;
    const struct imap_arg *stack[64];
    size_t idx[64], len[64], sp = 0;
    stack[0] = c->args;
    idx[0] = 0;
    len[0] = c->n;
    sp = 1;
    while (sp > 0) {
        if (idx[sp - 1] == len[sp - 1]) {
            sp--;
            continue;
        }
        const struct imap_arg *a = &stack[sp - 1][idx[sp - 1]++];
        if (a->type == IMAP_ARG_LITERAL && n_flat < 4096)
            flat[n_flat++] = a;
        if (a->type == IMAP_ARG_LIST && sp < 64) {
            stack[sp] = a->list;
            idx[sp] = 0;
            len[sp] = a->n;
            sp++;
        }
    }
    struct imap_parser *p = imap_parser_new(l);
    struct stream s = {text.data, text.len, 0, SIZE_MAX, 0, 0};
    size_t lit_pos = 0, k = 0;
    enum imap_parse_result r = IMAP_PARSE_ERROR;
    while (feed_next_line(&s, p, &r) && r == IMAP_PARSE_LITERAL) {
        CHECK(k < n_flat);
        const struct imap_arg *orig = flat[k++];
        CHECK(imap_parser_literal_size(p) == orig->len);
        if (orig->external) {
            imap_parser_literal_external(p);
        } else {
            r = imap_parser_feed_literal(p, lits.data + lit_pos, orig->len);
            CHECK(r == IMAP_PARSE_DONE);
            lit_pos += orig->len;
        }
    }
    CHECK(r == IMAP_PARSE_DONE);
    const struct imap_command *again = imap_parser_command(p);
    CHECK(strcmp(again->tag, c->tag) == 0 && strcmp(again->name, c->name) == 0);
    CHECK(again->n == c->n);
    for (size_t i = 0; i < c->n; i++)
        same_arg(&c->args[i], &again->args[i]);
    imap_parser_free(p);
    buf_free(&text);
    buf_free(&lits);
}

static void check_command(const struct imap_command *c, const struct imap_parse_limits *l)
{
    size_t tag_len = strlen(c->tag), name_len = strlen(c->name);
    CHECK(tag_len >= 1 && tag_len <= IMAP_TAG_MAX);
    CHECK(name_len >= 1 && name_len <= IMAP_COMMAND_MAX);
    for (size_t i = 0; i < name_len; i++)
        CHECK(!(c->name[i] >= 'a' && c->name[i] <= 'z') && c->name[i] > ' ');
    size_t count = 0, held = 0;
    for (size_t i = 0; i < c->n; i++)
        check_arg(&c->args[i], l, 0, &count, &held);
    CHECK(held <= l->literals_max);
    check_reparse(c, l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 5)
        return 0;
    static const size_t lines[] = {16, 64, 200, 1000};
    static const size_t literals[] = {0, 1, 8, 100};
    struct imap_parse_limits l = {
        .line_max = lines[data[0] & 3],
        .literal_max = literals[(data[1] >> 0) & 3],
        .literals_max = literals[(data[1] >> 2) & 3],
        .depth_max = data[2] & 7,
        .args_max = 1 + (data[2] >> 3),
    };
    struct stream s = {(const char *)data + 5, size - 5, 0, 1 + (data[3] & 7), data[4], 0};
    if ((data[3] & 7) == 7)
        s.piece = SIZE_MAX;
    struct imap_parser *p = imap_parser_new(&l);
    enum imap_parse_result r;
    bool more = true;
    while (more && feed_next_line(&s, p, &r)) {
        while (r == IMAP_PARSE_LITERAL) {
            if (!take_literal(&s, p, &r)) {
                more = false;
                break;
            }
            if (r == IMAP_PARSE_DONE && !feed_next_line(&s, p, &r)) {
                more = false;
                break;
            }
        }
        if (!more)
            break;
        if (r == IMAP_PARSE_DONE) {
            CHECK(imap_parser_error(p) == NULL);
            check_command(imap_parser_command(p), &l);
        } else {
            const char *err = imap_parser_error(p);
            CHECK(err && *err && !strpbrk(err, "\r\n"));
            CHECK(imap_parser_command(p) == NULL);
            const char *tag = imap_parser_tag(p);
            CHECK(!tag || (strlen(tag) >= 1 && strlen(tag) <= IMAP_TAG_MAX));
            if (imap_parser_fatal(p))
                break;
        }
        imap_parser_reset(p);
    }
    imap_parser_free(p);
    return 0;
}
