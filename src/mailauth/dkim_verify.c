/* Verifying every DKIM-Signature of a streamed message with keys the
 * caller fetches (RFC 6376, 8463, 8301). No I/O. */
#include "mailauth/dkim_verify.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "mailauth/dkim_canon.h"
#include "mailauth/dkim_key.h"
#include "util/xmalloc.h"

struct sig {
    struct dkim_sig_result r;
    bool decided;
    bool key_given;
    enum dkim_canon hcanon, bcanon;
    enum dkim_key_type type;
    uint64_t l;
    bool has_l;
    char keyname[DOMAIN_MAX + 1];
    char *identity_domain;     /* the domain part of i=, or NULL */
    struct buf hlist;          /* h=, compacted */
    struct buf unsigned_field; /* the field with b= emptied */
    struct buf b, bh;          /* decoded */
    struct dkim_body body;
    bool body_active;
    unsigned char body_hash[DKIM_HASH_LEN];
    EVP_PKEY *pkey;
};

struct dkim_verify {
    time_t now;
    struct dkim_split split;
    bool headers_done;
    bool ended;
    size_t nsigs;
    struct sig sigs[DKIM_VERIFY_MAX_SIGS];
};

const char *dkim_result_name(enum dkim_result r)
{
    switch (r) {
    case DKIM_NONE:
        return "none";
    case DKIM_PASS:
        return "pass";
    case DKIM_FAIL:
        return "fail";
    case DKIM_NEUTRAL:
        return "neutral";
    case DKIM_TEMPERROR:
        return "temperror";
    case DKIM_PERMERROR:
        return "permerror";
    case DKIM_POLICY:
        return "policy";
    }
    return "?";
}

static void decide(struct sig *s, enum dkim_result r, const char *why)
{
    if (s->decided)
        return;
    s->decided = true;
    s->r.result = r;
    s->r.why = why;
    if (s->body_active) {
        dkim_body_free(&s->body);
        s->body_active = false;
    }
}

static bool parse_uint(const struct taglist_tag *t, uint64_t *out)
{
    if (t->value_len == 0 || t->value_len > 20)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < t->value_len; i++) {
        char c = t->value[i];
        if (c < '0' || c > '9')
            return false;
        if (v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(c - '0');
    }
    *out = v;
    return true;
}

/* How many times the colon-separated list (compacted) names item, ignoring
 * case. An empty list (whose buffer may be NULL) names nothing. */
static size_t list_count(const char *list, size_t len, const char *item)
{
    size_t n = strlen(item), i = 0, count = 0;
    while (len > 0 && i <= len) {
        const char *colon = memchr(list + i, ':', len - i);
        size_t k = colon ? (size_t)(colon - (list + i)) : len - i;
        count += k == n && strncasecmp(list + i, item, n) == 0;
        if (colon == NULL)
            break;
        i += k + 1;
    }
    return count;
}

static bool list_has(const char *list, size_t len, const char *item)
{
    return list_count(list, len, item) > 0;
}

static bool valid_field_name(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 33 || (unsigned char)s[i] > 126 || s[i] == ':')
            return false;
    return true;
}

static const char *parse_canon(const struct taglist_tag *t, struct sig *s)
{
    s->hcanon = s->bcanon = DKIM_CANON_SIMPLE;
    if (t == NULL)
        return NULL;
    const char *slash = memchr(t->value, '/', t->value_len);
    size_t hl = slash ? (size_t)(slash - t->value) : t->value_len;
    const char *parts[2] = {t->value, slash ? slash + 1 : NULL};
    size_t lens[2] = {hl, slash ? t->value_len - hl - 1 : 0};
    enum dkim_canon *out[2] = {&s->hcanon, &s->bcanon};
    for (int i = 0; i < 2 && parts[i]; i++) {
        if (lens[i] == 6 && memcmp(parts[i], "simple", 6) == 0)
            *out[i] = DKIM_CANON_SIMPLE;
        else if (lens[i] == 7 && memcmp(parts[i], "relaxed", 7) == 0)
            *out[i] = DKIM_CANON_RELAXED;
        else
            return "unknown canonicalization";
    }
    return NULL;
}

/* The field with the b= value and the whitespace around it deleted
 * (RFC 6376 3.5, b= tag), for hashing. */
