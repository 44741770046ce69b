/* The commands' side of the control socket (data_dir/run/control): one
 * line out, the whole answer back. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli/cli.h"
#include "conf/conf.h"
#include "util/xmalloc.h"

int cli_control_ask(const struct conf *conf, const char *sock, const char *line,
                    struct buf *answer_r)
{
    char *path = xasprintf("%s/run/%s", conf->data_dir, sock);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    free(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno;
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
        int e = errno;
        close(fd);
        return e;
    }
    /* A daemon that stops answering must not hang the command forever. */
    struct timeval tv = {60, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    dprintf(fd, "%s\n", line);
    shutdown(fd, SHUT_WR);
    char chunk[65536];
    ssize_t got;
    while ((got = read(fd, chunk, sizeof(chunk))) > 0)
        buf_append(answer_r, chunk, (size_t)got);
    int e = got < 0 ? errno : 0;
    close(fd);
    if (e == 0 && answer_r->len == 0)
        buf_append_str(answer_r, "error no answer\n");
    return e == EAGAIN ? ETIMEDOUT : e;
}

const char *cli_control_text(const struct buf *answer, bool *ok_r)
{
    const char *a = answer->data ? answer->data : "";
    *ok_r = strncmp(a, "ok", 2) == 0 && (a[2] == ' ' || a[2] == '\n' || a[2] == '\0');
    const char *text = a + (*ok_r ? 2 : strncmp(a, "error", 5) == 0 ? 5 : 0);
    while (*text == ' ')
        text++;
    return text;
}
