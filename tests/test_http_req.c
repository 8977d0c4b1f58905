/*
 * tests/test_http_req.c — the gateway's request parser.
 *
 * Every vector is fed whole, one byte at a time, split at every offset and
 * (when short) split at every pair of offsets; each way must give the same
 * transcript. Pieces are fresh heap copies freed after each feed, so a span
 * kept past its feed shows up as garbage (or as a use-after-free in asan).
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

#include "proto/http_req.h"
#include "tests/support/http_feed.h"

struct rec {
    struct http_transcript t;
    uint8_t body[1 << 16];
    size_t body_len;
    int abort_head;
    int abort_body;
};

static int rec_head(void *cookie, const struct http_req *r)
{
    struct rec *c = cookie;
    struct http_transcript *t = &c->t;
    http_transcript_bytes(t, r->method_name.p, r->method_name.n);
    http_transcript_add(t, " ");
    http_transcript_bytes(t, r->target.p, r->target.n);
    http_transcript_add(t, "|p=");
    http_transcript_bytes(t, r->path.p, r->path.n);
    http_transcript_add(t, "|q=");
    http_transcript_bytes(t, r->query.p, r->query.n);
    http_transcript_add(t, "|h=");
    http_transcript_bytes(t, r->host.p, r->host.n);
    http_transcript_add(t, "|v=1.%u|f=%02x", r->version_minor, r->flags);
    if (r->flags & HTTP_REQ_F_CONTENT_LENGTH)
        http_transcript_add(t, "|cl=%llu", (unsigned long long)r->content_length);
    for (size_t i = 0; i < r->nfields; i++) {
        http_transcript_add(t, "|");
        http_transcript_bytes(t, r->fields[i].name.p, r->fields[i].name.n);
        http_transcript_add(t, ":");
        http_transcript_bytes(t, r->fields[i].value.p, r->fields[i].value.n);
    }
    http_transcript_add(t, "\n");
    c->body_len = 0;
    return c->abort_head;
}

static int rec_body(void *cookie, const uint8_t *p, size_t n)
{
    struct rec *c = cookie;
    assert_true(n > 0);
    assert_true(n <= sizeof(c->body) - c->body_len);
    memcpy(c->body + c->body_len, p, n);
    c->body_len += n;
    return c->abort_body;
}

static const struct http_req_ops rec_ops = {rec_head, rec_body};

/* Feeds in[0..len) cut at cuts[0..ncuts) (ascending) into a fresh parser. */
static void drive(struct rec *c, const struct http_req_config *cfg, const char *in, size_t len,
                  const size_t *cuts, size_t ncuts)
{
    struct http_req_parser p;
    size_t cap = cfg ? cfg->max_head : HTTP_REQ_DEFAULT_MAX_HEAD;
    uint8_t *hb = malloc(cap);
    assert_non_null(hb);
    http_transcript_reset(&c->t);
    c->body_len = 0;
    assert_int_equal(http_req_init(&p, cfg, hb, cap, &rec_ops, c), 0);
    int stopped = 0;
    for (size_t k = 0; k <= ncuts && !stopped; k++) {
        size_t a = k == 0 ? 0 : cuts[k - 1], b = k == ncuts ? len : cuts[k];
        uint8_t *piece = http_feed_copy(in + a, b - a);
        size_t off = 0;
        for (;;) {
            size_t used = 99999;
            int r = http_req_feed(&p, piece + off, b - a - off, &used);
            assert_true(used <= b - a - off);
            off += used;
            if (r == HTTP_REQ_DONE) {
                http_transcript_add(&c->t, "body=");
                http_transcript_bytes(&c->t, c->body, c->body_len);
                http_transcript_add(&c->t, "\n");
                /* Nothing more is consumed until http_req_next. */
                assert_int_equal(http_req_feed(&p, piece + off, b - a - off, &used), HTTP_REQ_DONE);
                assert_int_equal(used, 0);
                if (http_req_next(&p) < 0) {
                    http_transcript_add(&c->t, "END rest=%zu\n", len - a - off);
                    stopped = 1;
                    break;
                }
                continue;
            }
            if (r == HTTP_REQ_OK) {
                assert_int_equal(off, b - a);
                break;
            }
            if (r == HTTP_REQ_ABORTED)
                http_transcript_add(&c->t, "ABORT\n");
            else
                http_transcript_add(&c->t, "ERR %d\n", http_req_status(&p));
            /* Sticky. */
            assert_int_equal(http_req_feed(&p, (const uint8_t *)"x", 1, &used), r);
            assert_int_equal(used, 0);
            assert_int_equal(http_req_next(&p), -1);
            stopped = 1;
            break;
        }
        http_feed_release(piece, b - a);
    }
    if (!stopped)
        http_transcript_add(&c->t, "EOF %d\n", http_req_finish(&p));
    free(hb);
}

