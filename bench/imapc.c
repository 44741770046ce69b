/* imapc: the IMAP benchmark's load client (bench/imap_run builds and drives it).
 *
 *   login:  imapc -m login -s HOST:PORT -c CONNS -d SECS -U USERS -p PASS -o LATFILE
 *           CONNS threads, each: connect, greeting, LOGIN uK@bench.test, LOGOUT,
 *           close, again until SECS; the time from connect() to LOGIN's OK
 *           goes to LATFILE ("login USEC" a line).
 *   mixed:  imapc -m mixed -s HOST:PORT -c CONNS -d SECS -U USERS -p PASS -o LATFILE
 *           CONNS sessions, session i logs in as u(i % USERS + 1) once, then
 *           repeats SELECT INBOX, FETCH 1:* (FLAGS), FETCH 5 bodies, STORE,
 *           SEARCH FROM, APPEND, STORE \Deleted of the appended message,
 *           EXPUNGE, IDLE+DONE until SECS; every command's time goes to
 *           LATFILE ("NAME USEC" a line).
 *   script: imapc -m script -s HOST:PORT -u USER -p PASS [-o UNTAGGED] [-H] CMD...
 *           one session: LOGIN, then each CMD in turn; prints one line per CMD,
 *           "INDEX USEC OCTETS STATUS", OCTETS being what the server sent for
 *           it (untagged data and the tagged reply); untagged lines that are
 *           not FETCH data go to UNTAGGED, prefixed by the command's index.
 *           -H: then prints "holding" and keeps the session until stdin closes.
 *   idle:   imapc -m idle -s HOST:PORT -c CONNS -P THREADS -U USERS -p PASS -d SECS
 *           opens CONNS sessions (THREADS at a time), each LOGIN, SELECT INBOX,
 *           IDLE, and waits for "+" (no new one after SECS); prints
 *           "idling=N failed=F", then holds
 *           them until stdin closes.
 *
 * Load modes print "ok=N err=E secs=S" at the end. Plain text on loopback:
 * no TLS, so that the client's own cost stays small.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_in target;
static const char *mode = "mixed", *password = "bench-password", *user = "big@bench.test";
static const char *latfile, *untagged_file;
static int nconns = 1, nusers = 1, nthreads = 8, hold;
static double secs = 5;
static atomic_long n_ok, n_err;
static double t_end;

static const char *names[] = {"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"};

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct conn {
    int fd;
    unsigned tag;
    long exists; /* from the last EXISTS/EXPUNGE seen */
    long octets; /* received for the current command */
    FILE *untagged;
    int cmd_index;
    char buf[65536];
    size_t len, off;
    char line[8192]; /* the current response line (truncated if longer) */
    size_t line_len;
};

static int fill(struct conn *c)
{
    if (c->off == c->len)
        c->off = c->len = 0;
    ssize_t n = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
    if (n <= 0)
        return -1;
    c->len += (size_t)n;
    c->octets += n;
    return 0;
}

/* Skips N octets of a literal. */
static int skip(struct conn *c, long n)
{
    while (n > 0) {
        if (c->off == c->len && fill(c) < 0)
            return -1;
        size_t take = c->len - c->off;
        if ((long)take > n)
            take = (size_t)n;
        c->off += take;
        n -= (long)take;
    }
    return 0;
}

/* Reads one response line into c->line, skipping any literals inside it
 * (the literal's text is not kept: "{N}" stays in the line). */
static int read_line(struct conn *c)
{
    c->line_len = 0;
    for (;;) {
        if (c->off == c->len) {
            if (c->len == sizeof c->buf)
                c->off = c->len = 0;
            if (fill(c) < 0)
                return -1;
        }
        char *p = memchr(c->buf + c->off, '\n', c->len - c->off);
        size_t take = p ? (size_t)(p - (c->buf + c->off)) + 1 : c->len - c->off;
        size_t room = sizeof c->line - 1 - c->line_len;
        memcpy(c->line + c->line_len, c->buf + c->off, take < room ? take : room);
        c->line_len += take < room ? take : room;
        c->off += take;
        if (!p)
            continue;
        c->line[c->line_len] = 0;
        /* A literal at the end of the line: skip it, the line goes on after it. */
        size_t l = c->line_len;
        if (l >= 4 && c->line[l - 2] == '\r' && c->line[l - 3] == '}') {
            char *open = memrchr(c->line, '{', l);
            if (open) {
                long n = strtol(open + 1, NULL, 10);
                if (skip(c, n) < 0)
                    return -1;
                c->line_len = (size_t)(open - c->line);
                continue;
            }
        }
        return 0;
    }
}

