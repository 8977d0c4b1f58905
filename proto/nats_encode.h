/*
 * proto/nats_encode.h — encoder for the client side of the NATS protocol:
 * CONNECT, PUB, HPUB, SUB, UNSUB, PING, PONG.
 *
 * Every encoder writes into a caller buffer and returns the number of bytes
 * written, or a negative NATS_ENC_E* code (then nothing useful was
 * written). Subjects, reply subjects and queue groups are validated before
 * anything is written, so a caller can never put a malformed operation on
 * the wire. No allocation, no I/O.
 *
 * The *_line encoders write only the control line, so that a payload can
 * go to the output queue straight from the caller's memory (writev of
 * line, headers, payload, "\r\n") without an intermediate copy.
 */
#ifndef H8S_PROTO_NATS_ENCODE_H
#define H8S_PROTO_NATS_ENCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/span.h"

/* Longest control line written, CRLF included: the nats-server default
 * max_control_line, so a line we produce is never refused for length. */
#define NATS_ENC_LINE_MAX 4096
/* Largest headers + payload accepted (nats-server's hard upper bound for
 * max_payload); the connection enforces the server's actual value. */
#define NATS_ENC_PAYLOAD_MAX (64 * 1024 * 1024)
/* Room for PING, PONG and UNSUB lines. */
#define NATS_ENC_SMALL_MAX 64

/* Error codes (negative). */
#define NATS_ENC_ENOSPC (-1)   /* output buffer too small */
#define NATS_ENC_ESUBJECT (-2) /* invalid subject */
#define NATS_ENC_EREPLY (-3)   /* invalid reply subject */
#define NATS_ENC_EQUEUE (-4)   /* invalid queue group */
#define NATS_ENC_ELINE (-5)    /* control line longer than NATS_ENC_LINE_MAX */
#define NATS_ENC_ESIZE (-6)    /* payload/headers too large or inconsistent */

/*
 * Subject rules: at least one byte; no byte <= 0x20 (whitespace, control)
 * and no DEL; tokens separated by '.' are never empty (no leading,
 * trailing or doubled dot). With wildcards != 0 (SUB), a token that is
 * exactly "*" matches one token and a token that is exactly ">" matches the
 * rest and must be last. With wildcards == 0 (PUB, reply subjects) neither
 * "*" nor ">" may be a token. '*' or '>' inside a longer token is a
 * literal character. Returns 1 when valid, 0 otherwise.
 */
int nats_subject_valid(struct span subject, int wildcards);

/* Queue group rules: at least one byte, no byte <= 0x20, no DEL.
 * Returns 1 when valid, 0 otherwise. */
int nats_queue_valid(struct span queue);

/* "PUB <subject> [reply] <payload_len>\r\n". reply.n == 0 means none. */
int nats_encode_pub_line(uint8_t *out, size_t cap, struct span subject, struct span reply,
                         size_t payload_len);

/* "HPUB <subject> [reply] <hdr_len> <hdr_len+payload_len>\r\n". hdr_len
 * counts the whole header block (nats_hdr builder output); it must be > 0. */
int nats_encode_hpub_line(uint8_t *out, size_t cap, struct span subject, struct span reply,
                          size_t hdr_len, size_t payload_len);

/* A whole PUB: control line, payload, CRLF. */
int nats_encode_pub(uint8_t *out, size_t cap, struct span subject, struct span reply,
                    struct span payload);

/* A whole HPUB: control line, header block, payload, CRLF. */
int nats_encode_hpub(uint8_t *out, size_t cap, struct span subject, struct span reply,
                     struct span hdr, struct span payload);

/* "SUB <subject> [queue] <sid>\r\n"; subject may hold wildcards; queue.n == 0
 * means no queue group. */
int nats_encode_sub(uint8_t *out, size_t cap, struct span subject, struct span queue, uint64_t sid);

/* "UNSUB <sid>[ <max>]\r\n"; max == 0 means unsubscribe now, otherwise
 * after max messages in total. */
int nats_encode_unsub(uint8_t *out, size_t cap, uint64_t sid, uint64_t max);

/* "PING\r\n" and "PONG\r\n". */
int nats_encode_ping(uint8_t *out, size_t cap);
int nats_encode_pong(uint8_t *out, size_t cap);

/*
 * CONNECT options. Strings are NUL-terminated, NULL (or "") leaves the
 * field out; they are JSON-escaped as needed. Always sent: verbose false,
 * pedantic false, lang "c", protocol 1, headers true, no_responders true.
 */
struct nats_connect_opts {
    const char *name;    /* connection name */
    const char *version; /* client version */
    const char *user;
    const char *pass;
    const char *auth_token;
    const char *nkey; /* public NKEY (NKEY auth) */
    const char *jwt;  /* user JWT (creds auth) */
    const char *sig;  /* base64url signature of the server nonce */
    bool echo;        /* receive own publishes */
    bool tls_required;
};

/* "CONNECT {...}\r\n". Length grows with the strings; use
 * nats_encode_connect_size to size the buffer. */
int nats_encode_connect(uint8_t *out, size_t cap, const struct nats_connect_opts *o);

/* Exact byte count nats_encode_connect would write, or NATS_ENC_ESIZE when
 * it would not fit an int. */
int nats_encode_connect_size(const struct nats_connect_opts *o);

/* Static description of a NATS_ENC_E* code. */
const char *nats_encode_strerror(int err);

#endif
