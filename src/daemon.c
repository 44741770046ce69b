/* `postern serve`: start-up, the event loop, shutdown. */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
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
#include "snapshot.h"
#include "imapd/imapd.h"
#include "pop3d/pop3d.h"
#include "control/control.h"
#include "lifecycle.h"
#include "mailauth/dkim_keyring.h"
#include "pickup/pickup.h"
#include "privileges.h"
#include "queue/queue.h"
#include "session/session.h"
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
    case SERVICE_IMAP:
    case SERVICE_IMAPS:
        imapd_session_start(d, svc, fd, sa, len);
        break;
    }
}

/* A pid file with an exclusive lock: one daemon per data_dir. Opened with
 * the service user's rights (privileges_as_user): run/ is that user's, and
 * root must not follow what it may have put there. */
static int take_pid_lock(const struct conf *conf)
{
    char *run = xasprintf("%s/run", conf->data_dir);
    mkdir(conf->data_dir, 0711);
    mkdir(run, 0711);
    char *path = xasprintf("%s/postern.pid", run);
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
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

void daemon_install_snapshot(struct daemon *d, struct snapshot *snap)
{
    struct snapshot *old = d->snap;
    d->snap = snap;
    d->conf = snap->conf;
    d->users = snap->users;
    d->dkim = snap->dkim;
    d->tls = snap->tls;
    snapshot_unref(&old);
}

int daemon_serve(const char *conf_path)
{
    struct buf err;
    buf_init(&err);
    struct daemon d = {0};
    struct privileges priv = {0};
    int status = 1;
    int pid_fd = -1;
    struct conf *conf = conf_load(conf_path, &err);
    if (conf == NULL)
        goto out;
    SSL_CTX *tls = NULL;
    if (conf->tls_cert) {
        tls = tls_server_new(conf->tls_cert, conf->tls_key, &err);
        if (tls == NULL) {
            conf_free(&conf);
            goto out;
        }
    }
    /* DKIM keys are read before the privilege drop (they may be root's). */
    struct dkim_keyring *dkim = dkim_keyring_load(conf, &err);
    struct user_table *users =
        dkim ? user_table_load_files(conf->users_file, conf->aliases_file, &err) : NULL;
    if (users == NULL) {
        dkim_keyring_free(&dkim);
        tls_ctx_free(&tls);
        conf_free(&conf);
        goto out;
    }
    daemon_install_snapshot(&d, snapshot_new(conf, users, dkim, tls));
    /* As root only what needs root: Postern's own directories (never what
     * lies in them), the ports. Everything under data_dir is opened as the
     * service user. */
    if (privileges_init(&priv, d.conf, &err) != 0 ||
        privileges_prepare(&priv, d.conf->data_dir, &err) != 0 ||
        privileges_as_user(&priv, &err) != 0)
        goto out;
    /* The lock first: a second daemon must say so, not "address in use". */
    pid_fd = take_pid_lock(d.conf);
    if (pid_fd < 0)
        goto out_quiet;
    if (privileges_as_root(&priv, &err) != 0)
        goto out;
    d.listeners = listener_set_bind(d.conf, &err);
    if (d.listeners == NULL)
        goto out;
    if (privileges_drop(&priv, &err) != 0 || listener_set_bind_unix(d.listeners, d.conf, &err) != 0)
        goto out;
    d.queue = queue_open(d.conf->data_dir, &err);
    if (d.queue == NULL)
        goto out;

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

    session_close_all(&d);
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
    snapshot_unref(&d.snap);
    privileges_clear(&priv);
    buf_free(&err);
    return status;
}
