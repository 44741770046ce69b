/*
 * imap_parse: the IMAP command parser (see imap_parse.h). Each fed line is
 * tokenised at once into a flat array of nodes (document order, each with
 * its parent list); values go into one arena buffer as offsets, so that the
 * buffer may grow while the command is read. When the command is complete
 * the nodes are laid out into the const struct imap_arg tree the caller
 * sees, pointing into the arena, which is not touched again until reset.
 */
#include "proto/imap_parse.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"
#include "util/xmalloc.h"

#define NO_PARENT SIZE_MAX
/* A reset parser keeps its arena for the next command, unless a big
 * literal made it larger than this: idle connections stay small. */
#define ARENA_KEEP 16384

struct node {
    enum imap_arg_type type;
    size_t off; /* value offset in the arena */
    size_t len;
    bool literal8;
    bool external;
    size_t parent;   /* index of the enclosing list node, or NO_PARENT */
    size_t children; /* LIST: how many elements (counted when laid out) */
    size_t start;    /* LIST: index of its first element in the tree */
    size_t placed;   /* LIST: elements placed so far while laying out */
};

enum state {
    ST_START,   /* waiting for the first line of a command */
    ST_ARGS,    /* a literal ended: the next line continues the arguments */
    ST_LITERAL, /* waiting for a literal's octets */
    ST_DONE,
    ST_ERROR,
};

struct imap_parser {
    struct imap_parse_limits limits;
    enum state state;
    char tag[IMAP_TAG_MAX + 1];
    bool has_tag;
    char name[IMAP_COMMAND_MAX + 1];
    size_t text_len;     /* the command's text so far, literals excluded */
    size_t literals_len; /* literal octets held in the arena */
    struct buf arena;
    struct node *nodes;
    size_t n_nodes, cap_nodes;
    size_t *open; /* the open lists, innermost last */
    size_t depth, cap_open;
    /* The literal being read (ST_LITERAL). */
    size_t lit_node, lit_size, lit_left;
    bool lit_nonsync, lit_started;
    const char *error;
    /* An error found inside a literal: the command is read to its end
     * (its octets and the rest of its lines are on their way) and then
     * refused with this, so the session stays in step. */
    const char *deferred;
    bool fatal, too_big;
    struct imap_arg *tree;
    struct imap_command command;
};

struct imap_parser *imap_parser_new(const struct imap_parse_limits *limits)
{
    struct imap_parser *p = xcalloc(1, sizeof(*p));
    p->limits = *limits;
    buf_init(&p->arena);
    return p;
}

void imap_parser_free(struct imap_parser *p)
{
    if (!p)
        return;
    buf_free(&p->arena);
    free(p->nodes);
    free(p->open);
    free(p->tree);
    free(p);
}

void imap_parser_reset(struct imap_parser *p)
{
    if (p->arena.cap > ARENA_KEEP)
        buf_free(&p->arena);
    else
        buf_reset(&p->arena);
    free(p->tree);
    p->tree = NULL;
    p->state = ST_START;
    p->has_tag = false;
    p->tag[0] = '\0';
    p->name[0] = '\0';
    p->text_len = 0;
    p->literals_len = 0;
    p->n_nodes = 0;
    p->depth = 0;
    p->lit_node = p->lit_size = p->lit_left = 0;
    p->lit_nonsync = p->lit_started = false;
    p->error = p->deferred = NULL;
    p->fatal = p->too_big = false;
    memset(&p->command, 0, sizeof(p->command));
}

static enum imap_parse_result fail(struct imap_parser *p, const char *error)
{
    p->state = ST_ERROR;
    p->error = error;
    return IMAP_PARSE_ERROR;
}

/* ATOM-CHAR (RFC 3501 9): any CHAR except atom-specials. */
static bool is_atom_char(unsigned char c)
{
    if (c <= 0x1f || c >= 0x7f)
        return false;
    return !strchr("(){ %*\"\\]", c);
}

/* What IMAP's grammar puts into atoms besides ATOM-CHAR: list wildcards
 * (LIST patterns, "1:*"), resp-specials (ASTRING-CHAR) and the backslash of
 * flags ("\Seen", "\*"). */
static bool is_atom_like(unsigned char c)
{
    return is_atom_char(c) || c == '%' || c == '*' || c == ']' || c == '\\';
}

/* Tag: ASTRING-CHAR except '+'. */
static bool is_tag_char(unsigned char c)
{
    return (is_atom_char(c) && c != '+') || c == ']';
}

