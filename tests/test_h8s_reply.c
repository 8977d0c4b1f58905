/*
 * tests/test_h8s_reply.c — the gateway's reading of a reply subject:
 * complete, plain and streamed responses, control messages, sequence
 * numbers, flow control, and what reaches the client of the headers.
 *
 * Each message is handed over as a fresh heap copy that is poisoned and
 * freed right after the call, so the state machine cannot keep a span into
 * a message (it must copy the agent subject, for instance).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/h8s_reply.h"
#include "proto/h8s_wire.h"
#include "tests/support/http_feed.h"

#define NOLIMIT UINT64_MAX
#define AGENT "_INBOX.h8s.agentid.exchid"

/* The event with its spans rendered while the message was still valid. */
struct got {
    struct h8s_reply_event ev;
    int rc;
    char body[4096];
    char fwd[512];
};

static int feed(struct h8s_reply *r, const char *hdr, const char *data, uint64_t room,
                struct got *g)
{
    size_t hn = strlen(hdr), dn = strlen(data);
    uint8_t *h = http_feed_copy(hdr, hn);
    uint8_t *d = http_feed_copy(data, dn);
    memset(g, 0, sizeof(*g));
    g->rc = h8s_reply_feed(r, span_make(h, hn), span_make(d, dn), room, &g->ev);
    assert_true(g->ev.body.n < sizeof(g->body));
    if (g->ev.body.n)
        memcpy(g->body, g->ev.body.p, g->ev.body.n);
    if (g->ev.kind == H8S_REPLY_EV_RESPONSE || g->ev.kind == H8S_REPLY_EV_STREAM_START) {
        struct h8s_reply_fwd f;
        struct span k, v;
        size_t at = 0;
        h8s_reply_fwd_init(&f, &g->ev.hdr);
        while (h8s_reply_fwd_next(&f, &k, &v)) {
            int n = snprintf(g->fwd + at, sizeof(g->fwd) - at, "%.*s=%.*s;", (int)k.n,
                             (const char *)k.p, (int)v.n, (const char *)v.p);
            assert_true(n > 0 && (size_t)n < sizeof(g->fwd) - at);
            at += (size_t)n;
        }
    }
    memset(&g->ev.hdr, 0, sizeof(g->ev.hdr)); /* it pointed into h */
    g->ev.body = span_make(NULL, g->ev.body.n);
    http_feed_release(h, hn);
    http_feed_release(d, dn);
    return g->rc;
}

static void test_plain_reply(void **state)
{
    (void)state;
    struct h8s_reply r;
    struct got g;
    h8s_reply_init(&r, 0, 0);
    assert_int_equal(feed(&r, "", "hello", NOLIMIT, &g), H8S_REPLY_EV_RESPONSE);
    assert_int_equal(g.ev.status, 200);
    assert_int_equal(g.ev.flags, H8S_REPLY_F_LENGTH);
    assert_int_equal(g.ev.content_length, 5);
    assert_string_equal(g.body, "hello");
    assert_true(h8s_reply_done(&r));
    /* Anything after the end is ignored. */
    assert_int_equal(feed(&r, "", "more", NOLIMIT, &g), H8S_REPLY_EV_NONE);
    assert_int_equal(g.ev.body.n, 0);

    /* Empty plain reply: an empty 200. */
    h8s_reply_init(&r, 0, 0);
    assert_int_equal(feed(&r, "", "", NOLIMIT, &g), H8S_REPLY_EV_RESPONSE);
    assert_int_equal(g.ev.content_length, 0);

    /* HEAD: the length, no body. */
    h8s_reply_init(&r, 0, H8S_REPLY_HEAD);
    assert_int_equal(feed(&r, "", "hello", NOLIMIT, &g), H8S_REPLY_EV_RESPONSE);
    assert_int_equal(g.ev.flags, H8S_REPLY_F_LENGTH | H8S_REPLY_F_NO_BODY);
    assert_int_equal(g.ev.content_length, 5);
    assert_int_equal(g.ev.body.n, 0);

    /* Over the room: overflow, never a truncated body. */
    h8s_reply_init(&r, 0, 0);
    assert_int_equal(feed(&r, "", "hello", 4, &g), H8S_REPLY_E_OVERFLOW);
    assert_int_equal(feed(&r, "", "x", NOLIMIT, &g), H8S_REPLY_E_OVERFLOW);
    assert_string_equal(h8s_reply_reason(H8S_REPLY_E_OVERFLOW), "overflow");
}

