/*
 * proto/h8s_ws.h — the messages of the WebSocket tunnel (docs/PROTOCOL.md
 * §7): names, decoding of received NATS header blocks, encoding of the
 * small fixed blocks, and the header filters that keep client-chosen and
 * internal headers where they belong.
 *
 * The per-connection state machine (sequence numbers, credits, closing,
 * liveness) is proto/h8s_ws_tunnel.h; this module is stateless.
 *
 * Kinds (header X-H8s-Ws):
 *   open     gateway -> agents (request subject): a client wants a tunnel
 *   accept   agent -> gateway: the app switched protocols
 *   text     either way: a chunk of a text message
 *   binary   either way: a chunk of a binary message
 *   close    either way: the Close frame of one side, code and reason
 *   credit   either way: flow-control credit, also the heartbeat
 * A reply to an open without X-H8s-Ws is an HTTP response (a refusal), and
 * a NATS status 503 is the server's "no responders".
 *
 * No allocation, no I/O. Decoded spans point into the caller's header
 * block and data, valid as long as those are.
 */
#ifndef H8S_PROTO_H8S_WS_H
#define H8S_PROTO_H8S_WS_H

#include <stddef.h>
#include <stdint.h>

#include "proto/nats_hdr.h"
#include "proto/span.h"

/* Header names added for WebSockets; the others are in proto/h8s_wire.h
 * (X-H8s-Seq, X-H8s-Credit, X-H8s-Agent-Subject, Status-Code, Status). */
#define H8S_WS_HDR_KIND "X-H8s-Ws"
#define H8S_WS_HDR_MORE "X-H8s-More"             /* "1" on every chunk but a message's last */
#define H8S_WS_HDR_CLOSE_CODE "X-H8s-Close-Code" /* absent: no status code */
#define H8S_WS_HDR_PROTOCOL "Sec-Websocket-Protocol"

/* Largest encoded data, close or credit block (two or three short
 * headers with 20-digit numbers fit with room to spare). */
#define H8S_WS_HDR_MAX 128

/* Largest sequence number or credit value accepted or produced. */
#define H8S_WS_VALUE_MAX UINT64_C(0x7FFFFFFFFFFFFFFF)

/* Largest agent subject accepted: "_INBOX.h8s." id "." id. */
#define H8S_WS_SUBJECT_MAX 139

enum h8s_ws_kind {
    H8S_WS_HTTP = 0, /* no X-H8s-Ws: an HTTP response as in §3 */
    H8S_WS_OPEN = 1,
    H8S_WS_ACCEPT = 2,
    H8S_WS_TEXT = 3,
    H8S_WS_BINARY = 4,
    H8S_WS_CLOSE = 5,
    H8S_WS_CREDIT = 6,
    H8S_WS_NO_RESPONDERS = 7, /* NATS status 503: the subscriber is gone */
};

/* A decoded message. Fields a kind does not use are zero / empty. */
struct h8s_ws_msg {
    enum h8s_ws_kind kind;
    uint8_t more;              /* TEXT, BINARY: more chunks of this message follow */
    uint8_t has_credit;        /* X-H8s-Credit was present */
    uint16_t close_code;       /* CLOSE: the code, 0 when none was given */
    unsigned status;           /* ACCEPT: 101; HTTP: Status-Code, 0 when absent */
    uint64_t seq;              /* TEXT, BINARY, CLOSE: X-H8s-Seq (>= 1) */
    uint64_t credit;           /* OPEN, ACCEPT, CREDIT (and any kind with has_credit) */
    struct span data;          /* TEXT, BINARY: the chunk; CLOSE: the reason; HTTP: the body */
    struct span agent_subject; /* ACCEPT: X-H8s-Agent-Subject */
    struct span protocol;      /* ACCEPT: chosen subprotocol, empty when none */
    struct span hdr;           /* the header block decoded (for the other fields) */
};

/* Error codes (negative). */
#define H8S_WS_E_FORMAT (-1)  /* the header block is not a valid NATS header block */
#define H8S_WS_E_KIND (-2)    /* unknown X-H8s-Ws value, or a NATS status other than 503 */
#define H8S_WS_E_MISSING (-3) /* a header the kind requires is absent */
#define H8S_WS_E_VALUE (-4)   /* a header value is malformed or out of range */
#define H8S_WS_E_REPEAT (-5)  /* a tunnel header appears more than once */
#define H8S_WS_E_DATA (-6)    /* data where none is allowed, or a bad close reason */
#define H8S_WS_E_SPACE (-7)   /* encoder: output buffer too small */
#define H8S_WS_E_ARG (-8)     /* encoder: invalid argument */
#define H8S_WS_E_STATE (-9)   /* tunnel: not allowed in the current state */
#define H8S_WS_E_CREDIT (-10) /* tunnel: beyond the other hop's credit */

