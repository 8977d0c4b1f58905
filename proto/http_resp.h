/*
 * proto/http_resp.h — HTTP/1.x response parser (llhttp underneath) for the
 * agent, and the response-head writer and chunk framing for the gateway.
 *
 * Parser model (the same as http_req.h):
 *   - Call http_resp_begin before each response, saying whether it answers
 *     a HEAD request. Feed the backend's bytes with http_resp_feed. ops->
 *     on_head sees the final response head (1xx interim responses other
 *     than 101 are skipped, at most HTTP_RESP_MAX_INTERIM of them), then
 *     ops->on_body sees the de-chunked body piece by piece, then
 *     http_resp_feed returns HTTP_RESP_DONE with *used telling how far it
 *     read. A body delimited by the end of the connection completes in
 *     http_resp_finish, called when the backend closes.
 *   - No body for HEAD, 1xx, 204 and 304 whatever Content-Length says (a
 *     304's Content-Length describes the resource, not this message).
 *   - 101 Switching Protocols ends the HTTP part: DONE right after its head
 *     (flag HTTP_RESP_F_UPGRADE); the bytes after it are the new protocol.
 *   - Spans in struct http_resp are valid during on_head only, body spans
 *     during on_body only; a head that straddles feeds is copied into the
 *     caller's head buffer (see http_head_internal.h).
 *   - Errors are sticky; http_resp_reason says why. The agent answers the
 *     client 502 and drops the backend connection.
 *
 * Checked beyond llhttp's lenient build: the same head scanner as requests
 * (bare CR/LF, obs-fold, control bytes, empty names), status 100..599,
 * version 1.0/1.1, transfer codings other than a single "chunked", head
 * size and field count.
 */
#ifndef H8S_PROTO_HTTP_RESP_H
#define H8S_PROTO_HTTP_RESP_H

#include <stddef.h>
#include <stdint.h>

#include <llhttp.h>

#include "proto/http_head.h"
#include "proto/http_llhttp.h"
#include "proto/span.h"

#define HTTP_RESP_DEFAULT_MAX_HEAD 65536
#define HTTP_RESP_DEFAULT_MAX_FIELDS 100
#define HTTP_RESP_MAX_INTERIM 16 /* 1xx responses skipped before the final one */

#define HTTP_RESP_F_KEEP_ALIVE 0x01     /* the connection may carry another exchange */
#define HTTP_RESP_F_CONTENT_LENGTH 0x02 /* content_length is valid and is the body size */
#define HTTP_RESP_F_CHUNKED 0x04        /* chunked body */
#define HTTP_RESP_F_UNTIL_CLOSE 0x08    /* body ends when the connection does */
#define HTTP_RESP_F_NO_BODY 0x10        /* HEAD, 1xx, 204 or 304: no body at all */
#define HTTP_RESP_F_UPGRADE 0x20        /* 101: the stream is no longer HTTP */

struct http_resp {
    int status;
    struct span reason;
    unsigned version_minor;
    unsigned flags;          /* HTTP_RESP_F_* */
    uint64_t content_length; /* as sent (also for HEAD and 304) when a Content-Length was */
    int has_content_length;
    const struct http_head_field *fields;
    size_t nfields;
};

struct http_resp_ops {
    /* Final head. Return 0 to go on, non-zero to stop (HTTP_RESP_ABORTED). */
    int (*on_head)(void *cookie, const struct http_resp *resp);
    /* A piece of body (de-chunked). Same convention. May be NULL. */
    int (*on_body)(void *cookie, const uint8_t *p, size_t n);
};

struct http_resp_config {
    size_t max_head;   /* status line + fields, bytes; at most the head buffer */
    size_t max_fields; /* at most HTTP_HEAD_MAX_FIELDS */
};

#define HTTP_RESP_OK 0
#define HTTP_RESP_DONE 1
#define HTTP_RESP_ERROR (-1)
#define HTTP_RESP_ABORTED (-2)

struct http_resp_parser {
    struct http_llhttp m;
    struct http_resp resp;
    const struct http_resp_ops *ops;
    void *cookie;
    uint8_t head_request;
    uint8_t interim; /* the current message is a skipped 1xx */
    unsigned interims;
    int rc;
    const char *reason;
};

void http_resp_config_defaults(struct http_resp_config *cfg);

/*
 * Prepares p; buf (cap bytes, at least cfg->max_head) is the head buffer and
 * must outlive p. cfg NULL means defaults. Returns 0, or -1 on bad
 * arguments (ops or ops->on_head NULL, buffer too small).
 */
int http_resp_init(struct http_resp_parser *p, const struct http_resp_config *cfg, uint8_t *buf,
                   size_t cap, const struct http_resp_ops *ops, void *cookie);

/*
 * Readies p for the response to the next request; head_request != 0 when
 * that request was HEAD. Call before the first response too. Returns 0, or
 * -1 once p has failed.
 */
int http_resp_begin(struct http_resp_parser *p, int head_request);

/*
 * Parses up to len bytes; *used receives how many were consumed. Returns
 * HTTP_RESP_OK, HTTP_RESP_DONE, HTTP_RESP_ERROR or HTTP_RESP_ABORTED. After
 * DONE, and once failed, it consumes nothing and returns the same result.
 */
int http_resp_feed(struct http_resp_parser *p, const uint8_t *data, size_t len, size_t *used);

/*
 * The backend closed. Returns HTTP_RESP_DONE when that completes a body
 * delimited by the close (or the response was already complete), 0 when
 * nothing of a response had arrived, HTTP_RESP_ERROR (sticky) when a
 * response was cut short.
 */
int http_resp_finish(struct http_resp_parser *p);

/* Short static reason for the last error ("" when none). */
const char *http_resp_reason(const struct http_resp_parser *p);

/* ---------------------------------------------------------------- writer */

/* Standard reason phrase for status ("Not Found"); "" when unknown. */
const char *http_status_reason(int status);

/*
 * Appends "HTTP/1.1 <status> <reason>\r\n" to w. status must be 100..999
 * (-EINVAL in the writer otherwise).
 */
void http_resp_write_status(struct http_head_writer *w, int status);

/* Appends "Content-Length: n\r\n". */
void http_resp_write_length(struct http_head_writer *w, uint64_t n);

/* Appends "Transfer-Encoding: chunked\r\n". */
void http_resp_write_chunked(struct http_head_writer *w);

/* Longest chunk header: 16 hex digits and CRLF. */
#define HTTP_RESP_CHUNK_HEAD_MAX 18
/* What follows each chunk's data, and the end of a chunked body. */
#define HTTP_RESP_CHUNK_TAIL "\r\n"
#define HTTP_RESP_LAST_CHUNK "0\r\n\r\n"

/*
 * Writes the header of an n-byte chunk ("1f40\r\n") into out, which holds
 * HTTP_RESP_CHUNK_HEAD_MAX bytes. n must not be 0 (that is the last chunk).
 * Returns its length, or 0 when n is 0.
 */
size_t http_resp_chunk_head(uint8_t *out, uint64_t n);

#endif
