/* The outbound connection (net/conn_client.h) on a real event loop over
 * loopback: connect failures reported from the loop, STARTTLS with
 * plaintext injected after the 220 dropped, name checks (with MTA-STS
 * style patterns), DANE-EE records that match and ones that do not. The
 * server side is a net/conn with a certificate made here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "net/conn.h"
#include "net/conn_client.h"
#include "net/tls.h"

#define INJECTED "250 injected\r\n"

static X509 *cert;
static EVP_PKEY *key;
static SSL_CTX *server_ctx;

/* A self-signed certificate for mx.test (subject and DNS name). */
static int make_cert(void **state)
{
    key = EVP_EC_gen("P-256");
    assert_non_null(key);
    cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, key);
    X509_NAME *name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"mx.test", -1, -1,
                               0);
    X509_set_issuer_name(cert, name);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, cert, cert, NULL, NULL, 0);
    X509_EXTENSION *san = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "DNS:mx.test");
    assert_non_null(san);
    X509_add_ext(cert, san, -1);
    X509_EXTENSION_free(san);
    assert_true(X509_sign(cert, key, EVP_sha256()) > 0);
    server_ctx = SSL_CTX_new(TLS_server_method());
    assert_int_equal(SSL_CTX_use_certificate(server_ctx, cert), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(server_ctx, key), 1);
    return 0;
}

static int free_cert(void **state)
{
    SSL_CTX_free(server_ctx);
    X509_free(cert);
    EVP_PKEY_free(key);
    return 0;
}

/* The SHA2-256 of the certificate's SubjectPublicKeyInfo: "3 1 1". */
static void spki_sha256(unsigned char out[32])
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(key, &der);
    assert_true(n > 0);
    SHA256(der, (size_t)n, out);
    OPENSSL_free(der);
}

/* ---- one client/server run ------------------------------------------ */

struct run {
    struct event_base *base;
    SSL_CTX *client_ctx;
    const struct conn_tls_client *params;
    struct conn *client, *server;
    struct event *accept_ev;
    int listen_fd;
    bool in_call; /* inside a conn_* call made by the test */
    bool called_inside;
    /* results */
    bool connected, tls_done, starttls_refused, server_closed;
    size_t injected;
    char why[200];
    char verify_error[200];
    bool verify_failed;
    char subject[200], version[40];
    char after_tls[100];
};

static void server_read(struct conn *c, void *arg)
{
    size_t n;
    const char *p = conn_input_peek(c, &n);
    if (p == NULL)
        return;
    if (!conn_tls_started(c)) {
        if (n >= 10 && memcmp(p, "STARTTLS\r\n", 10) == 0) {
            /* The go-ahead and an injection in one segment. */
            conn_printf(c, "220 go ahead\r\n" INJECTED);
            assert_true(conn_starttls(c, server_ctx));
        }
        return;
    }
    conn_input_drain(c, n);
}

static void server_tls_done(struct conn *c, void *arg)
{
    conn_printf(c, "250 secure\r\n");
}

static void server_close(struct conn *c, void *arg, const char *why)
{
    struct run *r = arg;
    r->server_closed = true;
}

static void no_deadline(struct conn *c, void *arg)
{
}

static const struct conn_callbacks server_cb = {
    .on_read = server_read,
    .on_deadline = no_deadline,
    .on_close = server_close,
    .on_tls_done = server_tls_done,
};

static void on_accept(evutil_socket_t fd, short what, void *arg)
{
    struct run *r = arg;
    struct sockaddr_in peer;
    socklen_t len = sizeof(peer);
    int s = accept(fd, (struct sockaddr *)&peer, &len);
    assert_true(s >= 0);
    evutil_make_socket_nonblocking(s);
    r->server = conn_new(r->base, s, (struct sockaddr *)&peer, len, &server_cb, r);
}

static void note_inside(struct run *r)
{
    if (r->in_call)
        r->called_inside = true;
}

