/*
 * fuzz/ws_frame_harness.h — the body shared by fuzz_ws_frame_server.c and
 * fuzz_ws_frame_client.c (proto/ws_frame.c), one role each.
 *
 * Input: byte 0 picks the unmasking mode (in place, copy into a tiny or a
 * large buffer) and the message limit; byte 1 seeds the split of the rest
 * into deliveries. Invariants: spans stay inside the buffers, a message
 * never carries more than the limit, a completed text message is valid
 * UTF-8, close codes and reasons are valid, control payloads <= 125 bytes,
 * the copying mode never writes its input, errors are sticky.
 */
#ifndef H8S_FUZZ_WS_FRAME_HARNESS_H
#define H8S_FUZZ_WS_FRAME_HARNESS_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/ws_frame.h"

#define CHECK(c) ((c) ? (void)0 : abort())

static int ws_frame_harness(const uint8_t *data, size_t size, enum ws_frame_role role)
{
    static const uint64_t limits[8] = {0, 1, 125, 126, 65535, 65536, 1u << 20, UINT64_MAX};
    struct ws_frame_parser p;
    uint8_t out[4096], *buf, *msg;
    uint64_t max, announced = 0;
    size_t off = 0, msg_len = 0, outcap;
    unsigned mode, rng, msg_op = 0;
    uint8_t ctl[WS_FRAME_CONTROL_MAX];
    int closed = 0;

    if (size < 2)
        return 0;
    mode = data[0] & 3;
    max = limits[(data[0] >> 2) & 7];
    rng = data[1] | 1u;
    outcap = mode == 1 ? 1 + (data[1] & 7) : sizeof(out);
    data += 2;
    size -= 2;
    buf = malloc(size ? size : 1);
    msg = malloc(size ? size : 1);
    CHECK(buf && msg);
    memcpy(buf, data, size);
    ws_frame_parser_init(&p, role, max);

    while (off < size) {
        size_t end;
        rng = rng * 1103515245u + 12345u;
        end = off + 1 + ((rng >> 16) % ((rng & 0x100) ? 4096 : 9));
        if (end > size)
            end = size;
        for (;;) {
            struct ws_frame_event ev;
            size_t used;
            if (mode == 0 || mode == 3)
                used = ws_frame_parser_feed(&p, buf + off, end - off, &ev);
            else
                used = ws_frame_parser_feed_copy(&p, buf + off, end - off, out, outcap, &ev);
            CHECK(used <= end - off);
            if (ev.type == WS_EV_DATA) {
                if (mode == 0 || mode == 3)
                    CHECK(ev.data.p == buf + off && ev.data.n == used);
                else
                    CHECK(ev.data.p == out && ev.data.n <= outcap && ev.data.n <= used);
            }
            off += used;
            if (ev.type == WS_EV_NONE) {
                CHECK(off == end);
                break;
            }
            CHECK(!closed);
            /* Every span is read below (memcpy, UTF-8 checks, memchr), so
             * ASan sees any that points outside live memory. */
            switch (ev.type) {
            case WS_EV_FRAME:
                CHECK(ev.opcode == WS_OP_TEXT || ev.opcode == WS_OP_BINARY);
                if (ev.first) {
                    CHECK(msg_op == 0);
                    announced = 0;
                    msg_len = 0;
                    msg_op = ev.opcode;
                }
                CHECK(ev.opcode == msg_op);
                announced += ev.length;
                CHECK(announced <= max);
                break;
            case WS_EV_DATA:
                CHECK(msg_len + ev.data.n <= announced);
                memcpy(msg + msg_len, ev.data.p, ev.data.n);
                msg_len += ev.data.n;
                break;
            case WS_EV_MESSAGE_END:
                CHECK(ev.opcode == msg_op && ev.length == msg_len && msg_len == announced);
                if (msg_op == WS_OP_TEXT)
                    CHECK(ws_utf8_valid(msg, msg_len));
                msg_op = 0;
                break;
            case WS_EV_PING:
            case WS_EV_PONG:
                CHECK(ev.data.n <= WS_FRAME_CONTROL_MAX);
                memcpy(ctl, ev.data.p, ev.data.n);
                break;
            case WS_EV_CLOSE:
                CHECK(ev.code == 0 ? ev.data.n == 0 : ws_frame_close_code_valid(ev.code));
                CHECK(ev.data.n <= WS_FRAME_CLOSE_REASON_MAX &&
                      ws_utf8_valid(ev.data.p, ev.data.n));
                closed = 1;
                break;
            case WS_EV_ERROR: {
                struct ws_frame_event again;
                const char *reason = NULL;
                CHECK(ev.code == WS_CLOSE_PROTOCOL_ERROR || ev.code == WS_CLOSE_INVALID_DATA ||
                      ev.code == WS_CLOSE_TOO_BIG);
                CHECK(ev.data.n > 0 && ev.data.n <= WS_FRAME_CLOSE_REASON_MAX);
                CHECK(memchr(ev.data.p, 0, ev.data.n) == NULL);
                CHECK(ws_frame_parser_error(&p, &reason) == ev.code && reason);
                CHECK(ws_frame_parser_feed(&p, buf, size, &again) == 0);
                CHECK(again.type == WS_EV_ERROR && again.code == ev.code);
                goto done;
            }
            default:
                CHECK(0);
            }
        }
    }
done:
    /* The copying entry point never writes its input. */
    if (mode == 1 || mode == 2)
        CHECK(memcmp(buf, data, size) == 0);
    free(buf);
    free(msg);
    return 0;
}

#endif
