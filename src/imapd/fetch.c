/* FETCH and UID FETCH (RFC 9051 6.4.5): the items are checked on the loop,
 * the messages are read and the responses built in a worker, a batch at a
 * time: a batch ends when its output passes IMAPD_FETCH_BATCH, and the
 * next one is built once the connection has taken it (job.h), so FETCH
 * 1:* BODY[] of a big folder holds one batch in memory, not the folder. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "imapd/condstore.h"
#include "imapd/fetch.h"
#include "imapd/job.h"
#include "imapd/select.h"
#include "imapd/session.h"
#include "proto/imap_bodystructure.h"
#include "proto/imap_date.h"
#include "proto/imap_envelope.h"
#include "proto/imap_section.h"
#include "proto/imap_seqset.h"
#include "proto/mime.h"
#include "util/log.h"
#include "util/xmalloc.h"

#define IMAPD_FETCH_BATCH (256 * 1024)
/* A message at least this big, fetched whole (BODY[], RFC822) with no item
 * that needs its structure, is streamed from its file in batches instead
 * of being read into memory. */
#define IMAPD_FETCH_STREAM_MIN   (1024 * 1024)
#define IMAPD_FETCH_SECTIONS_MAX 64

enum fetch_item {
    FI_UID = 1u << 0,
    FI_FLAGS = 1u << 1,
    FI_INTERNALDATE = 1u << 2,
    FI_SIZE = 1u << 3,
    FI_ENVELOPE = 1u << 4,
    FI_BODY = 1u << 5, /* BODY without a section */
    FI_BODYSTRUCTURE = 1u << 6,
    FI_MODSEQ = 1u << 7, /* RFC 7162 3.1.4.1 */
};

/* The items that need the message itself. */
#define FI_CONTENT (FI_ENVELOPE | FI_BODY | FI_BODYSTRUCTURE)

struct fetch_args {
    unsigned items;
    struct imap_section sections[IMAPD_FETCH_SECTIONS_MAX];
    const char *section_names[IMAPD_FETCH_SECTIONS_MAX]; /* RFC822 items echo their own */
    size_t n_sections;
    bool sets_seen; /* a section without .PEEK */
    struct imap_seqset set;
    uint64_t changedsince; /* CHANGEDSINCE (RFC 7162 3.1.4.2), 0: none */
    bool vanished;         /* UID FETCH's VANISHED modifier (RFC 7162 3.2.6) */
    /* Progress over batches */
    bool started;
    struct imap_seqlist seqs; /* sequence numbers to fetch (resolved at the start) */
    struct imap_seqlist_iter it;
    bool expunged_seen; /* some were expunged meanwhile */
    bool unknown_cte;   /* BINARY of a part whose encoding is not known */
    /* A message being streamed (see IMAPD_FETCH_STREAM_MIN) */
    int stream_fd;        /* -1: none */
    uint64_t stream_left; /* CRLF octets of the literal still to send */
    bool stream_cr;       /* the last octet read was a CR */
};

static void fetch_args_free(void *arg)
{
    struct fetch_args *a = arg;
    for (size_t i = 0; i < a->n_sections; i++)
        imap_section_free(&a->sections[i]);
    imap_seqset_free(&a->set);
    imap_seqlist_free(&a->seqs);
    if (a->stream_fd >= 0)
        close(a->stream_fd);
    free(a);
}

/* Appends data to out with bare LFs made CRLF (as mime_to_crlf does), in
 * pieces: *cr says whether the piece before ended in CR. Returns the
 * octets that makes (out may be NULL: it only counts). */
static uint64_t crlf_piece(const char *data, size_t len, bool *cr, struct buf *out)
{
    uint64_t n = 0;
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (data[i] == '\n' && !*cr) {
            if (out) {
                buf_append(out, data + start, i - start);
                buf_append(out, "\r\n", 2);
            }
            start = i + 1;
            n += 2;
        } else {
            n++;
        }
        *cr = data[i] == '\r';
    }
    if (out)
        buf_append(out, data + start, len - start);
    return n;
}

/* The CRLF size of the file on fd (read from the start). */
static bool crlf_size(int fd, uint64_t *size_r)
{
    char chunk[65536];
    ssize_t n;
    bool cr = false;
    uint64_t size = 0;
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        size += crlf_piece(chunk, (size_t)n, &cr, NULL);
    *size_r = size;
    return n == 0 && lseek(fd, 0, SEEK_SET) == 0;
}

