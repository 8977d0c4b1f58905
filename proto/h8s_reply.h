/*
 * proto/h8s_reply.h — how the gateway reads the messages of one exchange's
 * reply subject (docs/PROTOCOL.md §3 and §4): a state machine per
 * exchange, NATS messages in, events out.
 *
 * Sans-I/O: no allocation, no sockets, no clock. The caller embeds struct
 * h8s_reply in its exchange, feeds every message that arrives on the
 * exchange's reply subject with h8s_reply_feed and acts on the event it
 * gets back (one event per message). Timeouts are the caller's.
 *
 * What a message means
 *   - Any message with X-H8s-Control is a control message, never part of
 *     the response: "ready" (the agent takes the request body: it carries
 *     X-H8s-Agent-Subject and X-H8s-Credit), "credit" (X-H8s-Credit, the
 *     cumulative request-body bytes the agent allows), "abort" (the
 *     responder gave up: H8S_REPLY_E_ABORTED). Unknown control values are
 *     ignored, so later extensions do not break this gateway.
 *   - Before the response: NATS status 503 is "no responders"; a message
 *     without headers is a complete 200 whose body is the data; a message
 *     with Content-Length is a complete response; any other message with
 *     headers starts a streamed response. Status from Status-Code, else the
 *     number that starts Status, else 200; it must be 200..999 (the gateway
 *     never forwards interim responses).
 *   - In a stream: each message's data is the next piece of body; a message
 *     without data ends the stream.
 *   - After the end (or a failure) messages are ignored (H8S_REPLY_EV_NONE),
 *     a late credit for instance.
 *
 * Flow control and sequence numbers
 *   - A first response message carrying X-H8s-Agent-Subject comes from a
 *     responder with flow control: it may send at most the window (given
 *     at init, the X-H8s-Window the request carried) plus the credit the
 *     caller granted since (h8s_reply_credit) of body bytes; more is
 *     H8S_REPLY_E_OVERFLOW. Every stream message after the first must then
 *     carry X-H8s-Seq 1, 2, 3, ... (the end message too).
 *   - A responder without flow control (the Go h8s, a plain NATS responder)
 *     may omit X-H8s-Seq; when a message carries one it must still be the
 *     next number, and once one did, all later ones must. Its body is
 *     bounded by the caller's buffer instead: each feed says how many bytes
 *     the caller can still take ("room"); a message with more body than
 *     that is H8S_REPLY_E_OVERFLOW, never a silent truncation.
 *   - A gap, a repeat or a missing number is H8S_REPLY_E_SEQ.
 *
 * Errors are sticky: after the first, every feed returns it again and no
 * other event is produced. The caller aborts the exchange (502 when
 * nothing was sent to the client yet, a cut connection otherwise) and may
 * publish h8s_reply_reason(err) on the connection-close subject.
 *
 * Headers to forward: h8s_reply_fwd_next walks an event's header block
 * and skips Status, Status-Code, every X-H8s-* field, hop-by-hop fields
 * (and those a Connection field names), Content-Length and
 * Transfer-Encoding (the caller frames the body itself).
 */
#ifndef H8S_PROTO_H8S_REPLY_H
#define H8S_PROTO_H8S_REPLY_H

#include <stddef.h>
#include <stdint.h>

#include "proto/nats_hdr.h"
#include "proto/span.h"
#include "proto/subject.h"

/* Events (h8s_reply_feed results, >= 0). */
#define H8S_REPLY_EV_NONE 0          /* nothing to do (ignored message) */
#define H8S_REPLY_EV_RESPONSE 1      /* a complete response: status, hdr, body */
#define H8S_REPLY_EV_STREAM_START 2  /* status, hdr, and maybe a first piece of body */
#define H8S_REPLY_EV_STREAM_DATA 3   /* the next piece of body */
#define H8S_REPLY_EV_STREAM_END 4    /* the stream is complete */
#define H8S_REPLY_EV_READY 5         /* the agent takes the request body: agent, credit */
#define H8S_REPLY_EV_CREDIT 6        /* request-body credit: credit */
#define H8S_REPLY_EV_NO_RESPONDERS 7 /* nobody listens on the request subject */

/* Errors (negative, sticky). */
#define H8S_REPLY_E_PROTOCOL (-1) /* malformed message: headers, status, length, credit */
#define H8S_REPLY_E_SEQ (-2)      /* sequence gap, repeat or missing number */
#define H8S_REPLY_E_OVERFLOW (-3) /* more body than credit or room allows */
#define H8S_REPLY_E_ABORTED (-4)  /* the responder sent X-H8s-Control: abort */

