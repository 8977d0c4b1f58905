/*
 * tests/test_h8s_req_encode.c — the request message the gateway publishes:
 * subject, reply and close subjects, and the header block.
 *
 * Requests go through the real parser (proto/http_req.h) and the encoder
 * runs inside on_head, as in the gateway. Each request is fed whole, one
 * byte at a time and split at every offset; every way must produce the same
 * encoding, and every block must parse back with nats_hdr.
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

#include "proto/h8s_req_encode.h"
#include "proto/h8s_wire.h"
#include "proto/nats_hdr.h"
#include "tests/support/http_feed.h"

struct enc {
    struct h8s_req_encode_in in; /* req filled in by on_head */
    size_t cap;
    uint8_t buf[H8S_REQ_ENCODE_BUFSZ];
    struct http_transcript t;
    int rc;
    int heads;
};

static int on_head(void *cookie, const struct http_req *r)
{
    struct enc *e = cookie;
    struct h8s_req_encode_out out;
    e->in.req = r;
    e->heads++;
    e->rc = h8s_req_encode(&out, e->buf, e->cap, &e->in);
    http_transcript_reset(&e->t);
    if (e->rc != 0) {
        http_transcript_add(&e->t, "ERR %d\n", e->rc);
        return 0;
    }
    struct nats_hdr h;
    assert_int_equal(nats_hdr_parse(&h, out.hdr), 0);
    assert_int_equal(h.status, 0);
    http_transcript_add(&e->t, "S ");
    http_transcript_bytes(&e->t, out.subject.p, out.subject.n);
    http_transcript_add(&e->t, "\nR ");
    http_transcript_bytes(&e->t, out.reply.p, out.reply.n);
    http_transcript_add(&e->t, "\nC ");
    http_transcript_bytes(&e->t, out.close_subject.p, out.close_subject.n);
    http_transcript_add(&e->t, "\n");
    struct nats_hdr_iter it;
    struct span k, v;
    nats_hdr_iter_init(&it, &h);
    while (nats_hdr_next(&it, &k, &v)) {
        http_transcript_bytes(&e->t, k.p, k.n);
        http_transcript_add(&e->t, ": ");
        http_transcript_bytes(&e->t, v.p, v.n);
        http_transcript_add(&e->t, "\n");
    }
    return 0;
}

static const struct http_req_ops ops = {on_head, NULL};

/* Parses in (cut at the given offsets) and encodes its first request. */
static void run(struct enc *e, const char *in, size_t len, const size_t *cuts, size_t ncuts)
{
    struct http_req_parser p;
    static uint8_t hb[HTTP_REQ_DEFAULT_MAX_HEAD];
    e->heads = 0;
    assert_int_equal(http_req_init(&p, NULL, hb, sizeof(hb), &ops, e), 0);
    for (size_t k = 0; k <= ncuts; k++) {
        size_t a = k == 0 ? 0 : cuts[k - 1], b = k == ncuts ? len : cuts[k];
        uint8_t *piece = http_feed_copy(in + a, b - a);
        size_t used;
        int r = http_req_feed(&p, piece, b - a, &used);
        http_feed_release(piece, b - a);
        assert_true(r == HTTP_REQ_OK || r == HTTP_REQ_DONE);
        if (r == HTTP_REQ_DONE)
            break;
    }
    assert_int_equal(e->heads, 1);
}

static struct enc whole, split;

static void defaults(struct enc *e)
{
    memset(&e->in, 0, sizeof(e->in));
    e->in.client_addr = SPAN_LIT("192.0.2.7");
    e->in.gw_id = SPAN_LIT("GW");
    e->in.req_id = SPAN_LIT("RQ");
    e->cap = sizeof(e->buf);
}

