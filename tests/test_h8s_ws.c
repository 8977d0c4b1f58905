/*
 * tests/test_h8s_ws.c — the WebSocket tunnel messages (proto/h8s_ws.c):
 * decoding of every kind from real NATS header blocks (built with the
 * nats_hdr builder or written out byte for byte, each in an exact-size heap
 * block so ASan sees any over-read), every malformed variant, encoder round
 * trips and errors, and the header filters. The state machine is
 * tests/test_h8s_ws_tunnel.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/h8s_wire.h"
#include "proto/h8s_ws.h"
#include "proto/h8s_ws_tunnel.h"
#include "proto/nats_hdr.h"
#include "proto/ws_frame.h"
#include "tests/support/h8s_ws_rx.h"

#define AGENT_SUBJ "_INBOX.h8s.AgentId0123456789abcdef.Conn0123456789abcdefgh"

/* ------------------------------------------------------------ helpers */

/* Decodes one header/value pair plus a fixed kind, expecting err. */
static void expect_decode(int err, const char *kind, const char *k, const char *v, const void *data,
                          size_t n)
{
    struct rx r;
    int rc = rx_build(&r, 0, data, n, H8S_WS_HDR_KIND, kind, k, v, (const char *)NULL);
    if (rc != err)
        fail_msg("kind %s, %s: \"%s\": got %d (%s), want %d", kind, k ? k : "-", v ? v : "-", rc,
                 h8s_ws_strerror(rc), err);
    rx_free(&r);
}

/* ----------------------------------------------------------- decoding */