/* Whether the line ends in a non-synchronising literal announcement: the
 * client sends its octets without waiting, so after an error in such a
 * line they would be read as commands. */
static bool ends_in_nonsync_literal(const char *line, size_t len)
{
    if (len < 4 || line[len - 1] != '}' || line[len - 2] != '+')
        return false;
    size_t i = len - 2;
    size_t digits = 0;
    while (i > 0 && line[i - 1] >= '0' && line[i - 1] <= '9') {
        i--;
        digits++;
    }
    return digits > 0 && i > 0 && line[i - 1] == '{';
}

static bool add_node(struct imap_parser *p, enum imap_arg_type type, size_t *index)
{
    if (p->n_nodes >= p->limits.args_max)
        return false;
    if (p->n_nodes == p->cap_nodes) {
        p->cap_nodes = p->cap_nodes ? p->cap_nodes * 2 : 16;
        if (p->cap_nodes > p->limits.args_max)
            p->cap_nodes = p->limits.args_max;
        p->nodes = xrealloc(p->nodes, p->cap_nodes * sizeof(*p->nodes));
    }
    struct node *n = &p->nodes[p->n_nodes];
    memset(n, 0, sizeof(*n));
    n->type = type;
    n->off = p->arena.len;
    n->parent = p->depth ? p->open[p->depth - 1] : NO_PARENT;
    *index = p->n_nodes++;
    return true;
}

/* Adds a value node whose text is value[0..len), NUL-terminated in the arena. */
static bool add_value(struct imap_parser *p, enum imap_arg_type type, const char *value, size_t len)
{
    size_t i;
    if (!add_node(p, type, &i))
        return false;
    buf_append(&p->arena, value, len);
    buf_append_char(&p->arena, '\0');
    p->nodes[i].len = len;
    return true;
}

static bool open_list(struct imap_parser *p)
{
    size_t i;
    if (!add_node(p, IMAP_ARG_LIST, &i))
        return false;
    if (p->depth == p->cap_open) {
        p->cap_open = p->cap_open ? p->cap_open * 2 : 8;
        p->open = xrealloc(p->open, p->cap_open * sizeof(*p->open));
    }
    p->open[p->depth++] = i;
    return true;
}

/* Lays the nodes out into the tree: every list's elements contiguous, the
 * command's arguments first. */
static void build_tree(struct imap_parser *p)
{
    size_t top = 0;
    for (size_t i = 0; i < p->n_nodes; i++) {
        struct node *n = &p->nodes[i];
        n->children = 0;
        n->placed = 0;
        if (n->parent == NO_PARENT)
            top++;
        else
            p->nodes[n->parent].children++;
    }
    size_t next = top;
    for (size_t i = 0; i < p->n_nodes; i++) {
        if (p->nodes[i].type == IMAP_ARG_LIST) {
            p->nodes[i].start = next;
            next += p->nodes[i].children;
        }
    }
    p->tree = p->n_nodes ? xcalloc(p->n_nodes, sizeof(*p->tree)) : NULL;
    size_t top_next = 0;
    for (size_t i = 0; i < p->n_nodes; i++) {
        struct node *n = &p->nodes[i];
        size_t slot;
        if (n->parent == NO_PARENT) {
            slot = top_next++;
        } else {
            struct node *parent = &p->nodes[n->parent];
            slot = parent->start + parent->placed++;
        }
        p->tree[slot].type = n->type;
        p->tree[slot].literal8 = n->literal8;
        p->tree[slot].external = n->external;
        p->tree[slot].len = n->len;
        if (n->type == IMAP_ARG_LIST) {
            p->tree[slot].list = p->tree + n->start;
            p->tree[slot].n = n->children;
        } else if (!n->external) {
            p->tree[slot].str = p->arena.data + n->off;
        }
    }
    p->command.tag = p->tag;
    p->command.name = p->name;
    p->command.args = p->tree;
    p->command.n = top;
}

/* Where the argument scanner stands. */
enum position {
    AFTER_ARG,   /* an argument (or the command name) just ended */
    AFTER_SPACE, /* the space after an argument */
    AFTER_OPEN,  /* right after '(' */
};

