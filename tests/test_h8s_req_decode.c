/*
 * tests/test_h8s_req_decode.c — request messages into backend request
 * heads (proto/h8s_req_decode).
 *
 * A message arrives whole (the NATS parser assembles it), so the hostile
 * part is its content: each message's subject, header block and data are
 * separate heap copies of exactly their size (ASan sees any over-read),
 * and every head written is parsed back by the strict request parser
 * (proto/http_req) to check that method, target and Host survive and no
 * internal header does.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/h8s_req_decode.h"
#include "proto/http_req.h"
#include "proto/nats_hdr.h"
#include "tests/support/http_feed.h"

static const struct h8s_req_decode_route route = {
    .rhost = SPAN_LIT("com.example.app"),
    .host = SPAN_LIT("app.example.com"),
    .base_path = {NULL, 0},
    .authority = SPAN_LIT("127.0.0.1:8080"),
    .rewrite_host = 0,
};

/* Header pairs as "Key", "Value", ..., NULL. */
struct msg {
    uint8_t *subject, *reply, *hdr, *data;
    struct nats_msg m;
};

static void msg_make(struct msg *o, const char *subject, const char *reply, const char *const *kv,
                     const char *data, size_t data_len)
{
    uint8_t block[NATS_HDR_MAX];
    struct nats_hdr_builder b;
    struct span h = {0};
    if (kv) {
        nats_hdr_build_init(&b, block, sizeof(block), 0, span_make(NULL, 0));
        for (size_t i = 0; kv[i]; i += 2)
            nats_hdr_build_add(&b, span_cstr(kv[i]), span_cstr(kv[i + 1]));
        assert_int_equal(nats_hdr_build_finish(&b, &h), 0);
    }
    o->subject = http_feed_copy(subject, strlen(subject));
    o->reply = http_feed_copy(reply, strlen(reply));
    o->hdr = http_feed_copy(h.p, h.n);
    o->data = http_feed_copy(data, data_len);
    o->m.subject = span_make(o->subject, strlen(subject));
    o->m.reply = span_make(o->reply, strlen(reply));
    o->m.hdr = span_make(o->hdr, h.n);
    o->m.payload = span_make(o->data, data_len);
    o->m.sid = 1;
}

static void msg_free(struct msg *o)
{
    http_feed_release(o->subject, o->m.subject.n);
    http_feed_release(o->reply, o->m.reply.n);
    http_feed_release(o->hdr, o->m.hdr.n);
    http_feed_release(o->data, o->m.payload.n);
}

/* ------------------------------------------------- round trip via llhttp */

struct back {
    char method[32], target[4096], host[512];
    int internal; /* an X-H8s-* field was seen */
    int heads;
    uint64_t cl;
    unsigned flags;
};

static int back_head(void *cookie, const struct http_req *r)
{
    struct back *b = cookie;
    b->heads++;
    snprintf(b->method, sizeof(b->method), "%.*s", (int)r->method_name.n,
             (const char *)r->method_name.p);
    snprintf(b->target, sizeof(b->target), "%.*s", (int)r->target.n, (const char *)r->target.p);
    snprintf(b->host, sizeof(b->host), "%.*s", (int)r->host.n, (const char *)r->host.p);
    b->flags = r->flags;
    b->cl = r->content_length;
    for (size_t i = 0; i < r->nfields; i++) {
        if (r->fields[i].name.n >= 6 &&
            strncasecmp((const char *)r->fields[i].name.p, "x-h8s-", 6) == 0)
            b->internal = 1;
    }
    return 0;
}

static const struct http_req_ops back_ops = {back_head, NULL};

