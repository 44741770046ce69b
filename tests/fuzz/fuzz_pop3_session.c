/* Fuzzes a whole POP3 session (src/pop3d: the session, its command table,
 * USER/PASS and AUTH PLAIN through the real password check in a worker,
 * the mailbox scan, RETR/TOP streaming and the QUIT update) as the daemon
 * runs it: pop3d_session_start() on one end of a socket pair, on a real
 * event loop with a real worker pool, the users file and a Maildir of
 * three messages (one without W=, one already in cur/) made anew for every
 * input. The input is what the client sends; a 0xFF octet splits it into
 * separate writes (each answered before the next is sent), so that both
 * pipelined and step-by-step dialogues are reached. The client then
 * closes its side; the session must end by itself, free everything and
 * have answered only in CRLF lines.
 *
 * Not covered: STLS and pop3s (no certificate here: a TLS handshake is not
 * what this target is about), deadlines (the timeout is minutes), and a
 * second session holding the mailbox. */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "auth/limiter.h"
#include "auth/users.h"
#include "conf/conf.h"
#include "daemon.h"
#include "mailauth/dkim_keyring.h"
#include "net/listener.h"
#include "pop3d/pop3d.h"
#include "snapshot.h"
#include "util/log.h"
#include "util/worker.h"

/* alice@example.test's password is "alice-pw" (sha256-crypt, 1000 rounds:
 * a real hash that is quick to check); bob has a mailbox without login. */
#define USERS                                                                                      \
    "alice@example.test:$5$rounds=1000$fuzzsalt$HoPdIU2w26eADcNcNGUCBYmf03pAv42CPQXhhtKNv3A\n"     \
    "bob@example.test:!\n"

static struct daemon d;
static bool echo; /* FUZZ_POP3_ECHO=1: show the server's replies (debugging a seed) */
static char dir[64], box[160];

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
        abort();
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

/* At exit: the temporary tree goes (libFuzzer exits normally at the end of
 * -max_total_time and -runs). */
static void teardown(void)
{
    listener_set_free(&d.listeners);
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void setup(void)
{
    echo = getenv("FUZZ_POP3_ECHO") != NULL;
    log_set_level(echo ? LOG_LEVEL_INFO : LOG_LEVEL_ERROR + 1); /* quiet: thousands of sessions */
    snprintf(dir, sizeof(dir), "%s/postern-fuzz-pop3-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (mkdtemp(dir) == NULL)
        abort();
    atexit(teardown);
    char path[128], conf_text[1024];
    snprintf(path, sizeof(path), "%s/users", dir);
    write_file(path, USERS);
    snprintf(conf_text, sizeof(conf_text),
             "[server]\nhostname = mx.example.test\ndata_dir = %s/data\n"
             "[listen]\npop3 = unix:%s/pop3.sock\n"
             "[domains]\nlocal = example.test\nusers_file = %s/users\n"
             "[pop3]\nallow_plaintext_auth = yes\n"
             "[auth]\nfailure_delay = 0\nfailure_limit = 100000\n",
             dir, dir, dir);
    snprintf(path, sizeof(path), "%s/postern.conf", dir);
    struct buf err;
    buf_init(&err);
    struct conf *conf = conf_load_string(path, conf_text, strlen(conf_text), &err);
    if (conf == NULL)
        abort();
    struct user_table *users = user_table_load_files(conf->users_file, NULL, &err);
    struct dkim_keyring *keys = dkim_keyring_load(conf, &err);
    if (users == NULL || keys == NULL) {
        fputs(err.data, stderr);
        abort();
    }
    /* Sessions take their configuration from the daemon's snapshot. */
    daemon_install_snapshot(&d, snapshot_new(conf, users, keys, NULL));
    d.listeners = listener_set_bind(d.conf, &err); /* bound, never started */
    if (d.listeners == NULL) {
        fputs(err.data, stderr);
        abort();
    }
    buf_free(&err);
    d.base = event_base_new();
    d.workers = worker_pool_new(d.base, 1);
    snprintf(box, sizeof(box), "%s/data/mail/example.test/alice", dir);
    const char *parts[] = {"/data", "/data/mail", "/data/mail/example.test",
                           "/data/mail/example.test/alice"};
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        snprintf(path, sizeof(path), "%s%s", dir, parts[i]);
        mkdir(path, 0700);
    }
    static const char *const sub[] = {"tmp", "new", "cur"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", box, sub[i]);
        mkdir(path, 0700);
    }
}

static void empty_dir(const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", box, name);
    DIR *dp = opendir(path);
    if (dp == NULL)
        abort();
    struct dirent *e;
    while ((e = readdir(dp)) != NULL)
        if (e->d_name[0] != '.') {
            snprintf(path, sizeof(path), "%s/%s/%s", box, name, e->d_name);
            unlink(path);
        }
    closedir(dp);
}

/* Writes a message as delivery does: NAME,S=SIZE,W=CRLFSIZE (LF lines),
 * or without W= when with_w is false, as another program might. */
static void put_message(const char *sub, const char *base, bool with_w, const char *info,
                        const char *text)
{
    size_t lf = 0, n = strlen(text);
    for (size_t i = 0; i < n; i++)
        lf += text[i] == '\n' && (i == 0 || text[i - 1] != '\r');
    char path[320];
    if (with_w)
        snprintf(path, sizeof(path), "%s/%s/%s,S=%zu,W=%zu%s", box, sub, base, n, n + lf, info);
    else
        snprintf(path, sizeof(path), "%s/%s/%s%s", box, sub, base, info);
    write_file(path, text);
}

/* The mailbox as delivery leaves it, plus one message another program put
 * there (CRLF, no W=) and one already retrieved (in cur/). */
static void reset_mailbox(void)
{
    empty_dir("new");
    empty_dir("cur");
    empty_dir("tmp");
    put_message("new", "1764787200.M1P1Q1.mx", true, "",
                "Subject: one\nFrom: a@example.test\n\nfirst line\n.dotted\n\nend\n");
    put_message("new", "1764787201.M2P1Q2.mx", false, "",
                "Subject: two\r\nFrom: b@example.test\r\n\r\ncrlf body\r\n..two dots\r\n");
    put_message("cur", "1764787202.M3P1Q3.mx", true, ":2,S", "Subject: three\n\nread\n");
}

/* Reads what the server wrote so far; every reply line ends with CRLF. */
static size_t drain_client(int fd, char *last, int *bad)
{
    char chunk[65536];
    size_t total = 0;
    ssize_t n;
    while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
        if (echo)
            fwrite(chunk, 1, (size_t)n, stderr);
        for (ssize_t i = 0; i < n; i++) {
            if (chunk[i] == '\n' && *last != '\r')
                *bad = 1;
            *last = chunk[i];
        }
        total += (size_t)n;
    }
    return total;
}

