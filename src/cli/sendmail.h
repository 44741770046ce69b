/* sendmail: shared by the sendmail command's two modes (sendmail.c for a
 * message on standard input, sendmail_bs.c for -bs, SMTP on stdio). */
#ifndef POSTERN_CLI_SENDMAIL_H
#define POSTERN_CLI_SENDMAIL_H

#include <stddef.h>

#include "conf/conf.h"
#include "queue/drop.h"
#include "util/buf.h"

/* Leaves head + msg (CRLF text) in data_dir/queue/drop durably. 0 or an
 * errno, with a sentence for the user in errbuf. */
int sendmail_write_drop(const struct conf *conf, const struct drop_head *head,
                        const struct buf *msg, char *errbuf, size_t errlen);
/* -bs: an SMTP dialogue on standard input and output. Returns an exit code. */
int sendmail_bs(const struct conf *conf);

#endif