/* The next piece of a streamed message into j->out; closes the response
 * at its end. */
static void stream_step(struct imapd_job *j)
{
    struct fetch_args *a = j->args;
    char chunk[65536];
    while (a->stream_left > 0 && j->out.len < IMAPD_FETCH_BATCH) {
        size_t want = sizeof(chunk) / 2; /* each octet may become two */
        if (want > a->stream_left)
            want = (size_t)a->stream_left;
        ssize_t n = read(a->stream_fd, chunk, want);
        if (n <= 0) {
            /* The file shrank under us: the literal's size was announced,
             * so it is filled up to keep the client in step. */
            log_warn("event=imap_fetch_short_file left=%llu", (unsigned long long)a->stream_left);
            while (a->stream_left > 0) {
                buf_append_char(&j->out, ' ');
                a->stream_left--;
            }
            break;
        }
        size_t before = j->out.len;
        crlf_piece(chunk, (size_t)n, &a->stream_cr, &j->out);
        size_t produced = j->out.len - before;
        if (produced > a->stream_left) {
            j->out.len -= produced - (size_t)a->stream_left; /* the file grew: cut */
            produced = (size_t)a->stream_left;
        }
        a->stream_left -= produced;
    }
    if (a->stream_left == 0) {
        buf_append_str(&j->out, ")\r\n");
        close(a->stream_fd);
        a->stream_fd = -1;
    }
}

/* Whether message m is streamed: big, and only a whole-message section
 * without a partial is asked for besides items the index has. */
static bool streamable(const struct fetch_args *a, const struct store_msg *m)
{
    if (m->file_size < IMAPD_FETCH_STREAM_MIN || (a->items & FI_CONTENT) || a->n_sections != 1)
        return false;
    const struct imap_section *sec = &a->sections[0];
    return sec->item == IMAP_ITEM_BODY && sec->n_parts == 0 && sec->text == IMAP_SECTION_ALL &&
           !sec->partial;
}

static void append_literal(struct buf *out, const char *data, size_t len, bool literal8)
{
    buf_printf(out, "%s{%zu}\r\n", literal8 ? "~" : "", len);
    buf_append(out, data, len);
}

static void internal_date(struct buf *out, int64_t when)
{
    time_t t = (time_t)when;
    struct tm tm;
    localtime_r(&t, &tm);
    char text[IMAP_DATETIME_LEN + 1];
    imap_datetime_format(t, (int)(tm.tm_gmtoff / 60), text);
    buf_printf(out, "INTERNALDATE \"%s\"", text);
}

/* Sets \Seen for a fetch of a body section (RFC 9051 6.4.5); the new flags
 * are then part of the response. */
static bool mark_seen(struct imapd_selected *sel, struct store_msg *m)
{
    if (sel->read_only || (m->flags & STORE_F_SEEN))
        return false;
    const char *kw[STORE_KEYWORDS_MAX];
    size_t n = imapd_keyword_names(sel->f, m->keywords, kw);
    return store_set_flags(sel->f, m->uid, m->flags | STORE_F_SEEN, kw, n) == 0;
}

