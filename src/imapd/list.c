/* LIST and LSUB (RFC 9051 6.3.9, RFC 3501 6.3.9), with LIST-EXTENDED's
 * selection and return options (RFC 5258: SUBSCRIBED, RECURSIVEMATCH,
 * REMOTE, CHILDREN, several patterns), SPECIAL-USE's (RFC 6154) and
 * LIST-STATUS (RFC 5819). One job reads the folder list and answers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imapd/folders.h"
#include "imapd/job.h"
#include "imapd/names.h"
#include "imapd/session.h"
#include "store/store.h"
#include "util/xmalloc.h"

#define LIST_PATTERNS_MAX 32

struct list_args {
    char *patterns[LIST_PATTERNS_MAX]; /* reference and pattern together */
    size_t n_patterns;
    bool lsub;
    bool utf8;
    /* selection options */
    bool sel_subscribed, sel_special_use, recursive;
    /* return options */
    bool ret_subscribed;
    unsigned status_items; /* 0: no STATUS */
};

static void list_args_free(void *arg)
{
    struct list_args *a = arg;
    for (size_t i = 0; i < a->n_patterns; i++)
        free(a->patterns[i]);
    free(a);
}

#define SPECIAL_USE (STORE_A_SENT | STORE_A_DRAFTS | STORE_A_TRASH | STORE_A_JUNK | STORE_A_ARCHIVE)

static void append_attrs(struct buf *out, unsigned attrs, const struct list_args *a)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {
        {STORE_A_NOSELECT, "\\Noselect"},
        {STORE_A_NONEXISTENT, "\\NonExistent"},
        {STORE_A_HASCHILDREN, "\\HasChildren"},
        {STORE_A_HASNOCHILDREN, "\\HasNoChildren"},
        {STORE_A_SUBSCRIBED, "\\Subscribed"},
        {STORE_A_SENT, "\\Sent"},
        {STORE_A_DRAFTS, "\\Drafts"},
        {STORE_A_TRASH, "\\Trash"},
        {STORE_A_JUNK, "\\Junk"},
        {STORE_A_ARCHIVE, "\\Archive"},
    };
    if (!a->ret_subscribed && !a->sel_subscribed)
        attrs &= ~(unsigned)STORE_A_SUBSCRIBED; /* only when asked (RFC 5258 3.4) */
    if (a->lsub)
        attrs &= STORE_A_NOSELECT; /* LSUB: \Noselect alone (RFC 3501 7.2.3) */
    buf_append_char(out, '(');
    bool first = true;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (attrs & names[i].bit) {
            buf_printf(out, "%s%s", first ? "" : " ", names[i].name);
            first = false;
        }
    buf_append_char(out, ')');
}

static bool matches(const struct list_args *a, const char *name)
{
    for (size_t i = 0; i < a->n_patterns; i++)
        if (store_list_match(a->patterns[i], name))
            return true;
    return false;
}

/* RECURSIVEMATCH: a subscribed folder below name (RFC 5258 3.5). */
static bool has_subscribed_child(const struct store_list *l, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < l->n; i++)
        if ((l->v[i].attrs & STORE_A_SUBSCRIBED) && strncmp(l->v[i].name, name, len) == 0 &&
            l->v[i].name[len] == '.')
            return true;
    return false;
}

/* LSUB: a parent of a subscribed folder that matches the pattern when the
 * folder does not (LSUB "" "%" with Lists.rust subscribed) is listed as
 * \Noselect unless subscribed itself (RFC 3501 6.3.9). */
static void lsub_parents(const struct list_args *a, const struct store_list *l, struct buf *out)
{
    char **done = NULL;
    size_t n_done = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (!(l->v[i].attrs & STORE_A_SUBSCRIBED))
            continue;
        const char *name = l->v[i].name;
        for (const char *dot = strchr(name, '.'); dot; dot = strchr(dot + 1, '.')) {
            char *parent = xstrndup(name, (size_t)(dot - name));
            bool skip = !matches(a, parent) || matches(a, name);
            for (size_t k = 0; k < l->n && !skip; k++)
                skip = (l->v[k].attrs & STORE_A_SUBSCRIBED) && strcmp(l->v[k].name, parent) == 0;
            for (size_t k = 0; k < n_done && !skip; k++)
                skip = strcmp(done[k], parent) == 0;
            if (skip) {
                free(parent);
                continue;
            }
            buf_append_str(out, "* LSUB (\\Noselect) \".\" ");
            imapd_folder_quote(out, parent, a->utf8);
            buf_append_str(out, "\r\n");
            done = xrealloc(done, (n_done + 1) * sizeof(*done));
            done[n_done++] = parent;
        }
    }
    for (size_t k = 0; k < n_done; k++)
        free(done[k]);
    free(done);
}