static struct rec rec_whole, rec_split;

/* Whole, byte by byte, every split, every double split (short inputs):
 * all must agree; returns the whole-feed transcript. */
static const char *run_all(const struct http_req_config *cfg, const char *in, size_t len)
{
    drive(&rec_whole, cfg, in, len, NULL, 0);
    size_t *cuts = malloc((len + 1) * sizeof(*cuts));
    assert_non_null(cuts);
    for (size_t i = 0; i + 1 < len; i++)
        cuts[i] = i + 1;
    rec_split.abort_head = rec_whole.abort_head;
    rec_split.abort_body = rec_whole.abort_body;
    if (len > 1) {
        drive(&rec_split, cfg, in, len, cuts, len - 1);
        if (strcmp(rec_whole.t.buf, rec_split.t.buf) != 0)
            fail_msg("byte-at-a-time differs:\nwhole:\n%s\nbytes:\n%s", rec_whole.t.buf,
                     rec_split.t.buf);
    }
    for (size_t i = 1; i < len; i++) {
        cuts[0] = i;
        drive(&rec_split, cfg, in, len, cuts, 1);
        if (strcmp(rec_whole.t.buf, rec_split.t.buf) != 0)
            fail_msg("split at %zu differs:\nwhole:\n%s\nsplit:\n%s", i, rec_whole.t.buf,
                     rec_split.t.buf);
    }
    if (len <= 140) {
        for (size_t i = 1; i < len; i++) {
            for (size_t j = i + 1; j < len; j++) {
                cuts[0] = i;
                cuts[1] = j;
                drive(&rec_split, cfg, in, len, cuts, 2);
                if (strcmp(rec_whole.t.buf, rec_split.t.buf) != 0)
                    fail_msg("split at %zu,%zu differs:\nwhole:\n%s\nsplit:\n%s", i, j,
                             rec_whole.t.buf, rec_split.t.buf);
            }
        }
    }
    free(cuts);
    return rec_whole.t.buf;
}

static void expect(const struct http_req_config *cfg, const char *in, const char *want)
{
    const char *got = run_all(cfg, in, strlen(in));
    if (strcmp(got, want) != 0)
        fail_msg("input:\n%s\ngot:\n%s\nwant:\n%s", in, got, want);
}

/* The transcript must end with want (an error line, typically). */
static void expect_end(const struct http_req_config *cfg, const char *in, const char *want)
{
    const char *got = run_all(cfg, in, strlen(in));
    size_t g = strlen(got), w = strlen(want);
    if (g < w || strcmp(got + g - w, want) != 0)
        fail_msg("input:\n%s\ngot:\n%s\nwant ending:\n%s", in, got, want);
}

/* ------------------------------------------------------------ valid */

static void test_simple_get(void **state)
{
    (void)state;
    expect(NULL,
           "GET /a/b?x=1&y=%20 HTTP/1.1\r\nHost: example.com:8080\r\nUser-Agent: t\r\n"
           "Accept:  */*  \r\nX-Empty:\r\nX-Tab:\tv\t\r\n\r\n",
           "GET /a/b?x=1&y=%20|p=/a/b|q=x=1&y=%20|h=example.com:8080|v=1.1|f=41"
           "|Host:example.com:8080|User-Agent:t|Accept:*/*|X-Empty:|X-Tab:v\n"
           "body=\nEOF 0\n");
}

