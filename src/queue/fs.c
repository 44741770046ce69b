/* The file-system queue store (see queue.h for the layout and the rules). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <unistd.h>

#include "queue/queue.h"
#include "queue/spare.h"
#include "util/log.h"
#include "util/worker.h"
#include "util/fileio.h"
#include "util/xmalloc.h"

/* One message waiting for the group commit's renames (see commit_group). */
struct commit_wait {
    const char *id;
    int rc;
    bool msg_renamed; /* msg/ID is ours (to remove if the commit fails) */
    bool done;
    struct commit_wait *next;
};

/* A message being received (queue.h). */
struct queue_incoming {
    struct queue *q;
    char id[QUEUE_ID_LEN + 1];
    int fd;         /* tmp/ID.msg, or -1 while the content is only in mem */
    struct buf mem; /* content not yet in a file */
    uint64_t written;
    int error; /* first errno of a failed write, 0 if none */
    /* Write-behind (queue_incoming_async); a worker owns fd, error and
     * flight while busy. */
    struct worker_pool *pool;
    void (*ready)(void *arg);
    void *ready_arg;
    struct buf flight; /* being written by the worker */
    bool busy;
    bool abandoned;
    void (*idle_fn)(void *arg);
    void *idle_arg;
};

struct queue {
    char *dir;
    int dirfd;
    int tmp_fd, msg_fd, env_fd;
    struct queue_spare *spare; /* removed files, to be written again */
    /* Group commit: messages whose files are fsynced wait here; one thread
     * at a time (the leader) renames every waiting one and fsyncs msg/ and
     * env/ once for all of them. */
    pthread_mutex_t commit_lock;
    pthread_cond_t commit_cond;
    bool commit_leader;
    struct commit_wait *commit_head, **commit_tail;
};

static int open_subdir(int parent, const char *name)
{
    if (mkdirat(parent, name, 0700) != 0 && errno != EEXIST)
        return -1;
    return openat(parent, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

struct queue *queue_open(const char *data_dir, struct buf *err_r)
{
    struct queue *q = xcalloc(1, sizeof(*q));
    q->dir = xasprintf("%s/queue", data_dir);
    q->dirfd = q->tmp_fd = q->msg_fd = q->env_fd = -1;
    pthread_mutex_init(&q->commit_lock, NULL);
    pthread_cond_init(&q->commit_cond, NULL);
    q->commit_tail = &q->commit_head;
    /* data_dir and queue/ are traversable but not listable, so that local
     * users can reach queue/drop/ (the sendmail command) and nothing else. */
    if (mkdir(data_dir, 0711) != 0 && errno != EEXIST)
        goto fail;
    if (mkdir(q->dir, 0711) != 0 && errno != EEXIST)
        goto fail;
    chmod(data_dir, 0711);
    chmod(q->dir, 0711);
    q->dirfd = open(q->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (q->dirfd < 0)
        goto fail;
    q->tmp_fd = open_subdir(q->dirfd, "tmp");
    q->msg_fd = open_subdir(q->dirfd, "msg");
    q->env_fd = open_subdir(q->dirfd, "env");
    if (q->tmp_fd < 0 || q->msg_fd < 0 || q->env_fd < 0)
        goto fail;
    if (mkdirat(q->dirfd, "corrupt", 0700) != 0 && errno != EEXIST)
        goto fail;
    q->spare = queue_spare_open(q->dirfd);
    if (q->spare == NULL)
        goto fail;
    /* The sendmail drop folder: any local user may leave a file (sticky, not
     * listable); the daemon trusts nothing in it but the file's owner. */
    if (mkdirat(q->dirfd, "drop", 01733) != 0 && errno != EEXIST)
        goto fail;
    fchmodat(q->dirfd, "drop", 01733, 0);
    return q;
fail:
    buf_printf(err_r, "cannot open queue %s: %s\n", q->dir, strerror(errno));
    queue_close(&q);
    return NULL;
}

void queue_close(struct queue **qp)
{
    struct queue *q = *qp;
    if (q == NULL)
        return;
    if (q->dirfd >= 0)
        close(q->dirfd);
    if (q->tmp_fd >= 0)
        close(q->tmp_fd);
    if (q->msg_fd >= 0)
        close(q->msg_fd);
    if (q->env_fd >= 0)
        close(q->env_fd);
    queue_spare_close(&q->spare);
    pthread_mutex_destroy(&q->commit_lock);
    pthread_cond_destroy(&q->commit_cond);
    free(q->dir);
    free(q);
    *qp = NULL;
}

const char *queue_dir(const struct queue *q)
{
    return q->dir;
}

bool queue_id_valid(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > QUEUE_ID_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'A' && id[i] <= 'Z')))
            return false;
    return true;
}