/* Encodes in every way; all must agree. Returns the transcript. */
static const char *encode_all(const struct h8s_req_encode_in *in, size_t cap, const char *req)
{
    size_t len = strlen(req);
    whole.in = *in;
    whole.cap = cap;
    run(&whole, req, len, NULL, 0);
    split.in = *in;
    split.cap = cap;
    size_t *cuts = malloc(len * sizeof(*cuts));
    assert_non_null(cuts);
    for (size_t i = 0; i + 1 < len; i++)
        cuts[i] = i + 1;
    run(&split, req, len, cuts, len - 1);
    if (strcmp(whole.t.buf, split.t.buf) != 0)
        fail_msg("byte-at-a-time differs:\n%s\nvs\n%s", whole.t.buf, split.t.buf);
    for (size_t i = 1; i < len; i++) {
        cuts[0] = i;
        run(&split, req, len, cuts, 1);
        if (strcmp(whole.t.buf, split.t.buf) != 0)
            fail_msg("split at %zu differs:\n%s\nvs\n%s", i, whole.t.buf, split.t.buf);
    }
    free(cuts);
    return whole.t.buf;
}

static void expect(const struct h8s_req_encode_in *in, const char *req, const char *want)
{
    const char *got = encode_all(in, sizeof(whole.buf), req);
    if (strcmp(got, want) != 0)
        fail_msg("request:\n%s\ngot:\n%s\nwant:\n%s", req, got, want);
}

#define TAIL_GET(subj, path, query)                                                                \
    "X-H8s-PublishSubject: " subj "\nX-H8s-ReplySubject: _INBOX.h8s.GW.RQ\n"                       \
    "X-H8s-Original-Path: " path "\nX-H8s-Original-Query: " query "\n"                             \
    "X-H8s-Connection-Close-Subject: h8s.control.connection.closed.GW.RQ\n"

static void test_basic_get(void **state)
{
    (void)state;
    defaults(&whole);
    expect(&whole.in,
           "GET /a/b.html?x=1&y=%20 HTTP/1.1\r\nHost: Shop.Example.com:8080\r\n"
           "user-agent: t/1\r\naccept: */*\r\n\r\n",
           "S h8s.http.GET.com.example.shop.a.b%2Ehtml\n"
           "R _INBOX.h8s.GW.RQ\n"
           "C h8s.control.connection.closed.GW.RQ\n"
           "User-Agent: t/1\nAccept: */*\nHost: Shop.Example.com:8080\n"
           "X-Forwarded-For: 192.0.2.7\nX-Forwarded-Proto: http\n"
           "X-Forwarded-Host: Shop.Example.com:8080\n" TAIL_GET(
               "h8s.http.GET.com.example.shop.a.b%2Ehtml", "/a/b.html", "x=1&y=%20"));
}

static void test_hop_by_hop_and_multi(void **state)
{
    (void)state;
    defaults(&whole);
    whole.in.window = 1048576;
    expect(&whole.in,
           "GET / HTTP/1.1\r\nHost: a.b\r\nConnection: keep-alive, X-Secret\r\n"
           "x-secret: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Authorization: x\r\n"
           "Proxy-Connection: y\r\nTrailer: z\r\nCookie: a=1\r\ncookie: b=2\r\n"
           "X-Multi-Word-name: v\r\nAuthorization: Bearer k\r\n\r\n",
           "S h8s.http.GET.b.a\nR _INBOX.h8s.GW.RQ\nC h8s.control.connection.closed.GW.RQ\n"
           "Cookie: a=1\nCookie: b=2\nX-Multi-Word-Name: v\nAuthorization: Bearer k\n"
           "Host: a.b\nX-Forwarded-For: 192.0.2.7\nX-Forwarded-Proto: http\n"
           "X-Forwarded-Host: a.b\n" TAIL_GET("h8s.http.GET.b.a", "/", "")
           "X-H8s-Window: 1048576\n");
}

