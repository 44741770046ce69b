/* COMPRESS=DEFLATE on struct conn (net/conn_deflate.c), over a socket pair
 * and a real event loop, plain and with TLS underneath (a certificate made
 * here). The test is the client: it deflates and inflates with zlib
 * itself. Small commands each in their own sync flush, delivered one octet
 * at a time, answered at once; a 1 MB reply that arrives whole and
 * flushed; the drained event only once the compressed octets left; the
 * close after the last reply (and TLS close_notify); a zip bomb inflated
 * no further than the input buffer; corrupt input closing the connection;
 * compressed octets that came with the command; pause and resume; the
 * refusals (twice, STARTTLS after). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <zlib.h>

#include "net/conn.h"
#include "util/buf.h"

#define BIG_LEN  (1024 * 1024)
#define BOMB_LEN ((size_t)64 * 1024 * 1024)
#define OK_LINE  "a OK DEFLATE active\r\n"

static X509 *cert;
static EVP_PKEY *key;
static SSL_CTX *server_ctx, *client_ctx;

enum server_mode { SRV_ECHO, SRV_HOLD, SRV_COUNT };

/* The server: a made-up line protocol on a net/conn. */
static struct server {
    struct conn *c;
    enum server_mode mode;
    struct buf lines; /* "LINE|" per line */
    bool closed;
    char why[200];
    unsigned drained;
    size_t pending_at_drain;
    bool reply_out_at_drain; /* the client could read the reply when drained ran */
    size_t counted, max_input;
    bool all_zero;
} srv;

/* The client: a socket (maybe TLS) and its own zlib streams. */
static struct peer {
    int fd;
    SSL *ssl;
    bool compressing;
    z_stream zout, zin;
    struct buf got; /* plain text received (inflated once compressing) */
    unsigned char tail[4];
    size_t raw;
    bool eof, close_notify, inflate_error;
} peer;

static struct event_base *base;
static struct buf big;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

/* ---- the client ------------------------------------------------------ */

static void peer_take(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        memmove(peer.tail, peer.tail + 1, 3);
        peer.tail[3] = p[i];
    }
    peer.raw += n;
    if (!peer.compressing) {
        buf_append(&peer.got, p, n);
        return;
    }
    peer.zin.next_in = (unsigned char *)p;
    peer.zin.avail_in = (uInt)n;
    do {
        unsigned char out[16384];
        peer.zin.next_out = out;
        peer.zin.avail_out = sizeof(out);
        int r = inflate(&peer.zin, Z_SYNC_FLUSH);
        if (r != Z_OK && r != Z_BUF_ERROR) {
            peer.inflate_error = true;
            return;
        }
        buf_append(&peer.got, out, sizeof(out) - peer.zin.avail_out);
        if (r == Z_BUF_ERROR)
            break;
    } while (peer.zin.avail_in > 0 || peer.zin.avail_out == 0);
}

/* Reads what the kernel has for us, without waiting. */
static void peer_poll(void)
{
    for (;;) {
        unsigned char in[65536];
        ssize_t n;
        if (peer.ssl) {
            n = SSL_read(peer.ssl, in, sizeof(in));
            if (n <= 0) {
                int e = SSL_get_error(peer.ssl, (int)n);
                if (e == SSL_ERROR_ZERO_RETURN)
                    peer.close_notify = peer.eof = true;
                else if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                    peer.eof = true;
                return;
            }
        } else {
            n = read(peer.fd, in, sizeof(in));
            if (n == 0)
                peer.eof = true;
            if (n <= 0)
                return;
        }
        peer_take(in, (size_t)n);
    }
}

/* One round of the server's loop, then the client reads. */
static void pump(void)
{
    for (int i = 0; i < 3; i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
    peer_poll();
}

#define PUMP_UNTIL(cond)                                                                           \
    do {                                                                                           \
        double until_ = now_ms() + 10000;                                                          \
        while (!(cond) && now_ms() < until_) {                                                     \
            pump();                                                                                \
            if (!(cond))                                                                           \
                usleep(100);                                                                       \
        }                                                                                          \
    } while (0)

static void peer_write(const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n;
        if (peer.ssl) {
            n = SSL_write(peer.ssl, p, (int)(len > 16384 ? 16384 : len));
            if (n <= 0) {
                int e = SSL_get_error(peer.ssl, (int)n);
                assert_true(e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ);
                n = 0;
            }
        } else {
            n = write(peer.fd, p, len);
            if (n < 0) {
                assert_int_equal(errno, EAGAIN);
                n = 0;
            }
        }
        p += n;
        len -= (size_t)n;
        if (len > 0)
            pump(); /* the server reads, the socket takes more */
    }
}

