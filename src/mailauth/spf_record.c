/* SPF record parsing into terms and macro expansion (RFC 7208 7). Pure. */
#include "mailauth/spf_record.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/xmalloc.h"

#define SPF_MAX_TERMS 256 /* a 64 KiB record could hold thousands; no sender needs them */

bool spf_record_is_spf1(const char *txt, size_t len)
{
    return len >= 6 && strncasecmp(txt, "v=spf1", 6) == 0 && (len == 6 || txt[6] == ' ');
}

/* strchr() would also find the terminating NUL, and records may hold NULs. */
static bool in_set(const char *set, char c)
{
    return c != '\0' && strchr(set, c) != NULL;
}

static bool is_macro_literal(unsigned char c)
{
    return (c >= 0x21 && c <= 0x24) || (c >= 0x26 && c <= 0x7e);
}

/* Checks one macro-expand after its '%' at s[*i] (RFC 7208 7.1); in a
 * domain-spec, c, r and t are not allowed (they are for exp= only). */
static const char *macro_syntax(const char *s, size_t len, size_t *i, char *letter_r)
{
    if (*i >= len)
        return "'%' at the end of a macro-string";
    char c = s[(*i)++];
    *letter_r = 0;
    if (c == '%' || c == '_' || c == '-')
        return NULL;
    if (c != '{' || *i >= len)
        return "invalid macro";
    char letter = (char)tolower((unsigned char)s[(*i)++]);
    if (!in_set("slodiphv", letter))
        return "unknown macro letter";
    *letter_r = letter;
    size_t digits = 0;
    bool nonzero = false;
    while (*i < len && isdigit((unsigned char)s[*i])) {
        nonzero = nonzero || s[*i] != '0';
        digits++;
        (*i)++;
    }
    if (digits > 0 && !nonzero)
        return "a macro transformer of zero";
    if (digits > 3)
        return "macro transformer too large";
    if (*i < len && (s[*i] == 'r' || s[*i] == 'R'))
        (*i)++;
    while (*i < len && in_set(".-+,/_=", s[*i]))
        (*i)++;
    if (*i >= len || s[*i] != '}')
        return "unterminated macro";
    (*i)++;
    return NULL;
}

/* macro-string: literals and macros (RFC 7208 7.1). */
static const char *macro_string_syntax(const char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)s[i++];
        if (c == '%') {
            char letter;
            const char *why = macro_syntax(s, len, &i, &letter);
            if (why)
                return why;
        } else if (!is_macro_literal(c)) {
            return "invalid character";
        }
    }
    return NULL;
}

/* domain-spec = macro-string domain-end; domain-end = "." toplabel ["."]
 * or a macro-expand (RFC 7208 12). */
static const char *domain_spec_syntax(const char *s, size_t len)
{
    if (len == 0)
        return "empty domain-spec";
    const char *why = macro_string_syntax(s, len);
    if (why)
        return why;
    if (s[len - 1] == '}')
        return NULL;
    size_t end = len;
    if (s[end - 1] == '.')
        end--;
    size_t start = end;
    while (start > 0 && s[start - 1] != '.')
        start--;
    if (start == 0 || start == end)
        return "domain-spec does not end in a top-level label";
    bool alpha = false, dash_ok = true;
    for (size_t i = start; i < end; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalpha(c))
            alpha = true;
        else if (c != '-' && !isdigit(c))
            return "invalid top-level label";
    }
    dash_ok = s[start] != '-' && s[end - 1] != '-';
    if (!alpha || !dash_ok)
        return "invalid top-level label";
    return NULL;
}

/* "/N" with 0 <= N <= max, no leading zero, at s[*i]. */
static bool cidr(const char *s, size_t len, size_t *i, unsigned max, unsigned *out)
{
    size_t k = *i + 1;
    if (k >= len || !isdigit((unsigned char)s[k]))
        return false;
    unsigned v = 0;
    size_t start = k;
    while (k < len && isdigit((unsigned char)s[k]) && k - start < 4)
        v = v * 10 + (unsigned)(s[k++] - '0');
    if ((s[start] == '0' && k - start > 1) || v > max)
        return false;
    *out = v;
    *i = k;
    return true;
}

/* [ "/" ip4-cidr ] [ "//" ip6-cidr ] at the end of s[0..len); *len_r is
 * what precedes it. */
static bool dual_cidr(const char *s, size_t len, size_t *len_r, struct spf_term *t)
{
    /* Find where a trailing cidr part could start: scan back over digits
     * and slashes, then parse it forwards. */
    size_t start = len;
    while (start > 0 && (isdigit((unsigned char)s[start - 1]) || s[start - 1] == '/'))
        start--;
    while (start < len && s[start] != '/')
        start++;
    *len_r = start;
    size_t i = start;
    if (i < len && s[i] == '/' && (i + 1 >= len || s[i + 1] != '/'))
        if (!cidr(s, len, &i, 32, &t->cidr4))
            return false;
    if (i + 1 < len && s[i] == '/' && s[i + 1] == '/') {
        i++;
        if (!cidr(s, len, &i, 128, &t->cidr6))
            return false;
    }
    return i == len;
}