static void fetch_one(struct imapd_job *j, size_t seq)
{
    struct fetch_args *a = j->args;
    struct imapd_selected *sel = j->sel;
    struct imapd_view_msg *v = &sel->v[seq - 1];
    struct store_msg *m = store_msg_by_uid(sel->f, v->uid);
    if (m == NULL) {
        a->expunged_seen = true; /* gone: reported at the next chance */
        return;
    }
    if (a->changedsince && m->modseq <= a->changedsince)
        return;
    bool stream = streamable(a, m);
    uint64_t stream_size = 0;
    if (stream) {
        int fd = store_open_msg(sel->f, v->uid);
        if (fd < 0 || !crlf_size(fd, &stream_size)) {
            if (fd >= 0)
                close(fd);
            a->expunged_seen = true;
            return;
        }
        a->stream_fd = fd;
        a->stream_left = stream_size;
        a->stream_cr = false;
    }
    /* ENVELOPE, BODY and BODYSTRUCTURE come from the index's cache when it
     * has them; the message is read only for what it does not have. */
    static const struct {
        unsigned item;
        enum store_cache_field field;
    } cached[] = {
        {FI_ENVELOPE, STORE_CACHE_ENVELOPE},
        {FI_BODY, STORE_CACHE_BODY},
        {FI_BODYSTRUCTURE, STORE_CACHE_BODYSTRUCTURE},
    };
    char *structure[3] = {NULL, NULL, NULL};
    bool need_message = !stream && a->n_sections > 0;
    for (size_t i = 0; i < 3; i++)
        if ((a->items & cached[i].item) &&
            store_cache_get(sel->f, v->uid, cached[i].field, &structure[i]) != 0)
            need_message = true;
    struct buf msg;
    buf_init(&msg);
    struct mime_part *root = NULL;
    if (need_message) {
        if (!imapd_read_message(sel->f, v->uid, true, &msg)) {
            log_warn("event=imap_fetch_unreadable folder=%s uid=%u", log_q(sel->f->name),
                     (unsigned)v->uid);
            a->expunged_seen = true;
            for (size_t i = 0; i < 3; i++)
                free(structure[i]);
            return;
        }
        root = mime_parse(msg.data ? msg.data : "", msg.len);
        for (size_t i = 0; i < 3; i++) {
            if (!(a->items & cached[i].item) || structure[i])
                continue;
            struct buf b;
            buf_init(&b);
            if (cached[i].item == FI_ENVELOPE)
                imap_envelope(msg.data + root->hdr_off, root->hdr_len, &b);
            else
                imap_bodystructure(msg.data, root, cached[i].item == FI_BODYSTRUCTURE, &b);
            buf_append_char(&b, '\0');
            store_cache_put(sel->f, v->uid, cached[i].field, b.data);
            structure[i] = b.data; /* ours now */
        }
    }
    bool flags_changed = a->sets_seen && mark_seen(sel, m);
    if (flags_changed) {
        v->flags = m->flags;
        v->keywords = m->keywords;
    }
    struct buf *out = &j->out;
    buf_printf(out, "* %zu FETCH (", seq);
    const char *sp = "";
    /* CONDSTORE-aware: a flag change FETCH made (\Seen) says UID and MODSEQ
     * (RFC 7162 3.1), and so does every FLAGS answer (as Dovecot does). */
    bool with_flags = (a->items & FI_FLAGS) || flags_changed;
    if (a->items & FI_UID || j->uid || (sel->condstore && flags_changed)) {
        buf_printf(out, "UID %u", (unsigned)v->uid);
        sp = " ";
    }
    if (with_flags) {
        buf_printf(out, "%sFLAGS ", sp);
        imapd_flags_format(out, sel, m->flags, m->keywords, v->recent);
        v->flags = m->flags;
        v->keywords = m->keywords;
        sp = " ";
    }
    if (a->items & FI_INTERNALDATE) {
        buf_append_str(out, sp);
        internal_date(out, m->internal_date);
        sp = " ";
    }
    if (a->items & FI_SIZE) {
        buf_printf(out, "%sRFC822.SIZE %llu", sp, (unsigned long long)m->size);
        sp = " ";
    }
    if ((a->items & FI_MODSEQ) || a->changedsince || (sel->condstore && with_flags)) {
        buf_printf(out, "%sMODSEQ (%llu)", sp, (unsigned long long)m->modseq);
        sp = " ";
    }
    static const char *const structure_names[] = {"ENVELOPE", "BODY", "BODYSTRUCTURE"};
    for (size_t i = 0; i < 3; i++) {
        if (structure[i])
            buf_printf(out, "%s%s %s", sp, structure_names[i], structure[i]);
        if (structure[i])
            sp = " ";
        free(structure[i]);
    }
    if (stream) {
        /* The literal follows in pieces (stream_step), then ")". */
        buf_printf(out, "%s%s {%llu}\r\n", sp,
                   a->section_names[0] ? a->section_names[0] : a->sections[0].name,
                   (unsigned long long)stream_size);
        return;
    }
    for (size_t i = 0; i < a->n_sections; i++) {
        const struct imap_section *sec = &a->sections[i];
        struct imap_section_octets o;
        memset(&o, 0, sizeof(o));
        buf_init(&o.data);
        enum imap_section_status st =
            imap_section_resolve(sec, msg.data ? msg.data : "", msg.len, root, &o);
        buf_printf(out, "%s%s ", sp, a->section_names[i] ? a->section_names[i] : sec->name);
        sp = " ";
        if (st != IMAP_SECTION_OK) {
            a->unknown_cte |= st == IMAP_SECTION_UNKNOWN_CTE;
            buf_append_str(out, "NIL");
        } else if (sec->item == IMAP_ITEM_BINARY_SIZE)
            buf_printf(out, "%zu", o.size);
        else if (o.built)
            append_literal(out, o.data.data ? o.data.data : "", o.data.len, o.literal8);
        else
            append_literal(out, msg.data + o.off, o.len, o.literal8);
        buf_free(&o.data);
    }
    buf_append_str(out, ")\r\n");
    mime_free(root);
    buf_free(&msg);
}