/* Deflates text with one sync flush at its end (as clients do per command). */
static void deflate_text(const void *text, size_t len, int flush, struct buf *out)
{
    peer.zout.next_in = (unsigned char *)text;
    peer.zout.avail_in = (uInt)len;
    do {
        unsigned char chunk[16384];
        peer.zout.next_out = chunk;
        peer.zout.avail_out = sizeof(chunk);
        int r = deflate(&peer.zout, flush);
        assert_true(r == Z_OK || r == Z_BUF_ERROR);
        buf_append(out, chunk, sizeof(chunk) - peer.zout.avail_out);
    } while (peer.zout.avail_out == 0 || peer.zout.avail_in > 0);
}

static void peer_send(const char *text, bool octet_by_octet)
{
    struct buf z;
    buf_init(&z);
    deflate_text(text, strlen(text), Z_SYNC_FLUSH, &z);
    if (octet_by_octet) {
        for (size_t i = 0; i < z.len; i++) {
            peer_write(z.data + i, 1);
            pump();
        }
    } else {
        peer_write(z.data, z.len);
    }
    buf_free(&z);
}

static bool got_has(const char *s)
{
    buf_append_char(&peer.got, '\0');
    peer.got.len--;
    return strstr(peer.got.data, s) != NULL;
}

static bool tail_is_sync_flush(void)
{
    static const unsigned char marker[4] = {0x00, 0x00, 0xff, 0xff};
    return memcmp(peer.tail, marker, 4) == 0;
}

/* ---- the server ------------------------------------------------------ */

static void reply_big(struct conn *c)
{
    for (size_t off = 0; off < big.len; off += 16384)
        conn_write(c, big.data + off, big.len - off < 16384 ? big.len - off : 16384);
    conn_notify_drained(c, 0);
}

static void count_input(struct conn *c)
{
    struct evbuffer *in = conn_input(c);
    size_t n = evbuffer_get_length(in);
    if (n > srv.max_input)
        srv.max_input = n;
    struct evbuffer_iovec v[8];
    int k = evbuffer_peek(in, -1, NULL, v, 8);
    for (int i = 0; i < k && i < 8; i++)
        for (size_t j = 0; j < v[i].iov_len; j++)
            if (((const unsigned char *)v[i].iov_base)[j] != 0)
                srv.all_zero = false;
    size_t seen = 0;
    for (int i = 0; i < k && i < 8; i++)
        seen += v[i].iov_len;
    srv.counted += seen;
    evbuffer_drain(in, seen);
}

static void server_line(struct conn *c, const char *line)
{
    buf_printf(&srv.lines, "%s|", line);
    if (strcmp(line, "a COMPRESS DEFLATE") == 0) {
        conn_printf(c, OK_LINE);
        assert_true(conn_start_deflate(c));
    } else if (strcmp(line, "BIG") == 0) {
        reply_big(c);
    } else if (strcmp(line, "BYE") == 0) {
        conn_printf(c, "* BYE logging out\r\n");
        conn_close_after_write(c);
    } else if (strcmp(line, "DRAIN") == 0) {
        conn_printf(c, "* OK drained soon\r\n");
        conn_notify_drained(c, 0);
    } else {
        conn_printf(c, "* OK %s\r\n", line);
    }
}

static void server_read(struct conn *c, void *arg)
{
    if (srv.mode == SRV_HOLD) {
        size_t n = evbuffer_get_length(conn_input(c));
        if (n > srv.max_input)
            srv.max_input = n;
        return;
    }
    if (srv.mode == SRV_COUNT) {
        while (evbuffer_get_length(conn_input(c)) > 0)
            count_input(c);
        return;
    }
    size_t n;
    char *line;
    while (!srv.closed && (line = evbuffer_readln(conn_input(c), &n, EVBUFFER_EOL_CRLF_STRICT))) {
        server_line(c, line);
        free(line);
    }
}

static void server_drained(struct conn *c, void *arg)
{
    srv.drained++;
    srv.pending_at_drain = conn_output_pending(c);
    peer_poll(); /* whatever we were told is out must be readable now */
    srv.reply_out_at_drain = got_has("* OK drained soon\r\n") || peer.got.len >= big.len;
}

static void server_close(struct conn *c, void *arg, const char *why)
{
    srv.closed = true;
    snprintf(srv.why, sizeof(srv.why), "%s", why);
}

static void server_deadline(struct conn *c, void *arg)
{
}

static const struct conn_callbacks server_cb = {
    .on_read = server_read,
    .on_deadline = server_deadline,
    .on_close = server_close,
    .on_drained = server_drained,
};

