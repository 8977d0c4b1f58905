/*
 * tests/test_h8s_ws_tunnel.c — the per-connection tunnel state machine
 * (proto/h8s_ws_tunnel.c).
 *
 * Every message a tunnel receives here is a real NATS header block: built
 * with the nats_hdr builder (or written out byte for byte), decoded with
 * h8s_ws_decode, then handed to h8s_ws_tunnel_recv, as the daemons do.
 * Blocks live in exactly-sized heap copies so ASan sees any over-read.
 * Covered: every state transition, sequence gaps and repeats, credit
 * (message cost) and size limits, UTF-8 across chunks, sending rules,
 * grants under congestion, closes both ways, liveness deadlines; the pair
 * test connects a gateway-side and an agent-side tunnel through such
 * blocks and moves messages both ways under flow control.
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

/* Feeds a block produced by one tunnel's sender into another's receiver. */
static enum h8s_ws_event_type deliver(struct h8s_ws_tunnel *t, struct span hdr, const void *data,
                                      size_t n, uint64_t now, struct h8s_ws_event *ev,
                                      struct rx *keep)
{
    rx_free(keep);
    assert_int_equal(rx_copy(keep, hdr, data, n), 0);
    return h8s_ws_tunnel_recv(t, &keep->m, now, ev);
}

/* Receives a data chunk built by hand (seq, kind, more). */
static enum h8s_ws_event_type recv_chunk(struct h8s_ws_tunnel *t, const char *kind, uint64_t seq,
                                         int more, const void *data, size_t n, uint64_t now,
                                         struct h8s_ws_event *ev, struct rx *r)
{
    char s[24];
    snprintf(s, sizeof(s), "%llu", (unsigned long long)seq);
    assert_int_equal(rx_build(r, 0, data, n, H8S_WS_HDR_KIND, kind, H8S_HDR_SEQ, s,
                              more ? H8S_WS_HDR_MORE : NULL, "1", (const char *)NULL),
                     0);
    return h8s_ws_tunnel_recv(t, &r->m, now, ev);
}

static enum h8s_ws_event_type recv_simple(struct h8s_ws_tunnel *t, const char *kind, const char *k,
                                          const char *v, uint64_t now, struct h8s_ws_event *ev)
{
    struct rx r;
    enum h8s_ws_event_type type;
    assert_int_equal(rx_build(&r, 0, NULL, 0, H8S_WS_HDR_KIND, kind, k, v, (const char *)NULL), 0);
    type = h8s_ws_tunnel_recv(t, &r.m, now, ev);
    rx_free(&r);
    return type;
}

static enum h8s_ws_event_type recv_credit(struct h8s_ws_tunnel *t, uint64_t credit, uint64_t now,
                                          struct h8s_ws_event *ev)
{
    char s[24];
    snprintf(s, sizeof(s), "%llu", (unsigned long long)credit);
    return recv_simple(t, "credit", H8S_HDR_CREDIT, s, now, ev);
}

static enum h8s_ws_event_type recv_close(struct h8s_ws_tunnel *t, uint64_t seq, const char *code,
                                         const char *reason, uint64_t now, struct h8s_ws_event *ev,
                                         struct rx *r)
{
    char s[24];
    snprintf(s, sizeof(s), "%llu", (unsigned long long)seq);
    assert_int_equal(rx_build(r, 0, reason, strlen(reason), H8S_WS_HDR_KIND, "close", H8S_HDR_SEQ,
                              s, code ? H8S_WS_HDR_CLOSE_CODE : NULL, code, (const char *)NULL),
                     0);
    return h8s_ws_tunnel_recv(t, &r->m, now, ev);
}

static struct h8s_ws_config small_cfg(void)
{
    struct h8s_ws_config c;
    h8s_ws_config_defaults(&c);
    c.max_message = 100;
    c.window = 200;
    c.heartbeat_ms = 1000;
    c.dead_ms = 3000;
    c.close_ms = 2000;
    return c;
}

/* An agent-side tunnel, OPEN at time 0 with the given peer credit. */
static void agent_open(struct h8s_ws_tunnel *t, uint64_t peer_credit)
{
    struct h8s_ws_config c = small_cfg();
    h8s_ws_tunnel_init(t, &c, 0);
    assert_int_equal(h8s_ws_tunnel_granted(t), 200);
    assert_int_equal(h8s_ws_tunnel_start(t, peer_credit, 0), 0);
    assert_int_equal(t->state, H8S_WS_ST_OPEN);
}

/* ------------------------------------------------------- state machine */

