/*
 * agent/ag_ws_backend.h — the agent's WebSocket connection to the app: the
 * client half of a tunnel (docs/PROTOCOL.md §7).
 *
 * Depends only on the loop (core/loop.h), the WebSocket codec
 * (proto/ws_frame.h, ws_handshake.h, ws_conn.h), the HTTP response parser
 * and the log: what it is told (address, Host, target, headers, offers)
 * is decided by the caller from the open message.
 *
 * Life:
 *   ag_ws_backend_connect  dials the app, sends an upgrade request with a
 *                          fresh key, reads the answer.
 *   ops->on_open           once: the app switched protocols (101, checked:
 *                          Accept value, Upgrade, Connection, subprotocol
 *                          among the offers, no extension), or refused
 *                          (its status, head and up to refusal_max bytes
 *                          of body), or could not be reached or answered
 *                          garbage (status 0, err says why; a refusal ends
 *                          the connection, on_end follows).
 *   ops->on_message        chunks of the app's messages, in order, type and
 *                          boundaries kept (first/fin); the owner returns
 *                          how much it took; taking less pauses the app
 *                          (its socket is not read: TCP slows it down)
 *                          until ag_ws_backend_resume.
 *   ops->on_close          the app's Close frame (initiating, or answering
 *                          ours).
 *   ops->on_drain          the output towards the app fell to half its limit.
 *   ops->on_end            once, last: the connection is gone.
 * Fragmented messages from the app are forwarded as chunks as they come
 * (never reassembled: memory stays at one stage buffer); chunks of the same
 * message share its type and only the last has fin.
 *
 * The owner sends with ag_ws_backend_send (chunks of one message at a time,
 * as frames of at most frame_max bytes) and ends with ag_ws_backend_close
 * (our Close; the TCP connection goes once both Close frames are out, or
 * close_ms after ours) or ag_ws_backend_abort (at once, no callback after
 * it). Pings from the app are answered here; after ping_interval_ms of
 * silence we ping, and a second interval of silence ends the connection.
 *
 * Memory: one allocation per connection (struct, stage of chunk_max bytes,
 * backlog of recv_max bytes) plus, during the handshake only, the head and
 * refusal buffers. Output is bounded by out_limit (loop_conn's limit);
 * exceeding it is fatal for the connection (the tunnel's credit keeps the
 * owner below it).
 *
 * All of it runs on the loop's thread; callbacks may call any function
 * here on the same connection.
 */
#ifndef H8S_AGENT_AG_WS_BACKEND_H
#define H8S_AGENT_AG_WS_BACKEND_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/loop.h"
#include "core/rand.h"
#include "proto/http_head.h"
#include "proto/span.h"
#include "proto/ws_handshake.h"

struct ag_ws_backend;

/* on_end / on_open errors besides -errno. */
#define AG_WS_BACKEND_E_HTTP (-3001)      /* the app's answer is not valid HTTP */
#define AG_WS_BACKEND_E_HANDSHAKE (-3002) /* a 101 that fails RFC 6455 §4.1 checks */
#define AG_WS_BACKEND_E_PROTOCOL (-3003)  /* the app broke RFC 6455; our Close went out */
#define AG_WS_BACKEND_E_GONE (-3004)      /* TCP ended without a Close, or keep-alive timeout */
#define AG_WS_BACKEND_E_OVERFLOW                                                                   \
    (-3005)                             /* the output limit was hit, or input had nowhere to go    \
                                         */
#define AG_WS_BACKEND_E_REFUSED (-3006) /* on_end after a refusal */

/* on_message: nothing taken, wait for ag_ws_backend_resume. */
#define AG_WS_BACKEND_WAIT ((size_t)-1)

#define AG_WS_BACKEND_DEFAULT_CHUNK (16 * 1024)
#define AG_WS_BACKEND_DEFAULT_OUT_LIMIT (1024 * 1024)
#define AG_WS_BACKEND_DEFAULT_REFUSAL (64 * 1024)
#define AG_WS_BACKEND_HEAD_MAX 16384 /* the app's response head */