/* ---- set-up ---------------------------------------------------------- */

/* A self-signed certificate for imap.test, and the 1 MB reply. */
static int group_setup(void **state)
{
    key = EVP_EC_gen("P-256");
    cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, key);
    X509_NAME *name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"imap.test", -1, -1,
                               0);
    X509_set_issuer_name(cert, name);
    if (X509_sign(cert, key, EVP_sha256()) <= 0)
        return -1;
    server_ctx = SSL_CTX_new(TLS_server_method());
    if (SSL_CTX_use_certificate(server_ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey(server_ctx, key) != 1)
        return -1;
    client_ctx = SSL_CTX_new(TLS_client_method());
    /* Lines that compress, though not to nothing: numbers change. */
    buf_init(&big);
    uint32_t x = 12345;
    for (unsigned i = 0; big.len < BIG_LEN; i++) {
        x = x * 1103515245u + 12345u;
        buf_printf(&big, "* %u FETCH (UID %u FLAGS (\\Seen) X-GUID %08x)\r\n", i + 1, i * 7 + 3, x);
    }
    big.len = BIG_LEN;
    return 0;
}

static int group_teardown(void **state)
{
    buf_free(&big);
    SSL_CTX_free(client_ctx);
    SSL_CTX_free(server_ctx);
    X509_free(cert);
    EVP_PKEY_free(key);
    return 0;
}

