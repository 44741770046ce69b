/* smtpc: the benchmark's own SMTP client, for what smtp-source does not do.
 *
 *   load mode:  smtpc [-T] -s HOST:PORT -c CONNS -n MSGS -l BODYLEN -o LATFILE
 *               C threads; each message is one connection (greeting, EHLO,
 *               [STARTTLS, EHLO], MAIL, RCPT, DATA, body, ".", QUIT), as
 *               smtp-source sends it. The time from connect() to the 250
 *               after "." is written to LATFILE (microseconds, one a line).
 *               -n 0: run until SIGTERM or SIGINT. -d SECS caps the run.
 *   idle mode:  smtpc -i N -s HOST:PORT -w SECS [-P PENDING]
 *               opens N connections, at most PENDING (8) of them waiting for
 *               their greeting at a time, waits (up to SECS) for the greetings,
 *               prints "greeted=G refused=R", then holds them until stdin
 *               closes or SIGTERM.
 *
 * Prints one line "ok=N err=E secs=S" at the end of a load run.
 * Everything it talks to is given on its command line; it asks no DNS.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_in target;
static int use_tls, nconns = 1;
static long nmsgs, bodylen = 1024;
static double max_secs = 600;
static const char *from = "load@client.bench.test", *to = "user@bench.test";
static char *body; /* the DATA content with its final ".\r\n" */
static size_t body_size;
static SSL_CTX *ssl_ctx;
static atomic_long next_ticket, n_ok, n_err;
static volatile sig_atomic_t stopping;
static double t_start;

struct conn {
    int fd;
    SSL *ssl;
    char buf[4096];
    size_t len, off;
};