/* Ids sort by arrival: 9 base-32 digits of seconds, 4 of microseconds-ish,
 * then 4 random ones, so two daemons or a restart never collide. */
static void make_id(char *out)
{
    static const char digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUV";
    struct timeval tv;
    gettimeofday(&tv, NULL);
    uint64_t t = (uint64_t)tv.tv_sec;
    uint32_t us = (uint32_t)tv.tv_usec;
    uint32_t rnd = 0;
    if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
        rnd = (uint32_t)random();
    char *p = out;
    for (int i = 8; i >= 0; i--)
        *p++ = digits[(t >> (5 * i)) & 31];
    for (int i = 3; i >= 0; i--)
        *p++ = digits[(us >> (5 * i)) & 31];
    for (int i = 3; i >= 0; i--)
        *p++ = digits[(rnd >> (5 * i)) & 31];
    *p = '\0';
}

struct queue_incoming *queue_incoming_new(struct queue *q)
{
    struct queue_incoming *in = xcalloc(1, sizeof(*in));
    in->q = q;
    in->fd = -1;
    buf_init(&in->mem);
    buf_init(&in->flight);
    make_id(in->id);
    return in;
}

const char *queue_incoming_id(const struct queue_incoming *in)
{
    return in->id;
}

int queue_incoming_error(const struct queue_incoming *in)
{
    return in->error;
}

/* Creates tmp/ID.msg. The id is already in the Received header, so a
 * collision (the same microsecond and 20 random bits) cannot pick another:
 * it fails with EEXIST, a temporary error for the client. */
static int incoming_create(struct queue_incoming *in)
{
    char name[QUEUE_ID_LEN + 8];
    snprintf(name, sizeof(name), "%s.msg", in->id);
    in->fd = queue_spare_create(in->q->spare, in->q->tmp_fd, name, true);
    return in->fd < 0 ? errno : 0;
}

/* Appends to tmp/ID.msg, creating it first if needed. 0 or an errno. */
static int incoming_append_file(struct queue_incoming *in, const void *data, size_t len)
{
    int rc = in->fd < 0 ? incoming_create(in) : 0;
    if (rc == 0 && len > 0)
        rc = fd_write_all(in->fd, data, len);
    return rc;
}

static void spill_start(struct queue_incoming *in);

int queue_incoming_write(struct queue_incoming *in, const void *data, size_t len)
{
    if (in->pool) {
        /* Loop side: only memory here; in->error is the worker's while busy. */
        if (!in->busy && in->error)
            return -1;
        buf_append(&in->mem, data, len);
        in->written += len;
        if (!in->busy && in->mem.len >= QUEUE_INCOMING_MEM_MAX)
            spill_start(in);
        return 0;
    }
    if (in->error)
        return -1;
    if (in->fd < 0 && in->mem.len + len <= QUEUE_INCOMING_MEM_MAX) {
        buf_append(&in->mem, data, len);
        in->written += len;
        return 0;
    }
    int rc = incoming_append_file(in, in->mem.data, in->mem.len);
    buf_free(&in->mem);
    if (rc == 0)
        rc = incoming_append_file(in, data, len);
    if (rc != 0) {
        in->error = rc;
        return -1;
    }
    in->written += len;
    return 0;
}

/* (worker) Writes what the loop handed over (flight) to tmp/ID.msg. */
static void spill_work(void *arg)
{
    struct queue_incoming *in = arg;
    if (in->error)
        return;
    int rc = incoming_append_file(in, in->flight.data, in->flight.len);
    if (rc != 0)
        in->error = rc;
}

/* The end of an abandoned incoming: its file goes, then itself. Touches
 * the file system when there is a file: from a worker (discard_work). */
static void incoming_discard(struct queue_incoming *in)
{
    if (in->fd >= 0) {
        close(in->fd);
        char name[QUEUE_ID_LEN + 8];
        snprintf(name, sizeof(name), "%s.msg", in->id);
        queue_spare_put(in->q->spare, in->q->tmp_fd, name);
    }
    buf_free(&in->mem);
    buf_free(&in->flight);
    free(in);
}

