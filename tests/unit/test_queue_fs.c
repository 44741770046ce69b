/* Unit tests for queue/fs.c, the file store, on a real temporary directory:
 * what a commit leaves on disk (content and envelope, nothing in tmp/), the
 * group commit under concurrent threads, what recovery keeps, removes and
 * sets aside, and that aborts and failures leave nothing behind. The
 * functions marked (worker) are called directly from the test's threads. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "queue/envelope.h"
#include "queue/queue.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/xmalloc.h"

struct fixture {
    char dir[64];
    struct queue *q;
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/postern-test-queue-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    struct buf err;
    buf_init(&err);
    f->q = queue_open(f->dir, &err);
    if (f->q == NULL) {
        fprintf(stderr, "%s", err.data);
        buf_free(&err);
        return -1;
    }
    buf_free(&err);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    queue_close(&f->q);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* f->dir/queue/sub[/name] */
static char *qpath(const struct fixture *f, const char *sub, const char *name)
{
    if (name)
        return xasprintf("%s/queue/%s/%s", f->dir, sub, name);
    return xasprintf("%s/queue/%s", f->dir, sub);
}

static bool exists(const struct fixture *f, const char *sub, const char *name)
{
    char *p = qpath(f, sub, name);
    struct stat st;
    bool yes = stat(p, &st) == 0;
    free(p);
    return yes;
}

