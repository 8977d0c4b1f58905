/*
 * tests/test_nats_hdr.c — NATS header blocks (proto/nats_hdr): reader,
 * iterator, lookup and builder. Blocks arrive whole (the protocol parser
 * assembles them), so the hostile part here is every truncation and every
 * malformed line, each parsed from a heap copy of exactly its size so ASan
 * sees any over-read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/nats_hdr.h"

static int parse_copy(const char *s, size_t n, struct nats_hdr *h, uint8_t **keep)
{
    uint8_t *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    memcpy(copy, s, n);
    int rc = nats_hdr_parse(h, span_make(copy, n));
    if (keep)
        *keep = copy;
    else
        free(copy);
    return rc;
}

/* Renders entries as "k=v;" for comparison. */
static void render(const struct nats_hdr *h, char *out, size_t cap)
{
    struct nats_hdr_iter it;
    struct span k, v;
    size_t len = 0;
    out[0] = '\0';
    nats_hdr_iter_init(&it, h);
    while (nats_hdr_next(&it, &k, &v)) {
        int n = snprintf(out + len, cap - len, "%.*s=%.*s;", (int)k.n, (const char *)k.p, (int)v.n,
                         (const char *)v.p);
        assert_true(n > 0 && (size_t)n < cap - len);
        len += (size_t)n;
    }
}

static void expect_ok(const char *s, int status, const char *desc, const char *entries)
{
    size_t n = strlen(s);
    struct nats_hdr h;
    uint8_t *copy;
    char got[1024];
    assert_int_equal(parse_copy(s, n, &h, &copy), 0);
    assert_int_equal(h.status, status);
    assert_int_equal(h.desc.n, strlen(desc));
    assert_memory_equal(h.desc.p ? (const char *)h.desc.p : "", desc, h.desc.n);
    render(&h, got, sizeof(got));
    assert_string_equal(got, entries);
    size_t count = 0;
    for (const char *e = entries; (e = strchr(e, ';')) != NULL; e++)
        count++;
    assert_int_equal(h.count, count);
    free(copy);
    /* No proper prefix of a valid block is itself valid. */
    for (size_t i = 0; i < n; i++)
        assert_int_equal(parse_copy(s, i, &h, NULL), NATS_HDR_EFORMAT);
}

static void test_parse(void **state)
{
    (void)state;
    expect_ok("NATS/1.0\r\n\r\n", 0, "", "");
    expect_ok("NATS/1.0 503\r\n\r\n", 503, "", "");
    expect_ok("NATS/1.0 408 Request Timeout\r\n\r\n", 408, "Request Timeout", "");
    expect_ok("NATS/1.0 404 No Messages\r\n\r\n", 404, "No Messages", "");
    expect_ok("NATS/1.0\t100   Idle Heartbeat \r\nNats-Last-Consumer: 5\r\n\r\n", 100,
              "Idle Heartbeat", "Nats-Last-Consumer=5;");
    expect_ok("NATS/1.0\r\nFoo: bar\r\nfoo: baz\r\nFoo:  qux \t\r\nEmpty:\r\nX:y:z\r\n\r\n", 0, "",
              "Foo=bar;foo=baz;Foo=qux;Empty=;X=y:z;");
    expect_ok("NATS/1.0\r\n!#$%&'*+-.^_`|~09azAZ: v \xc3\xa9 \"q\"\r\n\r\n", 0, "",
              "!#$%&'*+-.^_`|~09azAZ=v \xc3\xa9 \"q\";");
}