static void test_no_responders(void **state)
{
    (void)state;
    struct h8s_reply r;
    struct got g;
    h8s_reply_init(&r, 0, 0);
    assert_int_equal(feed(&r, "NATS/1.0 503\r\n\r\n", "", NOLIMIT, &g),
                     H8S_REPLY_EV_NO_RESPONDERS);
    assert_true(h8s_reply_done(&r));
    /* A heartbeat is not the responder. */
    h8s_reply_init(&r, 0, 0);
    assert_int_equal(feed(&r, "NATS/1.0 100 Idle Heartbeat\r\n\r\n", "", NOLIMIT, &g),
                     H8S_REPLY_EV_NONE);
    assert_false(h8s_reply_done(&r));
}

static void test_complete(void **state)
{
    (void)state;
    struct h8s_reply r;
    struct got g;
    h8s_reply_init(&r, 0, 0);
    assert_int_equal(feed(&r,
                          "NATS/1.0\r\nStatus-Code: 404\r\nStatus: 404 Not Found\r\n"
                          "Content-Type: text/plain\r\nContent-Length: 3\r\n"
                          "Set-Cookie: a=1\r\nset-cookie: b=2\r\nX-H8s-Agent-Subject: " AGENT
                          "\r\n\r\n",
                          "abc", NOLIMIT, &g),
                     H8S_REPLY_EV_RESPONSE);
    assert_int_equal(g.ev.status, 404);
    assert_int_equal(g.ev.flags, H8S_REPLY_F_LENGTH);
    assert_int_equal(g.ev.content_length, 3);
    assert_string_equal(g.body, "abc");
    assert_string_equal(g.fwd, "Content-Type=text/plain;Set-Cookie=a=1;set-cookie=b=2;");

    /* Status alone, case-insensitive names. */
    h8s_reply_init(&r, 0, 0);
    assert_int_equal(feed(&r, "NATS/1.0\r\nstatus: 418 I'm a teapot\r\ncontent-length: 0\r\n\r\n",
                          "", NOLIMIT, &g),
                     H8S_REPLY_EV_RESPONSE);
    assert_int_equal(g.ev.status, 418);
    /* Neither: 200. */
    h8s_reply_init(&r, 0, 0);
    assert_int_equal(feed(&r, "NATS/1.0\r\nContent-Length: 2\r\n\r\n", "ok", NOLIMIT, &g),
                     H8S_REPLY_EV_RESPONSE);
    assert_int_equal(g.ev.status, 200);
    /* Status-Code wins over Status. */
    h8s_reply_init(&r, 0, 0);
    assert_int_equal(
        feed(&r, "NATS/1.0\r\nStatus: 500 x\r\nStatus-Code: 201\r\nContent-Length: 0\r\n\r\n", "",
             NOLIMIT, &g),
        H8S_REPLY_EV_RESPONSE);
    assert_int_equal(g.ev.status, 201);
}