/* (worker) */
static void discard_work(void *arg)
{
    incoming_discard(arg);
}

static void spill_done(void *arg)
{
    struct queue_incoming *in = arg;
    in->busy = false;
    buf_reset(&in->flight);
    if (in->abandoned) {
        worker_pool_submit(in->pool, discard_work, NULL, in);
        return;
    }
    if (in->error)
        buf_reset(&in->mem); /* the message is refused at its end anyway */
    else if (in->mem.len >= QUEUE_INCOMING_MEM_MAX)
        spill_start(in);
    if (!in->busy && in->idle_fn) {
        void (*fn)(void *) = in->idle_fn;
        in->idle_fn = NULL;
        fn(in->idle_arg); /* may commit (and so consume) in */
        return;
    }
    if (in->ready)
        in->ready(in->ready_arg);
}

static void spill_start(struct queue_incoming *in)
{
    struct buf t = in->flight; /* empty */
    in->flight = in->mem;
    in->mem = t;
    in->busy = true;
    worker_pool_submit(in->pool, spill_work, spill_done, in);
}

void queue_incoming_async(struct queue_incoming *in, struct worker_pool *pool,
                          void (*ready)(void *arg), void *arg)
{
    in->pool = pool;
    in->ready = ready;
    in->ready_arg = arg;
}

size_t queue_incoming_backlog(const struct queue_incoming *in)
{
    return in->mem.len;
}

bool queue_incoming_busy(const struct queue_incoming *in)
{
    return in->busy;
}

void queue_incoming_on_idle(struct queue_incoming *in, void (*fn)(void *arg), void *arg)
{
    in->idle_fn = fn;
    in->idle_arg = arg;
}

/* Writes a whole file in tmp/name durably: write, fsync, close. */
static int write_file_synced(struct queue *q, const char *name, const void *data, size_t len)
{
    int fd = queue_spare_create(q->spare, q->tmp_fd, name, false);
    if (fd < 0)
        return errno;
    int rc = 0;
    if (fd_write_all(fd, data, len) != 0 || ftruncate(fd, (off_t)len) != 0 || fsync(fd) != 0)
        rc = errno;
    if (close(fd) != 0 && rc == 0)
        rc = errno;
    return rc;
}

/* The leader's work: every waiting message's content renamed into msg/,
 * one fsync of msg/, then every envelope renamed into env/ (the commit
 * points), one fsync of env/. */
static void commit_batch(struct queue *q, struct commit_wait *batch)
{
    bool any = false;
    for (struct commit_wait *w = batch; w; w = w->next) {
        char msg_tmp[QUEUE_ID_LEN + 8];
        snprintf(msg_tmp, sizeof(msg_tmp), "%s.msg", w->id);
        /* NOREPLACE: an id collision (see incoming_create) must not
         * replace another message's content. */
        int r = renameat2(q->tmp_fd, msg_tmp, q->msg_fd, w->id, RENAME_NOREPLACE);
        if (r != 0 && errno == EINVAL)
            r = renameat(q->tmp_fd, msg_tmp, q->msg_fd, w->id); /* no flags here */
        if (r != 0) {
            w->rc = errno;
        } else {
            w->msg_renamed = true;
            any = true;
        }
    }
    if (any && fsync(q->msg_fd) != 0) {
        int e = errno;
        for (struct commit_wait *w = batch; w; w = w->next)
            if (w->rc == 0)
                w->rc = e;
    }
    any = false;
    for (struct commit_wait *w = batch; w; w = w->next) {
        char env_tmp[QUEUE_ID_LEN + 8];
        snprintf(env_tmp, sizeof(env_tmp), "%s.env", w->id);
        if (w->rc == 0 && renameat(q->tmp_fd, env_tmp, q->env_fd, w->id) != 0)
            w->rc = errno;
        else if (w->rc == 0)
            any = true;
    }
    if (any && fsync(q->env_fd) != 0) {
        /* The renames happened but may not be durable: we cannot say 250.
         * Undo them so that the clients' retries do not make duplicates. */
        int e = errno;
        for (struct commit_wait *w = batch; w; w = w->next) {
            if (w->rc == 0) {
                w->rc = e;
                unlinkat(q->env_fd, w->id, 0);
            }
        }
    }
}

