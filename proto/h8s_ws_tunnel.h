/*
 * proto/h8s_ws_tunnel.h — the per-connection state of one WebSocket tunnel
 * at one hop (docs/PROTOCOL.md §7), the same on the gateway and the agent.
 *
 * Sans-I/O: the caller decodes received NATS messages (h8s_ws_decode) and
 * hands them to h8s_ws_tunnel_recv, which checks them against the state
 * and says what to do (deliver a chunk, resume sending, close, fail). To
 * send, the caller asks the tunnel for the header block
 * (h8s_ws_tunnel_send_data / _send_close / _credit) and publishes it with
 * the payload. Time is a millisecond clock the caller passes in; the tunnel
 * arms nothing: h8s_ws_tunnel_deadline says when h8s_ws_tunnel_tick wants
 * to run next.
 *
 * What it enforces, receiving: sequence numbers without gap or repeat
 * (1011), the credit it granted (1008), the message size limit (1009),
 * UTF-8 of text messages across chunks (1007), one message at a time and
 * one type per message (1011), nothing but credit after the peer's close;
 * and, sending: the peer's credit, one message at a time, nothing after
 * its own close. A violation fails the tunnel for good (sticky): the event
 * carries the close code to send to the local WebSocket peer and to the
 * other hop, and nothing is ever delivered afterwards.
 *
 * Life of a tunnel:
 *   gateway: init (OPENING) -> publish open with h8s_ws_tunnel_granted as
 *            X-H8s-Credit -> recv(accept) = ACCEPTED (OPEN), or REFUSED
 *            (CLOSED) for anything else;
 *   agent:   init -> start(open's credit) (OPEN) -> publish accept with
 *            h8s_ws_tunnel_granted as X-H8s-Credit;
 *   both:    data and credits both ways; each side sends one close; the
 *            tunnel is CLOSED (done) once it has sent and received a
 *            close, once it sent its close after a failure, or when the
 *            peer's close did not come within close_ms (tick says so).
 */
#ifndef H8S_PROTO_H8S_WS_TUNNEL_H
#define H8S_PROTO_H8S_WS_TUNNEL_H

#include <stddef.h>
#include <stdint.h>

#include "proto/h8s_ws.h"
#include "proto/span.h"
#include "proto/ws_utf8.h"

/* Defaults (PROTOCOL.md §7.7). */
#define H8S_WS_DEFAULT_MAX_MESSAGE (16u * 1024 * 1024)
#define H8S_WS_DEFAULT_WINDOW (256u * 1024)
#define H8S_WS_DEFAULT_HEARTBEAT_MS 2000
#define H8S_WS_DEFAULT_DEAD_MS 6000
#define H8S_WS_DEFAULT_CLOSE_MS 5000

/*
 * Credit a data message costs beyond its payload. It covers the frame
 * header (at most 14 bytes) the receiver queues for each message, so that
 * credit bounds the receiver's queue whatever the message sizes: a peer
 * sending empty or one-byte messages cannot queue more than it was
 * granted (PROTOCOL.md §7.4).
 */
#define H8S_WS_MSG_COST 16

struct h8s_ws_config {
    uint64_t max_message;  /* longest message accepted from the tunnel, bytes */
    uint64_t window;       /* credit granted beyond what the local peer has taken; >= 1 */
    uint32_t heartbeat_ms; /* send a credit after this long without sending */
    uint32_t dead_ms;      /* the other hop is gone after this long without a message */
    uint32_t close_ms;     /* wait this long for the other hop's close */
};

/* Fills cfg with the defaults above. */
void h8s_ws_config_defaults(struct h8s_ws_config *cfg);

enum h8s_ws_state {
    H8S_WS_ST_OPENING = 0, /* gateway: waiting for the accept; agent: not started */
    H8S_WS_ST_OPEN,
    H8S_WS_ST_CLOSED, /* done: free it */
};

/* The tunnel. Fields are read-only for callers (counters are useful in
 * logs); the struct is public so a connection can embed it. */
