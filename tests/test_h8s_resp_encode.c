/*
 * tests/test_h8s_resp_encode.c — the agent's response framing
 * (proto/h8s_resp_encode): header blocks from real backend heads, single
 * messages, streams within credit and max_payload, and every error path.
 *
 * Backend heads are parsed by proto/http_resp from heap copies fed whole,
 * one byte at a time and split at every offset; the header block built in
 * on_head (while the head's spans are valid) must come out the same every
 * time, and always parse back with nats_hdr.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/h8s_ctl.h"
#include "proto/h8s_resp_encode.h"
#include "proto/http_resp.h"
#include "proto/nats_hdr.h"
#include "tests/support/http_feed.h"

struct built {
    uint8_t block[8192];
    size_t len;
    int rc;
    int heads;
};

static int on_head(void *cookie, const struct http_resp *r)
{
    struct built *b = cookie;
    b->heads++;
    b->rc = h8s_resp_encode_head(r, b->block, sizeof(b->block) - H8S_RESP_ENCODE_TAIL_MAX, &b->len);
    return 0;
}

static const struct http_resp_ops ops = {on_head, NULL};

/* Feeds in with cuts at the given offsets; returns the block built. */
static void feed(struct built *b, const char *in, size_t len, const size_t *cuts, size_t ncuts)
{
    struct http_resp_parser p;
    uint8_t hb[4096];
    memset(b, 0, sizeof(*b));
    const struct http_resp_config cfg = {sizeof(hb), 100};
    assert_int_equal(http_resp_init(&p, &cfg, hb, sizeof(hb), &ops, b), 0);
    assert_int_equal(http_resp_begin(&p, 0), 0);
    for (size_t k = 0; k <= ncuts; k++) {
        size_t a = k == 0 ? 0 : cuts[k - 1], e = k == ncuts ? len : cuts[k];
        uint8_t *piece = http_feed_copy(in + a, e - a);
        size_t used;
        int rc = http_resp_feed(&p, piece, e - a, &used);
        http_feed_release(piece, e - a);
        assert_true(rc >= 0);
        if (rc == HTTP_RESP_DONE)
            break;
    }
    assert_int_equal(b->heads, 1);
}

static void expect_block(const char *resp, const char *want)
{
    static struct built whole, split;
    size_t len = strlen(resp);
    feed(&whole, resp, len, NULL, 0);
    assert_int_equal(whole.rc, 0);
    if (whole.len != strlen(want) || memcmp(whole.block, want, whole.len) != 0)
        fail_msg("got:\n%.*s\nwant:\n%s", (int)whole.len, (const char *)whole.block, want);
    size_t *cuts = malloc(len * sizeof(*cuts));
    assert_non_null(cuts);
    for (size_t i = 1; i < len; i++)
        cuts[i - 1] = i;
    feed(&split, resp, len, cuts, len - 1);
    assert_int_equal(split.rc, 0);
    assert_memory_equal(split.block, whole.block, whole.len);
    for (size_t i = 1; i < len; i++) {
        cuts[0] = i;
        feed(&split, resp, len, cuts, 1);
        assert_int_equal(split.len, whole.len);
        assert_memory_equal(split.block, whole.block, whole.len);
    }
    free(cuts);
    /* Closed either way, the block is one nats_hdr accepts. */
    struct h8s_resp_encode e;
    struct nats_hdr h;
    size_t n = whole.len;
    h8s_resp_encode_init(&e, 1 << 20, 0, 0);
    assert_int_equal(h8s_resp_encode_single(&e, whole.block, sizeof(whole.block), &n, 5), 0);
    assert_int_equal(nats_hdr_parse(&h, span_make(whole.block, n)), 0);
    n = whole.len;
    h8s_resp_encode_init(&e, 1 << 20, 1, 10);
    assert_int_equal(h8s_resp_encode_stream(&e, whole.block, sizeof(whole.block), &n,
                                            SPAN_LIT("_INBOX.h8s.ag.x1")),
                     0);
    assert_int_equal(nats_hdr_parse(&h, span_make(whole.block, n)), 0);
}