static void test_no_body_statuses(void **state)
{
    (void)state;
    struct h8s_reply r;
    struct got g;
    /* 204: neither length nor body. */
    h8s_reply_init(&r, 0, 0);
    assert_int_equal(
        feed(&r, "NATS/1.0\r\nStatus-Code: 204\r\nContent-Length: 0\r\n\r\n", "", NOLIMIT, &g),
        H8S_REPLY_EV_RESPONSE);
    assert_int_equal(g.ev.flags, H8S_REPLY_F_NO_BODY);
    /* 304 keeps the resource's length, sends no body. */
    h8s_reply_init(&r, 0, 0);
    assert_int_equal(
        feed(&r, "NATS/1.0\r\nStatus-Code: 304\r\nContent-Length: 1234\r\nETag: \"x\"\r\n\r\n",
             "", NOLIMIT, &g),
        H8S_REPLY_EV_RESPONSE);
    assert_int_equal(g.ev.flags, H8S_REPLY_F_NO_BODY | H8S_REPLY_F_LENGTH);
    assert_int_equal(g.ev.content_length, 1234);
    assert_string_equal(g.fwd, "ETag=\"x\";");
    /* HEAD: the GET's length. */
    h8s_reply_init(&r, 0, H8S_REPLY_HEAD);
    assert_int_equal(feed(&r, "NATS/1.0\r\nStatus-Code: 200\r\nContent-Length: 99\r\n\r\n", "",
                          NOLIMIT, &g),
                     H8S_REPLY_EV_RESPONSE);
    assert_int_equal(g.ev.flags, H8S_REPLY_F_NO_BODY | H8S_REPLY_F_LENGTH);
    assert_int_equal(g.ev.content_length, 99);
    /* A streamed 204: no body bytes reach the client, the end still ends it. */
    h8s_reply_init(&r, 0, 0);
    assert_int_equal(feed(&r, "NATS/1.0\r\nStatus-Code: 204\r\n\r\n", "zz", 0, &g),
                     H8S_REPLY_EV_STREAM_START);
    assert_int_equal(g.ev.flags, H8S_REPLY_F_NO_BODY);
    assert_int_equal(g.ev.body.n, 0);
    assert_int_equal(feed(&r, "", "more", 0, &g), H8S_REPLY_EV_STREAM_DATA);
    assert_int_equal(g.ev.body.n, 0);
    assert_int_equal(feed(&r, "", "", 0, &g), H8S_REPLY_EV_STREAM_END);
}

static void test_bad_complete(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "NATS/1.0\r\nStatus-Code: abc\r\nContent-Length: 0\r\n\r\n",
        "NATS/1.0\r\nStatus-Code: 199\r\nContent-Length: 0\r\n\r\n",
        "NATS/1.0\r\nStatus-Code: 101\r\nContent-Length: 0\r\n\r\n",
        "NATS/1.0\r\nStatus-Code: 1000\r\nContent-Length: 0\r\n\r\n",
        "NATS/1.0\r\nStatus-Code: -200\r\nContent-Length: 0\r\n\r\n",
        "NATS/1.0\r\nStatus-Code:\r\nContent-Length: 0\r\n\r\n",
        "NATS/1.0\r\nStatus: 20\r\nContent-Length: 0\r\n\r\n",
        "NATS/1.0\r\nStatus: 404Not Found\r\nContent-Length: 0\r\n\r\n",
        "NATS/1.0\r\nContent-Length: 4\r\n\r\n",  /* data is 3 bytes */
        "NATS/1.0\r\nContent-Length: 2\r\n\r\n",  /* data is 3 bytes */
        "NATS/1.0\r\nContent-Length: x\r\n\r\n",
        "NATS/1.0\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        "NATS/1.0\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
        "NATS/1.0\r\nX-H8s-Agent-Subject: h8s.http.GET.com.victim\r\n\r\n",
        "NATS/1.0\r\nX-H8s-Agent-Subject: _INBOX.h8s.a.*\r\n\r\n",
        "NATS/1.0\r\nX-H8s-Agent-Subject: _INBOX.h8s.a\r\n\r\n",
        "NATS/1.0\r\nX-H8s-Agent-Subject: _INBOX.h8s.a.b.c\r\n\r\n",
        "NATS/1.0\r\nBad Key: v\r\n\r\n",
        "NATS/1.0\r\nA: v\r\n",
        "HTTP/1.1 200 OK\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct h8s_reply r;
        struct got g;
        h8s_reply_init(&r, 1 << 20, 0);
        if (feed(&r, bad[i], "abc", NOLIMIT, &g) != H8S_REPLY_E_PROTOCOL)
            fail_msg("case %zu: rc %d", i, g.rc);
        /* Sticky. */
        assert_int_equal(feed(&r, "", "", NOLIMIT, &g), H8S_REPLY_E_PROTOCOL);
        assert_false(h8s_reply_done(&r));
    }
    /* Equal duplicates are fine. */
    struct h8s_reply r;
    struct got g;
    h8s_reply_init(&r, 0, 0);
    assert_int_equal(feed(&r, "NATS/1.0\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", "abc",
                          NOLIMIT, &g),
                     H8S_REPLY_EV_RESPONSE);
}