static int server_unread(int fd)
{
    int n = 0;
    return ioctl(fd, FIONREAD, &n) == 0 ? n : 0;
}

/* Runs the loop until the session waits for the client: no work in the
 * worker pool, nothing unread on the server's socket, nothing new written. */
static void run_until_idle(int server_fd, int client_fd, char *last, int *bad,
                           struct timespec *deadline)
{
    int quiet = 0;
    while (quiet < 2) {
        if (worker_pool_pending(d.workers) > 0)
            event_base_loop(d.base, EVLOOP_ONCE); /* wakes when a job is done */
        else
            event_base_loop(d.base, EVLOOP_NONBLOCK);
        size_t got = drain_client(client_fd, last, bad);
        if (got == 0 && worker_pool_pending(d.workers) == 0 &&
            (d.session_list == NULL || server_unread(server_fd) == 0))
            quiet++;
        else
            quiet = 0;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec > deadline->tv_sec)
            __builtin_trap(); /* the session hangs */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (d.conf == NULL)
        setup();
    if (size > 64 * 1024)
        return 0; /* more than a socket buffer: writes would need the loop */
    reset_mailbox();
    d.auth_limiter = auth_limiter_new();
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        abort();
    int buf_size = 256 * 1024;
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &buf_size, sizeof(buf_size));
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    struct sockaddr_in peer = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += 10;
    pop3d_session_start(&d, SERVICE_POP3, sv[0], (const struct sockaddr *)&peer, sizeof(peer));
    char last = '\n';
    int bad = 0;
    run_until_idle(sv[0], sv[1], &last, &bad, &deadline);
    size_t start = 0;
    for (size_t i = 0; i <= size; i++) {
        if (i < size && data[i] != 0xff)
            continue;
        if (i > start && d.session_list != NULL) {
            ssize_t w = write(sv[1], data + start, i - start);
            (void)w; /* the session may have closed: EPIPE is an answer too */
            run_until_idle(sv[0], sv[1], &last, &bad, &deadline);
        }
        start = i + 1;
    }
    /* The client hangs up: the session ends and frees itself. */
    shutdown(sv[1], SHUT_WR);
    while (d.session_list != NULL || worker_pool_pending(d.workers) > 0)
        run_until_idle(sv[0], sv[1], &last, &bad, &deadline);
    drain_client(sv[1], &last, &bad);
    if (bad || last != '\n' || d.sessions != 0)
        __builtin_trap();
    close(sv[1]);
    auth_limiter_free(&d.auth_limiter);
    return 0;
}