struct h8s_ws_tunnel {
    struct h8s_ws_config cfg;
    /* Sending direction. */
    uint64_t tx_seq;     /* next sequence number */
    uint64_t tx_bytes;   /* payload bytes sent */
    uint64_t tx_cost;    /* credit used: payload + H8S_WS_MSG_COST per message */
    uint64_t tx_credit;  /* the other hop's largest credit */
    uint64_t tx_msg_len; /* bytes of the message being sent */
    /* Receiving direction. */
    uint64_t rx_seq;     /* next sequence number expected */
    uint64_t rx_bytes;   /* payload bytes received and delivered */
    uint64_t rx_cost;    /* credit used by the other hop */
    uint64_t rx_credit;  /* largest credit granted */
    uint64_t rx_msg_len; /* bytes of the message being received */
    uint64_t rx_msgs;    /* whole messages delivered */
    uint64_t tx_msgs;    /* whole messages sent */
    /* Clock. */
    uint64_t last_tx_ms;
    uint64_t last_rx_ms;
    uint64_t close_at_ms; /* close_sent: give up on the peer's close then */
    struct ws_utf8 rx_utf8;
    uint8_t tx_kind; /* H8S_WS_TEXT / H8S_WS_BINARY while a message is open, else 0 */
    uint8_t rx_kind;
    uint8_t state;      /* enum h8s_ws_state */
    uint8_t close_sent; /* our close went out */
    uint8_t close_rcvd; /* the peer's close came in */
    uint16_t fail_code; /* non-zero once failed (sticky) */
    const char *fail_reason;
};

enum h8s_ws_event_type {
    H8S_WS_EV_NONE = 0, /* nothing to do */
    H8S_WS_EV_ACCEPTED, /* gateway: the open was accepted; send 101 to the client */
    H8S_WS_EV_REFUSED,  /* gateway: the reply is not an accept (the message's kind
                           says which: HTTP response, no responders, other) */
    H8S_WS_EV_DATA,     /* a chunk to write to the local peer */
    H8S_WS_EV_CREDIT,   /* the send room grew: send what waited, read the peer again */
    H8S_WS_EV_CLOSE,    /* the other hop closed: code, reason */
    H8S_WS_EV_FAIL,     /* the tunnel failed: code, reason */
};

struct h8s_ws_event {
    enum h8s_ws_event_type type;
    enum h8s_ws_kind kind; /* DATA: H8S_WS_TEXT or H8S_WS_BINARY */
    uint8_t first;         /* DATA: this chunk starts a message */
    uint8_t fin;           /* DATA: this chunk ends the message */
    uint16_t code;         /* CLOSE: the peer's code (0: none); FAIL: code to send */
    struct span data;      /* DATA: the chunk; CLOSE: the reason (both in the message) */
    const char *reason;    /* FAIL: static ASCII text, at most 123 bytes */
};

/*
 * Prepares t at time now (OPENING). cfg may be NULL for the defaults;
 * a window of 0 is taken as 1 and clamped to H8S_WS_VALUE_MAX. The credit
 * to announce in the open or the accept is h8s_ws_tunnel_granted(t).
 */
void h8s_ws_tunnel_init(struct h8s_ws_tunnel *t, const struct h8s_ws_config *cfg, uint64_t now);

/*
 * Agent: the open's X-H8s-Credit is peer_credit; the tunnel is OPEN from
 * now (timers start). Returns 0, or -1 when t is not OPENING.
 */
int h8s_ws_tunnel_start(struct h8s_ws_tunnel *t, uint64_t peer_credit, uint64_t now);

/* Cumulative credit granted so far (the value to announce). */
uint64_t h8s_ws_tunnel_granted(const struct h8s_ws_tunnel *t);

/*
 * Handles one decoded message from the other hop at time now and fills
 * *ev; returns ev->type. DATA and CLOSE spans point into m's data.
 *   OPENING: ACCEPT -> ACCEPTED (OPEN, the accept's credit taken);
 *            anything else -> REFUSED (CLOSED).
 *   OPEN:    TEXT/BINARY -> DATA, or FAIL (1011 sequence or message order,
 *            1008 over credit, 1009 too big, 1007 bad UTF-8);
 *            CREDIT -> CREDIT when it raised the room, else NONE;
 *            CLOSE -> CLOSE, or FAIL 1011 on a sequence error (a close may
 *            end the stream in the middle of a message, as a Close frame
 *            may); a close without sequence number (an abort) -> FAIL with
 *            its code;
 *            NO_RESPONDERS -> FAIL 1011 (the other hop is gone);
 *            OPEN, ACCEPT, HTTP -> FAIL 1011.
 *   After the peer's close, only credits count (others: NONE); once
 *   failed or CLOSED: always NONE. Every message but NO_RESPONDERS counts
 *   as a sign of life.
 * On FAIL: close the local peer with ev->code, then, unless the tunnel is
 * already done (our close had gone out before), send our close with it.
 */
enum h8s_ws_event_type h8s_ws_tunnel_recv(struct h8s_ws_tunnel *t, const struct h8s_ws_msg *m,
                                          uint64_t now, struct h8s_ws_event *ev);

