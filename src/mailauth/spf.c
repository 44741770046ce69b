/* The SPF check_host() evaluator (RFC 7208) as a state machine fed with
 * DNS answers by its caller. Pure. */
#include "mailauth/spf.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/rr.h"
#include "mailauth/spf_record.h"
#include "util/xmalloc.h"

/* Each include and redirect costs a lookup, so the limit bounds the depth. */
#define SPF_MAX_DEPTH (SPF_MAX_LOOKUPS + 2)

enum phase {
    PHASE_TXT,      /* the domain's record is needed */
    PHASE_RUN,      /* evaluating terms */
    PHASE_MECH,     /* waiting for a/exists/mx's own answer */
    PHASE_MX_ADDR,  /* waiting for an MX host's addresses */
    PHASE_CHILD,    /* waiting for an include's result */
    PHASE_REDIRECT, /* waiting for a redirect's result */
};

struct frame {
    char domain[DOMAIN_MAX + 1];
    struct buf text; /* the record's text: the terms point into it */
    struct spf_record rec;
    size_t term;
    enum phase phase;
    char (*mx)[DOMAIN_MAX + 1];
    size_t nmx, imx;
};

struct spf {
    unsigned char addr[16];
    bool v6;
    char ip_macro[64]; /* %{i}: dotted quad, or 32 dotted nibbles */
    char *sender, *local, *sender_domain, *helo;
    bool helo_identity;
    struct frame stack[SPF_MAX_DEPTH];
    size_t depth;
    unsigned lookups, voids;
    bool done;
    enum spf_result result;
    char why[256];
    char qname[DOMAIN_MAX + 1];
    int qtype;
    bool waiting;
};

const char *spf_result_name(enum spf_result r)
{
    switch (r) {
    case SPF_NONE:
        return "none";
    case SPF_NEUTRAL:
        return "neutral";
    case SPF_PASS:
        return "pass";
    case SPF_FAIL:
        return "fail";
    case SPF_SOFTFAIL:
        return "softfail";
    case SPF_TEMPERROR:
        return "temperror";
    case SPF_PERMERROR:
        return "permerror";
    }
    return "?";
}

static void finish(struct spf *s, enum spf_result r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void finish(struct spf *s, enum spf_result r, const char *fmt, ...)
{
    if (s->done)
        return;
    s->done = true;
    s->waiting = false;
    s->result = r;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->why, sizeof(s->why), fmt, ap);
    va_end(ap);
}

static struct frame *top(struct spf *s)
{
    return &s->stack[s->depth - 1];
}

static void frame_clear(struct frame *f)
{
    spf_record_free(&f->rec);
    buf_free(&f->text);
    free(f->mx);
    f->mx = NULL;
    f->nmx = f->imx = 0;
}

/* check_host() on a new domain (include, redirect, or the first). */
static void push(struct spf *s, const char *domain)
{
    if (s->depth == SPF_MAX_DEPTH) {
        finish(s, SPF_PERMERROR, "includes nested too deeply");
        return;
    }
    struct frame *f = &s->stack[s->depth++];
    memset(f, 0, sizeof(*f));
    buf_init(&f->text);
    snprintf(f->domain, sizeof(f->domain), "%s", domain);
    f->phase = PHASE_TXT;
}

static enum spf_result qual_result(char q)
{
    switch (q) {
    case '-':
        return SPF_FAIL;
    case '~':
        return SPF_SOFTFAIL;
    case '?':
        return SPF_NEUTRAL;
    default:
        return SPF_PASS;
    }
}

/* The current frame's check_host() returned r: hand it to whoever asked. */
static void frame_result(struct spf *s, enum spf_result r)
{
    while (!s->done) {
        char domain[DOMAIN_MAX + 1];
        snprintf(domain, sizeof(domain), "%s", top(s)->domain);
        frame_clear(top(s));
        s->depth--;
        if (s->depth == 0) {
            s->done = true;
            s->result = r;
            return;
        }
        struct frame *f = top(s);
        if (f->phase == PHASE_CHILD) {
            /* RFC 7208 5.2: include matches on pass only; a missing record
             * is a permerror. (Errors never get here: finish() ends the
             * whole evaluation at once.) */
            struct spf_term *t = &f->rec.terms[f->term];
            if (r == SPF_PASS) {
                r = qual_result(t->qual);
                snprintf(s->why, sizeof(s->why), "%.*s matched in %s", (int)t->text_len, t->text,
                         f->domain);
                continue;
            }
            if (r == SPF_NONE)
                finish(s, SPF_PERMERROR, "include:%s has no SPF record", domain);
            f->phase = PHASE_RUN;
            f->term++;
            return;
        }
        /* PHASE_REDIRECT: the target's result is this domain's. */
        if (r == SPF_NONE) {
            finish(s, SPF_PERMERROR, "redirect=%s has no SPF record", domain);
            return;
        }
    }
}