static void reparse(const struct h8s_req_decode *d, struct back *b)
{
    static uint8_t hb[H8S_REQ_DECODE_HEAD_MAX];
    struct http_req_parser p;
    struct http_req_config cfg = {sizeof(hb), HTTP_HEAD_MAX_FIELDS, UINT64_MAX};
    size_t used;
    memset(b, 0, sizeof(*b));
    assert_int_equal(http_req_init(&p, &cfg, hb, sizeof(hb), &back_ops, b), 0);
    uint8_t *copy = http_feed_copy(d->head.p, d->head.n);
    int rc = http_req_feed(&p, copy, d->head.n, &used);
    http_feed_release(copy, d->head.n);
    /* The head alone: complete when no body is announced, else waiting
     * for it. */
    if (b->heads != 1 || (rc != HTTP_REQ_OK && rc != HTTP_REQ_DONE))
        fail_msg("head did not parse back (%d, %s):\n%.*s", rc, http_req_reason(&p), (int)d->head.n,
                 (const char *)d->head.p);
    assert_int_equal(used, d->head.n);
    assert_int_equal(rc == HTTP_REQ_DONE, !(d->flags & H8S_REQ_DECODE_F_STREAM) && d->body.n == 0);
    assert_false(b->internal);
    assert_int_equal(strlen(b->method), d->method.n);
    assert_memory_equal(b->method, d->method.p, d->method.n);
    assert_int_equal(strlen(b->target), d->target.n);
    assert_memory_equal(b->target, d->target.p, d->target.n);
}

static uint8_t head_buf[H8S_REQ_DECODE_HEAD_MAX];

/* Decodes, checks the head text, reparses it. Returns the flags. */
static unsigned expect_head(const struct h8s_req_decode_route *rt, const char *subject,
                            const char *reply, const char *const *kv, const char *data,
                            const char *want)
{
    struct msg o;
    struct h8s_req_decode d;
    struct back b;
    msg_make(&o, subject, reply, kv, data, strlen(data));
    int rc = h8s_req_decode(&d, rt, &o.m, head_buf, sizeof(head_buf));
    if (rc != 0)
        fail_msg("decode failed: %s", h8s_req_decode_strerror(rc));
    if (d.head.n != strlen(want) || memcmp(d.head.p, want, d.head.n) != 0)
        fail_msg("got:\n%.*s\nwant:\n%s", (int)d.head.n, (const char *)d.head.p, want);
    reparse(&d, &b);
    assert_true(d.body.n == strlen(data) || (d.flags & H8S_REQ_DECODE_F_STREAM));
    unsigned flags = d.flags;
    msg_free(&o);
    return flags;
}

static int decode_err(const struct h8s_req_decode_route *rt, const char *subject, const char *reply,
                      const char *const *kv, const char *data, struct h8s_req_decode *d)
{
    struct msg o;
    msg_make(&o, subject, reply, kv, data, strlen(data));
    int rc = h8s_req_decode(d, rt, &o.m, head_buf, sizeof(head_buf));
    msg_free(&o);
    return rc;
}

#define GW_HEADERS(path, query)                                                                    \
    "Host", "app.example.com", "X-H8s-PublishSubject", "h8s.http.GET.com.example.app",             \
        "X-H8s-ReplySubject", "_INBOX.h8s.gw.r1", "X-H8s-Original-Query", query,                   \
        "X-H8s-Original-Path", path, "X-H8s-Connection-Close-Subject",                             \
        "h8s.control.connection.closed.gw.r1", "X-Forwarded-For", "10.0.0.1", "X-Forwarded-Proto", \
        "http", "X-Forwarded-Host", "app.example.com"

static void test_gateway_request(void **state)
{
    (void)state;
    const char *kv[] = {
        GW_HEADERS("/a/b.html", "x=1&y=%20"), "Accept", "*/*", "X-H8s-Window", "65536", NULL};
    struct msg o;
    struct h8s_req_decode d;
    msg_make(&o, "h8s.http.GET.com.example.app.a.b%2Ehtml", "_INBOX.h8s.gw.r1", kv, "", 0);
    assert_int_equal(h8s_req_decode(&d, &route, &o.m, head_buf, sizeof(head_buf)), 0);
    const char *want = "GET /a/b.html?x=1&y=%20 HTTP/1.1\r\nHost: app.example.com\r\n"
                       "X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: http\r\n"
                       "X-Forwarded-Host: app.example.com\r\nAccept: */*\r\n\r\n";
    assert_int_equal(d.head.n, strlen(want));
    assert_memory_equal(d.head.p, want, d.head.n);
    assert_true(span_eq(d.method, SPAN_LIT("GET")));
    assert_true(span_eq(d.target, SPAN_LIT("/a/b.html?x=1&y=%20")));
    assert_true(span_eq(d.reply, SPAN_LIT("_INBOX.h8s.gw.r1")));
    assert_true(span_eq(d.close_subject, SPAN_LIT("h8s.control.connection.closed.gw.r1")));
    assert_true(span_eq(d.host, SPAN_LIT("app.example.com")));
    assert_int_equal(d.flags, H8S_REQ_DECODE_F_WINDOW | H8S_REQ_DECODE_F_CLOSE);
    assert_true(d.window == 65536);
    msg_free(&o);
}

