/*
 * proto/h8s_req_encode.h — the NATS side of a client request: the request
 * subject, the reply and connection-close subjects, and the header block of
 * the request message (docs/PROTOCOL.md §1 and §2).
 *
 * Sans-I/O and allocation-free: the caller hands in a parsed request
 * (proto/http_req.h, so this runs inside on_head while the request's spans
 * are valid) and one output buffer; every output is a span into that buffer.
 *
 * Header block, in this order:
 *   - every client field in wire order, name in canonical MIME form, minus:
 *     hop-by-hop fields (those of http_head_hop_by_hop, so also every field
 *     named in a Connection field), Host, Content-Length, Expect (the
 *     gateway answers it), every X-H8s-* field (a client must never speak
 *     for the gateway), the X-Forwarded-* fields the gateway rewrites, and
 *     Authorization with H8S_REQ_ENC_STRIP_AUTH (the gateway's own key);
 *   - Host: the request's own Host (or the authority of an absolute-form
 *     target);
 *   - X-Forwarded-For: the values the client sent, joined with ", ", then
 *     the client address; just the client address when it sent none;
 *   - X-Forwarded-Proto: "http" ("https" with H8S_REQ_ENC_TLS); with
 *     H8S_REQ_ENC_TRUST_FORWARDED the client's own first value when it sent
 *     one;
 *   - X-Forwarded-Host: the request's Host; with TRUST_FORWARDED the
 *     client's first X-Forwarded-Host field when it sent one;
 *   - the body fields of in->body (below);
 *   - X-H8s-PublishSubject, X-H8s-ReplySubject, X-H8s-Original-Path (the
 *     raw path; "/" for an absolute-form target without one),
 *     X-H8s-Original-Query (raw, possibly empty),
 *     X-H8s-Connection-Close-Subject, and X-H8s-Window when in->window > 0.
 *
 * Body fields by in->body:
 *   H8S_REQ_BODY_NONE    Content-Length: 0 when the client sent a
 *                        Content-Length field, nothing otherwise;
 *   H8S_REQ_BODY_INLINE  Content-Length: in->body_len (the message data);
 *   H8S_REQ_BODY_STREAM  X-H8s-Body: stream, and Content-Length when the
 *                        request has one;
 *   H8S_REQ_BODY_LATER   nothing yet: the caller decides once the body
 *                        (chunked, length unknown) is read, and adds the
 *                        fields with h8s_req_encode_append.
 *
 * Routing: the host that routes the request (subject, host filters,
 * interest) is the request's own Host; only with TRUST_FORWARDED does a
 * client-sent X-Forwarded-Host take its place (h8s_req_encode_route).
 */
#ifndef H8S_PROTO_H8S_REQ_ENCODE_H
#define H8S_PROTO_H8S_REQ_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "proto/http_req.h"
#include "proto/nats_hdr.h"
#include "proto/span.h"
#include "proto/subject.h"

/* Flags of struct h8s_req_encode_in. */
#define H8S_REQ_ENC_TRUST_FORWARDED 0x01 /* a proxy the operator controls sets X-Forwarded-* */
#define H8S_REQ_ENC_TLS 0x02             /* the client connection was TLS */
#define H8S_REQ_ENC_STRIP_AUTH 0x04      /* Authorization carries the gateway's key: drop it */

#define H8S_REQ_BODY_NONE 0
#define H8S_REQ_BODY_INLINE 1
#define H8S_REQ_BODY_STREAM 2
#define H8S_REQ_BODY_LATER 3

/* "h8s.control.connection.closed.<gw id>.<req id>" at its longest. */
#define H8S_REQ_CLOSE_MAX (sizeof(SUBJECT_CONN_CLOSED_PREFIX) - 1 + 2 * SUBJECT_ID_MAX + 1)
/* Output buffer that always suffices: the three subjects plus the largest
 * header block NATS carries. A smaller buffer is fine; the encoder reports
 * H8S_REQ_E_SPACE when the block does not fit. */
