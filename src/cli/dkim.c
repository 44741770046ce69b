/*
 * `postern dkim ...`: DKIM keys and the mail-authentication checks from
 * the command line.
 *
 *   keygen DOMAIN SELECTOR [--type rsa|ed25519] [--dir DIR]
 *       writes DIR/DOMAIN.SELECTOR.key (never overwritten; run by root, mode
 *       0640 and group the service user's, so the daemon can read it again
 *       on SIGHUP once it is no longer root; else 0600) and prints the TXT
 *       record to publish on stdout (notes on stderr)
 *   sign DOMAIN < MESSAGE
 *       prints MESSAGE with a DKIM-Signature by DOMAIN's [dkim] key
 *   verify [--ip IP [--helo NAME] [--mail-from ADDR]] < MESSAGE
 *       checks every DKIM signature and DMARC (and SPF with --ip) with the
 *       configured resolver, as the daemon would, and prints the
 *       Authentication-Results field; exit 0 when a DKIM signature passes
 *
 * verify drives the daemon's asynchronous resolver (mailauth.h) to
 * completion on a private event loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/evp.h>

#include "cli/cli.h"
#include "conf/conf.h"
#include "dns/resolver.h"
#include "mailauth/dkim_keyring.h"
#include "mailauth/dkim_sign.h"
#include "mailauth/domain.h"
#include "mailauth/mailauth.h"
#include "proto/text.h"
#include "util/xmalloc.h"

#define MESSAGE_MAX (64u << 20)

static int usage(void)
{
    fputs("usage: postern dkim keygen DOMAIN SELECTOR [--type rsa|ed25519] [--dir DIR]\n"
          "       postern [-c FILE] dkim sign DOMAIN < MESSAGE\n"
          "       postern [-c FILE] dkim verify [--ip IP [--helo NAME] [--mail-from ADDR]] < "
          "MESSAGE\n",
          stderr);
    return 1;
}

/* Reads stdin and gives it CRLF line endings; *lf_r tells whether the
 * input used bare LF, so that output can follow it. */
static bool read_message(struct buf *msg, bool *lf_r)
{
    struct buf in;
    buf_init(&in);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0 && in.len <= MESSAGE_MAX)
        buf_append(&in, chunk, n);
    bool ok = !ferror(stdin) && in.len <= MESSAGE_MAX;
    if (!ok)
        fputs("postern: cannot read the message from stdin (or it is over 64M)\n", stderr);
    size_t line = 0;
    enum text_result tr =
        ok ? text_normalize(in.data ? in.data : "", in.len, false, msg, &line) : TEXT_OK;
    if (ok && tr != TEXT_OK) {
        fprintf(stderr, "postern: message line %zu: %s\n", line,
                tr == TEXT_NUL ? "NUL octet" : "longer than 998 octets");
        ok = false;
    }
    *lf_r = in.len > 0 && memchr(in.data, '\r', in.len) == NULL;
    buf_free(&in);
    return ok;
}

static void write_out(const char *s, size_t len, bool lf)
{
    for (size_t i = 0; i < len; i++)
        if (!(lf && s[i] == '\r' && i + 1 < len && s[i + 1] == '\n'))
            putchar(s[i]);
}

/* Run by root: the key becomes root:GROUP 0640, GROUP being the service
 * user's ([server] user of the configuration, else postern), since the
 * daemon re-reads its keys on SIGHUP after it dropped root. Done on a
 * descriptor of the file just created, never following a link. */
static void keygen_share(const char *conf_path, const char *path, struct buf *note)
{
    if (geteuid() != 0)
        return;
    struct buf err;
    buf_init(&err);
    struct conf *conf = conf_load(conf_path, &err);
    buf_free(&err);
    const char *user = conf ? conf->user : "postern";
    struct passwd *pw = getpwnam(user);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (pw == NULL) {
        buf_printf(note, ", mode 0600: there is no user %s to share it with", user);
    } else if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != 0 ||
               st.st_nlink != 1 || fchown(fd, 0, pw->pw_gid) != 0 || fchmod(fd, 0640) != 0) {
        buf_printf(note, ", mode 0600: cannot give it to group %u (%s)", (unsigned)pw->pw_gid,
                   strerror(errno));
    } else {
        struct group *gr = getgrgid(pw->pw_gid);
        buf_printf(note, ", mode 0640, owner root, group %s", gr ? gr->gr_name : user);
    }
    if (fd >= 0)
        close(fd);
    conf_free(&conf);
}

