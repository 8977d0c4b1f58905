/*
 * proto/ws_frame.h — sans-I/O RFC 6455 frame codec.
 *
 * Parser. struct ws_frame_parser is caller-owned (embed it in the
 * connection), never allocates, and turns received bytes into events, one
 * per call, in the style of picohttpparser: the caller passes the bytes it
 * has, gets back how many were consumed and at most one event, and calls
 * again with the rest until the event is WS_EV_NONE.
 *
 *   WS_EV_FRAME        a data frame header: message opcode, whether the frame
 *                      starts a message, FIN, payload length. Lengths are
 *                      checked against the maximum message size here, before
 *                      any payload byte is accepted.
 *   WS_EV_DATA         a chunk of that frame's payload, already unmasked.
 *   WS_EV_MESSAGE_END  the message's final frame is complete (for text: its
 *                      UTF-8 is complete and valid).
 *   WS_EV_PING/PONG    a whole control frame; payload (<= 125 bytes).
 *   WS_EV_CLOSE        a whole Close frame: code (0 when absent) and reason.
 *   WS_EV_ERROR        the stream violates RFC 6455; the event carries the
 *                      close code to send (1002, 1007 or 1009) and a reason.
 *
 * Control frames may interleave with the fragments of a message; their
 * payload can straddle calls, so it is assembled in a 125-byte buffer inside
 * the parser. Data payload is never buffered: it is handed out as it comes.
 *
 * Unmasking. Two entry points, one engine:
 *   ws_frame_parser_feed       unmasks in place: the input buffer must be
 *                              writable and payload spans point into it.
 *                              No copy at all.
 *   ws_frame_parser_feed_copy  leaves the input untouched and unmasks (or, for
 *                              unmasked frames, copies) payload into a
 *                              caller-provided buffer, e.g. the tail of the
 *                              message being assembled, so a read-only receive
 *                              buffer costs exactly one pass.
 * In both, a text payload is validated as UTF-8 after unmasking, across
 * chunks and fragments (RFC 6455 §8.1 fail fast -> 1007).
 *
 * Errors are sticky: after WS_EV_ERROR every call returns WS_EV_ERROR again
 * and consumes nothing. The parser is correct for input split at any byte.
 *
 * The receive loop, for each batch of bytes p[0..n):
 *
 *     for (;;) {
 *         size_t used = ws_frame_parser_feed(&conn->ws, p, n, &ev);
 *         p += used;
 *         n -= used;
 *         if (ev.type == WS_EV_NONE)
 *             break;                  (all consumed: wait for more bytes)
 *         if (ev.type == WS_EV_ERROR)
 *             ...send Close(ev.code, ev.data), tear down, stop
 *         ...handle FRAME / DATA / MESSAGE_END / PING / PONG / CLOSE
 *     }
 *
 * Encoder: frame headers, client payload masking, Close payloads and close
 * code validation. No I/O here either.
 */
#ifndef H8S_PROTO_WS_FRAME_H
#define H8S_PROTO_WS_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "proto/span.h"
#include "proto/ws_utf8.h"

/* Opcodes (RFC 6455 §5.2). */
#define WS_OP_CONT 0x0
#define WS_OP_TEXT 0x1
#define WS_OP_BINARY 0x2
#define WS_OP_CLOSE 0x8
#define WS_OP_PING 0x9
#define WS_OP_PONG 0xA

/* Close codes (RFC 6455 §7.4.1). 1005 and 1006 are never sent. */
#define WS_CLOSE_NORMAL 1000
#define WS_CLOSE_GOING_AWAY 1001
#define WS_CLOSE_PROTOCOL_ERROR 1002
#define WS_CLOSE_UNSUPPORTED 1003
#define WS_CLOSE_NO_STATUS 1005
#define WS_CLOSE_ABNORMAL 1006
#define WS_CLOSE_INVALID_DATA 1007
#define WS_CLOSE_POLICY 1008
#define WS_CLOSE_TOO_BIG 1009
#define WS_CLOSE_EXTENSION 1010
#define WS_CLOSE_INTERNAL 1011