struct ag_ws_backend_config {
    const struct sockaddr *addr; /* the app, resolved; copied */
    socklen_t addrlen;
    struct span host;             /* Host value, e.g. "app.internal:8080" */
    struct span target;           /* request-target: the client's path and query */
    struct span origin;           /* Origin to send; empty: none */
    const struct span *protocols; /* subprotocols offered (the client's), may be NULL */
    size_t nprotocols;
    /* Further header fields (see ws_handshake_client: never Host, Origin,
     * Upgrade, Connection, Sec-WebSocket-*, Content-Length,
     * Transfer-Encoding; h8s_ws_backend_forwards picks them). */
    const struct ws_handshake_header *headers;
    size_t nheaders;
    uint64_t max_message;      /* --ws-max-message: longest message from the app */
    size_t chunk_max;          /* largest on_message chunk; 0: default */
    size_t recv_max;           /* parked input; at least the loop's recv_buf_size; 0: 64 KiB */
    size_t frame_max;          /* largest frame written; <= the loop's out_chunk_size; 0: 16 KiB */
    size_t out_limit;          /* output bound towards the app; 0: 1 MiB */
    size_t refusal_max;        /* refusal body kept; 0: default */
    unsigned open_timeout_ms;  /* connect and handshake; 0: 10 s */
    unsigned ping_interval_ms; /* keep-alive; 0: none */
    unsigned close_ms;         /* wait for the app's Close and its FIN; 0: 5 s */
    struct rand_pool *rand;    /* key nonce and masking keys; borrowed */
};

/* What on_open reports. Spans are valid during the callback only. */
struct ag_ws_backend_open {
    unsigned status;      /* 101 when open; the app's status; 0 when no valid answer */
    int err;              /* 0, or -errno / AG_WS_BACKEND_E_HTTP / _E_HANDSHAKE */
    struct span protocol; /* 101: the subprotocol chosen, empty when none */
    const struct http_head_field *fields; /* the app's response head */
    size_t nfields;
    struct span body; /* refusal: the body, at most refusal_max bytes */
    int truncated;    /* refusal: the body was longer and was cut */
};

struct ag_ws_backend_ops {
    void (*on_open)(struct ag_ws_backend *b, void *cookie, const struct ag_ws_backend_open *o);
    /* opcode WS_OP_TEXT or WS_OP_BINARY; data valid during the call.
     * Returns the bytes taken, 0..data.n, or AG_WS_BACKEND_WAIT to take
     * nothing at all (also of an empty chunk). */
    size_t (*on_message)(struct ag_ws_backend *b, void *cookie, unsigned opcode, struct span data,
                         int first, int fin);
    void (*on_close)(struct ag_ws_backend *b, void *cookie, unsigned code, struct span reason);
    void (*on_drain)(struct ag_ws_backend *b, void *cookie); /* optional */
    /*
     * The end: err is 0 after the Close handshake (or our close wait ran
     * out), AG_WS_BACKEND_E_* or -errno otherwise; code is the close code
     * we sent for E_PROTOCOL (1002, 1007, 1009), else 0. b is invalid once
     * this returns.
     */
    void (*on_end)(struct ag_ws_backend *b, void *cookie, int err, unsigned code);
};

/*
 * Starts a connection on loop l. cfg's spans and arrays are used before
 * this returns (the request is written at once) and need not outlive the
 * call. Returns 0 with *out set, or -EINVAL (bad configuration, or a field
 * ws_handshake_client_request refuses), -ENOMEM, or loop_connect's -errno;
 * no callback is made then.
 */
int ag_ws_backend_connect(struct loop *l, const struct ag_ws_backend_config *cfg,
                          const struct ag_ws_backend_ops *ops, void *cookie,
                          struct ag_ws_backend **out);

/*
 * Sends n bytes of a message (opcode WS_OP_TEXT or WS_OP_BINARY, the same
 * for every chunk of it; fin ends it). Only once open. Returns 0, -EPIPE
 * (not open, or our Close is out), -EINVAL, or -ENOBUFS: the output limit
 * was hit; the connection then ends (on_end with E_OVERFLOW).
 */
int ag_ws_backend_send(struct ag_ws_backend *b, unsigned opcode, const uint8_t *p, size_t n,
                       int fin);

/*
 * Sends our Close (code 0: none; else valid on the wire, reason <= 123
 * bytes of UTF-8). When the app's Close already came, this is the answer
 * and the connection ends; otherwise the app's answer is awaited for
 * close_ms. Before the connection is open, it aborts instead (and on_end
 * follows). Returns 0, -EPIPE (already sent) or -EINVAL.
 */
int ag_ws_backend_close(struct ag_ws_backend *b, unsigned code, struct span reason);

/*
 * Ends at once: the socket is closed without a Close frame and no
 * callback is called any more. The memory goes once the loop is done with
 * the socket. Safe from any callback.
 */
void ag_ws_backend_abort(struct ag_ws_backend *b);

/* After on_message took less than it was offered: delivers the rest and
 * reads the app again. No-op when nothing waits. */
void ag_ws_backend_resume(struct ag_ws_backend *b);

/* Bytes queued towards the app and not yet sent. */
size_t ag_ws_backend_pending(const struct ag_ws_backend *b);

/* 1 while that queue is above half its limit (then on_drain follows once
 * it falls back): the tunnel grants no credit meanwhile. */
int ag_ws_backend_congested(const struct ag_ws_backend *b);

#endif
