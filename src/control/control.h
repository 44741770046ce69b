/*
 * control: the daemon's control socket, data_dir/run/control (mode 0660,
 * owned by the service user, so only it and root may connect). One command
 * line per connection, one answer line: "ok TEXT" or "error TEXT".
 *   flush [ID]   try now: one message, or all
 *   delete ID    remove a message from the queue (no bounce)
 *   hold ID      keep a message without trying it
 *   release ID   try a held message again
 * `postern queue` is its client.
 */
#ifndef POSTERN_CONTROL_CONTROL_H
#define POSTERN_CONTROL_CONTROL_H

#include "util/buf.h"

struct daemon;
struct control;

struct control *control_new(struct daemon *d, struct buf *err_r);
void control_free(struct control **c);

#endif