#define WS_FRAME_HEADER_MAX 14                        /* 2 + 8 (64-bit length) + 4 (mask key) */
#define WS_FRAME_CONTROL_MAX 125                      /* control frame payload limit */
#define WS_FRAME_CLOSE_REASON_MAX 123                 /* control limit minus the 2-byte code */
#define WS_FRAME_LEN_MAX UINT64_C(0x7FFFFFFFFFFFFFFF) /* 64-bit form, MSB clear */

/* Which side this endpoint is. A server receives masked frames only, a
 * client unmasked frames only (RFC 6455 §5.1). */
enum ws_frame_role {
    WS_FRAME_SERVER = 0,
    WS_FRAME_CLIENT = 1,
};

enum ws_event_type {
    WS_EV_NONE = 0,
    WS_EV_FRAME,
    WS_EV_DATA,
    WS_EV_MESSAGE_END,
    WS_EV_PING,
    WS_EV_PONG,
    WS_EV_CLOSE,
    WS_EV_ERROR,
};

struct ws_frame_event {
    enum ws_event_type type;
    /* FRAME, DATA, MESSAGE_END: the message's opcode (WS_OP_TEXT or
     * WS_OP_BINARY, also for continuation frames). PING, PONG, CLOSE: the
     * frame's opcode. */
    uint8_t opcode;
    uint8_t first; /* FRAME: this frame starts a message (not a continuation) */
    uint8_t fin;   /* FRAME: this is the message's final frame */
    /* FRAME: this frame's payload length. MESSAGE_END: the message's total
     * payload length (never above the parser's maximum). */
    uint64_t length;
    /*
     * DATA: the unmasked chunk (inside the caller's buffer, see the feed
     * functions). PING, PONG: the payload; CLOSE: the reason (valid UTF-8);
     * both inside the parser, valid until the next call on it. ERROR: a
     * static, human-readable ASCII reason (<= 123 bytes, usable as the close
     * reason). Otherwise empty.
     */
    struct span data;
    /* CLOSE: the received code, or 0 when the frame had no payload (the
     * peer gave no status; reply with an empty Close or 1000). ERROR: the
     * close code to send. */
    uint16_t code;
};

/* Parser state; fields are private, the struct is public for embedding. */
struct ws_frame_parser {
    uint64_t max_message; /* limit on a message's total payload */
    uint64_t msg_len;     /* announced payload of the message so far */
    uint64_t left;        /* payload bytes still to come in this frame */
    uint8_t role;
    uint8_t state;
    uint8_t msg_op; /* opcode of the message in progress, 0 if none */
    uint8_t op;     /* opcode of the current frame */
    uint8_t fin;
    uint8_t masked;
    uint8_t mask_off; /* position in the mask key, 0..3 */
    uint8_t hdr_len;  /* header bytes collected */
    uint8_t hdr_need; /* header bytes needed (2 until the second byte) */
    uint8_t ctl_len;
    uint8_t mask[4];
    uint8_t hdr[WS_FRAME_HEADER_MAX];
    uint8_t ctl[WS_FRAME_CONTROL_MAX];
    uint16_t err_code;
    const char *err_reason;
    struct ws_utf8 utf8; /* text message validation across frames */
};

/*
 * Prepares p for a new connection. max_message bounds the total payload of
 * one data message (sum of its fragments); a frame header that would exceed
 * it is rejected with 1009 before any of its payload is read. 0 allows only
 * empty messages. Control frames are not counted.
 */
void ws_frame_parser_init(struct ws_frame_parser *p, enum ws_frame_role role, uint64_t max_message);