/* Event flags. */
#define H8S_REPLY_F_NO_BODY 0x1 /* HEAD, 204 or 304: the client gets no body bytes */
#define H8S_REPLY_F_LENGTH 0x2  /* RESPONSE: send Content-Length: content_length */

/* Init flags. */
#define H8S_REPLY_HEAD 0x1 /* the request was HEAD */

/* Longest agent subject kept: "_INBOX.h8s.<id>.<id>". */
#define H8S_REPLY_AGENT_MAX SUBJECT_REPLY_MAX

struct h8s_reply_event {
    int kind;             /* H8S_REPLY_EV_* */
    unsigned flags;       /* H8S_REPLY_F_* (RESPONSE, STREAM_START) */
    int status;           /* RESPONSE, STREAM_START */
    struct nats_hdr hdr;  /* RESPONSE, STREAM_START: the headers (count 0 when none) */
    struct span body;     /* RESPONSE, STREAM_*: bytes for the client (empty with NO_BODY) */
    uint64_t content_length; /* RESPONSE with F_LENGTH */
    uint64_t credit;      /* READY, CREDIT: cumulative request-body bytes allowed */
};

/* Full struct so an exchange can embed it; fields are private. */
struct h8s_reply {
    uint8_t state;
    uint8_t head_req;
    uint8_t fc;       /* the responder does flow control */
    uint8_t seq_mode; /* sequence numbers are required from now on */
    uint8_t no_body;
    int err;
    uint64_t seq_next;
    uint64_t delivered; /* body bytes received in the stream (incl. the first message) */
    uint64_t granted;   /* body bytes the responder may send in all (window + credit) */
    uint64_t step;      /* smallest credit increase worth a message */
    uint64_t req_credit;
    size_t agent_len;
    uint8_t agent[H8S_REPLY_AGENT_MAX];
};

/*
 * Readies r for one exchange. window is the X-H8s-Window the request
 * carried (the body bytes a flow-controlled responder may send before any
 * credit; 0 means none); flags H8S_REPLY_HEAD when the request was HEAD.
 * Credit is granted in steps of at least window / 4 (1 when window < 4).
 */
void h8s_reply_init(struct h8s_reply *r, uint64_t window, unsigned flags);

/*
 * Feeds one message of the exchange: its raw header block (n == 0 for a
 * message without headers; the NATS status, such as 503, is read from its
 * first line) and its data. room is how many body bytes
 * the caller can still buffer for the client right now (UINT64_MAX for no
 * limit). Fills *ev (spans point into hdr and payload: valid as long as
 * they are) and returns its kind, or a negative H8S_REPLY_E_* code.
 */
int h8s_reply_feed(struct h8s_reply *r, struct span hdr, struct span payload, uint64_t room,
                   struct h8s_reply_event *ev);

/*
 * Flow control towards a responder that does it: room is how many more
 * body bytes the caller is willing to buffer beyond those it was already
 * given. Returns 1 and sets *credit to the new cumulative credit to send
 * (X-H8s-Control: credit, X-H8s-Credit: *credit) when it grows by at least
 * one step; 0 when no credit message is due (no flow control, no stream,
 * too small an increase, or failed).
 */
int h8s_reply_credit(struct h8s_reply *r, uint64_t room, uint64_t *credit);

/* The responder's own subject (X-H8s-Agent-Subject), empty when unknown.
 * Points into r. */
struct span h8s_reply_agent(const struct h8s_reply *r);

/* 1 once the response is complete (RESPONSE, STREAM_END or NO_RESPONDERS
 * returned), 0 otherwise. */
int h8s_reply_done(const struct h8s_reply *r);

/* 1 while a stream has started and not ended. */
int h8s_reply_streaming(const struct h8s_reply *r);

/* Body bytes received so far in a stream (for logs and tests). */
uint64_t h8s_reply_delivered(const struct h8s_reply *r);

/* Walks the fields of an event's header block that may reach the client. */
struct h8s_reply_fwd {
    const struct nats_hdr *h;
    struct nats_hdr_iter it;
};

void h8s_reply_fwd_init(struct h8s_reply_fwd *f, const struct nats_hdr *h);

/* Next forwardable field: returns 1 with *key, *val set (spans into the
 * block), 0 at the end. */
int h8s_reply_fwd_next(struct h8s_reply_fwd *f, struct span *key, struct span *val);

/* 1 when a header called key never reaches a client (see above). */
int h8s_reply_internal(struct span key);

/* The wire reason for an error (protocol_error, overflow, ...). */
const char *h8s_reply_reason(int err);

#endif
