/*
 * proto/ws_utf8.h — incremental UTF-8 validation (RFC 3629) for WebSocket
 * text messages and close reasons.
 *
 * A text message arrives in pieces (TCP reads, fragments), and a code point
 * may straddle any two of them. struct ws_utf8 carries the partial code
 * point between calls, so validating piece by piece gives exactly the result
 * of validating the concatenation. Rejected: stray continuation bytes,
 * overlong forms (C0, C1, E0 80..9F, F0 80..8F), UTF-16 surrogates
 * (ED A0..BF), code points above U+10FFFF (F4 90.., F5..FF). Errors are found
 * at the first byte that cannot start or continue a valid sequence, which is
 * what RFC 6455 §8.1 "fail fast" asks for.
 *
 * The struct is plain data: embed it, no allocation, no cleanup.
 */
#ifndef H8S_PROTO_WS_UTF8_H
#define H8S_PROTO_WS_UTF8_H

#include <stddef.h>
#include <stdint.h>

struct ws_utf8 {
    uint8_t need;    /* continuation bytes still expected */
    uint8_t lo, hi;  /* allowed range for the next continuation byte */
    uint8_t invalid; /* sticky */
};

#define WS_UTF8_OK 0         /* valid, ends on a code point boundary */
#define WS_UTF8_INCOMPLETE 1 /* valid so far, ends inside a code point */
#define WS_UTF8_INVALID (-1) /* not UTF-8; stays so until ws_utf8_init */

/* Resets u to the start of a new text. */
void ws_utf8_init(struct ws_utf8 *u);

/*
 * Validates p[0..n) as the continuation of everything fed since
 * ws_utf8_init. Returns WS_UTF8_OK, WS_UTF8_INCOMPLETE or WS_UTF8_INVALID;
 * once invalid, every later call returns WS_UTF8_INVALID without reading p.
 * A complete text is valid only if the last call returned WS_UTF8_OK. p may
 * be NULL when n is 0 (that reports the current state).
 */
int ws_utf8_feed(struct ws_utf8 *u, const uint8_t *p, size_t n);

/* Current state of u, as the last ws_utf8_feed returned it. */
int ws_utf8_status(const struct ws_utf8 *u);

/* One-shot check: 1 when p[0..n) is complete, valid UTF-8, else 0. */
int ws_utf8_valid(const uint8_t *p, size_t n);

#endif
