/*
 * proto/h8s_req_decode.h — the agent's reading of a request message
 * (docs/PROTOCOL.md §2): from the NATS message a gateway published
 * (subject, reply, header block, data) and the route that matched it, the
 * HTTP/1.1 request head to send to the app, plus what the agent needs to
 * answer (reply and close subjects, response window, body framing).
 *
 * Sans-I/O and allocation-free: the head is written into a caller buffer;
 * every other output is a span into the message or the route.
 *
 * The request head
 *     <METHOD> <base path><path>[?<query>] HTTP/1.1
 *     Host: <public host, or the backend's host:port with rewrite_host>
 *     <every header of the message, in order, except those dropped below>
 *     [X-Forwarded-Host: <public host>]   (rewrite_host, when absent)
 *     Content-Length: <n> | Transfer-Encoding: chunked
 *
 *   - METHOD is the subject's method token, which must be an HTTP token;
 *     the subject must be "h8s.http.<METHOD>.<rhost>[.<tokens>]" for the
 *     route's rhost.
 *   - path: X-H8s-Original-Path (must start with '/', or be "*"), else the
 *     subject's path tokens (subject_fallback_path). query:
 *     X-H8s-Original-Query, appended after '?' when not empty. Any byte
 *     outside printable ASCII, and '#' (and '?' in the path), is
 *     percent-encoded, so the target is always one token llhttp accepts;
 *     everything else passes exactly as the client sent it.
 *   - base path: the backend URL's path; "/base" + "/x" gives "/base/x".
 *   - dropped: every X-H8s-* header, hop-by-hop headers (Connection and
 *     the headers it names, Keep-Alive, Proxy-*, Te, Trailer,
 *     Transfer-Encoding, Upgrade), Host, Content-Length and Expect (the
 *     gateway already answered 100-continue; the body is at hand).
 *   - Host: the message's Host (a DNS name or IP literal with optional
 *     port, as subject_host accepts), or the route's host when absent.
 *   - body: the message data, announced with Content-Length (always for a
 *     non-empty body or when the client sent Content-Length, and for
 *     POST, PUT and PATCH). With X-H8s-Body: stream the message carries no
 *     data; the body follows as a stream (§4), announced with the
 *     message's Content-Length when it has one, chunked otherwise.
 *
 * Header values were checked by nats_hdr (no CR, LF or control bytes) and
 * are checked again by the head writer, so nothing a publisher sends can
 * split the head or smuggle a second request.
 */
#ifndef H8S_PROTO_H8S_REQ_DECODE_H
#define H8S_PROTO_H8S_REQ_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "proto/nats_parse.h"
#include "proto/span.h"

/* A head buffer of this size fits the head of any request message: the
 * message's header block is at most NATS_HDR_MAX (64 KiB), and the target,
 * percent-encoded, at most three times its part of it. */
#define H8S_REQ_DECODE_HEAD_MAX (4 * 65536 + 4096)
/* Most header fields forwarded from one message. */
#define H8S_REQ_DECODE_MAX_FIELDS 256

/* Result flags. */
#define H8S_REQ_DECODE_F_HEAD 0x01     /* HEAD: the response has no body */
#define H8S_REQ_DECODE_F_STREAM 0x02   /* the body follows as a stream */
#define H8S_REQ_DECODE_F_CHUNKED 0x04  /* the head announces a chunked body */
#define H8S_REQ_DECODE_F_LENGTH 0x08   /* the head announces content_length */
#define H8S_REQ_DECODE_F_WINDOW 0x10   /* the gateway does flow control: window valid */
#define H8S_REQ_DECODE_F_FALLBACK 0x20 /* path rebuilt from the subject */
#define H8S_REQ_DECODE_F_CLOSE 0x40    /* close_subject is valid */

/* Errors (negative). h8s_req_decode_status maps them to HTTP statuses. */
#define H8S_REQ_DECODE_E_SUBJECT (-1) /* not a request subject of this route: 400 */
#define H8S_REQ_DECODE_E_HEADERS (-2) /* malformed header block or repeated singular header: 400   \
                                       */
#define H8S_REQ_DECODE_E_PATH (-3)    /* X-H8s-Original-Path unusable: 400 */
#define H8S_REQ_DECODE_E_HOST (-4)    /* Host not a DNS name or IP literal: 400 */
#define H8S_REQ_DECODE_E_NUMBER (-5)  /* bad Content-Length or X-H8s-Window: 400 */
#define H8S_REQ_DECODE_E_BODY (-6)    /* bad X-H8s-Body, or a stream with data or no reply: 400 */
#define H8S_REQ_DECODE_E_FIELD (-7)   /* a header name or value HTTP cannot carry: 400 */
#define H8S_REQ_DECODE_E_TOO_BIG (-8) /* head larger than the buffer, or too many fields: 431 */

/* What the agent serves: filled once from its configuration. */
struct h8s_req_decode_route {
    struct span rhost;     /* the host's subject tokens (subject_host) */
    struct span host;      /* the host name, the Host when a message has none */
    struct span base_path; /* backend URL path without trailing '/': "" or "/base" */
    struct span authority; /* backend "host:port", the Host with rewrite_host */
    int rewrite_host;
};

struct h8s_req_decode {
    struct span head;          /* the request head, in the caller's buffer */
    struct span method;        /* into the subject */
    struct span target;        /* into head */
    struct span host;          /* the public host (message or route) */
    struct span reply;         /* the message's reply subject; n == 0 when none */
    struct span close_subject; /* X-H8s-Connection-Close-Subject, when F_CLOSE */
    struct span body;          /* the message data (empty with F_STREAM) */
    uint64_t content_length;   /* announced length, when F_LENGTH */
    uint64_t window;           /* X-H8s-Window, when F_WINDOW */
    unsigned flags;            /* H8S_REQ_DECODE_F_* */
};

/*
 * Decodes m for route rt and writes the request head into buf (cap bytes;
 * H8S_REQ_DECODE_HEAD_MAX always suffices). On success fills *out (spans
 * into m, rt and buf, valid as long as they are) and returns 0. On failure
 * returns a negative H8S_REQ_DECODE_E_* code; out->reply is then still set
 * when the message has a usable reply subject, so the caller can answer
 * with h8s_req_decode_status.
 */
int h8s_req_decode(struct h8s_req_decode *out, const struct h8s_req_decode_route *rt,
                   const struct nats_msg *m, uint8_t *buf, size_t cap);

/* HTTP status answering an H8S_REQ_DECODE_E_* code: 400, or 431 for
 * H8S_REQ_DECODE_E_TOO_BIG. */
int h8s_req_decode_status(int err);

/* Static description of an H8S_REQ_DECODE_E_* code. */
const char *h8s_req_decode_strerror(int err);

#endif