static void fetch_work(struct imapd_job *j)
{
    struct fetch_args *a = j->args;
    struct imapd_selected *sel = j->sel;
    if (!a->started) {
        a->started = true;
        size_t n;
        uint32_t *seqs = imapd_job_messages(j, &a->set, &n);
        if (seqs == NULL)
            return;
        imap_seqlist_from_numbers(seqs, n, &a->seqs);
        free(seqs);
        imap_seqlist_iter_init(&a->it, &a->seqs);
        if (a->vanished) /* before the FETCHes (RFC 7162 3.2.6) */
            imapd_vanished_since(sel, a->changedsince, &a->set, &j->out);
    }
    uint32_t seq;
    for (;;) {
        if (a->stream_fd >= 0)
            stream_step(j);
        if (a->stream_fd >= 0 || j->out.len >= IMAPD_FETCH_BATCH ||
            !imap_seqlist_next(&a->it, &seq))
            break;
        if (seq <= sel->n)
            fetch_one(j, seq);
    }
    if (a->stream_fd >= 0 || j->out.len >= IMAPD_FETCH_BATCH) {
        j->more = true; /* again once this batch is out */
        return;
    }
    store_commit(sel->f); /* \Seen set by this FETCH */
    if (a->unknown_cte)
        imapd_job_tagged(j, "NO",
                         "[UNKNOWN-CTE] A part has a transfer encoding BINARY cannot "
                         "decode");
    else if (a->expunged_seen)
        imapd_job_tagged(j, "NO", "[EXPUNGEISSUED] Some messages were expunged meanwhile");
    else
        imapd_job_tagged(j, "OK", "%sFETCH completed", j->uid ? "UID " : "");
}

/* One item into a; false after a BAD. */
static bool add_item(struct imapd_session *s, struct fetch_args *a, const struct imap_arg *it)
{
    static const struct {
        const char *name;
        unsigned bits;
    } simple[] = {
        {"UID", FI_UID},
        {"FLAGS", FI_FLAGS},
        {"MODSEQ", FI_MODSEQ},
        {"INTERNALDATE", FI_INTERNALDATE},
        {"RFC822.SIZE", FI_SIZE},
        {"ENVELOPE", FI_ENVELOPE},
        {"BODY", FI_BODY},
        {"BODYSTRUCTURE", FI_BODYSTRUCTURE},
        {"ALL", FI_FLAGS | FI_INTERNALDATE | FI_SIZE | FI_ENVELOPE},
        {"FAST", FI_FLAGS | FI_INTERNALDATE | FI_SIZE},
        {"FULL", FI_FLAGS | FI_INTERNALDATE | FI_SIZE | FI_ENVELOPE | FI_BODY},
    };
    /* RFC 3501's RFC822 items are sections under other names. */
    static const struct {
        const char *name, *section;
    } rfc822[] = {
        {"RFC822", "BODY[]"},
        {"RFC822.HEADER", "BODY.PEEK[HEADER]"},
        {"RFC822.TEXT", "BODY[TEXT]"},
    };
    if (it->type != IMAP_ARG_ATOM) {
        imapd_reply_bad(s, "Fetch items are atoms such as FLAGS or BODY.PEEK[]");
        return false;
    }
    for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++)
        if (strcasecmp(it->str, simple[i].name) == 0) {
            a->items |= simple[i].bits;
            return true;
        }
    if (a->n_sections == IMAPD_FETCH_SECTIONS_MAX) {
        imapd_reply_bad(s, "Too many body sections in one FETCH");
        return false;
    }
    const char *text = it->str;
    size_t len = it->len;
    const char *echo = NULL;
    for (size_t i = 0; i < sizeof(rfc822) / sizeof(rfc822[0]); i++)
        if (strcasecmp(it->str, rfc822[i].name) == 0) {
            text = rfc822[i].section;
            len = strlen(text);
            echo = rfc822[i].name;
        }
    struct imap_section *sec = &a->sections[a->n_sections];
    if (!imap_section_parse(text, len, sec)) {
        imapd_reply_bad(s, "Unknown or malformed fetch item %s", it->str);
        return false;
    }
    a->section_names[a->n_sections++] = echo;
    if (!sec->peek && sec->item != IMAP_ITEM_BINARY_SIZE)
        a->sets_seen = true;
    return true;
}