static void test_paths(void **state)
{
    (void)state;
    /* The raw path wins over the subject: trailing slash, '//', encodings. */
    const char *kv1[] = {"X-H8s-Original-Path", "//a%2Fb/./c/", NULL};
    expect_head(&route, "h8s.http.GET.com.example.app.a.b.%2E.c", "r", kv1, "",
                "GET //a%2Fb/./c/ HTTP/1.1\r\nHost: app.example.com\r\n\r\n");
    /* Without it: the subject tokens. */
    unsigned f = expect_head(&route, "h8s.http.GET.com.example.app.a.b%2Ehtml", "r", NULL, "",
                             "GET /a/b%2Ehtml HTTP/1.1\r\nHost: app.example.com\r\n\r\n");
    assert_true(f & H8S_REQ_DECODE_F_FALLBACK);
    expect_head(&route, "h8s.http.DELETE.com.example.app", "r", NULL, "",
                "DELETE / HTTP/1.1\r\nHost: app.example.com\r\n\r\n");
    /* Bytes a target cannot hold are percent-encoded, nothing else changes. */
    const char *kv2[] = {"X-H8s-Original-Path", "/caf\xc3\xa9 x#?", "X-H8s-Original-Query",
                         "q=\"a b\"#frag?&x=%zz", NULL};
    expect_head(&route, "h8s.http.GET.com.example.app", "r", kv2, "",
                "GET /caf%C3%A9%20x%23%3F?q=\"a%20b\"%23frag?&x=%zz HTTP/1.1\r\n"
                "Host: app.example.com\r\n\r\n");
    /* OPTIONS * */
    const char *kv3[] = {"X-H8s-Original-Path", "*", NULL};
    expect_head(&route, "h8s.http.OPTIONS.com.example.app.%2A", "r", kv3, "",
                "OPTIONS * HTTP/1.1\r\nHost: app.example.com\r\n\r\n");
    struct h8s_req_decode d;
    assert_int_equal(decode_err(&route, "h8s.http.GET.com.example.app", "r", kv3, "", &d),
                     H8S_REQ_DECODE_E_PATH);
    const char *bad[] = {"", "a/b", "?x", "**"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *kv[] = {"X-H8s-Original-Path", bad[i], NULL};
        assert_int_equal(decode_err(&route, "h8s.http.GET.com.example.app", "r", kv, "", &d),
                         H8S_REQ_DECODE_E_PATH);
    }
}

static void test_base_path(void **state)
{
    (void)state;
    struct h8s_req_decode_route rt = route;
    rt.base_path = SPAN_LIT("/api/v1");
    const char *kv[] = {"X-H8s-Original-Path", "/", "X-H8s-Original-Query", "a=b", NULL};
    expect_head(&rt, "h8s.http.GET.com.example.app", "r", kv, "",
                "GET /api/v1/?a=b HTTP/1.1\r\nHost: app.example.com\r\n\r\n");
    expect_head(&rt, "h8s.http.GET.com.example.app.x.y", "r", NULL, "",
                "GET /api/v1/x/y HTTP/1.1\r\nHost: app.example.com\r\n\r\n");
    const char *kv3[] = {"X-H8s-Original-Path", "*", NULL};
    expect_head(&rt, "h8s.http.OPTIONS.com.example.app.%2A", "r", kv3, "",
                "OPTIONS /api/v1 HTTP/1.1\r\nHost: app.example.com\r\n\r\n");
}