static void test_gateway_opening(void **state)
{
    struct h8s_ws_config c = small_cfg();
    struct h8s_ws_tunnel t;
    struct h8s_ws_event ev;
    struct rx r;
    uint8_t hb[H8S_WS_HDR_MAX];
    struct span out;
    (void)state;

    /* OPENING -> OPEN on an accept; its credit is the send room. */
    h8s_ws_tunnel_init(&t, &c, 100);
    assert_int_equal(t.state, H8S_WS_ST_OPENING);
    assert_int_equal(h8s_ws_tunnel_send_room(&t), 0);
    assert_true(h8s_ws_tunnel_deadline(&t) == UINT64_MAX);
    assert_int_equal(h8s_ws_tunnel_tick(&t, 1000000), H8S_WS_TICK_NONE);
    assert_int_equal(h8s_ws_tunnel_send_data(&t, H8S_WS_TEXT, 0, 1, 100, hb, sizeof(hb), &out),
                     H8S_WS_E_STATE);
    assert_int_equal(
        h8s_ws_tunnel_send_close(&t, 1000, span_make(NULL, 0), 100, hb, sizeof(hb), &out),
        H8S_WS_E_STATE);
    assert_int_equal(h8s_ws_tunnel_credit(&t, 0, 1, 100, hb, sizeof(hb), &out), 0);
    assert_int_equal(rx_build(&r, 0, NULL, 0, "X-H8s-Ws", "accept", "X-H8s-Credit", "21",
                              "X-H8s-Agent-Subject", AGENT_SUBJ, (const char *)NULL),
                     0);
    assert_int_equal(h8s_ws_tunnel_recv(&t, &r.m, 150, &ev), H8S_WS_EV_ACCEPTED);
    rx_free(&r);
    assert_int_equal(t.state, H8S_WS_ST_OPEN);
    /* A message costs its payload plus H8S_WS_MSG_COST. */
    assert_int_equal(h8s_ws_tunnel_send_room(&t), 21 - H8S_WS_MSG_COST);
    assert_int_equal(h8s_ws_tunnel_deadline(&t), 150 + 1000);
    /* A second accept in OPEN is a violation. */
    assert_int_equal(rx_build(&r, 0, NULL, 0, "X-H8s-Ws", "accept", "X-H8s-Credit", "5",
                              "X-H8s-Agent-Subject", AGENT_SUBJ, (const char *)NULL),
                     0);
    assert_int_equal(h8s_ws_tunnel_recv(&t, &r.m, 150, &ev), H8S_WS_EV_FAIL);
    assert_int_equal(ev.code, WS_CLOSE_INTERNAL);
    rx_free(&r);

    /* OPENING -> CLOSED on anything else: an HTTP refusal ... */
    h8s_ws_tunnel_init(&t, &c, 0);
    assert_int_equal(rx_build(&r, 0, "denied", 6, "Status-Code", "403", (const char *)NULL), 0);
    assert_int_equal(h8s_ws_tunnel_recv(&t, &r.m, 1, &ev), H8S_WS_EV_REFUSED);
    assert_int_equal(ev.kind, H8S_WS_HTTP);
    assert_int_equal(r.m.status, 403);
    assert_true(h8s_ws_tunnel_done(&t));
    assert_int_equal(h8s_ws_tunnel_recv(&t, &r.m, 1, &ev), H8S_WS_EV_NONE);
    rx_free(&r);
    /* ... no responders ... */
    h8s_ws_tunnel_init(&t, &c, 0);
    assert_int_equal(rx_raw(&r, "NATS/1.0 503\r\n\r\n", NULL, 0), 0);
    assert_int_equal(h8s_ws_tunnel_recv(&t, &r.m, 1, &ev), H8S_WS_EV_REFUSED);
    assert_int_equal(ev.kind, H8S_WS_NO_RESPONDERS);
    rx_free(&r);
    /* ... or data before any accept. */
    h8s_ws_tunnel_init(&t, &c, 0);
    assert_int_equal(recv_chunk(&t, "text", 1, 0, "x", 1, 1, &ev, &r), H8S_WS_EV_REFUSED);
    assert_int_equal(ev.kind, H8S_WS_TEXT);
    rx_free(&r);

    /* The client left while opening: fail ends it at once. */
    h8s_ws_tunnel_init(&t, &c, 0);
    h8s_ws_tunnel_fail(&t, WS_CLOSE_GOING_AWAY, "client gone");
    assert_true(h8s_ws_tunnel_done(&t));
    /* start only from OPENING. */
    assert_int_equal(h8s_ws_tunnel_start(&t, 1, 0), -1);
}

static void test_data_in_order(void **state)
{
    struct h8s_ws_tunnel t;
    struct h8s_ws_event ev;
    struct rx r;
    (void)state;

    agent_open(&t, 0);
    /* A message in three chunks, a code point split across two. */
    assert_int_equal(recv_chunk(&t, "text", 1, 1, "h\xc3", 2, 10, &ev, &r), H8S_WS_EV_DATA);
    assert_true(ev.first && !ev.fin && ev.kind == H8S_WS_TEXT);
    assert_true(span_eq(ev.data, SPAN_LIT("h\xc3")));
    rx_free(&r);
    assert_int_equal(recv_chunk(&t, "text", 2, 1, "\xa9", 1, 11, &ev, &r), H8S_WS_EV_DATA);
    assert_true(!ev.first && !ev.fin);
    rx_free(&r);
    assert_int_equal(recv_chunk(&t, "text", 3, 0, "llo", 3, 12, &ev, &r), H8S_WS_EV_DATA);
    assert_true(!ev.first && ev.fin);
    rx_free(&r);
    /* Empty binary message. */
    assert_int_equal(recv_chunk(&t, "binary", 4, 0, NULL, 0, 13, &ev, &r), H8S_WS_EV_DATA);
    assert_true(ev.first && ev.fin && ev.kind == H8S_WS_BINARY && ev.data.n == 0);
    rx_free(&r);
    assert_int_equal(t.rx_msgs, 2);
    assert_int_equal(t.rx_bytes, 6);
    assert_int_equal(t.rx_seq, 5);
    assert_int_equal(t.last_rx_ms, 13);
    /* Credits never count as sequenced messages. */
    assert_int_equal(recv_credit(&t, 10, 14, &ev), H8S_WS_EV_CREDIT);
    assert_int_equal(recv_chunk(&t, "binary", 5, 0, "z", 1, 15, &ev, &r), H8S_WS_EV_DATA);
    rx_free(&r);
}