static void test_stream_without_flow_control(void **state)
{
    (void)state;
    struct h8s_reply r;
    struct got g;
    h8s_reply_init(&r, 1000, 0);
    assert_int_equal(feed(&r, "NATS/1.0\r\nStatus: 200\r\nContent-Type: text/event-stream\r\n\r\n",
                          "data: 1\n\n", NOLIMIT, &g),
                     H8S_REPLY_EV_STREAM_START);
    assert_int_equal(g.ev.status, 200);
    assert_int_equal(g.ev.flags, 0);
    assert_string_equal(g.body, "data: 1\n\n");
    assert_string_equal(g.fwd, "Content-Type=text/event-stream;");
    assert_true(h8s_reply_streaming(&r));
    /* The window only binds responders with flow control. */
    char big[2001];
    memset(big, 'x', 2000);
    big[2000] = 0;
    assert_int_equal(feed(&r, "", big, NOLIMIT, &g), H8S_REPLY_EV_STREAM_DATA);
    assert_int_equal(g.ev.body.n, 2000);
    assert_int_equal(feed(&r, "", "data: 2\n\n", NOLIMIT, &g), H8S_REPLY_EV_STREAM_DATA);
    assert_string_equal(g.body, "data: 2\n\n");
    /* No credit is ever due without flow control. */
    uint64_t c;
    assert_int_equal(h8s_reply_credit(&r, 1 << 20, &c), 0);
    /* A control message mid-stream is not body and does not end it. */
    assert_int_equal(feed(&r, "NATS/1.0\r\nX-H8s-Control: credit\r\nX-H8s-Credit: 5\r\n\r\n", "",
                          NOLIMIT, &g),
                     H8S_REPLY_EV_CREDIT);
    assert_int_equal(g.ev.credit, 5);
    assert_int_equal(feed(&r, "", "", NOLIMIT, &g), H8S_REPLY_EV_STREAM_END);
    assert_true(h8s_reply_done(&r));
    assert_int_equal(h8s_reply_delivered(&r), 9 + 2000 + 9);

    /* Over the room: overflow. */
    h8s_reply_init(&r, 0, 0);
    assert_int_equal(feed(&r, "NATS/1.0\r\nA: b\r\n\r\n", "", NOLIMIT, &g),
                     H8S_REPLY_EV_STREAM_START);
    assert_int_equal(feed(&r, "", "12345", 5, &g), H8S_REPLY_EV_STREAM_DATA);
    assert_int_equal(feed(&r, "", "123456", 5, &g), H8S_REPLY_E_OVERFLOW);
    assert_int_equal(feed(&r, "", "", 5, &g), H8S_REPLY_E_OVERFLOW);
}

