/*
 * gateway/gw_ws_session.h — the gateway's WebSocket session with one
 * client: the server half of a tunnel (docs/PROTOCOL.md §7).
 *
 * Depends only on core/ (the loop, the log) and proto/ (handshake, frame
 * codec, ws_conn, HTTP head writer, header filters).
 *
 * Life:
 *   gw_ws_session_start   the gateway's HTTP layer parsed an upgrade
 *                         request on an accepted connection. The request
 *                         is checked (RFC 6455 §4.2.1, allowed origins):
 *                         a refusal (400, 403, 426) is answered and the
 *                         connection closed right there; otherwise the
 *                         session takes the connection over, PENDING: no
 *                         answer yet, while the caller opens the tunnel.
 *   gw_ws_session_accept  the app accepted: writes the 101 (our Accept
 *                         value, the app's subprotocol, the app's other
 *                         headers) and starts relaying.
 *   gw_ws_session_refuse  the app refused (or could not be reached): that
 *                         status, headers and body go to the client, the
 *                         connection closes.
 * So the client never sees a 101 before the app accepted, and a refusal is
 * never an open-then-close. Client bytes arriving before the 101 are kept
 * (bounded by recv_max) and parsed after it; the client leaving meanwhile
 * is reported (on_end) so the open can be cancelled.
 *
 * Once open, the same contract as the agent's side (agent/ag_ws_backend.h):
 * on_message chunks (type and boundaries kept) that the owner takes as far
 * as it can (less pauses the client's socket until gw_ws_session_resume),
 * on_close for the client's Close (initiating or answering ours),
 * gw_ws_session_send / _close / _abort, pings answered and sent, and
 * on_end once, last. As the server, we close TCP first once both Close
 * frames are out (RFC 6455 §7.1.1), at the latest close_ms after ours.
 *
 * All on the loop's thread; callbacks may call any function here on the
 * same session.
 */
#ifndef H8S_GATEWAY_GW_WS_SESSION_H
#define H8S_GATEWAY_GW_WS_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "core/loop.h"
#include "proto/http_head.h"
#include "proto/span.h"
#include "proto/ws_handshake.h"

struct gw_ws_session;

#define GW_WS_SESSION_E_PROTOCOL (-3103) /* the client broke RFC 6455; our Close went out */
#define GW_WS_SESSION_E_GONE (-3104)     /* TCP ended without a Close, or keep-alive timeout */
#define GW_WS_SESSION_E_OVERFLOW (-3105) /* output limit hit, or input had nowhere to go */
#define GW_WS_SESSION_E_REFUSED (-3106)  /* on_end after gw_ws_session_refuse */

/* on_message: nothing taken, wait for gw_ws_session_resume. */
#define GW_WS_SESSION_WAIT ((size_t)-1)

#define GW_WS_SESSION_DEFAULT_CHUNK (16 * 1024)
#define GW_WS_SESSION_DEFAULT_OUT_LIMIT (1024 * 1024)
#define GW_WS_SESSION_PROTO_MAX 1024 /* bytes of offered subprotocols kept */

struct gw_ws_session_config {
    const struct ws_handshake_server_config *hs; /* allowed origins; NULL: any */
    uint64_t max_message;                        /* --ws-max-message */
    size_t chunk_max;                            /* largest on_message chunk; 0: default */
    size_t recv_max;           /* parked input; at least the loop's recv_buf_size; 0: 64 KiB */
    size_t frame_max;          /* largest frame written; <= the loop's out_chunk_size; 0: 16 KiB */
    size_t out_limit;          /* output bound towards the client; 0: 1 MiB */
    unsigned ping_interval_ms; /* keep-alive; 0: none */
    unsigned close_ms;         /* Close wait and final flush; 0: 5 s */
};

struct gw_ws_session_ops {
    /* opcode WS_OP_TEXT or WS_OP_BINARY; returns the bytes taken, or
     * GW_WS_SESSION_WAIT to take nothing at all (also of an empty chunk). */
    size_t (*on_message)(struct gw_ws_session *s, void *cookie, unsigned opcode, struct span data,
                         int first, int fin);
    void (*on_close)(struct gw_ws_session *s, void *cookie, unsigned code, struct span reason);
    void (*on_drain)(struct gw_ws_session *s, void *cookie); /* optional */
    /* err 0 after the Close handshake (or the close wait ran out); else
     * GW_WS_SESSION_E_* or -errno; code: what we sent for E_PROTOCOL. */
    void (*on_end)(struct gw_ws_session *s, void *cookie, int err, unsigned code);
};