static const char *parse_mech(const char *s, size_t len, struct spf_term *t)
{
    static const struct {
        const char *name;
        enum spf_mech mech;
    } mechs[] = {
        {"all", SPF_ALL}, {"include", SPF_INCLUDE}, {"a", SPF_A},     {"mx", SPF_MX},
        {"ptr", SPF_PTR}, {"ip4", SPF_IP4},         {"ip6", SPF_IP6}, {"exists", SPF_EXISTS},
    };
    size_t nl = 0;
    while (nl < len && s[nl] != ':' && s[nl] != '/')
        nl++;
    size_t m = 0;
    for (; m < sizeof(mechs) / sizeof(mechs[0]); m++)
        if (strlen(mechs[m].name) == nl && strncasecmp(s, mechs[m].name, nl) == 0)
            break;
    if (m == sizeof(mechs) / sizeof(mechs[0]))
        return "unknown mechanism";
    t->mech = mechs[m].mech;
    t->cidr4 = 32;
    t->cidr6 = 128;
    const char *arg = s + nl;
    size_t alen = len - nl;
    bool colon = alen > 0 && arg[0] == ':';
    switch (t->mech) {
    case SPF_ALL:
        return alen == 0 ? NULL : "all takes no argument";
    case SPF_INCLUDE:
    case SPF_EXISTS:
        if (!colon)
            return "include and exists need a domain";
        t->spec = arg + 1;
        t->spec_len = alen - 1;
        return domain_spec_syntax(t->spec, t->spec_len);
    case SPF_PTR:
        if (alen == 0)
            return NULL;
        if (!colon)
            return "invalid ptr";
        t->spec = arg + 1;
        t->spec_len = alen - 1;
        return domain_spec_syntax(t->spec, t->spec_len);
    case SPF_A:
    case SPF_MX: {
        size_t before;
        if (!dual_cidr(arg, alen, &before, t))
            return "invalid CIDR length";
        if (before == 0)
            return NULL;
        if (!colon)
            return "invalid a or mx";
        t->spec = arg + 1;
        t->spec_len = before - 1;
        return domain_spec_syntax(t->spec, t->spec_len);
    }
    case SPF_IP4:
    case SPF_IP6: {
        if (!colon)
            return "ip4 and ip6 need an address";
        bool v6 = t->mech == SPF_IP6;
        const char *slash = memchr(arg + 1, '/', alen - 1);
        size_t al = slash ? (size_t)(slash - arg - 1) : alen - 1;
        char ip[INET6_ADDRSTRLEN + 1];
        if (al == 0 || al >= sizeof(ip))
            return "invalid address";
        memcpy(ip, arg + 1, al);
        ip[al] = '\0';
        if (inet_pton(v6 ? AF_INET6 : AF_INET, ip, t->addr) != 1)
            return "invalid address";
        if (slash) {
            size_t i = (size_t)(slash - arg);
            if (!cidr(arg, alen, &i, v6 ? 128 : 32, v6 ? &t->cidr6 : &t->cidr4) || i != alen)
                return "invalid CIDR length";
        }
        return NULL;
    }
    }
    return "unknown mechanism";
}

const char *spf_record_parse(const char *txt, size_t len, struct spf_record *r)
{
    memset(r, 0, sizeof(*r));
    if (!spf_record_is_spf1(txt, len))
        return "not an SPF record";
    bool exp = false;
    const char *why = NULL;
    size_t i = 6;
    while (why == NULL) {
        while (i < len && txt[i] == ' ')
            i++;
        if (i == len)
            break;
        const char *term = txt + i;
        while (i < len && txt[i] != ' ')
            i++;
        size_t tl = (size_t)(txt + i - term);
        /* A modifier is name "=" ...; name = ALPHA *(ALPHA / DIGIT / "-" / "_" / "."). */
        size_t nl = 0;
        if (isalpha((unsigned char)term[0]))
            while (nl < tl && (isalnum((unsigned char)term[nl]) || in_set("-_.", term[nl])))
                nl++;
        if (nl > 0 && nl < tl && term[nl] == '=') {
            const char *val = term + nl + 1;
            size_t vl = tl - nl - 1;
            if (nl == 8 && strncasecmp(term, "redirect", 8) == 0) {
                if (r->redirect)
                    why = "redirect= given twice";
                else if ((why = domain_spec_syntax(val, vl)) == NULL)
                    r->redirect = val, r->redirect_len = vl;
            } else if (nl == 3 && strncasecmp(term, "exp", 3) == 0) {
                why = exp ? "exp= given twice" : domain_spec_syntax(val, vl);
                exp = true;
            } else {
                why = macro_string_syntax(val, vl);
            }
            continue;
        }
        struct spf_term t = {.qual = '+', .text = term, .text_len = tl};
        if (in_set("+-~?", term[0])) {
            t.qual = term[0];
            term++;
            tl--;
        }
        if (tl == 0) {
            why = "a qualifier without a mechanism";
            break;
        }
        if ((why = parse_mech(term, tl, &t)) != NULL)
            break;
        if (r->n == SPF_MAX_TERMS) {
            why = "too many terms";
            break;
        }
        if (r->n % 16 == 0)
            r->terms = xrealloc(r->terms, (r->n + 16) * sizeof(*r->terms));
        r->terms[r->n++] = t;
    }
    if (why)
        spf_record_free(r);
    return why;
}

