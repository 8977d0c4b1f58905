/*
 * tests/test_http_resp.c — the agent's response parser and the gateway's
 * response-head writer.
 *
 * Every vector is fed whole, one byte at a time and split at every offset
 * (and every pair of offsets when short); all ways must agree. Pieces are
 * fresh heap copies freed after each feed.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/http_resp.h"
#include "tests/support/http_feed.h"

struct rec {
    struct http_transcript t;
    uint8_t body[1 << 14];
    size_t body_len;
};

static int rec_head(void *cookie, const struct http_resp *r)
{
    struct rec *c = cookie;
    struct http_transcript *t = &c->t;
    http_transcript_add(t, "%d ", r->status);
    http_transcript_bytes(t, r->reason.p, r->reason.n);
    http_transcript_add(t, "|v=1.%u|f=%02x", r->version_minor, r->flags);
    if (r->has_content_length)
        http_transcript_add(t, "|cl=%llu", (unsigned long long)r->content_length);
    for (size_t i = 0; i < r->nfields; i++) {
        http_transcript_add(t, "|");
        http_transcript_bytes(t, r->fields[i].name.p, r->fields[i].name.n);
        http_transcript_add(t, ":");
        http_transcript_bytes(t, r->fields[i].value.p, r->fields[i].value.n);
    }
    http_transcript_add(t, "\n");
    c->body_len = 0;
    return 0;
}

static int rec_body(void *cookie, const uint8_t *p, size_t n)
{
    struct rec *c = cookie;
    assert_true(n > 0 && n <= sizeof(c->body) - c->body_len);
    memcpy(c->body + c->body_len, p, n);
    c->body_len += n;
    return 0;
}

static const struct http_resp_ops rec_ops = {rec_head, rec_body};

static void body_line(struct rec *c)
{
    http_transcript_add(&c->t, "body=");
    http_transcript_bytes(&c->t, c->body, c->body_len);
    http_transcript_add(&c->t, "\n");
}

/* heads: one char per expected response, 'H' when it answers HEAD. */
static void drive(struct rec *c, const struct http_resp_config *cfg, const char *heads,
                  const char *in, size_t len, const size_t *cuts, size_t ncuts)
{
    struct http_resp_parser p;
    size_t cap = cfg ? cfg->max_head : HTTP_RESP_DEFAULT_MAX_HEAD;
    uint8_t *hb = malloc(cap);
    assert_non_null(hb);
    http_transcript_reset(&c->t);
    c->body_len = 0;
    assert_int_equal(http_resp_init(&p, cfg, hb, cap, &rec_ops, c), 0);
    size_t nresp = 0;
    assert_int_equal(http_resp_begin(&p, heads[0] == 'H'), 0);
    int stopped = 0;
    for (size_t k = 0; k <= ncuts && !stopped; k++) {
        size_t a = k == 0 ? 0 : cuts[k - 1], b = k == ncuts ? len : cuts[k];
        uint8_t *piece = http_feed_copy(in + a, b - a);
        size_t off = 0;
        for (;;) {
            size_t used;
            int r = http_resp_feed(&p, piece + off, b - a - off, &used);
            assert_true(used <= b - a - off);
            off += used;
            if (r == HTTP_RESP_DONE) {
                body_line(c);
                if (heads[++nresp] == '\0') {
                    http_transcript_add(&c->t, "END rest=%zu\n", len - a - off);
                    stopped = 1;
                    break;
                }
                assert_int_equal(http_resp_begin(&p, heads[nresp] == 'H'), 0);
                continue;
            }
            if (r == HTTP_RESP_OK) {
                assert_int_equal(off, b - a);
                break;
            }
            http_transcript_add(&c->t, "ERR %s\n", http_resp_reason(&p));
            assert_int_equal(http_resp_feed(&p, (const uint8_t *)"x", 1, &used), r);
            assert_int_equal(used, 0);
            assert_int_equal(http_resp_begin(&p, 0), -1);
            stopped = 1;
            break;
        }
        http_feed_release(piece, b - a);
    }
    if (!stopped) {
        int r = http_resp_finish(&p);
        if (r == HTTP_RESP_DONE)
            body_line(c);
        if (r < 0)
            http_transcript_add(&c->t, "EOF ERR %s\n", http_resp_reason(&p));
        else
            http_transcript_add(&c->t, "EOF %d\n", r);
    }
    free(hb);
}

static struct rec rec_whole, rec_split;