/*
 * c is an accepted connection whose upgrade request head is req; rest is
 * what followed the head in the same read. Returns the handshake status:
 * 101 with *out set and the connection now the session's (its ops are
 * replaced: the caller must not touch c again, and must return from its
 * on_data without reading more); 400, 403 or 426 when refused: the answer
 * is queued, c is closing and still the caller's (its on_close follows),
 * *out is NULL; 0 with *out NULL when out of memory or rest does not fit
 * in recv_max (c is closed likewise, after a 500 or a 400).
 */
unsigned gw_ws_session_start(struct loop_conn *c, const struct gw_ws_session_config *cfg,
                             const struct ws_handshake_http *req, struct span rest,
                             const struct gw_ws_session_ops *ops, void *cookie,
                             struct gw_ws_session **out);

/*
 * The session that took c over (gw_ws_session_start returned 101 for c).
 * For an HTTP layer that calls gw_ws_session_start from its head callback,
 * before it knows where the head ended, and parks the bytes that followed
 * it once its parser returns. c MUST be such a connection, and still open
 * in the same callback.
 */
struct gw_ws_session *gw_ws_session_of(struct loop_conn *c);

/*
 * Parks client bytes that followed the head (behind any given as rest);
 * they are parsed after the 101. Only while PENDING. Returns 0, -EPIPE
 * (not pending), or -ENOBUFS when they do not fit in recv_max: the client
 * is then answered 400 and the session ends.
 */
int gw_ws_session_park(struct gw_ws_session *s, struct span bytes);

/* The client's subprotocol offers, in order (copies, valid while s is). */
size_t gw_ws_session_offers(const struct gw_ws_session *s, const struct span **offers);

/*
 * PENDING -> open: writes the 101 with protocol (empty, or one of the
 * offers) and the fields for which h8s_ws_accept_forwards says yes (e.g.
 * the app's Set-Cookie). Returns 0, -EINVAL (protocol not offered, or a
 * field that cannot be written), -EPIPE (not PENDING) or -ENOBUFS.
 */
int gw_ws_session_accept(struct gw_ws_session *s, struct span protocol,
                         const struct http_head_field *fields, size_t nfields);

/*
 * PENDING -> refused: writes status (100..599; 101 is not a refusal), the
 * fields minus hop-by-hop ones, Content-Length, Status, Status-Code and
 * X-H8s-*, then Content-Length, "Connection: close" and body, and closes.
 * on_end(GW_WS_SESSION_E_REFUSED) follows. Returns 0, -EINVAL or -EPIPE.
 */
int gw_ws_session_refuse(struct gw_ws_session *s, unsigned status,
                         const struct http_head_field *fields, size_t nfields, struct span body);

/* As ag_ws_backend_send: 0, -EPIPE, -EINVAL, -ENOBUFS (then the session ends
 * with E_OVERFLOW). Only once open. */
int gw_ws_session_send(struct gw_ws_session *s, unsigned opcode, const uint8_t *p, size_t n,
                       int fin);

/* Our Close (code 0: none). Answering the client's Close ends the session;
 * otherwise its answer is awaited for close_ms. When PENDING, use
 * gw_ws_session_refuse instead (-EPIPE). Returns 0, -EPIPE or -EINVAL. */
int gw_ws_session_close(struct gw_ws_session *s, unsigned code, struct span reason);

/* Ends at once, no Close frame, no callback any more. */
void gw_ws_session_abort(struct gw_ws_session *s);

/* Delivers what waited after a partial take and reads the client again. */
void gw_ws_session_resume(struct gw_ws_session *s);

/* Bytes queued towards the client and not yet sent. */
size_t gw_ws_session_pending(const struct gw_ws_session *s);

/* 1 while that queue is above half its limit (then on_drain follows once
 * it falls back): the tunnel grants no credit meanwhile. */
int gw_ws_session_congested(const struct gw_ws_session *s);

#endif