/*
 * Parses buf[0..n), unmasking payload in place (buf MUST be writable;
 * header bytes are never modified). Fills *ev with at most one event and
 * returns the number of bytes consumed; the caller advances by that count
 * and calls again, also with n == 0, until ev->type is WS_EV_NONE, which
 * means every byte was consumed and more input is needed. A DATA span lies
 * inside buf[0..n) and stays valid as long as buf does.
 *
 * After WS_EV_ERROR the parser is dead: every later call returns WS_EV_ERROR
 * with the same code and consumes 0 bytes. After WS_EV_CLOSE the stream is
 * over (RFC 6455 §5.5.1); later bytes are consumed and discarded, with
 * WS_EV_NONE.
 */
size_t ws_frame_parser_feed(struct ws_frame_parser *p, uint8_t *buf, size_t n,
                            struct ws_frame_event *ev);

/*
 * Same as ws_frame_parser_feed but in[0..n) is only read: each DATA chunk is
 * written (unmasked) to out[0..k) with k <= outcap and the span points at
 * out. out must not overlap in. When payload is pending and outcap is 0 the
 * call returns WS_EV_NONE with fewer than n bytes consumed: make room in
 * out, then call again with the remaining input.
 */
size_t ws_frame_parser_feed_copy(struct ws_frame_parser *p, const uint8_t *in, size_t n,
                                 uint8_t *out, size_t outcap, struct ws_frame_event *ev);

/*
 * Returns the close code of the parser's error (1002, 1007 or 1009) and sets
 * *reason (if not NULL) to its static text, or returns 0 when there is none.
 */
unsigned ws_frame_parser_error(const struct ws_frame_parser *p, const char **reason);

/*
 * Writes a frame header into out (at least WS_FRAME_HEADER_MAX bytes) and
 * returns its size (2 to 14). The shortest length form is always used.
 * mask_key is NULL for an unmasked frame (server to client) or the 4-byte
 * key a client frame is masked with; the payload itself is masked with
 * ws_frame_mask. Returns 0, writing nothing, when the frame would be
 * invalid: an unknown opcode, a control frame longer than 125 bytes or
 * without FIN, or len above WS_FRAME_LEN_MAX.
 */
size_t ws_frame_header_encode(uint8_t *out, unsigned opcode, int fin, uint64_t len,
                              const uint8_t *mask_key);

/*
 * XORs src[0..n) with the 4-byte mask key into dst, starting at position
 * offset of the key (the payload offset, only offset % 4 matters), and
 * returns the key position after the last byte ((offset + n) % 4), so a
 * payload can be masked in pieces. dst == src (in place) is allowed, any
 * other overlap is not. Works for any alignment of dst and src. Masking and
 * unmasking are the same operation.
 */
size_t ws_frame_mask(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t *key, size_t offset);

/*
 * Builds a Close frame payload into out (at least WS_FRAME_CONTROL_MAX
 * bytes): the 2-byte code then the reason. code 0 means "no status": an
 * empty payload, and reason_len must then be 0. Returns the payload length
 * (0 to 125), or WS_FRAME_ERR_CODE when code is neither 0 nor valid on the
 * wire (ws_frame_close_code_valid), or WS_FRAME_ERR_REASON when the reason
 * is longer than WS_FRAME_CLOSE_REASON_MAX bytes or not valid UTF-8.
 */
int ws_frame_close_payload(uint8_t *out, unsigned code, const uint8_t *reason, size_t reason_len);

#define WS_FRAME_ERR_CODE (-1)
#define WS_FRAME_ERR_REASON (-2)

/*
 * 1 when code may appear in a Close frame (RFC 6455 §7.4): 1000-1003,
 * 1007-1011, 1012-1014 (registered with IANA since the RFC: service
 * restart, try again later, bad gateway — a restarting app sends them) and
 * the registered/private range 3000-4999. 1004-1006, 1015, everything
 * below 1000 and the rest of 1000-2999 are not. Else 0.
 */
int ws_frame_close_code_valid(unsigned code);

#endif