static void empty_b(const struct dkim_field *f, const struct taglist_tag *b, struct buf *out)
{
    size_t end_of_field = f->len;
    if (end_of_field >= 2 && f->text[end_of_field - 2] == '\r' && f->text[end_of_field - 1] == '\n')
        end_of_field -= 2;
    size_t start = (size_t)(b->value - f->text);
    while (start > 0 && f->text[start - 1] != '=')
        start--;
    size_t end = (size_t)(b->value - f->text) + b->value_len;
    while (end < end_of_field && f->text[end] != ';')
        end++;
    buf_append(out, f->text, start);
    buf_append(out, f->text + end, f->len - end);
}

/* RFC 6376 6.1.1: everything about a signature that needs no key. */
static const char *parse_sig(struct dkim_verify *v, struct sig *s, const struct dkim_field *f)
{
    const char *colon = memchr(f->text, ':', f->len);
    const char *value = colon + 1;
    size_t vlen = f->len - (size_t)(value - f->text);
    if (vlen >= 2 && value[vlen - 2] == '\r' && value[vlen - 1] == '\n')
        vlen -= 2;
    struct taglist tl;
    const char *why = taglist_parse(value, vlen, &tl);
    if (why)
        return why;
    const struct taglist_tag *tv = taglist_find(&tl, "v"), *ta = taglist_find(&tl, "a"),
                             *tb = taglist_find(&tl, "b"), *tbh = taglist_find(&tl, "bh"),
                             *td = taglist_find(&tl, "d"), *th = taglist_find(&tl, "h"),
                             *ts = taglist_find(&tl, "s"), *ti = taglist_find(&tl, "i"),
                             *tlen = taglist_find(&tl, "l"), *tq = taglist_find(&tl, "q"),
                             *tt = taglist_find(&tl, "t"), *tx = taglist_find(&tl, "x");
    /* What Authentication-Results names comes first, so that even a
     * rejected signature is reported with its d= and s=. */
    if (td && !domain_copy(s->r.domain, td->value, td->value_len))
        s->r.domain[0] = '\0';
    if (ts && ts->value_len <= DOMAIN_MAX && domain_valid(ts->value, ts->value_len))
        memcpy(s->r.selector, ts->value, ts->value_len), s->r.selector[ts->value_len] = '\0';
    if (tb) {
        struct buf c;
        buf_init(&c);
        taglist_value_compact(tb, &c);
        size_t n = c.len < 8 ? c.len : 8;
        memcpy(s->r.b, c.data ? c.data : "", n);
        s->r.b[n] = '\0';
        buf_free(&c);
    }
    if (!tv || !ta || !tb || !tbh || !td || !th || !ts)
        return "missing a required tag";
    if (!taglist_value_is(tv, "1", false))
        return "unsupported version";
    if (taglist_value_is(ta, "rsa-sha256", false)) {
        s->type = DKIM_KEY_RSA;
        s->r.algorithm = "rsa-sha256";
    } else if (taglist_value_is(ta, "ed25519-sha256", false)) {
        s->type = DKIM_KEY_ED25519;
        s->r.algorithm = "ed25519-sha256";
    } else if (taglist_value_is(ta, "rsa-sha1", false)) {
        return "rsa-sha1 is not accepted (RFC 8301)";
    } else {
        return "unknown algorithm";
    }
    if ((why = parse_canon(taglist_find(&tl, "c"), s)) != NULL)
        return why;
    if (s->r.domain[0] == '\0')
        return "invalid d=";
    if (s->r.selector[0] == '\0')
        return "invalid s=";
    if (strlen(s->r.selector) + strlen("._domainkey.") + strlen(s->r.domain) > DOMAIN_MAX)
        return "key name too long";
    snprintf(s->keyname, sizeof(s->keyname), "%s._domainkey.%s", s->r.selector, s->r.domain);
    taglist_value_compact(th, &s->hlist);
    if (s->hlist.len == 0)
        return "h= is empty"; /* and its buffer is still NULL */
    size_t names = 0;
    for (size_t i = 0; i <= s->hlist.len; names++) {
        const char *c = memchr(s->hlist.data + i, ':', s->hlist.len - i);
        size_t n = c ? (size_t)(c - (s->hlist.data + i)) : s->hlist.len - i;
        if (!valid_field_name(s->hlist.data + i, n))
            return "invalid h=";
        i += n + 1;
    }
    if (names > DKIM_MAX_HEADERS)
        return "too many names in h=";
    if (!list_has(s->hlist.data, s->hlist.len, "from"))
        return "h= does not include From";
    if (ti) {
        const char *at = memchr(ti->value, '@', ti->value_len);
        if (at == NULL)
            return "invalid i=";
        size_t dl = ti->value_len - (size_t)(at + 1 - ti->value);
        char idom[DOMAIN_MAX + 1];
        if (!domain_copy(idom, at + 1, dl))
            return "invalid i=";
        if (!domain_is_sub(idom, s->r.domain))
            return "i= is not within d=";
        s->identity_domain = xstrdup(idom);
    }
    if (tlen) {
        if (!parse_uint(tlen, &s->l))
            s->l = UINT64_MAX; /* more digits than any body has octets */
        s->has_l = true;
    }
    if (tq && !list_has(tq->value, tq->value_len, "dns/txt"))
        return "unsupported query method";
    uint64_t t = 0, x = 0;
    if (tt && !parse_uint(tt, &t))
        return "invalid t=";
    if (tx) {
        if (!parse_uint(tx, &x))
            return "invalid x=";
        if (tt && x < t)
            return "x= is before t=";
        if (v->now > 0 && x < (uint64_t)v->now)
            return "signature expired";
    }
    struct buf c;
    buf_init(&c);
    taglist_value_compact(tb, &c);
    bool ok = dkim_base64_decode(c.data ? c.data : "", c.len, &s->b) && s->b.len > 0;
    buf_reset(&c);
    taglist_value_compact(tbh, &c);
    ok = ok && dkim_base64_decode(c.data ? c.data : "", c.len, &s->bh);
    buf_free(&c);
    if (!ok)
        return "invalid base64 in b= or bh=";
    if (s->bh.len != DKIM_HASH_LEN)
        return "bh= is not a SHA-256 hash";
    empty_b(f, tb, &s->unsigned_field);
    dkim_body_init(&s->body, s->bcanon, s->has_l ? s->l : DKIM_NO_LIMIT);
    s->body_active = true;
    return NULL;
}

