/* Fuzzes a whole IMAP session (src/imapd on the session skeleton: LOGIN
 * and AUTHENTICATE through the real password check, SELECT, FETCH of
 * every item and section, STORE, SEARCH, COPY and MOVE, APPEND with
 * literals, IDLE, LIST, STATUS, the folder commands, ENABLE) as the daemon
 * runs it: imapd_session_start() on one end of a socket pair, on a real
 * event loop with the inline worker pool (store jobs and the password
 * check run on the loop thread, so a run is deterministic), the users
 * file and alice's Maildir made anew for every input: a multipart message
 * with an attachment, one with a message/rfc822 part, an LF-only one
 * without W=, one with keywords from dovecot-keywords, and a folder
 * "Work" with one message.
 *
 * The input is what the client sends; a 0xFF octet splits it into
 * separate writes, each answered (the loop runs until the session waits
 * for the client) before the next is sent, so that pipelined commands,
 * partial lines and literals cut anywhere are all reached. The client
 * then closes its side; the session must end by itself and free
 * everything (ASan's leak check), and the whole run must finish within
 * seconds.
 *
 * Not covered: STARTTLS and imaps (no certificate: a TLS handshake is not
 * what this target is about), the deadlines (minutes here), and a second
 * session on the same Maildir. FUZZ_IMAP_ECHO=1 shows the server's
 * replies (to debug a seed). */
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
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
#include "imapd/imapd.h"
#include "mailauth/dkim_keyring.h"
#include "snapshot.h"
#include "util/log.h"
#include "util/worker.h"

/* alice@example.test's password is "alice-pw" (sha256-crypt, 1000 rounds:
 * a real hash that is quick to check); bob cannot log in. */
#define USERS                                                                                      \
    "alice@example.test:$5$rounds=1000$fuzzsalt$HoPdIU2w26eADcNcNGUCBYmf03pAv42CPQXhhtKNv3A\n"     \
    "bob@example.test:!\n"

/* The server's output for one input is bounded: more is a runaway. */
#define OUTPUT_MAX (64u * 1024 * 1024)

static struct daemon d;
static bool echo;
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
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void setup(void)
{
    signal(SIGPIPE, SIG_IGN); /* the session may close before the client is done */
    echo = getenv("FUZZ_IMAP_ECHO") != NULL;
    log_set_level(echo ? LOG_LEVEL_INFO : LOG_LEVEL_ERROR + 1); /* quiet: thousands of sessions */
    snprintf(dir, sizeof(dir), "%s/postern-fuzz-imap-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (mkdtemp(dir) == NULL)
        abort();
    atexit(teardown);
    char path[128], conf_text[1024];
    snprintf(path, sizeof(path), "%s/users", dir);
    write_file(path, USERS);
    /* Small limits, so that the fuzzer reaches them with short inputs. */
    snprintf(conf_text, sizeof(conf_text),
             "[server]\nhostname = mx.example.test\ndata_dir = %s/data\n"
             "[listen]\nimap = unix:%s/imap.sock\n"
             "[domains]\nlocal = example.test\nusers_file = %s/users\n"
             "[imap]\nallow_plaintext_auth = yes\nline_max = 2k\n"
             "[limits]\nmessage_size = 16k\nbad_commands = 20\n"
             "[auth]\nfailure_delay = 0\nfailure_limit = 100000\n",
             dir, dir, dir);
    snprintf(path, sizeof(path), "%s/postern.conf", dir);
    struct buf err;
    buf_init(&err);
    struct conf *conf = conf_load_string(path, conf_text, strlen(conf_text), &err);
    if (conf == NULL) {
        fputs(err.data, stderr);
        abort();
    }
    struct user_table *users = user_table_load_files(conf->users_file, NULL, &err);
    struct dkim_keyring *keys = dkim_keyring_load(conf, &err);
    if (users == NULL || keys == NULL) {
        fputs(err.data, stderr);
        abort();
    }
    buf_free(&err);
    /* Sessions take their configuration from the daemon's snapshot. */
    daemon_install_snapshot(&d, snapshot_new(conf, users, keys, NULL));
    d.base = event_base_new();
    d.workers = worker_pool_new_inline(d.base);
    snprintf(box, sizeof(box), "%s/data/mail/example.test/alice", dir);
    const char *parts[] = {"/data", "/data/mail", "/data/mail/example.test"};
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        snprintf(path, sizeof(path), "%s%s", dir, parts[i]);
        mkdir(path, 0700);
    }
}

static void make_maildir(const char *path)
{
    char sub[256];
    if (mkdir(path, 0700) != 0)
        abort();
    static const char *const names[] = {"tmp", "new", "cur"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(sub, sizeof(sub), "%s/%s", path, names[i]);
        if (mkdir(sub, 0700) != 0)
            abort();
    }
}

/* Writes a message as delivery does: NAME,S=SIZE,W=CRLFSIZE (LF lines),
 * or without W= when with_w is false, as another program might. */
static void put_message(const char *folder, const char *sub, const char *base, bool with_w,
                        const char *info, const char *text)
{
    size_t lf = 0, n = strlen(text);
    for (size_t i = 0; i < n; i++)
        lf += text[i] == '\n' && (i == 0 || text[i - 1] != '\r');
    char path[400];
    if (with_w)
        snprintf(path, sizeof(path), "%s%s/%s/%s,S=%zu,W=%zu%s", box, folder, sub, base, n, n + lf,
                 info);
    else
        snprintf(path, sizeof(path), "%s%s/%s/%s%s", box, folder, sub, base, info);
    write_file(path, text);
}