static void test_methods_and_forms(void **state)
{
    (void)state;
    expect(NULL, "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n",
           "HEAD /|p=/|q=|h=a|v=1.1|f=01|Host:a\nbody=\nEOF 0\n");
    expect(NULL, "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
           "OPTIONS *|p=*|q=|h=a|v=1.1|f=01|Host:a\nbody=\nEOF 0\n");
    expect(NULL, "GET http://Example.COM:8080/x/?q HTTP/1.1\r\nHost: other\r\n\r\n",
           "GET http://Example.COM:8080/x/?q|p=/x/|q=q|h=Example.COM:8080|v=1.1|f=61"
           "|Host:other\nbody=\nEOF 0\n");
    expect(NULL, "DELETE https://h HTTP/1.1\r\nHost: h\r\n\r\n",
           "DELETE https://h|p=|q=|h=h|v=1.1|f=21|Host:h\nbody=\nEOF 0\n");
    expect(NULL, "PATCH /? HTTP/1.1\r\nHost: a\r\n\r\n",
           "PATCH /?|p=/|q=|h=a|v=1.1|f=41|Host:a\nbody=\nEOF 0\n");
    expect(NULL, "GET //a//b/?a=%zz&b=\"{}|^`\\ HTTP/1.1\r\nHost: a\r\n\r\n",
           "GET //a//b/?a=%zz&b=\"{}|^`\\x5c|p=//a//b/|q=a=%zz&b=\"{}|^`\\x5c|h=a|v=1.1|f=41"
           "|Host:a\nbody=\nEOF 0\n");
    /* Empty lines before the request line are ignored (RFC 9112 2.2). */
    expect(NULL, "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
           "GET /|p=/|q=|h=a|v=1.1|f=01|Host:a\nbody=\nEOF 0\n");
    /* obs-text in a value is kept as is. */
    expect(NULL, "GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\n\r\n",
           "GET /|p=/|q=|h=a|v=1.1|f=01|Host:a|X:caf\\xc3\\xa9\nbody=\nEOF 0\n");
}

static void test_bodies(void **state)
{
    (void)state;
    expect(NULL, "POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
           "POST /u|p=/u|q=|h=a|v=1.1|f=03|cl=5|Host:a|Content-Length:5\nbody=hello\nEOF 0\n");
    expect(NULL, "POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
           "POST /u|p=/u|q=|h=a|v=1.1|f=03|cl=0|Host:a|Content-Length:0\nbody=\nEOF 0\n");
    expect(NULL,
           "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
           "5;name=val\r\nhello\r\n1;a;q=\"x y\"\r\n \r\nA\r\n0123456789\r\n0\r\n"
           "Trailer-X: t\r\n\r\n",
           "POST /c|p=/c|q=|h=a|v=1.1|f=05|Host:a|Transfer-Encoding:chunked\n"
           "body=hello 0123456789\nEOF 0\n");
    expect(NULL, "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n0\r\n\r\n",
           "POST /c|p=/c|q=|h=a|v=1.1|f=05|Host:a|Transfer-Encoding:Chunked\nbody=\nEOF 0\n");
}

static void test_pipelining(void **state)
{
    (void)state;
    /* Three requests in one feed: answered one at a time, in order. */
    expect(NULL,
           "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
           "POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
           "PUT /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n",
           "GET /1|p=/1|q=|h=a|v=1.1|f=01|Host:a\nbody=\n"
           "POST /2|p=/2|q=|h=a|v=1.1|f=03|cl=3|Host:a|Content-Length:3\nbody=abc\n"
           "PUT /3|p=/3|q=|h=a|v=1.1|f=05|Host:a|Transfer-Encoding:chunked\nbody=xy\n"
           "EOF 0\n");
    /* EOF in the middle of the second one. */
    expect(NULL, "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHo",
           "GET /1|p=/1|q=|h=a|v=1.1|f=01|Host:a\nbody=\nEOF -1\n");
}

static void test_keep_alive_forms(void **state)
{
    (void)state;
    expect(NULL, "GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n",
           "GET /|p=/|q=|h=|v=1.0|f=00\nbody=\nEND rest=18\n");
    expect(NULL, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n",
           "GET /|p=/|q=|h=|v=1.0|f=01|Connection:keep-alive\nbody=\n"
           "GET /|p=/|q=|h=|v=1.0|f=00\nbody=\nEND rest=0\n");
    expect(NULL, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n",
           "GET /|p=/|q=|h=a|v=1.1|f=00|Host:a|Connection:close\nbody=\nEND rest=16\n");
}

