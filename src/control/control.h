/*
 * control: the daemon's control sockets. One command line per connection;
 * the answer is one line, "ok TEXT" or "error TEXT" (for list: "ok", then
 * the listing). Who may ask what is the socket's file mode:
 *   data_dir/run/query    mode 0666: anyone (as Postfix lets every user run
 *                         mailq), for list only
 *   data_dir/run/control  mode 0660, the service user's: root, that user and
 *                         its group, for everything
 * Commands:
 *   list [json]   the queue as mailq prints it (envelopes, never content)
 *   flush [ID]    try now: one message, or all (held ones are not)
 *   delete ID     remove a message from the queue (no bounce)
 *   hold ID       keep a message without trying it
 *   release ID    try a held message again
 *   reload-users  re-read the users and aliases files; answered once done
 * The caller's uid (SO_PEERCRED) is logged with each action and refusal.
 * `postern queue`, `mailq` and `postern user` are the clients.
 */
#ifndef POSTERN_CONTROL_CONTROL_H
#define POSTERN_CONTROL_CONTROL_H

#include "util/buf.h"

struct daemon;
struct control;

struct control *control_new(struct daemon *d, struct buf *err_r);
void control_free(struct control **c);

#endif
