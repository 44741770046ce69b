/* Pickup (see pickup.h): watches queue/drop/ with inotify, reads and checks
 * the files in a worker, decides senders and recipients on the loop, and
 * commits them to the queue in a worker. */
#include "pickup/pickup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "auth/users.h"
#include "daemon.h"
#include "deliver/bounce.h"
#include "deliver/scheduler.h"
#include "mailauth/dkim_keyring.h"
#include "mailauth/dkim_sign.h"
#include "proto/headers.h"
#include "proto/smtp_data.h"
#include "proto/smtp_parse.h"
#include "proto/text.h"
#include "queue/drop.h"
#include "queue/queue.h"
#include "snapshot.h"
#include "util/log.h"
#include "util/worker.h"
#include "util/xmalloc.h"

#define PICKUP_BATCH 64
/* After a failure (the folder unreadable, a commit failed) the files left
 * are tried again this much later, when nothing else brings a scan first. */
#define PICKUP_RETRY_S 60

struct pickup_item {
    char *name;
    uid_t uid;
    struct drop_head head;
    struct buf data; /* the whole file */
    struct envelope *env;
    struct buf prefix; /* Received and added header fields */
    char **bounce_to;  /* where the bounce for unknown local recipients goes */
    size_t nbounce_to;
    struct envelope *bounce; /* that bounce, once queued */
    bool removed;            /* nothing was left to deliver */
    bool may_sign;           /* every From: address is one the file's owner may use */
    int rc;
};

struct pickup {
    struct daemon *d;
    int inotify_fd;      /* -1: inotify failed, the fallback rescans */
    struct event *watch; /* inotify_fd readable */
    int dir_fd;          /* drop/, to look at a new name (or -1) */
    struct event *retry; /* one-shot after a failure; periodic in the fallback */
    char *dir;
    uid_t service_uid;
    bool busy;  /* a scan or commit job is out */
    bool again; /* something arrived while busy: scan once it is done */
};

struct pickup_job {
    struct pickup *p;
    /* The configuration, tables and keys this batch is handled with,
     * whatever a reload does meanwhile (the workers read through it). */
    struct snapshot *snap;
    struct pickup_item *items[PICKUP_BATCH];
    size_t n;
    bool full;   /* the batch filled up: more files may wait */
    bool failed; /* the folder could not be read, or a commit failed */
};

static void item_free(struct pickup_item *it)
{
    free(it->name);
    drop_head_clear(&it->head);
    buf_free(&it->data);
    buf_free(&it->prefix);
    envelope_free(&it->env);
    envelope_free(&it->bounce);
    for (size_t i = 0; i < it->nbounce_to; i++)
        free(it->bounce_to[i]);
    free(it->bounce_to);
    free(it);
}

static void set_aside(const char *dir, const char *name, const char *why)
{
    log_error("event=pickup_rejected file=%s reason=%s action=moved_to_corrupt", log_q(name),
              log_q(why));
    char *from = xasprintf("%s/%s", dir, name);
    char *to = xasprintf("%s/../corrupt/drop-%s", dir, name);
    if (rename(from, to) != 0)
        unlink(from);
    free(from);
    free(to);
}