static int send_all(struct conn *c, const char *s, size_t n)
{
    while (n) {
        ssize_t w = write(c->fd, s, n);
        if (w <= 0)
            return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

static void note_untagged(struct conn *c)
{
    long n;
    char word[16];
    if (sscanf(c->line, "* %ld %15s", &n, word) == 2) {
        if (strcmp(word, "EXISTS") == 0)
            c->exists = n;
        else if (strcmp(word, "EXPUNGE") == 0)
            c->exists--;
        else if (strcmp(word, "FETCH") == 0)
            return;
    }
    if (c->untagged)
        fprintf(c->untagged, "%d %s", c->cmd_index, c->line);
}

/* Reads responses until the tagged one; returns 0 for OK, 1 NO/BAD, -1 error.
 * With want_plus, returns 2 at a continuation request instead. */
static int read_until_tagged(struct conn *c, bool want_plus)
{
    char tag[16];
    int tl = snprintf(tag, sizeof tag, "t%u ", c->tag);
    for (;;) {
        if (read_line(c) < 0)
            return -1;
        if (c->line[0] == '*')
            note_untagged(c);
        else if (c->line[0] == '+') {
            if (want_plus)
                return 2;
        } else if (strncmp(c->line, tag, (size_t)tl) == 0)
            return strncmp(c->line + tl, "OK", 2) == 0 ? 0 : 1;
        else if (strncmp(c->line, "* BYE", 5) == 0)
            return -1;
    }
}

/* Sends "tN TEXT\r\n" and waits for its tagged reply. */
static int command(struct conn *c, const char *fmt, ...)
{
    char out[4096];
    int n = snprintf(out, sizeof out, "t%u ", ++c->tag);
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(out + n, sizeof out - (size_t)n - 2, fmt, ap);
    va_end(ap);
    out[n++] = '\r';
    out[n++] = '\n';
    if (send_all(c, out, (size_t)n) < 0)
        return -1;
    return read_until_tagged(c, false);
}

static int conn_open(struct conn *c)
{
    memset(c, 0, offsetof(struct conn, buf));
    c->len = c->off = 0;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {30, 0}; /* a server that never answers is an error, not a hang */
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(c->fd, (struct sockaddr *)&target, sizeof target) < 0 || read_line(c) < 0 ||
        strncmp(c->line, "* OK", 4) != 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    return 0;
}

static int login(struct conn *c, const char *u)
{
    return command(c, "LOGIN \"%s\" \"%s\"", u, password);
}

static int append(struct conn *c, const char *msg, size_t len)
{
    char out[128];
    int n = snprintf(out, sizeof out, "t%u APPEND INBOX () {%zu}\r\n", ++c->tag, len);
    if (send_all(c, out, (size_t)n) < 0)
        return -1;
    int r = read_until_tagged(c, true);
    if (r != 2)
        return r < 0 ? -1 : 1;
    if (send_all(c, msg, len) < 0 || send_all(c, "\r\n", 2) < 0)
        return -1;
    return read_until_tagged(c, false);
}

static int idle_done(struct conn *c)
{
    char out[32];
    int n = snprintf(out, sizeof out, "t%u IDLE\r\n", ++c->tag);
    if (send_all(c, out, (size_t)n) < 0)
        return -1;
    int r = read_until_tagged(c, true);
    if (r != 2)
        return r < 0 ? -1 : 1;
    if (send_all(c, "DONE\r\n", 6) < 0)
        return -1;
    return read_until_tagged(c, false);
}

/* --- latency records -------------------------------------------------------- */

struct lat {
    const char *name;
    long usec;
};

struct worker {
    pthread_t thr;
    int index;
    struct lat *lat;
    size_t nlat, cap;
    unsigned seed;
};

static void record(struct worker *w, const char *name, double t0)
{
    if (w->nlat == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 4096;
        w->lat = realloc(w->lat, w->cap * sizeof *w->lat);
        if (!w->lat)
            abort();
    }
    w->lat[w->nlat++] = (struct lat){name, (long)((mono() - t0) * 1e6)};
}

static void user_name(char *out, size_t n, int k)
{
    snprintf(out, n, "u%d@bench.test", k % nusers + 1);
}

/* --- the loads ---------------------------------------------------------------- */

static void *login_loop(void *arg)
{
    struct worker *w = arg;
    struct conn *c = malloc(sizeof *c);
    char u[64];
    int k = w->index;
    while (mono() < t_end) {
        double t0 = mono();
        user_name(u, sizeof u, k++);
        if (conn_open(c) < 0) {
            n_err++;
            continue;
        }
        if (login(c, u) == 0) {
            record(w, "login", t0);
            n_ok++;
            command(c, "LOGOUT");
        } else
            n_err++;
        close(c->fd);
    }
    free(c);
    return NULL;
}

/* A small message for APPEND, different each time. */
static size_t make_message(char *out, size_t n, struct worker *w, long seq)
{
    int len = snprintf(out, n,
                       "From: %s <%s@example.test>\r\nTo: u@bench.test\r\n"
                       "Subject: appended %d.%ld\r\nMessage-ID: <a%d.%ld@bench.test>\r\n"
                       "Date: Mon, 7 Dec 2026 12:00:00 +0000\r\n\r\n",
                       names[seq % 8], names[seq % 8], w->index, seq, w->index, seq);
    for (int i = 0; i < 20 && len < (int)n - 80; i++)
        len += snprintf(out + len, n - (size_t)len,
                        "Line %d of a message appended by the benchmark, session %d.\r\n", i,
                        w->index);
    return (size_t)len;
}

#define STEP(name, expr)                                                                           \
    do {                                                                                           \
        double t0_ = mono();                                                                       \
        int r_ = (expr);                                                                           \
        if (r_ < 0)                                                                                \
            goto broken;                                                                           \
        if (r_ == 0) {                                                                             \
            record(w, name, t0_);                                                                  \
            n_ok++;                                                                                \
        } else                                                                                     \
            n_err++;                                                                               \
    } while (0)

static void *mixed_loop(void *arg)
{
    struct worker *w = arg;
    struct conn *c = malloc(sizeof *c);
    char u[64], msg[4096];
    user_name(u, sizeof u, w->index);
    long seq = 0;
    while (mono() < t_end) {
        if (conn_open(c) < 0 || login(c, u) != 0) {
            n_err++;
            if (c->fd >= 0)
                close(c->fd);
            usleep(100000);
            continue;
        }
        while (mono() < t_end) {
            seq++;
            STEP("select", command(c, "SELECT INBOX"));
            STEP("fetch_flags", command(c, "FETCH 1:* (FLAGS)"));
            long m = c->exists > 5 ? 1 + (long)(rand_r(&w->seed) % (unsigned)(c->exists - 4)) : 1;
            STEP("fetch_bodies", command(c, "FETCH %ld:%ld (BODY.PEEK[])", m, m + 4));
            STEP("store",
                 command(c, "STORE %ld %cFLAGS.SILENT (\\Flagged)", m, seq % 2 ? '+' : '-'));
            STEP("search", command(c, "SEARCH FROM \"%s\"", names[seq % 8]));
            size_t len = make_message(msg, sizeof msg, w, seq);
            STEP("append", append(c, msg, len));
            STEP("store", command(c, "STORE %ld +FLAGS.SILENT (\\Deleted)", c->exists));
            STEP("expunge", command(c, "EXPUNGE"));
            STEP("idle", idle_done(c));
        }
        command(c, "LOGOUT");
    broken:
        close(c->fd);
    }
    free(c);
    return NULL;
}

static int script(int argc, char **argv)
{
    struct conn *c = malloc(sizeof *c);
    if (conn_open(c) < 0 || login(c, user) != 0) {
        fprintf(stderr, "imapc: cannot log in as %s\n", user);
        return 1;
    }
    FILE *u = untagged_file ? fopen(untagged_file, "w") : NULL;
    for (int i = 0; i < argc; i++) {
        c->untagged = u;
        c->cmd_index = i;
        c->octets = (long)(c->len - c->off); /* read ahead before it: this command's */
        double t0 = mono();
        int r = command(c, "%s", argv[i]);
        printf("%d %ld %ld %s\n", i, (long)((mono() - t0) * 1e6),
               c->octets - (long)(c->len - c->off),
               r == 0  ? "OK"
               : r > 0 ? "NO"
                       : "ERR");
        fflush(stdout);
        if (r < 0)
            return 1;
    }
    c->untagged = NULL; /* LOGOUT's BYE is nobody's */
    if (u)
        fclose(u);
    if (hold) {
        /* The folder stays selected while the harness measures the server. */
        printf("holding\n");
        fflush(stdout);
        char b[64];
        while (read(0, b, sizeof b) > 0)
            ;
    }
    command(c, "LOGOUT");
    close(c->fd);
    free(c);
    return 0;
}

static struct conn *idle_conns;
static atomic_int next_idle;

static void *idle_open(void *arg)
{
    (void)arg;
    char u[64];
    for (;;) {
        int k = next_idle++;
        if (k >= nconns || mono() > t_end)
            return NULL;
        struct conn *c = &idle_conns[k];
        user_name(u, sizeof u, k);
        if (conn_open(c) < 0) {
            n_err++;
            continue;
        }
        if (login(c, u) != 0 || command(c, "SELECT INBOX") != 0) {
            close(c->fd);
            n_err++;
            continue;
        }
        char out[32];
        int n = snprintf(out, sizeof out, "t%u IDLE\r\n", ++c->tag);
        if (send_all(c, out, (size_t)n) < 0 || read_until_tagged(c, true) != 2) {
            close(c->fd);
            n_err++;
            continue;
        }
        n_ok++;
    }
}

int main(int argc, char **argv)
{
    int opt;
    const char *addr = "127.0.0.1:143";
    while ((opt = getopt(argc, argv, "m:s:c:d:U:u:p:o:P:H")) != -1) {
        switch (opt) {
        case 'm':
            mode = optarg;
            break;
        case 's':
            addr = optarg;
            break;
        case 'c':
            nconns = atoi(optarg);
            break;
        case 'd':
            secs = atof(optarg);
            break;
        case 'U':
            nusers = atoi(optarg);
            break;
        case 'u':
            user = optarg;
            break;
        case 'p':
            password = optarg;
            break;
        case 'o':
            latfile = untagged_file = optarg;
            break;
        case 'P':
            nthreads = atoi(optarg);
            break;
        case 'H':
            hold = 1;
            break;
        default:
            fprintf(stderr, "imapc: see the comment at the top of bench/imapc.c\n");
            return 2;
        }
    }
    char host[64];
    snprintf(host, sizeof host, "%s", addr);
    char *colon = strrchr(host, ':');
    if (!colon)
        return 2;
    *colon = 0;
    target.sin_family = AF_INET;
    target.sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &target.sin_addr) != 1)
        return 2;
    if (strcmp(mode, "script") == 0)
        return script(argc - optind, argv + optind);
    if (strcmp(mode, "idle") == 0) {
        /* -d: no new session after SECS (a server out of descriptors
         * leaves connections unanswered in its backlog). */
        t_end = mono() + secs;
        idle_conns = calloc((size_t)nconns, sizeof *idle_conns);
        pthread_t t[256];
        int nt = nthreads < 256 ? nthreads : 256;
        for (int i = 0; i < nt; i++)
            pthread_create(&t[i], NULL, idle_open, NULL);
        for (int i = 0; i < nt; i++)
            pthread_join(t[i], NULL);
        printf("idling=%ld failed=%ld\n", (long)n_ok, (long)n_err);
        fflush(stdout);
        char b[64];
        while (read(0, b, sizeof b) > 0)
            ;
        return 0;
    }
    void *(*loop)(void *) = strcmp(mode, "login") == 0 ? login_loop : mixed_loop;
    struct worker *w = calloc((size_t)nconns, sizeof *w);
    double t0 = mono();
    t_end = t0 + secs;
    for (int i = 0; i < nconns; i++) {
        w[i].index = i;
        w[i].seed = (unsigned)i * 2654435761u + 1;
        pthread_create(&w[i].thr, NULL, loop, &w[i]);
    }
    for (int i = 0; i < nconns; i++)
        pthread_join(w[i].thr, NULL);
    double took = mono() - t0;
    if (latfile) {
        FILE *f = fopen(latfile, "w");
        for (int i = 0; f && i < nconns; i++)
            for (size_t k = 0; k < w[i].nlat; k++)
                fprintf(f, "%s %ld\n", w[i].lat[k].name, w[i].lat[k].usec);
        if (f)
            fclose(f);
    }
    printf("ok=%ld err=%ld secs=%.3f\n", (long)n_ok, (long)n_err, took);
    return 0;
}