static int keygen(const char *conf_path, int argc, char **argv)
{
    const char *domain = NULL, *selector = NULL, *type = "rsa", *dir = ".";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--type") == 0 && i + 1 < argc)
            type = argv[++i];
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
            i++;
        else if (argv[i][0] == '-')
            return usage();
        else if (domain == NULL)
            domain = argv[i];
        else if (selector == NULL)
            selector = argv[i];
        else
            return usage();
    }
    if (domain == NULL || selector == NULL)
        return usage();
    char dom[DOMAIN_MAX + 1];
    if (!domain_copy(dom, domain, strlen(domain)) || strchr(dom, '.') == NULL) {
        fprintf(stderr, "postern: '%s' is not a domain\n", domain);
        return 1;
    }
    if (!domain_valid(selector, strlen(selector)) || strlen(selector) > 63 ||
        strlen(selector) + strlen(dom) + 12 > DOMAIN_MAX) {
        fprintf(stderr, "postern: '%s' is not a valid selector\n", selector);
        return 1;
    }
    enum dkim_key_type t;
    if (strcmp(type, "rsa") == 0)
        t = DKIM_KEY_RSA;
    else if (strcmp(type, "ed25519") == 0)
        t = DKIM_KEY_ED25519;
    else
        return usage();
    EVP_PKEY *pkey = dkim_key_generate(t);
    if (pkey == NULL) {
        fputs("postern: key generation failed\n", stderr);
        return 1;
    }
    char *path = xasprintf("%s/%s.%s.key", dir, dom, selector);
    struct buf err, rec;
    buf_init(&err);
    buf_init(&rec);
    int rc = 1;
    if (!dkim_key_write(pkey, path, &err)) {
        fprintf(stderr, "postern: %s\n", err.data);
        goto out;
    }
    struct buf note;
    buf_init(&note);
    keygen_share(conf_path, path, &note);
    dkim_key_record(pkey, &rec);
    /* A TXT character-string holds 255 octets: longer records (RSA) are
     * published as several strings, which receivers concatenate. */
    printf("%s._domainkey.%s. IN TXT", selector, dom);
    for (size_t i = 0; i < rec.len; i += 255)
        printf(" \"%.*s\"", (int)(rec.len - i < 255 ? rec.len - i : 255), rec.data + i);
    putchar('\n');
    char *abs = realpath(path, NULL);
    fprintf(stderr,
            "postern: wrote %s (%s%s); publish the TXT record above, then add to the "
            "configuration:\n[dkim]\n%s = %s:%s\n",
            path, t == DKIM_KEY_RSA ? "rsa 2048" : "ed25519", note.data ? note.data : "", dom,
            selector, abs ? abs : path);
    free(abs);
    buf_free(&note);
    rc = 0;
out:
    EVP_PKEY_free(pkey);
    free(path);
    buf_free(&err);
    buf_free(&rec);
    return rc;
}

static int sign(const char *conf_path, int argc, char **argv)
{
    const char *domain = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
            i++;
        else if (argv[i][0] == '-' || domain)
            return usage();
        else
            domain = argv[i];
    }
    if (domain == NULL)
        return usage();
    struct buf err, msg, field;
    buf_init(&err);
    buf_init(&msg);
    buf_init(&field);
    struct conf *conf = conf_load(conf_path, &err);
    struct dkim_key *key = NULL;
    bool lf = false;
    int rc = 1;
    if (conf == NULL) {
        fputs(err.data, stderr);
        goto out;
    }
    const struct conf_dkim *d = NULL;
    for (size_t i = 0; i < conf->ndkim; i++)
        if (domain_is_sub(domain, conf->dkim[i].domain) &&
            strlen(domain) == strlen(conf->dkim[i].domain))
            d = &conf->dkim[i];
    if (d == NULL) {
        fprintf(stderr, "postern: no [dkim] key for %s in %s\n", domain, conf_path);
        goto out;
    }
    key = dkim_key_load(d->domain, d->selector, d->key_file, &err);
    if (key == NULL) {
        fprintf(stderr, "postern: %s\n", err.data);
        goto out;
    }
    if (!read_message(&msg, &lf))
        goto out;
    if (!dkim_sign_message(key, msg.data ? msg.data : "", msg.len, time(NULL), &field, &err)) {
        fprintf(stderr, "postern: %s\n", err.data);
        goto out;
    }
    write_out(field.data, field.len, lf);
    write_out(msg.data ? msg.data : "", msg.len, lf);
    rc = fflush(stdout) == 0 ? 0 : 1;