/*
 * Payload bytes one data message may carry now: the other hop's credit
 * minus the credit used, minus H8S_WS_MSG_COST; 0 unless OPEN, not
 * failed, and our close not sent. h8s_ws_tunnel_can_send says whether a
 * message (even an empty one) fits at all.
 */
uint64_t h8s_ws_tunnel_send_room(const struct h8s_ws_tunnel *t);

/* 1 when a data message of n payload bytes may be sent now. */
int h8s_ws_tunnel_can_send(const struct h8s_ws_tunnel *t, size_t n);

/*
 * Accounts for a data message of n payload bytes of a kind (H8S_WS_TEXT or
 * H8S_WS_BINARY) that ends its message when fin, and writes its header
 * block into hdr (cap bytes; H8S_WS_HDR_MAX suffices), spanned by *out.
 * The first chunk opens a message; later ones must have the same kind.
 * Returns 0, H8S_WS_E_STATE (not OPEN, failed, close sent, or a
 * kind change inside a message), H8S_WS_E_CREDIT (n + H8S_WS_MSG_COST
 * is beyond the credit) or an H8S_WS_E_* encoder error; nothing changes
 * on error.
 */
int h8s_ws_tunnel_send_data(struct h8s_ws_tunnel *t, enum h8s_ws_kind kind, size_t n, int fin,
                            uint64_t now, uint8_t *hdr, size_t cap, struct span *out);

/*
 * Accounts for our close (code 0 for none, else valid on the wire; reason,
 * sent as the message's data, at most 123 bytes of UTF-8 and empty with
 * code 0) and writes its header block. Allowed once, when OPEN (also
 * after a failure, with the failure's code). The tunnel is CLOSED at once
 * when the peer's close already came or the tunnel failed; otherwise the
 * peer's close is awaited until now + close_ms. Returns 0,
 * H8S_WS_E_STATE, H8S_WS_E_ARG (bad code or reason) or
 * H8S_WS_E_SPACE.
 */
int h8s_ws_tunnel_send_close(struct h8s_ws_tunnel *t, unsigned code, struct span reason,
                             uint64_t now, uint8_t *hdr, size_t cap, struct span *out);

/*
 * Flow control and heartbeat. congested says that this hop's queue towards
 * its local peer is above its low-water mark (half the socket's output
 * limit): then nothing more is granted; otherwise the grant is the credit
 * used so far plus the window. The caller re-evaluates when the queue
 * drains (loop_conn's on_drain fires exactly when it falls back to half
 * the limit), so with window <= half the output limit the queue never
 * exceeds the limit. Writes a credit block and returns 1 when one is due:
 * the grant grew by at least half a window, or nothing was sent for
 * heartbeat_ms (or force is set); returns 0 when none is due (or the
 * tunnel is not OPEN, or failed), or a negative H8S_WS_E_* encoder error.
 */
int h8s_ws_tunnel_credit(struct h8s_ws_tunnel *t, int congested, int force, uint64_t now,
                         uint8_t *hdr, size_t cap, struct span *out);

/*
 * The earliest time (same clock) h8s_ws_tunnel_tick should run: the next
 * heartbeat, the liveness deadline, or the end of the close wait.
 * UINT64_MAX when none applies (OPENING, CLOSED).
 */
uint64_t h8s_ws_tunnel_deadline(const struct h8s_ws_tunnel *t);

#define H8S_WS_TICK_NONE 0
#define H8S_WS_TICK_DEAD 1   /* nothing from the other hop for dead_ms: failed, 1011 */
#define H8S_WS_TICK_CLOSED 2 /* the close wait ended: the tunnel is CLOSED */

/*
 * Runs the clock: after our close, returns H8S_WS_TICK_CLOSED (the tunnel
 * is CLOSED) once the close wait is over or the other hop has been silent
 * for dead_ms; before it, H8S_WS_TICK_DEAD when the other hop has been
 * silent for dead_ms (the tunnel then fails with 1011: close the local
 * peer, send a close); else H8S_WS_TICK_NONE. A heartbeat, when due, is
 * h8s_ws_tunnel_credit's.
 */
int h8s_ws_tunnel_tick(struct h8s_ws_tunnel *t, uint64_t now);

/*
 * Fails the tunnel from outside (the caller could not publish, the local
 * side hit a limit): sticky, nothing is delivered afterwards, and the next
 * h8s_ws_tunnel_send_close ends it. No-op when already failed or CLOSED.
 */
void h8s_ws_tunnel_fail(struct h8s_ws_tunnel *t, unsigned code, const char *reason);

/* 1 once CLOSED. */
int h8s_ws_tunnel_done(const struct h8s_ws_tunnel *t);

#endif