static void start(bool tls)
{
    memset(&srv, 0, sizeof(srv));
    memset(&peer, 0, sizeof(peer));
    buf_init(&srv.lines);
    buf_init(&peer.got);
    srv.all_zero = true;
    base = event_base_new();
    int fds[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
    peer.fd = fds[1];
    srv.c = conn_new_tls(base, fds[0], NULL, 0, tls ? server_ctx : NULL, &server_cb, NULL);
    assert_int_equal(deflateInit2(&peer.zout, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
    assert_int_equal(inflateInit2(&peer.zin, -15), Z_OK);
    if (tls) {
        peer.ssl = SSL_new(client_ctx);
        SSL_set_fd(peer.ssl, peer.fd);
        SSL_set_connect_state(peer.ssl);
        double until = now_ms() + 10000;
        int r;
        while ((r = SSL_do_handshake(peer.ssl)) != 1 && now_ms() < until) {
            int e = SSL_get_error(peer.ssl, r);
            assert_true(e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE);
            for (int i = 0; i < 3; i++)
                event_base_loop(base, EVLOOP_NONBLOCK);
            usleep(100);
        }
        assert_int_equal(r, 1);
        PUMP_UNTIL(conn_tls(srv.c) != NULL);
        assert_non_null(conn_tls(srv.c));
    }
    assert_false(conn_deflate_active(srv.c));
}

/* The command in plain text, the OK in plain text, then both compress. */
static void compress_on(void)
{
    peer_write("a COMPRESS DEFLATE\r\n", 20);
    PUMP_UNTIL(got_has(OK_LINE));
    assert_string_equal(peer.got.data, OK_LINE);
    assert_true(conn_deflate_active(srv.c));
    peer.compressing = true;
    buf_reset(&peer.got);
}

static void finish(void)
{
    conn_free(&srv.c);
    if (peer.ssl)
        SSL_free(peer.ssl);
    close(peer.fd);
    deflateEnd(&peer.zout);
    inflateEnd(&peer.zin);
    buf_free(&srv.lines);
    buf_free(&peer.got);
    event_base_free(base);
}

/* ---- tests ----------------------------------------------------------- */

static void small_commands(bool tls)
{
    start(tls);
    compress_on();
    for (int i = 1; i <= 5; i++) {
        char cmd[40], want[60];
        snprintf(cmd, sizeof(cmd), "a%d NOOP\r\n", i);
        snprintf(want, sizeof(want), "* OK a%d NOOP\r\n", i);
        size_t before = peer.got.len;
        peer_send(cmd, true);
        PUMP_UNTIL(got_has(want));
        assert_true(got_has(want));
        /* Nothing but the reply, and it ended in a flush we could read. */
        assert_int_equal(peer.got.len - before, strlen(want));
        assert_true(tail_is_sync_flush());
    }
    /* Two commands in one flush: two replies, one burst. */
    peer_send("b1 NOOP\r\nb2 NOOP\r\n", false);
    PUMP_UNTIL(got_has("* OK b2 NOOP\r\n"));
    assert_true(got_has("* OK b1 NOOP\r\n* OK b2 NOOP\r\n"));
    assert_false(peer.inflate_error);
    assert_false(srv.closed);
    assert_string_equal(srv.lines.data, "a COMPRESS DEFLATE|a1 NOOP|a2 NOOP|a3 NOOP|a4 NOOP|a5 "
                                        "NOOP|b1 NOOP|b2 NOOP|");
    finish();
}

static void test_small_commands_octet_by_octet(void **state)
{
    small_commands(false);
}

static void test_small_commands_tls(void **state)
{
    small_commands(true);
}

static void large_reply(bool tls)
{
    start(tls);
    compress_on();
    peer_send("BIG\r\n", false);
    PUMP_UNTIL(peer.got.len >= big.len && srv.drained > 0);
    assert_int_equal(peer.got.len, big.len);
    assert_memory_equal(peer.got.data, big.data, big.len);
    assert_true(peer.raw < big.len / 2); /* it was compressed */
    assert_true(tail_is_sync_flush());
    assert_int_equal(srv.drained, 1);
    assert_int_equal(srv.pending_at_drain, 0);
    assert_true(srv.reply_out_at_drain);
    /* Still interactive after the big one. */
    peer_send("a9 NOOP\r\n", false);
    PUMP_UNTIL(got_has("* OK a9 NOOP\r\n"));
    assert_true(got_has("* OK a9 NOOP\r\n"));
    finish();
}

static void test_large_reply(void **state)
{
    large_reply(false);
}

static void test_large_reply_tls(void **state)
{
    large_reply(true);
}

/* on_drained must wait for the compressor's flush, not only its input. */
static void test_drained_after_flush(void **state)
{
    start(false);
    compress_on();
    peer_send("DRAIN\r\n", false);
    PUMP_UNTIL(srv.drained > 0);
    assert_int_equal(srv.drained, 1);
    assert_int_equal(srv.pending_at_drain, 0);
    assert_true(srv.reply_out_at_drain);
    /* Asked while something is held: not at once. */
    conn_write(srv.c, "* 1 EXISTS\r\n", 12);
    assert_true(conn_output_pending(srv.c) > 0);
    srv.drained = 0;
    conn_notify_drained(srv.c, 0);
    PUMP_UNTIL(srv.drained > 0);
    assert_int_equal(srv.pending_at_drain, 0);
    assert_true(got_has("* 1 EXISTS\r\n"));
    finish();
}

static void close_after_write(bool tls)
{
    start(tls);
    compress_on();
    peer_send("BYE\r\n", false);
    PUMP_UNTIL(srv.closed);
    assert_true(srv.closed);
    assert_string_equal(srv.why, "done");
    /* Reported once everything was out: readable before the socket goes. */
    peer_poll();
    assert_true(got_has("* BYE logging out\r\n"));
    conn_free(&srv.c); /* as the session does in on_close */
    PUMP_UNTIL(peer.eof);
    assert_true(peer.eof);
    assert_string_equal(peer.got.data, "* BYE logging out\r\n");
    assert_true(tail_is_sync_flush());
    if (tls)
        assert_true(peer.close_notify);
    finish();
}

static void test_close_after_write(void **state)
{
    close_after_write(false);
}

static void test_close_after_write_tls(void **state)
{
    close_after_write(true);
}

/* 64 MB of zeros in some 64 KB: inflated a buffer at a time. */
static void test_zip_bomb_bounded(void **state)
{
    start(false);
    compress_on();
    srv.mode = SRV_HOLD;
    char *zeros = calloc(1, 1024 * 1024);
    struct buf z;
    buf_init(&z);
    for (size_t i = 0; i < BOMB_LEN / (1024 * 1024); i++)
        deflate_text(zeros, 1024 * 1024, Z_NO_FLUSH, &z);
    deflate_text("", 0, Z_SYNC_FLUSH, &z);
    free(zeros);
    assert_true(z.len < BOMB_LEN / 256);
    peer_write(z.data, z.len);
    buf_free(&z);
    for (int i = 0; i < 300; i++)
        pump();
    size_t held = evbuffer_get_length(conn_input(srv.c));
    assert_true(held > 0);
    assert_true(held <= CONN_INPUT_MAX);
    assert_true(srv.max_input <= CONN_INPUT_MAX);
    assert_false(srv.closed);
    /* The session takes it: the rest follows, never more at once. */
    srv.mode = SRV_COUNT;
    count_input(srv.c);
    PUMP_UNTIL(srv.counted >= BOMB_LEN);
    assert_int_equal(srv.counted, BOMB_LEN);
    assert_true(srv.all_zero);
    assert_true(srv.max_input <= CONN_INPUT_MAX);
    srv.mode = SRV_ECHO;
    peer_send("a2 NOOP\r\n", false);
    PUMP_UNTIL(got_has("* OK a2 NOOP\r\n"));
    assert_true(got_has("* OK a2 NOOP\r\n"));
    finish();
}

static void test_corrupt_input_closes(void **state)
{
    start(false);
    compress_on();
    peer_send("a1 NOOP\r\n", false);
    PUMP_UNTIL(got_has("* OK a1 NOOP\r\n"));
    /* A final block of type 3, which does not exist. */
    static const unsigned char bad[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    peer_write(bad, sizeof(bad));
    PUMP_UNTIL(srv.closed);
    assert_true(srv.closed);
    assert_true(strncmp(srv.why, "deflate error: ", 15) == 0);
    assert_non_null(strstr(srv.why, "invalid block type"));
    assert_string_equal(srv.lines.data, "a COMPRESS DEFLATE|a1 NOOP|");
    finish();
}

/* A client that compressed at once, before reading the OK: the octets
 * that came with the command are the stream's start. */
static void test_compressed_with_the_command(void **state)
{
    start(false);
    struct buf all;
    buf_init(&all);
    buf_append_str(&all, "a COMPRESS DEFLATE\r\n");
    deflate_text("a1 NOOP\r\n", 9, Z_SYNC_FLUSH, &all);
    peer_write(all.data, all.len);
    buf_free(&all);
    PUMP_UNTIL(got_has(OK_LINE));
    assert_true(got_has(OK_LINE));
    size_t ok_len = strlen(OK_LINE);
    assert_memory_equal(peer.got.data, OK_LINE, ok_len);
    /* What followed the OK is compressed: feed it to the inflater. */
    struct buf rest;
    buf_init(&rest);
    buf_append(&rest, peer.got.data + ok_len, peer.got.len - ok_len);
    buf_reset(&peer.got);
    peer.compressing = true;
    peer_take((const unsigned char *)rest.data, rest.len);
    buf_free(&rest);
    PUMP_UNTIL(got_has("* OK a1 NOOP\r\n"));
    assert_string_equal(peer.got.data, "* OK a1 NOOP\r\n");
    finish();
}

static void test_pause_and_resume(void **state)
{
    start(false);
    compress_on();
    conn_pause(srv.c);
    peer_send("a1 NOOP\r\n", false);
    for (int i = 0; i < 50; i++)
        pump();
    assert_false(got_has("a1"));
    conn_resume(srv.c);
    PUMP_UNTIL(got_has("* OK a1 NOOP\r\n"));
    assert_true(got_has("* OK a1 NOOP\r\n"));
    /* Held after the compressed octets were read: resume delivers them
     * without the client sending more. */
    srv.mode = SRV_HOLD;
    peer_send("a2 NOOP\r\n", false);
    PUMP_UNTIL(evbuffer_get_length(conn_input(srv.c)) == 9);
    conn_pause(srv.c);
    srv.mode = SRV_ECHO;
    for (int i = 0; i < 20; i++)
        pump();
    conn_resume(srv.c);
    server_read(srv.c, NULL); /* as a session does after its own pause */
    PUMP_UNTIL(got_has("* OK a2 NOOP\r\n"));
    assert_true(got_has("* OK a2 NOOP\r\n"));
    finish();
}

static void refusals(bool tls)
{
    start(tls);
    compress_on();
    assert_false(conn_start_deflate(srv.c)); /* COMPRESS twice */
    assert_false(conn_starttls(srv.c, server_ctx));
    assert_true(conn_deflate_active(srv.c));
    peer_send("a1 NOOP\r\n", false);
    PUMP_UNTIL(got_has("* OK a1 NOOP\r\n"));
    assert_true(got_has("* OK a1 NOOP\r\n"));
    finish();
}

static void test_refusals(void **state)
{
    refusals(false);
    refusals(true);
}

/* The peer goes away: on_close as without the layer. */
static void test_peer_close(void **state)
{
    start(false);
    compress_on();
    shutdown(peer.fd, SHUT_WR);
    PUMP_UNTIL(srv.closed);
    assert_string_equal(srv.why, "peer closed");
    finish();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_commands_octet_by_octet),
        cmocka_unit_test(test_small_commands_tls),
        cmocka_unit_test(test_large_reply),
        cmocka_unit_test(test_large_reply_tls),
        cmocka_unit_test(test_drained_after_flush),
        cmocka_unit_test(test_close_after_write),
        cmocka_unit_test(test_close_after_write_tls),
        cmocka_unit_test(test_zip_bomb_bounded),
        cmocka_unit_test(test_corrupt_input_closes),
        cmocka_unit_test(test_compressed_with_the_command),
        cmocka_unit_test(test_pause_and_resume),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_peer_close),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
