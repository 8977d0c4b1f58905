/*
 * proto/h8s_ctl.h — the flow-control part of the h8s wire convention
 * (docs/PROTOCOL.md §4): reading the X-H8s-Control / X-H8s-Seq /
 * X-H8s-Credit headers of a message, building the small control messages,
 * and the receiving end of a sequenced stream with credit.
 *
 * Both daemons use it: the agent receives request-body streams and reads
 * the gateway's credit; the gateway receives response streams and reads the
 * agent's credit. Pure functions and caller-owned structs: no allocation,
 * no I/O, no globals.
 *
 * Numbers on the wire (X-H8s-Seq, X-H8s-Credit, X-H8s-Window) are plain
 * decimal: 1 to 20 digits, no sign, no leading zero (except "0" itself),
 * at most UINT64_MAX. Anything else is H8S_CTL_E_FORMAT.
 */
#ifndef H8S_PROTO_H8S_CTL_H
#define H8S_PROTO_H8S_CTL_H

#include <stddef.h>
#include <stdint.h>

#include "proto/span.h"

/* Longest subject accepted in X-H8s-Agent-Subject (and, by the agent, as a
 * reply or close subject). */
#define H8S_CTL_SUBJECT_MAX 256
/* A header-block buffer this large fits every message the builders make. */
#define H8S_CTL_HDR_MAX (128 + H8S_CTL_SUBJECT_MAX)
/* Longest abort reason kept (a token such as "client_closed"). */
#define H8S_CTL_REASON_MAX 64

/* Error codes (negative). */
#define H8S_CTL_E_FORMAT (-1)    /* malformed block, number or repeated header */
#define H8S_CTL_E_SEQ (-2)       /* gap or repeat in X-H8s-Seq, or a chunk without one */
#define H8S_CTL_E_OVERFLOW (-3)  /* more bytes than the credit granted */
#define H8S_CTL_E_AFTER_END (-4) /* a message after the end of the stream */
#define H8S_CTL_E_LENGTH (-5)    /* total differs from the declared length */
#define H8S_CTL_E_NOSPC (-6)     /* builder: buffer too small */
#define H8S_CTL_E_ARG (-7)       /* builder: subject or reason not acceptable */

/* What a message is, from its X-H8s-Control header. */
enum h8s_ctl_kind {
    H8S_CTL_DATA = 0, /* no X-H8s-Control: part of a body (or a plain reply) */
    H8S_CTL_READY,
    H8S_CTL_CREDIT,
    H8S_CTL_ABORT,
    H8S_CTL_OTHER /* an X-H8s-Control value this version does not know */
};

/* Which optional fields of struct h8s_ctl are set. */
#define H8S_CTL_HAS_SEQ 0x01
#define H8S_CTL_HAS_CREDIT 0x02
#define H8S_CTL_HAS_AGENT 0x04
#define H8S_CTL_HAS_REASON 0x08
#define H8S_CTL_HAS_STATUS 0x10 /* the block's status line carries a status */

/* The flow-control view of one message's header block. */
struct h8s_ctl {
    enum h8s_ctl_kind kind;
    unsigned has;              /* H8S_CTL_HAS_* */
    int status;                /* NATS status (503: no responders), when HAS_STATUS */
    uint64_t seq;              /* X-H8s-Seq */
    uint64_t credit;           /* X-H8s-Credit */
    struct span agent_subject; /* X-H8s-Agent-Subject, a valid subject */
    struct span reason;        /* X-H8s-Reason (an abort's reason token) */
};

/*
 * Reads the flow-control headers of hdr (a NATS header block; hdr.n == 0
 * means a message without headers: kind H8S_CTL_DATA, nothing set). Names
 * are matched case-insensitively; other headers are ignored. A header
 * repeated with the same value counts once; repeated with another value
 * it is H8S_CTL_E_FORMAT, as is an X-H8s-Agent-Subject that is not a
 * valid subject (h8s_ctl_subject_ok) or a reason longer than
 * H8S_CTL_REASON_MAX or not a token.
 * Spans in *c point into hdr. Returns 0 or H8S_CTL_E_FORMAT (then *c is
 * unspecified).
 */
int h8s_ctl_parse(struct h8s_ctl *c, struct span hdr);