static void test_decode_kinds(void **state)
{
    struct rx r;
    (void)state;

    assert_int_equal(rx_build(&r, 0, NULL, 0, "X-H8s-Ws", "open", "X-H8s-Credit", "262144",
                              "Sec-Websocket-Protocol", "a", "Sec-Websocket-Protocol", "b",
                              (const char *)NULL),
                     0);
    assert_int_equal(r.m.kind, H8S_WS_OPEN);
    assert_int_equal(r.m.credit, 262144);
    assert_true(r.m.has_credit);
    rx_free(&r);

    assert_int_equal(rx_build(&r, 0, NULL, 0, "X-H8s-Ws", "accept", "Status-Code", "101",
                              "X-H8s-Agent-Subject", AGENT_SUBJ, "X-H8s-Credit", "7",
                              "Sec-Websocket-Protocol", "chat.v2", "Set-Cookie", "a=b",
                              (const char *)NULL),
                     0);
    assert_int_equal(r.m.kind, H8S_WS_ACCEPT);
    assert_int_equal(r.m.status, 101);
    assert_int_equal(r.m.credit, 7);
    assert_true(span_eq(r.m.agent_subject, SPAN_LIT(AGENT_SUBJ)));
    assert_true(span_eq(r.m.protocol, SPAN_LIT("chat.v2")));
    rx_free(&r);

    /* Lower-case names (another client library may fold them). */
    assert_int_equal(
        rx_raw(&r, "NATS/1.0\r\nx-h8s-ws: text\r\nx-h8s-seq: 12\r\nx-h8s-more: 1\r\n\r\n", "hi", 2),
        0);
    assert_int_equal(r.m.kind, H8S_WS_TEXT);
    assert_int_equal(r.m.seq, 12);
    assert_true(r.m.more);
    assert_true(span_eq(r.m.data, SPAN_LIT("hi")));
    rx_free(&r);

    assert_int_equal(
        rx_build(&r, 0, "\x00\xff", 2, "X-H8s-Ws", "binary", "X-H8s-Seq", "1", (const char *)NULL),
        0);
    assert_int_equal(r.m.kind, H8S_WS_BINARY);
    assert_false(r.m.more);
    assert_int_equal(r.m.data.n, 2);
    rx_free(&r);

    assert_int_equal(rx_build(&r, 0, "bye \xe2\x9c\x93", 7, "X-H8s-Ws", "close", "X-H8s-Seq", "3",
                              "X-H8s-Close-Code", "4000", (const char *)NULL),
                     0);
    assert_int_equal(r.m.kind, H8S_WS_CLOSE);
    assert_int_equal(r.m.close_code, 4000);
    assert_int_equal(r.m.seq, 3);
    assert_true(span_eq(r.m.data, SPAN_LIT("bye \xe2\x9c\x93")));
    rx_free(&r);

    assert_int_equal(
        rx_build(&r, 0, NULL, 0, "X-H8s-Ws", "close", "X-H8s-Seq", "9", (const char *)NULL), 0);
    assert_int_equal(r.m.close_code, 0);
    rx_free(&r);

    assert_int_equal(rx_build(&r, 0, NULL, 0, "X-H8s-Ws", "credit", "X-H8s-Credit",
                              "9223372036854775807", (const char *)NULL),
                     0);
    assert_int_equal(r.m.kind, H8S_WS_CREDIT);
    assert_true(r.m.credit == H8S_WS_VALUE_MAX);
    rx_free(&r);

    /* NATS status 503: no responders, data ignored. */
    assert_int_equal(rx_raw(&r, "NATS/1.0 503\r\n\r\n", NULL, 0), 0);
    assert_int_equal(r.m.kind, H8S_WS_NO_RESPONDERS);
    rx_free(&r);
    assert_int_equal(rx_raw(&r, "NATS/1.0 408 Request Timeout\r\n\r\n", NULL, 0), H8S_WS_E_KIND);
    rx_free(&r);
    assert_int_equal(rx_raw(&r, "NATS/1.0 503\r\nX-H8s-Ws: text\r\n\r\n", NULL, 0), H8S_WS_E_KIND);
    rx_free(&r);

    /* No headers, or headers without X-H8s-Ws: an HTTP response. */
    assert_int_equal(h8s_ws_decode(&r.m, span_make(NULL, 0), SPAN_LIT("body")), 0);
    assert_int_equal(r.m.kind, H8S_WS_HTTP);
    assert_int_equal(r.m.status, 0);
    assert_true(span_eq(r.m.data, SPAN_LIT("body")));
    assert_int_equal(rx_build(&r, 0, "no", 2, "Status-Code", "403", "Content-Length", "2",
                              "X-H8s-Seq", "1", "X-H8s-Seq", "2", (const char *)NULL),
                     0);
    assert_int_equal(r.m.kind, H8S_WS_HTTP);
    assert_int_equal(r.m.status, 403);
    rx_free(&r);
    assert_int_equal(rx_build(&r, 0, NULL, 0, "Status-Code", "abc", (const char *)NULL), 0);
    assert_int_equal(r.m.status, 0);
    rx_free(&r);

    assert_int_equal(rx_raw(&r, "NATS/1.0\r\nX-H8s-Ws text\r\n\r\n", NULL, 0), H8S_WS_E_FORMAT);
    rx_free(&r);
    assert_int_equal(rx_raw(&r, "HTTP/1.1\r\n\r\n", NULL, 0), H8S_WS_E_FORMAT);
    rx_free(&r);
}