static void test_sequence_violations(void **state)
{
    struct h8s_ws_tunnel t;
    struct h8s_ws_event ev;
    struct rx r;
    (void)state;

    /* Gap. */
    agent_open(&t, 0);
    assert_int_equal(recv_chunk(&t, "text", 1, 0, "a", 1, 1, &ev, &r), H8S_WS_EV_DATA);
    rx_free(&r);
    assert_int_equal(recv_chunk(&t, "text", 3, 0, "c", 1, 2, &ev, &r), H8S_WS_EV_FAIL);
    assert_int_equal(ev.code, WS_CLOSE_INTERNAL);
    assert_non_null(strstr(ev.reason, "gap"));
    rx_free(&r);
    /* Sticky: the missing one arriving late is not delivered either. */
    assert_int_equal(recv_chunk(&t, "text", 2, 0, "b", 1, 3, &ev, &r), H8S_WS_EV_NONE);
    rx_free(&r);
    assert_int_equal(recv_credit(&t, 100, 3, &ev), H8S_WS_EV_NONE);
    assert_int_equal(t.rx_bytes, 1);

    /* Repeat. */
    agent_open(&t, 0);
    assert_int_equal(recv_chunk(&t, "text", 1, 0, "a", 1, 1, &ev, &r), H8S_WS_EV_DATA);
    rx_free(&r);
    assert_int_equal(recv_chunk(&t, "text", 1, 0, "a", 1, 2, &ev, &r), H8S_WS_EV_FAIL);
    assert_non_null(strstr(ev.reason, "repeated"));
    rx_free(&r);

    /* A close with a wrong number is a gap too. */
    agent_open(&t, 0);
    assert_int_equal(recv_close(&t, 2, "1000", "", 1, &ev, &r), H8S_WS_EV_FAIL);
    assert_int_equal(ev.code, WS_CLOSE_INTERNAL);
    rx_free(&r);

    /* An abort (close without sequence number) ends it with its code,
     * whatever the sequence. */
    agent_open(&t, 0);
    assert_int_equal(recv_chunk(&t, "text", 1, 0, "a", 1, 1, &ev, &r), H8S_WS_EV_DATA);
    rx_free(&r);
    assert_int_equal(rx_build(&r, 0, "unknown connection", 18, "X-H8s-Ws", "close",
                              "X-H8s-Close-Code", "1001", (const char *)NULL),
                     0);
    assert_int_equal(h8s_ws_tunnel_recv(&t, &r.m, 2, &ev), H8S_WS_EV_FAIL);
    assert_int_equal(ev.code, WS_CLOSE_GOING_AWAY);
    rx_free(&r);
    assert_int_equal(recv_chunk(&t, "text", 2, 0, "b", 1, 3, &ev, &r), H8S_WS_EV_NONE);
    rx_free(&r);

    /* Type change inside a message. */
    agent_open(&t, 0);
    assert_int_equal(recv_chunk(&t, "text", 1, 1, "a", 1, 1, &ev, &r), H8S_WS_EV_DATA);
    rx_free(&r);
    assert_int_equal(recv_chunk(&t, "binary", 2, 0, "b", 1, 1, &ev, &r), H8S_WS_EV_FAIL);
    assert_int_equal(ev.code, WS_CLOSE_INTERNAL);
    rx_free(&r);

    /* Unexpected kinds in OPEN. */
    agent_open(&t, 0);
    assert_int_equal(recv_simple(&t, "open", "X-H8s-Credit", "1", 1, &ev), H8S_WS_EV_FAIL);
    agent_open(&t, 0);
    assert_int_equal(rx_build(&r, 0, "x", 1, "Status-Code", "200", (const char *)NULL), 0);
    assert_int_equal(h8s_ws_tunnel_recv(&t, &r.m, 1, &ev), H8S_WS_EV_FAIL);
    rx_free(&r);
    /* No responders: the other hop is gone. */
    agent_open(&t, 0);
    assert_int_equal(rx_raw(&r, "NATS/1.0 503\r\n\r\n", NULL, 0), 0);
    assert_int_equal(h8s_ws_tunnel_recv(&t, &r.m, 5000, &ev), H8S_WS_EV_FAIL);
    assert_int_equal(ev.code, WS_CLOSE_INTERNAL);
    assert_int_equal(t.last_rx_ms, 0); /* not a sign of life */
    rx_free(&r);
}

