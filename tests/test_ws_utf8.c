/*
 * tests/test_ws_utf8.c — incremental UTF-8 validation.
 *
 * Every vector is fed whole, one byte at a time and split at every offset.
 * An independent reference (decode code points, then check ranges) judges
 * exhaustive short sequences and every prefix, so "incomplete" is checked to
 * mean "can still be completed to valid UTF-8" and nothing weaker.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proto/ws_utf8.h"

/* ---------------------------------------------------------- reference */

/*
 * Status of p[0..n) by decoding. A trailing partial sequence is incomplete
 * when some completion is valid: its bits fix a range of code points, which
 * must meet the range of its length without lying inside the surrogates.
 */
static int ref_status(const uint8_t *p, size_t n)
{
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    static const uint32_t max_cp[5] = {0, 0x7F, 0x7FF, 0xFFFF, 0x10FFFF};
    size_t i = 0;

    while (i < n) {
        uint8_t c = p[i];
        unsigned len;
        uint32_t cp;

        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xE0) == 0xC0) {
            len = 2;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4;
            cp = c & 0x07;
        } else {
            return WS_UTF8_INVALID;
        }
        unsigned have = 1;
        while (have < len && i + have < n) {
            if ((p[i + have] & 0xC0) != 0x80)
                return WS_UTF8_INVALID;
            cp = cp << 6 | (p[i + have] & 0x3F);
            have++;
        }
        unsigned missing = len - have;
        uint32_t lo = cp << (6 * missing);
        uint32_t hi = lo | ((1u << (6 * missing)) - 1);
        uint32_t max = max_cp[len];
        if (hi < min_cp[len] || lo > max)
            return WS_UTF8_INVALID;
        if (lo >= 0xD800 && hi <= 0xDFFF)
            return WS_UTF8_INVALID;
        if (missing == 0) {
            if (cp < min_cp[len] || cp > max || (cp >= 0xD800 && cp <= 0xDFFF))
                return WS_UTF8_INVALID;
            i += len;
            continue;
        }
        /* Partial: a valid completion must lie in [lo, hi] ∩ [min, max]
         * outside the surrogates. */
        uint32_t a = lo > min_cp[len] ? lo : min_cp[len];
        uint32_t b = hi < max ? hi : max;
        if (a > b || (a >= 0xD800 && b <= 0xDFFF))
            return WS_UTF8_INVALID;
        return WS_UTF8_INCOMPLETE;
    }
    return WS_UTF8_OK;
}

/* ------------------------------------------------------------ drivers */

static int feed_whole(const uint8_t *p, size_t n)
{
    struct ws_utf8 u;
    ws_utf8_init(&u);
    return ws_utf8_feed(&u, p, n);
}

static int feed_bytes(const uint8_t *p, size_t n)
{
    struct ws_utf8 u;
    int r = WS_UTF8_OK;

    ws_utf8_init(&u);
    for (size_t i = 0; i < n; i++) {
        r = ws_utf8_feed(&u, p + i, 1);
        assert_int_equal(ws_utf8_status(&u), r);
        /* After each byte the state is the reference status of the prefix. */
        assert_int_equal(r, ref_status(p, i + 1));
    }
    return n ? r : ws_utf8_feed(&u, NULL, 0);
}

static int feed_split(const uint8_t *p, size_t n, size_t k)
{
    struct ws_utf8 u;
    int r;

    ws_utf8_init(&u);
    r = ws_utf8_feed(&u, p, k);
    if (r == WS_UTF8_INVALID)
        assert_int_equal(ws_utf8_feed(&u, p + k, n - k), WS_UTF8_INVALID);
    return ws_utf8_feed(&u, p + k, n - k);
}

/* All three deliveries must agree with the expected status. */
static void check_all_ways(const uint8_t *p, size_t n, int expect)
{
    assert_int_equal(feed_whole(p, n), expect);
    assert_int_equal(ref_status(p, n), expect);
    assert_int_equal(feed_bytes(p, n), expect);
    for (size_t k = 0; k <= n; k++)
        assert_int_equal(feed_split(p, n, k), expect);
    assert_int_equal(ws_utf8_valid(p, n), expect == WS_UTF8_OK);
}