static void test_head_fields(void **state)
{
    (void)state;
    expect_block("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nContent-Length: 5\r\n"
                 "x-h8s-secret: 1\r\nX-H8S-Agent-Subject: evil\r\nstatus: 500\r\n"
                 "Status-Code: 500\r\nset-cookie: a=1\r\nSet-Cookie: b=2\r\n\r\nhello",
                 "NATS/1.0\r\nStatus-Code: 200\r\nStatus: 200 OK\r\n"
                 "Content-Type: text/plain\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n");
    /* Hop-by-hop fields, and those Connection names, never pass. */
    expect_block("HTTP/1.1 404 Not Found\r\nConnection: close, X-Private\r\nX-Private: 1\r\n"
                 "Keep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\nTrailer: X\r\n"
                 "Upgrade: h2c\r\nProxy-Authenticate: Basic\r\nX-Kept: yes\r\n\r\n0\r\n\r\n",
                 "NATS/1.0\r\nStatus-Code: 404\r\nStatus: 404 Not Found\r\nX-Kept: yes\r\n");
    /* No reason phrase: the standard one; an unknown status keeps the number. */
    expect_block("HTTP/1.1 204\r\n\r\n",
                 "NATS/1.0\r\nStatus-Code: 204\r\nStatus: 204 No Content\r\n");
    expect_block("HTTP/1.1 299\r\nContent-Length: 0\r\n\r\n",
                 "NATS/1.0\r\nStatus-Code: 299\r\nStatus: 299\r\n");
    /* A custom reason is kept, and odd-but-legal name characters too. */
    expect_block("HTTP/1.1 200 Fine Thanks\r\nX_Odd.Name~1: v a l\r\nContent-Length: 0\r\n\r\n",
                 "NATS/1.0\r\nStatus-Code: 200\r\nStatus: 200 Fine Thanks\r\n"
                 "X_odd.name~1: v a l\r\n");
}

static struct http_resp mk(int status, const struct http_head_field *f, size_t n)
{
    struct http_resp r;
    memset(&r, 0, sizeof(r));
    r.status = status;
    r.fields = f;
    r.nfields = n;
    return r;
}

static void test_head_errors(void **state)
{
    (void)state;
    uint8_t buf[512];
    size_t len;
    struct http_head_field f[2] = {{SPAN_LIT("X-A"), SPAN_LIT("1")}, {SPAN_LIT("X-B"), {0}}};

    struct http_resp r = mk(200, f, 1);
    assert_int_equal(h8s_resp_encode_head(&r, buf, sizeof(buf), &len), 0);
    size_t need = len;
    for (size_t cap = 0; cap < need; cap++)
        assert_int_equal(h8s_resp_encode_head(&r, buf, cap, &len), H8S_RESP_ENCODE_E_NOSPC);

    f[1].value = SPAN_LIT("a\rb");
    r = mk(200, f, 2);
    assert_int_equal(h8s_resp_encode_head(&r, buf, sizeof(buf), &len), H8S_RESP_ENCODE_E_FIELD);
    f[1].value = SPAN_LIT("a\x7f");
    assert_int_equal(h8s_resp_encode_head(&r, buf, sizeof(buf), &len), H8S_RESP_ENCODE_E_FIELD);
    f[1].name = SPAN_LIT("X B");
    f[1].value = SPAN_LIT("ok");
    assert_int_equal(h8s_resp_encode_head(&r, buf, sizeof(buf), &len), H8S_RESP_ENCODE_E_FIELD);
    r = mk(99, f, 0);
    assert_int_equal(h8s_resp_encode_head(&r, buf, sizeof(buf), &len), H8S_RESP_ENCODE_E_FIELD);
    /* A control byte in the reason is replaced by the standard phrase. */
    r = mk(404, f, 0);
    r.reason = SPAN_LIT("Bad\x01");
    assert_int_equal(h8s_resp_encode_head(&r, buf, sizeof(buf), &len), 0);
    assert_non_null(memmem(buf, len, "Status: 404 Not Found\r\n", 23));
}

static void open_head(uint8_t *buf, size_t cap, size_t *len)
{
    struct http_head_field f[1] = {{SPAN_LIT("Content-Type"), SPAN_LIT("x/y")}};
    struct http_resp r = mk(200, f, 1);
    assert_int_equal(h8s_resp_encode_head(&r, buf, cap, len), 0);
}