static void test_decode_errors(void **state)
{
    static const char *const bad_numbers[] = {
        "",
        "01",
        "-1",
        "+1",
        " ",
        "1 2",
        "0x10",
        "9223372036854775808",
        "18446744073709551616",
        "99999999999999999999",
        "1.0",
        NULL,
    };
    struct rx r;
    (void)state;

    for (const char *const *v = bad_numbers; *v; v++) {
        expect_decode(H8S_WS_E_VALUE, "credit", "X-H8s-Credit", *v, NULL, 0);
        expect_decode(H8S_WS_E_VALUE, "text", "X-H8s-Seq", *v, NULL, 0);
    }
    expect_decode(H8S_WS_E_VALUE, "text", "X-H8s-Seq", "0", NULL, 0);
    expect_decode(0, "credit", "X-H8s-Credit", "0", NULL, 0);

    /* Unknown kinds (exact, case-sensitive values). */
    expect_decode(H8S_WS_E_KIND, "Text", "X-H8s-Seq", "1", NULL, 0);
    expect_decode(H8S_WS_E_KIND, "ping", "X-H8s-Seq", "1", NULL, 0);
    expect_decode(H8S_WS_E_KIND, "", "X-H8s-Seq", "1", NULL, 0);

    /* Required headers. */
    expect_decode(H8S_WS_E_MISSING, "text", NULL, NULL, "x", 1);
    expect_decode(H8S_WS_E_MISSING, "binary", "X-H8s-Credit", "1", NULL, 0);
    expect_decode(H8S_WS_E_MISSING, "close", NULL, NULL, NULL, 0);
    /* A close with a code and no sequence number is an abort. */
    expect_decode(0, "close", "X-H8s-Close-Code", "1011", "unknown connection", 18);
    expect_decode(H8S_WS_E_MISSING, "credit", "X-H8s-Seq", "1", NULL, 0);
    expect_decode(H8S_WS_E_MISSING, "open", NULL, NULL, NULL, 0);
    expect_decode(H8S_WS_E_MISSING, "accept", "X-H8s-Credit", "1", NULL, 0);
    expect_decode(H8S_WS_E_MISSING, "accept", "X-H8s-Agent-Subject", AGENT_SUBJ, NULL, 0);

    /* More is "1" or absent. */
    assert_int_equal(rx_build(&r, 0, NULL, 0, "X-H8s-Ws", "text", "X-H8s-Seq", "1", "X-H8s-More",
                              "0", (const char *)NULL),
                     H8S_WS_E_VALUE);
    rx_free(&r);
    assert_int_equal(rx_build(&r, 0, NULL, 0, "X-H8s-Ws", "text", "X-H8s-Seq", "1", "X-H8s-More",
                              "true", (const char *)NULL),
                     H8S_WS_E_VALUE);
    rx_free(&r);

    /* Repeated tunnel headers. */
    assert_int_equal(rx_build(&r, 0, NULL, 0, "X-H8s-Ws", "text", "X-H8s-Seq", "1", "x-h8s-seq",
                              "2", (const char *)NULL),
                     H8S_WS_E_REPEAT);
    rx_free(&r);
    assert_int_equal(rx_build(&r, 0, NULL, 0, "X-H8s-Ws", "text", "X-H8s-Ws", "text", "X-H8s-Seq",
                              "1", (const char *)NULL),
                     H8S_WS_E_REPEAT);
    rx_free(&r);
    assert_int_equal(rx_build(&r, 0, NULL, 0, "X-H8s-Ws", "accept", "X-H8s-Credit", "1",
                              "X-H8s-Agent-Subject", AGENT_SUBJ, "Sec-Websocket-Protocol", "a",
                              "Sec-Websocket-Protocol", "b", (const char *)NULL),
                     H8S_WS_E_REPEAT);
    rx_free(&r);

    /* Close codes and reasons. */
    static const char *const bad_codes[] = {"999",  "1004", "1005",  "1006", "1015",
                                            "2999", "5000", "65536", "0",    NULL};
    for (const char *const *c = bad_codes; *c; c++) {
        assert_int_equal(rx_build(&r, 0, NULL, 0, "X-H8s-Ws", "close", "X-H8s-Seq", "1",
                                  "X-H8s-Close-Code", *c, (const char *)NULL),
                         H8S_WS_E_VALUE);
        rx_free(&r);
    }
    char long_reason[WS_FRAME_CLOSE_REASON_MAX + 1];
    memset(long_reason, 'r', sizeof(long_reason));
    assert_int_equal(rx_build(&r, 0, long_reason, sizeof(long_reason), "X-H8s-Ws", "close",
                              "X-H8s-Seq", "1", "X-H8s-Close-Code", "1000", (const char *)NULL),
                     H8S_WS_E_DATA);
    rx_free(&r);
    assert_int_equal(rx_build(&r, 0, long_reason, sizeof(long_reason) - 1, "X-H8s-Ws", "close",
                              "X-H8s-Seq", "1", "X-H8s-Close-Code", "1000", (const char *)NULL),
                     0);
    rx_free(&r);
    assert_int_equal(rx_build(&r, 0, "\xc3", 1, "X-H8s-Ws", "close", "X-H8s-Seq", "1",
                              "X-H8s-Close-Code", "1000", (const char *)NULL),
                     H8S_WS_E_DATA);
    rx_free(&r);
    assert_int_equal(
        rx_build(&r, 0, "why", 3, "X-H8s-Ws", "close", "X-H8s-Seq", "1", (const char *)NULL),
        H8S_WS_E_DATA);
    rx_free(&r);

    /* Data where none belongs. */
    expect_decode(H8S_WS_E_DATA, "credit", "X-H8s-Credit", "1", "x", 1);
    assert_int_equal(
        rx_build(&r, 0, "x", 1, "X-H8s-Ws", "open", "X-H8s-Credit", "1", (const char *)NULL),
        H8S_WS_E_DATA);
    rx_free(&r);

    /* Accept: subject, status and subprotocol checked. */
    static const char *const bad_subjects[] = {
        "_INBOX.h8s.a",
        "_INBOX.h8s.a.b.c",
        "_INBOX.h8s.*.b",
        "_INBOX.h8s.a.>",
        "_INBOX.h8s..b",
        "_INBOX.h8s.a.",
        "_INBOX.other.a.b",
        "h8s.http.GET.a",
        "_INBOX.h8s.a b.c",
        "",
        NULL,
    };
    for (const char *const *s = bad_subjects; *s; s++) {
        assert_int_equal(rx_build(&r, 0, NULL, 0, "X-H8s-Ws", "accept", "X-H8s-Credit", "1",
                                  "X-H8s-Agent-Subject", *s, (const char *)NULL),
                         H8S_WS_E_VALUE);
        rx_free(&r);
    }
    assert_int_equal(rx_build(&r, 0, NULL, 0, "X-H8s-Ws", "accept", "X-H8s-Credit", "1",
                              "X-H8s-Agent-Subject", AGENT_SUBJ, "Status-Code", "200",
                              (const char *)NULL),
                     H8S_WS_E_VALUE);
    rx_free(&r);
    assert_int_equal(rx_build(&r, 0, NULL, 0, "X-H8s-Ws", "accept", "X-H8s-Credit", "1",
                              "X-H8s-Agent-Subject", AGENT_SUBJ, "Sec-Websocket-Protocol", "a b",
                              (const char *)NULL),
                     H8S_WS_E_VALUE);
    rx_free(&r);
}

