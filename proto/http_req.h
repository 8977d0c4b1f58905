/*
 * proto/http_req.h — HTTP/1.x request parser (llhttp underneath) for the
 * gateway, and the request-line writer for the agent.
 *
 * Bytes in, a request model and body spans out; no sockets, no allocation.
 * The caller embeds struct http_req_parser and lends it a head buffer.
 *
 * Model
 *   - Feed received bytes with http_req_feed. The parser calls ops->on_head
 *     once the head is complete and valid, then ops->on_body for each piece
 *     of de-chunked body, then stops: http_req_feed returns HTTP_REQ_DONE
 *     and *used tells how far it read. Bytes after that belong to the next
 *     (pipelined) request; the parser consumes nothing more until the owner
 *     calls http_req_next, so responses go out in order: answer, then
 *     http_req_next, then feed the rest again (the owner keeps unread bytes
 *     in a bounded buffer of its own, or pauses its socket).
 *   - Spans in struct http_req point into the bytes given to http_req_feed
 *     when the whole head arrived in one feed, and into the head buffer
 *     when it straddled feeds (the straddling part is copied there once; see
 *     http_head_internal.h). Either way they are valid during on_head only.
 *     Body spans are valid during on_body only.
 *   - Every error is sticky and carries the HTTP status to answer with and a
 *     short reason for the log (http_req_status, http_req_reason). The owner
 *     answers with that status and closes: after an error the position in
 *     the byte stream is unknown.
 *
 * Strictness (llhttp is built lenient; these are enforced here, each tested):
 * bare CR or LF anywhere in the head or trailers, obs-fold, control bytes,
 * empty field names, request lines with other than single spaces, versions
 * other than 1.0/1.1 (505), Content-Length with Transfer-Encoding, several
 * Content-Length fields (even equal ones), transfer codings other than a
 * single "chunked" (501; "chunked" not last is 400), malformed chunk sizes
 * and extensions, chunk extensions over HTTP_REQ_CHUNK_EXT_MAX bytes, a
 * missing or repeated Host in HTTP/1.1, fragments in the target, targets
 * that are not origin-form, absolute-form or "*" (OPTIONS only), CONNECT
 * (501), unknown Expect values (417). Limits: head size (431, 414 when the
 * request line alone is over it), field count (431), body size (413, from
 * Content-Length before any body byte is read, or as soon as a chunked
 * body's total passes it).
 *
 * Known llhttp 8.1 quirk: a chunk extension list with a token value before
 * another extension ("5;a=b;c") is refused (400); "5;a;c" and quoted values
 * are fine. Clients practically never send chunk extensions.
 */
#ifndef H8S_PROTO_HTTP_REQ_H
#define H8S_PROTO_HTTP_REQ_H

#include <stddef.h>
#include <stdint.h>

#include <llhttp.h>

#include "proto/http_head.h"
#include "proto/http_llhttp.h"
#include "proto/span.h"

#define HTTP_REQ_DEFAULT_MAX_HEAD 16384 /* --max-header-size default */
#define HTTP_REQ_DEFAULT_MAX_FIELDS 100
#define HTTP_REQ_DEFAULT_MAX_BODY (2u * 1024 * 1024) /* --max-body-size default */
#define HTTP_REQ_CHUNK_EXT_MAX 1024                  /* bytes of extensions per chunk */

/* Request flags (struct http_req.flags). */
#define HTTP_REQ_F_KEEP_ALIVE 0x01      /* the connection may carry another request */
#define HTTP_REQ_F_CONTENT_LENGTH 0x02  /* content_length is valid */
#define HTTP_REQ_F_CHUNKED 0x04         /* chunked body */
#define HTTP_REQ_F_EXPECT_CONTINUE 0x08 /* Expect: 100-continue */
#define HTTP_REQ_F_UPGRADE 0x10         /* Upgrade + Connection: upgrade */
#define HTTP_REQ_F_ABSOLUTE 0x20        /* absolute-form target; host came from it */
#define HTTP_REQ_F_HAS_QUERY 0x40       /* the target has a '?' (query may be empty) */