static bool count_lookup(struct spf *s)
{
    if (++s->lookups > SPF_MAX_LOOKUPS) {
        finish(s, SPF_PERMERROR, "more than %d DNS lookups", SPF_MAX_LOOKUPS);
        return false;
    }
    return true;
}

static bool count_void(struct spf *s)
{
    if (++s->voids > SPF_MAX_VOIDS) {
        finish(s, SPF_PERMERROR, "more than %d void DNS lookups", SPF_MAX_VOIDS);
        return false;
    }
    return true;
}

/* The target of a term (its domain-spec expanded, or the current domain);
 * false when it is not a usable host name. */
static bool target(struct spf *s, const char *spec, size_t len, char *out)
{
    struct frame *f = top(s);
    if (spec == NULL) {
        snprintf(out, DOMAIN_MAX + 1, "%s", f->domain);
        return true;
    }
    struct spf_macro_vars v = {.s = s->sender,
                               .l = s->local,
                               .o = s->sender_domain,
                               .d = f->domain,
                               .i = s->ip_macro,
                               .h = s->helo,
                               .v6 = s->v6};
    struct buf b;
    buf_init(&b);
    bool ok =
        spf_macro_expand(spec, len, &v, &b) == NULL && b.len > 0 && domain_copy(out, b.data, b.len);
    buf_free(&b);
    return ok;
}

static void ask(struct spf *s, const char *name, int type)
{
    snprintf(s->qname, sizeof(s->qname), "%s", name);
    s->qtype = type;
    s->waiting = true;
}

static bool in_cidr(const struct spf *s, const unsigned char *addr, bool v6, unsigned bits)
{
    if (v6 != s->v6)
        return false;
    size_t full = bits / 8;
    if (memcmp(s->addr, addr, full) != 0)
        return false;
    unsigned rest = bits % 8;
    if (rest == 0)
        return true;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (s->addr[full] & mask) == (addr[full] & mask);
}

static void matched(struct spf *s, const struct spf_term *t)
{
    struct frame *f = top(s);
    snprintf(s->why, sizeof(s->why), "%.*s matched in %s", (int)t->text_len, t->text, f->domain);
    frame_result(s, qual_result(t->qual));
}

/* Evaluates terms until one needs DNS or the frame has a result. */
static void run(struct spf *s)
{
    struct frame *f = top(s);
    while (!s->done && !s->waiting && f->phase == PHASE_RUN) {
        if (f->term == f->rec.n) {
            if (f->rec.redirect == NULL) {
                snprintf(s->why, sizeof(s->why), "no mechanism matched in %s", f->domain);
                frame_result(s, SPF_NEUTRAL);
                return;
            }
            char dom[DOMAIN_MAX + 1];
            if (!count_lookup(s))
                return;
            if (!target(s, f->rec.redirect, f->rec.redirect_len, dom)) {
                finish(s, SPF_PERMERROR, "redirect= in %s is not a valid domain", f->domain);
                return;
            }
            f->phase = PHASE_REDIRECT;
            push(s, dom);
            return;
        }
        struct spf_term *t = &f->rec.terms[f->term];
        char dom[DOMAIN_MAX + 1];
        switch (t->mech) {
        case SPF_ALL:
            matched(s, t);
            return;
        case SPF_IP4:
        case SPF_IP6:
            if (in_cidr(s, t->addr, t->mech == SPF_IP6, t->mech == SPF_IP6 ? t->cidr6 : t->cidr4)) {
                matched(s, t);
                return;
            }
            f->term++;
            continue;
        default:
            break;
        }
        if (!count_lookup(s))
            return;
        if (t->mech == SPF_PTR || !target(s, t->spec, t->spec_len, dom)) {
            f->term++;
            continue;
        }
        switch (t->mech) {
        case SPF_INCLUDE:
            f->phase = PHASE_CHILD;
            push(s, dom);
            return;
        case SPF_A:
            f->phase = PHASE_MECH;
            ask(s, dom, s->v6 ? DNS_TYPE_AAAA : DNS_TYPE_A);
            return;
        case SPF_EXISTS:
            f->phase = PHASE_MECH;
            ask(s, dom, DNS_TYPE_A); /* always A, whatever the client's family */
            return;
        case SPF_MX:
            f->phase = PHASE_MECH;
            ask(s, dom, DNS_TYPE_MX);
            return;
        default:
            f->term++;
            continue;
        }
    }
}