/* A quoted string at line[*pos] == '"', unescaped into the arena. */
static const char *lex_quoted(struct imap_parser *p, const char *line, size_t len, size_t *pos)
{
    size_t index;
    if (!add_node(p, IMAP_ARG_STRING, &index))
        return "Too many arguments";
    size_t i = *pos + 1;
    size_t run = i; /* start of the octets not yet copied */
    for (;;) {
        if (i >= len)
            return "Unterminated quoted string";
        unsigned char c = (unsigned char)line[i];
        if (c == '"')
            break;
        if (c == '\\') {
            if (i + 1 >= len)
                return "Unterminated quoted string";
            if (line[i + 1] != '"' && line[i + 1] != '\\')
                return "Invalid escape in quoted string (only \\\" and \\\\)";
            buf_append(&p->arena, line + run, i - run);
            run = i + 1; /* the escaped character itself */
            i += 2;
            continue;
        }
        if (c == '\0')
            return "NUL in quoted string";
        if (c == '\r' || c == '\n')
            return "CR or LF in quoted string";
        i++;
    }
    buf_append(&p->arena, line + run, i - run);
    p->nodes[index].len = p->arena.len - p->nodes[index].off;
    buf_append_char(&p->arena, '\0');
    *pos = i + 1;
    return NULL;
}

/* A fetch item's section, line[*pos] == '[', up to its ']' (which may be in
 * none of the quoted strings it holds). */
static const char *skip_section(const char *line, size_t len, size_t *pos)
{
    size_t i = *pos + 1;
    bool quoted = false;
    for (; i < len; i++) {
        unsigned char c = (unsigned char)line[i];
        if (c < 0x20 || c == 0x7f)
            return quoted ? "Invalid character in quoted string" : "Invalid character in atom";
        if (quoted) {
            if (c == '\\' && i + 1 < len && (line[i + 1] == '"' || line[i + 1] == '\\'))
                i++;
            else if (c == '\\')
                return "Invalid escape in quoted string (only \\\" and \\\\)";
            else if (c == '"')
                quoted = false;
        } else if (c == '"') {
            quoted = true;
        } else if (c == ']') {
            *pos = i + 1;
            return NULL;
        } else if (c == '{') {
            return "Literal inside a section [...] is not supported";
        } else if (c == '[' || c >= 0x80) {
            return "Invalid character in atom";
        }
    }
    return quoted ? "Unterminated quoted string" : "Missing ] after section";
}

/* An atom (or NIL) at line[*pos]: up to a space, ')' or the end. */
static const char *lex_atom(struct imap_parser *p, const char *line, size_t len, size_t *pos)
{
    size_t start = *pos;
    size_t i = start;
    while (i < len && line[i] != ' ' && line[i] != ')') {
        if (line[i] == '[') {
            const char *err = skip_section(line, len, &i);
            if (err)
                return err;
            continue;
        }
        if (!is_atom_like((unsigned char)line[i]))
            return "Invalid character in atom";
        i++;
    }
    enum imap_arg_type type = IMAP_ARG_ATOM;
    if (i - start == 3 && strncasecmp(line + start, "NIL", 3) == 0)
        type = IMAP_ARG_NIL;
    if (!add_value(p, type, line + start, i - start))
        return "Too many arguments";
    *pos = i;
    return NULL;
}

/* A literal announcement, "{n}", "{n+}", "~{n}" or "~{n+}", at line[pos]:
 * it must end the line. Sizes are checked digit by digit, so that no
 * number of digits overflows. */
static enum imap_parse_result lex_literal(struct imap_parser *p, const char *line, size_t len,
                                          size_t pos, bool literal8)
{
    size_t i = pos + (literal8 ? 2 : 1);
    size_t size = 0, digits = 0;
    bool huge = false;
    for (; i < len && line[i] >= '0' && line[i] <= '9'; i++, digits++) {
        size_t d = (size_t)(line[i] - '0');
        if (size > (SIZE_MAX - d) / 10)
            huge = true;
        else
            size = size * 10 + d;
    }
    bool nonsync = false;
    if (i < len && line[i] == '+') {
        nonsync = true;
        i++;
    }
    if (digits == 0 || i >= len || line[i] != '}')
        return fail(p, "Invalid literal announcement (expected {size})");
    if (i + 1 != len)
        return fail(p, "Literal announcement not at the end of the line");
    if (huge || size > p->limits.literal_max) {
        p->too_big = true;
        p->fatal = nonsync; /* its octets are on their way */
        return fail(p, "Literal too large");
    }
    size_t index;
    if (!add_node(p, IMAP_ARG_LITERAL, &index))
        return fail(p, "Too many arguments");
    p->nodes[index].literal8 = literal8;
    p->state = ST_LITERAL;
    p->lit_node = index;
    p->lit_size = size;
    p->lit_left = size;
    p->lit_nonsync = nonsync;
    p->lit_started = false;
    return IMAP_PARSE_LITERAL;
}