static const char *run_all(const struct http_resp_config *cfg, const char *heads, const char *in,
                           size_t len)
{
    drive(&rec_whole, cfg, heads, in, len, NULL, 0);
    size_t *cuts = malloc((len + 1) * sizeof(*cuts));
    assert_non_null(cuts);
    for (size_t i = 0; i + 1 < len; i++)
        cuts[i] = i + 1;
    if (len > 1) {
        drive(&rec_split, cfg, heads, in, len, cuts, len - 1);
        if (strcmp(rec_whole.t.buf, rec_split.t.buf) != 0)
            fail_msg("bytes differ:\n%s\nvs\n%s", rec_whole.t.buf, rec_split.t.buf);
    }
    for (size_t i = 1; i < len; i++) {
        cuts[0] = i;
        drive(&rec_split, cfg, heads, in, len, cuts, 1);
        if (strcmp(rec_whole.t.buf, rec_split.t.buf) != 0)
            fail_msg("split %zu differs:\n%s\nvs\n%s", i, rec_whole.t.buf, rec_split.t.buf);
    }
    for (size_t i = 1; len <= 120 && i < len; i++) {
        for (size_t j = i + 1; j < len; j++) {
            cuts[0] = i;
            cuts[1] = j;
            drive(&rec_split, cfg, heads, in, len, cuts, 2);
            if (strcmp(rec_whole.t.buf, rec_split.t.buf) != 0)
                fail_msg("split %zu,%zu differs:\n%s\nvs\n%s", i, j, rec_whole.t.buf,
                         rec_split.t.buf);
        }
    }
    free(cuts);
    return rec_whole.t.buf;
}

static void expect(const struct http_resp_config *cfg, const char *heads, const char *in,
                   const char *want)
{
    const char *got = run_all(cfg, heads, in, strlen(in));
    if (strcmp(got, want) != 0)
        fail_msg("input:\n%s\ngot:\n%s\nwant:\n%s", in, got, want);
}

static void expect_err(const struct http_resp_config *cfg, const char *in)
{
    const char *got = run_all(cfg, "G", in, strlen(in));
    if (!strstr(got, "ERR "))
        fail_msg("input:\n%s\ngot:\n%s\nwant an error", in, got);
}

static void test_framing(void **state)
{
    (void)state;
    expect(NULL, "G", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello",
           "200 OK|v=1.1|f=03|cl=5|Content-Length:5|X-A:1\nbody=hello\nEND rest=0\n");
    expect(NULL, "G",
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
           "5\r\nhello\r\n6;x=y\r\n world\r\n0\r\nExpires: never\r\n\r\n",
           "200 OK|v=1.1|f=05|Transfer-Encoding:chunked\nbody=hello world\nEND rest=0\n");
    /* Body until close: complete only at EOF. */
    expect(NULL, "G", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: 1\n\n",
           "200 OK|v=1.1|f=08|Content-Type:text/event-stream\nbody=data: 1\\x0a\\x0a\nEOF 1\n");
    expect(NULL, "G", "HTTP/1.0 200 OK\r\n\r\n", "200 OK|v=1.0|f=08\nbody=\nEOF 1\n");
    /* Status line without a reason phrase. */
    expect(NULL, "G", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
           "200 |v=1.1|f=03|cl=0|Content-Length:0\nbody=\nEND rest=0\n");
    /* Multi-valued fields stay separate and in order. */
    expect(NULL, "G",
           "HTTP/1.1 302 Found\r\nSet-Cookie: a=1\r\nLocation: /x\r\nSet-Cookie: b=2\r\n"
           "Content-Length: 0\r\n\r\n",
           "302 Found|v=1.1|f=03|cl=0|Set-Cookie:a=1|Location:/x|Set-Cookie:b=2"
           "|Content-Length:0\nbody=\nEND rest=0\n");
}

static void test_no_body(void **state)
{
    (void)state;
    /* HEAD: Content-Length describes the resource; the next response follows. */
    expect(NULL, "HG",
           "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"
           "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
           "200 OK|v=1.1|f=11|cl=1234|Content-Length:1234\nbody=\n"
           "200 OK|v=1.1|f=03|cl=2|Content-Length:2\nbody=ok\nEND rest=0\n");
    expect(NULL, "GG",
           "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"
           "HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\nETag: \"x\"\r\n\r\n",
           "204 No Content|v=1.1|f=11|cl=5|Content-Length:5\nbody=\n"
           "304 Not Modified|v=1.1|f=11|cl=1234|Content-Length:1234|ETag:\"x\"\nbody=\n"
           "END rest=0\n");
    /* HEAD answered with chunked framing: still no body. */
    expect(NULL, "H", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
           "200 OK|v=1.1|f=11|Transfer-Encoding:chunked\nbody=\nEND rest=0\n");
}