static void test_optional_seq(void **state)
{
    (void)state;
    struct h8s_reply r;
    struct got g;
    /* Without flow control: numbers optional, but once present, required
     * and contiguous. */
    h8s_reply_init(&r, 0, 0);
    assert_int_equal(feed(&r, "NATS/1.0\r\nA: b\r\n\r\n", "", NOLIMIT, &g),
                     H8S_REPLY_EV_STREAM_START);
    assert_int_equal(feed(&r, "", "a", NOLIMIT, &g), H8S_REPLY_EV_STREAM_DATA);
    assert_int_equal(feed(&r, "NATS/1.0\r\nx-h8s-seq: 2\r\n\r\n", "b", NOLIMIT, &g),
                     H8S_REPLY_EV_STREAM_DATA);
    assert_int_equal(feed(&r, "", "c", NOLIMIT, &g), H8S_REPLY_E_SEQ);

    h8s_reply_init(&r, 0, 0);
    assert_int_equal(feed(&r, "NATS/1.0\r\nA: b\r\n\r\n", "", NOLIMIT, &g),
                     H8S_REPLY_EV_STREAM_START);
    assert_int_equal(feed(&r, "NATS/1.0\r\nX-H8s-Seq: 2\r\n\r\n", "b", NOLIMIT, &g),
                     H8S_REPLY_E_SEQ);
    assert_string_equal(h8s_reply_reason(H8S_REPLY_E_SEQ), "protocol_error");

    h8s_reply_init(&r, 0, 0);
    assert_int_equal(feed(&r, "NATS/1.0\r\nA: b\r\n\r\n", "", NOLIMIT, &g),
                     H8S_REPLY_EV_STREAM_START);
    assert_int_equal(feed(&r, "NATS/1.0\r\nX-H8s-Seq: x\r\n\r\n", "b", NOLIMIT, &g),
                     H8S_REPLY_E_PROTOCOL);
}

static void test_flow_control(void **state)
{
    (void)state;
    struct h8s_reply r;
    struct got g;
    uint64_t c;
    h8s_reply_init(&r, 8, 0); /* window 8, step 2 */
    assert_int_equal(h8s_reply_credit(&r, 100, &c), 0); /* no stream yet */
    assert_int_equal(feed(&r, "NATS/1.0\r\nStatus-Code: 200\r\nX-H8s-Agent-Subject: " AGENT
                              "\r\n\r\n",
                          "1234", NOLIMIT, &g),
                     H8S_REPLY_EV_STREAM_START);
    assert_true(span_eq(h8s_reply_agent(&r), SPAN_LIT(AGENT)));
    assert_string_equal(g.fwd, "");
    /* Sequence numbers are required now. */
    assert_int_equal(feed(&r, "NATS/1.0\r\nX-H8s-Seq: 1\r\n\r\n", "5678", NOLIMIT, &g),
                     H8S_REPLY_EV_STREAM_DATA);
    /* The window is used up: one byte more is an overflow ... unless
     * credit was granted. Room 3 gives 8 + 3 = 11: a step of at least 2. */
    assert_int_equal(h8s_reply_credit(&r, 1, &c), 0); /* 9: step too small */
    assert_int_equal(h8s_reply_credit(&r, 3, &c), 1);
    assert_int_equal(c, 11);
    assert_int_equal(h8s_reply_credit(&r, 3, &c), 0); /* nothing new */
    assert_int_equal(feed(&r, "NATS/1.0\r\nX-H8s-Seq: 2\r\n\r\n", "abc", NOLIMIT, &g),
                     H8S_REPLY_EV_STREAM_DATA);
    assert_int_equal(h8s_reply_delivered(&r), 11);
    assert_int_equal(feed(&r, "NATS/1.0\r\nX-H8s-Seq: 3\r\n\r\n", "d", NOLIMIT, &g),
                     H8S_REPLY_E_OVERFLOW);
    assert_int_equal(h8s_reply_credit(&r, 100, &c), 0); /* failed: no more credit */

    /* Missing number with flow control. */
    h8s_reply_init(&r, 8, 0);
    assert_int_equal(feed(&r, "NATS/1.0\r\nX-H8s-Agent-Subject: " AGENT "\r\n\r\n", "", NOLIMIT,
                          &g),
                     H8S_REPLY_EV_STREAM_START);
    assert_int_equal(feed(&r, "", "x", NOLIMIT, &g), H8S_REPLY_E_SEQ);

    /* Repeat, and a number on the end message. */
    h8s_reply_init(&r, 8, 0);
    assert_int_equal(feed(&r, "NATS/1.0\r\nX-H8s-Agent-Subject: " AGENT "\r\n\r\n", "", NOLIMIT,
                          &g),
                     H8S_REPLY_EV_STREAM_START);
    assert_int_equal(feed(&r, "NATS/1.0\r\nX-H8s-Seq: 1\r\n\r\n", "x", NOLIMIT, &g),
                     H8S_REPLY_EV_STREAM_DATA);
    assert_int_equal(feed(&r, "NATS/1.0\r\nX-H8s-Seq: 1\r\n\r\n", "x", NOLIMIT, &g),
                     H8S_REPLY_E_SEQ);
    h8s_reply_init(&r, 8, 0);
    assert_int_equal(feed(&r, "NATS/1.0\r\nX-H8s-Agent-Subject: " AGENT "\r\n\r\n", "", NOLIMIT,
                          &g),
                     H8S_REPLY_EV_STREAM_START);
    assert_int_equal(feed(&r, "NATS/1.0\r\nX-H8s-Seq: 1\r\n\r\n", "", NOLIMIT, &g),
                     H8S_REPLY_EV_STREAM_END);
    /* Credit is not due once the stream ended. */
    assert_int_equal(h8s_reply_credit(&r, 100, &c), 0);

    /* The window also binds the first message. */
    h8s_reply_init(&r, 2, 0);
    assert_int_equal(
        feed(&r, "NATS/1.0\r\nX-H8s-Agent-Subject: " AGENT "\r\n\r\n", "abc", NOLIMIT, &g),
        H8S_REPLY_E_OVERFLOW);
}