/* Waits until id's files are renamed into place durably, leading a batch
 * when no other thread does. Returns 0 or an errno value. */
static int commit_group(struct queue *q, const char *id, bool *msg_renamed_r)
{
    struct commit_wait me = {.id = id};
    pthread_mutex_lock(&q->commit_lock);
    /* me leaves the list (a leader takes the whole list) before it is done. */
    *q->commit_tail = &me;
    // cppcheck-suppress autoVariables
    q->commit_tail = &me.next;
    while (!me.done) {
        if (q->commit_leader) {
            pthread_cond_wait(&q->commit_cond, &q->commit_lock);
            continue;
        }
        q->commit_leader = true;
        struct commit_wait *batch = q->commit_head;
        q->commit_head = NULL;
        q->commit_tail = &q->commit_head;
        pthread_mutex_unlock(&q->commit_lock);
        commit_batch(q, batch);
        pthread_mutex_lock(&q->commit_lock);
        for (struct commit_wait *w = batch, *next; w; w = next) {
            next = w->next; /* w may return (and vanish) once done is set */
            w->done = true;
        }
        q->commit_leader = false;
        pthread_cond_broadcast(&q->commit_cond);
    }
    pthread_mutex_unlock(&q->commit_lock);
    *msg_renamed_r = me.msg_renamed;
    return me.rc;
}

int queue_incoming_commit(struct queue_incoming *in, const struct envelope *env)
{
    struct queue *q = in->q;
    char msg_tmp[QUEUE_ID_LEN + 8], env_tmp[QUEUE_ID_LEN + 8];
    snprintf(msg_tmp, sizeof(msg_tmp), "%s.msg", in->id);
    snprintf(env_tmp, sizeof(env_tmp), "%s.env", in->id);
    int rc = in->error;
    if (rc == 0)
        rc = incoming_append_file(in, in->mem.data, in->mem.len);
    buf_free(&in->mem);
    buf_free(&in->flight);
    /* A reused file may be longer than what we wrote (spare.h). */
    if (rc == 0 && ftruncate(in->fd, (off_t)in->written) != 0)
        rc = errno;
    if (rc == 0 && fsync(in->fd) != 0)
        rc = errno;
    if (in->fd >= 0 && close(in->fd) != 0 && rc == 0)
        rc = errno;
    in->fd = -1;
    if (rc == 0) {
        struct buf text;
        buf_init(&text);
        envelope_serialize(env, &text);
        rc = write_file_synced(q, env_tmp, text.data, text.len);
        buf_free(&text);
    }
    /* Content first, then the envelope: a committed envelope always has its
     * content on disk, and the envelope's rename is the commit point. */
    bool msg_renamed = false;
    if (rc == 0)
        rc = commit_group(q, in->id, &msg_renamed);
    if (rc != 0) {
        unlinkat(q->tmp_fd, msg_tmp, 0);
        unlinkat(q->tmp_fd, env_tmp, 0);
        if (msg_renamed)
            unlinkat(q->msg_fd, in->id, 0);
    }
    free(in);
    return rc;
}

void queue_incoming_abort(struct queue_incoming **inp)
{
    struct queue_incoming *in = *inp;
    if (in == NULL)
        return;
    *inp = NULL;
    if (in->busy) {
        in->abandoned = true; /* spill_done finishes it */
        return;
    }
    if (in->pool && in->fd >= 0) {
        worker_pool_submit(in->pool, discard_work, NULL, in);
        return;
    }
    incoming_discard(in);
}

int queue_envelope_store(struct queue *q, const struct envelope *env)
{
    char tmp[QUEUE_ID_LEN + 8];
    snprintf(tmp, sizeof(tmp), "%s.env", env->id);
    struct buf text;
    buf_init(&text);
    envelope_serialize(env, &text);
    int rc = write_file_synced(q, tmp, text.data, text.len);
    buf_free(&text);
    if (rc == 0 && renameat(q->tmp_fd, tmp, q->env_fd, env->id) != 0)
        rc = errno;
    if (rc == 0 && fsync(q->env_fd) != 0)
        rc = errno;
    if (rc != 0)
        unlinkat(q->tmp_fd, tmp, 0);
    return rc;
}