static void test_limits(void **state)
{
    struct h8s_ws_tunnel t;
    struct h8s_ws_event ev;
    struct rx r;
    uint8_t buf[200];
    (void)state;

    memset(buf, 'x', sizeof(buf));

    /* Credit (window 200): 100 + 16 and 68 + 16 use it exactly; even an
     * empty message more (it costs 16) is 1008. */
    agent_open(&t, 0);
    assert_int_equal(recv_chunk(&t, "binary", 1, 0, buf, 100, 1, &ev, &r), H8S_WS_EV_DATA);
    rx_free(&r);
    assert_int_equal(recv_chunk(&t, "binary", 2, 0, buf, 68, 1, &ev, &r), H8S_WS_EV_DATA);
    rx_free(&r);
    assert_int_equal(t.rx_cost, 200);
    assert_int_equal(recv_chunk(&t, "binary", 3, 0, buf, 0, 1, &ev, &r), H8S_WS_EV_FAIL);
    assert_int_equal(ev.code, WS_CLOSE_POLICY);
    rx_free(&r);
    assert_int_equal(t.rx_bytes, 168);
    /* A stream of empty messages is bounded by credit as well. */
    agent_open(&t, 0);
    for (uint64_t i = 1; i <= 200 / H8S_WS_MSG_COST; i++) {
        assert_int_equal(recv_chunk(&t, "text", i, 0, NULL, 0, 1, &ev, &r), H8S_WS_EV_DATA);
        rx_free(&r);
    }
    assert_int_equal(recv_chunk(&t, "text", 200 / H8S_WS_MSG_COST + 1, 0, NULL, 0, 1, &ev, &r),
                     H8S_WS_EV_FAIL);
    assert_int_equal(ev.code, WS_CLOSE_POLICY);
    rx_free(&r);

    /* Message size: 100 bytes in chunks is fine, 101 is 1009, whatever the
     * credit. */
    struct h8s_ws_config c = small_cfg();
    c.window = 1000;
    h8s_ws_tunnel_init(&t, &c, 0);
    assert_int_equal(h8s_ws_tunnel_start(&t, 0, 0), 0);
    assert_int_equal(recv_chunk(&t, "binary", 1, 1, buf, 60, 1, &ev, &r), H8S_WS_EV_DATA);
    rx_free(&r);
    assert_int_equal(recv_chunk(&t, "binary", 2, 0, buf, 40, 1, &ev, &r), H8S_WS_EV_DATA);
    rx_free(&r);
    assert_int_equal(recv_chunk(&t, "binary", 3, 1, buf, 100, 1, &ev, &r), H8S_WS_EV_DATA);
    rx_free(&r);
    assert_int_equal(recv_chunk(&t, "binary", 4, 0, buf, 1, 1, &ev, &r), H8S_WS_EV_FAIL);
    assert_int_equal(ev.code, WS_CLOSE_TOO_BIG);
    rx_free(&r);
    h8s_ws_tunnel_init(&t, &c, 0);
    assert_int_equal(h8s_ws_tunnel_start(&t, 0, 0), 0);
    assert_int_equal(recv_chunk(&t, "text", 1, 0, buf, 101, 1, &ev, &r), H8S_WS_EV_FAIL);
    assert_int_equal(ev.code, WS_CLOSE_TOO_BIG);
    rx_free(&r);

    /* UTF-8: invalid bytes, and a message ending inside a sequence. */
    agent_open(&t, 0);
    assert_int_equal(recv_chunk(&t, "text", 1, 1, "ok\xed", 3, 1, &ev, &r), H8S_WS_EV_DATA);
    rx_free(&r);
    assert_int_equal(recv_chunk(&t, "text", 2, 0, "\xa0\x80", 2, 1, &ev, &r), H8S_WS_EV_FAIL);
    assert_int_equal(ev.code, WS_CLOSE_INVALID_DATA);
    rx_free(&r);
    agent_open(&t, 0);
    assert_int_equal(recv_chunk(&t, "text", 1, 0, "\xe2\x9c", 2, 1, &ev, &r), H8S_WS_EV_FAIL);
    assert_int_equal(ev.code, WS_CLOSE_INVALID_DATA);
    rx_free(&r);
    /* Binary is never checked. */
    agent_open(&t, 0);
    assert_int_equal(recv_chunk(&t, "binary", 1, 0, "\xff\xfe", 2, 1, &ev, &r), H8S_WS_EV_DATA);
    rx_free(&r);
    /* UTF-8 state restarts with each message. */
    assert_int_equal(recv_chunk(&t, "text", 2, 0, "\xc3\xa9", 2, 1, &ev, &r), H8S_WS_EV_DATA);
    rx_free(&r);
}

static void test_sending(void **state)
{
    struct h8s_ws_tunnel t;
    struct h8s_ws_event ev;
    uint8_t hb[H8S_WS_HDR_MAX];
    struct span out;
    struct h8s_ws_msg m;
    (void)state;

    /* Credit 60: one message of up to 44 bytes (60 - H8S_WS_MSG_COST). */
    agent_open(&t, 60);
    assert_int_equal(h8s_ws_tunnel_send_room(&t), 44);
    assert_false(h8s_ws_tunnel_can_send(&t, 45));
    assert_int_equal(h8s_ws_tunnel_send_data(&t, H8S_WS_TEXT, 45, 1, 1, hb, sizeof(hb), &out),
                     H8S_WS_E_CREDIT);
    assert_int_equal(h8s_ws_tunnel_send_data(&t, H8S_WS_CLOSE, 1, 1, 1, hb, sizeof(hb), &out),
                     H8S_WS_E_ARG);
    assert_int_equal(h8s_ws_tunnel_send_data(&t, H8S_WS_TEXT, 4, 0, 5, hb, sizeof(hb), &out), 0);
    assert_int_equal(h8s_ws_decode(&m, out, span_make(NULL, 0)), 0);
    assert_true(m.kind == H8S_WS_TEXT && m.seq == 1 && m.more);
    assert_int_equal(t.last_tx_ms, 5);
    /* The message in progress keeps its type. */
    assert_int_equal(h8s_ws_tunnel_send_data(&t, H8S_WS_BINARY, 1, 1, 6, hb, sizeof(hb), &out),
                     H8S_WS_E_STATE);
    /* Encoder failure changes nothing. */
    assert_int_equal(h8s_ws_tunnel_send_data(&t, H8S_WS_TEXT, 1, 1, 6, hb, 10, &out),
                     H8S_WS_E_SPACE);
    assert_int_equal(t.tx_seq, 2);
    assert_int_equal(h8s_ws_tunnel_send_data(&t, H8S_WS_TEXT, 6, 1, 6, hb, sizeof(hb), &out), 0);
    assert_int_equal(h8s_ws_decode(&m, out, span_make(NULL, 0)), 0);
    assert_true(m.seq == 2 && !m.more);
    assert_int_equal(t.tx_msgs, 1);
    assert_int_equal(t.tx_cost, 4 + 6 + 2 * H8S_WS_MSG_COST);
    /* 18 left: an empty message fits (it costs 16), then nothing. */
    assert_int_equal(h8s_ws_tunnel_send_room(&t), 2);
    assert_int_equal(h8s_ws_tunnel_send_data(&t, H8S_WS_BINARY, 0, 1, 7, hb, sizeof(hb), &out), 0);
    assert_false(h8s_ws_tunnel_can_send(&t, 0));
    assert_int_equal(h8s_ws_tunnel_send_room(&t), 0);
    assert_int_equal(h8s_ws_tunnel_send_data(&t, H8S_WS_BINARY, 0, 1, 7, hb, sizeof(hb), &out),
                     H8S_WS_E_CREDIT);
    /* Credits: larger ones raise the room, smaller or equal ones do not. */
    assert_int_equal(recv_credit(&t, 80, 8, &ev), H8S_WS_EV_CREDIT);
    assert_int_equal(h8s_ws_tunnel_send_room(&t), 80 - 58 - H8S_WS_MSG_COST);
    assert_int_equal(recv_credit(&t, 70, 8, &ev), H8S_WS_EV_NONE);
    assert_int_equal(recv_credit(&t, 80, 8, &ev), H8S_WS_EV_NONE);
    assert_int_equal(h8s_ws_tunnel_send_room(&t), 6);

    /* After our close: no data, no second close, room 0. */
    assert_int_equal(
        h8s_ws_tunnel_send_close(&t, 1005, span_make(NULL, 0), 9, hb, sizeof(hb), &out),
        H8S_WS_E_ARG);
    assert_int_equal(h8s_ws_tunnel_send_close(&t, 0, SPAN_LIT("x"), 9, hb, sizeof(hb), &out),
                     H8S_WS_E_ARG);
    assert_int_equal(h8s_ws_tunnel_send_close(&t, 1000, SPAN_LIT("\xff"), 9, hb, sizeof(hb), &out),
                     H8S_WS_E_ARG);
    assert_int_equal(h8s_ws_tunnel_send_close(&t, 1000, SPAN_LIT("done"), 9, hb, sizeof(hb), &out),
                     0);
    assert_int_equal(h8s_ws_decode(&m, out, SPAN_LIT("done")), 0);
    assert_true(m.kind == H8S_WS_CLOSE && m.seq == 4 && m.close_code == 1000);
    assert_int_equal(h8s_ws_tunnel_send_room(&t), 0);
    assert_int_equal(h8s_ws_tunnel_send_data(&t, H8S_WS_TEXT, 0, 1, 9, hb, sizeof(hb), &out),
                     H8S_WS_E_STATE);
    assert_int_equal(
        h8s_ws_tunnel_send_close(&t, 1000, span_make(NULL, 0), 9, hb, sizeof(hb), &out),
        H8S_WS_E_STATE);
    assert_false(h8s_ws_tunnel_done(&t));
}