static void test_strip_auth_and_spoofed_internal(void **state)
{
    (void)state;
    defaults(&whole);
    whole.in.flags = H8S_REQ_ENC_STRIP_AUTH;
    expect(&whole.in,
           "GET /x HTTP/1.1\r\nHost: a.b\r\nAuthorization: key\r\n"
           "X-H8s-Original-Path: /evil\r\nx-h8s-replysubject: evil\r\nX-H8S-CONTROL: abort\r\n"
           "Expect: 100-continue\r\nContent-Length: 0\r\n\r\n",
           "S h8s.http.GET.b.a.x\nR _INBOX.h8s.GW.RQ\nC h8s.control.connection.closed.GW.RQ\n"
           "Host: a.b\nX-Forwarded-For: 192.0.2.7\nX-Forwarded-Proto: http\n"
           "X-Forwarded-Host: a.b\nContent-Length: 0\n" TAIL_GET("h8s.http.GET.b.a.x", "/x", ""));
}

static void test_forwarded_untrusted(void **state)
{
    (void)state;
    defaults(&whole);
    /* The client's X-Forwarded-Host must not route: the subject and the
     * forwarded host both come from Host. Its X-Forwarded-For is kept and
     * the peer appended. */
    expect(&whole.in,
           "GET / HTTP/1.1\r\nHost: public.example\r\nX-Forwarded-Host: admin.internal\r\n"
           "X-Forwarded-For: 10.0.0.1, 10.0.0.2\r\nX-Forwarded-For: 10.0.0.3\r\n"
           "X-Forwarded-Proto: https\r\n\r\n",
           "S h8s.http.GET.example.public\nR _INBOX.h8s.GW.RQ\n"
           "C h8s.control.connection.closed.GW.RQ\nHost: public.example\n"
           "X-Forwarded-For: 10.0.0.1, 10.0.0.2, 10.0.0.3, 192.0.2.7\n"
           "X-Forwarded-Proto: http\nX-Forwarded-Host: public.example\n" TAIL_GET(
               "h8s.http.GET.example.public", "/", ""));
}

static void test_forwarded_trusted(void **state)
{
    (void)state;
    defaults(&whole);
    whole.in.flags = H8S_REQ_ENC_TRUST_FORWARDED | H8S_REQ_ENC_TLS;
    expect(&whole.in,
           "GET /p HTTP/1.1\r\nHost: lb.local\r\nX-Forwarded-Host:  App.Example , other\r\n"
           "X-Forwarded-Proto: https\r\n\r\n",
           "S h8s.http.GET.example.app.p\nR _INBOX.h8s.GW.RQ\n"
           "C h8s.control.connection.closed.GW.RQ\nHost: lb.local\n"
           "X-Forwarded-For: 192.0.2.7\nX-Forwarded-Proto: https\n"
           "X-Forwarded-Host: App.Example\n" TAIL_GET("h8s.http.GET.example.app.p", "/p", ""));
    /* Trusted but absent: Host routes; TLS gives https. */
    expect(&whole.in, "GET / HTTP/1.1\r\nHost: a.b\r\n\r\n",
           "S h8s.http.GET.b.a\nR _INBOX.h8s.GW.RQ\nC h8s.control.connection.closed.GW.RQ\n"
           "Host: a.b\nX-Forwarded-For: 192.0.2.7\nX-Forwarded-Proto: https\n"
           "X-Forwarded-Host: a.b\n" TAIL_GET("h8s.http.GET.b.a", "/", ""));
}

static void test_route(void **state)
{
    (void)state;
    struct http_head_field f[] = {{SPAN_LIT("X-Forwarded-Host"), SPAN_LIT(" x.y ,z")}};
    struct http_req r = {.host = SPAN_LIT("h.i"), .fields = f, .nfields = 1};
    struct span s = h8s_req_encode_route(&r, 0);
    assert_true(span_eq(s, SPAN_LIT("h.i")));
    s = h8s_req_encode_route(&r, H8S_REQ_ENC_TRUST_FORWARDED);
    assert_true(span_eq(s, SPAN_LIT("x.y")));
    f[0].value = SPAN_LIT(" , z");
    s = h8s_req_encode_route(&r, H8S_REQ_ENC_TRUST_FORWARDED);
    assert_true(span_eq(s, SPAN_LIT("h.i")));
}