static void test_control(void **state)
{
    (void)state;
    struct h8s_reply r;
    struct got g;
    h8s_reply_init(&r, 0, 0);
    assert_int_equal(h8s_reply_agent(&r).n, 0);
    assert_int_equal(feed(&r,
                          "NATS/1.0\r\nX-H8s-Control: ready\r\nX-H8s-Agent-Subject: " AGENT
                          "\r\nX-H8s-Credit: 65536\r\n\r\n",
                          "", NOLIMIT, &g),
                     H8S_REPLY_EV_READY);
    assert_int_equal(g.ev.credit, 65536);
    assert_true(span_eq(h8s_reply_agent(&r), SPAN_LIT(AGENT)));
    assert_int_equal(feed(&r, "NATS/1.0\r\nx-h8s-control: CREDIT\r\nx-h8s-credit: 100000\r\n\r\n",
                          "", NOLIMIT, &g),
                     H8S_REPLY_EV_CREDIT);
    assert_int_equal(g.ev.credit, 100000);
    /* Reordered smaller credit: the maximum stays. */
    assert_int_equal(feed(&r, "NATS/1.0\r\nX-H8s-Control: credit\r\nX-H8s-Credit: 70000\r\n\r\n",
                          "", NOLIMIT, &g),
                     H8S_REPLY_EV_CREDIT);
    assert_int_equal(g.ev.credit, 100000);
    /* Unknown control values are ignored. */
    assert_int_equal(feed(&r, "NATS/1.0\r\nX-H8s-Control: later-ext\r\n\r\n", "", NOLIMIT, &g),
                     H8S_REPLY_EV_NONE);
    /* Controls carry no response: the response still decides. */
    assert_int_equal(feed(&r, "", "done", NOLIMIT, &g), H8S_REPLY_EV_RESPONSE);

    static const char *const bad[] = {
        "NATS/1.0\r\nX-H8s-Control: ready\r\nX-H8s-Credit: 1\r\n\r\n",
        "NATS/1.0\r\nX-H8s-Control: ready\r\nX-H8s-Agent-Subject: " AGENT "\r\n\r\n",
        ("NATS/1.0\r\nX-H8s-Control: ready\r\nX-H8s-Agent-Subject: _INBOX.x.y\r\n"
         "X-H8s-Credit: 1\r\n\r\n"),
        "NATS/1.0\r\nX-H8s-Control: credit\r\nX-H8s-Credit: -1\r\n\r\n",
        "NATS/1.0\r\nX-H8s-Control: credit\r\nX-H8s-Credit: 18446744073709551616\r\n\r\n",
        "NATS/1.0\r\nX-H8s-Control: credit\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        h8s_reply_init(&r, 0, 0);
        if (feed(&r, bad[i], "", NOLIMIT, &g) != H8S_REPLY_E_PROTOCOL)
            fail_msg("case %zu: rc %d", i, g.rc);
    }
    /* The largest credit there is. */
    h8s_reply_init(&r, 0, 0);
    assert_int_equal(feed(&r,
                          "NATS/1.0\r\nX-H8s-Control: credit\r\nX-H8s-Credit: "
                          "18446744073709551615\r\n\r\n",
                          "", NOLIMIT, &g),
                     H8S_REPLY_EV_CREDIT);
    assert_true(g.ev.credit == UINT64_MAX);

    /* The responder gives up, before and during a stream. */
    h8s_reply_init(&r, 0, 0);
    assert_int_equal(feed(&r, "NATS/1.0\r\nX-H8s-Control: abort\r\n\r\n", "", NOLIMIT, &g),
                     H8S_REPLY_E_ABORTED);
    h8s_reply_init(&r, 0, 0);
    assert_int_equal(feed(&r, "NATS/1.0\r\nA: b\r\n\r\n", "x", NOLIMIT, &g),
                     H8S_REPLY_EV_STREAM_START);
    assert_int_equal(feed(&r, "NATS/1.0\r\nX-H8s-Control: abort\r\n\r\n", "", NOLIMIT, &g),
                     H8S_REPLY_E_ABORTED);
    assert_int_equal(feed(&r, "", "", NOLIMIT, &g), H8S_REPLY_E_ABORTED);
    assert_false(h8s_reply_done(&r));
    assert_false(h8s_reply_streaming(&r));
}