static enum imap_parse_result complete(struct imap_parser *p)
{
    if (p->depth > 0)
        return fail(p, "Unbalanced parentheses (missing ')')");
    build_tree(p);
    p->state = ST_DONE;
    return IMAP_PARSE_DONE;
}

/* The arguments from line[pos] on, the scanner standing at where. */
static enum imap_parse_result parse_args(struct imap_parser *p, const char *line, size_t len,
                                         size_t pos, enum position where)
{
    for (;;) {
        if (pos == len) {
            if (where == AFTER_SPACE)
                return fail(p, "Unexpected space at the end of the line");
            return complete(p);
        }
        char c = line[pos];
        if (where == AFTER_ARG) {
            if (c == ' ') {
                where = AFTER_SPACE;
                pos++;
            } else if (c == ')') {
                if (p->depth == 0)
                    return fail(p, "Unbalanced parentheses (')' without '(')");
                p->depth--;
                pos++;
            } else {
                return fail(p, "Missing space between arguments");
            }
            continue;
        }
        const char *err = NULL;
        if (c == ' ') {
            return fail(p, "Unexpected space (arguments are separated by one space)");
        } else if (c == ')') {
            if (where != AFTER_OPEN)
                return fail(p, "Unexpected space before ')'");
            p->depth--; /* () */
            pos++;
        } else if (c == '(') {
            if (p->depth >= p->limits.depth_max)
                return fail(p, "Too deeply nested lists");
            if (!open_list(p))
                return fail(p, "Too many arguments");
            pos++;
            where = AFTER_OPEN;
            continue;
        } else if (c == '"') {
            err = lex_quoted(p, line, len, &pos);
        } else if (c == '{') {
            return lex_literal(p, line, len, pos, false);
        } else if (c == '~' && pos + 1 < len && line[pos + 1] == '{') {
            return lex_literal(p, line, len, pos, true);
        } else {
            err = lex_atom(p, line, len, &pos);
        }
        if (err)
            return fail(p, err);
        where = AFTER_ARG;
    }
}

/* The first line: tag SP command-name [SP arguments]. */
static enum imap_parse_result parse_first_line(struct imap_parser *p, const char *line, size_t len)
{
    if (len == 0)
        return fail(p, "Empty command line");
    size_t i = 0;
    for (; i < len && line[i] != ' '; i++) {
        if (!is_tag_char((unsigned char)line[i]))
            return fail(p, "Invalid character in tag");
        if (i >= IMAP_TAG_MAX)
            return fail(p, "Tag too long");
    }
    if (i == 0)
        return fail(p, "Missing tag");
    memcpy(p->tag, line, i);
    p->tag[i] = '\0';
    p->has_tag = true;
    p->text_len = len;
    if (len > p->limits.line_max)
        return fail(p, "Line too long");
    size_t start = ++i;
    for (; i < len && line[i] != ' '; i++) {
        if (!is_atom_char((unsigned char)line[i]))
            return fail(p, "Invalid character in command name");
        if (i - start >= IMAP_COMMAND_MAX)
            return fail(p, "Command name too long");
    }
    if (i <= start)
        return fail(p, "Missing command");
    for (size_t k = start; k < i; k++) {
        char c = line[k];
        p->name[k - start] = c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
    }
    p->name[i - start] = '\0';
    return parse_args(p, line, len, i, AFTER_ARG);
}

static void finish_literal(struct imap_parser *p)
{
    buf_append_char(&p->arena, '\0');
    p->nodes[p->lit_node].len = p->lit_size;
    p->state = ST_ARGS;
}

enum imap_parse_result imap_parser_feed_line(struct imap_parser *p, const char *line, size_t len)
{
    enum imap_parse_result r;
    switch (p->state) {
    case ST_START:
        r = parse_first_line(p, line, len);
        break;
    case ST_LITERAL:
        if (p->lit_left > 0) {
            p->fatal = true;
            return fail(p, "Literal octets expected, not a line");
        }
        finish_literal(p); /* {0}: no octets were fed */
        /* fall through */
    case ST_ARGS:
        if (len > p->limits.line_max - p->text_len) {
            r = fail(p, "Line too long");
        } else {
            p->text_len += len;
            r = parse_args(p, line, len, 0, AFTER_ARG);
        }
        break;
    case ST_DONE:
        return fail(p, "Command already complete (reset the parser)");
    default:
        return IMAP_PARSE_ERROR;
    }
    if (r == IMAP_PARSE_ERROR && ends_in_nonsync_literal(line, len))
        p->fatal = true;
    if (r == IMAP_PARSE_DONE && p->deferred)
        r = fail(p, p->deferred);
    return r;
}