static void test_single(void **state)
{
    (void)state;
    uint8_t buf[512];
    size_t len, open;
    struct h8s_resp_encode e;
    struct nats_hdr h;
    struct span v;

    h8s_resp_encode_init(&e, 1000, 1, 0);
    open_head(buf, sizeof(buf), &len);
    open = len;
    assert_int_equal(h8s_resp_encode_single(&e, buf, sizeof(buf), &len, 123456), 0);
    assert_int_equal(nats_hdr_parse(&h, span_make(buf, len)), 0);
    assert_int_equal(nats_hdr_get(&h, SPAN_LIT("Content-Length"), 0, &v), 1);
    assert_true(span_eq(v, SPAN_LIT("123456")));
    assert_int_equal(e.state, H8S_RESP_ENCODE_SINGLE);
    /* Only once. */
    assert_int_equal(h8s_resp_encode_single(&e, buf, sizeof(buf), &len, 1),
                     H8S_RESP_ENCODE_E_STATE);
    assert_int_equal(h8s_resp_encode_stream(&e, buf, sizeof(buf), &len, SPAN_LIT("a")),
                     H8S_RESP_ENCODE_E_STATE);

    /* fits: header + body against max_payload, no overflow on huge sizes. */
    assert_true(h8s_resp_encode_fits(&e, 100, 900));
    assert_false(h8s_resp_encode_fits(&e, 100, 901));
    assert_false(h8s_resp_encode_fits(&e, 1001, 0));
    assert_false(h8s_resp_encode_fits(&e, 10, UINT64_MAX));

    /* The tail needs room: every capacity short of it fails cleanly. */
    for (size_t cap = open; cap < open + 38; cap++) {
        size_t l = open;
        h8s_resp_encode_init(&e, 1000, 0, 0);
        int rc = h8s_resp_encode_single(&e, buf, cap, &l, UINT64_MAX);
        if (rc == 0)
            assert_true(l <= cap);
        else
            assert_int_equal(rc, H8S_RESP_ENCODE_E_NOSPC);
    }
    h8s_resp_encode_init(&e, 1000, 0, 0);
    len = open;
    assert_int_equal(h8s_resp_encode_single(&e, buf, open + 1, &len, 1), H8S_RESP_ENCODE_E_NOSPC);
    assert_int_equal(h8s_resp_encode_single(&e, buf, sizeof(buf), &len, 1),
                     H8S_RESP_ENCODE_E_NOSPC); /* sticky */
}

static void test_stream_credit(void **state)
{
    (void)state;
    uint8_t buf[512], sb[H8S_RESP_ENCODE_SEQ_HDR_MAX];
    size_t len;
    struct h8s_resp_encode e;
    struct span hdr;
    uint64_t take;
    struct h8s_ctl c;

    h8s_resp_encode_init(&e, 1 << 20, 1, 10);
    assert_int_equal(h8s_resp_encode_chunk(&e, 5, sb, sizeof(sb), &hdr, &take),
                     H8S_RESP_ENCODE_E_STATE);
    h8s_resp_encode_init(&e, 1 << 20, 1, 10);
    open_head(buf, sizeof(buf), &len);
    assert_int_equal(h8s_resp_encode_stream(&e, buf, sizeof(buf), &len, SPAN_LIT("_INBOX.h8s.a.b")),
                     0);
    assert_int_equal(h8s_ctl_parse(&c, span_make(buf, len)), 0);
    assert_true(span_eq(c.agent_subject, SPAN_LIT("_INBOX.h8s.a.b")));
    assert_true(h8s_resp_encode_room(&e, len) == 10);
    assert_int_equal(h8s_resp_encode_sent(&e, len, 4), 0);
    assert_true(h8s_resp_encode_room(&e, len) == 6);

    assert_int_equal(h8s_resp_encode_chunk(&e, 25, sb, sizeof(sb), &hdr, &take), 1);
    assert_true(take == 6);
    assert_int_equal(h8s_ctl_parse(&c, hdr), 0);
    assert_true(c.seq == 1);
    /* Blocked: no chunk, no sequence number used. */
    assert_int_equal(h8s_resp_encode_chunk(&e, 19, sb, sizeof(sb), &hdr, &take), 0);
    assert_int_equal(h8s_resp_encode_credit(&e, 9), 0); /* smaller: ignored */
    assert_int_equal(h8s_resp_encode_credit(&e, 10), 0);
    assert_int_equal(h8s_resp_encode_credit(&e, 30), 1);
    assert_int_equal(h8s_resp_encode_chunk(&e, 19, sb, sizeof(sb), &hdr, &take), 1);
    assert_true(take == 19);
    assert_int_equal(h8s_ctl_parse(&c, hdr), 0);
    assert_true(c.seq == 2);
    assert_true(e.sent == 29);
    /* The end needs no credit. */
    assert_int_equal(h8s_resp_encode_credit(&e, 29), 0);
    assert_int_equal(h8s_resp_encode_end(&e, sb, sizeof(sb), &hdr), 0);
    assert_int_equal(h8s_ctl_parse(&c, hdr), 0);
    assert_true(c.seq == 3);
    assert_int_equal(h8s_resp_encode_end(&e, sb, sizeof(sb), &hdr), H8S_RESP_ENCODE_E_STATE);

    /* Too much in the first message is refused and sticky. */
    h8s_resp_encode_init(&e, 1 << 20, 1, 10);
    open_head(buf, sizeof(buf), &len);
    assert_int_equal(h8s_resp_encode_stream(&e, buf, sizeof(buf), &len, SPAN_LIT("")), 0);
    assert_int_equal(h8s_ctl_parse(&c, span_make(buf, len)), 0);
    assert_false(c.has & H8S_CTL_HAS_AGENT);
    assert_int_equal(h8s_resp_encode_sent(&e, len, 11), H8S_RESP_ENCODE_E_CREDIT);
    assert_int_equal(h8s_resp_encode_chunk(&e, 1, sb, sizeof(sb), &hdr, &take),
                     H8S_RESP_ENCODE_E_CREDIT);

    /* A bad agent subject is refused. */
    h8s_resp_encode_init(&e, 1 << 20, 1, 10);
    open_head(buf, sizeof(buf), &len);
    assert_int_equal(h8s_resp_encode_stream(&e, buf, sizeof(buf), &len, SPAN_LIT("a b")),
                     H8S_RESP_ENCODE_E_FIELD);
}