void spf_record_free(struct spf_record *r)
{
    free(r->terms);
    memset(r, 0, sizeof(*r));
}

/* ---- macros --------------------------------------------------------------- */

static void url_escape(struct buf *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c) || in_set("-._~", (char)c))
            buf_append_char(out, (char)c);
        else
            buf_printf(out, "%%%02X", c);
    }
}

/* Splits value on delims, optionally reversed, keeps the rightmost keep
 * parts (0: all) and joins them with '.' (RFC 7208 7.3). */
static void transform(struct buf *out, const char *value, const char *delims, bool reverse,
                      unsigned keep, bool escape)
{
    size_t n = strlen(value);
    size_t nparts = 0, cap = 16;
    struct {
        size_t off, len;
    } *parts = xmalloc(cap * sizeof(*parts));
    size_t start = 0;
    for (size_t i = 0; i <= n; i++)
        if (i == n || in_set(delims, value[i])) {
            if (nparts == cap)
                parts = xrealloc(parts, (cap *= 2) * sizeof(*parts));
            parts[nparts].off = start;
            parts[nparts++].len = i - start;
            start = i + 1;
        }
    if (reverse)
        for (size_t a = 0, b = nparts - 1; a < b; a++, b--) {
            size_t o = parts[a].off, l = parts[a].len;
            parts[a] = parts[b];
            parts[b].off = o;
            parts[b].len = l;
        }
    size_t first = keep && keep < nparts ? nparts - keep : 0;
    for (size_t k = first; k < nparts; k++) {
        if (k > first)
            buf_append_char(out, '.');
        if (escape)
            url_escape(out, value + parts[k].off, parts[k].len);
        else
            buf_append(out, value + parts[k].off, parts[k].len);
    }
    free(parts);
}

const char *spf_macro_expand(const char *spec, size_t len, const struct spf_macro_vars *v,
                             struct buf *out)
{
    buf_reset(out);
    const char *why = macro_string_syntax(spec, len);
    if (why)
        return why;
    for (size_t i = 0; i < len;) {
        char c = spec[i++];
        if (c != '%') {
            buf_append_char(out, c);
            continue;
        }
        c = spec[i++];
        if (c == '%' || c == '_' || c == '-') {
            buf_append_str(out, c == '%' ? "%" : c == '_' ? " " : "%20");
            continue;
        }
        char letter = spec[i++]; /* after '{' */
        const char *value = "";
        switch (tolower((unsigned char)letter)) {
        case 's':
            value = v->s;
            break;
        case 'l':
            value = v->l;
            break;
        case 'o':
            value = v->o;
            break;
        case 'd':
            value = v->d;
            break;
        case 'i':
            value = v->i;
            break;
        case 'h':
            value = v->h;
            break;
        case 'p':
            value = "unknown";
            break;
        case 'v':
            value = v->v6 ? "ip6" : "in-addr";
            break;
        }
        unsigned keep = 0;
        while (isdigit((unsigned char)spec[i]))
            keep = keep * 10 + (unsigned)(spec[i++] - '0');
        bool reverse = spec[i] == 'r' || spec[i] == 'R';
        if (reverse)
            i++;
        char delims[8] = "";
        size_t nd = 0;
        while (spec[i] != '}')
            if (!memchr(delims, spec[i++], nd) && nd < sizeof(delims) - 1)
                delims[nd++] = spec[i - 1];
        i++;
        transform(out, value ? value : "", nd ? delims : ".", reverse, keep,
                  isupper((unsigned char)letter));
    }
    /* Too long: drop labels on the left until it fits. */
    while (out->len > 253) {
        char *dot = memchr(out->data, '.', out->len);
        buf_consume(out, dot ? (size_t)(dot - out->data) + 1 : out->len);
    }
    return NULL;
}
