/*
 * proto/h8s_resp_encode.h — the agent's response framing (docs/PROTOCOL.md
 * §3 and §4): a backend's HTTP response becomes either one complete NATS
 * message or a stream of sequenced chunks, never sending past the
 * gateway's credit.
 *
 * Sans-I/O: the caller parses the backend response (proto/http_resp.h),
 * lends buffers, and publishes what this module frames. No allocation.
 *
 * Use
 *   1. h8s_resp_encode_init with the server's max_payload and the request's
 *      X-H8s-Window (flow control), or without one (a Go gateway: no credit
 *      limit; the caller bounds its own memory by NATS back-pressure).
 *   2. In the backend's on_head: h8s_resp_encode_head writes an *open*
 *      header block (status, backend fields) into a buffer that outlives
 *      the head's spans. The block is closed later, when the framing is
 *      decided, by appending at most H8S_RESP_ENCODE_TAIL_MAX bytes:
 *        - h8s_resp_encode_single: Content-Length; one complete message
 *          whose data is the whole body (h8s_resp_encode_fits says whether
 *          it fits in max_payload);
 *        - h8s_resp_encode_stream: X-H8s-Agent-Subject; the first message
 *          of a stream, which may carry up to h8s_resp_encode_room bytes of
 *          body (account them with h8s_resp_encode_sent).
 *   3. Streaming: h8s_resp_encode_chunk frames the next chunk (X-H8s-Seq)
 *      within the credit; h8s_resp_encode_end frames the empty end message.
 *      h8s_resp_encode_credit applies a gateway credit (cumulative, only the
 *      largest counts).
 *
 * Errors are sticky negative H8S_RESP_ENCODE_E_* codes.
 */
#ifndef H8S_PROTO_H8S_RESP_ENCODE_H
#define H8S_PROTO_H8S_RESP_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "proto/h8s_ctl.h"
#include "proto/http_resp.h"
#include "proto/span.h"

/* Most bytes h8s_resp_encode_single / _stream append to an open head. */
#define H8S_RESP_ENCODE_TAIL_MAX (64 + H8S_CTL_SUBJECT_MAX)
/* A buffer this large fits the header block of any chunk or end message. */
#define H8S_RESP_ENCODE_SEQ_HDR_MAX 64
/* "No limit": the credit of a stream to a gateway without flow control. */
#define H8S_RESP_ENCODE_UNLIMITED UINT64_MAX

#define H8S_RESP_ENCODE_E_NOSPC (-1)  /* buffer too small for the header block */
#define H8S_RESP_ENCODE_E_FIELD (-2)  /* a backend field NATS headers cannot carry */
#define H8S_RESP_ENCODE_E_STATE (-3)  /* call out of order (e.g. chunk before stream) */
#define H8S_RESP_ENCODE_E_CREDIT (-4) /* asked to send past the credit or max_payload */

enum h8s_resp_encode_state {
    H8S_RESP_ENCODE_IDLE,   /* nothing decided yet */
    H8S_RESP_ENCODE_SINGLE, /* one complete message framed */
    H8S_RESP_ENCODE_STREAM, /* streaming: chunks and then the end */
    H8S_RESP_ENCODE_ENDED,  /* the end message was framed */
};

struct h8s_resp_encode {
    size_t max_payload;
    uint64_t credit; /* cumulative body bytes allowed; H8S_RESP_ENCODE_UNLIMITED */
    uint64_t sent;   /* body bytes framed so far in the stream */
    uint64_t seq;    /* last X-H8s-Seq used; 0 before the first chunk */
    enum h8s_resp_encode_state state;
    int flow; /* the gateway announced a window and sends credit */
    int err;  /* sticky */
};

/*
 * Prepares e. flow != 0 when the request carried X-H8s-Window (window is
 * its value: body bytes allowed before the first credit); flow == 0 means
 * no credit limit.
 */
void h8s_resp_encode_init(struct h8s_resp_encode *e, size_t max_payload, int flow, uint64_t window);

