/*
 * proto/ws_conn.h — one end of an open WebSocket connection, sans I/O:
 * the part the gateway's client sessions and the agent's app connections
 * share, on top of the frame codec (proto/ws_frame.h).
 *
 * What it does:
 *   - Receiving: turns frames into message chunks in a caller-owned stage
 *     buffer (one unmasking copy, in ws_frame_parser_feed_copy), at most
 *     stage_cap bytes each, delivered when the stage is full, when the
 *     message ends, or when the input runs out (a hop forwards what it has
 *     instead of holding a growing message). The owner takes as much of a
 *     chunk as it can (ws_conn_take); while part of it waits, parsing stops,
 *     and the owner parks the rest of its input with ws_conn_hold (in a
 *     caller-owned backlog) and stops reading its socket. Nothing is
 *     dropped and memory stays at stage + backlog.
 *   - Pings are answered here (a pong that finds the output full waits and
 *     goes out on ws_conn_flush; only the latest, as RFC 6455 §5.5.3
 *     allows); pongs are swallowed. Keep-alive: after ping_interval_ms
 *     without any byte from the peer, a ping; after as long again, the peer
 *     is gone (ws_conn_tick).
 *   - Sending: message chunks become frames of at most frame_max bytes
 *     (masked with fresh keys from a rand_pool in the client role), so a
 *     relay may refragment a message (RFC 6455 §5.4) but never mixes two.
 *   - Closing: remembers which Close went out and which came in; on a
 *     protocol violation it sends the Close itself (1002, 1007 or 1009) and
 *     reports the error; after our Close, ws_conn_tick ends the wait.
 *
 * Output goes through a sink the owner provides (reserve/commit, the shape
 * of loop_conn_reserve/loop_conn_commit), one whole frame per reserve. A
 * sink that refuses a frame is fatal for the stream (part of a message may
 * be out): the owner sizes its output limit so that flow control upstream
 * never gets there.
 *
 * No allocation, no I/O, no clock: times are the caller's milliseconds.
 * Errors are negative errno values.
 */
#ifndef H8S_PROTO_WS_CONN_H
#define H8S_PROTO_WS_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "core/rand.h"
#include "proto/span.h"
#include "proto/ws_frame.h"

/* Smallest frame_max accepted: a full control frame fits. */
#define WS_CONN_FRAME_MIN (WS_FRAME_HEADER_MAX + WS_FRAME_CONTROL_MAX)

struct ws_conn_sink {
    /* At least n contiguous writable bytes at the tail of the output, or
     * NULL when the output cannot take them now. */
    uint8_t *(*reserve)(void *cookie, size_t n);
    /* Queues the first used bytes of the last reservation. */
    void (*commit)(void *cookie, size_t used);
};

struct ws_conn_config {
    enum ws_frame_role role;
    uint64_t max_message;      /* longest message accepted from the peer (1009 beyond) */
    size_t frame_max;          /* largest frame written, header included; >= WS_CONN_FRAME_MIN */
    unsigned ping_interval_ms; /* keep-alive; 0: never ping, never time out */
    unsigned close_ms;         /* wait for the peer's Close after ours */
    uint8_t *stage;            /* message chunks; stage_cap >= 1 */
    size_t stage_cap;
    uint8_t *backlog; /* parked input; at least one socket read */
    size_t backlog_cap;
    struct rand_pool *rand; /* masking keys; required in the client role */
    const struct ws_conn_sink *sink;
    void *sink_cookie;
};

enum ws_conn_event_type {
    WS_CONN_EV_NONE = 0, /* all input used: read more */
    WS_CONN_EV_MESSAGE,  /* a chunk to take (ws_conn_take) */
    WS_CONN_EV_CLOSE,    /* the peer's Close: code (0: none), reason */
    WS_CONN_EV_ERROR,    /* the peer broke RFC 6455; our Close (code, reason) is out */
};

struct ws_conn_event {
    enum ws_conn_event_type type;
    uint8_t opcode;   /* MESSAGE: WS_OP_TEXT or WS_OP_BINARY */
    uint8_t first;    /* MESSAGE: the chunk starts the message */
    uint8_t fin;      /* MESSAGE: the chunk ends the message */
    uint16_t code;    /* CLOSE, ERROR */
    struct span data; /* MESSAGE: the chunk (in the stage); CLOSE, ERROR: the reason */
};

