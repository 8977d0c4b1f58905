/*
 * proto/nats_parse.h — incremental parser for the server side of the NATS
 * client protocol: INFO, MSG, HMSG, PING, PONG, +OK and -ERR.
 *
 * Sans-I/O: the caller feeds whatever bytes arrived, the parser calls back
 * once per complete operation. It never allocates and never touches a
 * socket.
 *
 * Zero-copy: when a whole operation lies inside one nats_parse_feed() input,
 * every span handed to a callback points into that input. Only an operation
 * that straddles two or more feeds is assembled in the caller-provided
 * buffer (nats_parse_set_buffer), and its spans then point there. Either
 * way a span is valid only until the callback returns.
 *
 * Limits are checked on the control line, before any payload is buffered:
 * a control line longer than NATS_PARSE_LINE_MAX (NATS_PARSE_INFO_MAX for
 * INFO), a message larger than max_payload, or one that would not fit the
 * assembly buffer fails at once.
 *
 * Errors are sticky: after the first failure every feed returns the same
 * negative code and no callback is made. The owner drops the connection.
 *
 * Wire format accepted (op names are case-insensitive, fields are separated
 * by one or more spaces or tabs, every line ends in CRLF):
 *   INFO <json>
 *   MSG <subject> <sid> [reply] <#bytes>        then payload, CRLF
 *   HMSG <subject> <sid> [reply] <#hdr> <#total> then headers+payload, CRLF
 *   PING | PONG | +OK | -ERR [text]
 */
#ifndef H8S_PROTO_NATS_PARSE_H
#define H8S_PROTO_NATS_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "proto/span.h"

/* Longest control line (MSG, HMSG, -ERR, ...) including its CRLF. Matches
 * the nats-server default max_control_line. */
#define NATS_PARSE_LINE_MAX 4096
/* Longest INFO line including its CRLF: INFO carries connect_urls of a
 * whole cluster, so it gets its own, larger bound. */
#define NATS_PARSE_INFO_MAX 65536
/* max_payload until the caller sets the server's value (nats-server's
 * default, 1 MiB). */
#define NATS_PARSE_DEFAULT_MAX_PAYLOAD (1024 * 1024)
/* Smallest useful assembly buffer: holds any straddling INFO line. */
#define NATS_PARSE_BUF_MIN NATS_PARSE_INFO_MAX
/* Assembly buffer needed for messages of up to max_payload bytes to be
 * assembled when they straddle feeds. */
#define NATS_PARSE_BUF_SIZE(max_payload) ((size_t)(max_payload) + NATS_PARSE_LINE_MAX + 2)

/* Error codes (negative; 0 is success). */
#define NATS_PARSE_EPROTO (-1)    /* malformed or unknown operation */
#define NATS_PARSE_ELINE (-2)     /* control line longer than its limit */
#define NATS_PARSE_EPAYLOAD (-3)  /* message larger than max_payload */
#define NATS_PARSE_ECRLF (-4)     /* payload not followed by CRLF */
#define NATS_PARSE_EBUF (-5)      /* straddling operation larger than the buffer */
#define NATS_PARSE_ECALLBACK (-6) /* a callback returned non-zero */

/* A delivered message. sid is the subscription id the client chose. */
struct nats_msg {
    struct span subject;
    struct span reply;   /* n == 0 when the message has no reply subject */
    struct span hdr;     /* raw header block (HMSG only; n == 0 for MSG) */
    struct span payload; /* may be empty */
    uint64_t sid;
};

/*
 * Callbacks; each gets the cookie given to nats_parse_init. A callback that
 * is NULL means "ignore this operation". Returning non-zero stops the
 * parser: it fails with NATS_PARSE_ECALLBACK (sticky) and the rest of the
 * input is not examined.
 */
struct nats_parse_ops {
    int (*on_msg)(void *cookie, const struct nats_msg *m);
    int (*on_info)(void *cookie, struct span json); /* the JSON object text */
    int (*on_ping)(void *cookie);
    int (*on_pong)(void *cookie);
    int (*on_ok)(void *cookie);
    int (*on_err)(void *cookie, struct span text); /* text after "-ERR ", as sent */
};

/* Full struct so owners can embed it; fields are private to nats_parse.c. */
struct nats_parse {
    const struct nats_parse_ops *ops;
    void *cookie;
    uint8_t *buf; /* assembly buffer (caller-owned) */
    size_t cap;   /* its capacity */
    size_t len;   /* bytes of the pending operation held in buf */
    size_t need;  /* total bytes of the pending message; 0 while in a line */
    size_t max_payload;
    size_t line_len;      /* length of the pending message's control line incl. CRLF */
    struct nats_msg pend; /* pending message, spans relative to buf offset 0 */
    int err;
};

/*
 * Initialises p: no buffer, max_payload NATS_PARSE_DEFAULT_MAX_PAYLOAD, no
 * error. ops (which must outlive p) and cookie are passed to every
 * callback.
 */
void nats_parse_init(struct nats_parse *p, const struct nats_parse_ops *ops, void *cookie);

/*
 * Gives the parser its assembly buffer (caller-owned, cap bytes, used only
 * for operations that straddle feeds). Without one, any straddling
 * operation fails with NATS_PARSE_EBUF. Use at least NATS_PARSE_BUF_MIN
 * and NATS_PARSE_BUF_SIZE(max_payload).
 *
 * May be called between feeds, or from inside a callback: the parser holds
 * nothing in its buffer at that point, but the spans of the running
 * callback may still point into the old buffer, so free the old one only
 * after that callback has returned. Returns 0, or NATS_PARSE_EBUF when an
 * incomplete operation is buffered and would not fit in the new buffer
 * (then nothing changes).
 */
int nats_parse_set_buffer(struct nats_parse *p, uint8_t *buf, size_t cap);

/*
 * Sets the largest message (headers + payload) accepted; normally the
 * max_payload of the server's INFO. Applies to messages whose control line
 * is parsed afterwards; callable from a callback.
 */
void nats_parse_set_max_payload(struct nats_parse *p, size_t max_payload);

/*
 * Parses n bytes at in (n may be 0), calling back for every complete
 * operation. The parser keeps no pointer into in after returning; bytes of
 * an incomplete operation are copied into the assembly buffer.
 * Returns 0 when all input was consumed, or a negative NATS_PARSE_E* code
 * (sticky; see nats_parse_error).
 */
int nats_parse_feed(struct nats_parse *p, const uint8_t *in, size_t n);

/* The sticky error, or 0. */
int nats_parse_error(const struct nats_parse *p);

/* Bytes of an incomplete operation currently held (0 between operations). */
size_t nats_parse_pending(const struct nats_parse *p);

/* Static description of a NATS_PARSE_E* code. */
const char *nats_parse_strerror(int err);

#endif
