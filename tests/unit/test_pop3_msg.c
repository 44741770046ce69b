/* RETR/TOP encoding of stored messages and the CRLF size LIST reports:
 * they must agree for every input, however it is split into reads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/pop3_msg.h"

/* Encodes in, fed in chunks of step octets, and finishes. */
static char *encode(const char *in, size_t len, size_t step, bool top, uint32_t lines)
{
    struct pop3_msg_encoder e;
    pop3_msg_encoder_init(&e, top, lines);
    struct buf out;
    buf_init(&out);
    for (size_t off = 0; off < len;) {
        size_t n = len - off < step ? len - off : step;
        size_t used = pop3_msg_encode(&e, in + off, n, &out);
        if (used < n) {
            assert_true(e.done);
            break;
        }
        off += n;
    }
    pop3_msg_finish(&e, &out);
    return out.data;
}

static uint64_t crlf_size(const char *in, size_t len, size_t step)
{
    struct pop3_msg_counter c = {0};
    for (size_t off = 0; off < len; off += step)
        pop3_msg_count(&c, in + off, len - off < step ? len - off : step);
    return c.size;
}

static void test_lf_becomes_crlf_and_dots_are_stuffed(void **state)
{
    const char *in = "Subject: x\n\n.dot\n..two\n.\nend\n";
    for (size_t step = 1; step <= strlen(in); step++) {
        char *out = encode(in, strlen(in), step, false, 0);
        assert_string_equal(out, "Subject: x\r\n\r\n..dot\r\n...two\r\n..\r\nend\r\n.\r\n");
        free(out);
        assert_int_equal(crlf_size(in, strlen(in), step), strlen(in) + 6);
    }
}

static void test_crlf_files_are_not_doubled(void **state)
{
    const char *in = "A: b\r\n\r\n.x\r\nmixed\nend\r\n";
    for (size_t step = 1; step <= strlen(in); step++) {
        char *out = encode(in, strlen(in), step, false, 0);
        assert_string_equal(out, "A: b\r\n\r\n..x\r\nmixed\r\nend\r\n.\r\n");
        free(out);
        assert_int_equal(crlf_size(in, strlen(in), step), strlen(in) + 1);
    }
}

static void test_missing_final_newline_and_lone_cr(void **state)
{
    char *out = encode("A: b\n\nlast", 10, 3, false, 0);
    assert_string_equal(out, "A: b\r\n\r\nlast\r\n.\r\n");
    free(out);
    out = encode("a\rb\n", 4, 1, false, 0);
    assert_string_equal(out, "a\rb\r\n.\r\n"); /* a lone CR passes as data */
    free(out);
    out = encode("x\r", 2, 1, false, 0);
    assert_string_equal(out, "x\r\n.\r\n");
    free(out);
    out = encode("", 0, 1, false, 0);
    assert_string_equal(out, ".\r\n");
    free(out);
    assert_int_equal(crlf_size("a\rb\n", 4, 1), 5);
}

static void test_top_counts_body_lines(void **state)
{
    const char *in = "H: 1\nH: 2\n\nl1\n.l2\nl3\n";
    for (size_t step = 1; step <= strlen(in); step++) {
        char *out = encode(in, strlen(in), step, true, 0);
        assert_string_equal(out, "H: 1\r\nH: 2\r\n\r\n.\r\n");
        free(out);
        out = encode(in, strlen(in), step, true, 2);
        assert_string_equal(out, "H: 1\r\nH: 2\r\n\r\nl1\r\n..l2\r\n.\r\n");
        free(out);
        out = encode(in, strlen(in), step, true, 100);
        assert_string_equal(out, "H: 1\r\nH: 2\r\n\r\nl1\r\n..l2\r\nl3\r\n.\r\n");
        free(out);
    }
    /* CRLF headers: the empty line is "\r\n". */
    char *out = encode("H: 1\r\n\r\nb1\r\nb2\r\n", 16, 5, true, 1);
    assert_string_equal(out, "H: 1\r\n\r\nb1\r\n.\r\n");
    free(out);
    /* No empty line at all: everything is headers. */
    out = encode("H: 1\nH: 2\n", 10, 4, true, 0);
    assert_string_equal(out, "H: 1\r\nH: 2\r\n.\r\n");
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lf_becomes_crlf_and_dots_are_stuffed),
        cmocka_unit_test(test_crlf_files_are_not_doubled),
        cmocka_unit_test(test_missing_final_newline_and_lone_cr),
        cmocka_unit_test(test_top_counts_body_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