/* The engine; fields private, public for embedding. */
struct ws_conn {
    struct ws_frame_parser parser;
    struct ws_conn_config cfg;
    size_t stage_len, stage_off; /* stage[off..len) is waiting to be taken */
    size_t backlog_len, backlog_off;
    uint64_t last_rx_ms, ping_at_ms, close_at_ms;
    uint8_t stage_op;   /* message opcode of the staged bytes */
    uint8_t ready;      /* a chunk (maybe empty) is waiting */
    uint8_t stage_fin;  /* the waiting chunk ends its message */
    uint8_t msg_open;   /* part of the current message was taken */
    uint8_t tx_op;      /* opcode of the message being sent, 0 if none */
    uint8_t ping_out;   /* our keep-alive ping is unanswered */
    uint8_t pong_len;   /* pending pong payload length */
    uint8_t pong_due;   /* a pong is pending */
    uint8_t close_sent; /* our Close is out */
    uint8_t close_rcvd; /* the peer's Close came */
    uint8_t close_due;  /* the peer's Close waits behind staged data */
    uint8_t failed;     /* protocol error or sink refusal: sticky */
    uint16_t rcvd_code;
    uint8_t rcvd_reason_len;
    uint8_t rcvd_reason[WS_FRAME_CLOSE_REASON_MAX];
    uint8_t pong[WS_FRAME_CONTROL_MAX];
};

/*
 * Prepares c for an open connection at time now. The buffers, the sink and
 * the rand pool are borrowed for c's lifetime. Returns 0, or -EINVAL when
 * the configuration is unusable (no stage, no sink, frame_max too small, a
 * client without rand).
 */
int ws_conn_init(struct ws_conn *c, const struct ws_conn_config *cfg, uint64_t now);

/*
 * Parses received bytes. While a chunk waits to be taken or the backlog
 * holds bytes, in is not touched (0 is returned) and the backlog is worked
 * on first; otherwise in[0..n) is parsed. Returns the number of bytes of in
 * consumed and fills *ev with at most one event; call again with the rest
 * until ev->type is WS_CONN_EV_NONE (every byte of in and of the backlog
 * used, nothing staged). A MESSAGE is reported again (from where the last
 * take stopped, first cleared once something was taken) until wholly
 * taken; a CLOSE or an ERROR comes once, after the chunks staged before it.
 * After CLOSE or ERROR, input is consumed and ignored.
 */
size_t ws_conn_feed(struct ws_conn *c, const uint8_t *in, size_t n, uint64_t now,
                    struct ws_conn_event *ev);

/*
 * Takes k bytes (k <= the chunk's length) of the waiting chunk. Taking all
 * of it, also 0 bytes of an empty chunk, lets parsing continue.
 */
void ws_conn_take(struct ws_conn *c, size_t k);

/*
 * Parks in[0..n), input the owner could not feed now, behind what the
 * backlog holds. Returns 0, or -ENOBUFS when it does not fit (the owner
 * should have stopped reading; fatal).
 */
int ws_conn_hold(struct ws_conn *c, const uint8_t *in, size_t n);

/* 1 while a chunk or parked input waits: the owner's socket stays paused. */
int ws_conn_blocked(const struct ws_conn *c);

/*
 * Sends n bytes of a message of type opcode (WS_OP_TEXT or WS_OP_BINARY)
 * as one or more frames; fin ends the message. The first call of a message
 * writes opcode, later ones continuation frames, and must pass the same
 * opcode. Returns 0; -EPIPE after our Close or a failure; -EINVAL for a
 * bad opcode or a type change inside a message; -ENOBUFS when the sink
 * refused a frame (the stream is then broken: close the connection).
 */
int ws_conn_send(struct ws_conn *c, unsigned opcode, const uint8_t *p, size_t n, int fin);

/*
 * Sends our Close: code 0 for none (reason must then be empty), else a code
 * valid on the wire and a reason of at most 123 bytes of UTF-8. Starts the
 * close wait. Returns 0, -EPIPE (already sent or failed), -EINVAL, or
 * -ENOBUFS (sink refused).
 */
int ws_conn_close(struct ws_conn *c, unsigned code, struct span reason, uint64_t now);

/* Retries a pending pong (call when the output drained). Returns 0,
 * -ENOBUFS when still refused. */
int ws_conn_flush(struct ws_conn *c);

/* When ws_conn_tick wants to run next; UINT64_MAX for never. */
uint64_t ws_conn_deadline(const struct ws_conn *c);

#define WS_CONN_TICK_NONE 0
#define WS_CONN_TICK_PING 1   /* a keep-alive ping went out */
#define WS_CONN_TICK_DEAD 2   /* the peer was silent for two intervals */
#define WS_CONN_TICK_CLOSED 3 /* the close wait is over */

/*
 * Runs the clock: ends the close wait after close_ms (CLOSED), declares a
 * silent peer gone (DEAD), or sends a keep-alive ping (PING; a refused one
 * is retried on the next tick). Returns one of WS_CONN_TICK_*.
 */
int ws_conn_tick(struct ws_conn *c, uint64_t now);

/* 1 when both Close frames have been exchanged. */
int ws_conn_closed(const struct ws_conn *c);

/* Our Close is out / the peer's came / failed (error or broken sink). */
int ws_conn_close_sent(const struct ws_conn *c);
int ws_conn_close_rcvd(const struct ws_conn *c);
int ws_conn_failed(const struct ws_conn *c);

#endif