static void test_body_modes(void **state)
{
    (void)state;
    const char *post = "POST /u HTTP/1.1\r\nHost: a.b\r\nContent-Length: 5\r\n\r\n";
    const char *base = "S h8s.http.POST.b.a.u\nR _INBOX.h8s.GW.RQ\n"
                       "C h8s.control.connection.closed.GW.RQ\nHost: a.b\n"
                       "X-Forwarded-For: 192.0.2.7\nX-Forwarded-Proto: http\n"
                       "X-Forwarded-Host: a.b\n";
    char want[2048];
    defaults(&whole);
    whole.in.body = H8S_REQ_BODY_INLINE;
    whole.in.body_len = 5;
    snprintf(want, sizeof(want), "%sContent-Length: 5\n" TAIL_GET("h8s.http.POST.b.a.u", "/u", ""),
             base);
    expect(&whole.in, post, want);

    defaults(&whole);
    whole.in.body = H8S_REQ_BODY_STREAM;
    snprintf(want, sizeof(want),
             "%sX-H8s-Body: stream\nContent-Length: 5\n" TAIL_GET("h8s.http.POST.b.a.u", "/u", ""),
             base);
    expect(&whole.in, post, want);

    defaults(&whole);
    whole.in.body = H8S_REQ_BODY_LATER;
    snprintf(want, sizeof(want), "%s" TAIL_GET("h8s.http.POST.b.a.u", "/u", ""), base);
    expect(&whole.in,
           "POST /u HTTP/1.1\r\nHost: a.b\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", want);

    defaults(&whole);
    whole.in.body = 9;
    expect(&whole.in, post, "ERR -8\n");
}

static void test_append(void **state)
{
    (void)state;
    uint8_t b[64];
    size_t len = 0;
    const char *blk = "NATS/1.0\r\nA: 1\r\n\r\n";
    memcpy(b, blk, strlen(blk));
    len = strlen(blk);
    assert_int_equal(h8s_req_encode_append(b, sizeof(b), &len, SPAN_LIT("content-length"),
                                           SPAN_LIT("12")),
                     0);
    const char *want = "NATS/1.0\r\nA: 1\r\nContent-Length: 12\r\n\r\n";
    assert_int_equal(len, strlen(want));
    assert_memory_equal(b, want, len);
    struct nats_hdr h;
    assert_int_equal(nats_hdr_parse(&h, span_make(b, len)), 0);

    /* No room: unchanged. */
    size_t before = len;
    uint8_t copy[64];
    memcpy(copy, b, sizeof(b));
    assert_int_equal(h8s_req_encode_append(b, len + 5, &len, SPAN_LIT("X-Long"),
                                           SPAN_LIT("value")),
                     H8S_REQ_E_SPACE);
    assert_int_equal(len, before);
    assert_memory_equal(b, copy, len);
    /* Bad name, bad value: unchanged. */
    assert_int_equal(h8s_req_encode_append(b, sizeof(b), &len, SPAN_LIT("A B"), SPAN_LIT("v")),
                     H8S_REQ_E_VALUE);
    assert_int_equal(
        h8s_req_encode_append(b, sizeof(b), &len, SPAN_LIT("A"), SPAN_LIT("v\r\nX: y")),
        H8S_REQ_E_VALUE);
    assert_int_equal(len, before);
    assert_memory_equal(b, copy, len);
    assert_int_equal(nats_hdr_parse(&h, span_make(b, len)), 0);
    /* Not a finished block. */
    len = 4;
    assert_int_equal(h8s_req_encode_append(b, sizeof(b), &len, SPAN_LIT("A"), SPAN_LIT("v")),
                     H8S_REQ_E_ARG);
}

