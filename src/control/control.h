/*
 * control: the daemon's control socket, data_dir/run/control (mode 0666,
 * in the traversable run/). One command line per connection; the answer is
 * one line, "ok TEXT" or "error TEXT" (for list: "ok", then the listing).
 * Who asks is read from the socket (SO_PEERCRED):
 *   list [json]   the queue as mailq prints it: anyone (as Postfix allows)
 * and for root, the service user and its group only:
 *   flush [ID]    try now: one message, or all (held ones are not)
 *   delete ID     remove a message from the queue (no bounce)
 *   hold ID       keep a message without trying it
 *   release ID    try a held message again
 *   reload-users  re-read the users and aliases files; answered once done
 * `postern queue`, `mailq` and `postern user` are its clients.
 */
#ifndef POSTERN_CONTROL_CONTROL_H
#define POSTERN_CONTROL_CONTROL_H

#include "util/buf.h"

struct daemon;
struct control;

struct control *control_new(struct daemon *d, struct buf *err_r);
void control_free(struct control **c);

#endif