static void test_credit_grants(void **state)
{
    struct h8s_ws_tunnel t;
    struct h8s_ws_event ev;
    struct rx r;
    uint8_t hb[H8S_WS_HDR_MAX], buf[100];
    struct span out;
    struct h8s_ws_msg m;
    (void)state;

    memset(buf, 'y', sizeof(buf));
    agent_open(&t, 0); /* window 200, heartbeat 1000 */
    /* Nothing received: no grant due before the heartbeat. */
    assert_int_equal(h8s_ws_tunnel_credit(&t, 0, 0, 999, hb, sizeof(hb), &out), 0);
    /* Heartbeat: the same credit again. */
    assert_int_equal(h8s_ws_tunnel_credit(&t, 0, 0, 1000, hb, sizeof(hb), &out), 1);
    assert_int_equal(h8s_ws_decode(&m, out, span_make(NULL, 0)), 0);
    assert_true(m.kind == H8S_WS_CREDIT && m.credit == 200);
    assert_int_equal(h8s_ws_tunnel_deadline(&t), 2000); /* next heartbeat before dead (3000) */

    /* 19 bytes received (cost 35): the grant would grow by 35 < 100. */
    assert_int_equal(recv_chunk(&t, "binary", 1, 0, buf, 19, 1001, &ev, &r), H8S_WS_EV_DATA);
    rx_free(&r);
    assert_int_equal(h8s_ws_tunnel_credit(&t, 0, 0, 1001, hb, sizeof(hb), &out), 0);
    /* 49 more (cost 65): grown by 100 = half the window. */
    assert_int_equal(recv_chunk(&t, "binary", 2, 0, buf, 49, 1002, &ev, &r), H8S_WS_EV_DATA);
    rx_free(&r);
    /* The local queue is congested: nothing more is granted. */
    assert_int_equal(h8s_ws_tunnel_credit(&t, 1, 0, 1002, hb, sizeof(hb), &out), 0);
    /* It drained: granted. */
    assert_int_equal(h8s_ws_tunnel_credit(&t, 0, 0, 1002, hb, sizeof(hb), &out), 1);
    assert_int_equal(h8s_ws_decode(&m, out, span_make(NULL, 0)), 0);
    assert_int_equal(m.credit, 300);
    assert_int_equal(h8s_ws_tunnel_granted(&t), 300);
    /* Forced while congested: the same value, never smaller. */
    assert_int_equal(h8s_ws_tunnel_credit(&t, 1, 1, 1003, hb, sizeof(hb), &out), 1);
    assert_int_equal(h8s_ws_decode(&m, out, span_make(NULL, 0)), 0);
    assert_int_equal(m.credit, 300);
    /* A heartbeat while congested repeats it too. */
    assert_int_equal(h8s_ws_tunnel_credit(&t, 1, 0, 2003, hb, sizeof(hb), &out), 1);
    assert_int_equal(h8s_ws_decode(&m, out, span_make(NULL, 0)), 0);
    assert_int_equal(m.credit, 300);
    /* Encoder error surfaces. */
    assert_int_equal(h8s_ws_tunnel_credit(&t, 0, 1, 2003, hb, 8, &out), H8S_WS_E_SPACE);
    /* Memory bound: the peer may use exactly one window beyond what it had
     * when we last granted, never more. */
    assert_int_equal(recv_chunk(&t, "binary", 3, 0, buf, 100, 2004, &ev, &r), H8S_WS_EV_DATA);
    rx_free(&r);
    assert_int_equal(recv_chunk(&t, "binary", 4, 0, buf, 84 - H8S_WS_MSG_COST, 2004, &ev, &r),
                     H8S_WS_EV_DATA);
    rx_free(&r);
    assert_int_equal(t.rx_cost, 300);
    assert_int_equal(recv_chunk(&t, "binary", 5, 0, buf, 0, 2004, &ev, &r), H8S_WS_EV_FAIL);
    rx_free(&r);
    /* Failed: no credits any more. */
    assert_int_equal(h8s_ws_tunnel_credit(&t, 0, 1, 2005, hb, sizeof(hb), &out), 0);
}