out:
    dkim_key_free(&key);
    conf_free(&conf);
    buf_free(&err);
    buf_free(&msg);
    buf_free(&field);
    return rc;
}

static void on_checked(void *arg)
{
    event_base_loopexit(arg, NULL);
}

static int verify(const char *conf_path, int argc, char **argv)
{
    const char *ip = NULL, *helo = NULL, *mail_from = "";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
            i++;
        else if (strcmp(argv[i], "--ip") == 0 && i + 1 < argc)
            ip = argv[++i];
        else if (strcmp(argv[i], "--helo") == 0 && i + 1 < argc)
            helo = argv[++i];
        else if (strcmp(argv[i], "--mail-from") == 0 && i + 1 < argc)
            mail_from = argv[++i];
        else
            return usage();
    }
    struct buf err, msg, field;
    buf_init(&err);
    buf_init(&msg);
    buf_init(&field);
    struct conf *conf = conf_load(conf_path, &err);
    struct event_base *base = NULL;
    struct dns_resolver *resolver = NULL;
    struct mailauth *m = NULL;
    char tmp[] = "/tmp/postern-dkim-XXXXXX";
    bool have_tmp = false;
    bool lf;
    int rc = 1;
    if (conf == NULL) {
        fputs(err.data, stderr);
        goto out;
    }
    if (!read_message(&msg, &lf))
        goto out;
    /* The resolver writes its configuration file into a directory of its
     * own; the daemon's run/ may not be writable here. */
    if (mkdtemp(tmp) == NULL) {
        fprintf(stderr, "postern: mkdtemp: %s\n", strerror(errno));
        goto out;
    }
    have_tmp = true;
    base = event_base_new();
    resolver =
        base ? dns_resolver_new(base, conf->resolver, tmp, conf->relay_dns_timeout_ms, &err) : NULL;
    if (resolver == NULL) {
        fputs(err.len ? err.data : "postern: cannot start the event loop\n", stderr);
        goto out;
    }
    m = mailauth_new(base, resolver, conf->hostname);
    if (ip)
        mailauth_spf_start(m, ip, helo ? helo : "", mail_from);
    mailauth_data(m, msg.data ? msg.data : "", msg.len);
    mailauth_end(m, on_checked, base);
    event_base_dispatch(base);
    for (size_t i = 0; i < mailauth_dkim_count(m); i++) {
        const struct dkim_sig_result *r = mailauth_dkim(m, i);
        printf("dkim=%s d=%s s=%s (%s)\n", dkim_result_name(r->result), r->domain, r->selector,
               r->why);
        if (r->result == DKIM_PASS)
            rc = 0;
    }
    if (mailauth_dkim_count(m) == 0)
        printf("dkim=none (no signature)\n");
    mailauth_authres(m, &field);
    write_out(field.data, field.len, true);
out:
    mailauth_free(&m);
    dns_resolver_free(&resolver);
    if (base)
        event_base_free(base);
    if (have_tmp) {
        char *f = xasprintf("%s/resolver.conf", tmp);
        unlink(f);
        free(f);
        rmdir(tmp);
    }
    conf_free(&conf);
    buf_free(&err);
    buf_free(&msg);
    buf_free(&field);
    return rc;
}

int cli_dkim(const char *conf_path, int argc, char **argv)
{
    if (argc < 1)
        return usage();
    if (strcmp(argv[0], "keygen") == 0)
        return keygen(conf_path, argc, argv);
    if (strcmp(argv[0], "sign") == 0)
        return sign(conf_path, argc, argv);
    if (strcmp(argv[0], "verify") == 0)
        return verify(conf_path, argc, argv);
    return usage();
}