static void test_interim_and_upgrade(void **state)
{
    (void)state;
    expect(NULL, "G",
           "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n"
           "HTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nx",
           "201 Created|v=1.1|f=03|cl=1|Content-Length:1\nbody=x\nEND rest=0\n");
    expect(NULL, "G",
           "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "\r\n\x81\x02hi",
           "101 Switching Protocols|v=1.1|f=30|Upgrade:websocket|Connection:Upgrade\nbody=\n"
           "END rest=4\n");
    /* Endless interim responses are cut off. */
    static char buf[4096];
    size_t n = 0;
    for (int i = 0; i <= HTTP_RESP_MAX_INTERIM; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "HTTP/1.1 100 Continue\r\n\r\n");
    snprintf(buf + n, sizeof(buf) - n, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    drive(&rec_whole, NULL, "G", buf, strlen(buf), NULL, 0);
    assert_string_equal(rec_whole.t.buf, "ERR too many interim responses\n");
}

static void test_keep_alive(void **state)
{
    (void)state;
    expect(NULL, "GG",
           "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na"
           "HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 1\r\n\r\nb",
           "200 OK|v=1.1|f=03|cl=1|Content-Length:1\nbody=a\n"
           "404 Not Found|v=1.1|f=02|cl=1|Connection:close|Content-Length:1\nbody=b\n"
           "END rest=0\n");
    expect(NULL, "G", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx",
           "200 OK|v=1.0|f=02|cl=1|Content-Length:1\nbody=x\nEND rest=0\n");
    expect(NULL, "G", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx",
           "200 OK|v=1.0|f=03|cl=1|Connection:keep-alive|Content-Length:1\nbody=x\nEND rest=0\n");
    /* A stray CRLF before the next status line is tolerated. */
    expect(NULL, "GG",
           "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na\r\nHTTP/1.1 200 OK\r\n"
           "Content-Length: 0\r\n\r\n",
           "200 OK|v=1.1|f=03|cl=1|Content-Length:1\nbody=a\n"
           "200 OK|v=1.1|f=03|cl=0|Content-Length:0\nbody=\nEND rest=0\n");
}

static void test_errors(void **state)
{
    (void)state;
    static const char *bad[] = {
        "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n",
        "HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX: a\rContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\n: a\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX Y: a\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX: \x01\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 99 Odd\r\n\r\n",
        "HTTP/1.1 600 Odd\r\n\r\n",
        "HTTP/1.1 1000 Odd\r\n\r\n",
        "HTTP/1.1 2x0 Odd\r\n\r\n",
        "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: 1\n\r\n",
        "GET / HTTP/1.1\r\n\r\n",
        "\x01\x02",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_err(NULL, bad[i]);

    /* Cut short at EOF. */
    expect(NULL, "G", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel",
           "200 OK|v=1.1|f=03|cl=5|Content-Length:5\nEOF ERR connection closed inside a "
           "response\n");
    expect(NULL, "G", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
           "200 OK|v=1.1|f=05|Transfer-Encoding:chunked\nEOF ERR connection closed inside a "
           "response\n");
    expect(NULL, "G", "HTTP/1.1 200 OK\r\nContent-Le",
           "EOF ERR connection closed inside a response\n");
    expect(NULL, "G", "", "EOF 0\n");
    expect(NULL, "G", "HTTP/1.1 100 Continue\r\n\r\n",
           "EOF ERR connection closed inside a response\n");

    /* Limits. */
    struct http_resp_config cfg = {64, 2};
    expect(&cfg, "G", "HTTP/1.1 200 OK\r\nA: 1\r\nContent-Length: 0\r\n\r\n",
           "200 OK|v=1.1|f=03|cl=0|A:1|Content-Length:0\nbody=\nEND rest=0\n");
    expect(&cfg, "G", "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nContent-Length: 0\r\n\r\n",
           "ERR too many header fields\n");
    expect(&cfg, "G",
           "HTTP/1.1 200 OK\r\nA: 01234567890123456789012345678901234567890123456789\r\n\r\n",
           "ERR header section too large\n");
}

static int stop_head(void *c, const struct http_resp *r)
{
    (void)c;
    (void)r;
    return 1;
}

static void test_api(void **state)
{
    (void)state;
    struct http_resp_parser p;
    static uint8_t hb[HTTP_RESP_DEFAULT_MAX_HEAD];
    static const struct http_resp_ops stop = {stop_head, NULL};
    size_t used;
    assert_int_equal(http_resp_init(&p, NULL, hb, sizeof(hb) - 1, &stop, NULL), -1);
    assert_int_equal(http_resp_init(&p, NULL, hb, sizeof(hb), NULL, NULL), -1);
    assert_int_equal(http_resp_init(&p, NULL, hb, sizeof(hb), &stop, NULL), 0);
    assert_int_equal(http_resp_begin(&p, 0), 0);
    const char *in = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    assert_int_equal(http_resp_feed(&p, (const uint8_t *)in, strlen(in), &used), HTTP_RESP_ABORTED);
    assert_string_equal(http_resp_reason(&p), "stopped by owner");
    assert_int_equal(http_resp_finish(&p), HTTP_RESP_ABORTED);
    assert_int_equal(http_resp_begin(&p, 0), -1);
}

static void test_writer(void **state)
{
    (void)state;
    uint8_t out[256];
    struct http_head_writer w;

    http_head_writer_init(&w, out, sizeof(out));
    http_resp_write_status(&w, 404);
    http_head_write_field(&w, SPAN_LIT("Content-Type"), SPAN_LIT("text/plain"));
    http_resp_write_length(&w, 9);
    int n = http_head_writer_end(&w);
    const char *want = "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n"
                       "Content-Length: 9\r\n\r\n";
    assert_int_equal(n, (int)strlen(want));
    assert_memory_equal(out, want, (size_t)n);

    http_head_writer_init(&w, out, sizeof(out));
    http_resp_write_status(&w, 299);
    http_resp_write_chunked(&w);
    n = http_head_writer_end(&w);
    want = "HTTP/1.1 299 \r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_int_equal(n, (int)strlen(want));
    assert_memory_equal(out, want, (size_t)n);

    http_head_writer_init(&w, out, sizeof(out));
    http_resp_write_status(&w, 99);
    assert_int_equal(http_head_writer_end(&w), -EINVAL);
    http_head_writer_init(&w, out, sizeof(out));
    http_resp_write_status(&w, 1000);
    assert_int_equal(http_head_writer_end(&w), -EINVAL);
    http_head_writer_init(&w, out, 10);
    http_resp_write_status(&w, 200);
    assert_int_equal(http_head_writer_end(&w), -ENOSPC);

    static const int known[] = {100, 101, 200, 204, 206, 301, 304, 400, 404, 408,
                                413, 414, 417, 431, 500, 501, 502, 503, 504, 505};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        assert_true(strlen(http_status_reason(known[i])) > 0);
    assert_string_equal(http_status_reason(200), "OK");
    assert_string_equal(http_status_reason(504), "Gateway Timeout");
    assert_string_equal(http_status_reason(299), "");

    uint8_t ch[HTTP_RESP_CHUNK_HEAD_MAX];
    assert_int_equal(http_resp_chunk_head(ch, 0), 0);
    assert_int_equal(http_resp_chunk_head(ch, 1), 3);
    assert_memory_equal(ch, "1\r\n", 3);
    assert_int_equal(http_resp_chunk_head(ch, 0x1f40), 6);
    assert_memory_equal(ch, "1f40\r\n", 6);
    assert_int_equal(http_resp_chunk_head(ch, UINT64_MAX), 18);
    assert_memory_equal(ch, "ffffffffffffffff\r\n", 18);
}

/* What the writer produces, the parser reads back. */
static void test_round_trip(void **state)
{
    (void)state;
    uint8_t out[512];
    struct http_head_writer w;
    http_head_writer_init(&w, out, sizeof(out));
    http_resp_write_status(&w, 200);
    http_head_write_field(&w, SPAN_LIT("Set-Cookie"), SPAN_LIT("a=1"));
    http_head_write_field(&w, SPAN_LIT("Set-Cookie"), SPAN_LIT("b=2"));
    http_resp_write_chunked(&w);
    int n = http_head_writer_end(&w);
    assert_true(n > 0);
    size_t len = (size_t)n;
    len += http_resp_chunk_head(out + len, 3);
    memcpy(out + len, "abc" HTTP_RESP_CHUNK_TAIL HTTP_RESP_LAST_CHUNK, 10);
    len += 10;
    out[len] = '\0';
    expect(NULL, "G", (const char *)out,
           "200 OK|v=1.1|f=05|Set-Cookie:a=1|Set-Cookie:b=2|Transfer-Encoding:chunked\n"
           "body=abc\nEND rest=0\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_framing),
        cmocka_unit_test(test_no_body),
        cmocka_unit_test(test_interim_and_upgrade),
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_api),
        cmocka_unit_test(test_writer),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