static void list_work(struct imapd_job *j)
{
    struct list_args *a = j->args;
    struct store_list l = {0};
    int err = store_list(j->store, &l);
    if (err) {
        imapd_job_tagged(j, "NO", "%s", imapd_store_error(err, ""));
        return;
    }
    const char *verb = a->lsub ? "LSUB" : "LIST";
    bool only_subscribed = a->lsub || a->sel_subscribed;
    for (size_t i = 0; i < l.n; i++) {
        const struct store_list_entry *e = &l.v[i];
        if (!matches(a, e->name))
            continue;
        bool childinfo = false;
        if (only_subscribed && !(e->attrs & STORE_A_SUBSCRIBED)) {
            if (!(a->recursive && has_subscribed_child(&l, e->name)))
                continue;
            childinfo = true;
        }
        if (!only_subscribed && (e->attrs & STORE_A_NONEXISTENT))
            continue; /* a subscription of a folder that is gone */
        if (a->sel_special_use && !(e->attrs & SPECIAL_USE))
            continue;
        buf_printf(&j->out, "* %s ", verb);
        append_attrs(&j->out, childinfo ? e->attrs & ~(unsigned)STORE_A_SUBSCRIBED : e->attrs, a);
        buf_append_str(&j->out, " \".\" ");
        imapd_folder_quote(&j->out, e->name, a->utf8);
        if (childinfo)
            buf_append_str(&j->out, " (\"CHILDINFO\" (\"SUBSCRIBED\"))");
        buf_append_str(&j->out, "\r\n");
        if (a->status_items && !(e->attrs & (STORE_A_NOSELECT | STORE_A_NONEXISTENT)))
            imapd_status_format(j->store, e->name, a->status_items, a->utf8, &j->out);
    }
    if (a->lsub)
        lsub_parents(a, &l, &j->out);
    store_list_free(&l);
    imapd_job_tagged(j, "OK", "%s completed", verb);
}

/* Parses "(SUBSCRIBED RECURSIVEMATCH ...)"; false after a BAD. */
static bool selection_options(struct imapd_session *s, const struct imap_arg *opts,
                              struct list_args *a)
{
    for (size_t i = 0; i < opts->n; i++) {
        const struct imap_arg *o = &opts->list[i];
        if (imap_arg_atom_is(o, "SUBSCRIBED"))
            a->sel_subscribed = true;
        else if (imap_arg_atom_is(o, "RECURSIVEMATCH"))
            a->recursive = true;
        else if (imap_arg_atom_is(o, "SPECIAL-USE"))
            a->sel_special_use = true;
        else if (imap_arg_atom_is(o, "REMOTE"))
            continue; /* no remote folders here */
        else {
            imapd_reply_bad(s, "Unknown LIST selection option");
            return false;
        }
    }
    /* RECURSIVEMATCH alone means nothing (RFC 5258 3: BAD). */
    if (a->recursive && !a->sel_subscribed) {
        imapd_reply_bad(s, "RECURSIVEMATCH needs another selection option (SUBSCRIBED)");
        return false;
    }
    return true;
}

static bool return_options(struct imapd_session *s, const struct imap_arg *opts,
                           struct list_args *a)
{
    for (size_t i = 0; i < opts->n; i++) {
        const struct imap_arg *o = &opts->list[i];
        if (imap_arg_atom_is(o, "SUBSCRIBED")) {
            a->ret_subscribed = true;
        } else if (imap_arg_atom_is(o, "CHILDREN") || imap_arg_atom_is(o, "SPECIAL-USE")) {
            continue; /* always returned */
        } else if (imap_arg_atom_is(o, "STATUS") && i + 1 < opts->n) {
            if (!imapd_status_items(s, &opts->list[++i], &a->status_items))
                return false;
        } else {
            imapd_reply_bad(s, "Unknown LIST return option");
            return false;
        }
    }
    return true;
}

static bool add_pattern(struct imapd_session *s, struct list_args *a, const struct imap_arg *ref,
                        const struct imap_arg *pat)
{
    if (!imap_arg_is_astring(pat) || pat->str == NULL || memchr(pat->str, '\0', pat->len)) {
        imapd_reply_bad(s, "Expected a folder pattern");
        return false;
    }
    if (a->n_patterns == LIST_PATTERNS_MAX) {
        imapd_reply_bad(s, "Too many patterns");
        return false;
    }
    a->patterns[a->n_patterns++] = xasprintf("%s%s", ref->str, pat->str);
    return true;
}

bool imapd_cmd_list(struct imapd_session *s, const struct imap_command *cmd)
{
    bool lsub = strcmp(cmd->name, "LSUB") == 0;
    const struct imap_arg *args = cmd->args;
    size_t n = cmd->n;
    struct list_args *a = xcalloc(1, sizeof(*a));
    a->lsub = lsub;
    a->utf8 = s->utf8_enabled;
    bool extended = false;
    if (!lsub && n > 0 && args[0].type == IMAP_ARG_LIST) {
        extended = true;
        if (!selection_options(s, &args[0], a))
            goto refused;
        args++;
        n--;
    }
    if (!lsub && n == 4 && imap_arg_atom_is(&args[2], "RETURN") && args[3].type == IMAP_ARG_LIST) {
        extended = true;
        if (!return_options(s, &args[3], a))
            goto refused;
        n -= 2;
    }
    if (n != 2 || !imap_arg_is_astring(&args[0]) || args[0].str == NULL ||
        memchr(args[0].str, '\0', args[0].len)) {
        imapd_reply_bad(s, "%s expects a reference and a folder pattern", cmd->name);
        goto refused;
    }
    if (!lsub && args[1].type == IMAP_ARG_LIST) {
        extended = true;
        for (size_t i = 0; i < args[1].n; i++)
            if (!add_pattern(s, a, &args[0], &args[1].list[i]))
                goto refused;
    } else if (!add_pattern(s, a, &args[0], &args[1])) {
        goto refused;
    }
    if (!lsub && !extended && args[1].len == 0) {
        /* The hierarchy delimiter and the root (RFC 9051 6.3.9). */
        imapd_reply_untagged(s, "LIST (\\Noselect) \".\" \"\"");
        imapd_reply_tagged(s, "OK", "LIST completed");
        list_args_free(a);
        return true;
    }
    return imapd_job_submit(imapd_job_new(s, list_work, a, list_args_free));
refused:
    list_args_free(a);
    return true;
}