static int read_whole(int dirfd, const char *name, struct buf *out)
{
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    char chunk[8192];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            return e;
        }
        if (n == 0)
            break;
        if (out->len + (size_t)n > 16 * 1024 * 1024) {
            close(fd);
            return EFBIG;
        }
        buf_append(out, chunk, (size_t)n);
    }
    close(fd);
    return 0;
}

int queue_envelope_load(struct queue *q, const char *id, struct envelope **env_r,
                        const char **why_r)
{
    *env_r = NULL;
    *why_r = NULL;
    if (!queue_id_valid(id))
        return EINVAL;
    struct buf text;
    buf_init(&text);
    int rc = read_whole(q->env_fd, id, &text);
    if (rc == 0) {
        *why_r = envelope_parse(text.data ? text.data : "", text.len, env_r);
        if (*why_r)
            rc = EBADMSG;
        else if (strcmp((*env_r)->id, id) != 0) {
            *why_r = "id inside the file differs from its name";
            envelope_free(env_r);
            rc = EBADMSG;
        }
    }
    buf_free(&text);
    return rc;
}

int queue_content_open(struct queue *q, const char *id)
{
    if (!queue_id_valid(id)) {
        errno = EINVAL;
        return -1;
    }
    return openat(q->msg_fd, id, O_RDONLY | O_CLOEXEC);
}

int queue_remove(struct queue *q, const char *id)
{
    int rc = queue_spare_put(q->spare, q->env_fd, id);
    if (rc != 0 && rc != ENOENT)
        return rc;
    rc = queue_spare_put(q->spare, q->msg_fd, id);
    return rc == ENOENT ? 0 : rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names of the regular entries of a directory, sorted. */
static char **list_dir(int dirfd, size_t *n_r)
{
    *n_r = 0;
    int fd = dup(dirfd);
    if (fd < 0)
        return NULL;
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return NULL;
    }
    rewinddir(d);
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        names = xrealloc(names, (n + 1) * sizeof(char *));
        names[n++] = xstrdup(e->d_name);
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(char *), cmp_str);
    *n_r = n;
    return names;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

int queue_recover(struct queue *q, queue_scan_fn fn, void *arg)
{
    queue_spare_load(q->spare);
    size_t n;
    char **names = list_dir(q->tmp_fd, &n);
    for (size_t i = 0; i < n; i++) {
        log_info("event=queue_recover action=remove_uncommitted file=tmp/%s", log_q(names[i]));
        unlinkat(q->tmp_fd, names[i], 0);
    }
    free_names(names, n);

    size_t nenv;
    char **envs = list_dir(q->env_fd, &nenv);
    names = list_dir(q->msg_fd, &n);
    for (size_t i = 0; i < n; i++) {
        if (nenv && bsearch(&names[i], envs, nenv, sizeof(char *), cmp_str))
            continue;
        log_info("event=queue_recover action=remove_orphan_content file=msg/%s", log_q(names[i]));
        unlinkat(q->msg_fd, names[i], 0);
    }
    for (size_t i = 0; i < nenv; i++) {
        const char *id = envs[i];
        struct stat st;
        const char *why = NULL;
        struct envelope *env = NULL;
        int rc = queue_id_valid(id) ? 0 : EBADMSG;
        if (rc == 0 && fstatat(q->msg_fd, id, &st, 0) != 0) {
            rc = EBADMSG;
            why = "content file missing";
        }
        if (rc == 0)
            rc = queue_envelope_load(q, id, &env, &why);
        envelope_free(&env);
        if (rc != 0) {
            log_error("event=queue_corrupt id=%s reason=%s action=moved_to_corrupt", log_q(id),
                      log_q(why ? why : strerror(rc)));
            int corrupt = openat(q->dirfd, "corrupt", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (corrupt >= 0) {
                renameat(q->env_fd, id, corrupt, id);
                char content[QUEUE_ID_LEN + 16];
                snprintf(content, sizeof(content), "%.20s.msg", id);
                renameat(q->msg_fd, id, corrupt, content);
                close(corrupt);
            }
            continue;
        }
        fn(arg, id);
    }
    free_names(names, n);
    free_names(envs, nenv);
    fsync(q->tmp_fd);
    fsync(q->msg_fd);
    return 0;
}

uint64_t queue_free_space(const struct queue *q)
{
    struct statvfs sv;
    if (fstatvfs(q->dirfd, &sv) != 0)
        return UINT64_MAX;
    return (uint64_t)sv.f_bavail * sv.f_frsize;
}