struct http_req {
    int method;              /* llhttp_method_t */
    struct span method_name; /* "GET", ...: static storage */
    struct span target;      /* raw request target */
    struct span path;        /* raw path: "/..." , "*", or "" (absolute-form without path) */
    struct span query;       /* raw query after '?', without it */
    struct span host;        /* Host value, or the authority of an absolute-form target */
    unsigned version_minor;  /* HTTP/1.<minor> */
    unsigned flags;          /* HTTP_REQ_F_* */
    uint64_t content_length;
    const struct http_head_field *fields; /* every field, in order, names as sent */
    size_t nfields;
};

struct http_req_ops {
    /* Head complete and valid. Return 0 to go on, non-zero to stop parsing
     * (http_req_feed then returns HTTP_REQ_ABORTED). */
    int (*on_head)(void *cookie, const struct http_req *req);
    /* A piece of body (de-chunked). Same return convention. May be NULL. */
    int (*on_body)(void *cookie, const uint8_t *p, size_t n);
};

struct http_req_config {
    size_t max_head;   /* request line + fields, bytes; at most the head buffer */
    size_t max_fields; /* at most HTTP_HEAD_MAX_FIELDS */
    uint64_t max_body; /* request body bytes */
};

/* http_req_feed results. */
#define HTTP_REQ_OK 0         /* every byte consumed; feed more */
#define HTTP_REQ_DONE 1       /* a request is complete; see http_req_next */
#define HTTP_REQ_ERROR (-1)   /* bad request: http_req_status / http_req_reason */
#define HTTP_REQ_ABORTED (-2) /* a callback returned non-zero */

struct http_req_parser {
    struct http_llhttp m;
    struct http_req req;
    const struct http_req_ops *ops;
    void *cookie;
    uint64_t max_body;
    uint64_t body_seen;
    size_t ext_bytes;
    int rc; /* sticky result once failed */
    int status;
    const char *reason;
};

/* Fills cfg with the defaults above. */
void http_req_config_defaults(struct http_req_config *cfg);

/*
 * Prepares p. buf (cap bytes) is the head buffer: it must hold
 * cfg->max_head bytes and outlive p. cfg NULL means defaults (then cap must
 * be at least HTTP_REQ_DEFAULT_MAX_HEAD). ops and cookie are kept. Returns 0,
 * or -1 when cap < max_head or ops/ops->on_head is NULL.
 */
int http_req_init(struct http_req_parser *p, const struct http_req_config *cfg, uint8_t *buf,
                  size_t cap, const struct http_req_ops *ops, void *cookie);

/*
 * Parses up to len bytes (see the model above). *used receives how many
 * were consumed. Returns HTTP_REQ_OK, HTTP_REQ_DONE, HTTP_REQ_ERROR or
 * HTTP_REQ_ABORTED. After DONE, or once failed, further calls consume
 * nothing and return the same result.
 */
int http_req_feed(struct http_req_parser *p, const uint8_t *data, size_t len, size_t *used);

/*
 * After HTTP_REQ_DONE: readies p for the next request on the connection.
 * Returns 0, or -1 when the finished request did not allow another one
 * (not keep-alive, or an Upgrade: the rest of the stream is not HTTP) or p
 * is not at HTTP_REQ_DONE.
 */
int http_req_next(struct http_req_parser *p);

/*
 * The peer closed its side. Returns 0 when that falls between requests,
 * HTTP_REQ_ERROR (status 400, sticky) when a request was incomplete.
 */
int http_req_finish(struct http_req_parser *p);

/* 1 while no byte of the next request has been seen (idle keep-alive). */
int http_req_idle(const struct http_req_parser *p);

/* After HTTP_REQ_ERROR: the HTTP status to answer with (400, 413, 414,
 * 417, 431, 501 or 505). 0 when there is no error. */
int http_req_status(const struct http_req_parser *p);

/* After HTTP_REQ_ERROR or ABORTED: a short static reason for the log. */
const char *http_req_reason(const struct http_req_parser *p);

/*
 * Agent side: appends "METHOD target HTTP/1.1\r\n" to w. method must be a
 * token, target must be non-empty and free of spaces and control bytes
 * (-EINVAL in the writer otherwise).
 */
void http_req_write_line(struct http_head_writer *w, struct span method, struct span target);

#endif