static void test_headers_dropped_and_kept(void **state)
{
    (void)state;
    const char *kv[] = {"x-h8s-anything",
                        "1",
                        "X-H8S-PUBLISHSUBJECT",
                        "s",
                        "Connection",
                        "keep-alive, X-Hop",
                        "X-Hop",
                        "secret",
                        "Keep-Alive",
                        "timeout=5",
                        "Te",
                        "trailers",
                        "Transfer-Encoding",
                        "chunked",
                        "Upgrade",
                        "websocket",
                        "Proxy-Authorization",
                        "Basic x",
                        "Proxy-Connection",
                        "close",
                        "Expect",
                        "100-continue",
                        "Content-Length",
                        "3",
                        "Cookie",
                        "a=1",
                        "Cookie",
                        "b=2",
                        "X-Multi",
                        "1",
                        "X-Multi",
                        "2",
                        "Status",
                        "kept",
                        "Accept-Language",
                        "nb, en;q=0.5",
                        NULL};
    unsigned f = expect_head(&route, "h8s.http.POST.com.example.app.form", "r", kv, "a=b",
                             "POST /form HTTP/1.1\r\nHost: app.example.com\r\n"
                             "Cookie: a=1\r\nCookie: b=2\r\nX-Multi: 1\r\nX-Multi: 2\r\n"
                             "Status: kept\r\nAccept-Language: nb, en;q=0.5\r\n"
                             "Content-Length: 3\r\n\r\n");
    assert_true(f & H8S_REQ_DECODE_F_LENGTH);
}

static void test_host(void **state)
{
    (void)state;
    struct h8s_req_decode d;
    const char *kv1[] = {"Host", "App.Example.COM:8443", NULL};
    expect_head(&route, "h8s.http.GET.com.example.app", "r", kv1, "",
                "GET / HTTP/1.1\r\nHost: App.Example.COM:8443\r\n\r\n");
    const char *bad[] = {"",    "a b",        "evil.com\tx", "*.example.com",
                         "a>b", "[::1%eth0]", "x.com:99999", "under_score.com"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *kv[] = {"Host", bad[i], NULL};
        assert_int_equal(decode_err(&route, "h8s.http.GET.com.example.app", "r", kv, "", &d),
                         H8S_REQ_DECODE_E_HOST);
    }
    const char *two[] = {"Host", "a.com", "Host", "b.com", NULL};
    assert_int_equal(decode_err(&route, "h8s.http.GET.com.example.app", "r", two, "", &d),
                     H8S_REQ_DECODE_E_HEADERS);
    const char *same[] = {"Host", "a.com", "host", "a.com", NULL};
    expect_head(&route, "h8s.http.GET.com.example.app", "r", same, "",
                "GET / HTTP/1.1\r\nHost: a.com\r\n\r\n");

    /* --rewrite-host: the backend's authority; the public host moves to
     * X-Forwarded-Host unless the message already has one. */
    struct h8s_req_decode_route rt = route;
    rt.rewrite_host = 1;
    expect_head(&rt, "h8s.http.GET.com.example.app", "r", kv1, "",
                "GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
                "X-Forwarded-Host: App.Example.COM:8443\r\n\r\n");
    const char *kv2[] = {"Host", "app.example.com", "X-Forwarded-Host", "front.example.com", NULL};
    expect_head(&rt, "h8s.http.GET.com.example.app", "r", kv2, "",
                "GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
                "X-Forwarded-Host: front.example.com\r\n\r\n");
}