static void test_get(void **state)
{
    (void)state;
    static const char s[] = "NATS/1.0\r\nFoo: bar\r\nfoo: baz\r\nFoo: qux\r\n\r\n";
    struct nats_hdr h;
    struct span v;
    assert_int_equal(nats_hdr_parse(&h, span_make(s, sizeof(s) - 1)), 0);
    assert_true(nats_hdr_get(&h, SPAN_LIT("Foo"), 0, &v));
    assert_true(span_eq(v, SPAN_LIT("bar")));
    assert_true(nats_hdr_get(&h, SPAN_LIT("Foo"), 1, &v));
    assert_true(span_eq(v, SPAN_LIT("qux")));
    assert_false(nats_hdr_get(&h, SPAN_LIT("Foo"), 2, &v));
    assert_true(nats_hdr_get(&h, SPAN_LIT("foo"), 0, &v));
    assert_true(span_eq(v, SPAN_LIT("baz")));
    assert_false(nats_hdr_get(&h, SPAN_LIT("FOO"), 0, &v));
    assert_false(nats_hdr_get(&h, SPAN_LIT("Fo"), 0, &v));

    /* A failed parse leaves an empty header: iteration yields nothing. */
    assert_int_equal(nats_hdr_parse(&h, SPAN_LIT("junk")), NATS_HDR_EFORMAT);
    assert_false(nats_hdr_get(&h, SPAN_LIT("Foo"), 0, &v));
}

static void test_parse_errors(void **state)
{
    (void)state;
    static const char *bad[] = {
        "",
        "NATS/1.1\r\n\r\n",
        "nats/1.0\r\n\r\n",
        "NATS/1.0 \r\n",
        "NATS/1.0\r\n\r\n\r\n",
        "NATS/1.0\r\nA: b\r\n\r\nextra",
        "NATS/1.0\r\nFoo bar\r\n\r\n",
        "NATS/1.0\r\n: v\r\n\r\n",
        "NATS/1.0\r\nFo o: v\r\n\r\n",
        "NATS/1.0\r\nFoo : v\r\n\r\n",
        "NATS/1.0\r\nFo\"o: v\r\n\r\n",
        "NATS/1.0\r\nA: b\nc\r\n\r\n",
        "NATS/1.0\r\nA: b\rc\r\n\r\n",
        "NATS/1.0\r\nA: \x01\r\n\r\n",
        "NATS/1.0\r\nA: \x7f\r\n\r\n",
        "NATS/1.0\r\nA: b\r\n continued\r\n\r\n",
        "NATS/1.0\n\r\n",
        "NATS/1.0\r\n\n",
        "NATS/1.0 50\r\n\r\n",
        "NATS/1.0 5033\r\n\r\n",
        "NATS/1.0 abc\r\n\r\n",
        "NATS/1.0 099\r\n\r\n",
        "NATS/1.0503\r\n\r\n",
        "NATS/1.0 503x\r\n\r\n",
        "NATS/1.0 503 bad\001desc\r\n\r\n",
        "NATS/1.0x\r\n\r\n",
    };
    struct nats_hdr h;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = parse_copy(bad[i], strlen(bad[i]), &h, NULL);
        if (rc != NATS_HDR_EFORMAT)
            print_error("accepted: %s\n", bad[i]);
        assert_int_equal(rc, NATS_HDR_EFORMAT);
    }
    assert_int_equal(parse_copy("NATS/1.0\r\nA\0: b\r\n\r\n", 18, &h, NULL), NATS_HDR_EFORMAT);

    /* Size limit: exactly NATS_HDR_MAX is fine, one more byte is not. */
    char *big = malloc(NATS_HDR_MAX + 2);
    assert_non_null(big);
    memcpy(big, "NATS/1.0\r\nK: ", 13);
    memset(big + 13, 'v', NATS_HDR_MAX - 13 - 4);
    memcpy(big + NATS_HDR_MAX - 4, "\r\n\r\n", 4);
    assert_int_equal(parse_copy(big, NATS_HDR_MAX, &h, NULL), 0);
    memcpy(big + NATS_HDR_MAX - 4, "v\r\n\r\n", 5);
    assert_int_equal(parse_copy(big, NATS_HDR_MAX + 1, &h, NULL), NATS_HDR_ETOOBIG);
    free(big);
}

/* Builds into every capacity below the exact size (ENOSPC, nothing past
 * cap written) and at the exact size (want bytes, parses back). */