bool spf_next(struct spf *s, struct spf_query *q_r)
{
    while (!s->done) {
        if (s->waiting) {
            q_r->name = s->qname;
            q_r->type = s->qtype;
            return true;
        }
        struct frame *f = top(s);
        if (f->phase == PHASE_TXT)
            ask(s, f->domain, DNS_TYPE_TXT);
        else if (f->phase == PHASE_RUN)
            run(s);
        else
            finish(s, SPF_PERMERROR, "internal error: stalled in phase %d", (int)f->phase);
    }
    return false;
}

static void on_txt(struct spf *s, const struct dns_answer *a)
{
    struct frame *f = top(s);
    if (a->status == DNS_TEMPFAIL) {
        finish(s, SPF_TEMPERROR, "DNS error looking up %s: %s", f->domain, a->why);
        return;
    }
    size_t found = 0;
    struct buf txt;
    buf_init(&txt);
    for (size_t i = 0; a->status == DNS_OK && i < a->n; i++) {
        buf_reset(&txt);
        if (!dns_rr_txt(a->rdata[i], (size_t)a->len[i], &txt) ||
            !spf_record_is_spf1(txt.data, txt.len))
            continue;
        if (found++ == 0) {
            buf_free(&f->text);
            f->text = txt;
            buf_init(&txt);
        }
    }
    buf_free(&txt);
    if (found == 0) {
        snprintf(s->why, sizeof(s->why), "no SPF record for %s", f->domain);
        frame_result(s, SPF_NONE);
        return;
    }
    if (found > 1) {
        finish(s, SPF_PERMERROR, "%s has %zu SPF records", f->domain, found);
        return;
    }
    const char *why = spf_record_parse(f->text.data, f->text.len, &f->rec);
    if (why) {
        finish(s, SPF_PERMERROR, "SPF record of %s: %s", f->domain, why);
        return;
    }
    f->phase = PHASE_RUN;
}

/* Whether one of the A/AAAA answer's addresses is in the term's network. */
static bool addr_match(struct spf *s, const struct dns_answer *a, const struct spf_term *t)
{
    for (size_t i = 0; a->status == DNS_OK && i < a->n; i++) {
        if (a->len[i] == 4 && in_cidr(s, a->rdata[i], false, t->cidr4))
            return true;
        if (a->len[i] == 16 && in_cidr(s, a->rdata[i], true, t->cidr6))
            return true;
    }
    return false;
}

static void next_mx_host(struct spf *s)
{
    struct frame *f = top(s);
    if (f->imx == f->nmx) {
        free(f->mx);
        f->mx = NULL;
        f->phase = PHASE_RUN;
        f->term++;
        return;
    }
    ask(s, f->mx[f->imx++], s->v6 ? DNS_TYPE_AAAA : DNS_TYPE_A);
}

static void on_mech(struct spf *s, const struct dns_answer *a)
{
    struct frame *f = top(s);
    struct spf_term *t = &f->rec.terms[f->term];
    if (a->status == DNS_TEMPFAIL) {
        finish(s, SPF_TEMPERROR, "DNS error looking up %s: %s", s->qname, a->why);
        return;
    }
    if (a->status != DNS_OK || a->n == 0) {
        if (!count_void(s))
            return;
        f->phase = PHASE_RUN;
        f->term++;
        return;
    }
    if (t->mech == SPF_EXISTS || (t->mech == SPF_A && addr_match(s, a, t))) {
        matched(s, t);
        return;
    }
    if (t->mech == SPF_A) {
        f->phase = PHASE_RUN;
        f->term++;
        return;
    }
    /* mx: the hosts, then their addresses one by one. */
    if (a->n > SPF_MAX_MX) {
        finish(s, SPF_PERMERROR, "%s has more than %d MX records", s->qname, SPF_MAX_MX);
        return;
    }
    f->mx = xcalloc(a->n, sizeof(*f->mx));
    f->nmx = f->imx = 0;
    for (size_t i = 0; i < a->n; i++) {
        struct dns_mx mx;
        if (dns_rr_mx(a->rdata[i], (size_t)a->len[i], &mx) && mx.host[0] != '\0')
            snprintf(f->mx[f->nmx++], DOMAIN_MAX + 1, "%s", mx.host);
    }
    f->phase = PHASE_MX_ADDR;
    next_mx_host(s);
}