static void test_forwarded_headers(void **state)
{
    (void)state;
    struct h8s_reply r;
    struct got g;
    h8s_reply_init(&r, 0, 0);
    assert_int_equal(feed(&r,
                          "NATS/1.0\r\nStatus: 200\r\nStatus-Code: 200\r\n"
                          "Connection: X-Drop, close\r\nX-Drop: 1\r\nx-drop: 2\r\n"
                          "Keep-Alive: 5\r\nTransfer-Encoding: chunked\r\nTE: x\r\n"
                          "Upgrade: y\r\nTrailer: z\r\nProxy-Authenticate: p\r\n"
                          "X-H8s-Whatever: secret\r\nx-h8s-seq: 0\r\n"
                          "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Keep: v\r\n\r\n",
                          "", NOLIMIT, &g),
                     H8S_REPLY_EV_STREAM_START);
    assert_string_equal(g.fwd, "Set-Cookie=a=1;Set-Cookie=b=2;X-Keep=v;");
    assert_true(h8s_reply_internal(SPAN_LIT("x-h8s-anything")));
    assert_true(h8s_reply_internal(SPAN_LIT("STATUS")));
    assert_true(h8s_reply_internal(SPAN_LIT("content-length")));
    assert_false(h8s_reply_internal(SPAN_LIT("Statusx")));
    assert_false(h8s_reply_internal(SPAN_LIT("X-H8")));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_reply),
        cmocka_unit_test(test_no_responders),
        cmocka_unit_test(test_complete),
        cmocka_unit_test(test_no_body_statuses),
        cmocka_unit_test(test_bad_complete),
        cmocka_unit_test(test_stream_without_flow_control),
        cmocka_unit_test(test_optional_seq),
        cmocka_unit_test(test_flow_control),
        cmocka_unit_test(test_control),
        cmocka_unit_test(test_forwarded_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