struct worker {
    pthread_t thr;
    long *lat;
    size_t nlat, cap;
    char err[200];
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static int c_write(struct conn *c, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w;
        if (c->ssl) {
            int r = SSL_write(c->ssl, p, n > 1 << 30 ? 1 << 30 : (int)n);
            if (r <= 0)
                return -1;
            w = r;
        } else {
            w = send(c->fd, p, n, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* One reply line into line (without CRLF); -1 on EOF or error. */
static int c_line(struct conn *c, char *line, size_t cap)
{
    size_t n = 0;
    for (;;) {
        while (c->off < c->len) {
            char ch = c->buf[c->off++];
            if (ch == '\n') {
                if (n > 0 && line[n - 1] == '\r')
                    n--;
                line[n] = '\0';
                return 0;
            }
            if (n + 1 < cap)
                line[n++] = ch;
        }
        ssize_t r;
        if (c->ssl) {
            int k = SSL_read(c->ssl, c->buf, sizeof(c->buf));
            r = k > 0 ? k : -1;
        } else {
            do
                r = recv(c->fd, c->buf, sizeof(c->buf), 0);
            while (r < 0 && errno == EINTR);
        }
        if (r <= 0)
            return -1;
        c->len = (size_t)r;
        c->off = 0;
    }
}

/* Reads a whole (multi-line) reply; returns its code or -1. */
static int c_reply(struct conn *c)
{
    char line[1024];
    for (;;) {
        if (c_line(c, line, sizeof(line)) < 0)
            return -1;
        if (strlen(line) < 3)
            return -1;
        if (line[3] != '-')
            return atoi(line);
    }
}

static int cmd(struct conn *c, const char *s, int want)
{
    if (s && c_write(c, s, strlen(s)) < 0)
        return -1;
    int code = c_reply(c);
    return code / 100 == want / 100 ? 0 : -1;
}

static int c_connect(struct conn *c)
{
    memset(c, 0, sizeof(*c));
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0)
        return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct timeval tv = {60, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(c->fd, (struct sockaddr *)&target, sizeof(target)) < 0)
        return -1;
    return 0;
}

static void c_close(struct conn *c)
{
    if (c->ssl) {
        SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
    }
    if (c->fd >= 0)
        close(c->fd);
    c->ssl = NULL;
    c->fd = -1;
}

/* One message on one connection; returns latency in microseconds or -1. */
static long transaction(struct worker *w)
{
    struct conn c;
    char line[600];
    double t0 = now();
    const char *step = "connect";
    if (c_connect(&c) < 0)
        goto fail;
    step = "greeting";
    if (cmd(&c, NULL, 220) < 0)
        goto fail;
    step = "EHLO";
    if (cmd(&c, "EHLO client.bench.test\r\n", 250) < 0)
        goto fail;
    if (use_tls) {
        step = "STARTTLS";
        if (cmd(&c, "STARTTLS\r\n", 220) < 0)
            goto fail;
        c.ssl = SSL_new(ssl_ctx);
        SSL_set_fd(c.ssl, c.fd);
        step = "TLS handshake";
        if (SSL_connect(c.ssl) != 1)
            goto fail;
        step = "EHLO after TLS";
        if (cmd(&c, "EHLO client.bench.test\r\n", 250) < 0)
            goto fail;
    }
    step = "MAIL";
    snprintf(line, sizeof(line), "MAIL FROM:<%s>\r\n", from);
    if (cmd(&c, line, 250) < 0)
        goto fail;
    step = "RCPT";
    snprintf(line, sizeof(line), "RCPT TO:<%s>\r\n", to);
    if (cmd(&c, line, 250) < 0)
        goto fail;
    step = "DATA";
    if (cmd(&c, "DATA\r\n", 354) < 0)
        goto fail;
    step = "end of data";
    if (c_write(&c, body, body_size) < 0 || cmd(&c, NULL, 250) < 0)
        goto fail;
    long us = (long)((now() - t0) * 1e6);
    if (c_write(&c, "QUIT\r\n", 6) == 0)
        (void)c_reply(&c);
    c_close(&c);
    return us;
fail:
    if (!w->err[0])
        snprintf(w->err, sizeof(w->err), "failed at %s: %s", step,
                 errno ? strerror(errno) : "unexpected reply");
    c_close(&c);
    return -1;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    while (!stopping && now() - t_start < max_secs) {
        if (nmsgs > 0 && atomic_fetch_add(&next_ticket, 1) >= nmsgs)
            break;
        errno = 0;
        long us = transaction(w);
        if (us < 0) {
            atomic_fetch_add(&n_err, 1);
            if (atomic_load(&n_err) > 1000)
                break;
            usleep(10000);
            continue;
        }
        atomic_fetch_add(&n_ok, 1);
        if (w->nlat == w->cap) {
            w->cap = w->cap ? w->cap * 2 : 1024;
            w->lat = realloc(w->lat, w->cap * sizeof(long));
            if (!w->lat)
                abort();
        }
        w->lat[w->nlat++] = us;
    }
    return NULL;
}

static void make_body(void)
{
    size_t cap = (size_t)bodylen + 4096;
    body = malloc(cap);
    if (!body)
        abort();
    int n = snprintf(body, cap,
                     "From: <%s>\r\nTo: <%s>\r\nSubject: postern bench\r\n"
                     "Message-ID: <%ld.%d@client.bench.test>\r\n\r\n",
                     from, to, (long)time(NULL), getpid());
    size_t len = (size_t)n;
    long left = bodylen;
    while (left > 0) {
        long k = left > 78 ? 76 : left; /* 76 + CRLF, like smtp-source's lines */
        memset(body + len, 'x', (size_t)k);
        len += (size_t)k;
        memcpy(body + len, "\r\n", 2);
        len += 2;
        left -= k + 2;
    }
    memcpy(body + len, ".\r\n", 3);
    body_size = len + 3;
}

/* Opens the connections a few at a time: this measures memory, not how a
 * server copes with a burst of SYNs (OpenSMTPD listens with a backlog of 5;
 * an overflowing accept queue costs a 1 s SYN retry, and with SYN cookies a
 * client whose final ACK was dropped waits forever for its greeting). */
static int max_pending = 8;

static int idle_mode(int n, double wait_secs)
{
    int *fds = calloc((size_t)n, sizeof(int));
    struct pollfd *pf = calloc((size_t)n, sizeof(*pf));
    int *idx = calloc((size_t)n, sizeof(int));
    char *state = calloc((size_t)n, 1); /* 0 waiting, 1 greeted, 2 failed */
    if (!fds || !pf || !idx || !state)
        abort();
    for (int i = 0; i < n; i++)
        fds[i] = -1;
    double deadline = now() + wait_secs;
    int opened = 0, greeted = 0, failed = 0;
    while (greeted + failed < n && now() < deadline && !stopping) {
        while (opened < n && opened - greeted - failed < max_pending) {
            int i = opened++;
            fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            if (fds[i] < 0) {
                fprintf(stderr, "smtpc: socket %d: %s\n", i, strerror(errno));
                state[i] = 2;
                failed++;
            } else if (connect(fds[i], (struct sockaddr *)&target, sizeof(target)) < 0 &&
                       errno != EINPROGRESS) {
                state[i] = 2;
                failed++;
            }
        }
        int k = 0;
        for (int i = 0; i < opened; i++)
            if (state[i] == 0) {
                pf[k].fd = fds[i];
                pf[k].events = POLLIN;
                pf[k].revents = 0;
                idx[k++] = i;
            }
        if (poll(pf, (nfds_t)k, 200) < 0 && errno != EINTR)
            break;
        for (int j = 0; j < k; j++) {
            if (!pf[j].revents)
                continue;
            int i = idx[j];
            char buf[512];
            ssize_t r = recv(fds[i], buf, sizeof(buf), 0);
            if (r < 0 && errno == EAGAIN)
                continue;
            if (r > 0 && buf[0] == '2') {
                state[i] = 1;
                greeted++;
            } else {
                state[i] = 2;
                failed++;
            }
        }
    }
    printf("greeted=%d refused=%d pending=%d\n", greeted, failed, n - greeted - failed);
    fflush(stdout);
    /* Hold until stdin closes or a signal. */
    char b[64];
    while (!stopping && read(0, b, sizeof(b)) > 0)
        ;
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    return 0;
}

static void usage(void)
{
    fprintf(
        stderr,
        "usage: smtpc [-T] -s IP:PORT [-c CONNS] [-n MSGS] [-l BODYLEN] [-d SECS]\n"
        "             [-f FROM] [-t TO] [-o LATFILE] | smtpc -i N -s IP:PORT [-w SECS] [-P N]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *server = NULL, *latfile = NULL;
    int idle = 0;
    double wait_secs = 60;
    int opt;
    while ((opt = getopt(argc, argv, "Ts:c:n:l:d:f:t:o:i:w:P:")) != -1) {
        switch (opt) {
        case 'T':
            use_tls = 1;
            break;
        case 's':
            server = optarg;
            break;
        case 'c':
            nconns = atoi(optarg);
            break;
        case 'n':
            nmsgs = atol(optarg);
            break;
        case 'l':
            bodylen = atol(optarg);
            break;
        case 'd':
            max_secs = atof(optarg);
            break;
        case 'f':
            from = optarg;
            break;
        case 't':
            to = optarg;
            break;
        case 'o':
            latfile = optarg;
            break;
        case 'i':
            idle = atoi(optarg);
            break;
        case 'w':
            wait_secs = atof(optarg);
            break;
        case 'P':
            max_pending = atoi(optarg) > 0 ? atoi(optarg) : 1;
            break;
        default:
            usage();
        }
    }
    if (!server || nconns < 1)
        usage();
    char host[64];
    const char *colon = strrchr(server, ':');
    if (!colon || (size_t)(colon - server) >= sizeof(host))
        usage();
    memcpy(host, server, (size_t)(colon - server));
    host[colon - server] = '\0';
    target.sin_family = AF_INET;
    target.sin_port = htons((unsigned short)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &target.sin_addr) != 1)
        usage();

    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (idle)
        return idle_mode(idle, wait_secs);

    if (use_tls) {
        ssl_ctx = SSL_CTX_new(TLS_client_method());
        SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_NONE, NULL);
        /* Full handshake every time, as a fleet of different clients would do. */
        SSL_CTX_set_session_cache_mode(ssl_ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_options(ssl_ctx, SSL_OP_NO_TICKET);
    }
    make_body();
    struct worker *ws = calloc((size_t)nconns, sizeof(*ws));
    t_start = now();
    for (int i = 0; i < nconns; i++)
        pthread_create(&ws[i].thr, NULL, worker_main, &ws[i]);
    for (int i = 0; i < nconns; i++)
        pthread_join(ws[i].thr, NULL);
    double secs = now() - t_start;
    if (latfile) {
        FILE *f = fopen(latfile, "w");
        if (f) {
            for (int i = 0; i < nconns; i++)
                for (size_t j = 0; j < ws[i].nlat; j++)
                    fprintf(f, "%ld\n", ws[i].lat[j]);
            fclose(f);
        }
    }
    for (int i = 0; i < nconns; i++)
        if (ws[i].err[0]) {
            fprintf(stderr, "smtpc: %s\n", ws[i].err);
            break;
        }
    printf("ok=%ld err=%ld secs=%.3f\n", atomic_load(&n_ok), atomic_load(&n_err), secs);
    return 0;
}