static void test_absolute_and_odd_targets(void **state)
{
    (void)state;
    defaults(&whole);
    expect(&whole.in, "GET http://Example.COM:8080 HTTP/1.1\r\nHost: ignored.example\r\n\r\n",
           "S h8s.http.GET.com.example\nR _INBOX.h8s.GW.RQ\n"
           "C h8s.control.connection.closed.GW.RQ\nHost: Example.COM:8080\n"
           "X-Forwarded-For: 192.0.2.7\nX-Forwarded-Proto: http\n"
           "X-Forwarded-Host: Example.COM:8080\n" TAIL_GET("h8s.http.GET.com.example", "/", ""));
    expect(&whole.in, "OPTIONS * HTTP/1.1\r\nHost: [2001:DB8::1]:80\r\n\r\n",
           "S h8s.http.OPTIONS.2001_db8__1.%2A\nR _INBOX.h8s.GW.RQ\n"
           "C h8s.control.connection.closed.GW.RQ\nHost: [2001:DB8::1]:80\n"
           "X-Forwarded-For: 192.0.2.7\nX-Forwarded-Proto: http\n"
           "X-Forwarded-Host: [2001:DB8::1]:80\n" TAIL_GET("h8s.http.OPTIONS.2001_db8__1.%2A",
                                                            "*", ""));
    /* Odd query bytes travel raw; the original path keeps // and the
     * trailing slash the subject loses. */
    expect(&whole.in, "GET //a//b/?q=%zz&x=\"'<>| HTTP/1.1\r\nHost: a.b\r\n\r\n",
           "S h8s.http.GET.b.a.a.b\nR _INBOX.h8s.GW.RQ\nC h8s.control.connection.closed.GW.RQ\n"
           "Host: a.b\nX-Forwarded-For: 192.0.2.7\nX-Forwarded-Proto: http\n"
           "X-Forwarded-Host: a.b\n" TAIL_GET("h8s.http.GET.b.a.a.b", "//a//b/",
                                              "q=%zz&x=\"'<>|"));
}

static void test_errors(void **state)
{
    (void)state;
    defaults(&whole);
    expect(&whole.in, "GET / HTTP/1.1\r\nHost: bad*host\r\n\r\n", "ERR -1\n");
    expect(&whole.in, "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", "ERR -1\n");
    expect(&whole.in, "GET / HTTP/1.1\r\nHost: 127.1\r\n\r\n", "ERR -1\n");
    expect(&whole.in, "GET /100%zz HTTP/1.1\r\nHost: a.b\r\n\r\n", "ERR -2\n");
    expect(&whole.in, "GET / HTTP/1.0\r\n\r\n", "ERR -1\n");
    assert_int_equal(h8s_req_encode_status(H8S_REQ_E_HOST), 400);
    assert_int_equal(h8s_req_encode_status(H8S_REQ_E_PATH), 400);
    assert_int_equal(h8s_req_encode_status(H8S_REQ_E_TOO_LONG), 414);
    assert_int_equal(h8s_req_encode_status(H8S_REQ_E_SPACE), 431);
    assert_int_equal(h8s_req_encode_status(H8S_REQ_E_ID), 500);
    assert_string_equal(h8s_req_encode_strerror(H8S_REQ_E_TOO_LONG), "subject too long");

    /* A subject over SUBJECT_MAX: 414. */
    char req[8192];
    int n = snprintf(req, sizeof(req), "GET /");
    for (int i = 0; i < 1000; i++)
        n += snprintf(req + n, sizeof(req) - (size_t)n, "abc/");
    snprintf(req + n, sizeof(req) - (size_t)n, " HTTP/1.1\r\nHost: a.b\r\n\r\n");
    expect(&whole.in, req, "ERR -4\n");

    /* Bad ids. */
    whole.in.req_id = SPAN_LIT("a.b");
    expect(&whole.in, "GET / HTTP/1.1\r\nHost: a.b\r\n\r\n", "ERR -6\n");
    defaults(&whole);
    whole.in.gw_id = SPAN_LIT("");
    expect(&whole.in, "GET / HTTP/1.1\r\nHost: a.b\r\n\r\n", "ERR -6\n");
}

