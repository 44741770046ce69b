/* Fuzzes the header scanner of proto/headers: header_get() on the input as
 * a header section, header_mailboxes() (strict) and header_addresses()
 * (lenient) on it as an address-list value, and the Received field built
 * with the input as the client's HELO name.
 *
 * Invariants:
 *  - header_get() counts the same with and without a value; the value has
 *    no CR or LF and no whitespace at either end;
 *  - every mailbox header_mailboxes() returns holds an '@' and re-parses
 *    alone as exactly itself; the mailboxes joined with ", " re-parse as
 *    the same list (the parser reads what it writes);
 *  - a Received field is CRLF only, its continuation lines start with a
 *    tab, and nothing from the HELO name leaves its place. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/headers.h"

static void check_get(const char *h, size_t len, const char *name)
{
    struct buf v;
    buf_init(&v);
    int n = header_get(h, len, name, &v);
    if (n < 0 || n != header_get(h, len, name, NULL))
        __builtin_trap();
    if (n > 0 && v.len) {
        if (memchr(v.data, '\r', v.len) || memchr(v.data, '\n', v.len))
            __builtin_trap();
        char a = v.data[0], z = v.data[v.len - 1];
        if (a == ' ' || a == '\t' || z == ' ' || z == '\t')
            __builtin_trap();
    }
    buf_free(&v);
}

static void check_mailboxes(const char *s, size_t len)
{
    char **a;
    size_t n;
    if (!header_mailboxes(s, len, &a, &n)) {
        if (a != NULL || n != 0)
            __builtin_trap();
        return;
    }
    struct buf joined;
    buf_init(&joined);
    for (size_t i = 0; i < n; i++) {
        if (strchr(a[i], '@') == NULL)
            __builtin_trap();
        char **b;
        size_t m;
        if (!header_mailboxes(a[i], strlen(a[i]), &b, &m) || m != 1 || strcmp(b[0], a[i]) != 0)
            __builtin_trap();
        header_mailboxes_free(b, m);
        buf_printf(&joined, "%s%s", i ? ", " : "", a[i]);
    }
    char **b;
    size_t m;
    if (!header_mailboxes(joined.data ? joined.data : "", joined.len, &b, &m) || m != n)
        __builtin_trap();
    for (size_t i = 0; i < n; i++)
        if (strcmp(a[i], b[i]) != 0)
            __builtin_trap();
    header_mailboxes_free(b, m);
    header_mailboxes_free(a, n);
    buf_free(&joined);
}

static void check_received(const char *helo)
{
    struct received_info ri = {.helo = helo,
                               .client_ip = helo,
                               .by_host = "mx.example.test",
                               .protocol = "ESMTP",
                               .tls = helo,
                               .queue_id = "0123456789ABCDEFGHIJ",
                               .for_rcpt = helo,
                               .when = 0};
    struct buf b;
    buf_init(&b);
    header_build_received(&b, &ri);
    if (b.len < 2 || memcmp(b.data + b.len - 2, "\r\n", 2) != 0)
        __builtin_trap();
    int depth = 0;
    for (size_t i = 0; i < b.len; i++) {
        unsigned char c = (unsigned char)b.data[i];
        if (c == '\r' && (i + 1 >= b.len || b.data[i + 1] != '\n'))
            __builtin_trap();
        if (c == '\n' && (b.data[i - 1] != '\r' || (i + 1 < b.len && b.data[i + 1] != '\t')))
            __builtin_trap();
        if ((c < 0x20 && c != '\r' && c != '\n' && c != '\t') || c == 0x7f)
            __builtin_trap();
        depth += c == '(' ? 1 : c == ')' ? -1 : 0;
        if (depth < 0 || depth > 1)
            __builtin_trap();
    }
    if (depth != 0 || memchr(b.data, ';', b.len) != strrchr(b.data, ';'))
        __builtin_trap();
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    /* A NUL-terminated copy: the address parsers and the Received builder
     * take C strings. */
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    check_get(s, size, "From");
    check_get(s, size, "Subject");
    check_get(s, size, "f");
    check_mailboxes(s, size);
    char **a = NULL;
    size_t n = header_addresses(s, &a);
    for (size_t i = 0; i < n; i++) {
        if (strchr(a[i], '@') == NULL)
            __builtin_trap();
        free(a[i]);
    }
    free(a);
    if (size < 2000)
        check_received(s);
    free(s);
    return 0;
}