static void test_close_peer_first(void **state)
{
    struct h8s_ws_tunnel t;
    struct h8s_ws_event ev;
    struct rx r;
    uint8_t hb[H8S_WS_HDR_MAX];
    struct span out;
    (void)state;

    agent_open(&t, 100);
    assert_int_equal(recv_chunk(&t, "text", 1, 1, "part", 4, 1, &ev, &r), H8S_WS_EV_DATA);
    rx_free(&r);
    /* The close may cut the message short. */
    assert_int_equal(recv_close(&t, 2, "4000", "bye \xe2\x9c\x93", 2, &ev, &r), H8S_WS_EV_CLOSE);
    assert_int_equal(ev.code, 4000);
    assert_true(span_eq(ev.data, SPAN_LIT("bye \xe2\x9c\x93")));
    rx_free(&r);
    /* Never delivers after the close; credits still count. */
    assert_int_equal(recv_chunk(&t, "text", 3, 0, "late", 4, 3, &ev, &r), H8S_WS_EV_NONE);
    rx_free(&r);
    assert_int_equal(recv_close(&t, 3, "1000", "", 3, &ev, &r), H8S_WS_EV_NONE);
    rx_free(&r);
    assert_int_equal(recv_credit(&t, 200, 4, &ev), H8S_WS_EV_CREDIT);
    /* We may still send until our own close (data towards the closer). */
    assert_int_equal(h8s_ws_tunnel_send_data(&t, H8S_WS_TEXT, 3, 1, 5, hb, sizeof(hb), &out), 0);
    assert_false(h8s_ws_tunnel_done(&t));
    assert_int_equal(h8s_ws_tunnel_send_close(&t, 4000, SPAN_LIT("bye"), 6, hb, sizeof(hb), &out),
                     0);
    assert_true(h8s_ws_tunnel_done(&t));
    assert_true(h8s_ws_tunnel_deadline(&t) == UINT64_MAX);
    assert_int_equal(recv_credit(&t, 300, 7, &ev), H8S_WS_EV_NONE);
}

static void test_close_local_first(void **state)
{
    struct h8s_ws_tunnel t;
    struct h8s_ws_event ev;
    struct rx r;
    uint8_t hb[H8S_WS_HDR_MAX];
    struct span out;
    (void)state;

    /* We close; data still comes until the answer, then the answer ends it. */
    agent_open(&t, 100);
    assert_int_equal(
        h8s_ws_tunnel_send_close(&t, 1001, SPAN_LIT("going"), 10, hb, sizeof(hb), &out), 0);
    /* The next heartbeat (10 + 1000) comes before the close wait's end. */
    assert_int_equal(h8s_ws_tunnel_deadline(&t), 10 + 1000);
    assert_int_equal(h8s_ws_tunnel_credit(&t, 0, 0, 1010, hb, sizeof(hb), &out), 1);
    assert_int_equal(h8s_ws_tunnel_deadline(&t), 10 + 2000);
    assert_int_equal(recv_chunk(&t, "binary", 1, 0, "d", 1, 11, &ev, &r), H8S_WS_EV_DATA);
    rx_free(&r);
    assert_int_equal(recv_close(&t, 2, "1001", "", 12, &ev, &r), H8S_WS_EV_CLOSE);
    assert_int_equal(ev.code, 1001);
    rx_free(&r);
    assert_true(h8s_ws_tunnel_done(&t));

    /* No answer: the close wait ends it. Heartbeats go on meanwhile. */
    agent_open(&t, 100);
    assert_int_equal(
        h8s_ws_tunnel_send_close(&t, 1000, span_make(NULL, 0), 10, hb, sizeof(hb), &out), 0);
    assert_int_equal(h8s_ws_tunnel_credit(&t, 0, 0, 1010, hb, sizeof(hb), &out), 1);
    assert_int_equal(recv_credit(&t, 100, 1500, &ev), H8S_WS_EV_NONE);
    assert_int_equal(h8s_ws_tunnel_tick(&t, 2009), H8S_WS_TICK_NONE);
    assert_int_equal(h8s_ws_tunnel_tick(&t, 2010), H8S_WS_TICK_CLOSED);
    assert_true(h8s_ws_tunnel_done(&t));
    assert_int_equal(h8s_ws_tunnel_tick(&t, 9999), H8S_WS_TICK_NONE);

    /* A violation after our close ends it at once. */
    agent_open(&t, 100);
    assert_int_equal(
        h8s_ws_tunnel_send_close(&t, 1000, span_make(NULL, 0), 10, hb, sizeof(hb), &out), 0);
    assert_int_equal(recv_chunk(&t, "binary", 5, 0, "d", 1, 11, &ev, &r), H8S_WS_EV_FAIL);
    rx_free(&r);
    assert_true(h8s_ws_tunnel_done(&t));

    /* A failure then our close: done without waiting. */
    agent_open(&t, 100);
    assert_int_equal(recv_chunk(&t, "binary", 2, 0, "d", 1, 11, &ev, &r), H8S_WS_EV_FAIL);
    rx_free(&r);
    assert_int_equal(h8s_ws_tunnel_send_room(&t), 0);
    assert_int_equal(
        h8s_ws_tunnel_send_close(&t, ev.code, span_make(NULL, 0), 12, hb, sizeof(hb), &out), 0);
    assert_true(h8s_ws_tunnel_done(&t));

    /* External failure (publish failed): same. */
    agent_open(&t, 100);
    h8s_ws_tunnel_fail(&t, WS_CLOSE_INTERNAL, "publish failed");
    h8s_ws_tunnel_fail(&t, WS_CLOSE_POLICY, "ignored: already failed");
    assert_int_equal(t.fail_code, WS_CLOSE_INTERNAL);
    assert_int_equal(
        h8s_ws_tunnel_send_close(&t, t.fail_code, span_make(NULL, 0), 12, hb, sizeof(hb), &out), 0);
    assert_true(h8s_ws_tunnel_done(&t));
    /* External failure after our close. */
    agent_open(&t, 100);
    assert_int_equal(
        h8s_ws_tunnel_send_close(&t, 1000, span_make(NULL, 0), 10, hb, sizeof(hb), &out), 0);
    h8s_ws_tunnel_fail(&t, WS_CLOSE_INTERNAL, "publish failed");
    assert_true(h8s_ws_tunnel_done(&t));
}

