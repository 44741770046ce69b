/* The daemon's life cycle: signals, graceful shutdown, and reloads that
 * install a new configuration snapshot. */
#include "lifecycle.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "auth/users.h"
#include "daemon.h"
#include "mailauth/dkim_keyring.h"
#include "net/listener.h"
#include "net/tls.h"
#include "session/session.h"
#include "snapshot.h"
#include "util/log.h"
#include "util/worker.h"
#include "util/xmalloc.h"

struct lifecycle {
    struct daemon *d;
    struct event *sigterm, *sigint, *sighup;
    struct event *grace;
};

static void end_loop(evutil_socket_t fd, short what, void *arg)
{
    struct daemon *d = arg;
    log_info("event=shutdown_grace_over sessions=%u", d->sessions);
    event_base_loopbreak(d->base);
}

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
    struct lifecycle *l = arg;
    struct daemon *d = l->d;
    if (d->stopping) {
        /* A second signal: stop now. */
        event_base_loopbreak(d->base);
        return;
    }
    log_info("event=shutdown signal=%d sessions=%u grace_ms=%u", (int)sig, d->sessions,
             d->conf->shutdown_grace_ms);
    d->stopping = true;
    listener_set_stop(d->listeners);
    session_shutdown_begin(d);
    if (d->sessions == 0) {
        event_base_loopbreak(d->base);
        return;
    }
    struct timeval tv = {.tv_sec = d->conf->shutdown_grace_ms / 1000,
                         .tv_usec = (d->conf->shutdown_grace_ms % 1000) * 1000};
    l->grace = evtimer_new(d->base, end_loop, d);
    evtimer_add(l->grace, &tv);
}

void lifecycle_session_ended(struct daemon *d)
{
    if (d->stopping && d->sessions == 0)
        event_base_loopbreak(d->base);
}

static bool same_listens(const struct conf *a, const struct conf *b)
{
    if (a->nlistens != b->nlistens)
        return false;
    for (size_t i = 0; i < a->nlistens; i++) {
        const struct conf_listen *x = &a->listens[i], *y = &b->listens[i];
        if (x->service != y->service || strcmp(x->host ? x->host : "", y->host ? y->host : "") ||
            strcmp(x->port ? x->port : "", y->port ? y->port : "") ||
            strcmp(x->unix_path ? x->unix_path : "", y->unix_path ? y->unix_path : ""))
            return false;
    }
    return true;
}

int lifecycle_reload(struct daemon *d)
{
    struct buf err;
    buf_init(&err);
    struct conf *conf = conf_load(d->conf->path, &err);
    struct user_table *users = NULL;
    SSL_CTX *tls = NULL;
    if (conf)
        users = user_table_load_files(conf->users_file, conf->aliases_file, &err);
    if (conf && users && conf->tls_cert)
        tls = tls_server_new(conf->tls_cert, conf->tls_key, &err);
    struct dkim_keyring *keys = NULL;
    if (conf && users && (conf->tls_cert == NULL || tls))
        keys = dkim_keyring_load(conf, &err);
    if (conf == NULL || users == NULL || (conf->tls_cert && tls == NULL) || keys == NULL) {
        tls_ctx_free(&tls);
        for (char *p = err.data; p && *p; p++)
            if (*p == '\n')
                *p = ' ';
        log_error("event=reload_failed reason=%s action=kept_old_configuration",
                  log_q(err.data ? err.data : "?"));
        conf_free(&conf);
        user_table_free(&users);
        buf_free(&err);
        return -1;
    }
    buf_free(&err);
    if (!same_listens(d->conf, conf))
        log_warn("event=reload_notice reason=\"[listen] changes take effect after a restart\"");
    if (strcmp(d->conf->data_dir, conf->data_dir) != 0)
        log_warn("event=reload_notice reason=\"[server] data_dir changes take effect after a "
                 "restart\"");
    /* Sessions and jobs that started before keep their snapshot: the old
     * one is freed when the last of them ends. */
    daemon_install_snapshot(d, snapshot_new(conf, users, keys, tls));
    listener_set_limits(d->listeners, conf);
    log_info("event=reloaded config=%s local_domains=%zu tls=%s", log_q(conf->path),
             conf->nlocal_domains, tls ? "yes" : "no");
    return 0;
}

struct users_job {
    struct daemon *d;
    char *users_file, *aliases_file;
    struct user_table *users;
    struct buf err;
    lifecycle_users_done done;
    void *arg;
};

static void users_work(void *arg)
{
    struct users_job *job = arg;
    job->users = user_table_load_files(job->users_file, job->aliases_file, &job->err);
}

static void users_done(void *arg)
{
    struct users_job *job = arg;
    struct daemon *d = job->d;
    struct buf text;
    buf_init(&text);
    if (job->users == NULL) {
        for (char *p = job->err.data; p && *p; p++)
            if (*p == '\n')
                *p = ' ';
        log_error("event=users_reload_failed reason=%s action=kept_old_tables",
                  log_q(job->err.data ? job->err.data : "?"));
        buf_printf(&text, "the users or aliases file is broken, the daemon keeps the old ones: %s",
                   job->err.data ? job->err.data : "?");
        job->done(job->arg, -1, text.data);
    } else {
        daemon_install_snapshot(d, snapshot_with_users(d->snap, job->users));
        log_info("event=users_reloaded users_file=%s", log_q(job->users_file));
        job->done(job->arg, 0, "the running daemon has the new users and aliases");
    }
    buf_free(&text);
    buf_free(&job->err);
    free(job->users_file);
    free(job->aliases_file);
    free(job);
}

void lifecycle_reload_users(struct daemon *d, lifecycle_users_done done, void *arg)
{
    struct users_job *job = xcalloc(1, sizeof(*job));
    job->d = d;
    job->users_file = xstrdup(d->conf->users_file);
    job->aliases_file = d->conf->aliases_file ? xstrdup(d->conf->aliases_file) : NULL;
    buf_init(&job->err);
    job->done = done;
    job->arg = arg;
    worker_pool_submit(d->workers, users_work, users_done, job);
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
    struct lifecycle *l = arg;
    lifecycle_reload(l->d);
}

struct lifecycle *lifecycle_new(struct daemon *d)
{
    struct lifecycle *l = xcalloc(1, sizeof(*l));
    l->d = d;
    d->lifecycle = l;
    l->sigterm = evsignal_new(d->base, SIGTERM, on_stop, l);
    l->sigint = evsignal_new(d->base, SIGINT, on_stop, l);
    l->sighup = evsignal_new(d->base, SIGHUP, on_hup, l);
    event_add(l->sigterm, NULL);
    event_add(l->sigint, NULL);
    event_add(l->sighup, NULL);
    return l;
}

void lifecycle_free(struct lifecycle **lp)
{
    struct lifecycle *l = *lp;
    if (l == NULL)
        return;
    event_free(l->sigterm);
    event_free(l->sigint);
    event_free(l->sighup);
    if (l->grace)
        event_free(l->grace);
    l->d->lifecycle = NULL;
    free(l);
    *lp = NULL;
}
