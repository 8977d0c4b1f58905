/*
 * proto/ws_handshake.h — the RFC 6455 §4 opening handshake, both sides.
 *
 * HTTP itself is parsed elsewhere (llhttp); this module works on the parsed
 * head: method or status, version, and the header fields as name/value spans
 * (struct ws_handshake_http). It never allocates and keeps no state between
 * calls: results are spans into the caller's header storage plus small
 * fixed-size arrays inside the result structs.
 *
 * Server side (gateway, facing browsers):
 *   ws_handshake_server_check    validates an upgrade request and decides the
 *                                status: 101, or 400 / 403 / 426 with the
 *                                headers that must accompany it.
 *   ws_handshake_server_select   checks the backend's subprotocol choice
 *                                against what the client offered.
 *   ws_handshake_server_response writes the response head.
 * Extensions (permessage-deflate, ...) are never negotiated: an offer is
 * ignored and no Sec-WebSocket-Extensions header is ever produced, which
 * declines it (RFC 6455 §9.1).
 *
 * Client side (agent, facing the private app):
 *   ws_handshake_client_request  writes an upgrade request with a key made
 *                                from 16 caller-supplied random bytes.
 *   ws_handshake_client_check    validates the server's 101 response.
 *
 * Header names compare case-insensitively, header values have optional
 * whitespace (SP, HTAB) trimmed at both ends, list-valued headers may be
 * split over several fields.
 */
#ifndef H8S_PROTO_WS_HANDSHAKE_H
#define H8S_PROTO_WS_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>

#include "proto/span.h"

#define WS_HANDSHAKE_NONCE_LEN 16     /* random bytes behind a Sec-WebSocket-Key */
#define WS_HANDSHAKE_KEY_LEN 24       /* base64 of the nonce */
#define WS_HANDSHAKE_ACCEPT_LEN 28    /* base64 of a SHA-1 digest */
#define WS_HANDSHAKE_MAX_PROTOCOLS 16 /* offered subprotocols kept; more is a 400 */

/* Errors (negative) from the builders and the client-side validator. */
#define WS_HANDSHAKE_ERR_SPACE (-1)      /* output buffer too small */
#define WS_HANDSHAKE_ERR_INVALID (-2)    /* bad argument (CR/LF, non-token, ...) */
#define WS_HANDSHAKE_ERR_STATUS (-3)     /* response is not HTTP/1.1 101 */
#define WS_HANDSHAKE_ERR_UPGRADE (-4)    /* no "Upgrade: websocket" */
#define WS_HANDSHAKE_ERR_CONNECTION (-5) /* no "upgrade" token in Connection */
#define WS_HANDSHAKE_ERR_ACCEPT (-6)     /* Sec-WebSocket-Accept missing or wrong */
#define WS_HANDSHAKE_ERR_PROTOCOL (-7)   /* subprotocol not among those offered */
#define WS_HANDSHAKE_ERR_EXTENSION (-8)  /* an extension we did not offer */

struct ws_handshake_header {
    struct span name;
    struct span value;
};

/* A parsed HTTP head. Requests use method, responses use status. */
struct ws_handshake_http {
    struct span method;
    unsigned status;
    unsigned version_major;
    unsigned version_minor;
    const struct ws_handshake_header *headers;
    size_t nheaders;
};

struct ws_handshake_server_config {
    /* Allowed Origin values (e.g. "https://app.example.com"), compared
     * ASCII case-insensitively. norigins == 0 disables the origin check. */
    const struct span *origins;
    size_t norigins;
    /* With origins configured: non-zero also refuses a request that carries
     * no Origin header (only browsers send one; 0 lets other clients in). */
    int origin_required;
};

struct ws_handshake_server {
    /* 101 when the request is a valid upgrade, else 400, 403 or 426. */
    unsigned status;
    /* Why the request was refused (static ASCII text, for logs), or NULL. */
    const char *reason;
    /* Header lines to add to a refusal, CRLF-terminated, static storage:
     * "Sec-WebSocket-Version: 13\r\n" for 426, empty otherwise. */
    struct span extra_headers;
    /* 101 only: the Sec-WebSocket-Accept value, NUL-terminated. */
    char accept[WS_HANDSHAKE_ACCEPT_LEN + 1];
    /* 101 only: the offered subprotocols in order, and the Origin (empty
     * when absent); spans into the request's header values. */
    struct span protocols[WS_HANDSHAKE_MAX_PROTOCOLS];
    size_t nprotocols;
    struct span origin;
};

/*
 * Computes Sec-WebSocket-Accept for key (the Sec-WebSocket-Key value as
 * sent): base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")).
 * Writes WS_HANDSHAKE_ACCEPT_LEN characters and a NUL into out.
 */