static void test_liveness(void **state)
{
    struct h8s_ws_tunnel t;
    struct h8s_ws_event ev;
    uint8_t hb[H8S_WS_HDR_MAX];
    struct span out;
    (void)state;

    agent_open(&t, 0); /* heartbeat 1000, dead 3000 */
    assert_int_equal(h8s_ws_tunnel_deadline(&t), 1000);
    assert_int_equal(h8s_ws_tunnel_tick(&t, 1000), H8S_WS_TICK_NONE);
    assert_int_equal(h8s_ws_tunnel_credit(&t, 0, 0, 1000, hb, sizeof(hb), &out), 1);
    assert_int_equal(h8s_ws_tunnel_deadline(&t), 2000);
    assert_int_equal(h8s_ws_tunnel_credit(&t, 0, 0, 2000, hb, sizeof(hb), &out), 1);
    assert_int_equal(h8s_ws_tunnel_deadline(&t), 3000); /* dead first now */
    /* A credit from the peer is a sign of life. */
    assert_int_equal(recv_credit(&t, 0, 2500, &ev), H8S_WS_EV_NONE);
    assert_int_equal(h8s_ws_tunnel_tick(&t, 3000), H8S_WS_TICK_NONE);
    assert_int_equal(h8s_ws_tunnel_deadline(&t), 3000);
    assert_int_equal(h8s_ws_tunnel_credit(&t, 0, 0, 3000, hb, sizeof(hb), &out), 1);
    assert_int_equal(h8s_ws_tunnel_deadline(&t), 4000);
    assert_int_equal(h8s_ws_tunnel_tick(&t, 5499), H8S_WS_TICK_NONE);
    assert_int_equal(h8s_ws_tunnel_tick(&t, 5500), H8S_WS_TICK_DEAD);
    assert_int_equal(t.fail_code, WS_CLOSE_INTERNAL);
    assert_true(h8s_ws_tunnel_deadline(&t) == UINT64_MAX);
    /* Dead: nothing is delivered, the close goes out and ends it. */
    assert_int_equal(recv_credit(&t, 50, 5501, &ev), H8S_WS_EV_NONE);
    assert_int_equal(
        h8s_ws_tunnel_send_close(&t, 1011, span_make(NULL, 0), 5501, hb, sizeof(hb), &out), 0);
    assert_true(h8s_ws_tunnel_done(&t));

    /* Waiting for the peer's close while it is silent: closed. */
    struct h8s_ws_config c = small_cfg();
    c.close_ms = 10000;
    h8s_ws_tunnel_init(&t, &c, 0);
    assert_int_equal(h8s_ws_tunnel_start(&t, 0, 0), 0);
    assert_int_equal(
        h8s_ws_tunnel_send_close(&t, 1000, span_make(NULL, 0), 0, hb, sizeof(hb), &out), 0);
    assert_int_equal(h8s_ws_tunnel_tick(&t, 2999), H8S_WS_TICK_NONE);
    assert_int_equal(h8s_ws_tunnel_tick(&t, 3000), H8S_WS_TICK_CLOSED);

    /* Window 0 is taken as 1; defaults are sane. */
    c.window = 0;
    h8s_ws_tunnel_init(&t, &c, 0);
    assert_int_equal(h8s_ws_tunnel_granted(&t), 1);
    h8s_ws_tunnel_init(&t, NULL, 0);
    assert_int_equal(h8s_ws_tunnel_granted(&t), H8S_WS_DEFAULT_WINDOW);
    assert_int_equal(t.cfg.max_message, H8S_WS_DEFAULT_MAX_MESSAGE);
}

/* ----------------------------------------------------------- pair test */

struct hop {
    struct h8s_ws_tunnel t;
    uint8_t *sent; /* payload sent so far, for checking the other side */
    size_t sent_n;
    uint8_t *got; /* payload received */
    size_t got_n;
    size_t msgs_got;
    int queued; /* pretend the local peer has not taken this much yet */
};

/*
 * Moves a stream of messages each way between a gateway-side and an
 * agent-side tunnel, all through encoded blocks, under a tight window:
 * senders stall on credit and resume on the grants, both sides see the
 * same bytes and message boundaries, and a close handshake ends both.
 */