/* (worker) Reads and checks one drop file. false: it was set aside. */
static bool read_item(const char *dir, uint64_t limit, struct pickup_item *it)
{
    char *path = xasprintf("%s/%s", dir, it->name);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    free(path);
    struct stat st;
    const char *why = NULL;
    if (fd < 0 || fstat(fd, &st) != 0)
        why = "cannot open";
    else if (!S_ISREG(st.st_mode))
        why = "not a regular file";
    else if (st.st_nlink != 1)
        why = "a hard link to another file"; /* its owner is not who left it */
    else if ((uint64_t)st.st_size > limit + DROP_HEAD_MAX)
        why = "larger than [limits] message_size";
    if (why == NULL) {
        it->uid = st.st_uid;
        char chunk[65536];
        ssize_t n;
        while ((n = read(fd, chunk, sizeof(chunk))) > 0 && it->data.len <= limit + DROP_HEAD_MAX)
            buf_append(&it->data, chunk, (size_t)n);
        if (n < 0)
            why = "read error";
    }
    if (fd >= 0)
        close(fd);
    if (why == NULL)
        why = drop_head_parse(it->data.data ? it->data.data : "", it->data.len, &it->head);
    if (why == NULL && it->head.nrcpts == 0)
        why = "no recipients";
    for (size_t i = 0; why == NULL && i < it->head.nrcpts; i++)
        if (!smtp_address_valid(it->head.rcpts[i], strlen(it->head.rcpts[i]), true))
            why = "invalid recipient address";
    if (why == NULL && it->head.sender &&
        !smtp_address_valid(it->head.sender, strlen(it->head.sender), true))
        why = "invalid sender address";
    if (why == NULL) {
        /* The same rules as SMTP content: CRLF only, short lines, no NUL. */
        struct smtp_data_decoder dec;
        smtp_data_decoder_init(&dec, SMTP_DATA_CHUNK, limit);
        size_t used;
        smtp_data_decode(&dec, it->data.data + it->head.body_offset,
                         it->data.len - it->head.body_offset, &used, NULL);
        smtp_data_finish(&dec);
        const struct smtp_error *e = smtp_data_error(&dec);
        if (e)
            why = e->text;
    }
    if (why) {
        set_aside(dir, it->name, why);
        return false;
    }
    return true;
}

static void scan_work(void *arg)
{
    struct pickup_job *job = arg;
    uint64_t size_limit = job->snap->conf->message_size;
    DIR *dp = opendir(job->p->dir);
    if (dp == NULL) {
        job->failed = true;
        return;
    }
    struct dirent *e = NULL;
    while (job->n < PICKUP_BATCH && (e = readdir(dp)) != NULL) {
        if (e->d_name[0] == '.')
            continue; /* "." "..", and files still being written */
        struct pickup_item *it = xcalloc(1, sizeof(*it));
        it->name = xstrdup(e->d_name);
        if (read_item(job->p->dir, size_limit, it))
            job->items[job->n++] = it;
        else
            item_free(it);
    }
    job->full = job->n == PICKUP_BATCH;
    closedir(dp);
}

static bool trusted(const struct pickup *p, uid_t uid)
{
    return uid == 0 || uid == p->service_uid;
}

/* Whether the local user LOGIN may use ADDR: their login at [server]
 * hostname, or the users file's mailbox LOGIN@DOMAIN in a local domain (and
 * the aliases that reach it, catch-alls excepted), as submission allows an
 * authenticated user. */
static bool address_owned(const struct snapshot *snap, const char *login, const char *addr)
{
    const struct conf *conf = snap->conf;
    const struct user_table *users = snap->users;
    char *lower = xstrdup(addr);
    address_lower(lower);
    char *own = xasprintf("%s@%s", login, conf->hostname);
    address_lower(own);
    bool owned = strcmp(lower, own) == 0;
    free(own);
    for (size_t d = 0; !owned && d < conf->nlocal_domains; d++) {
        char *mbox = xasprintf("%s@%s", login, conf->local_domains[d]);
        address_lower(mbox);
        if (user_table_has_mailbox(users, mbox)) {
            owned = strcmp(lower, mbox) == 0;
            size_t nt = 0;
            if (!owned && users->ops->alias_targets(users, lower, &nt) != NULL) {
                char **targets = NULL;
                size_t n = 0;
                user_table_resolve(users, lower, &targets, &n);
                for (size_t i = 0; i < n; i++) {
                    owned |= strcmp(targets[i], mbox) == 0;
                    free(targets[i]);
                }
                free(targets);
            }
        }
        free(mbox);
    }
    free(lower);
    return owned;
}

/* (loop) Mail is signed for root and the service user whatever its From:;
 * for anyone else only when each From: address is theirs (a From: added by
 * prepare() is their own address). */