/* Every buffer size below the needed one fails cleanly with E_SPACE and
 * never writes past cap. */
static void test_small_buffers(void **state)
{
    (void)state;
    const char *req = "GET /x HTTP/1.1\r\nHost: a.b\r\nX-A: 1\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n";
    defaults(&whole);
    const char *ok = encode_all(&whole.in, sizeof(whole.buf), req);
    assert_memory_equal(ok, "S ", 2);
    size_t need = 0;
    for (size_t cap = 0; cap < 1024; cap++) {
        defaults(&whole);
        memset(whole.buf, 0x5a, sizeof(whole.buf));
        whole.cap = cap;
        run(&whole, req, strlen(req), NULL, 0);
        for (size_t i = cap; i < sizeof(whole.buf); i++)
            if (whole.buf[i] != 0x5a)
                fail_msg("cap %zu: byte %zu written", cap, i);
        if (whole.rc == 0) {
            need = cap;
            break;
        }
        assert_int_equal(whole.rc, H8S_REQ_E_SPACE);
    }
    assert_true(need > 0);
}

/* Header values that nats_hdr could not carry are refused, not smuggled:
 * obs-text passes (NATS carries it), control bytes never reach here (the
 * HTTP parser refuses them first). */
static void test_values(void **state)
{
    (void)state;
    defaults(&whole);
    expect(&whole.in, "GET / HTTP/1.1\r\nHost: a.b\r\nX-U: caf\xc3\xa9\tx\r\n\r\n",
           "S h8s.http.GET.b.a\nR _INBOX.h8s.GW.RQ\nC h8s.control.connection.closed.GW.RQ\n"
           "X-U: caf\\xc3\\xa9\\x09x\nHost: a.b\nX-Forwarded-For: 192.0.2.7\n"
           "X-Forwarded-Proto: http\nX-Forwarded-Host: a.b\n" TAIL_GET("h8s.http.GET.b.a", "/",
                                                                       ""));
    /* Directly: a value with CR cannot get in. */
    struct http_head_field f[] = {{SPAN_LIT("X-A"), SPAN_LIT("a\rb")}};
    struct http_req r = {.method_name = SPAN_LIT("GET"),
                         .host = SPAN_LIT("a.b"),
                         .path = SPAN_LIT("/"),
                         .fields = f,
                         .nfields = 1};
    struct h8s_req_encode_out out;
    defaults(&whole);
    whole.in.req = &r;
    assert_int_equal(h8s_req_encode(&out, whole.buf, sizeof(whole.buf), &whole.in),
                     H8S_REQ_E_VALUE);
    f[0].value = SPAN_LIT("ok");
    whole.in.client_addr = SPAN_LIT("1.2.3.4\n");
    assert_int_equal(h8s_req_encode(&out, whole.buf, sizeof(whole.buf), &whole.in),
                     H8S_REQ_E_VALUE);
    whole.in.req = NULL;
    assert_int_equal(h8s_req_encode(&out, whole.buf, sizeof(whole.buf), &whole.in),
                     H8S_REQ_E_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_get),
        cmocka_unit_test(test_hop_by_hop_and_multi),
        cmocka_unit_test(test_strip_auth_and_spoofed_internal),
        cmocka_unit_test(test_forwarded_untrusted),
        cmocka_unit_test(test_forwarded_trusted),
        cmocka_unit_test(test_route),
        cmocka_unit_test(test_body_modes),
        cmocka_unit_test(test_append),
        cmocka_unit_test(test_absolute_and_odd_targets),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_small_buffers),
        cmocka_unit_test(test_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