/* ------------------------------------------------------------ vectors */

struct vec {
    const char *s;
    size_t n; /* 0: strlen */
    int expect;
};

#define OK WS_UTF8_OK
#define INC WS_UTF8_INCOMPLETE
#define BAD WS_UTF8_INVALID

static const struct vec vectors[] = {
    /* valid */
    {"", 0, OK},
    {"Hello-World", 0, OK},
    {"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", 0, OK}, /* Greek "kosme" */
    {"\x00", 1, OK},                                         /* NUL is a code point */
    {"\x7f", 0, OK},
    {"\xc2\x80", 0, OK},            /* U+0080, first 2-byte */
    {"\xdf\xbf", 0, OK},            /* U+07FF, last 2-byte */
    {"\xe0\xa0\x80", 0, OK},        /* U+0800, first 3-byte */
    {"\xed\x9f\xbf", 0, OK},        /* U+D7FF, below the surrogates */
    {"\xee\x80\x80", 0, OK},        /* U+E000, above the surrogates */
    {"\xef\xbf\xbd", 0, OK},        /* U+FFFD */
    {"\xef\xbf\xbf", 0, OK},        /* U+FFFF, a noncharacter but valid */
    {"\xf0\x90\x80\x80", 0, OK},    /* U+10000, first 4-byte */
    {"\xf4\x8f\xbf\xbf", 0, OK},    /* U+10FFFF, the last code point */
    {"\xf0\x9f\x98\x80 ok", 0, OK}, /* emoji then ASCII */
    /* incomplete: a valid prefix of a code point at the end */
    {"\xc2", 0, INC},
    {"\xe0\xa0", 0, INC},
    {"\xe1", 0, INC},
    {"\xf0\x90\x80", 0, INC},
    {"\xf4\x8f", 0, INC},
    {"abc\xf3", 0, INC},
    /* stray continuation bytes */
    {"\x80", 0, BAD},
    {"\xbf", 0, BAD},
    {"a\x80", 0, BAD},
    {"\xc2\x80\x80", 0, BAD},
    /* overlong forms */
    {"\xc0\x80", 0, BAD}, /* NUL in 2 bytes */
    {"\xc1\xbf", 0, BAD},
    {"\xe0\x80\x80", 0, BAD},
    {"\xe0\x9f\xbf", 0, BAD}, /* U+07FF in 3 bytes */
    {"\xf0\x80\x80\x80", 0, BAD},
    {"\xf0\x8f\xbf\xbf", 0, BAD}, /* U+FFFF in 4 bytes */
    {"\xc0", 0, BAD},             /* can never complete: rejected at once */
    {"\xe0\x80", 0, BAD},
    /* UTF-16 surrogates */
    {"\xed\xa0\x80", 0, BAD},             /* U+D800 */
    {"\xed\xbf\xbf", 0, BAD},             /* U+DFFF */
    {"\xed\xa0\x80\xed\xb0\x80", 0, BAD}, /* a surrogate pair */
    {"\xed\xa0", 0, BAD},
    /* above U+10FFFF and impossible bytes */
    {"\xf4\x90\x80\x80", 0, BAD},
    {"\xf5\x80\x80\x80", 0, BAD},
    {"\xf7\xbf\xbf\xbf", 0, BAD},
    {"\xf8\x88\x80\x80\x80", 0, BAD},
    {"\xfc\x84\x80\x80\x80\x80", 0, BAD},
    {"\xfe", 0, BAD},
    {"\xff", 0, BAD},
    {"\xf4\x90", 0, BAD},
    /* truncated sequences followed by more text */
    {"\xc2"
     "a",
     0, BAD},
    {"\xe0\xa0"
     "a",
     0, BAD},
    {"\xf0\x90\x80"
     "a",
     0, BAD},
    {"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64", 0, BAD},
};

static void test_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        const struct vec *v = &vectors[i];
        size_t n = v->n ? v->n : strlen(v->s);
        check_all_ways((const uint8_t *)v->s, n, v->expect);
    }
}

