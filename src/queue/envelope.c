/* The envelope in memory and its escaped, line-per-field text form on
 * disk: serializing and the strict parser (see envelope.h). */
#include "proto/digits.h"
#include "queue/envelope.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "util/xmalloc.h"

#define ENVELOPE_MAGIC "postern-envelope 1"

struct envelope *envelope_new(void)
{
    struct envelope *env = xcalloc(1, sizeof(*env));
    env->sender = xstrdup("");
    return env;
}

static void rcpt_free(struct envelope_rcpt *r)
{
    free(r->addr);
    free(r->orig);
    free(r->orcpt);
    free(r->last_error);
    free(r->file);
}

void envelope_free(struct envelope **envp)
{
    struct envelope *env = *envp;
    if (env == NULL)
        return;
    free(env->sender);
    free(env->helo);
    free(env->client);
    free(env->auth_user);
    free(env->envid);
    free(env->prepend);
    for (size_t i = 0; i < env->nrcpts; i++)
        rcpt_free(&env->rcpts[i]);
    free(env->rcpts);
    free(env);
    *envp = NULL;
}

struct envelope_rcpt *envelope_add_rcpt(struct envelope *env, const char *addr, const char *orig)
{
    env->rcpts = xrealloc(env->rcpts, (env->nrcpts + 1) * sizeof(*env->rcpts));
    struct envelope_rcpt *r = &env->rcpts[env->nrcpts++];
    memset(r, 0, sizeof(*r));
    r->addr = xstrdup(addr);
    r->orig = xstrdup(orig ? orig : addr);
    return r;
}

long envelope_find_rcpt(const struct envelope *env, const char *addr)
{
    for (size_t i = 0; i < env->nrcpts; i++)
        if (strcmp(env->rcpts[i].addr, addr) == 0)
            return (long)i;
    return -1;
}

size_t envelope_pending(const struct envelope *env)
{
    size_t n = 0;
    for (size_t i = 0; i < env->nrcpts; i++)
        if (env->rcpts[i].state == RCPT_PENDING || env->rcpts[i].state == RCPT_DELIVERING)
            n++;
    return n;
}

void envelope_escape(struct buf *out, const char *s)
{
    if (s == NULL || *s == '\0') {
        buf_append_char(out, '-');
        return;
    }
    if (strcmp(s, "-") == 0) {
        buf_append_str(out, "%2D");
        return;
    }
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p <= ' ' || *p >= 0x7f || *p == '%')
            buf_printf(out, "%%%02X", *p);
        else
            buf_append_char(out, (char)*p);
    }
}

static void put_field(struct buf *out, const char *key, const char *value)
{
    buf_append_str(out, key);
    buf_append_char(out, ' ');
    envelope_escape(out, value);
    buf_append_char(out, '\n');
}

static const char *state_names[] = {"pending", "done", "failed", "delivering"};
#define NSTATES 4

void envelope_serialize(const struct envelope *env, struct buf *out)
{
    buf_append_str(out, ENVELOPE_MAGIC "\n");
    put_field(out, "id", env->id);
    buf_printf(out, "arrival %" PRId64 "\n", env->arrival);
    put_field(out, "sender", env->sender);
    put_field(out, "helo", env->helo);
    put_field(out, "client", env->client);
    put_field(out, "auth", env->auth_user);
    put_field(out, "envid", env->envid);
    if (env->prepend)
        put_field(out, "prepend", env->prepend);
    buf_printf(out, "ret %d\n", env->ret);
    buf_printf(out, "smtputf8 %d\n", env->smtputf8 ? 1 : 0);
    buf_printf(out, "body8bit %d\n", env->body_8bit ? 1 : 0);
    buf_printf(out, "held %d\n", env->held ? 1 : 0);
    if (env->warned)
        buf_printf(out, "warned 1\n");
    buf_printf(out, "size %" PRIu64 "\n", env->size);
    for (size_t i = 0; i < env->nrcpts; i++) {
        const struct envelope_rcpt *r = &env->rcpts[i];
        buf_printf(out, "rcpt %s %u %u %" PRId64 " ", state_names[r->state], r->notify, r->attempts,
                   r->next_attempt);
        envelope_escape(out, r->addr);
        buf_append_char(out, ' ');
        envelope_escape(out, r->orig);
        buf_append_char(out, ' ');
        envelope_escape(out, r->orcpt);
        buf_append_char(out, ' ');
        envelope_escape(out, r->last_error);
        buf_append_char(out, '\n');
    }
    for (size_t i = 0; i < env->nrcpts; i++) {
        if (env->rcpts[i].file == NULL)
            continue;
        buf_printf(out, "file %zu ", i);
        envelope_escape(out, env->rcpts[i].file);
        buf_append_char(out, '\n');
    }
    buf_append_str(out, "end\n");
}