static void test_build(void **state)
{
    (void)state;
    static const char want[] = "NATS/1.0 408 Request Timeout\r\nFoo: bar\r\nfoo: \r\n"
                               "X-Id: a b\tc\r\n\r\n";
    size_t wn = sizeof(want) - 1;
    uint8_t *buf = malloc(wn + 1);
    assert_non_null(buf);
    for (size_t cap = 0; cap <= wn; cap++) {
        struct nats_hdr_builder b;
        struct span out;
        memset(buf, 0xa5, wn + 1);
        nats_hdr_build_init(&b, buf, cap, 408, SPAN_LIT("Request Timeout"));
        nats_hdr_build_add(&b, SPAN_LIT("Foo"), SPAN_LIT("bar"));
        nats_hdr_build_add(&b, SPAN_LIT("foo"), SPAN_LIT(""));
        nats_hdr_build_add(&b, SPAN_LIT("X-Id"), SPAN_LIT("a b\tc"));
        int rc = nats_hdr_build_finish(&b, &out);
        assert_int_equal(buf[cap], 0xa5);
        if (cap < wn) {
            assert_int_equal(rc, NATS_HDR_ENOSPC);
            continue;
        }
        assert_int_equal(rc, 0);
        assert_int_equal(out.n, wn);
        assert_memory_equal(out.p, want, wn);
        struct nats_hdr h;
        char got[256];
        assert_int_equal(nats_hdr_parse(&h, out), 0);
        assert_int_equal(h.status, 408);
        render(&h, got, sizeof(got));
        assert_string_equal(got, "Foo=bar;foo=;X-Id=a b\tc;");
    }
    free(buf);

    uint8_t small[64];
    struct nats_hdr_builder b;
    struct span out;
    nats_hdr_build_init(&b, small, sizeof(small), 0, span_make(NULL, 0));
    assert_int_equal(nats_hdr_build_finish(&b, &out), 0);
    assert_true(span_eq(out, SPAN_LIT("NATS/1.0\r\n\r\n")));
    nats_hdr_build_init(&b, small, sizeof(small), 503, span_make(NULL, 0));
    assert_int_equal(nats_hdr_build_finish(&b, &out), 0);
    assert_true(span_eq(out, SPAN_LIT("NATS/1.0 503\r\n\r\n")));
}

static void test_build_errors(void **state)
{
    (void)state;
    uint8_t buf[256];
    struct nats_hdr_builder b;
    struct span out;
    static const struct {
        const char *k, *v;
        int err;
    } v[] = {
        {"", "v", NATS_HDR_EKEY},         {"a b", "v", NATS_HDR_EKEY},
        {"a:b", "v", NATS_HDR_EKEY},      {"a\r\n", "v", NATS_HDR_EKEY},
        {"k", "a\r\nb", NATS_HDR_EVALUE}, {"k", "a\nb", NATS_HDR_EVALUE},
        {"k", "\x01", NATS_HDR_EVALUE},   {"k", "\x7f", NATS_HDR_EVALUE},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        nats_hdr_build_init(&b, buf, sizeof(buf), 0, span_make(NULL, 0));
        assert_int_equal(nats_hdr_build_add(&b, span_cstr(v[i].k), span_cstr(v[i].v)), v[i].err);
        /* Sticky: a later valid add and finish report the same error. */
        assert_int_equal(nats_hdr_build_add(&b, SPAN_LIT("ok"), SPAN_LIT("ok")), v[i].err);
        assert_int_equal(nats_hdr_build_finish(&b, &out), v[i].err);
    }
    static const struct {
        int status;
        const char *desc;
    } st[] = {{99, ""}, {1000, ""}, {-1, ""}, {0, "desc"}, {503, "a\nb"}, {503, "\x01"}};
    for (size_t i = 0; i < sizeof(st) / sizeof(st[0]); i++) {
        nats_hdr_build_init(&b, buf, sizeof(buf), st[i].status, span_cstr(st[i].desc));
        assert_int_equal(nats_hdr_build_finish(&b, &out), NATS_HDR_ESTATUS);
    }
    for (int e = NATS_HDR_ESTATUS; e <= 0; e++)
        assert_string_not_equal(nats_hdr_strerror(e), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),        cmocka_unit_test(test_get),
        cmocka_unit_test(test_parse_errors), cmocka_unit_test(test_build),
        cmocka_unit_test(test_build_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