static void test_encode_roundtrip(void **state)
{
    uint8_t buf[H8S_WS_HDR_MAX], big[256];
    struct span out;
    struct h8s_ws_msg m;
    struct nats_hdr_builder b;
    (void)state;

    for (int more = 0; more < 2; more++) {
        assert_int_equal(
            h8s_ws_encode_data(buf, sizeof(buf), &out, H8S_WS_BINARY, H8S_WS_VALUE_MAX, more), 0);
        assert_true(out.p == buf && out.n <= H8S_WS_HDR_MAX);
        assert_int_equal(h8s_ws_decode(&m, out, SPAN_LIT("abc")), 0);
        assert_int_equal(m.kind, H8S_WS_BINARY);
        assert_true(m.seq == H8S_WS_VALUE_MAX);
        assert_int_equal(m.more, more);
    }
    assert_int_equal(h8s_ws_encode_close(buf, sizeof(buf), &out, 77, 4999), 0);
    assert_int_equal(h8s_ws_decode(&m, out, SPAN_LIT("r")), 0);
    assert_int_equal(m.kind, H8S_WS_CLOSE);
    assert_int_equal(m.seq, 77);
    assert_int_equal(m.close_code, 4999);
    assert_int_equal(h8s_ws_encode_close(buf, sizeof(buf), &out, 1, 0), 0);
    assert_int_equal(h8s_ws_decode(&m, out, span_make(NULL, 0)), 0);
    assert_int_equal(m.close_code, 0);
    assert_int_equal(h8s_ws_encode_credit(buf, sizeof(buf), &out, 0), 0);
    assert_int_equal(h8s_ws_decode(&m, out, span_make(NULL, 0)), 0);
    assert_int_equal(m.kind, H8S_WS_CREDIT);
    assert_int_equal(m.credit, 0);

    /* Bad arguments and short buffers. */
    assert_int_equal(h8s_ws_encode_data(buf, sizeof(buf), &out, H8S_WS_CLOSE, 1, 0), H8S_WS_E_ARG);
    assert_int_equal(h8s_ws_encode_data(buf, sizeof(buf), &out, H8S_WS_TEXT, 0, 0), H8S_WS_E_ARG);
    assert_int_equal(
        h8s_ws_encode_data(buf, sizeof(buf), &out, H8S_WS_TEXT, H8S_WS_VALUE_MAX + 1, 0),
        H8S_WS_E_ARG);
    assert_int_equal(h8s_ws_encode_close(buf, sizeof(buf), &out, 1, 1005), H8S_WS_E_ARG);
    assert_int_equal(h8s_ws_encode_close(buf, sizeof(buf), &out, 0, 0), H8S_WS_E_ARG);
    assert_int_equal(h8s_ws_encode_close(buf, sizeof(buf), &out, 0, 1011), 0);
    assert_int_equal(h8s_ws_decode(&m, out, SPAN_LIT("unknown connection")), 0);
    assert_true(m.kind == H8S_WS_CLOSE && m.seq == 0 && m.close_code == 1011);
    assert_int_equal(h8s_ws_encode_credit(buf, sizeof(buf), &out, H8S_WS_VALUE_MAX + 1),
                     H8S_WS_E_ARG);
    assert_int_equal(h8s_ws_encode_data(buf, 20, &out, H8S_WS_TEXT, 1, 1), H8S_WS_E_SPACE);
    assert_int_equal(h8s_ws_encode_credit(buf, 10, &out, 5), H8S_WS_E_SPACE);

    /* Open and accept headers inside a larger block. */
    nats_hdr_build_init(&b, big, sizeof(big), 0, span_make(NULL, 0));
    nats_hdr_build_add(&b, SPAN_LIT("Origin"), SPAN_LIT("https://a.example"));
    assert_int_equal(h8s_ws_add_open(&b, 1024), 0);
    assert_int_equal(nats_hdr_build_finish(&b, &out), 0);
    assert_int_equal(h8s_ws_decode(&m, out, span_make(NULL, 0)), 0);
    assert_int_equal(m.kind, H8S_WS_OPEN);
    assert_int_equal(m.credit, 1024);

    nats_hdr_build_init(&b, big, sizeof(big), 0, span_make(NULL, 0));
    assert_int_equal(h8s_ws_add_accept(&b, SPAN_LIT(AGENT_SUBJ), SPAN_LIT("v1"), 99), 0);
    assert_int_equal(nats_hdr_build_finish(&b, &out), 0);
    assert_int_equal(h8s_ws_decode(&m, out, span_make(NULL, 0)), 0);
    assert_int_equal(m.kind, H8S_WS_ACCEPT);
    assert_int_equal(m.credit, 99);
    assert_true(span_eq(m.protocol, SPAN_LIT("v1")));
    assert_true(span_eq(m.agent_subject, SPAN_LIT(AGENT_SUBJ)));

    nats_hdr_build_init(&b, big, sizeof(big), 0, span_make(NULL, 0));
    assert_int_equal(h8s_ws_add_accept(&b, SPAN_LIT("_INBOX.h8s.*.x"), span_make(NULL, 0), 1),
                     H8S_WS_E_ARG);
    assert_int_equal(h8s_ws_add_accept(&b, SPAN_LIT(AGENT_SUBJ), SPAN_LIT("a,b"), 1), H8S_WS_E_ARG);
    nats_hdr_build_init(&b, big, 40, 0, span_make(NULL, 0));
    assert_int_equal(h8s_ws_add_accept(&b, SPAN_LIT(AGENT_SUBJ), span_make(NULL, 0), 1),
                     H8S_WS_E_SPACE);
}