static void test_incomplete_then_complete(void **state)
{
    struct ws_utf8 u;

    (void)state;
    ws_utf8_init(&u);
    assert_int_equal(ws_utf8_feed(&u, (const uint8_t *)"x\xf0\x9f", 3), WS_UTF8_INCOMPLETE);
    assert_int_equal(ws_utf8_feed(&u, NULL, 0), WS_UTF8_INCOMPLETE);
    assert_int_equal(ws_utf8_feed(&u, (const uint8_t *)"\x98", 1), WS_UTF8_INCOMPLETE);
    assert_int_equal(ws_utf8_feed(&u, (const uint8_t *)"\x80", 1), WS_UTF8_OK);
    assert_int_equal(ws_utf8_status(&u), WS_UTF8_OK);
}

static void test_invalid_is_sticky(void **state)
{
    struct ws_utf8 u;

    (void)state;
    ws_utf8_init(&u);
    assert_int_equal(ws_utf8_feed(&u, (const uint8_t *)"\xc0", 1), WS_UTF8_INVALID);
    assert_int_equal(ws_utf8_feed(&u, (const uint8_t *)"abc", 3), WS_UTF8_INVALID);
    assert_int_equal(ws_utf8_feed(&u, NULL, 0), WS_UTF8_INVALID);
    assert_int_equal(ws_utf8_status(&u), WS_UTF8_INVALID);
    ws_utf8_init(&u);
    assert_int_equal(ws_utf8_feed(&u, (const uint8_t *)"abc", 3), WS_UTF8_OK);
}

/* Every 1- and 2-byte string, every 3-byte string, and 4-byte strings with
 * a sampled third byte, against the reference. */
static void test_exhaustive_short(void **state)
{
    static const uint8_t thirds[] = {0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f,
                                     0xa0, 0xbf, 0xc0, 0xc2, 0xe0, 0xf0, 0xff};
    uint8_t b[4];

    (void)state;
    for (unsigned x = 0; x < 256; x++) {
        b[0] = (uint8_t)x;
        assert_int_equal(feed_whole(b, 1), ref_status(b, 1));
        for (unsigned y = 0; y < 256; y++) {
            b[1] = (uint8_t)y;
            assert_int_equal(feed_whole(b, 2), ref_status(b, 2));
            for (unsigned z = 0; z < 256; z++) {
                b[2] = (uint8_t)z;
                assert_int_equal(feed_whole(b, 3), ref_status(b, 3));
            }
        }
    }
    for (unsigned x = 0xf0; x < 0x100; x++) {
        b[0] = (uint8_t)x;
        for (unsigned y = 0; y < 256; y++) {
            b[1] = (uint8_t)y;
            for (size_t t = 0; t < sizeof(thirds); t++) {
                b[2] = thirds[t];
                for (unsigned w = 0; w < 256; w++) {
                    b[3] = (uint8_t)w;
                    int r = feed_whole(b, 4);
                    assert_int_equal(r, ref_status(b, 4));
                    assert_int_equal(feed_split(b, 4, 2), r);
                }
            }
        }
    }
}

/* The 8-bytes-at-a-time ASCII path: a bad byte or a multi-byte character at
 * every position and alignment of a long ASCII run. */
static void test_ascii_fast_path(void **state)
{
    uint8_t buf[80];

    (void)state;
    for (size_t pos = 0; pos + 4 <= sizeof(buf); pos++) {
        for (size_t start = 0; start < 8; start++) {
            size_t n = sizeof(buf) - start;
            memset(buf, 'a', sizeof(buf));
            buf[pos] = 0x80;
            if (pos >= start)
                assert_int_equal(feed_whole(buf + start, n), WS_UTF8_INVALID);
            memcpy(buf + pos, "\xf0\x9f\x98\x80", 4);
            if (pos >= start) {
                assert_int_equal(feed_whole(buf + start, n), WS_UTF8_OK);
                assert_int_equal(feed_whole(buf + start, pos - start + 2), WS_UTF8_INCOMPLETE);
                assert_int_equal(feed_split(buf + start, n, pos - start + 3), WS_UTF8_OK);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),           cmocka_unit_test(test_incomplete_then_complete),
        cmocka_unit_test(test_invalid_is_sticky), cmocka_unit_test(test_exhaustive_short),
        cmocka_unit_test(test_ascii_fast_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