/*
 * Decodes a message received on a tunnel subject: hdr is the NATS header
 * block (n == 0 when the message had none), data its payload. Checks, per
 * kind: OPEN needs X-H8s-Credit and no data; ACCEPT needs X-H8s-Credit, a
 * valid X-H8s-Agent-Subject, Status-Code 101 if present, a token as
 * subprotocol, no data; TEXT and BINARY need X-H8s-Seq and X-H8s-More
 * absent or "1"; CLOSE needs X-H8s-Seq (or, for an abort from a hop that
 * does not know the connection, a code instead: seq is then 0), a code
 * valid on the wire (ws_frame_close_code_valid) if present, and a reason
 * of at most 123 bytes of UTF-8 (none without a code); CREDIT needs
 * X-H8s-Credit and no
 * data. Numbers are decimal without sign or leading zeros, seq >= 1, both
 * at most H8S_WS_VALUE_MAX. Header names compare case-insensitively; a
 * tunnel header (the ones named above) given twice is an error, other
 * headers are ignored (an HTTP response is not checked beyond its block
 * and Status-Code).
 * Returns 0 and fills *m, or a negative H8S_WS_E_* code (*m unspecified).
 */
int h8s_ws_decode(struct h8s_ws_msg *m, struct span hdr, struct span data);

/*
 * Encoders for the fixed blocks, into buf (cap bytes; H8S_WS_HDR_MAX always
 * suffices). *out spans the block inside buf. Return 0, H8S_WS_E_SPACE, or
 * H8S_WS_E_ARG (kind not TEXT/BINARY, seq 0 or above H8S_WS_VALUE_MAX,
 * credit above H8S_WS_VALUE_MAX, code neither 0 nor valid on the wire).
 * A close with seq 0 is the out-of-sequence abort (§7.6): it needs a code.
 * The data message's payload, and the close message's reason, are the NATS
 * message data and not part of the block.
 */
int h8s_ws_encode_data(uint8_t *buf, size_t cap, struct span *out, enum h8s_ws_kind kind,
                       uint64_t seq, int more);
int h8s_ws_encode_close(uint8_t *buf, size_t cap, struct span *out, uint64_t seq, unsigned code);
int h8s_ws_encode_credit(uint8_t *buf, size_t cap, struct span *out, uint64_t credit);

/*
 * Append the tunnel headers of an open (X-H8s-Ws: open, X-H8s-Credit) or
 * of an accept (X-H8s-Ws: accept, Status-Code and Status for 101,
 * X-H8s-Agent-Subject, X-H8s-Credit, and Sec-Websocket-Protocol when
 * protocol is not empty) to a block being built; the caller adds the other
 * headers (§7.2) and finishes the block. Return 0, the builder's sticky
 * error, or H8S_WS_E_ARG (credit out of range, agent subject not
 * "_INBOX.h8s.<id>.<id>", protocol not a token).
 */
int h8s_ws_add_open(struct nats_hdr_builder *b, uint64_t credit);
int h8s_ws_add_accept(struct nats_hdr_builder *b, struct span agent_subject, struct span protocol,
                      uint64_t credit);

/* 1 when s is "_INBOX.h8s.<id>.<id>" with two valid id tokens
 * (subject_id_ok) and at most H8S_WS_SUBJECT_MAX bytes, else 0. */
int h8s_ws_subject_ok(struct span s);

/*
 * Header filters (names compare case-insensitively). Each returns 1 when a
 * header called name may be passed on at that step, 0 when it must be
 * dropped. They complement, and do not replace, the hop-by-hop rule of
 * http_head_hop_by_hop (which also knows the names a Connection header
 * lists); the fixed hop-by-hop names are refused here as well.
 *
 * h8s_ws_open_forwards     gateway: a header of the client's upgrade request
 *                          into the open. Drops Sec-Websocket-Key, -Accept,
 *                          -Version, -Extensions, and every X-H8s-* a client
 *                          sent (the gateway adds its own afterwards).
 * h8s_ws_backend_forwards  agent: a header of the open into the app's
 *                          handshake request. Drops every X-H8s-*, Host,
 *                          Origin (passed on separately), Sec-Websocket-*,
 *                          Content-Length, Transfer-Encoding, Status,
 *                          Status-Code.
 * h8s_ws_accept_forwards   agent: a header of the app's 101 into the accept;
 *                          gateway: a header of the accept into the client's
 *                          101. Drops Sec-Websocket-*, X-H8s-*,
 *                          Content-Length, Transfer-Encoding, Status,
 *                          Status-Code (the handshake writer adds the
 *                          upgrade headers and the subprotocol itself).
 */
int h8s_ws_open_forwards(struct span name);
int h8s_ws_backend_forwards(struct span name);
int h8s_ws_accept_forwards(struct span name);

/* "open", "accept", "text", ... for a kind ("http", "no_responders" for
 * the two pseudo-kinds), for logs. */
const char *h8s_ws_kind_name(enum h8s_ws_kind kind);

/* Static description of an H8S_WS_E_* code. */
const char *h8s_ws_strerror(int err);

#endif