static void test_filters(void **state)
{
    (void)state;
    /* Client headers into the open. */
    assert_true(h8s_ws_open_forwards(SPAN_LIT("Origin")));
    assert_true(h8s_ws_open_forwards(SPAN_LIT("Cookie")));
    assert_true(h8s_ws_open_forwards(SPAN_LIT("Sec-Websocket-Protocol")));
    assert_true(h8s_ws_open_forwards(SPAN_LIT("Authorization")));
    assert_false(h8s_ws_open_forwards(SPAN_LIT("Sec-WebSocket-Key")));
    assert_false(h8s_ws_open_forwards(SPAN_LIT("sec-websocket-key")));
    assert_false(h8s_ws_open_forwards(SPAN_LIT("Sec-Websocket-Version")));
    assert_false(h8s_ws_open_forwards(SPAN_LIT("Sec-Websocket-Extensions")));
    assert_false(h8s_ws_open_forwards(SPAN_LIT("Sec-Websocket-Accept")));
    assert_false(h8s_ws_open_forwards(SPAN_LIT("X-H8s-Agent-Subject")));
    assert_false(h8s_ws_open_forwards(SPAN_LIT("x-h8s-ws")));
    assert_false(h8s_ws_open_forwards(SPAN_LIT("Upgrade")));
    assert_false(h8s_ws_open_forwards(SPAN_LIT("Connection")));
    assert_false(h8s_ws_open_forwards(SPAN_LIT("Transfer-Encoding")));
    assert_false(h8s_ws_open_forwards(span_make(NULL, 0)));
    /* Open headers into the app's handshake. */
    assert_true(h8s_ws_backend_forwards(SPAN_LIT("Cookie")));
    assert_true(h8s_ws_backend_forwards(SPAN_LIT("X-Forwarded-For")));
    assert_true(h8s_ws_backend_forwards(SPAN_LIT("User-Agent")));
    assert_false(h8s_ws_backend_forwards(SPAN_LIT("Host")));
    assert_false(h8s_ws_backend_forwards(SPAN_LIT("Origin")));
    assert_false(h8s_ws_backend_forwards(SPAN_LIT("Sec-Websocket-Protocol")));
    assert_false(h8s_ws_backend_forwards(SPAN_LIT("X-H8s-Credit")));
    assert_false(h8s_ws_backend_forwards(SPAN_LIT("X-H8s-PublishSubject")));
    assert_false(h8s_ws_backend_forwards(SPAN_LIT("Content-Length")));
    assert_false(h8s_ws_backend_forwards(SPAN_LIT("Keep-Alive")));
    assert_false(h8s_ws_backend_forwards(SPAN_LIT("status-code")));
    /* The app's 101 into the accept and the client's 101. */
    assert_true(h8s_ws_accept_forwards(SPAN_LIT("Set-Cookie")));
    assert_true(h8s_ws_accept_forwards(SPAN_LIT("X-App")));
    assert_false(h8s_ws_accept_forwards(SPAN_LIT("Sec-Websocket-Accept")));
    assert_false(h8s_ws_accept_forwards(SPAN_LIT("Sec-WebSocket-Protocol")));
    assert_false(h8s_ws_accept_forwards(SPAN_LIT("Sec-WebSocket-Extensions")));
    assert_false(h8s_ws_accept_forwards(SPAN_LIT("Upgrade")));
    assert_false(h8s_ws_accept_forwards(SPAN_LIT("X-H8s-Ws")));
    assert_false(h8s_ws_accept_forwards(SPAN_LIT("Status")));
    assert_false(h8s_ws_accept_forwards(SPAN_LIT("Content-Length")));

    assert_true(h8s_ws_subject_ok(SPAN_LIT(AGENT_SUBJ)));
    assert_string_equal(h8s_ws_kind_name(H8S_WS_CREDIT), "credit");
    assert_string_equal(h8s_ws_kind_name((enum h8s_ws_kind)99), "unknown");
    assert_string_equal(h8s_ws_strerror(H8S_WS_E_CREDIT), "beyond the peer's credit");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_kinds),
        cmocka_unit_test(test_decode_errors),
        cmocka_unit_test(test_encode_roundtrip),
        cmocka_unit_test(test_filters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