static bool may_sign(const struct pickup_job *job, const struct pickup_item *it, const char *login,
                     const char *h, size_t hlen)
{
    if (trusted(job->p, it->uid))
        return true;
    struct buf from;
    buf_init(&from);
    int nfrom = header_get(h, hlen, "From", &from);
    bool ok = nfrom == 0;
    if (nfrom == 1) {
        char **addrs = NULL;
        size_t n = header_addresses(from.data, &addrs);
        ok = n > 0;
        for (size_t i = 0; i < n; i++) {
            ok = ok && address_owned(job->snap, login, addrs[i]);
            free(addrs[i]);
        }
        free(addrs);
    }
    buf_free(&from);
    if (!ok)
        log_info("event=dkim_not_signed file=%s uid=%u reason=%s", log_q(it->name),
                 (unsigned)it->uid, log_q("From: is not the local user's address"));
    return ok;
}

/* (loop) Decides the sender and the recipients' targets, and builds the
 * header fields to prepend. */
static void prepare(struct pickup_job *job, struct pickup_item *it)
{
    const struct pickup *p = job->p;
    const struct conf *conf = job->snap->conf;
    const struct user_table *users = job->snap->users;
    struct envelope *env = envelope_new();
    free(env->sender);
    struct passwd *pw = getpwuid(it->uid);
    char login[64];
    snprintf(login, sizeof(login), "%s", pw ? pw->pw_name : "nobody");
    if (trusted(p, it->uid) && it->head.sender)
        env->sender = xstrdup(it->head.sender);
    else
        env->sender = xasprintf("%s@%s", login, conf->hostname);
    env->client = xstrdup("local");
    env->helo = xasprintf("uid %u", (unsigned)it->uid);
    for (size_t i = 0; i < it->head.nrcpts; i++) {
        char *addr = xstrdup(it->head.rcpts[i]);
        char *dom = strrchr(addr, '@') + 1;
        address_lower(dom);
        if (conf_is_local_domain(conf, dom)) {
            address_lower(addr);
            char **targets = NULL;
            size_t n = 0;
            user_table_resolve(users, addr, &targets, &n);
            bool any = false;
            for (size_t k = 0; k < n; k++) {
                const char *at = strrchr(targets[k], '@');
                if (!(at && conf_is_local_domain(conf, at + 1)) ||
                    user_table_has_mailbox(users, targets[k])) {
                    if (envelope_find_rcpt(env, targets[k]) < 0)
                        envelope_add_rcpt(env, targets[k], addr);
                    any = true;
                }
                free(targets[k]);
            }
            free(targets);
            if (!any) {
                /* Recorded as failed; the bounce goes back to the sender. */
                struct envelope_rcpt *r = envelope_add_rcpt(env, addr, addr);
                r->state = RCPT_FAILED;
                r->last_error = xstrdup("5.1.1 no such user here");
                log_warn("event=pickup_unknown_rcpt file=%s rcpt=%s", log_q(it->name), log_q(addr));
            }
        } else if (envelope_find_rcpt(env, addr) < 0) {
            envelope_add_rcpt(env, addr, addr);
        }
        free(addr);
    }
    it->env = env;
    bool failed = false;
    for (size_t i = 0; i < env->nrcpts; i++)
        failed |= env->rcpts[i].state == RCPT_FAILED;
    if (failed && env->sender[0])
        bounce_targets(conf, users, env->sender, &it->bounce_to, &it->nbounce_to);

    char date[64];
    time_t now = time(NULL);
    header_format_date(date, sizeof(date), now);
    /* The id is only known at commit: the Received line names it there. */
    buf_printf(&it->prefix, "Received: by %s (Postern, from userid %u);\r\n\t%s\r\n",
               conf->hostname, (unsigned)it->uid, date);
    const char *body = it->data.data + it->head.body_offset;
    size_t blen = it->data.len - it->head.body_offset;
    size_t hlen = text_header_length(body, blen);
    /* A uid without a login owns no address ("nobody" is not theirs). */
    it->may_sign = (pw != NULL || trusted(p, it->uid)) && may_sign(job, it, login, body, hlen);
    if (header_get(body, hlen, "From", NULL) == 0) {
        if (it->head.fullname)
            buf_printf(&it->prefix, "From: \"%s\" <%s>\r\n", it->head.fullname, env->sender);
        else
            buf_printf(&it->prefix, "From: %s\r\n", env->sender);
    }
    if (header_get(body, hlen, "Date", NULL) == 0)
        buf_printf(&it->prefix, "Date: %s\r\n", date);
    if (header_get(body, hlen, "Message-ID", NULL) == 0) {
        unsigned char rnd[8];
        if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
            memset(rnd, 0, sizeof(rnd));
        buf_printf(&it->prefix, "Message-ID: <%lld.", (long long)now);
        for (size_t i = 0; i < sizeof(rnd); i++)
            buf_printf(&it->prefix, "%02x", rnd[i]);
        buf_printf(&it->prefix, "@%s>\r\n", conf->hostname);
    }
}