static void test_bodies(void **state)
{
    (void)state;
    struct h8s_req_decode d;
    unsigned f;
    /* GET without body: no Content-Length; POST/PUT/PATCH: always. */
    f = expect_head(&route, "h8s.http.GET.com.example.app", "r", NULL, "",
                    "GET / HTTP/1.1\r\nHost: app.example.com\r\n\r\n");
    assert_false(f & H8S_REQ_DECODE_F_LENGTH);
    expect_head(&route, "h8s.http.PUT.com.example.app", "r", NULL, "",
                "PUT / HTTP/1.1\r\nHost: app.example.com\r\nContent-Length: 0\r\n\r\n");
    expect_head(&route, "h8s.http.GET.com.example.app", "r", NULL, "xy",
                "GET / HTTP/1.1\r\nHost: app.example.com\r\nContent-Length: 2\r\n\r\n");
    /* The message's length is the data's, whatever the header claimed. */
    const char *kv0[] = {"Content-Length", "99", NULL};
    expect_head(&route, "h8s.http.DELETE.com.example.app", "r", kv0, "x",
                "DELETE / HTTP/1.1\r\nHost: app.example.com\r\nContent-Length: 1\r\n\r\n");

    /* Streams: declared length or chunked. */
    const char *kv1[] = {"X-H8s-Body", "stream", "Content-Length", "10485760", NULL};
    f = expect_head(&route, "h8s.http.POST.com.example.app.up", "r", kv1, "",
                    "POST /up HTTP/1.1\r\nHost: app.example.com\r\n"
                    "Content-Length: 10485760\r\n\r\n");
    assert_int_equal(f,
                     H8S_REQ_DECODE_F_STREAM | H8S_REQ_DECODE_F_FALLBACK | H8S_REQ_DECODE_F_LENGTH);
    const char *kv2[] = {"x-h8s-body", "STREAM", NULL};
    f = expect_head(&route, "h8s.http.POST.com.example.app.up", "r", kv2, "",
                    "POST /up HTTP/1.1\r\nHost: app.example.com\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n");
    assert_true(f & H8S_REQ_DECODE_F_CHUNKED);
    /* A stream cannot carry data, nor work without a reply subject. */
    assert_int_equal(decode_err(&route, "h8s.http.POST.com.example.app", "r", kv1, "x", &d),
                     H8S_REQ_DECODE_E_BODY);
    assert_int_equal(decode_err(&route, "h8s.http.POST.com.example.app", "", kv1, "", &d),
                     H8S_REQ_DECODE_E_BODY);
    const char *kv3[] = {"X-H8s-Body", "inline", NULL};
    assert_int_equal(decode_err(&route, "h8s.http.POST.com.example.app", "r", kv3, "", &d),
                     H8S_REQ_DECODE_E_BODY);
    const char *kv4[] = {"Content-Length", "1x", NULL};
    assert_int_equal(decode_err(&route, "h8s.http.POST.com.example.app", "r", kv4, "", &d),
                     H8S_REQ_DECODE_E_NUMBER);
    const char *kv5[] = {"Content-Length", "1", "Content-Length", "2", NULL};
    assert_int_equal(decode_err(&route, "h8s.http.POST.com.example.app", "r", kv5, "", &d),
                     H8S_REQ_DECODE_E_HEADERS);
    const char *kv6[] = {"X-H8s-Window", "-1", NULL};
    assert_int_equal(decode_err(&route, "h8s.http.GET.com.example.app", "r", kv6, "", &d),
                     H8S_REQ_DECODE_E_NUMBER);
}