size_t imap_parser_literal_size(const struct imap_parser *p)
{
    return p->state == ST_LITERAL ? p->lit_size : 0;
}

bool imap_parser_literal_nonsync(const struct imap_parser *p)
{
    return p->state == ST_LITERAL && p->lit_nonsync;
}

size_t imap_parser_literal_left(const struct imap_parser *p)
{
    return p->state == ST_LITERAL ? p->lit_left : 0;
}

bool imap_parser_literal_fits(const struct imap_parser *p)
{
    return p->state == ST_LITERAL &&
           (p->lit_started || p->lit_size <= p->limits.literals_max - p->literals_len);
}

enum imap_parse_result imap_parser_feed_literal(struct imap_parser *p, const char *data, size_t len)
{
    if (p->state == ST_ERROR)
        return IMAP_PARSE_ERROR;
    if (p->state != ST_LITERAL) {
        p->fatal = true;
        return fail(p, "No literal expected");
    }
    if (len > p->lit_left) {
        p->fatal = true;
        return fail(p, "Literal longer than announced");
    }
    if (!imap_parser_literal_fits(p)) {
        p->too_big = true;
        p->fatal = true; /* the octets are on their way */
        return fail(p, "Literals too large");
    }
    p->lit_started = true;
    if (len > 0 && !p->nodes[p->lit_node].literal8 && memchr(data, '\0', len) &&
        p->deferred == NULL)
        p->deferred = "NUL in literal"; /* answered once the command is complete */
    buf_append(&p->arena, data, len);
    p->literals_len += len;
    p->lit_left -= len;
    if (p->lit_left > 0)
        return IMAP_PARSE_LITERAL;
    finish_literal(p);
    return IMAP_PARSE_DONE;
}

void imap_parser_literal_external(struct imap_parser *p)
{
    if (p->state != ST_LITERAL)
        return;
    struct node *n = &p->nodes[p->lit_node];
    /* octets already fed (if any) are dropped: the session has them */
    p->literals_len -= p->arena.len - n->off;
    p->arena.len = n->off;
    if (p->arena.data)
        p->arena.data[n->off] = '\0';
    n->external = true;
    n->len = p->lit_size;
    p->state = ST_ARGS;
}

const struct imap_command *imap_parser_command(const struct imap_parser *p)
{
    return p->state == ST_DONE ? &p->command : NULL;
}

const char *imap_parser_error(const struct imap_parser *p)
{
    return p->state == ST_ERROR ? p->error : NULL;
}

const char *imap_parser_tag(const struct imap_parser *p)
{
    return p->has_tag ? p->tag : NULL;
}

const char *imap_parser_name(const struct imap_parser *p)
{
    return p->name[0] ? p->name : NULL;
}

size_t imap_parser_arg_count(const struct imap_parser *p)
{
    size_t n = 0;
    for (size_t i = 0; i < p->n_nodes; i++)
        if (p->nodes[i].parent == NO_PARENT)
            n++;
    return n;
}

unsigned imap_parser_depth(const struct imap_parser *p)
{
    return (unsigned)p->depth;
}

bool imap_parser_fatal(const struct imap_parser *p)
{
    return p->fatal;
}

bool imap_parser_too_big(const struct imap_parser *p)
{
    return p->state == ST_ERROR && p->too_big;
}

bool imap_arg_is_astring(const struct imap_arg *a)
{
    /* NIL too: "NIL" is 1*ASTRING-CHAR (a mailbox may be called NIL) */
    return a->type == IMAP_ARG_ATOM || a->type == IMAP_ARG_NIL || imap_arg_is_string(a);
}

bool imap_arg_is_string(const struct imap_arg *a)
{
    return a->type == IMAP_ARG_STRING || a->type == IMAP_ARG_LITERAL;
}

bool imap_arg_atom_is(const struct imap_arg *a, const char *word)
{
    if (a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_NIL)
        return false;
    return a->len == strlen(word) && strncasecmp(a->str, word, a->len) == 0;
}