static void headers_complete(struct dkim_verify *v)
{
    v->headers_done = true;
    size_t off = 0;
    struct dkim_field f;
    const char *h = v->split.header.data ? v->split.header.data : "";
    while (dkim_field_next(h, v->split.header.len, &off, &f)) {
        if (f.name_len != 14 || strncasecmp(f.name, "DKIM-Signature", 14) != 0)
            continue;
        if (v->nsigs == DKIM_VERIFY_MAX_SIGS)
            break;
        struct sig *s = &v->sigs[v->nsigs++];
        s->r.algorithm = "";
        const char *why = parse_sig(v, s, &f);
        if (why == NULL && v->split.overflow)
            why = "header section too large";
        if (why)
            decide(s, DKIM_PERMERROR, why);
    }
}

struct dkim_verify *dkim_verify_new(time_t now)
{
    struct dkim_verify *v = xcalloc(1, sizeof(*v));
    v->now = now;
    dkim_split_init(&v->split, DKIM_HEADER_MAX);
    for (size_t i = 0; i < DKIM_VERIFY_MAX_SIGS; i++) {
        buf_init(&v->sigs[i].hlist);
        buf_init(&v->sigs[i].unsigned_field);
        buf_init(&v->sigs[i].b);
        buf_init(&v->sigs[i].bh);
    }
    return v;
}

void dkim_verify_update(struct dkim_verify *v, const void *data, size_t len)
{
    if (v->ended)
        return;
    size_t k = 0;
    if (!v->split.in_body) {
        k = dkim_split_update(&v->split, data, len);
        if (v->split.in_body)
            headers_complete(v);
    }
    if (k == len)
        return;
    for (size_t i = 0; i < v->nsigs; i++)
        if (v->sigs[i].body_active)
            dkim_body_update(&v->sigs[i].body, (const char *)data + k, len - k);
}

bool dkim_verify_headers_done(const struct dkim_verify *v)
{
    return v->headers_done;
}

size_t dkim_verify_count(const struct dkim_verify *v)
{
    return v->nsigs;
}

const char *dkim_verify_key_name(const struct dkim_verify *v, size_t i)
{
    if (i >= v->nsigs || v->sigs[i].decided || v->sigs[i].key_given)
        return NULL;
    return v->sigs[i].keyname;
}