/* FETCH's modifiers (RFC 4466): CHANGEDSINCE m, and VANISHED with it for
 * UID FETCH once QRESYNC is enabled. False after a BAD. */
static bool fetch_modifiers(struct imapd_session *s, struct fetch_args *a, const struct imap_arg *l,
                            bool uid)
{
    if (l->type != IMAP_ARG_LIST || l->n == 0) {
        imapd_reply_bad(s, "FETCH modifiers are a list, such as (CHANGEDSINCE 12345)");
        return false;
    }
    for (size_t i = 0; i < l->n; i++) {
        const struct imap_arg *m = &l->list[i];
        if (imap_arg_atom_is(m, "CHANGEDSINCE") && m->type == IMAP_ARG_ATOM && !a->changedsince) {
            if (i + 1 == l->n || !imapd_modseq_parse(&l->list[++i], false, &a->changedsince)) {
                imapd_reply_bad(s, "CHANGEDSINCE expects a mod-sequence (1 to %lld)",
                                (long long)IMAPD_MODSEQ_MAX);
                return false;
            }
        } else if (imap_arg_atom_is(m, "VANISHED") && m->type == IMAP_ARG_ATOM && !a->vanished) {
            a->vanished = true;
        } else {
            imapd_reply_bad(s, "Unknown or repeated FETCH modifier");
            return false;
        }
    }
    if (a->vanished && (!uid || !s->qresync || !a->changedsince)) {
        /* RFC 7162 3.2.6 */
        imapd_reply_bad(s, "VANISHED needs UID FETCH, CHANGEDSINCE and ENABLE QRESYNC");
        return false;
    }
    return true;
}

bool imapd_cmd_fetch(struct imapd_session *s, const struct imap_command *cmd)
{
    /* FETCH set items [modifiers], or UID FETCH ... (args after the subcommand) */
    bool uid = strcmp(cmd->name, "UID") == 0;
    const struct imap_arg *args = uid ? cmd->args + 1 : cmd->args; /* NULL without arguments */
    size_t n = cmd->n - (uid ? 1 : 0);
    if ((n != 2 && n != 3) || args[0].type != IMAP_ARG_ATOM) {
        imapd_reply_bad(s, "%sFETCH expects a message set and fetch items", uid ? "UID " : "");
        return true;
    }
    struct fetch_args *a = xcalloc(1, sizeof(*a));
    a->stream_fd = -1;
    enum imap_seqset_result r = imap_seqset_parse(args[0].str, args[0].len, true, &a->set);
    if (r != IMAP_SEQSET_OK) {
        imapd_reply_bad(s, "Bad message set: %s", imap_seqset_error(r));
        fetch_args_free(a);
        return true;
    }
    bool ok = true;
    if (args[1].type == IMAP_ARG_LIST) {
        if (args[1].n == 0) {
            imapd_reply_bad(s, "Empty list of fetch items");
            ok = false;
        }
        for (size_t i = 0; i < args[1].n && ok; i++)
            ok = add_item(s, a, &args[1].list[i]);
    } else {
        ok = add_item(s, a, &args[1]);
    }
    if (ok && n == 3)
        ok = fetch_modifiers(s, a, &args[2], uid);
    if (!ok) {
        fetch_args_free(a);
        return true;
    }
    if ((a->items & FI_MODSEQ) || a->changedsince)
        imapd_condstore_enable(s); /* a CONDSTORE enabling command (RFC 7162 3.1) */
    struct imapd_job *j = imapd_job_new(s, fetch_work, a, fetch_args_free);
    j->uid = uid;
    return imapd_job_submit(j);
}
