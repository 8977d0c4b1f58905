/*
 * tests/test_outbuf.c — bounded text building: never past the buffer,
 * full length reported, NUL placement, escaping of untrusted bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/outbuf.h"

static void test_put_and_cut(void **state)
{
    (void)state;
    for (size_t cap = 0; cap <= 12; cap++) {
        char buf[16];
        memset(buf, 'Z', sizeof(buf));
        struct outbuf o = outbuf_make(buf, cap);
        outbuf_puts(&o, "hello");
        outbuf_put(&o, ", ", 2);
        outbuf_put(&o, NULL, 0);
        outbuf_puts(&o, "you");
        assert_int_equal(outbuf_finish(&o), 10);
        if (cap > 0) {
            size_t k = cap - 1 < 10 ? cap - 1 : 10;
            assert_memory_equal(buf, "hello, you", k);
            assert_int_equal(buf[k], '\0');
        }
        for (size_t i = cap; i < sizeof(buf); i++)
            assert_int_equal(buf[i], 'Z');
    }
    /* No buffer at all. */
    struct outbuf o = outbuf_make(NULL, 0);
    outbuf_puts(&o, "abc");
    assert_int_equal(outbuf_finish(&o), 3);
}

static void test_escaped(void **state)
{
    char buf[64];
    struct outbuf o;
    (void)state;

    o = outbuf_make(buf, sizeof(buf));
    outbuf_put_escaped(&o, "a \"b\"\\\n\x01\x7f\xff~", 11, 100);
    outbuf_finish(&o);
    assert_string_equal(buf, "a \\x22b\\x22\\x5c\\x0a\\x01\\x7f\\xff~");

    o = outbuf_make(buf, sizeof(buf));
    outbuf_put_escaped(&o, "abcdef", 6, 4);
    outbuf_finish(&o);
    assert_string_equal(buf, "abcd...");

    o = outbuf_make(buf, sizeof(buf));
    outbuf_put_escaped(&o, "abcd", 4, 4); /* exactly max: no marker */
    outbuf_put_escaped(&o, "\0", 1, 4);
    outbuf_finish(&o);
    assert_string_equal(buf, "abcd\\x00");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_and_cut),
        cmocka_unit_test(test_escaped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