static void test_expect_and_upgrade(void **state)
{
    (void)state;
    expect(NULL,
           "PUT /x HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\nok",
           "PUT /x|p=/x|q=|h=a|v=1.1|f=0b|cl=2|Host:a|Expect:100-Continue|Content-Length:2\n"
           "body=ok\nEOF 0\n");
    /* Upgrade: the parser stops after the head and leaves the rest. */
    expect(NULL,
           "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: k\r\n\r\n\x81\x80",
           "GET /ws|p=/ws|q=|h=a|v=1.1|f=11|Host:a|Upgrade:websocket|Connection:Upgrade"
           "|Sec-WebSocket-Key:k\nbody=\nEND rest=2\n");
}

/* ------------------------------------------------------------ errors */

struct bad {
    const char *in;
    int status;
};

static void check_bad(const struct bad *v, size_t n)
{
    char want[32];
    for (size_t i = 0; i < n; i++) {
        snprintf(want, sizeof(want), "ERR %d\n", v[i].status);
        const char *got = run_all(NULL, v[i].in, strlen(v[i].in));
        size_t g = strlen(got), w = strlen(want);
        if (g < w || strcmp(got + g - w, want) != 0)
            fail_msg("vector %zu:\n%s\ngot:\n%s\nwant ending:\n%s", i, v[i].in, got, want);
    }
}

static void test_smuggling(void **state)
{
    (void)state;
    static const struct bad v[] = {
        /* obs-fold, leading whitespace */
        {"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\n Content-Length: 3\r\n\r\nabc", 400},
        /* bare LF / bare CR */
        {"GET / HTTP/1.1\nHost: a\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\n\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\n\r\r\n", 400},
        {"GET / HTTP/1.1\r\r\nHost: a\r\n\r\n", 400},
        /* Content-Length with Transfer-Encoding, either order */
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
         "0\r\n\r\n",
         400},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
         "0\r\n\r\n",
         400},
        /* duplicate Content-Length, differing or not, and lists */
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc", 400},
        /* bad Content-Length values */
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc", 400},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3 4\r\n\r\nabc", 400},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x3\r\n\r\nabc", 400},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 3\r\n\r\nabc", 400},
        /* transfer codings */
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nabc", 501},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 501},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
         "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
         400},
        /* chunk sizes */
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-3\r\nabc\r\n0\r\n\r\n",
         400},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n",
         400},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n",
         400},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
         "fffffffffffffffffff\r\nabc\r\n0\r\n\r\n",
         400},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\ng\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n",
         400},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n",
         400},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\n0\r\n\r\n",
         400},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\rabc\r\n0\r\n\r\n",
         400},
        /* chunk extensions */
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "
         "chunked\r\n\r\n3;a\nb\r\nabc\r\n0\r\n\r\n",
         400},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;\r\nabc\r\n0\r\n\r\n",
         400},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3 ;a\r\nabc\r\n0\r\n\r\n",
         400},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;a=\x01\r\nabc\r\n",
         400},
        /* last chunk and trailers */
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\n", 400},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: y\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: y\r\n z\r\n\r\n",
         400},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n: y\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: \x7f\r\n\r\n",
         400},
    };
    check_bad(v, sizeof(v) / sizeof(v[0]));
}

