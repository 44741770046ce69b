/* Making the DKIM-Signature field of a streamed message (relaxed/relaxed). */
#include "mailauth/dkim_sign.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/xmalloc.h"

#define FOLD_AT 78

struct fold {
    struct buf *out;
    size_t col;
};

/* Appends a token, starting a continuation line when the current one
 * would grow past FOLD_AT; a tab counts as 8 columns. */
static void fold_add(struct fold *f, const char *s, bool space_before)
{
    size_t n = strlen(s);
    if (f->col + n + (space_before ? 1 : 0) > FOLD_AT) {
        buf_append(f->out, "\r\n\t", 3);
        f->col = 8;
    } else if (space_before) {
        buf_append_char(f->out, ' ');
        f->col++;
    }
    buf_append(f->out, s, n);
    f->col += n;
}

/* The h= list: each field of DKIM_SIGN_HEADERS as often as the header
 * section has it, then "from" once more (see dkim_sign.h). */
static void header_list(const char *h, size_t hlen, struct buf *names)
{
    const char *list = DKIM_SIGN_HEADERS;
    while (*list) {
        const char *colon = strchr(list, ':');
        size_t len = colon ? (size_t)(colon - list) : strlen(list);
        size_t off = 0;
        struct dkim_field f;
        while (dkim_field_next(h, hlen, &off, &f))
            if (f.name_len == len && strncasecmp(f.name, list, len) == 0) {
                buf_append(names, list, len);
                buf_append_char(names, ':');
            }
        list += len + (colon ? 1 : 0);
    }
    buf_append_str(names, "from");
}

/* The core: h[0..hlen) is the header section (CRLF lines, no empty line),
 * bh the relaxed body hash (dkim_canon.h). Appends "DKIM-Signature: ...
 * CRLF", folded, to field_r. False (with a reason in err_r) only if
 * OpenSSL fails. */
static bool dkim_sign_headers(const struct dkim_key *key, const char *h, size_t hlen,
                              const unsigned char bh[DKIM_HASH_LEN], time_t now,
                              struct buf *field_r, struct buf *err_r)
{
    struct buf field, names, data, sig, tok;
    buf_init(&field);
    buf_init(&names);
    buf_init(&data);
    buf_init(&sig);
    buf_init(&tok);
    header_list(h, hlen, &names);

    buf_append_str(&field, "DKIM-Signature:");
    struct fold f = {.out = &field, .col = field.len};
    fold_add(&f, "v=1;", true);
    fold_add(&f, key->type == DKIM_KEY_ED25519 ? "a=ed25519-sha256;" : "a=rsa-sha256;", true);
    fold_add(&f, "c=relaxed/relaxed;", true);
    buf_printf(&tok, "d=%s;", key->domain);
    fold_add(&f, tok.data, true);
    buf_reset(&tok);
    buf_printf(&tok, "s=%s;", key->selector);
    fold_add(&f, tok.data, true);
    buf_reset(&tok);
    buf_printf(&tok, "t=%" PRId64 ";", (int64_t)now);
    fold_add(&f, tok.data, true);
    /* h= folds after its colons, where RFC 6376 3.5 allows FWS. */
    const char *p = names.data;
    bool first = true;
    while (*p) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) + 1 : strlen(p);
        buf_reset(&tok);
        buf_printf(&tok, "%s%.*s%s", first ? "h=" : "", (int)len, p, colon ? "" : ";");
        fold_add(&f, tok.data, first);
        first = false;
        p += len;
    }
    buf_reset(&tok);
    buf_append_str(&tok, "bh=");
    dkim_base64_append(&tok, bh, DKIM_HASH_LEN);
    buf_append_char(&tok, ';');
    fold_add(&f, tok.data, true);
    /* b= starts its own line; what is signed is the field up to "b=". */
    buf_append_str(&field, "\r\n\tb=");
    f.col = 10;

    dkim_canon_select(DKIM_CANON_RELAXED, h, hlen, names.data, names.len, &data);
    dkim_canon_header(DKIM_CANON_RELAXED, field.data, field.len, false, &data);
    bool ok = dkim_key_sign(key->pkey, key->type, data.data, data.len, &sig);
    if (ok) {
        buf_reset(&tok);
        dkim_base64_append(&tok, (const unsigned char *)sig.data, sig.len);
        for (size_t i = 0; i < tok.len;) {
            size_t room = FOLD_AT - f.col;
            if (room < 8) {
                buf_append(&field, "\r\n\t", 3);
                f.col = 8;
                room = FOLD_AT - f.col;
            }
            size_t n = tok.len - i < room ? tok.len - i : room;
            buf_append(&field, tok.data + i, n);
            f.col += n;
            i += n;
        }
        buf_append(&field, "\r\n", 2);
        buf_append(field_r, field.data, field.len);
    } else {
        buf_append_str(err_r, "DKIM signing failed in OpenSSL");
    }
    buf_free(&field);
    buf_free(&names);
    buf_free(&data);
    buf_free(&sig);
    buf_free(&tok);
    return ok;
}

struct dkim_signer {
    struct dkim_split split;
    struct dkim_body body;
    bool finished;
};

struct dkim_signer *dkim_signer_new(void)
{
    struct dkim_signer *s = xcalloc(1, sizeof(*s));
    dkim_split_init(&s->split, DKIM_HEADER_MAX);
    dkim_body_init(&s->body, DKIM_CANON_RELAXED, DKIM_NO_LIMIT);
    return s;
}

void dkim_signer_update(struct dkim_signer *s, const void *data, size_t len)
{
    size_t k = s->split.in_body ? 0 : dkim_split_update(&s->split, data, len);
    if (k < len)
        dkim_body_update(&s->body, (const char *)data + k, len - k);
}

const char *dkim_signer_header(const struct dkim_signer *s, size_t *len_r)
{
    *len_r = s->split.header.len;
    return s->split.header.data ? s->split.header.data : "";
}

bool dkim_signer_finish(struct dkim_signer *s, const struct dkim_key *key, time_t now,
                        struct buf *field_r, struct buf *err_r)
{
    if (s->finished) {
        buf_append_str(err_r, "DKIM signer already finished");
        return false;
    }
    s->finished = true;
    unsigned char bh[DKIM_HASH_LEN];
    dkim_body_final(&s->body, bh);
    if (s->split.overflow) {
        buf_append_str(err_r, "header section too large to sign");
        return false;
    }
    size_t hlen;
    const char *h = dkim_signer_header(s, &hlen);
    return dkim_sign_headers(key, h, hlen, bh, now, field_r, err_r);
}

void dkim_signer_free(struct dkim_signer **sp)
{
    struct dkim_signer *s = *sp;
    if (s == NULL)
        return;
    if (!s->finished)
        dkim_body_free(&s->body);
    dkim_split_free(&s->split);
    free(s);
    *sp = NULL;
}

bool dkim_sign_message(const struct dkim_key *key, const char *msg, size_t len, time_t now,
                       struct buf *field_r, struct buf *err_r)
{
    struct dkim_signer *s = dkim_signer_new();
    dkim_signer_update(s, msg, len);
    bool ok = dkim_signer_finish(s, key, now, field_r, err_r);
    dkim_signer_free(&s);
    return ok;
}
