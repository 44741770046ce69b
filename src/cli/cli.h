/* cli: the command-line tools of the postern binary (see main.c). */
#ifndef POSTERN_CLI_CLI_H
#define POSTERN_CLI_CLI_H

#include <stdbool.h>

#include "util/buf.h"

struct conf;

int cli_check(const char *conf_path);
int cli_user(const char *conf_path, int argc, char **argv);
/* sendmail(8): argv are its options and recipients (no program name). */
int cli_sendmail(int argc, char **argv);
int cli_mailq(const char *conf_path, int argc, char **argv);
int cli_queue(const char *conf_path, int argc, char **argv);
/* dkim keygen|sign|verify: see cli/dkim.c. */
int cli_dkim(const char *conf_path, int argc, char **argv);

/* Sends one command line to the running daemon's socket data_dir/run/SOCK
 * ("control" for root and the service user, "query" for anyone's list) and
 * reads its whole answer ("ok ..." or "error ...", then for list the
 * listing). 0, or the errno of the connection (ENOENT, ECONNREFUSED: not
 * running; EACCES: not allowed). */
int cli_control_ask(const struct conf *conf, const char *sock, const char *line,
                    struct buf *answer_r);
/* The answer's text after its "ok"/"error" word; *ok_r says which. */
const char *cli_control_text(const struct buf *answer, bool *ok_r);

#endif
