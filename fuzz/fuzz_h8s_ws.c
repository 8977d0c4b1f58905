/*
 * fuzz/fuzz_h8s_ws.c — proto/h8s_ws.c (decode, encoders, header filters)
 * and proto/h8s_ws_tunnel.c (the state machine), driven by a script.
 *
 * Byte 0 picks the side (a gateway waiting for the accept, or a started
 * agent) and the limits; the rest is a list of operations: raw header
 * blocks with data (decoded, filtered, received), well-formed chunks,
 * credits and closes with fuzzed fields, sends, credit grants and clock
 * ticks. Invariants: nothing is delivered after the peer's close, a failure
 * or the end; delivered bytes add up to rx_bytes, the credit used never
 * exceeds the credit granted (either way); a delivered text message is UTF-8;
 * spans stay inside the message; every block the tunnel writes decodes
 * back to what was asked; no filter lets an internal or handshake header
 * through. (proto/h8s_ws_relay.c hands every message it receives to these
 * same two entry points, h8s_ws_decode and h8s_ws_tunnel_recv; its own
 * part, NATS and timers, is tested in tests/test_h8s_ws_relay.c.)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/h8s_ws.h"
#include "proto/h8s_ws_tunnel.h"
#include "proto/ws_frame.h"

#define CHECK(c) ((c) ? (void)0 : abort())
#define MSG_MAX 512

struct fz {
    const uint8_t *p;
    size_t n;
};

static unsigned take(struct fz *f)
{
    if (f->n == 0)
        return 0;
    f->n--;
    return *f->p++;
}

static int prefix(struct span s, const char *pre)
{
    return span_eq_nocase(span_make(s.p, s.n < strlen(pre) ? s.n : strlen(pre)), span_cstr(pre)) &&
           s.n >= strlen(pre);
}

static void check_filters(struct span hdr)
{
    struct nats_hdr h;
    struct nats_hdr_iter it;
    struct span k, v;

    if (nats_hdr_parse(&h, hdr) != 0)
        return;
    nats_hdr_iter_init(&it, &h);
    while (nats_hdr_next(&it, &k, &v)) {
        int internal = prefix(k, "X-H8s-"), ws = prefix(k, "Sec-Websocket-");
        if (h8s_ws_open_forwards(k))
            CHECK(!internal && !span_eq_nocase(k, SPAN_LIT("Sec-Websocket-Key")));
        if (h8s_ws_backend_forwards(k) || h8s_ws_accept_forwards(k))
            CHECK(!internal && !ws && !span_eq_nocase(k, SPAN_LIT("Upgrade")));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint16_t codes[] = {0, 1000, 1001, 1002, 1005, 1011, 3000, 4999, 5000};
    struct fz f = {data, size};
    struct h8s_ws_config cfg;
    struct h8s_ws_tunnel t;
    uint8_t hb[H8S_WS_HDR_MAX], msg[MSG_MAX];
    uint64_t now = 0, delivered = 0;
    size_t msg_len = 0;
    int ended = 0; /* the peer closed, or the tunnel failed or ended */

    unsigned mode = take(&f);
    h8s_ws_config_defaults(&cfg);
    cfg.max_message = 1 + (mode >> 4) * 31; /* at most 466 < MSG_MAX */
    cfg.window = 1 + ((mode >> 1) & 7) * 40;
    cfg.heartbeat_ms = 100;
    cfg.dead_ms = 300;
    cfg.close_ms = 200;
    h8s_ws_tunnel_init(&t, &cfg, now);
    if (mode & 1)
        CHECK(h8s_ws_tunnel_start(&t, take(&f), now) == 0);

    while (f.n > 0) {
        unsigned op = take(&f), a = take(&f), b = take(&f);
        struct h8s_ws_msg m;
        struct h8s_ws_event ev;
        struct span out;
        uint8_t *buf = NULL;
        size_t hl = 0, dl = 0;
        int rc, have = 0;

        switch (op & 7) {
        case 0: /* a raw block and data */
            hl = a < f.n ? a : f.n;
            dl = b < f.n - hl ? b : f.n - hl;
            buf = malloc(hl + dl + 1);
            CHECK(buf != NULL);
            memcpy(buf, f.p, hl + dl);
            f.p += hl + dl;
            f.n -= hl + dl;
            check_filters(span_make(buf, hl));
            have = h8s_ws_decode(&m, span_make(buf, hl), span_make(buf + hl, dl)) == 0;
            break;
        case 1: /* a well-formed chunk; seq mostly right */
            dl = b < f.n ? b : f.n;
            buf = malloc(H8S_WS_HDR_MAX + dl + 1);
            CHECK(buf != NULL);
            memcpy(buf + H8S_WS_HDR_MAX, f.p, dl);
            f.p += dl;
            f.n -= dl;
            if (h8s_ws_encode_data(buf, H8S_WS_HDR_MAX, &out, (a & 1) ? H8S_WS_TEXT : H8S_WS_BINARY,
                                   t.rx_seq + ((a & 0x30) == 0x30 ? (a >> 6) : 0) - ((a >> 3) & 1),
                                   (a >> 1) & 1) == 0)
                have = h8s_ws_decode(&m, out, span_make(buf + H8S_WS_HDR_MAX, dl)) == 0;
            break;
        case 2: /* a credit from the peer */
            if (h8s_ws_encode_credit(hb, sizeof(hb), &out, t.tx_credit + a - 8) == 0)
                have = h8s_ws_decode(&m, out, span_make(NULL, 0)) == 0;
            break;
        case 3: /* a close from the peer */
            /* seq 0 (when a & 2): an abort, valid only with a code. */
            if (h8s_ws_encode_close(hb, sizeof(hb), &out, (a & 2) ? 0 : t.rx_seq + (a & 1),
                                    codes[b % (sizeof(codes) / sizeof(codes[0]))]) == 0)
                have = h8s_ws_decode(&m, out, span_make(NULL, 0)) == 0;
            break;
        case 4: { /* send a chunk */
            int fits = h8s_ws_tunnel_can_send(&t, b);
            uint64_t seq = t.tx_seq;
            enum h8s_ws_kind k = (a & 1) ? H8S_WS_TEXT : H8S_WS_BINARY;
            rc = h8s_ws_tunnel_send_data(&t, k, b, (a >> 1) & 1, now, hb, sizeof(hb), &out);
            if (!fits)
                CHECK(rc != 0 && t.tx_seq == seq);
            if (rc == 0) {
                CHECK(h8s_ws_decode(&m, out, span_make(NULL, 0)) == 0);
                CHECK(m.kind == k && m.seq == seq && m.more == !((a >> 1) & 1));
            }
            CHECK(t.tx_cost <= t.tx_credit && t.tx_bytes <= t.tx_cost);
            break;
        }
        case 5: { /* send our close */
            unsigned code = codes[b % (sizeof(codes) / sizeof(codes[0]))];
            uint64_t seq = t.tx_seq;
            rc = h8s_ws_tunnel_send_close(&t, code, span_make(NULL, 0), now, hb, sizeof(hb), &out);
            if (rc == 0) {
                CHECK(h8s_ws_decode(&m, out, span_make(NULL, 0)) == 0);
                CHECK(m.kind == H8S_WS_CLOSE && m.seq == seq && m.close_code == code);
                CHECK(h8s_ws_tunnel_send_room(&t) == 0);
            }
            break;
        }
        case 6: /* grant credit */
            rc = h8s_ws_tunnel_credit(&t, a & 1, b & 1, now, hb, sizeof(hb), &out);
            CHECK(rc == 0 || rc == 1);
            if (rc == 1) {
                CHECK(h8s_ws_decode(&m, out, span_make(NULL, 0)) == 0);
                CHECK(m.kind == H8S_WS_CREDIT && m.credit == h8s_ws_tunnel_granted(&t));
            }
            break;
        default: /* time passes */
            now += (uint64_t)a * 4;
            if (h8s_ws_tunnel_deadline(&t) <= now || (b & 1)) {
                rc = h8s_ws_tunnel_tick(&t, now);
                if (rc != H8S_WS_TICK_NONE)
                    ended = 1;
            }
            break;
        }

        if (have && (op & 7) < 4) {
            enum h8s_ws_event_type type = h8s_ws_tunnel_recv(&t, &m, now, &ev);
            if (type == H8S_WS_EV_DATA) {
                CHECK(!ended && t.state == H8S_WS_ST_OPEN);
                CHECK(ev.data.n == m.data.n && ev.data.p == m.data.p);
                if (ev.first)
                    msg_len = 0;
                CHECK(msg_len + ev.data.n <= cfg.max_message);
                if (ev.data.n)
                    memcpy(msg + msg_len, ev.data.p, ev.data.n);
                msg_len += ev.data.n;
                delivered += ev.data.n;
                if (ev.fin && ev.kind == H8S_WS_TEXT)
                    CHECK(ws_utf8_valid(msg, msg_len));
            } else if (type == H8S_WS_EV_CLOSE) {
                CHECK(!ended);
                CHECK(ev.code == 0 || ws_frame_close_code_valid(ev.code));
                ended = 1;
            } else if (type == H8S_WS_EV_FAIL) {
                CHECK(ws_frame_close_code_valid(ev.code) && ev.reason != NULL);
                CHECK(m.kind == H8S_WS_CLOSE || (ev.code >= 1007 && ev.code <= 1011));
                CHECK(strlen(ev.reason) <= WS_FRAME_CLOSE_REASON_MAX);
                ended = 1;
            } else if (type == H8S_WS_EV_REFUSED) {
                ended = 1;
            }
        }
        free(buf);
        if (t.fail_code || h8s_ws_tunnel_done(&t))
            ended = 1;
        CHECK(delivered == t.rx_bytes && t.rx_cost <= t.rx_credit);
    }
    return 0;
}
