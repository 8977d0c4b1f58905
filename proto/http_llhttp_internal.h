/*
 * proto/http_llhttp_internal.h — the message engine under http_req.c and
 * http_resp.c. Not for other callers.
 *
 * Each feed goes through three phases. HEAD: the head scanner finds where
 * the head ends and vets its bytes; only those bytes go to llhttp, so
 * llhttp never parses a head byte we have not checked, and the head buffer
 * only ever holds head bytes. BODY: the rest goes to llhttp, which pauses at
 * the end of the message (pipelining) or at the last chunk. TRAILER: the
 * trailer section goes through the scanner again before llhttp sees it.
 *
 * The owner keeps its own llhttp_settings_t, points ll.data at itself, and
 * from its callbacks calls http_llhttp_piece / _span_done / _pause; its
 * feed loop calls http_llhttp_step and turns each result into its own
 * error model.
 */
#ifndef H8S_PROTO_HTTP_LLHTTP_INTERNAL_H
#define H8S_PROTO_HTTP_LLHTTP_INTERNAL_H

#include "proto/http_head_internal.h"
#include "proto/http_llhttp.h"

#define HTTP_LLHTTP_PH_HEAD 0
#define HTTP_LLHTTP_PH_BODY 1
#define HTTP_LLHTTP_PH_TRAILER 2
#define HTTP_LLHTTP_PH_DONE 3

#define HTTP_LLHTTP_PAUSE_NONE 0
#define HTTP_LLHTTP_PAUSE_END 1        /* message complete */
#define HTTP_LLHTTP_PAUSE_LAST_CHUNK 2 /* zero-size chunk: trailers follow */

/* http_llhttp_piece errors. */
#define HTTP_LLHTTP_E_ORDER (-1)    /* pieces do not line up with the feed */
#define HTTP_LLHTTP_E_TOO_MANY (-2) /* over the field limit */

/* http_llhttp_step results. */
#define HTTP_LLHTTP_MORE 0         /* *used bytes consumed; go on */
#define HTTP_LLHTTP_END 1          /* a message ended (pause is PAUSE_END) */
#define HTTP_LLHTTP_E_SCAN (-1)    /* *err: HTTP_HEAD_E_*; *used: offset of the bad byte */
#define HTTP_LLHTTP_E_PARSE (-2)   /* *err: llhttp_errno_t; *used: 0 */
#define HTTP_LLHTTP_E_SPILL (-3)   /* a straddling head did not fit the head buffer */
#define HTTP_LLHTTP_E_TRAILER (-4) /* the trailer section ended but llhttp's message did not */

/*
 * Prepares m for messages of llhttp type (HTTP_REQUEST or HTTP_RESPONSE),
 * scanned as scan_kind. settings must outlive m; owner becomes ll.data.
 * buf (cap bytes) is the head spill buffer, kept by m. Then starts the first
 * message (http_llhttp_start).
 */
void http_llhttp_init(struct http_llhttp *m, llhttp_type_t type, const llhttp_settings_t *settings,
                      void *owner, int scan_kind, uint8_t *buf, size_t cap, size_t max_fields,
                      size_t max_head);

/* Resets llhttp, the collector and the scanner for a new message (HEAD). */
void http_llhttp_start(struct http_llhttp *m);

/*
 * From the owner's start-line / field-name / field-value callbacks (what is
 * HTTP_HEAD_CUR_*). Trailer pieces are vetted by the scanner and dropped.
 * Returns 0 or an HTTP_LLHTTP_E_* piece error.
 */
int http_llhttp_piece(struct http_llhttp *m, int what, const char *at, size_t n);

/* From the owner's on_*_complete callbacks for those spans. */
void http_llhttp_span_done(struct http_llhttp *m);

/* Records why llhttp is to pause; returns HPE_PAUSED for the callback. */
int http_llhttp_pause(struct http_llhttp *m, int why);

/*
 * Runs one step over data[0..len) (len > 0, phase not DONE): scanner, then
 * llhttp, then the phase change at a head end or last chunk. Returns an
 * HTTP_LLHTTP_* result with *used as documented there; on MORE, END and
 * E_SPILL *used is the number of bytes llhttp consumed.
 */
int http_llhttp_step(struct http_llhttp *m, const uint8_t *data, size_t len, size_t *used,
                     int *err);

#endif