/* Entries of a queue subdirectory, "." and ".." aside. */
static size_t count(const struct fixture *f, const char *sub)
{
    char *p = qpath(f, sub, NULL);
    DIR *d = opendir(p);
    free(p);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static void put_file(const struct fixture *f, const char *sub, const char *name, const char *text)
{
    char *p = qpath(f, sub, name);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    fputs(text, fp);
    assert_int_equal(fclose(fp), 0);
    free(p);
}

/* Reads a whole file from an fd, closing it. */
static void read_fd(int fd, struct buf *out)
{
    assert_true(fd >= 0);
    char chunk[8192];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        buf_append(out, chunk, (size_t)n);
    assert_true(n == 0);
    close(fd);
}

/* Asserts that msg/id holds exactly len octets of data. */
static void assert_content(struct queue *q, const char *id, const void *data, size_t len)
{
    struct buf got;
    buf_init(&got);
    read_fd(queue_content_open(q, id), &got);
    assert_int_equal(got.len, len);
    if (len)
        assert_memory_equal(got.data, data, len);
    buf_free(&got);
}

static struct envelope *envelope_for(const char *id, const char *sender)
{
    struct envelope *env = envelope_new();
    snprintf(env->id, sizeof(env->id), "%s", id);
    env->arrival = 1796342400;
    free(env->sender);
    env->sender = xstrdup(sender);
    free(env->helo);
    env->helo = xstrdup("client.example");
    free(env->client);
    env->client = xstrdup("192.0.2.7");
    envelope_add_rcpt(env, "alice@example.test", "info@example.test");
    envelope_add_rcpt(env, "bob@remote.example", NULL);
    return env;
}

/* Writes data in chunks of step octets, checking each write. */
static void write_chunks(struct queue_incoming *in, const char *data, size_t len, size_t step)
{
    for (size_t off = 0; off < len; off += step) {
        size_t n = len - off < step ? len - off : step;
        assert_int_equal(queue_incoming_write(in, data + off, n), 0);
    }
    assert_int_equal(queue_incoming_error(in), 0);
}

/* Text of n octets that differs at every offset a misplaced chunk could
 * land on: line numbers and the tag. */
static char *make_content(const char *tag, size_t n)
{
    char *s = xmalloc(n + 1);
    size_t len = 0;
    for (unsigned line = 0; len < n; line++) {
        char l[96];
        int k = snprintf(l, sizeof(l), "%s line %u: the quick brown fox\r\n", tag, line);
        size_t take = (size_t)k < n - len ? (size_t)k : n - len;
        memcpy(s + len, l, take);
        len += take;
    }
    s[n] = '\0';
    return s;
}

static void test_id(void **state)
{
    struct fixture *f = *state;
    struct queue_incoming *a = queue_incoming_new(f->q);
    struct queue_incoming *b = queue_incoming_new(f->q);
    const char *ia = queue_incoming_id(a), *ib = queue_incoming_id(b);
    assert_true(queue_id_valid(ia));
    assert_int_equal(strlen(ia), 17);
    assert_string_not_equal(ia, ib);
    /* Ids sort by arrival: b was made after a. */
    assert_true(strcmp(ia, ib) < 0);
    assert_int_equal(queue_incoming_error(a), 0);
    assert_false(queue_incoming_busy(a));
    queue_incoming_abort(&a);
    queue_incoming_abort(&b);
    assert_null(a);
    assert_null(b);
    queue_incoming_abort(&a); /* NULL: nothing */

    assert_false(queue_id_valid(""));
    assert_false(queue_id_valid("abc"));                   /* lower case */
    assert_false(queue_id_valid("../ABC"));                /* a path */
    assert_false(queue_id_valid("0123456789ABCDEFGHIJK")); /* 21 > QUEUE_ID_LEN */
    assert_true(queue_id_valid("0123456789ABCDEFGHIJ"));
}

/* A small message stays in memory until its commit: tmp/ is never touched
 * before it, and empty after it. */
static void test_commit_small(void **state)
{
    struct fixture *f = *state;
    static const char text[] = "Subject: hi\r\n\r\nhello\r\n";
    struct queue_incoming *in = queue_incoming_new(f->q);
    char id[QUEUE_ID_LEN + 1];
    snprintf(id, sizeof(id), "%s", queue_incoming_id(in));
    assert_int_equal(queue_incoming_write(in, text, 10), 0);
    assert_int_equal(queue_incoming_write(in, text + 10, sizeof(text) - 1 - 10), 0);
    assert_int_equal(queue_incoming_write(in, "", 0), 0);
    assert_int_equal(count(f, "tmp"), 0);
    assert_false(exists(f, "msg", id));

    struct envelope *env = envelope_for(id, "sender@example.org");
    assert_int_equal(queue_incoming_commit(in, env), 0);
    assert_true(exists(f, "msg", id));
    assert_true(exists(f, "env", id));
    assert_int_equal(count(f, "tmp"), 0);
    assert_int_equal(count(f, "msg"), 1);
    assert_int_equal(count(f, "env"), 1);
    assert_content(f->q, id, text, sizeof(text) - 1);

    struct envelope *back = NULL;
    const char *why = "unset";
    assert_int_equal(queue_envelope_load(f->q, id, &back, &why), 0);
    assert_null(why);
    assert_string_equal(back->id, id);
    assert_string_equal(back->sender, "sender@example.org");
    assert_int_equal(back->nrcpts, 2);
    assert_string_equal(back->rcpts[1].addr, "bob@remote.example");
    envelope_free(&back);
    envelope_free(&env);
}

/* Past QUEUE_INCOMING_MEM_MAX the content goes to tmp/ID.msg as it comes;
 * the committed file is exactly what was written, in order. */
static void test_commit_big(void **state)
{
    struct fixture *f = *state;
    size_t len = 3 * QUEUE_INCOMING_MEM_MAX + 12345;
    char *text = make_content("big", len);
    struct queue_incoming *in = queue_incoming_new(f->q);
    char id[QUEUE_ID_LEN + 1];
    snprintf(id, sizeof(id), "%s", queue_incoming_id(in));
    char tmpname[QUEUE_ID_LEN + 8];
    snprintf(tmpname, sizeof(tmpname), "%s.msg", id);

    write_chunks(in, text, QUEUE_INCOMING_MEM_MAX, 4000);
    assert_false(exists(f, "tmp", tmpname)); /* exactly the limit: still in memory */
    write_chunks(in, text + QUEUE_INCOMING_MEM_MAX, len - QUEUE_INCOMING_MEM_MAX, 7001);
    assert_true(exists(f, "tmp", tmpname));

    struct envelope *env = envelope_for(id, "");
    env->size = len;
    assert_int_equal(queue_incoming_commit(in, env), 0);
    envelope_free(&env);
    assert_false(exists(f, "tmp", tmpname));
    assert_int_equal(count(f, "tmp"), 0);
    assert_content(f->q, id, text, len);
    struct envelope *back = NULL;
    const char *why;
    assert_int_equal(queue_envelope_load(f->q, id, &back, &why), 0);
    assert_string_equal(back->sender, "");
    assert_int_equal(back->size, len);
    envelope_free(&back);
    free(text);
}

/* Removed files are reused for new ones (spare.h): a long file reused for a
 * short message must be cut to the new length, for content and envelope. */
static void test_reuse_truncates(void **state)
{
    struct fixture *f = *state;
    size_t big = 2 * QUEUE_INCOMING_MEM_MAX;
    char *text = make_content("long", big);
    struct queue_incoming *in = queue_incoming_new(f->q);
    char first[QUEUE_ID_LEN + 1];
    snprintf(first, sizeof(first), "%s", queue_incoming_id(in));
    write_chunks(in, text, big, 8192);
    struct envelope *env = envelope_for(first, "sender@example.org");
    for (int i = 0; i < 40; i++)
        envelope_add_rcpt(env, "carol-with-a-long-name@remote.example", NULL);
    assert_int_equal(queue_incoming_commit(in, env), 0);
    envelope_free(&env);
    assert_int_equal(queue_remove(f->q, first), 0);
    assert_false(exists(f, "msg", first));
    assert_false(exists(f, "env", first));

    for (int round = 0; round < 3; round++) {
        static const char small[] = "short\r\n";
        in = queue_incoming_new(f->q);
        char id[QUEUE_ID_LEN + 1];
        snprintf(id, sizeof(id), "%s", queue_incoming_id(in));
        assert_int_equal(queue_incoming_write(in, small, sizeof(small) - 1), 0);
        env = envelope_for(id, "x@example.org");
        assert_int_equal(queue_incoming_commit(in, env), 0);
        envelope_free(&env);
        assert_content(f->q, id, small, sizeof(small) - 1);
        struct envelope *back = NULL;
        const char *why = NULL;
        assert_int_equal(queue_envelope_load(f->q, id, &back, &why), 0);
        assert_int_equal(back->nrcpts, 2);
        envelope_free(&back);
        assert_int_equal(queue_remove(f->q, id), 0);
    }
    free(text);
}

static void test_envelope_round_trip(void **state)
{
    struct fixture *f = *state;
    struct queue_incoming *in = queue_incoming_new(f->q);
    char id[QUEUE_ID_LEN + 1];
    snprintf(id, sizeof(id), "%s", queue_incoming_id(in));
    assert_int_equal(queue_incoming_write(in, "x\r\n", 3), 0);
    struct envelope *env = envelope_for(id, "sender@example.org");
    assert_int_equal(queue_incoming_commit(in, env), 0);

    /* An attempt's outcome, stored and read back. */
    env->rcpts[0].state = RCPT_DONE;
    env->rcpts[1].attempts = 3;
    env->rcpts[1].next_attempt = 1796346000;
    env->rcpts[1].last_error = xstrdup("451 4.7.1 try again later");
    env->held = true;
    env->warned = true;
    assert_int_equal(queue_envelope_store(f->q, env), 0);
    assert_int_equal(count(f, "tmp"), 0);
    struct envelope *back = NULL;
    const char *why = NULL;
    assert_int_equal(queue_envelope_load(f->q, id, &back, &why), 0);
    assert_int_equal(back->rcpts[0].state, RCPT_DONE);
    assert_int_equal(back->rcpts[1].state, RCPT_PENDING);
    assert_int_equal(back->rcpts[1].attempts, 3);
    assert_int_equal(back->rcpts[1].next_attempt, 1796346000);
    assert_string_equal(back->rcpts[1].last_error, "451 4.7.1 try again later");
    assert_true(back->held);
    assert_true(back->warned);
    envelope_free(&back);
    /* Stored again, shorter: nothing of the longer text is left. */
    free(env->rcpts[1].last_error);
    env->rcpts[1].last_error = NULL;
    env->held = false;
    assert_int_equal(queue_envelope_store(f->q, env), 0);
    assert_int_equal(queue_envelope_load(f->q, id, &back, &why), 0);
    assert_null(back->rcpts[1].last_error);
    assert_false(back->held);
    envelope_free(&back);
    envelope_free(&env);

    /* Bad ids and bad files. */
    assert_int_equal(queue_envelope_load(f->q, "../../etc", &back, &why), EINVAL);
    assert_null(back);
    assert_int_equal(queue_envelope_load(f->q, "AAAAAAAAAAAAAAAAA", &back, &why), ENOENT);
    assert_null(back);
    put_file(f, "env", "BBBBBBBBBBBBBBBBB", "this is not an envelope\n");
    why = NULL;
    assert_int_equal(queue_envelope_load(f->q, "BBBBBBBBBBBBBBBBB", &back, &why), EBADMSG);
    assert_null(back);
    assert_non_null(why);
    /* A valid envelope under another id's name. */
    struct envelope *other = envelope_for("CCCCCCCCCCCCCCCCC", "s@example.org");
    struct buf text;
    buf_init(&text);
    envelope_serialize(other, &text);
    put_file(f, "env", "DDDDDDDDDDDDDDDDD", text.data);
    buf_free(&text);
    envelope_free(&other);
    assert_int_equal(queue_envelope_load(f->q, "DDDDDDDDDDDDDDDDD", &back, &why), EBADMSG);
    assert_null(back);
    assert_string_equal(why, "id inside the file differs from its name");
    assert_int_equal(queue_content_open(f->q, "../env/x"), -1);
    assert_int_equal(errno, EINVAL);
}

static void test_remove(void **state)
{
    struct fixture *f = *state;
    struct queue_incoming *in = queue_incoming_new(f->q);
    char id[QUEUE_ID_LEN + 1];
    snprintf(id, sizeof(id), "%s", queue_incoming_id(in));
    assert_int_equal(queue_incoming_write(in, "x\r\n", 3), 0);
    struct envelope *env = envelope_for(id, "s@example.org");
    assert_int_equal(queue_incoming_commit(in, env), 0);
    envelope_free(&env);
    assert_int_equal(queue_remove(f->q, id), 0);
    assert_false(exists(f, "env", id));
    assert_false(exists(f, "msg", id));
    assert_int_equal(queue_content_open(f->q, id), -1);
    assert_int_equal(errno, ENOENT);
    struct envelope *back = NULL;
    const char *why;
    assert_int_equal(queue_envelope_load(f->q, id, &back, &why), ENOENT);
    /* Already gone: not an error (a crash between the two unlinks). */
    assert_int_equal(queue_remove(f->q, id), 0);
    /* Half removed (only the content left, as after such a crash). */
    put_file(f, "msg", "EEEEEEEEEEEEEEEEE", "orphan\r\n");
    assert_int_equal(queue_remove(f->q, "EEEEEEEEEEEEEEEEE"), 0);
    assert_false(exists(f, "msg", "EEEEEEEEEEEEEEEEE"));
}

/* An aborted message leaves no file, whether it had one yet or not. */
static void test_abort(void **state)
{
    struct fixture *f = *state;
    struct queue_incoming *in = queue_incoming_new(f->q);
    assert_int_equal(queue_incoming_write(in, "small\r\n", 7), 0);
    queue_incoming_abort(&in);
    assert_null(in);
    assert_int_equal(count(f, "tmp"), 0);

    size_t len = QUEUE_INCOMING_MEM_MAX + 1;
    char *text = make_content("abort", len);
    in = queue_incoming_new(f->q);
    char tmpname[QUEUE_ID_LEN + 8];
    snprintf(tmpname, sizeof(tmpname), "%s.msg", queue_incoming_id(in));
    write_chunks(in, text, len, 5000);
    assert_true(exists(f, "tmp", tmpname));
    queue_incoming_abort(&in);
    assert_false(exists(f, "tmp", tmpname));
    assert_int_equal(count(f, "tmp"), 0);
    assert_int_equal(count(f, "msg"), 0);
    assert_int_equal(count(f, "env"), 0);
    free(text);
}

/* A write that fails is remembered: later writes and the commit fail with
 * it, and nothing is committed. tmp/ is removed under the open queue, so
 * creating tmp/ID.msg fails (ENOENT) as a full or broken disk would. */
static void test_write_failure(void **state)
{
    struct fixture *f = *state;
    char *tmp = qpath(f, "tmp", NULL);
    assert_int_equal(rmdir(tmp), 0);
    free(tmp);
    size_t len = QUEUE_INCOMING_MEM_MAX + 100;
    char *text = make_content("fail", len);
    struct queue_incoming *in = queue_incoming_new(f->q);
    char id[QUEUE_ID_LEN + 1];
    snprintf(id, sizeof(id), "%s", queue_incoming_id(in));
    assert_int_equal(queue_incoming_write(in, text, QUEUE_INCOMING_MEM_MAX), 0);
    assert_int_equal(queue_incoming_write(in, text + QUEUE_INCOMING_MEM_MAX, 100), -1);
    assert_int_equal(queue_incoming_error(in), ENOENT);
    assert_int_equal(queue_incoming_write(in, "more", 4), -1);
    assert_int_equal(queue_incoming_error(in), ENOENT);
    struct envelope *env = envelope_for(id, "s@example.org");
    assert_int_equal(queue_incoming_commit(in, env), ENOENT);
    assert_false(exists(f, "msg", id));
    assert_false(exists(f, "env", id));

    /* A small message fails at its commit instead. */
    in = queue_incoming_new(f->q);
    snprintf(env->id, sizeof(env->id), "%s", queue_incoming_id(in));
    assert_int_equal(queue_incoming_write(in, "x\r\n", 3), 0);
    assert_int_equal(queue_incoming_commit(in, env), ENOENT);
    assert_int_equal(count(f, "msg"), 0);
    assert_int_equal(count(f, "env"), 0);
    envelope_free(&env);
    free(text);
}

/* Group commit: many threads committing at the same moment all succeed,
 * with unique ids, and every message is whole: its content (each one
 * different) and its envelope, nothing left in tmp/. */
#define GC_THREADS 8
#define GC_EACH    12

struct gc_thread {
    struct queue *q;
    pthread_barrier_t *start;
    unsigned n;
    char ids[GC_EACH][QUEUE_ID_LEN + 1];
    int rc[GC_EACH];
};

static char *gc_content(unsigned thread, unsigned k, size_t *len_r)
{
    char tag[32];
    snprintf(tag, sizeof(tag), "t%u-m%u", thread, k);
    /* Every third message is big enough to go through tmp/ID.msg early. */
    size_t len = k % 3 == 0 ? QUEUE_INCOMING_MEM_MAX + 777 * (thread + 1) : 200 + 31 * k;
    *len_r = len;
    return make_content(tag, len);
}

static void *gc_run(void *arg)
{
    struct gc_thread *t = arg;
    pthread_barrier_wait(t->start);
    for (unsigned k = 0; k < GC_EACH; k++) {
        size_t len;
        char *text = gc_content(t->n, k, &len);
        struct queue_incoming *in = queue_incoming_new(t->q);
        snprintf(t->ids[k], sizeof(t->ids[k]), "%s", queue_incoming_id(in));
        int rc = 0;
        for (size_t off = 0; off < len && rc == 0; off += 4096)
            rc = queue_incoming_write(in, text + off, len - off < 4096 ? len - off : 4096);
        char sender[64];
        snprintf(sender, sizeof(sender), "t%u-m%u@example.org", t->n, k);
        struct envelope *env = envelope_for(t->ids[k], sender);
        env->size = len;
        t->rc[k] = rc != 0 ? -1 : queue_incoming_commit(in, env);
        envelope_free(&env);
        free(text);
    }
    return NULL;
}

static int cmp_id(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void test_group_commit(void **state)
{
    struct fixture *f = *state;
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, GC_THREADS);
    struct gc_thread *t = xcalloc(GC_THREADS, sizeof(*t));
    pthread_t th[GC_THREADS];
    for (unsigned i = 0; i < GC_THREADS; i++) {
        t[i] = (struct gc_thread){.q = f->q, .start = &start, .n = i};
        assert_int_equal(pthread_create(&th[i], NULL, gc_run, &t[i]), 0);
    }
    for (unsigned i = 0; i < GC_THREADS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);

    char(*all)[QUEUE_ID_LEN + 1] = xcalloc(GC_THREADS * GC_EACH, sizeof(*all));
    size_t n = 0;
    for (unsigned i = 0; i < GC_THREADS; i++) {
        for (unsigned k = 0; k < GC_EACH; k++) {
            assert_int_equal(t[i].rc[k], 0);
            memcpy(all[n++], t[i].ids[k], sizeof(all[0]));
            size_t len;
            char *text = gc_content(i, k, &len);
            assert_content(f->q, t[i].ids[k], text, len);
            free(text);
            struct envelope *env = NULL;
            const char *why = NULL;
            assert_int_equal(queue_envelope_load(f->q, t[i].ids[k], &env, &why), 0);
            char sender[64];
            snprintf(sender, sizeof(sender), "t%u-m%u@example.org", i, k);
            assert_string_equal(env->sender, sender);
            assert_int_equal(env->size, len);
            envelope_free(&env);
        }
    }
    qsort(all, n, sizeof(all[0]), cmp_id);
    for (size_t i = 1; i < n; i++)
        assert_string_not_equal(all[i - 1], all[i]);
    assert_int_equal(count(f, "msg"), GC_THREADS * GC_EACH);
    assert_int_equal(count(f, "env"), GC_THREADS * GC_EACH);
    assert_int_equal(count(f, "tmp"), 0);
    free(all);
    free(t);
}

/* Recovery. */
struct seen {
    char ids[16][QUEUE_ID_LEN + 1];
    size_t n;
};

static void on_id(void *arg, const char *id)
{
    struct seen *s = arg;
    assert_true(s->n < 16);
    snprintf(s->ids[s->n++], sizeof(s->ids[0]), "%s", id);
}

static void commit_one(struct fixture *f, const char *body, char *id_r)
{
    struct queue_incoming *in = queue_incoming_new(f->q);
    snprintf(id_r, QUEUE_ID_LEN + 1, "%s", queue_incoming_id(in));
    assert_int_equal(queue_incoming_write(in, body, strlen(body)), 0);
    struct envelope *env = envelope_for(id_r, "s@example.org");
    assert_int_equal(queue_incoming_commit(in, env), 0);
    envelope_free(&env);
}

static void test_recover(void **state)
{
    struct fixture *f = *state;
    char a[QUEUE_ID_LEN + 1], b[QUEUE_ID_LEN + 1], c[QUEUE_ID_LEN + 1];
    commit_one(f, "a\r\n", a);
    commit_one(f, "b\r\n", b);
    commit_one(f, "c\r\n", c);
    /* What a crash leaves: temp files of a message being received or of an
     * envelope being rewritten, content whose envelope never made it (or
     * was removed first), and envelopes that cannot be trusted. */
    put_file(f, "tmp", "XXXXXXXXXXXXXXXXX.msg", "half a message");
    put_file(f, "tmp", "XXXXXXXXXXXXXXXXX.env", "half an envelope");
    put_file(f, "tmp", "YYYYYYYYYYYYYYYYY.env", "");
    put_file(f, "msg", "OOOOOOOOOOOOOOOOO", "orphan\r\n");
    put_file(f, "env", "GGGGGGGGGGGGGGGGG", "garbage\n");
    put_file(f, "msg", "GGGGGGGGGGGGGGGGG", "content of the garbage one\r\n");
    struct envelope *env = envelope_for("NNNNNNNNNNNNNNNNN", "s@example.org");
    struct buf text;
    buf_init(&text);
    envelope_serialize(env, &text);
    put_file(f, "env", "NNNNNNNNNNNNNNNNN", text.data); /* no content */
    put_file(f, "env", "bad.name", text.data);          /* not an id */
    put_file(f, "env", "WWWWWWWWWWWWWWWWW", text.data); /* another id inside */
    put_file(f, "msg", "WWWWWWWWWWWWWWWWW", "w\r\n");
    buf_free(&text);
    envelope_free(&env);

    struct seen seen = {.n = 0};
    assert_int_equal(queue_recover(f->q, on_id, &seen), 0);
    /* Every committed message exactly once, in id (arrival) order. */
    assert_int_equal(seen.n, 3);
    assert_string_equal(seen.ids[0], a);
    assert_string_equal(seen.ids[1], b);
    assert_string_equal(seen.ids[2], c);
    assert_int_equal(count(f, "tmp"), 0);
    assert_false(exists(f, "msg", "OOOOOOOOOOOOOOOOO"));
    /* Corrupt ones set aside with their content, for a person to look at. */
    assert_false(exists(f, "env", "GGGGGGGGGGGGGGGGG"));
    assert_false(exists(f, "msg", "GGGGGGGGGGGGGGGGG"));
    assert_true(exists(f, "corrupt", "GGGGGGGGGGGGGGGGG"));
    assert_true(exists(f, "corrupt", "GGGGGGGGGGGGGGGGG.msg"));
    assert_true(exists(f, "corrupt", "NNNNNNNNNNNNNNNNN"));
    assert_true(exists(f, "corrupt", "bad.name"));
    assert_true(exists(f, "corrupt", "WWWWWWWWWWWWWWWWW"));
    assert_true(exists(f, "corrupt", "WWWWWWWWWWWWWWWWW.msg"));
    assert_int_equal(count(f, "env"), 3);
    assert_int_equal(count(f, "msg"), 3);
    assert_content(f->q, a, "a\r\n", 3);
    assert_content(f->q, c, "c\r\n", 3);

    /* Again (a second restart): the same three, nothing else moves. */
    seen.n = 0;
    assert_int_equal(queue_recover(f->q, on_id, &seen), 0);
    assert_int_equal(seen.n, 3);
    assert_string_equal(seen.ids[1], b);
    assert_int_equal(count(f, "corrupt"), 6);
    assert_int_equal(count(f, "env"), 3);
}

/* An empty queue reports nothing. */
static void test_recover_empty(void **state)
{
    struct fixture *f = *state;
    struct seen seen = {.n = 0};
    assert_int_equal(queue_recover(f->q, on_id, &seen), 0);
    assert_int_equal(seen.n, 0);
}

int main(void)
{
    log_set_level(LOG_LEVEL_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_small, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_big, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reuse_truncates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_envelope_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abort, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recover_empty, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