#define H8S_REQ_ENCODE_BUFSZ (SUBJECT_MAX + SUBJECT_REPLY_MAX + H8S_REQ_CLOSE_MAX + NATS_HDR_MAX)
/* Room h8s_req_encode_append needs for one length field. */
#define H8S_REQ_APPEND_ROOM 64

/* Errors (negative). h8s_req_encode_status maps them to an HTTP status. */
#define H8S_REQ_E_HOST (-1)     /* invalid Host: 400 */
#define H8S_REQ_E_PATH (-2)     /* invalid percent-encoding: 400 */
#define H8S_REQ_E_METHOD (-3)   /* method not subject-safe: 400 */
#define H8S_REQ_E_TOO_LONG (-4) /* subject longer than SUBJECT_MAX: 414 */
#define H8S_REQ_E_SPACE (-5)    /* header block over the buffer or NATS_HDR_MAX: 431 */
#define H8S_REQ_E_ID (-6)       /* gateway or request id not a subject token: 500 */
#define H8S_REQ_E_VALUE (-7)    /* a field NATS cannot carry: 400 */
#define H8S_REQ_E_ARG (-8)      /* caller error (bad body mode, missing request): 500 */

struct h8s_req_encode_in {
    const struct http_req *req; /* as handed to on_head */
    struct span client_addr;    /* peer IP as text, no port, no brackets */
    struct span gw_id;          /* this gateway connection's id (one token) */
    struct span req_id;         /* this exchange's id (one token) */
    unsigned flags;             /* H8S_REQ_ENC_* */
    int body;                   /* H8S_REQ_BODY_* */
    uint64_t body_len;          /* H8S_REQ_BODY_INLINE: bytes of message data */
    uint64_t window;            /* X-H8s-Window value; 0 leaves it out */
};

/* Every span points into the caller's output buffer. */
struct h8s_req_encode_out {
    struct span subject;       /* h8s.http.<METHOD>.<rhost>[.<path tokens>] */
    struct span reply;         /* _INBOX.h8s.<gw id>.<req id> */
    struct span close_subject; /* h8s.control.connection.closed.<gw id>.<req id> */
    struct span hdr;           /* the NATS header block, "NATS/1.0\r\n...\r\n\r\n" */
};

/*
 * The host that routes req: with H8S_REQ_ENC_TRUST_FORWARDED in flags and an
 * X-Forwarded-Host field present, the first element of its first field
 * (whitespace trimmed); otherwise req->host. Points into the request (valid
 * as long as its spans).
 */
struct span h8s_req_encode_route(const struct http_req *req, unsigned flags);

/*
 * Builds everything described above into buf (cap bytes; H8S_REQ_ENCODE_BUFSZ
 * always suffices) and fills *out. Nothing else is written or kept.
 * Returns 0 or an H8S_REQ_E_* code; on error *out and buf hold garbage.
 */
int h8s_req_encode(struct h8s_req_encode_out *out, uint8_t *buf, size_t cap,
                   const struct h8s_req_encode_in *in);

/*
 * Adds "key: val" at the end of a header block made by h8s_req_encode (or
 * any valid block) that lives at block[0 .. *len), in a buffer of cap bytes:
 * the field goes before the closing empty line and *len grows. key must be
 * a token (written in canonical MIME form), val free of control bytes other than HTAB. Returns 0,
 * H8S_REQ_E_SPACE (the block would pass cap or NATS_HDR_MAX), or
 * H8S_REQ_E_VALUE; on error the block is unchanged.
 */
int h8s_req_encode_append(uint8_t *block, size_t cap, size_t *len, struct span key,
                          struct span val);

/* The HTTP status to answer an H8S_REQ_E_* code with (400, 414, 431, 500). */
int h8s_req_encode_status(int err);

/* A static description of an H8S_REQ_E_* code. */
const char *h8s_req_encode_strerror(int err);

#endif