const char *dkim_keyrec_parse(const char *txt, size_t len, struct dkim_keyrec *kr_r,
                              struct buf *p_r)
{
    struct taglist tl;
    if (taglist_parse(txt, len, &tl) != NULL)
        return "key record syntax error";
    const struct taglist_tag *tv = taglist_find(&tl, "v"), *tk = taglist_find(&tl, "k"),
                             *tp = taglist_find(&tl, "p"), *th = taglist_find(&tl, "h"),
                             *ts = taglist_find(&tl, "s"), *tt = taglist_find(&tl, "t");
    if (tv && (tv != &tl.tag[0] || !taglist_value_is(tv, "DKIM1", false)))
        return "key record v= is not DKIM1 first";
    if (tp == NULL)
        return "key record without p=";
    kr_r->type = DKIM_KEY_RSA;
    if (tk && taglist_value_is(tk, "ed25519", false))
        kr_r->type = DKIM_KEY_ED25519;
    else if (tk && !taglist_value_is(tk, "rsa", false))
        return "unknown key type";
    struct buf c;
    buf_init(&c);
    const char *why = NULL;
    if (th) {
        taglist_value_compact(th, &c);
        if (!list_has(c.data, c.len, "sha256"))
            why = "key does not allow sha256";
        buf_reset(&c);
    }
    if (!why && ts) {
        taglist_value_compact(ts, &c);
        if (!list_has(c.data, c.len, "email") && !list_has(c.data, c.len, "*"))
            why = "key not for email";
        buf_reset(&c);
    }
    kr_r->testing = kr_r->strict = false;
    if (!why && tt) {
        taglist_value_compact(tt, &c);
        kr_r->testing = list_has(c.data, c.len, "y");
        kr_r->strict = list_has(c.data, c.len, "s");
    }
    buf_free(&c);
    if (!why) {
        buf_reset(p_r);
        taglist_value_compact(tp, p_r);
    }
    return why;
}

/* Fields that occur at most once in a message (RFC 5322 3.6, RFC 2045,
 * RFC 2183, RFC 8058): a second, unsigned instance above the signed one is
 * what a reader sees (RFC 6376 8.15). Trace and list fields (Received,
 * Authentication-Results...) legitimately pile up and are not checked. */
/* clang-format off */
#define SINGLE(name) {name, "h= leaves a " name " field unsigned"}
static const struct {
    const char *name, *why;
} single_fields[] = {
    SINGLE("From"), SINGLE("Sender"), SINGLE("Reply-To"), SINGLE("To"), SINGLE("Cc"),
    SINGLE("Bcc"), SINGLE("Subject"), SINGLE("Date"), SINGLE("Message-ID"),
    SINGLE("In-Reply-To"), SINGLE("References"), SINGLE("MIME-Version"), SINGLE("Content-Type"),
    SINGLE("Content-Transfer-Encoding"), SINGLE("Content-ID"), SINGLE("Content-Description"),
    SINGLE("Content-Disposition"), SINGLE("List-Unsubscribe"), SINGLE("List-Unsubscribe-Post"),
};
#undef SINGLE
/* clang-format on */

/* A verified signature that leaves content unsigned which a reader would
 * take as signed: a static reason, else NULL. */
static const char *unsigned_content(const struct dkim_verify *v, const struct sig *s)
{
    if (s->has_l && s->l < s->body.length)
        return "l= does not cover the whole body";
    enum { NSINGLE = sizeof(single_fields) / sizeof(single_fields[0]) };
    size_t signed_n[NSINGLE], present[NSINGLE] = {0};
    for (size_t i = 0; i < NSINGLE; i++)
        signed_n[i] = list_count(s->hlist.data, s->hlist.len, single_fields[i].name);
    /* One pass over the header section, however many names are checked. */
    const char *h = v->split.header.data ? v->split.header.data : "";
    size_t off = 0;
    struct dkim_field f;
    while (dkim_field_next(h, v->split.header.len, &off, &f))
        for (size_t i = 0; i < NSINGLE; i++)
            if (strlen(single_fields[i].name) == f.name_len &&
                strncasecmp(f.name, single_fields[i].name, f.name_len) == 0)
                present[i]++;
    /* A name h= does not list at all was not vouched for by the signer;
     * one it lists, it vouched for every instance of. */
    for (size_t i = 0; i < NSINGLE; i++)
        if (signed_n[i] > 0 && present[i] > signed_n[i])
            return single_fields[i].why;
    return NULL;
}