static void client_connected(struct conn *c, void *arg)
{
    struct run *r = arg;
    note_inside(r);
    r->connected = true;
    if (r->params == NULL) {
        r->in_call = true;
        conn_close_after_write(c);
        r->in_call = false;
        return;
    }
    r->in_call = true;
    conn_printf(c, "STARTTLS\r\n");
    r->in_call = false;
}

static void client_read(struct conn *c, void *arg)
{
    struct run *r = arg;
    note_inside(r);
    size_t len = conn_input_length(c);
    if (!r->tls_done && !conn_tls_started(c)) {
        const char *go = "220 go ahead\r\n";
        if (len < strlen(go) + strlen(INJECTED))
            return; /* both arrive in one segment on loopback */
        size_t n;
        const char *p = conn_input_peek(c, &n);
        assert_true(n >= strlen(go));
        assert_memory_equal(p, go, strlen(go));
        conn_input_drain(c, strlen(go));
        r->injected = conn_input_length(c);
        char err[200];
        r->in_call = true;
        bool ok = conn_starttls_client(c, r->client_ctx, r->params, err, sizeof(err));
        r->in_call = false;
        if (!ok) {
            r->starttls_refused = true;
            snprintf(r->why, sizeof(r->why), "%s", err);
            event_base_loopbreak(r->base);
            return;
        }
        assert_int_equal(conn_input_length(c), 0); /* the injection is gone */
        return;
    }
    size_t n;
    const char *p = conn_input_peek(c, &n);
    if (p == NULL)
        return;
    size_t have = strlen(r->after_tls);
    if (have + n < sizeof(r->after_tls)) {
        memcpy(r->after_tls + have, p, n);
        r->after_tls[have + n] = '\0';
    }
    conn_input_drain(c, n);
    if (strstr(r->after_tls, "\r\n")) {
        r->in_call = true;
        conn_close_after_write(c);
        r->in_call = false;
    }
}

static void client_tls_done(struct conn *c, void *arg)
{
    struct run *r = arg;
    note_inside(r);
    r->tls_done = true;
    const char *e = conn_tls_verify_error(c);
    snprintf(r->verify_error, sizeof(r->verify_error), "%s", e ? e : "");
    r->verify_failed = conn_tls_verify_failed(c);
    conn_tls_peer_subject(c, r->subject, sizeof(r->subject));
    snprintf(r->version, sizeof(r->version), "%s", conn_tls_version(c));
    assert_string_not_equal(conn_tls_cipher(c), "none");
}

static void client_close(struct conn *c, void *arg, const char *why)
{
    struct run *r = arg;
    note_inside(r);
    snprintf(r->why, sizeof(r->why), "%s", why);
    if (!r->tls_done && conn_tls_started(c)) {
        const char *e = conn_tls_verify_error(c);
        snprintf(r->verify_error, sizeof(r->verify_error), "%s", e ? e : "");
        r->verify_failed = conn_tls_verify_failed(c);
    }
    event_base_loopbreak(r->base);
}

static void client_deadline(struct conn *c, void *arg)
{
    struct run *r = arg;
    snprintf(r->why, sizeof(r->why), "test deadline");
    event_base_loopbreak(r->base);
}

static const struct conn_callbacks client_cb = {
    .on_read = client_read,
    .on_deadline = client_deadline,
    .on_close = client_close,
    .on_tls_done = client_tls_done,
    .on_connected = client_connected,
};

static int listen_loopback(struct sockaddr_in *sa)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)sa, sizeof(*sa)), 0);
    socklen_t len = sizeof(*sa);
    assert_int_equal(getsockname(fd, (struct sockaddr *)sa, &len), 0);
    assert_int_equal(listen(fd, 4), 0);
    return fd;
}

