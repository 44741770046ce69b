/* Unit tests for proto/mime: the offsets, sizes and line counts of the
 * parts, boundaries (prefixes, a boundary cutting a header, a missing
 * final boundary, text after the boundary on its line), RFC 2231
 * parameters, the limits, bare LF and garbage, mime_to_crlf and the header
 * field scanner. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/mime.h"
#include "util/buf.h"

static struct mime_part *parse(const char *m)
{
    return mime_parse(m, strlen(m));
}

static void assert_body(const char *m, const struct mime_part *p, const char *want)
{
    assert_non_null(p);
    assert_int_equal(p->body_len, strlen(want));
    assert_memory_equal(m + p->body_off, want, p->body_len);
}

static void test_simple_offsets(void **state)
{
    (void)state;
    const char *m = "Subject: x\r\n\r\nline1\r\nline2";
    struct mime_part *r = parse(m);
    assert_int_equal(r->kind, MIME_LEAF);
    assert_int_equal(r->hdr_off, 0);
    assert_int_equal(r->hdr_len, 14);
    assert_body(m, r, "line1\r\nline2");
    assert_int_equal(r->body_lines, 1);
    assert_null(r->type);
    assert_true(mime_is_text(r));
    mime_free(r);
}

static void test_multipart_offsets(void **state)
{
    (void)state;
    const char *m =
        "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
        "pre\r\n--b\r\n\r\none\r\n--b  trailing\r\nContent-Type: text/x\r\n\r\ntwo\r\n\r\n"
        "--b--\r\nepi\r\n";
    struct mime_part *r = parse(m);
    assert_int_equal(r->kind, MIME_MULTIPART);
    assert_int_equal(r->n_children, 2);
    struct mime_part *one = mime_child(r, 1), *two = mime_child(r, 2);
    assert_null(mime_child(r, 3));
    assert_null(mime_child(r, 0));
    assert_int_equal(one->hdr_len, 2);
    assert_body(m, one, "one");
    assert_int_equal(one->body_lines, 0);
    assert_string_equal(two->subtype, "x");
    assert_body(m, two, "two\r\n");
    assert_int_equal(two->body_lines, 1);
    /* the multipart's body runs to the end, the epilogue in it */
    assert_int_equal(r->body_off + r->body_len, strlen(m));
    mime_free(r);
}

static void test_prefix_boundaries(void **state)
{
    (void)state;
    /* the inner boundary "a1" has the outer "a" as a prefix: the longest wins */
    const char *m = "Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n"
                    "Content-Type: multipart/mixed; boundary=a1\r\n\r\n--a1\r\n\r\nin\r\n--a1--\r\n"
                    "--a\r\n\r\nsecond\r\n--a--\r\n";
    struct mime_part *r = parse(m);
    assert_int_equal(r->n_children, 2);
    struct mime_part *inner = mime_child(r, 1);
    assert_int_equal(inner->kind, MIME_MULTIPART);
    assert_int_equal(inner->n_children, 1);
    assert_body(m, mime_child(inner, 1), "in");
    assert_body(m, mime_child(r, 2), "second");
    mime_free(r);
}

static void test_outer_boundary_closes_inner(void **state)
{
    (void)state;
    const char *m = "Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\n"
                    "Content-Type: multipart/mixed; boundary=i\r\n\r\n--i\r\n\r\nnever closed\r\n"
                    "--o\r\nSubject: cut\r\n--o--\r\n";
    struct mime_part *r = parse(m);
    assert_int_equal(r->n_children, 2);
    assert_body(m, mime_child(mime_child(r, 1), 1), "never closed");
    /* a boundary in the middle of a header ends it; the CRLF before it is
     * the boundary's */
    struct mime_part *cut = mime_child(r, 2);
    assert_int_equal(cut->hdr_len, strlen("Subject: cut"));
    assert_int_equal(cut->body_len, 0);
    mime_free(r);
}

static void test_message_rfc822(void **state)
{
    (void)state;
    const char *m = "Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n";
    struct mime_part *r = parse(m);
    assert_int_equal(r->kind, MIME_MESSAGE);
    assert_int_equal(r->n_children, 1);
    struct mime_part *c = r->first_child;
    assert_int_equal(c->hdr_off, r->body_off);
    assert_body(m, c, "inner body\r\n");
    assert_int_equal(r->body_lines, 3);
    mime_free(r);
}

static void test_params_2231(void **state)
{
    (void)state;
    const char *m = "Content-Type: text/plain; a*1=\"b\"; a*0=\"a\"; c*0*=utf-8''%41; c*1=\"%\";"
                    " gap*0=x; gap*2=y; q=\"x\\\"y\"; (comment) z = w\r\n\r\n";
    struct mime_part *r = parse(m);
    const struct mime_params *p = &r->type_params;
    /* plain ones first, in order; then the merged ones, sorted by name */
    assert_int_equal(p->n, 6);
    assert_string_equal(p->v[0].name, "q");
    assert_string_equal(p->v[0].value, "x\"y");
    assert_string_equal(p->v[1].name, "z");
    assert_string_equal(p->v[1].value, "w");
    assert_string_equal(p->v[2].name, "a");
    assert_string_equal(p->v[2].value, "ab");
    assert_string_equal(p->v[3].name, "c*");
    assert_string_equal(p->v[3].value, "utf-8''%41%25");
    /* an index missing: the pieces as sent */
    assert_string_equal(p->v[4].name, "gap*0");
    assert_string_equal(p->v[5].name, "gap*2");
    mime_free(r);
}

