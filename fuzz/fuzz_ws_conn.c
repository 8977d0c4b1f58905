/*
 * fuzz/fuzz_ws_conn.c — proto/ws_conn.c, the WebSocket endpoint both
 * daemons' socket modules share, fed arbitrary bytes from the peer.
 *
 * Byte 0: role, stage size, how much of each chunk the owner takes (all,
 * or a little, parking its input as a paused socket would); byte 1 seeds
 * the split of the rest into reads; some reads are followed by a message
 * or a Close sent by us. Invariants: chunks never exceed the stage, start
 * and end messages consistently, stay within max_message, and complete
 * text messages are UTF-8; nothing arrives after the peer's Close or an
 * error; the backlog never overflows; and everything we wrote (pongs,
 * Close frames, messages) parses cleanly in the peer's role.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/rand.h"
#include "proto/ws_conn.h"

#define CHECK(c) ((c) ? (void)0 : abort())
#define MAX_MESSAGE 2048

struct out {
    uint8_t buf[1 << 16];
    size_t len;
};

static uint8_t *out_reserve(void *cookie, size_t n)
{
    struct out *o = cookie;
    return n <= sizeof(o->buf) - o->len ? o->buf + o->len : NULL;
}

static void out_commit(void *cookie, size_t used)
{
    ((struct out *)cookie)->len += used;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct ws_conn_sink sink = {out_reserve, out_commit};
    static const size_t stages[4] = {1, 5, 64, 4096};
    static struct out out;
    static uint8_t stage[4096], backlog[8192], msg[MAX_MESSAGE];
    struct ws_conn_config cfg;
    struct rand_pool rp;
    struct ws_conn c;
    size_t off = 0, msg_len = 0, step;
    unsigned rng, msg_op = 0;
    int over = 0;

    if (size < 2)
        return 0;
    out.len = 0;
    rand_pool_init(&rp);
    memset(&cfg, 0, sizeof(cfg));
    cfg.role = (data[0] & 1) ? WS_FRAME_CLIENT : WS_FRAME_SERVER;
    cfg.stage_cap = stages[(data[0] >> 1) & 3];
    step = (data[0] >> 3) & 7; /* 0: take whole chunks */
    cfg.max_message = MAX_MESSAGE;
    cfg.frame_max = 200;
    cfg.ping_interval_ms = 10;
    cfg.close_ms = 10;
    cfg.stage = stage;
    cfg.backlog = backlog;
    cfg.backlog_cap = sizeof(backlog);
    cfg.rand = &rp;
    cfg.sink = &sink;
    cfg.sink_cookie = &out;
    CHECK(ws_conn_init(&c, &cfg, 0) == 0);
    rng = data[1] | 1u;
    data += 2;
    size -= 2;

    while (off < size) {
        size_t n;
        rng = rng * 1103515245u + 12345u;
        n = 1 + (rng >> 16) % ((rng & 0x100) ? 4096 : 9);
        if (n > size - off)
            n = size - off;
        /* A private, exact-size copy per read: ASan sees any over-read. */
        uint8_t *piece = malloc(n);
        CHECK(piece != NULL);
        memcpy(piece, data + off, n);
        const uint8_t *p = piece;
        size_t left = n;
        for (;;) {
            struct ws_conn_event ev;
            size_t used = ws_conn_feed(&c, p, left, off, &ev);
            CHECK(used <= left);
            p += used;
            left -= used;
            if (ev.type == WS_CONN_EV_NONE) {
                CHECK(left == 0 && !ws_conn_blocked(&c));
                break;
            }
            CHECK(!over);
            if (ev.type == WS_CONN_EV_MESSAGE) {
                size_t k = step && step < ev.data.n ? step : ev.data.n;
                CHECK(ev.data.n <= cfg.stage_cap);
                CHECK(ev.opcode == WS_OP_TEXT || ev.opcode == WS_OP_BINARY);
                if (ev.first) {
                    CHECK(msg_op == 0);
                    msg_op = ev.opcode;
                    msg_len = 0;
                }
                CHECK(ev.opcode == msg_op && msg_len + k <= MAX_MESSAGE);
                memcpy(msg + msg_len, ev.data.p, k);
                msg_len += k;
                ws_conn_take(&c, k);
                if (k < ev.data.n) {
                    CHECK(ws_conn_hold(&c, p, left) == 0);
                    left = 0;
                } else if (ev.fin) {
                    if (msg_op == WS_OP_TEXT)
                        CHECK(ws_utf8_valid(msg, msg_len));
                    msg_op = 0;
                }
            } else {
                CHECK(ev.data.n <= WS_FRAME_CLOSE_REASON_MAX);
                CHECK(ws_utf8_valid(ev.data.p, ev.data.n));
                if (ev.type == WS_CONN_EV_ERROR)
                    CHECK(ev.code == 1002 || ev.code == 1007 || ev.code == 1009);
                else
                    CHECK(ev.code == 0 || ws_frame_close_code_valid(ev.code));
                over = 1;
            }
        }
        free(piece);
        off += n;
        /* Now and then we send something, or tick the clock. */
        if ((rng & 0x7000) == 0x1000)
            (void)ws_conn_send(&c, WS_OP_BINARY, data, n < 300 ? n : 300, rng & 1);
        else if ((rng & 0x7000) == 0x2000)
            (void)ws_conn_close(&c, 4000, SPAN_LIT("fuzz"), off);
        else if ((rng & 0x7000) == 0x3000)
            (void)ws_conn_tick(&c, off);
    }

    /* What we wrote is a valid stream in the peer's role. */
    struct ws_frame_parser pp;
    size_t o = 0;
    ws_frame_parser_init(&pp, cfg.role == WS_FRAME_SERVER ? WS_FRAME_CLIENT : WS_FRAME_SERVER,
                         UINT64_MAX >> 1);
    for (;;) {
        struct ws_frame_event ev;
        o += ws_frame_parser_feed(&pp, out.buf + o, out.len - o, &ev);
        CHECK(ev.type != WS_EV_ERROR);
        if (ev.type == WS_EV_NONE)
            break;
    }
    CHECK(o == out.len);
    return 0;
}
