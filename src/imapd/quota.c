/* GETQUOTAROOT, GETQUOTA and SETQUOTA (RFC 9208 4.1-4.3); see quota.h.
 * The usage is read in a worker: maildirsize may have to be recalculated
 * from every folder. */
#include "imapd/quota.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "imapd/job.h"
#include "imapd/names.h"
#include "imapd/session.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/xmalloc.h"

struct quota_args {
    char *name; /* GETQUOTAROOT: the folder (store name) */
    bool utf8;
    uint64_t limit;
};

static void quota_args_free(void *arg)
{
    struct quota_args *a = arg;
    free(a->name);
    free(a);
}

/* '* QUOTA "" (STORAGE used limit)' in KiB, rounded up as Dovecot does. */
static int quota_response(struct imapd_job *j, uint64_t limit)
{
    uint64_t bytes, count;
    int err = store_quota_get(j->store, &bytes, &count);
    if (err)
        return err;
    buf_printf(&j->out, "* QUOTA \"\" (STORAGE %llu %llu)\r\n",
               (unsigned long long)((bytes + 1023) / 1024),
               (unsigned long long)((limit + 1023) / 1024));
    return 0;
}

static void getquota_work(struct imapd_job *j)
{
    const struct quota_args *a = j->args;
    if (quota_response(j, a->limit) != 0)
        imapd_job_tagged(j, "NO", "[UNAVAILABLE] The usage could not be read, try again later");
    else
        imapd_job_tagged(j, "OK", "GETQUOTA completed");
}

static bool folder_exists(struct imapd_job *j, const char *name)
{
    char *new_dir = NULL, *cur_dir = NULL;
    if (store_watch_paths(j->store, name, &new_dir, &cur_dir) != 0)
        return false;
    struct stat st;
    bool ok = stat(cur_dir, &st) == 0 && S_ISDIR(st.st_mode);
    free(new_dir);
    free(cur_dir);
    return ok;
}

static void getquotaroot_work(struct imapd_job *j)
{
    const struct quota_args *a = j->args;
    if (!folder_exists(j, a->name)) {
        imapd_job_tagged(j, "NO", "%s", imapd_store_error(ENOENT, a->name));
        return;
    }
    buf_append_str(&j->out, "* QUOTAROOT ");
    imapd_folder_quote(&j->out, a->name, a->utf8);
    /* Without a limit the folder has no quota root (RFC 9208 4.1.2 allows
     * an empty list). */
    buf_append_str(&j->out, a->limit ? " \"\"\r\n" : "\r\n");
    if (a->limit && quota_response(j, a->limit) != 0) {
        imapd_job_tagged(j, "NO", "[UNAVAILABLE] The usage could not be read, try again later");
        return;
    }
    imapd_job_tagged(j, "OK", "GETQUOTAROOT completed");
}

bool imapd_cmd_quota(struct imapd_session *s, const struct imap_command *cmd)
{
    if (strcmp(cmd->name, "SETQUOTA") == 0) {
        if (cmd->n != 2 || !imap_arg_is_astring(&cmd->args[0]) ||
            cmd->args[1].type != IMAP_ARG_LIST) {
            imapd_reply_bad(s, "SETQUOTA expects a quota root and a list of limits");
            return true;
        }
        imapd_reply_tagged(s, "NO",
                           "[NOPERM] Quota limits are set by the administrator, not over IMAP");
        return true;
    }
    bool root = strcmp(cmd->name, "GETQUOTA") == 0;
    if (cmd->n != 1 || !imap_arg_is_astring(&cmd->args[0]) || cmd->args[0].str == NULL) {
        imapd_reply_bad(s,
                        root ? "GETQUOTA expects a quota root" : "GETQUOTAROOT expects a folder");
        return true;
    }
    struct quota_args *a = xcalloc(1, sizeof(*a));
    a->limit = s->quota;
    a->utf8 = s->utf8_enabled;
    if (root) {
        /* The only root is "", and only for a user with a limit. */
        if (cmd->args[0].len != 0 || s->quota == 0) {
            free(a);
            imapd_reply_tagged(s, "NO", "[NONEXISTENT] No such quota root");
            return true;
        }
        return imapd_job_submit(imapd_job_new(s, getquota_work, a, quota_args_free));
    }
    a->name = imapd_folder_arg(s, &cmd->args[0]);
    if (a->name == NULL) {
        free(a);
        return true;
    }
    return imapd_job_submit(imapd_job_new(s, getquotaroot_work, a, quota_args_free));
}