static void on_mx_addr(struct spf *s, const struct dns_answer *a)
{
    struct frame *f = top(s);
    if (a->status == DNS_TEMPFAIL) {
        finish(s, SPF_TEMPERROR, "DNS error looking up %s: %s", s->qname, a->why);
        return;
    }
    if (addr_match(s, a, &f->rec.terms[f->term])) {
        free(f->mx);
        f->mx = NULL;
        f->phase = PHASE_RUN;
        matched(s, &f->rec.terms[f->term]);
        return;
    }
    next_mx_host(s);
}

void spf_answer(struct spf *s, const struct dns_answer *a)
{
    if (s->done || !s->waiting)
        return;
    s->waiting = false;
    switch (top(s)->phase) {
    case PHASE_TXT:
        on_txt(s, a);
        break;
    case PHASE_MECH:
        on_mech(s, a);
        break;
    case PHASE_MX_ADDR:
        on_mx_addr(s, a);
        break;
    default:
        break;
    }
}

struct spf *spf_new(const char *ip, const char *helo, const char *sender)
{
    struct spf *s = xcalloc(1, sizeof(*s));
    s->helo = xstrdup(helo && *helo ? helo : "unknown");
    const char *at = sender ? strrchr(sender, '@') : NULL;
    if (sender == NULL || *sender == '\0' || at == NULL) {
        /* RFC 7208 2.4: the null sender is checked as postmaster@HELO. */
        s->helo_identity = true;
        s->local = xstrdup("postmaster");
        s->sender_domain = xstrdup(s->helo);
    } else {
        s->local = at == sender ? xstrdup("postmaster") : xstrndup(sender, (size_t)(at - sender));
        s->sender_domain = xstrdup(at + 1);
    }
    s->sender = xasprintf("%s@%s", s->local, s->sender_domain);
    unsigned char a6[16];
    if (ip && inet_pton(AF_INET, ip, s->addr) == 1) {
        s->v6 = false;
    } else if (ip && inet_pton(AF_INET6, ip, a6) == 1) {
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        s->v6 = memcmp(a6, mapped, 12) != 0;
        memcpy(s->addr, s->v6 ? a6 : a6 + 12, s->v6 ? 16 : 4);
    } else {
        finish(s, SPF_PERMERROR, "client address '%s' is not an IP address", ip ? ip : "");
        return s;
    }
    if (s->v6) {
        char *p = s->ip_macro;
        for (int i = 0; i < 16; i++)
            p += sprintf(p, "%x.%x%s", s->addr[i] >> 4, s->addr[i] & 15, i < 15 ? "." : "");
    } else {
        inet_ntop(AF_INET, s->addr, s->ip_macro, sizeof(s->ip_macro));
    }
    char dom[DOMAIN_MAX + 1];
    /* RFC 7208 4.3: a malformed or single-label domain gives none. */
    if (!domain_copy(dom, s->sender_domain, strlen(s->sender_domain)) || !strchr(dom, '.')) {
        finish(s, SPF_NONE, "'%s' is not a domain to check", s->sender_domain);
        return s;
    }
    push(s, dom);
    return s;
}

enum spf_result spf_result(const struct spf *s)
{
    return s->done ? s->result : SPF_TEMPERROR;
}

const char *spf_why(const struct spf *s)
{
    return s->done ? s->why : "not finished";
}

const char *spf_domain(const struct spf *s)
{
    return s->sender_domain;
}

bool spf_is_helo(const struct spf *s)
{
    return s->helo_identity;
}

const char *spf_sender(const struct spf *s)
{
    return s->sender;
}

unsigned spf_lookups(const struct spf *s)
{
    return s->lookups;
}

void spf_free(struct spf **sp)
{
    struct spf *s = *sp;
    if (s == NULL)
        return;
    while (s->depth > 0)
        frame_clear(&s->stack[--s->depth]);
    free(s->sender);
    free(s->local);
    free(s->sender_domain);
    free(s->helo);
    free(s);
    *sp = NULL;
}