static const char multipart_msg[] =
    "From: Carol <carol@example.test>\n"
    "To: alice@example.test, \"Dave D.\" <dave@example.test>\n"
    "Cc: undisclosed-recipients:;\n"
    "Subject: =?UTF-8?Q?R=C3=A9sum=C3=A9?= attached\n"
    "Date: Tue, 02 Dec 2025 10:00:00 +0100\n"
    "Message-ID: <multi@example.test>\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/mixed; boundary=\"b1\"\n"
    "\n"
    "preamble\n"
    "--b1\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "Content-Transfer-Encoding: quoted-printable\n"
    "\n"
    "Hello Alice, caf=C3=A9 and the r=C3=A9sum=C3=A9.\n"
    "--b1\n"
    "Content-Type: application/pdf; name=\"cv.pdf\"\n"
    "Content-Disposition: attachment; filename=\"cv.pdf\"\n"
    "Content-Transfer-Encoding: base64\n"
    "Content-Language: en\n"
    "\n"
    "JVBERi0xLjQKJcfsj6IKMSAwIG9iago8PC9UeXBlL0NhdGFsb2c+PgplbmRvYmoK\n"
    "--b1--\n"
    "epilogue\n";

static const char rfc822_msg[] = "From: bob@example.test\r\n"
                                 "To: alice@example.test\r\n"
                                 "Subject: Fwd: the plan\r\n"
                                 "Date: Wed, 03 Dec 2025 08:30:00 +0000\r\n"
                                 "In-Reply-To: <multi@example.test>\r\n"
                                 "MIME-Version: 1.0\r\n"
                                 "Content-Type: multipart/mixed; boundary=outer\r\n"
                                 "\r\n"
                                 "--outer\r\n"
                                 "Content-Type: text/plain\r\n"
                                 "\r\n"
                                 "See below.\r\n"
                                 "--outer\r\n"
                                 "Content-Type: message/rfc822\r\n"
                                 "\r\n"
                                 "From: eve@example.test\r\n"
                                 "Subject: the plan\r\n"
                                 "Content-Type: multipart/alternative; boundary=inner\r\n"
                                 "\r\n"
                                 "--inner\r\n"
                                 "Content-Type: text/plain\r\n"
                                 "\r\n"
                                 "plain plan\r\n"
                                 "--inner\r\n"
                                 "Content-Type: text/html\r\n"
                                 "\r\n"
                                 "<p>html plan</p>\r\n"
                                 "--inner--\r\n"
                                 "--outer--\r\n";

/* The Maildir as a delivery and an earlier session leave it. */
static void reset_mailbox(void)
{
    nftw(box, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    make_maildir(box);
    char path[256];
    snprintf(path, sizeof(path), "%s/.Work", box);
    make_maildir(path);
    snprintf(path, sizeof(path), "%s/dovecot-keywords", box);
    write_file(path, "0 $Forwarded\n1 Important\n3 $Junk\n");
    snprintf(path, sizeof(path), "%s/subscriptions", box);
    write_file(path, "INBOX\nWork\n");
    put_message("", "cur", "1764666000.M1P1Q1.mx", true, ":2,S", multipart_msg);
    put_message("", "cur", "1764750600.M2P1Q2.mx", false, ":2,FRab", rfc822_msg);
    put_message("", "new", "1764787200.M3P1Q3.mx", false, "",
                "Subject: lf only\nFrom: a@example.test\n\nfirst line\n.dotted\n\nend\n");
    put_message("", "cur", "1764787201.M4P1Q4.mx", true, ":2,Td",
                "Subject: deleted and junk\nFrom: spam@example.net\n\nbuy\n");
    put_message("/.Work", "cur", "1764787202.M5P1Q5.mx", true, ":2,S",
                "Subject: work\nFrom: boss@example.test\n\nreport due\n");
}

/* Reads what the server wrote so far. */
static size_t drain_client(int fd, size_t *total)
{
    char chunk[65536];
    size_t got = 0;
    ssize_t n;
    while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
        if (echo)
            fwrite(chunk, 1, (size_t)n, stderr);
        got += (size_t)n;
    }
    *total += got;
    if (*total > OUTPUT_MAX)
        __builtin_trap(); /* unbounded output */
    return got;
}

static int server_unread(int fd)
{
    int n = 0;
    return ioctl(fd, FIONREAD, &n) == 0 ? n : 0;
}

/* Runs the loop until the session waits for the client: no job queued,
 * nothing unread on the server's socket, nothing new written. */
static void run_until_idle(int server_fd, int client_fd, size_t *total,
                           const struct timespec *deadline)
{
    int quiet = 0;
    while (quiet < 2) {
        event_base_loop(d.base, EVLOOP_NONBLOCK);
        size_t got = drain_client(client_fd, total);
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
    imapd_session_start(&d, SERVICE_IMAP, sv[0], (const struct sockaddr *)&peer, sizeof(peer));
    size_t total = 0;
    run_until_idle(sv[0], sv[1], &total, &deadline);
    size_t start = 0;
    for (size_t i = 0; i <= size; i++) {
        if (i < size && data[i] != 0xff)
            continue;
        if (i > start && d.session_list != NULL) {
            ssize_t w = send(sv[1], data + start, i - start, MSG_NOSIGNAL);
            (void)w; /* the session may have closed: EPIPE is an answer too */
            run_until_idle(sv[0], sv[1], &total, &deadline);
        }
        start = i + 1;
    }
    /* The client hangs up: the session ends and frees itself. */
    shutdown(sv[1], SHUT_WR);
    while (d.session_list != NULL || worker_pool_pending(d.workers) > 0)
        run_until_idle(sv[0], sv[1], &total, &deadline);
    drain_client(sv[1], &total);
    if (d.sessions != 0)
        __builtin_trap();
    close(sv[1]);
    auth_limiter_free(&d.auth_limiter);
    return 0;
}