static void test_stream_unlimited_and_payload(void **state)
{
    (void)state;
    uint8_t buf[512], sb[H8S_RESP_ENCODE_SEQ_HDR_MAX];
    size_t len;
    struct h8s_resp_encode e;
    struct span hdr;
    uint64_t take, total = 0;

    /* No flow control: only max_payload limits a message. */
    h8s_resp_encode_init(&e, 100, 0, 0);
    assert_int_equal(h8s_resp_encode_credit(&e, 5), 0);
    open_head(buf, sizeof(buf), &len);
    assert_int_equal(h8s_resp_encode_stream(&e, buf, sizeof(buf), &len, SPAN_LIT("")), 0);
    assert_true(h8s_resp_encode_room(&e, len) == 100 - len);
    for (uint64_t s = 1; total < 10000; s++) {
        assert_int_equal(h8s_resp_encode_chunk(&e, 10000 - total, sb, sizeof(sb), &hdr, &take), 1);
        assert_true(take > 0 && hdr.n + take <= 100);
        total += take;
    }
    assert_true(e.sent == 10000);

    /* A max_payload smaller than a chunk header can never send a byte. */
    h8s_resp_encode_init(&e, 20, 0, 0);
    len = 0;
    assert_int_equal(h8s_resp_encode_stream(&e, buf, sizeof(buf), &len, SPAN_LIT("")), 0);
    assert_int_equal(h8s_resp_encode_chunk(&e, 5, sb, sizeof(sb), &hdr, &take), 0);
    /* A chunk buffer too small is an error, not a silent truncation. */
    h8s_resp_encode_init(&e, 1000, 0, 0);
    len = 0;
    assert_int_equal(h8s_resp_encode_stream(&e, buf, sizeof(buf), &len, SPAN_LIT("")), 0);
    assert_int_equal(h8s_resp_encode_chunk(&e, 5, sb, 10, &hdr, &take), H8S_RESP_ENCODE_E_NOSPC);
}

static void test_strerror(void **state)
{
    (void)state;
    for (int e = 0; e >= -4; e--)
        assert_string_not_equal(h8s_resp_encode_strerror(e), "unknown error");
    assert_string_equal(h8s_resp_encode_strerror(-99), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_head_fields),
        cmocka_unit_test(test_head_errors),
        cmocka_unit_test(test_single),
        cmocka_unit_test(test_stream_credit),
        cmocka_unit_test(test_stream_unlimited_and_payload),
        cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