/*
 * Writes the open header block for r (the backend's final response head)
 * into buf (cap bytes): "NATS/1.0", Status-Code ("404"), Status ("404 Not
 * Found": the backend's reason phrase, or the standard one), then every
 * backend field, name in canonical MIME form, value as sent, repeated
 * fields kept in order, except hop-by-hop fields (Connection and those it
 * names, Keep-Alive, Transfer-Encoding, ...), Content-Length, Status,
 * Status-Code and every X-H8s-* field. The block is not terminated; *len
 * receives its length. Leave H8S_RESP_ENCODE_TAIL_MAX bytes free behind it
 * for the closing call. Returns 0, H8S_RESP_ENCODE_E_NOSPC or
 * H8S_RESP_ENCODE_E_FIELD (a field value with bytes a NATS header cannot
 * carry). Does not change e: the head may be built before the framing is
 * known.
 */
int h8s_resp_encode_head(const struct http_resp *r, uint8_t *buf, size_t cap, size_t *len);

/*
 * 1 when a complete message with a header block of hdr_len bytes and
 * body_len bytes of data fits in max_payload. 0 otherwise.
 */
int h8s_resp_encode_fits(const struct h8s_resp_encode *e, size_t hdr_len, uint64_t body_len);

/*
 * Closes the open block buf[0..*len) as a complete response:
 * "Content-Length: content_length" and the final CRLF; *len is updated.
 * content_length is what the gateway tells the client: the body's size, or
 * for HEAD and 304 the backend's Content-Length (the message then carries
 * no data). Returns 0 or H8S_RESP_ENCODE_E_NOSPC / _E_STATE (not IDLE).
 */
int h8s_resp_encode_single(struct h8s_resp_encode *e, uint8_t *buf, size_t cap, size_t *len,
                           uint64_t content_length);

/*
 * Closes the open block buf[0..*len) as the first message of a stream:
 * X-H8s-Agent-Subject when agent_subject.n > 0 (where the gateway sends
 * credit and aborts), then the final CRLF. The encoder is then streaming.
 * Returns 0, H8S_RESP_ENCODE_E_NOSPC, _E_FIELD (agent_subject not a valid
 * subject) or _E_STATE.
 */
int h8s_resp_encode_stream(struct h8s_resp_encode *e, uint8_t *buf, size_t cap, size_t *len,
                           struct span agent_subject);

/*
 * While streaming: how many body bytes the next message may carry, given
 * its header block of hdr_len bytes: the unused credit, at most
 * max_payload - hdr_len. 0 when blocked on credit (or not streaming).
 */
uint64_t h8s_resp_encode_room(const struct h8s_resp_encode *e, size_t hdr_len);

/*
 * Accounts n body bytes sent in the first stream message. n must not
 * exceed h8s_resp_encode_room for that message (H8S_RESP_ENCODE_E_CREDIT
 * otherwise, sticky). Returns 0 or the error.
 */
int h8s_resp_encode_sent(struct h8s_resp_encode *e, size_t hdr_len, uint64_t n);

/*
 * Frames the next chunk: with avail body bytes waiting, writes the chunk's
 * header block (X-H8s-Seq: next) into buf (H8S_RESP_ENCODE_SEQ_HDR_MAX
 * suffices) and sets *take to the bytes it may carry (at most avail, within
 * credit and max_payload), accounting them. Returns 1 when a chunk was
 * framed, 0 when blocked on credit (nothing framed, no sequence number
 * used; wait for h8s_resp_encode_credit), or a negative error. avail must
 * be > 0.
 */
int h8s_resp_encode_chunk(struct h8s_resp_encode *e, uint64_t avail, uint8_t *buf, size_t cap,
                          struct span *hdr, uint64_t *take);

/*
 * Frames the empty message that ends the stream (X-H8s-Seq: next). The end
 * carries no data and needs no credit. Returns 0 or a negative error.
 */
int h8s_resp_encode_end(struct h8s_resp_encode *e, uint8_t *buf, size_t cap, struct span *hdr);

/*
 * Applies a credit message from the gateway (X-H8s-Credit, cumulative):
 * the largest value seen counts, a smaller one is ignored. Without flow
 * control credit is unlimited and this does nothing. Returns 1 when the
 * credit grew, 0 otherwise.
 */
int h8s_resp_encode_credit(struct h8s_resp_encode *e, uint64_t credit);

/* Static description of an H8S_RESP_ENCODE_E_* code. */
const char *h8s_resp_encode_strerror(int err);

#endif
