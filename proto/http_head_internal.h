/*
 * proto/http_head_internal.h — head scanner and field collector shared by
 * http_req.c and http_resp.c. Not for other callers.
 *
 * Why a scanner: the Debian llhttp is compiled in its lenient mode, which
 * accepts obs-fold continuation lines, an empty field name, DEL in values,
 * several spaces in the request line, bare CR at the end of trailers and
 * HTTP/0.9 request lines. Rather than guessing from callback positions, the
 * parsers run every head (and trailer section) through this byte scanner
 * first and hand llhttp only bytes the scanner accepted. It also finds where
 * the head ends, so the parser can feed llhttp the head and the body
 * separately, and it counts the head size before anything is buffered.
 *
 * Why a collector: llhttp reports the target and each field in pieces, one
 * per feed. Spans stay pointers into the caller's feed while the whole head
 * arrives in one feed (the common case: no copy). When a head straddles
 * feeds, http_head_feed_end copies the bytes of the feed that are part of
 * the head into the spill buffer and re-points the spans; a piece that
 * continues a spilled span is appended right behind it, so every span stays
 * contiguous. The spill buffer never holds more than the head, which the
 * scanner bounds.
 */
#ifndef H8S_PROTO_HTTP_HEAD_INTERNAL_H
#define H8S_PROTO_HTTP_HEAD_INTERNAL_H

#include "proto/http_head.h"

#define HTTP_HEAD_SCAN_REQUEST 1  /* request-line, then fields */
#define HTTP_HEAD_SCAN_RESPONSE 2 /* status-line, then fields */
#define HTTP_HEAD_SCAN_TRAILER 3  /* fields only */

#define HTTP_HEAD_E_BARE_CR (-1)
#define HTTP_HEAD_E_BARE_LF (-2)
#define HTTP_HEAD_E_CTL (-3)        /* control byte (or DEL) */
#define HTTP_HEAD_E_FOLD (-4)       /* line starts with SP or HTAB */
#define HTTP_HEAD_E_EMPTY_NAME (-5) /* line starts with ':' */
#define HTTP_HEAD_E_START (-6)      /* request line spacing */
#define HTTP_HEAD_E_TOO_BIG (-7)    /* over the limit in the fields */
#define HTTP_HEAD_E_LINE_BIG (-8)   /* over the limit in the start line */

void http_head_scan_init(struct http_head_scan *s, int kind, size_t limit);

/*
 * Scans len bytes. Returns 1 when the head ends within them (*used = bytes
 * up to and including its final LF), 0 when all of them belong to the head
 * and more are needed (*used = len), or an HTTP_HEAD_E_* code (*used =
 * offset of the offending byte). Not sticky: the caller stops on error.
 */
int http_head_scan(struct http_head_scan *s, const uint8_t *p, size_t len, size_t *used);

/* Short text for an HTTP_HEAD_E_* code. */
const char *http_head_scan_reason(int err);

#define HTTP_HEAD_CUR_NONE 0
#define HTTP_HEAD_CUR_LINE 1
#define HTTP_HEAD_CUR_NAME 2
#define HTTP_HEAD_CUR_VALUE 3

/* Binds the spill buffer (cap bytes) and the field limit (capped at
 * HTTP_HEAD_MAX_FIELDS), then resets. */
void http_head_init(struct http_head *h, uint8_t *buf, size_t cap, size_t max_fields);

/* Forgets the previous head; the spill buffer is empty again. */
void http_head_reset(struct http_head *h);

/* Declares the bytes about to go through llhttp for this head. */
void http_head_feed_begin(struct http_head *h, const uint8_t *p, size_t n);

/*
 * A piece of the start-line span, a field name or a field value. Returns 0,
 * or -1 when the pieces do not line up with the feed (cannot happen with
 * llhttp; checked so a surprise fails closed).
 */
int http_head_piece(struct http_head *h, int what, const uint8_t *at, size_t n);

/*
 * The span being received (target, name or value) is complete; a value
 * loses its trailing whitespace. The next piece starts a new span, so an
 * empty value between two names cannot merge them.
 */
void http_head_done(struct http_head *h);

/*
 * The feed ended before the head did: copies the rest of the feed into the
 * spill buffer and re-points spans. Returns 0, or -1 when the spill buffer
 * is too small (cannot happen when it holds the scanner's limit).
 */
int http_head_feed_end(struct http_head *h);

#endif