static int hexval(char c)
{
    return hex_digit_value((unsigned char)c);
}

/* Decodes one escaped token; NULL for a malformed one. "-" decodes to NULL
 * through *empty_r so that optional fields stay optional. */
char *envelope_unescape(const char *s, size_t len, bool *ok_r)
{
    *ok_r = len > 0; /* an empty value is written "-", never as nothing */
    if (len == 0 || (len == 1 && s[0] == '-'))
        return NULL;
    char *out = xmalloc(len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%') {
            int h, l;
            if (i + 2 >= len) {
                *ok_r = false;
                break;
            }
            h = hexval(s[i + 1]);
            l = hexval(s[i + 2]);
            if (h < 0 || l < 0 || (h == 0 && l == 0)) {
                *ok_r = false;
                break;
            }
            out[o++] = (char)(h * 16 + l);
            i += 2;
        } else if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f) {
            *ok_r = false;
            break;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    if (!*ok_r) {
        free(out);
        return NULL;
    }
    return out;
}

static bool parse_i64(const char *s, size_t len, int64_t *out)
{
    /* Exactly -?[0-9]+: strtoll alone also takes "+1", " 1" and "\t1". */
    size_t d = len > 0 && s[0] == '-' ? 1 : 0;
    if (len == d || len > 20)
        return false;
    for (size_t k = d; k < len; k++)
        if (s[k] < '0' || s[k] > '9')
            return false;
    char tmp[24];
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    char *end;
    errno = 0;
    long long v = strtoll(tmp, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

/* Splits a line at each space into at most max tokens (max + 1: more).
 * Empty tokens count ("a  b", "a "), so the parser refuses them. */
static size_t tokenize(const char *line, size_t len, const char **tok, size_t *tlen, size_t max)
{
    size_t n = 0, i = 0;
    if (len == 0)
        return 0;
    for (;;) {
        size_t start = i;
        while (i < len && line[i] != ' ')
            i++;
        if (n == max)
            return max + 1;
        tok[n] = line + start;
        tlen[n] = i - start;
        n++;
        if (i == len)
            return n;
        i++;
    }
}

const char *envelope_parse(const char *text, size_t len, struct envelope **env_r)
{
    *env_r = NULL;
    size_t magic = strlen(ENVELOPE_MAGIC);
    if (len < magic + 1 || memcmp(text, ENVELOPE_MAGIC "\n", magic + 1) != 0)
        return "not a postern envelope (bad first line)";
    struct envelope *env = envelope_new();
    const char *why = "truncated: no end line";
    size_t pos = magic + 1;
    bool have_id = false;
    /* Each of these appears at most once: a second value is not a guess to make. */
    static const char *const single_keys[] = {"id",   "arrival", "sender",  "helo",     "client",
                                              "auth", "envid",   "ret",     "smtputf8", "body8bit",
                                              "held", "size",    "prepend", "warned"};
    unsigned seen = 0;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        if (nl == NULL) {
            why = "truncated line";
            goto fail;
        }
        const char *line = text + pos;
        size_t llen = (size_t)(nl - line);
        pos += llen + 1;
        const char *tok[9] = {0};
        size_t tl[9] = {0};
        size_t n = tokenize(line, llen, tok, tl, 9);
        if (n == 0) {
            why = "empty line";
            goto fail;
        }
        if (n == 1 && tl[0] == 3 && memcmp(tok[0], "end", 3) == 0) {
            if (!have_id) {
                why = "no id";
                goto fail;
            }
            if (pos != len) {
                why = "data after end line";
                goto fail;
            }
            for (size_t i = 0; i < env->nrcpts; i++)
                if (env->rcpts[i].state == RCPT_DELIVERING && env->rcpts[i].file == NULL) {
                    why = "a recipient being delivered names no file";
                    goto fail;
                }
            *env_r = env;
            return NULL;
        }
#define KEY(k) (tl[0] == strlen(k) && memcmp(tok[0], k, tl[0]) == 0)
        bool ok = true;
        int64_t num = 0;
        for (unsigned k = 0; k < sizeof(single_keys) / sizeof(single_keys[0]); k++) {
            if (KEY(single_keys[k]) && (seen & (1u << k))) {
                why = "field given twice";
                goto fail;
            }
            if (KEY(single_keys[k]))
                seen |= 1u << k;
        }
        if (KEY("rcpt")) {
            if (n != 9) {
                why = "malformed rcpt line";
                goto fail;
            }
            int state = -1;
            for (int s = 0; s < NSTATES; s++)
                if (tl[1] == strlen(state_names[s]) && memcmp(tok[1], state_names[s], tl[1]) == 0)
                    state = s;
            int64_t notify, attempts, next;
            if (state < 0 || !parse_i64(tok[2], tl[2], &notify) ||
                !parse_i64(tok[3], tl[3], &attempts) || !parse_i64(tok[4], tl[4], &next) ||
                notify < 0 || notify > 15 || attempts < 0 || attempts > 1000000) {
                why = "malformed rcpt fields";
                goto fail;
            }
            bool ok1, ok2, ok3, ok4;
            char *addr = envelope_unescape(tok[5], tl[5], &ok1);
            char *orig = envelope_unescape(tok[6], tl[6], &ok2);
            char *orcpt = envelope_unescape(tok[7], tl[7], &ok3);
            char *err = envelope_unescape(tok[8], tl[8], &ok4);
            if (!ok1 || !ok2 || !ok3 || !ok4 || addr == NULL) {
                free(addr);
                free(orig);
                free(orcpt);
                free(err);
                why = "malformed rcpt address";
                goto fail;
            }
            struct envelope_rcpt *r = envelope_add_rcpt(env, addr, orig);
            free(addr);
            free(orig);
            r->state = (enum rcpt_state)state;
            r->notify = (unsigned)notify;
            r->attempts = (unsigned)attempts;
            r->next_attempt = next;
            r->orcpt = orcpt;
            r->last_error = err;
            continue;
        }
        if (KEY("file")) {
            /* "file INDEX NAME": the Maildir file of a recipient being delivered */
            int64_t index;
            if (n != 3 || !parse_i64(tok[1], tl[1], &index) || index < 0 ||
                (size_t)index >= env->nrcpts || env->rcpts[index].file != NULL ||
                env->rcpts[index].state != RCPT_DELIVERING) {
                why = "malformed file line";
                goto fail;
            }
            char *name = envelope_unescape(tok[2], tl[2], &ok);
            if (!ok || name == NULL || strchr(name, '/') || name[0] == '.') {
                free(name);
                why = "bad file name";
                goto fail;
            }
            env->rcpts[index].file = name;
            continue;
        }
        if (n != 2) {
            why = "malformed line";
            goto fail;
        }
        char **field = NULL;
        if (KEY("id")) {
            if (tl[1] == 0 || tl[1] > QUEUE_ID_LEN) {
                why = "bad id";
                goto fail;
            }
            for (size_t k = 0; k < tl[1]; k++) {
                char c = tok[1][k];
                if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'))) {
                    why = "bad id";
                    goto fail;
                }
            }
            memcpy(env->id, tok[1], tl[1]);
            env->id[tl[1]] = '\0';
            have_id = true;
        } else if (KEY("sender")) {
            field = &env->sender;
        } else if (KEY("helo")) {
            field = &env->helo;
        } else if (KEY("client")) {
            field = &env->client;
        } else if (KEY("auth")) {
            field = &env->auth_user;
        } else if (KEY("prepend")) {
            field = &env->prepend;
        } else if (KEY("envid")) {
            field = &env->envid;
        } else if (KEY("arrival") || KEY("ret") || KEY("smtputf8") || KEY("body8bit") ||
                   KEY("held") || KEY("size") || KEY("warned")) {
            int64_t top = KEY("arrival") || KEY("size") ? INT64_MAX : KEY("ret") ? 2 : 1;
            if (!parse_i64(tok[1], tl[1], &num) || num < 0 || num > top) {
                why = "bad number";
                goto fail;
            }
            if (KEY("arrival"))
                env->arrival = num;
            else if (KEY("ret"))
                env->ret = (int)num;
            else if (KEY("smtputf8"))
                env->smtputf8 = num != 0;
            else if (KEY("body8bit"))
                env->body_8bit = num != 0;
            else if (KEY("held"))
                env->held = num != 0;
            else if (KEY("warned"))
                env->warned = num != 0;
            else
                env->size = (uint64_t)num;
        } else {
            why = "unknown key";
            goto fail;
        }
        if (field) {
            char *v = envelope_unescape(tok[1], tl[1], &ok);
            if (!ok) {
                why = "bad escape";
                goto fail;
            }
            free(*field);
            *field = v;
            if (field == &env->sender && *field == NULL)
                *field = xstrdup("");
        }
#undef KEY
    }
fail:
    envelope_free(&env);
    return why;
}