/* Connects to a fresh loopback server and runs until the client closes. */
static void run(struct run *r, SSL_CTX *client_ctx, const struct conn_tls_client *params)
{
    memset(r, 0, sizeof(*r));
    r->base = event_base_new();
    r->client_ctx = client_ctx;
    r->params = params;
    struct sockaddr_in sa;
    r->listen_fd = listen_loopback(&sa);
    r->accept_ev = event_new(r->base, r->listen_fd, EV_READ | EV_PERSIST, on_accept, r);
    event_add(r->accept_ev, NULL);
    r->in_call = true;
    r->client = conn_connect(r->base, (struct sockaddr *)&sa, sizeof(sa), &client_cb, r);
    conn_set_input_max(r->client, 4096);
    conn_set_deadline(r->client, 5000);
    r->in_call = false;
    event_base_dispatch(r->base);
    conn_free(&r->client);
    conn_free(&r->server);
    /* Callbacks deferred to the loop hold their bufferevent until they
     * ran: let them, as the daemon's loop would. */
    event_base_loop(r->base, EVLOOP_NONBLOCK);
    event_free(r->accept_ev);
    close(r->listen_fd);
    event_base_free(r->base);
    assert_false(r->called_inside); /* every event came from the loop */
}

static SSL_CTX *opportunistic_ctx(bool trust_cert)
{
    struct buf err;
    buf_init(&err);
    SSL_CTX *ctx = tls_client_new(false, NULL, &err);
    assert_non_null(ctx);
    buf_free(&err);
    if (trust_cert)
        X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), cert);
    return ctx;
}

/* ---- the cases ------------------------------------------------------- */

static void test_refused_from_the_loop(void **state)
{
    struct sockaddr_in sa;
    int fd = listen_loopback(&sa);
    close(fd); /* nobody listens there now */
    struct run r = {0};
    r.base = event_base_new();
    r.in_call = true;
    r.client = conn_connect(r.base, (struct sockaddr *)&sa, sizeof(sa), &client_cb, &r);
    r.in_call = false;
    conn_set_deadline(r.client, 5000);
    event_base_dispatch(r.base);
    assert_false(r.called_inside);
    assert_false(r.connected);
    assert_string_equal(r.why, "Connection refused");
    conn_free(&r.client);
    event_base_free(r.base);
}

static void test_unreachable_from_the_loop(void **state)
{
    /* connect() fails at once (broadcast, no route): still an on_close
     * from the loop, with the reason. */
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(25)};
    sa.sin_addr.s_addr = htonl(INADDR_BROADCAST);
    struct run r = {0};
    r.base = event_base_new();
    r.in_call = true;
    r.client = conn_connect(r.base, (struct sockaddr *)&sa, sizeof(sa), &client_cb, &r);
    r.in_call = false;
    conn_set_deadline(r.client, 5000);
    event_base_dispatch(r.base);
    assert_false(r.called_inside);
    assert_false(r.connected);
    assert_true(r.why[0] != '\0');
    assert_string_not_equal(r.why, "test deadline");
    assert_string_not_equal(r.why, "done");
    conn_free(&r.client);
    event_base_free(r.base);
}

static void test_connect_and_close(void **state)
{
    struct run r;
    run(&r, NULL, NULL);
    assert_true(r.connected);
    assert_string_equal(r.why, "done");
}