static void test_pair_flow(void **state)
{
    struct h8s_ws_config c;
    struct hop gw, ag;
    struct h8s_ws_event ev;
    struct rx keep;
    uint8_t hb[H8S_WS_HDR_MAX], big[1024];
    struct nats_hdr_builder b;
    struct span out;
    uint64_t now = 1;
    (void)state;

    memset(&keep, 0, sizeof(keep));
    memset(&gw, 0, sizeof(gw));
    memset(&ag, 0, sizeof(ag));
    h8s_ws_config_defaults(&c);
    c.window = 128;
    c.max_message = 1000;
    gw.sent = malloc(100000), gw.got = malloc(100000);
    ag.sent = malloc(100000), ag.got = malloc(100000);
    assert_true(gw.sent && gw.got && ag.sent && ag.got);

    /* Open: gateway announces its window, the agent starts and accepts. */
    h8s_ws_tunnel_init(&gw.t, &c, now);
    nats_hdr_build_init(&b, big, sizeof(big), 0, span_make(NULL, 0));
    assert_int_equal(h8s_ws_add_open(&b, h8s_ws_tunnel_granted(&gw.t)), 0);
    assert_int_equal(nats_hdr_build_finish(&b, &out), 0);
    struct h8s_ws_msg open;
    assert_int_equal(h8s_ws_decode(&open, out, span_make(NULL, 0)), 0);
    h8s_ws_tunnel_init(&ag.t, &c, now);
    assert_int_equal(h8s_ws_tunnel_start(&ag.t, open.credit, now), 0);
    nats_hdr_build_init(&b, big, sizeof(big), 0, span_make(NULL, 0));
    assert_int_equal(h8s_ws_add_accept(&b, SPAN_LIT(AGENT_SUBJ), span_make(NULL, 0),
                                       h8s_ws_tunnel_granted(&ag.t)),
                     0);
    assert_int_equal(nats_hdr_build_finish(&b, &out), 0);
    assert_int_equal(deliver(&gw.t, out, NULL, 0, now, &ev, &keep), H8S_WS_EV_ACCEPTED);

    /* Each side sends 300 messages of 0..199 bytes in chunks of up to 50,
     * as credit allows; the other side takes what it gets and grants. */
    struct hop *hops[2] = {&gw, &ag};
    size_t next_msg[2] = {0, 0}, msg_off[2] = {0, 0};
    unsigned seed = 12345;
    for (int round = 0; round < 100000 && (next_msg[0] < 300 || next_msg[1] < 300); round++) {
        now++;
        for (int s = 0; s < 2; s++) {
            struct hop *tx = hops[s], *rxh = hops[1 - s];
            if (next_msg[s] >= 300)
                continue;
            size_t len = (next_msg[s] * 37 + (size_t)s * 11) % 200;
            size_t left = len - msg_off[s];
            size_t room = (size_t)h8s_ws_tunnel_send_room(&tx->t);
            size_t chunk = left < 50 ? left : 50;
            if (chunk > room)
                chunk = room;
            if ((chunk == 0 && left > 0) || !h8s_ws_tunnel_can_send(&tx->t, chunk))
                goto grant; /* stalled on credit */
            /* Every third message is text (ASCII), the others binary. */
            enum h8s_ws_kind kind = next_msg[s] % 3 ? H8S_WS_BINARY : H8S_WS_TEXT;
            uint8_t data[50];
            for (size_t i = 0; i < chunk; i++) {
                seed = seed * 1103515245u + 12345u;
                data[i] = kind == H8S_WS_TEXT ? (uint8_t)('a' + (seed >> 16) % 26)
                                              : (uint8_t)(seed >> 16);
            }
            int fin = chunk == left;
            assert_int_equal(
                h8s_ws_tunnel_send_data(&tx->t, kind, chunk, fin, now, hb, sizeof(hb), &out), 0);
            memcpy(tx->sent + tx->sent_n, data, chunk);
            tx->sent_n += chunk;
            assert_int_equal(deliver(&rxh->t, out, data, chunk, now, &ev, &keep), H8S_WS_EV_DATA);
            assert_int_equal(ev.first, msg_off[s] == 0);
            assert_int_equal(ev.fin, fin);
            assert_int_equal(ev.kind, kind);
            memcpy(rxh->got + rxh->got_n, ev.data.p, ev.data.n);
            rxh->got_n += ev.data.n;
            rxh->msgs_got += fin;
            msg_off[s] += chunk;
            if (fin) {
                next_msg[s]++;
                msg_off[s] = 0;
            }
        grant:
            /* The receiver's local queue is congested every third round. */
            if (h8s_ws_tunnel_credit(&rxh->t, round % 3 == 0, 0, now, hb, sizeof(hb), &out) == 1) {
                enum h8s_ws_event_type et = deliver(&tx->t, out, NULL, 0, now, &ev, &keep);
                assert_true(et == H8S_WS_EV_CREDIT || et == H8S_WS_EV_NONE);
            }
            /* Invariant: never more in flight than granted. */
            assert_true(tx->t.tx_cost <= rxh->t.rx_credit);
        }
    }
    assert_int_equal(next_msg[0], 300);
    assert_int_equal(next_msg[1], 300);
    for (int s = 0; s < 2; s++) {
        struct hop *tx = hops[s], *rxh = hops[1 - s];
        assert_int_equal(tx->sent_n, rxh->got_n);
        assert_memory_equal(tx->sent, rxh->got, tx->sent_n);
        assert_int_equal(rxh->msgs_got, 300);
        assert_int_equal(rxh->t.rx_msgs, 300);
        assert_int_equal(tx->t.tx_msgs, 300);
    }

    /* Close handshake: the gateway's client closes, the agent relays the
     * app's answer. */
    assert_int_equal(
        h8s_ws_tunnel_send_close(&gw.t, 4001, SPAN_LIT("client bye"), now, hb, sizeof(hb), &out),
        0);
    assert_int_equal(deliver(&ag.t, out, "client bye", 10, now, &ev, &keep), H8S_WS_EV_CLOSE);
    assert_int_equal(ev.code, 4001);
    assert_true(span_eq(ev.data, SPAN_LIT("client bye")));
    assert_int_equal(
        h8s_ws_tunnel_send_close(&ag.t, 4001, SPAN_LIT("app bye"), now, hb, sizeof(hb), &out), 0);
    assert_true(h8s_ws_tunnel_done(&ag.t));
    assert_int_equal(deliver(&gw.t, out, "app bye", 7, now, &ev, &keep), H8S_WS_EV_CLOSE);
    assert_true(h8s_ws_tunnel_done(&gw.t));

    rx_free(&keep);
    free(gw.sent), free(gw.got), free(ag.sent), free(ag.got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gateway_opening),
        cmocka_unit_test(test_data_in_order),
        cmocka_unit_test(test_sequence_violations),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_sending),
        cmocka_unit_test(test_credit_grants),
        cmocka_unit_test(test_close_peer_first),
        cmocka_unit_test(test_close_local_first),
        cmocka_unit_test(test_liveness),
        cmocka_unit_test(test_pair_flow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