static void test_bad_heads(void **state)
{
    (void)state;
    static const struct bad v[] = {
        {"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nX: a\x1b\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nX Y: b\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nX\r\n\r\n", 400},
        {"GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"GET /\t HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400},
        {"GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {" GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"GET /\r\n\r\n", 400},
        {"GET / HTTP\r\n\r\n", 400},
        {"GET / HTTP/1.1x\r\nHost: a\r\n\r\n", 400},
        {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
        {"GET / HTTP/1.2\r\nHost: a\r\n\r\n", 400}, /* llhttp refuses it */
        {"GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505},
        {"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505},
        {"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n", 501},
        {"FOO / HTTP/1.1\r\nHost: a\r\n\r\n", 501},
        {"get / HTTP/1.1\r\nHost: a\r\n\r\n", 501},
        {"\x16\x03\x01\x02\x00\x01\x00", 400},
        /* Host */
        {"GET / HTTP/1.1\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 400},
        /* targets */
        {"GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"GET ftp://h/x HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"GET http://u@h/x HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        /* expectations */
        {"PUT / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", 417},
        {"PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nExpect: x\r\n\r\n", 417},
    };
    check_bad(v, sizeof(v) / sizeof(v[0]));

    /* NUL bytes, in a value and in the target. */
    static const char nul1[] = "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n";
    static const char nul2[] = "GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_string_equal(run_all(NULL, nul1, sizeof(nul1) - 1), "ERR 400\n");
    assert_string_equal(run_all(NULL, nul2, sizeof(nul2) - 1), "ERR 400\n");
}

static void test_limits(void **state)
{
    (void)state;
    struct http_req_config cfg;
    static char buf[8192];
    http_req_config_defaults(&cfg);
    cfg.max_head = 256;
    cfg.max_fields = 4;
    cfg.max_body = 10;

    /* Exactly at the head limit: fine; one byte more: 431. */
    const char *pre = "GET / HTTP/1.1\r\nHost: a\r\nX: ";
    size_t fill = 256 - strlen(pre) - 4;
    snprintf(buf, sizeof(buf), "%s%.*s\r\n\r\n", pre, (int)fill,
             "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"
             "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"
             "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv");
    assert_int_equal(strlen(buf), 256);
    expect_end(&cfg, buf, "body=\nEOF 0\n");
    snprintf(buf, sizeof(buf), "%s%.*sw\r\n\r\n", pre, (int)fill,
             "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"
             "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"
             "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv");
    expect(&cfg, buf, "ERR 431\n");

    /* A request line alone over the limit: 414. */
    memset(buf, 0, sizeof(buf));
    memcpy(buf, "GET /", 5);
    memset(buf + 5, 'a', 300);
    expect(&cfg, buf, "ERR 414\n");

    /* Empty lines before the request line count too. */
    memset(buf, 0, sizeof(buf));
    for (int i = 0; i < 200; i++)
        memcpy(buf + 2 * i, "\r\n", 2);
    expect(&cfg, buf, "ERR 414\n");

    /* Field count: 4 fine, 5 is 431. */
    expect_end(&cfg, "GET / HTTP/1.1\r\nHost: a\r\nB: 1\r\nC: 2\r\nD: 3\r\n\r\n", "EOF 0\n");
    expect(&cfg, "GET / HTTP/1.1\r\nHost: a\r\nB: 1\r\nC: 2\r\nD: 3\r\nE: 4\r\n\r\n", "ERR 431\n");

    /* Body: Content-Length decides before any body byte arrives. */
    expect_end(&cfg, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789",
               "body=0123456789\nEOF 0\n");
    expect(&cfg, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n", "ERR 413\n");
    expect(
        &cfg,
        "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 18446744073709551615"
        "\r\n\r\n",
        "ERR 413\n");
    /* Chunked: as soon as a chunk would pass the limit. */
    expect_end(&cfg,
               "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
               "5\r\n01234\r\n5\r\n56789\r\n0\r\n\r\n",
               "body=0123456789\nEOF 0\n");
    expect_end(&cfg,
               "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
               "5\r\n01234\r\n6\r\n56789X\r\n0\r\n\r\n",
               "ERR 413\n");
    /* No byte past the limit ever reaches on_body. */
    assert_true(rec_whole.body_len <= 10);

    /* Chunk extensions are bounded. */
    memset(buf, 0, sizeof(buf));
    int n = snprintf(buf, sizeof(buf),
                     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;a=");
    memset(buf + n, 'x', HTTP_REQ_CHUNK_EXT_MAX);
    memcpy(buf + n + HTTP_REQ_CHUNK_EXT_MAX, "\r\nz\r\n0\r\n\r\n", 11);
    drive(&rec_whole, NULL, buf, strlen(buf), NULL, 0);
    assert_non_null(strstr(rec_whole.t.buf, "ERR 400\n"));

    /* Trailers are bounded by the head limit too. */
    memset(buf, 0, sizeof(buf));
    n = snprintf(buf, sizeof(buf),
                 "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: ");
    memset(buf + n, 't', 300);
    drive(&rec_whole, &cfg, buf, strlen(buf), NULL, 0);
    assert_non_null(strstr(rec_whole.t.buf, "ERR 431\n"));
}

static void test_head_straddles_feeds(void **state)
{
    (void)state;
    /* A head in many feeds lands in the head buffer; spans stay right even
     * though every feed buffer is poisoned and freed after use. */
    static char buf[4096];
    size_t n = (size_t)snprintf(buf, sizeof(buf),
                                "GET /%s HTTP/1.1\r\nHost: example.com\r\nX-Long: %s\r\n\r\n",
                                "pppppppppppppppppppppppppppppppppppppppppppppppppppppppp",
                                "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv");
    const char *want = run_all(NULL, buf, n);
    assert_non_null(strstr(want, "|X-Long:vvvv"));
    assert_non_null(strstr(want, "GET /pppp"));
}

static int stop_head(void *c, const struct http_req *r)
{
    (void)c;
    (void)r;
    return 1;
}

static void test_misc_api(void **state)
{
    (void)state;
    struct http_req_parser p;
    static uint8_t hb[HTTP_REQ_DEFAULT_MAX_HEAD];
    size_t used;
    static const struct http_req_ops stop_ops = {stop_head, NULL};
    static const struct http_req_ops no_ops = {NULL, NULL};

    assert_int_equal(http_req_init(&p, NULL, hb, sizeof(hb) - 1, &rec_ops, NULL), -1);
    assert_int_equal(http_req_init(&p, NULL, hb, sizeof(hb), &no_ops, NULL), -1);
    assert_int_equal(http_req_init(&p, NULL, hb, sizeof(hb), &stop_ops, NULL), 0);
    assert_true(http_req_idle(&p));
    assert_int_equal(http_req_finish(&p), 0);
    assert_int_equal(http_req_next(&p), -1);
    const char *in = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_int_equal(http_req_feed(&p, (const uint8_t *)in, 3, &used), HTTP_REQ_OK);
    assert_int_equal(used, 3);
    assert_false(http_req_idle(&p));
    assert_int_equal(http_req_feed(&p, (const uint8_t *)in + 3, strlen(in) - 3, &used),
                     HTTP_REQ_ABORTED);
    assert_int_equal(http_req_status(&p), 0);
    assert_string_equal(http_req_reason(&p), "stopped by owner");
    assert_int_equal(http_req_finish(&p), HTTP_REQ_ABORTED);

    /* An empty feed is harmless. */
    assert_int_equal(http_req_init(&p, NULL, hb, sizeof(hb), &rec_ops, &rec_whole), 0);
    assert_int_equal(http_req_feed(&p, (const uint8_t *)"", 0, &used), HTTP_REQ_OK);
    assert_int_equal(used, 0);

    /* Body abort. */
    rec_whole.abort_body = 1;
    expect(NULL, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx",
           "POST /|p=/|q=|h=a|v=1.1|f=03|cl=1|Host:a|Content-Length:1\nABORT\n");
    rec_whole.abort_body = 0;

    /* Request-line writer. */
    uint8_t out[64];
    struct http_head_writer w;
    http_head_writer_init(&w, out, sizeof(out));
    http_req_write_line(&w, SPAN_LIT("GET"), SPAN_LIT("/a?b=c"));
    http_head_write_field(&w, SPAN_LIT("Host"), SPAN_LIT("x"));
    int len = http_head_writer_end(&w);
    assert_int_equal(len, (int)strlen("GET /a?b=c HTTP/1.1\r\nHost: x\r\n\r\n"));
    assert_memory_equal(out, "GET /a?b=c HTTP/1.1\r\nHost: x\r\n\r\n", (size_t)len);
    http_head_writer_init(&w, out, sizeof(out));
    http_req_write_line(&w, SPAN_LIT("GET"), SPAN_LIT("/a b"));
    assert_int_equal(http_head_writer_end(&w), -EINVAL);
    http_head_writer_init(&w, out, sizeof(out));
    http_req_write_line(&w, SPAN_LIT("G T"), SPAN_LIT("/"));
    assert_int_equal(http_head_writer_end(&w), -EINVAL);
    http_head_writer_init(&w, out, sizeof(out));
    http_req_write_line(&w, SPAN_LIT("GET"), SPAN_LIT("/\r\nX: y"));
    assert_int_equal(http_head_writer_end(&w), -EINVAL);
}

static void test_head_helpers(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
        int canon;
    } v[] = {
        {"content-type", "Content-Type", 1},
        {"X-FORWARDED-FOR", "X-Forwarded-For", 1},
        {"x-h8s-original-path", "X-H8s-Original-Path", 1},
        {"host", "Host", 1},
        {"www-authenticate", "Www-Authenticate", 1},
        {"a--b", "A--B", 1},
        {"-x", "-X", 1},
        {"1abc", "1abc", 1},
        {"x_y", "X_y", 1},
        {"foo bar", "foo bar", 0},
        {"foo:bar", "foo:bar", 0},
        {"caf\xc3\xa9", "caf\xc3\xa9", 0},
        {"", "", 0},
    };
    uint8_t out[64];
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        size_t n = strlen(v[i].in);
        assert_int_equal(http_head_canonical(out, span_make(v[i].in, n)), v[i].canon);
        assert_memory_equal(out, v[i].out, n);
    }
    /* In place. */
    char inplace[] = "accept-encoding";
    http_head_canonical((uint8_t *)inplace, span_cstr(inplace));
    assert_string_equal(inplace, "Accept-Encoding");

    struct http_head_field f[] = {
        {SPAN_LIT("Connection"), SPAN_LIT("keep-alive, X-Private ,  close")},
        {SPAN_LIT("X-Private"), SPAN_LIT("1")},
        {SPAN_LIT("Content-Type"), SPAN_LIT("text/plain")},
    };
    static const char *hop[] = {
        "Connection",
        "keep-alive",
        "Proxy-Connection",
        "proxy-authenticate",
        "Proxy-Authorization",
        "TE",
        "Trailer",
        "transfer-encoding",
        "Upgrade",
        "x-private",
    };
    for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
        assert_true(http_head_hop_by_hop(span_cstr(hop[i]), f, 3));
    assert_false(http_head_hop_by_hop(SPAN_LIT("Content-Type"), f, 3));
    assert_false(http_head_hop_by_hop(SPAN_LIT("X-Private"), f + 1, 2));
    assert_false(http_head_hop_by_hop(SPAN_LIT("Host"), f, 3));
    assert_true(http_head_list_has(SPAN_LIT("a,b , c"), SPAN_LIT("B")));
    assert_false(http_head_list_has(SPAN_LIT("ab, c"), SPAN_LIT("a")));
    assert_false(http_head_list_has(SPAN_LIT(""), SPAN_LIT("")) &&
                 http_head_list_has(SPAN_LIT("a"), SPAN_LIT("")));
    assert_int_equal(http_head_find(f, 3, SPAN_LIT("content-type"), 0), 2);
    assert_int_equal(http_head_find(f, 3, SPAN_LIT("content-type"), 3), -1);

    /* The field writer refuses anything that could split a head. */
    struct http_head_writer w;
    http_head_writer_init(&w, out, sizeof(out));
    http_head_write_field(&w, SPAN_LIT("X"), SPAN_LIT("a\r\nInjected: 1"));
    assert_int_equal(http_head_writer_end(&w), -EINVAL);
    http_head_writer_init(&w, out, sizeof(out));
    http_head_write_field(&w, SPAN_LIT("X:Y"), SPAN_LIT("a"));
    assert_int_equal(http_head_writer_end(&w), -EINVAL);
    http_head_writer_init(&w, out, 8);
    http_head_write_field(&w, SPAN_LIT("Xyz"), SPAN_LIT("abc"));
    assert_int_equal(http_head_writer_end(&w), -ENOSPC);
    http_head_writer_init(&w, out, sizeof(out));
    http_head_write_u64(&w, 0);
    http_head_write_raw(&w, " ", 1);
    http_head_write_u64(&w, UINT64_MAX);
    assert_int_equal(w.len, 22);
    assert_memory_equal(out, "0 18446744073709551615", 22);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_get),       cmocka_unit_test(test_methods_and_forms),
        cmocka_unit_test(test_bodies),           cmocka_unit_test(test_pipelining),
        cmocka_unit_test(test_keep_alive_forms), cmocka_unit_test(test_expect_and_upgrade),
        cmocka_unit_test(test_smuggling),        cmocka_unit_test(test_bad_heads),
        cmocka_unit_test(test_limits),           cmocka_unit_test(test_head_straddles_feeds),
        cmocka_unit_test(test_misc_api),         cmocka_unit_test(test_head_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