/*
 * Parses a wire number (see above) into *v. Returns 0 or H8S_CTL_E_FORMAT.
 */
int h8s_ctl_number(struct span s, uint64_t *v);

/*
 * 1 when s can be published to: 1..H8S_CTL_SUBJECT_MAX bytes of printable
 * ASCII (no space, no control, no DEL, nothing above 0x7e), tokens
 * separated by single dots, none empty, no wildcard token ('*' or '>'
 * alone). 0 otherwise.
 */
int h8s_ctl_subject_ok(struct span s);

/*
 * Builders: each writes a complete NATS header block into buf (cap bytes;
 * H8S_CTL_HDR_MAX always suffices) and sets *out to it. They return 0,
 * H8S_CTL_E_NOSPC or H8S_CTL_E_ARG.
 *
 *   ready:  X-H8s-Control: ready, X-H8s-Agent-Subject, X-H8s-Credit
 *   credit: X-H8s-Control: credit, X-H8s-Credit
 *   abort:  X-H8s-Control: abort, X-H8s-Reason (reason: a token of at most
 *           H8S_CTL_REASON_MAX bytes)
 *   seq:    X-H8s-Seq (a chunk, or with no data the end of a stream)
 */
int h8s_ctl_build_ready(uint8_t *buf, size_t cap, struct span agent_subject, uint64_t credit,
                        struct span *out);
int h8s_ctl_build_credit(uint8_t *buf, size_t cap, uint64_t credit, struct span *out);
int h8s_ctl_build_abort(uint8_t *buf, size_t cap, struct span reason, struct span *out);
int h8s_ctl_build_seq(uint8_t *buf, size_t cap, uint64_t seq, struct span *out);

/* ------------------------------------------------------------ receiver */

/*
 * The receiving end of one sequenced stream (a request body at the agent,
 * a response body at the gateway). It checks order and credit and says
 * when to grant more; the caller moves the bytes. Errors are sticky.
 */
struct h8s_ctl_rx {
    uint64_t next_seq; /* the X-H8s-Seq the next message must carry */
    uint64_t received; /* body bytes accepted so far */
    uint64_t granted;  /* cumulative credit given to the sender */
    uint64_t declared; /* total announced (Content-Length); UINT64_MAX if none */
    int done;          /* the end message arrived */
    int err;           /* sticky H8S_CTL_E_* */
};

/*
 * Starts a stream whose sender may send credit bytes before any further
 * grant (the credit announced in the first message: X-H8s-Credit of
 * "ready", or the request's X-H8s-Window) and that announced declared
 * bytes in all (UINT64_MAX when unknown).
 */
void h8s_ctl_rx_init(struct h8s_ctl_rx *rx, uint64_t credit, uint64_t declared);

/* h8s_ctl_rx_msg results. */
#define H8S_CTL_RX_DATA 0 /* deliver the n bytes of this message */
#define H8S_CTL_RX_END 1  /* the stream is complete (n was 0) */

/*
 * Accounts one message of the stream, already read with h8s_ctl_parse into
 * *c (kind H8S_CTL_DATA), carrying n bytes of data. A message with data
 * must carry the next X-H8s-Seq and stay within the credit and the
 * declared total; an empty one with the next X-H8s-Seq ends the stream,
 * and the total must then equal the declared one. Returns H8S_CTL_RX_DATA,
 * H8S_CTL_RX_END, or a negative H8S_CTL_E_* (sticky: every later call
 * returns it).
 */
int h8s_ctl_rx_msg(struct h8s_ctl_rx *rx, const struct h8s_ctl *c, size_t n);

/*
 * Credit policy: the receiver has handed consumed bytes on (to the app, to
 * the client) and wants at most window bytes in flight. Returns 1 and sets
 * *credit to the new cumulative grant (consumed + window) when that exceeds
 * the last grant by at least window / 2 (so grants are not sent for every
 * small step, and a sender that exhausted its credit always gets more once
 * half of it is consumed); 0 otherwise. Records the grant.
 */
int h8s_ctl_rx_grant(struct h8s_ctl_rx *rx, uint64_t consumed, uint64_t window, uint64_t *credit);

/* Static description of an H8S_CTL_E_* code. */
const char *h8s_ctl_strerror(int err);

#endif