static void test_starttls_drops_injection_and_checks_names(void **state)
{
    SSL_CTX *ctx = opportunistic_ctx(true);
    struct conn_tls_client p = {.sni = "mx.test", .verify_name = "mx.test"};
    struct run r;
    run(&r, ctx, &p);
    assert_int_equal(r.injected, strlen(INJECTED));
    assert_true(r.tls_done);
    assert_string_equal(r.verify_error, "");
    assert_false(r.verify_failed);
    assert_non_null(strstr(r.subject, "CN=mx.test"));
    assert_int_equal(strncmp(r.version, "TLSv1.", 6), 0);
    /* Only what came inside TLS is read: not the injected reply. */
    assert_string_equal(r.after_tls, "250 secure\r\n");
    assert_string_equal(r.why, "done");

    /* The wrong name: opportunistic, so the handshake completes and the
     * result is there to log. */
    struct conn_tls_client wrong = {.sni = "other.test", .verify_name = "other.test"};
    run(&r, ctx, &wrong);
    assert_true(r.tls_done);
    assert_true(r.verify_failed);
    assert_string_equal(r.verify_error, "hostname mismatch");

    /* An MTA-STS style pattern names it after all; one of another domain
     * does not. */
    const char *patterns[] = {"*.test"};
    wrong.more_names = patterns;
    wrong.n_more_names = 1;
    run(&r, ctx, &wrong);
    assert_true(r.tls_done);
    assert_string_equal(r.verify_error, "");
    const char *others[] = {"*.example", "mx.test.example"};
    wrong.more_names = others;
    wrong.n_more_names = 2;
    run(&r, ctx, &wrong);
    assert_true(r.verify_failed);

    /* Required verification turns the mismatch into a failed handshake. */
    wrong.n_more_names = 0;
    wrong.require_verified = true;
    run(&r, ctx, &wrong);
    assert_false(r.tls_done);
    assert_true(r.verify_failed);
    assert_string_equal(r.verify_error, "hostname mismatch");
    assert_non_null(strstr(r.why, "certificate verify failed"));
    SSL_CTX_free(ctx);
}

static void test_untrusted_certificate_is_reported(void **state)
{
    SSL_CTX *ctx = opportunistic_ctx(false);
    struct conn_tls_client p = {.sni = "mx.test", .verify_name = "mx.test"};
    struct run r;
    run(&r, ctx, &p);
    assert_true(r.tls_done);
    assert_true(r.verify_failed);
    assert_string_equal(r.verify_error, "self-signed certificate");
    SSL_CTX_free(ctx);
}

static void test_dane_ee_match_and_mismatch(void **state)
{
    /* Not in the CA store, another name: DANE-EE matches the key alone. */
    SSL_CTX *ctx = opportunistic_ctx(false);
    unsigned char digest[32];
    spki_sha256(digest);
    struct conn_tlsa rec = {.usage = 3, .selector = 1, .mtype = 1, .data = digest, .len = 32};
    struct conn_tls_client p = {
        .verify_name = "mx.elsewhere.test", .tlsa = &rec, .n_tlsa = 1, .require_verified = true};
    struct run r;
    run(&r, ctx, &p);
    assert_true(r.tls_done);
    assert_string_equal(r.verify_error, "");
    assert_false(r.verify_failed);
    assert_string_equal(r.after_tls, "250 secure\r\n");

    unsigned char other[32];
    memcpy(other, digest, sizeof(other));
    other[0] ^= 0xff;
    rec.data = other;
    run(&r, ctx, &p);
    assert_false(r.tls_done);
    assert_true(r.verify_failed);
    assert_true(r.verify_error[0] != '\0');
    assert_true(r.why[0] != '\0');

    /* A malformed record: refused before anything is started. */
    struct conn_tlsa unusable = {.usage = 3, .selector = 1, .mtype = 1, .data = digest, .len = 31};
    p.tlsa = &unusable;
    run(&r, ctx, &p);
    assert_true(r.starttls_refused);
    assert_non_null(strstr(r.why, "TLSA record 0"));
    SSL_CTX_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused_from_the_loop),
        cmocka_unit_test(test_unreachable_from_the_loop),
        cmocka_unit_test(test_connect_and_close),
        cmocka_unit_test(test_starttls_drops_injection_and_checks_names),
        cmocka_unit_test(test_untrusted_certificate_is_reported),
        cmocka_unit_test(test_dane_ee_match_and_mismatch),
    };
    return cmocka_run_group_tests(tests, make_cert, free_cert);
}