static void test_no_mime_version(void **state)
{
    (void)state;
    /* without MIME-Version or Content-Type the Content-* fields do not count */
    struct mime_part *r = parse("Content-Transfer-Encoding: base64\r\nContent-ID: <x>\r\n\r\nx");
    assert_null(r->encoding);
    assert_null(r->id);
    mime_free(r);
    r = parse("MIME-Version: 1.0\r\nContent-Transfer-Encoding: base64\r\n"
              "Content-Transfer-Encoding: 7bit\r\n\r\nx");
    assert_string_equal(r->encoding, "base64"); /* the first counts */
    mime_free(r);
}

static void test_depth_limit(void **state)
{
    (void)state;
    struct buf m;
    buf_init(&m);
    for (int i = 0; i < 1000; i++)
        buf_append_str(&m, "Content-Type: message/rfc822\r\n\r\n");
    struct mime_part *r = mime_parse(m.data, m.len);
    size_t depth = 0;
    const struct mime_part *p = r;
    while (p->first_child != NULL) {
        p = p->first_child;
        depth++;
    }
    assert_int_equal(depth, MIME_MAX_DEPTH - 1);
    assert_true(p->truncated);
    assert_int_equal(r->body_off + r->body_len, m.len);
    mime_free(r);
    buf_free(&m);
}

static void test_parts_limit(void **state)
{
    (void)state;
    struct buf m;
    buf_init(&m);
    buf_append_str(&m, "Content-Type: multipart/mixed; boundary=b\r\n\r\n");
    for (int i = 0; i < MIME_MAX_PARTS + 100; i++)
        buf_append_str(&m, "--b\r\n\r\nx\r\n");
    struct mime_part *r = mime_parse(m.data, m.len);
    assert_int_equal(r->n_children, MIME_MAX_PARTS - 1);
    /* the last part holds the rest, boundaries and all */
    const struct mime_part *last = mime_child(r, r->n_children);
    assert_true(last->body_len > 100 * 8);
    assert_int_equal(last->body_off + last->body_len, m.len);
    mime_free(r);
    buf_free(&m);
}

static void test_bare_lf_and_garbage(void **state)
{
    (void)state;
    const char *m = "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nlf body\n--b--\n";
    struct mime_part *r = parse(m);
    assert_int_equal(r->n_children, 1);
    assert_body(m, r->first_child, "lf body");
    mime_free(r);
    const char *junk[] = {"",
                          "\r",
                          "\n",
                          "\r\n",
                          ":",
                          "--",
                          "a",
                          "\r\n\r\n",
                          "Content-Type:",
                          "Content-Type: multipart/x; boundary=\"\"\r\n\r\n--\r\n--\r\n",
                          "Content-Type: multipart/x; boundary=\r\n\r\n--\r\n",
                          "Content-Type: (unclosed\r\n\r\n",
                          "X\0Y: z\r\n\r\n\0"};
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        size_t n = i == 12 ? 12 : strlen(junk[i]); /* the last one holds NULs */
        r = mime_parse(junk[i], n);
        assert_true(r->body_off + r->body_len <= n);
        assert_true(r->hdr_off + r->hdr_len == r->body_off);
        mime_free(r);
    }
}

static void test_to_crlf(void **state)
{
    (void)state;
    struct buf out;
    buf_init(&out);
    mime_to_crlf("\na\nb\r\nc\n\n", 9, &out);
    assert_int_equal(out.len, 13);
    assert_memory_equal(out.data, "\r\na\r\nb\r\nc\r\n\r\n", 13);
    buf_free(&out);
}

static void test_fields(void **state)
{
    (void)state;
    const char *h = "A : one\r\nB:two\r\n  folded\r\nno colon\r\n\r\nBody: no";
    size_t pos = 0;
    struct mime_field f;
    struct buf v;
    buf_init(&v);
    assert_true(mime_field_next(h, strlen(h), &pos, &f));
    assert_int_equal(f.name_len, 1);
    assert_memory_equal(f.value, "one", 3);
    assert_true(mime_field_next(h, strlen(h), &pos, &f));
    mime_field_value(&f, &v);
    assert_string_equal(v.data, "two\n  folded");
    assert_int_equal(f.len, strlen("B:two\r\n  folded\r\n"));
    assert_true(mime_field_next(h, strlen(h), &pos, &f));
    assert_int_equal(f.name_len, strlen("no colon"));
    assert_int_equal(f.value_len, 0);
    assert_false(mime_field_next(h, strlen(h), &pos, &f));
    buf_free(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_offsets),
        cmocka_unit_test(test_multipart_offsets),
        cmocka_unit_test(test_prefix_boundaries),
        cmocka_unit_test(test_outer_boundary_closes_inner),
        cmocka_unit_test(test_message_rfc822),
        cmocka_unit_test(test_params_2231),
        cmocka_unit_test(test_no_mime_version),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_parts_limit),
        cmocka_unit_test(test_bare_lf_and_garbage),
        cmocka_unit_test(test_to_crlf),
        cmocka_unit_test(test_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