static void test_subjects_and_reply(void **state)
{
    (void)state;
    struct h8s_req_decode d;
    const char *bad[] = {
        "h8s.http.GET.com.example",         "h8s.http.GET.com.example.apps",
        "h8s.http.GET.org.example.app",     "h8s.ws.GET.com.example.app",
        "h8s.http..com.example.app",        "h8s.http.GET.com.example.app.",
        "h8s.http.GET.com.example.app..x",  "h8s.http.GET.com.example.app.a b",
        "h8s.http.CONNECT.com.example.app", "h8s.http.G(T.com.example.app",
        "h8s.http.*.com.example.app",       "h8s.http.GET.com.example.app.a\x01",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(decode_err(&route, bad[i], "r", NULL, "", &d), H8S_REQ_DECODE_E_SUBJECT);
    /* A reply is kept even when the request is refused, so it can be answered. */
    struct msg o;
    msg_make(&o, "h8s.http.GET.com.example", "_INBOX.x", NULL, "", 0);
    assert_int_equal(h8s_req_decode(&d, &route, &o.m, head_buf, sizeof(head_buf)),
                     H8S_REQ_DECODE_E_SUBJECT);
    assert_true(span_eq(d.reply, SPAN_LIT("_INBOX.x")));
    msg_free(&o);
    /* An unusable reply subject is dropped. */
    assert_int_equal(decode_err(&route, "h8s.http.GET.com.example.app", "a.*", NULL, "", &d), 0);
    assert_int_equal(d.reply.n, 0);
    /* A close subject outside the control namespace is ignored. */
    const char *kv[] = {"X-H8s-Connection-Close-Subject", "h8s.http.GET.x", NULL};
    assert_int_equal(decode_err(&route, "h8s.http.GET.com.example.app", "r", kv, "", &d), 0);
    assert_false(d.flags & H8S_REQ_DECODE_F_CLOSE);
    /* A status line is not a request. */
    msg_make(&o, "h8s.http.GET.com.example.app", "r", NULL, "", 0);
    static const char blk[] = "NATS/1.0 503\r\n\r\n";
    http_feed_release(o.hdr, o.m.hdr.n);
    o.hdr = http_feed_copy(blk, sizeof(blk) - 1);
    o.m.hdr = span_make(o.hdr, sizeof(blk) - 1);
    assert_int_equal(h8s_req_decode(&d, &route, &o.m, head_buf, sizeof(head_buf)),
                     H8S_REQ_DECODE_E_HEADERS);
    msg_free(&o);
}

static void test_limits(void **state)
{
    (void)state;
    struct h8s_req_decode d;
    /* Too many fields: 431. */
    static const char *kv[2 * H8S_REQ_DECODE_MAX_FIELDS + 3];
    for (size_t i = 0; i <= H8S_REQ_DECODE_MAX_FIELDS; i++) {
        kv[2 * i] = "X-A";
        kv[2 * i + 1] = "v";
    }
    kv[2 * H8S_REQ_DECODE_MAX_FIELDS + 2] = NULL;
    int rc = decode_err(&route, "h8s.http.GET.com.example.app", "r", kv, "", &d);
    assert_int_equal(rc, H8S_REQ_DECODE_E_TOO_BIG);
    assert_int_equal(h8s_req_decode_status(rc), 431);
    kv[2 * H8S_REQ_DECODE_MAX_FIELDS] = NULL;
    assert_int_equal(decode_err(&route, "h8s.http.GET.com.example.app", "r", kv, "", &d), 0);

    /* Every buffer short of the head fails cleanly; the exact size works. */
    const char *kv2[] = {GW_HEADERS("/p", "q"), NULL};
    struct msg o;
    msg_make(&o, "h8s.http.GET.com.example.app.p", "r", kv2, "", 0);
    assert_int_equal(h8s_req_decode(&d, &route, &o.m, head_buf, sizeof(head_buf)), 0);
    size_t need = d.head.n;
    for (size_t cap = 0; cap < need; cap++) {
        uint8_t *small = malloc(cap ? cap : 1);
        assert_int_equal(h8s_req_decode(&d, &route, &o.m, small, cap), H8S_REQ_DECODE_E_TOO_BIG);
        free(small);
    }
    uint8_t *exact = malloc(need);
    assert_int_equal(h8s_req_decode(&d, &route, &o.m, exact, need), 0);
    free(exact);
    msg_free(&o);

    /* The largest header block still fits the documented buffer: a path
     * made entirely of bytes that triple when encoded. */
    static char big[NATS_HDR_MAX - 64];
    memset(big, 0x80, sizeof(big) - 1);
    big[0] = '/';
    big[sizeof(big) - 1] = '\0';
    const char *kv3[] = {"X-H8s-Original-Path", big, NULL};
    msg_make(&o, "h8s.http.GET.com.example.app", "r", kv3, "", 0);
    assert_int_equal(h8s_req_decode(&d, &route, &o.m, head_buf, sizeof(head_buf)), 0);
    assert_true(d.target.n == 1 + 3 * (sizeof(big) - 2));
    msg_free(&o);
    assert_int_equal(h8s_req_decode_status(H8S_REQ_DECODE_E_PATH), 400);
}

static void test_strerror(void **state)
{
    (void)state;
    for (int e = 0; e >= -8; e--)
        assert_string_not_equal(h8s_req_decode_strerror(e), "unknown error");
    assert_string_equal(h8s_req_decode_strerror(-99), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gateway_request),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_base_path),
        cmocka_unit_test(test_headers_dropped_and_kept),
        cmocka_unit_test(test_host),
        cmocka_unit_test(test_bodies),
        cmocka_unit_test(test_subjects_and_reply),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