/* (worker) Mail from local programs is signed like submitted mail, when
 * the From: domain has a key; the field goes into the envelope. */
static void sign(struct pickup_job *job, struct pickup_item *it, size_t blen)
{
    const struct dkim_keyring *keys = job->snap->dkim;
    if (keys->n == 0 || !it->may_sign)
        return;
    struct dkim_signer *signer = dkim_signer_new();
    dkim_signer_update(signer, it->prefix.data, it->prefix.len);
    dkim_signer_update(signer, it->data.data + it->head.body_offset, blen);
    size_t hlen;
    const char *h = dkim_signer_header(signer, &hlen);
    const struct dkim_key *key = dkim_keyring_for_message(keys, h, hlen);
    struct buf field, err;
    buf_init(&field);
    buf_init(&err);
    if (key && dkim_signer_finish(signer, key, time(NULL), &field, &err))
        it->env->prepend = xstrdup(field.data);
    else if (key)
        log_error("event=dkim_sign_failed file=%s error=%s", log_q(it->name),
                  log_q(err.data ? err.data : "?"));
    buf_free(&field);
    buf_free(&err);
    dkim_signer_free(&signer);
}

/* (worker) The recipients that named no local mailbox are reported to the
 * sender now (the message is committed, so the DSN can quote it). */
static void bounce_unknown(const struct pickup_job *job, struct pickup_item *it)
{
    struct queue *queue = job->p->d->queue;
    struct envelope *env = it->env;
    struct dsn_rcpt *dr = xcalloc(env->nrcpts, sizeof(*dr));
    size_t n = 0;
    for (size_t i = 0; i < env->nrcpts; i++) {
        if (env->rcpts[i].state != RCPT_FAILED)
            continue;
        dr[n++] = (struct dsn_rcpt){
            .final_rcpt = env->rcpts[i].addr,
            .action = "failed",
            .status = "5.1.1",
            .diagnostic = "no such user here",
            .last_attempt = env->arrival,
        };
    }
    if (n && it->nbounce_to) {
        struct bounce_report rep = {
            .kind = DSN_FAILURE,
            .rcpts = dr,
            .nrcpts = n,
            .targets = it->bounce_to,
            .ntargets = it->nbounce_to,
            .now = env->arrival,
        };
        int rc = bounce_queue(queue, job->snap->conf->hostname, env, &rep, &it->bounce);
        if (rc != 0)
            log_error("event=bounce_failed id=%s error=%s", env->id, log_q(strerror(rc)));
    }
    free(dr);
    if (envelope_pending(env) == 0 && queue_remove(queue, env->id) == 0)
        it->removed = true;
}

static void job_finished(struct pickup_job *job);

