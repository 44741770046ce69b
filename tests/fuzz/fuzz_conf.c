/* Fuzzes the configuration parser (libinih under Postern's own line
 * reader and key handlers) through conf_load_string, the entry point
 * conf_load uses for a file's text: it never crashes or leaks, and it
 * accepts a configuration only without errors, or refuses it with errors
 * that each name the file. */
#include <stdint.h>
#include <string.h>

#include "conf/conf.h"

#define PATH "/fuzz/postern.conf"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf err;
    buf_init(&err);
    struct conf *c = conf_load_string(PATH, (const char *)data, size, &err);
    if (c) {
        if (err.len != 0 || c->nlistens == 0 || c->nlocal_domains == 0 || c->users_file == NULL)
            __builtin_trap();
        conf_free(&c);
    } else {
        if (err.len == 0)
            __builtin_trap();
        /* One problem per line, each naming the file. */
        for (size_t i = 0; i < err.len;) {
            const char *eol = memchr(err.data + i, '\n', err.len - i);
            if (eol == NULL || strncmp(err.data + i, PATH, strlen(PATH)) != 0)
                __builtin_trap();
            i = (size_t)(eol - err.data) + 1;
        }
    }
    buf_free(&err);
    return 0;
}
