/*
 * privileges: what `postern serve` does as root, and how it stops being root.
 *
 * Started as root, the daemon reads what only root may read (configuration,
 * keys), then:
 *   privileges_prepare(): creates data_dir and the directories Postern owns
 *     (queue/ and its tmp msg env corrupt spare drop, run/, mail/) and gives
 *     them to the service user. Each is opened with O_DIRECTORY|O_NOFOLLOW
 *     relative to its parent's descriptor and changed with fchown/fchmod:
 *     nothing is ever changed by path, nothing below these directories is
 *     touched (least of all the files local users leave in drop/), and a
 *     directory owned by anyone but root or the service user stops the start.
 *   privileges_as_user() / privileges_as_root(): switch the effective ids to
 *     the service user and back, so that files under data_dir (the pid file)
 *     are opened with the service user's rights before the ports are bound.
 *   privileges_drop(): become the service user for good.
 * When not started as root, every call is a no-op that succeeds.
 */
#ifndef POSTERN_PRIVILEGES_H
#define POSTERN_PRIVILEGES_H

#include <stdbool.h>
#include <sys/types.h>

#include "conf/conf.h"
#include "util/buf.h"

struct privileges {
    bool root; /* started as root: the rest is meaningful */
    uid_t uid;
    gid_t gid;
    char *name;
};

/* Looks the service user up. -1 with a message in err_r. */
int privileges_init(struct privileges *p, const struct conf *conf, struct buf *err_r);
void privileges_clear(struct privileges *p);
int privileges_prepare(const struct privileges *p, const char *data_dir, struct buf *err_r);
int privileges_as_user(const struct privileges *p, struct buf *err_r);
int privileges_as_root(const struct privileges *p, struct buf *err_r);
int privileges_drop(const struct privileges *p, struct buf *err_r);

#endif
