/* `postern serve`: start-up, the event loop, shutdown. */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "auth/limiter.h"
#include "auth/users.h"
#include "deliver/scheduler.h"
#include "dns/resolver.h"
#include "net/listener.h"
#include "net/tls.h"
#include "pop3d/pop3d.h"
#include "control/control.h"
#include "lifecycle.h"
#include "mailauth/dkim_keyring.h"
#include "pickup/pickup.h"
#include "queue/queue.h"
#include "smtpd/smtpd.h"
#include "util/log.h"
#include "util/worker.h"
#include "util/xmalloc.h"

/* Threads that commit received messages. A batch holds at most this many
 * messages (each thread waits in its commit), so more threads mean fewer
 * directory fsyncs under load; they are idle, not spinning, otherwise. */
#define COMMIT_THREADS 48

static void on_accept(void *arg, enum service svc, int fd, const struct sockaddr *sa, socklen_t len)
{
    struct daemon *d = arg;
    switch (svc) {
    case SERVICE_SMTP:
    case SERVICE_SUBMISSION:
    case SERVICE_SUBMISSIONS:
        smtpd_session_start(d, svc, fd, sa, len);
        break;
    case SERVICE_POP3:
    case SERVICE_POP3S:
        pop3d_session_start(d, svc, fd, sa, len);
        break;
    }
}

static uid_t chown_uid;
static gid_t chown_gid;

static int chown_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    if ((st->st_uid != chown_uid || st->st_gid != chown_gid) &&
        lchown(path, chown_uid, chown_gid) != 0)
        log_warn("event=chown_failed path=%s error=%s", log_q(path), log_q(strerror(errno)));
    return 0;
}

/* Started as root: make data_dir the service user's, then become that user.
 * Ports are already bound; no network input has been read. */
static int drop_privileges(const struct conf *conf)
{
    if (geteuid() != 0)
        return 0;
    struct passwd *pw = getpwnam(conf->user);
    if (pw == NULL) {
        fprintf(stderr,
                "postern: [server] user '%s' does not exist; create it (adduser --system %s) "
                "or name another user\n",
                conf->user, conf->user);
        return -1;
    }
    if (pw->pw_uid == 0) {
        fprintf(stderr, "postern: [server] user must not be root\n");
        return -1;
    }
    chown_uid = pw->pw_uid;
    chown_gid = pw->pw_gid;
    nftw(conf->data_dir, chown_entry, 32, FTW_PHYS);
    if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
        fprintf(stderr, "postern: cannot switch to user %s: %s\n", conf->user, strerror(errno));
        return -1;
    }
    log_info("event=privileges_dropped user=%s uid=%d", log_q(conf->user), (int)pw->pw_uid);
    return 0;
}

/* A pid file with an exclusive lock: one daemon per data_dir. */
static int take_pid_lock(const struct conf *conf)
{
    char *run = xasprintf("%s/run", conf->data_dir);
    mkdir(conf->data_dir, 0700);
    mkdir(run, 0700);
    char *path = xasprintf("%s/postern.pid", run);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "postern: cannot open %s: %s\n", path, strerror(errno));
    } else if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        fprintf(stderr,
                "postern: another postern (pid %s) is already running on data_dir %s; stop it "
                "first\n",
                *pid ? pid : "?", conf->data_dir);
        close(fd);
        fd = -1;
    } else {
        char pid[32];
        int len = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
        if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len)
            log_warn("event=pidfile_write_failed path=%s", log_q(path));
    }
    free(run);
    free(path);
    return fd;
}

static void recovered(void *arg, const char *id)
{
    struct daemon *d = arg;
    scheduler_add_id(d->scheduler, id);
}

int daemon_serve(const char *conf_path)
{
    struct buf err;
    buf_init(&err);
    struct daemon d = {0};
    int status = 1;
    int pid_fd = -1;
    d.conf = conf_load(conf_path, &err);
    if (d.conf == NULL)
        goto out;
    if (d.conf->tls_cert) {
        d.tls = tls_server_new(d.conf->tls_cert, d.conf->tls_key, &err);
        if (d.tls == NULL)
            goto out;
    }
    /* DKIM keys are read before the privilege drop (they may be root's). */
    d.dkim = dkim_keyring_load(d.conf, &err);
    if (d.dkim == NULL)
        goto out;
    d.users = user_table_load_files(d.conf->users_file, d.conf->aliases_file, &err);
    if (d.users == NULL)
        goto out;
    /* The lock first: a second daemon must say so, not "address in use". */
    pid_fd = take_pid_lock(d.conf);
    if (pid_fd < 0)
        goto out_quiet;
    d.listeners = listener_set_bind(d.conf, &err);
    if (d.listeners == NULL)
        goto out;
    d.queue = queue_open(d.conf->data_dir, &err);
    if (d.queue == NULL)
        goto out;
    if (drop_privileges(d.conf) != 0)
        goto out_quiet;

    signal(SIGPIPE, SIG_IGN);
    evthread_use_pthreads();
    d.base = event_base_new();
    char *run_dir = xasprintf("%s/run", d.conf->data_dir);
    d.resolver =
        dns_resolver_new(d.base, d.conf->resolver, run_dir, d.conf->relay_dns_timeout_ms, &err);
    free(run_dir);
    if (d.resolver == NULL) {
        event_base_free(d.base);
        goto out;
    }
    d.workers = worker_pool_new(d.base, (int)d.conf->workers);
    d.committers = worker_pool_new(d.base, COMMIT_THREADS);
    d.scheduler = scheduler_new(&d);
    d.auth_limiter = auth_limiter_new();
    struct pickup *pickup = pickup_new(&d);
    struct control *control = control_new(&d, &err);
    if (control == NULL)
        log_error("event=control_socket_failed error=%s", log_q(err.data));
    struct lifecycle *lifecycle = lifecycle_new(&d);

    queue_recover(d.queue, recovered, &d);
    listener_set_start(d.listeners, d.base, on_accept, &d);
    listener_set_evictor(d.listeners, smtpd_evict_idle, &d);
    log_info("event=started hostname=%s data_dir=%s queued=%zu", log_q(d.conf->hostname),
             log_q(d.conf->data_dir), scheduler_count(d.scheduler));
    event_base_dispatch(d.base);

    smtpd_close_all(&d);
    pop3d_close_all(&d);
    /* Before the workers: a commit's done() hands the message to the
     * scheduler, which submits to the workers. */
    worker_pool_free(&d.committers);
    worker_pool_free(&d.workers); /* runs the pickup's last callbacks too */
    pickup_free(&pickup);
    scheduler_free(&d.scheduler);
    dns_resolver_free(&d.resolver);
    /* Freed bufferevents are finalised by the loop: let it run once more. */
    event_base_loop(d.base, EVLOOP_NONBLOCK);
    auth_limiter_free(&d.auth_limiter);
    lifecycle_free(&lifecycle);
    control_free(&control);
    event_base_free(d.base);
    log_info("event=stopped");
    status = 0;
    goto out_quiet;
out:
    fputs(err.data ? err.data : "postern: start-up failed\n", stderr);
out_quiet:
    if (pid_fd >= 0)
        close(pid_fd);
    listener_set_free(&d.listeners);
    queue_close(&d.queue);
    user_table_free(&d.users);
    tls_ctx_free(&d.tls);
    dkim_keyring_free(&d.dkim);
    conf_free(&d.conf);
    buf_free(&err);
    return status;
}