void ws_handshake_accept(char out[WS_HANDSHAKE_ACCEPT_LEN + 1], struct span key);

/*
 * Validates an upgrade request (RFC 6455 §4.2.1) and fills *hs. Returns
 * hs->status:
 *   101  all good: hs->accept, hs->protocols, hs->origin are set;
 *   400  not GET, not HTTP/1.1 or later, Host missing or repeated, Upgrade
 *        without the "websocket" token, Connection without the "upgrade"
 *        token, Sec-WebSocket-Key missing, repeated or not the base64 of 16
 *        bytes, a subprotocol that is not a token, or too many of them;
 *   426  Sec-WebSocket-Version missing or not exactly 13; respond with
 *        hs->extra_headers ("Sec-WebSocket-Version: 13");
 *   403  the Origin is not allowed by cfg (cfg may be NULL: no check).
 * hs->reason says which check failed. The spans in *hs borrow from req's
 * header storage and live as long as it does.
 */
unsigned ws_handshake_server_check(struct ws_handshake_server *hs,
                                   const struct ws_handshake_http *req,
                                   const struct ws_handshake_server_config *cfg);

/*
 * Checks a subprotocol chosen by the backend: an empty span (no
 * subprotocol) is always fine, otherwise it must equal (byte for byte) one
 * of hs->protocols. Returns 0 or WS_HANDSHAKE_ERR_PROTOCOL.
 */
int ws_handshake_server_select(const struct ws_handshake_server *hs, struct span protocol);

/*
 * Writes the response head for hs into out (cap bytes), ending with the
 * blank line. For 101: Upgrade, Connection, Sec-WebSocket-Accept and, when
 * protocol is not empty, Sec-WebSocket-Protocol (protocol must pass
 * ws_handshake_server_select). For a refusal: the status line,
 * hs->extra_headers, "Connection: close" and "Content-Length: 0". Returns
 * the length written, WS_HANDSHAKE_ERR_PROTOCOL, WS_HANDSHAKE_ERR_INVALID
 * (hs->status is not one ws_handshake_server_check produces) or
 * WS_HANDSHAKE_ERR_SPACE. Not NUL-terminated.
 */
int ws_handshake_server_response(char *out, size_t cap, const struct ws_handshake_server *hs,
                                 struct span protocol);

struct ws_handshake_client {
    struct span host;             /* Host value, e.g. "app.internal:8080"; required */
    struct span target;           /* request-target, e.g. "/socket?room=1"; required */
    struct span origin;           /* Origin value; empty: not sent */
    const struct span *protocols; /* subprotocols to offer (tokens), may be NULL */
    size_t nprotocols;
    /* Further header fields to send (e.g. Authorization). They must not be
     * ones this module writes (Host, Origin, Upgrade, Connection,
     * Sec-WebSocket-*), nor Content-Length or Transfer-Encoding. */
    const struct ws_handshake_header *headers;
    size_t nheaders;
};

/*
 * Writes an upgrade request for c into out (cap bytes), ending with the
 * blank line. The key is base64(nonce): nonce MUST be 16 fresh random bytes
 * per request (the caller owns randomness, e.g. randombytes_buf). The key is
 * also stored NUL-terminated in key_out for ws_handshake_client_check.
 * Every field is checked so that nothing can inject a header line: host,
 * target and origin must be visible ASCII without spaces, protocols and
 * header names must be tokens, header values must not contain CR, LF or
 * NUL. Returns the length written, WS_HANDSHAKE_ERR_INVALID or
 * WS_HANDSHAKE_ERR_SPACE. Not NUL-terminated.
 */
int ws_handshake_client_request(char *out, size_t cap, const struct ws_handshake_client *c,
                                const uint8_t nonce[WS_HANDSHAKE_NONCE_LEN],
                                char key_out[WS_HANDSHAKE_KEY_LEN + 1]);

/*
 * Validates the server's response head (RFC 6455 §4.1) to a request made
 * with key and offering protocols[0..nprotocols): HTTP/1.1 (or later 1.x)
 * status 101, Upgrade with the "websocket" token, Connection with the
 * "upgrade" token, exactly one Sec-WebSocket-Accept equal to the expected
 * value, at most one Sec-WebSocket-Protocol naming one offered subprotocol
 * (none when none were offered), and no extension (none is ever offered).
 * Returns 0 and sets *protocol (if not NULL) to the chosen subprotocol (a
 * span into resp, empty when none), or the first failing
 * WS_HANDSHAKE_ERR_* check.
 */
int ws_handshake_client_check(const struct ws_handshake_http *resp, struct span key,
                              const struct span *protocols, size_t nprotocols,
                              struct span *protocol);

/* Static text for a WS_HANDSHAKE_ERR_* code (or "unknown error"). */
const char *ws_handshake_strerror(int err);

#endif