/* With the key and the body hash both known: the verdict (RFC 6376 6.1.3). */
static void try_finish(struct dkim_verify *v, struct sig *s)
{
    if (s->decided || s->pkey == NULL || !v->ended)
        return;
    enum dkim_result fail = s->r.testing ? DKIM_NEUTRAL : DKIM_FAIL;
    if (s->has_l && s->l > s->body.length) {
        decide(s, fail, "l= is longer than the body");
        return;
    }
    if (memcmp(s->body_hash, s->bh.data, DKIM_HASH_LEN) != 0) {
        decide(s, fail, "body hash mismatch");
        return;
    }
    struct buf data;
    buf_init(&data);
    const char *h = v->split.header.data ? v->split.header.data : "";
    dkim_canon_select(s->hcanon, h, v->split.header.len, s->hlist.data, s->hlist.len, &data);
    dkim_canon_header(s->hcanon, s->unsigned_field.data, s->unsigned_field.len, false, &data);
    bool ok = dkim_key_verify(s->pkey, s->type, data.data, data.len,
                              (const unsigned char *)s->b.data, s->b.len);
    buf_free(&data);
    const char *policy = ok ? unsigned_content(v, s) : NULL;
    if (policy)
        decide(s, DKIM_POLICY, policy);
    else if (ok)
        decide(s, DKIM_PASS, "signature verified");
    else
        decide(s, fail, "signature mismatch");
}

void dkim_verify_key(struct dkim_verify *v, size_t i, enum dkim_dns status, const char *txt,
                     size_t len)
{
    if (i >= v->nsigs || v->sigs[i].decided || v->sigs[i].key_given)
        return;
    struct sig *s = &v->sigs[i];
    s->key_given = true;
    if (status == DKIM_DNS_TEMPFAIL) {
        decide(s, DKIM_TEMPERROR, "key lookup failed");
        return;
    }
    if (status == DKIM_DNS_NONE) {
        decide(s, DKIM_PERMERROR, "no key for signature");
        return;
    }
    struct dkim_keyrec kr;
    struct buf p;
    buf_init(&p);
    const char *why = dkim_keyrec_parse(txt, len, &kr, &p);
    if (why == NULL && kr.type != s->type)
        why = "key type does not match a=";
    if (why == NULL && kr.strict && s->identity_domain &&
        strcasecmp(s->identity_domain, s->r.domain) != 0)
        why = "key requires i= domain to equal d= (t=s)";
    if (why == NULL)
        s->pkey = dkim_key_public(s->type, p.data ? p.data : "", p.len, &why);
    buf_free(&p);
    s->r.testing = why == NULL && kr.testing;
    if (why) {
        decide(s, DKIM_PERMERROR, why);
        return;
    }
    try_finish(v, s);
}

void dkim_verify_end(struct dkim_verify *v)
{
    if (v->ended)
        return;
    if (!v->headers_done)
        headers_complete(v); /* a message without a body */
    v->ended = true;
    for (size_t i = 0; i < v->nsigs; i++) {
        struct sig *s = &v->sigs[i];
        if (s->body_active) {
            dkim_body_final(&s->body, s->body_hash);
            s->body_active = false;
        }
        try_finish(v, s);
    }
}

bool dkim_verify_done(const struct dkim_verify *v)
{
    if (!v->ended)
        return false;
    for (size_t i = 0; i < v->nsigs; i++)
        if (!v->sigs[i].decided)
            return false;
    return true;
}

const struct dkim_sig_result *dkim_verify_result(const struct dkim_verify *v, size_t i)
{
    return i < v->nsigs ? &v->sigs[i].r : NULL;
}

const char *dkim_verify_header(const struct dkim_verify *v, size_t *len_r)
{
    *len_r = v->split.header.len;
    return v->split.header.data ? v->split.header.data : "";
}

bool dkim_verify_header_truncated(const struct dkim_verify *v)
{
    return v->split.overflow;
}

void dkim_verify_free(struct dkim_verify **vp)
{
    struct dkim_verify *v = *vp;
    if (v == NULL)
        return;
    for (size_t i = 0; i < DKIM_VERIFY_MAX_SIGS; i++) {
        struct sig *s = &v->sigs[i];
        if (s->body_active)
            dkim_body_free(&s->body);
        EVP_PKEY_free(s->pkey);
        free(s->identity_domain);
        buf_free(&s->hlist);
        buf_free(&s->unsigned_field);
        buf_free(&s->b);
        buf_free(&s->bh);
    }
    dkim_split_free(&v->split);
    free(v);
    *vp = NULL;
}
