/* addr: printing socket addresses. */
#ifndef POSTERN_NET_ADDR_H
#define POSTERN_NET_ADDR_H

#include <stddef.h>
#include <sys/socket.h>

/* The textual IP of sa ("local" for a unix socket). */
void sockaddr_ip(const struct sockaddr *sa, char *out, size_t len);

#endif
