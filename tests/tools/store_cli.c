/* store_cli: a small command-line front to src/store for the Dovecot
 * comparison test (tests/integration/test_store_dovecot.py), which cannot
 * call C. Usage: store_cli MAILDIR COMMAND ARGS...
 *   setup | create NAME | subscribe NAME | list
 *   append NAME FLAGS KEYWORDS DATE   (message on stdin; prints "UIDVALIDITY UID")
 *   setflags NAME UID FLAGS KEYWORDS
 *   dump NAME    (prints "V<uidvalidity> N<uidnext>", then "UID FLAGS KEYWORDS SIZE")
 * FLAGS: letters D F R S T, or "-"; KEYWORDS: comma separated, or "-". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "util/buf.h"

static unsigned parse_flags(const char *s)
{
    unsigned f = 0;
    for (; *s; s++)
        f |= *s == 'D'   ? STORE_F_DRAFT
             : *s == 'F' ? STORE_F_FLAGGED
             : *s == 'R' ? STORE_F_ANSWERED
             : *s == 'S' ? STORE_F_SEEN
             : *s == 'T' ? STORE_F_DELETED
                         : 0;
    return f;
}

static size_t parse_keywords(char *s, const char *kw[STORE_KEYWORDS_MAX])
{
    size_t n = 0;
    if (strcmp(s, "-") == 0)
        return 0;
    for (char *t = strtok(s, ","); t && n < STORE_KEYWORDS_MAX; t = strtok(NULL, ","))
        kw[n++] = t;
    return n;
}

static void print_flags(unsigned f)
{
    printf("%s%s%s%s%s%s", f & STORE_F_DRAFT ? "D" : "", f & STORE_F_FLAGGED ? "F" : "",
           f & STORE_F_ANSWERED ? "R" : "", f & STORE_F_SEEN ? "S" : "",
           f & STORE_F_DELETED ? "T" : "", f ? "" : "-");
}

static int dump(struct store *s, const char *name)
{
    struct store_folder *f;
    int rc = store_open(s, name, false, &f);
    if (rc != 0)
        return rc;
    printf("V%u N%u\n", f->uidvalidity, f->uidnext);
    for (size_t i = 0; i < f->n; i++) {
        struct store_msg *m = &f->msgs[i];
        printf("%u ", m->uid);
        print_flags(m->flags);
        printf(" ");
        const char *sep = "";
        for (int k = 0; k < STORE_KEYWORDS_MAX; k++)
            if ((m->keywords & (1u << k)) && f->keywords[k]) {
                printf("%s%s", sep, f->keywords[k]);
                sep = ",";
            }
        printf("%s %llu\n", *sep ? "" : "-", (unsigned long long)m->size);
    }
    store_close(f);
    return 0;
}

static int list(struct store *s)
{
    struct store_list l;
    int rc = store_list(s, &l);
    static const char *const names[] = {
        "\\Noselect", "\\NonExistent", "\\HasChildren", "\\HasNoChildren", "\\Subscribed",
        "\\Sent",     "\\Drafts",      "\\Trash",       "\\Junk",          "\\Archive"};
    for (size_t i = 0; rc == 0 && i < l.n; i++) {
        printf("%s", l.v[i].name);
        for (int b = 0; b < 10; b++)
            if (l.v[i].attrs & (1u << b))
                printf(" %s", names[b]);
        printf("\n");
    }
    store_list_free(&l);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: store_cli MAILDIR COMMAND ARGS...\n");
        return 2;
    }
    struct store *s = store_maildir_new(argv[1]);
    const char *cmd = argv[2];
    int rc = EINVAL;
    const char *kw[STORE_KEYWORDS_MAX];
    if (strcmp(cmd, "setup") == 0) {
        rc = store_setup(s);
    } else if (strcmp(cmd, "create") == 0 && argc == 4) {
        rc = store_create(s, argv[3]);
    } else if (strcmp(cmd, "subscribe") == 0 && argc == 4) {
        rc = store_subscribe(s, argv[3], true);
    } else if (strcmp(cmd, "list") == 0) {
        rc = list(s);
    } else if (strcmp(cmd, "dump") == 0 && argc == 4) {
        rc = dump(s, argv[3]);
    } else if (strcmp(cmd, "append") == 0 && argc == 7) {
        struct buf b;
        buf_init(&b);
        char chunk[4096];
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
            buf_append(&b, chunk, n);
        size_t nk = parse_keywords(argv[5], kw);
        uint32_t uv, uid;
        rc = store_append(s, argv[3], b.data ? b.data : "", b.len, parse_flags(argv[4]), kw, nk,
                          strtoll(argv[6], NULL, 10), &uv, &uid);
        if (rc == 0)
            printf("%u %u\n", uv, uid);
        buf_free(&b);
    } else if (strcmp(cmd, "setflags") == 0 && argc == 7) {
        struct store_folder *f;
        rc = store_open(s, argv[3], false, &f);
        if (rc == 0) {
            size_t nk = parse_keywords(argv[6], kw);
            rc = store_set_flags(f, (uint32_t)strtoul(argv[4], NULL, 10), parse_flags(argv[5]), kw,
                                 nk);
            store_close(f);
        }
    }
    store_free(s);
    if (rc != 0)
        fprintf(stderr, "store_cli %s: %s\n", cmd, strerror(rc));
    return rc == 0 ? 0 : 1;
}