/* (worker) Commits each prepared item to the queue, then removes its file. */
static void commit_work(void *arg)
{
    struct pickup_job *job = arg;
    for (size_t i = 0; i < job->n; i++) {
        struct pickup_item *it = job->items[i];
        struct queue_incoming *in = queue_incoming_new(job->p->d->queue);
        if (in == NULL) {
            it->rc = errno;
            job->failed = true;
            continue;
        }
        memcpy(it->env->id, queue_incoming_id(in), sizeof(it->env->id));
        it->env->arrival = time(NULL);
        size_t blen = it->data.len - it->head.body_offset;
        it->env->size = blen;
        queue_incoming_write(in, it->prefix.data, it->prefix.len);
        queue_incoming_write(in, it->data.data + it->head.body_offset, blen);
        sign(job, it, blen);
        it->rc = queue_incoming_commit(in, it->env);
        job->failed |= it->rc != 0;
        if (it->rc == 0) {
            char *path = xasprintf("%s/%s", job->p->dir, it->name);
            unlink(path);
            free(path);
            bounce_unknown(job, it);
        }
    }
    int dfd = open(job->p->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
}

static void commit_done(void *arg)
{
    struct pickup_job *job = arg;
    for (size_t i = 0; i < job->n; i++) {
        struct pickup_item *it = job->items[i];
        if (it->rc == 0) {
            log_info("event=queued id=%s from=%s nrcpt=%zu size=%llu client=local uid=%u "
                     "file=%s",
                     it->env->id, log_q(it->env->sender), it->env->nrcpts,
                     (unsigned long long)it->env->size, (unsigned)it->uid, log_q(it->name));
            if (it->bounce) {
                log_info("event=bounce_queued id=%s for=%s", it->bounce->id, it->env->id);
                scheduler_add_envelope(job->p->d->scheduler, it->bounce);
                it->bounce = NULL;
            }
            if (!it->removed) {
                scheduler_add_envelope(job->p->d->scheduler, it->env);
                it->env = NULL;
            }
        } else {
            log_error("event=pickup_commit_failed file=%s error=%s (left in drop/ for later)",
                      log_q(it->name), log_q(strerror(it->rc)));
        }
        item_free(it);
    }
    job_finished(job);
}

static void scan_done(void *arg)
{
    struct pickup_job *job = arg;
    if (job->n == 0) {
        job_finished(job);
        return;
    }
    for (size_t i = 0; i < job->n; i++)
        prepare(job, job->items[i]);
    worker_pool_submit(job->p->d->workers, commit_work, commit_done, job);
}

static void scan(struct pickup *p)
{
    if (p->d->stopping)
        return;
    if (p->busy) {
        p->again = true; /* what arrived may be past the running scan's readdir */
        return;
    }
    p->busy = true;
    p->again = false;
    struct pickup_job *job = xcalloc(1, sizeof(*job));
    job->p = p;
    job->snap = snapshot_ref(p->d->snap);
    worker_pool_submit(p->d->workers, scan_work, scan_done, job);
}

static void job_finished(struct pickup_job *job)
{
    struct pickup *p = job->p;
    bool more = job->full && !job->failed;
    if (job->failed && !event_pending(p->retry, EV_TIMEOUT, NULL)) {
        struct timeval tv = {PICKUP_RETRY_S, 0};
        event_add(p->retry, &tv);
    }
    snapshot_unref(&job->snap);
    free(job);
    p->busy = false;
    if (more || p->again)
        scan(p);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    scan(arg);
}

/* Stops watching (the folder went away, or the watch could not be made):
 * from now on only the fallback's periodic rescan finds new files. */
static void watch_lost(struct pickup *p, const char *why)
{
    log_error("event=pickup_watch_failed dir=%s error=%s fallback=rescan_every_%ds", log_q(p->dir),
              log_q(why), PICKUP_RETRY_S);
    if (p->watch) {
        event_free(p->watch);
        p->watch = NULL;
    }
    if (p->inotify_fd >= 0) {
        close(p->inotify_fd);
        p->inotify_fd = -1;
    }
    /* The fallback: the only periodic rescan in pickup, for a kernel or a
     * folder inotify cannot serve. */
    event_free(p->retry);
    p->retry = event_new(p->d->base, -1, EV_PERSIST, on_timer, p);
    struct timeval tv = {PICKUP_RETRY_S, 0};
    event_add(p->retry, &tv);
}

/* A new name in drop/: whether it is complete now. A regular file with one
 * link was made by open() and is being written: its IN_CLOSE_WRITE says
 * when it is done (read earlier, it would be set aside as cut short).
 * Anything else made there (a hard link, a symbolic link, a folder) only
 * ever appears, and is looked at (and set aside) now. The lookup is of a
 * name just made in our own folder: its inode is in memory, nothing waits
 * for the disk. */
static bool created_complete(const struct pickup *p, const struct inotify_event *ev)
{
    if ((ev->mask & IN_ISDIR) || p->dir_fd < 0)
        return true;
    struct stat st;
    if (fstatat(p->dir_fd, ev->name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return false; /* gone already: its rename or removal tells the rest */
    return !S_ISREG(st.st_mode) || st.st_nlink != 1;
}

static void on_inotify(evutil_socket_t fd, short what, void *arg)
{
    struct pickup *p = arg;
    /* Aligned as inotify(7) asks: the events are read in place. */
    char events[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    bool now = false, lost = false;
    ssize_t n;
    while ((n = read(fd, events, sizeof(events))) > 0) {
        for (char *at = events; at < events + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)(void *)at;
            at += sizeof(*ev) + ev->len;
            if (ev->mask & IN_Q_OVERFLOW)
                now = true; /* events were lost: look at everything */
            else if (ev->mask & IN_IGNORED)
                lost = true;
            else if (ev->len == 0 || ev->name[0] == '.')
                continue; /* a file still being written, by its name */
            else if (ev->mask & (IN_MOVED_TO | IN_CLOSE_WRITE))
                now = true;
            else if ((ev->mask & IN_CREATE) && !now)
                now = created_complete(p, ev);
        }
    }
    if (lost) {
        watch_lost(p, "the folder was removed or replaced");
        now = true;
    }
    if (now)
        scan(p);
}

struct pickup *pickup_new(struct daemon *d)
{
    struct pickup *p = xcalloc(1, sizeof(*p));
    p->d = d;
    p->dir = xasprintf("%s/queue/drop", d->conf->data_dir);
    /* The daemon's own user: after the drop, the service user. */
    p->service_uid = geteuid();
    p->dir_fd = open(p->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    p->retry = evtimer_new(d->base, on_timer, p);
    /* sendmail writes a hidden name and renames it into place (IN_MOVED_TO);
     * a file written in place under its final name is complete when closed
     * (IN_CLOSE_WRITE); links and folders only appear (IN_CREATE). */
    p->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (p->inotify_fd < 0) {
        watch_lost(p, strerror(errno));
    } else if (inotify_add_watch(p->inotify_fd, p->dir,
                                 IN_MOVED_TO | IN_CLOSE_WRITE | IN_CREATE | IN_ONLYDIR |
                                     IN_DONT_FOLLOW) < 0) {
        watch_lost(p, strerror(errno));
    } else {
        p->watch = event_new(d->base, p->inotify_fd, EV_READ | EV_PERSIST, on_inotify, p);
        event_add(p->watch, NULL);
    }
    scan(p); /* what was left while the daemon was down */
    return p;
}

void pickup_free(struct pickup **pp)
{
    struct pickup *p = *pp;
    if (p == NULL)
        return;
    if (p->watch)
        event_free(p->watch);
    if (p->inotify_fd >= 0)
        close(p->inotify_fd);
    if (p->dir_fd >= 0)
        close(p->dir_fd);
    event_free(p->retry);
    free(p->dir);
    free(p);
    *pp = NULL;
}
