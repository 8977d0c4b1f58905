/*
 * proto/http_head.h — what HTTP request and response heads share.
 *
 * Public helpers: header fields as spans, Go-compatible canonical header
 * names, the hop-by-hop rule, and a writer that builds a head (start line,
 * fields, blank line) into a caller buffer.
 *
 * The two structs at the end (struct http_head_scan, struct http_head) are
 * the building blocks of http_req and http_resp. They are complete here only
 * so those parsers can be embedded by value; their functions are in
 * proto/http_head_internal.h and nothing else should call them.
 */
#ifndef H8S_PROTO_HTTP_HEAD_H
#define H8S_PROTO_HTTP_HEAD_H

#include <stddef.h>
#include <stdint.h>

#include "proto/span.h"

/* Capacity of the field table in every parsed head. */
#define HTTP_HEAD_MAX_FIELDS 128

/* One header field; value without leading or trailing whitespace. */
struct http_head_field {
    struct span name;
    struct span value;
};

/* 1 when c may appear in an HTTP token (RFC 9110 tchar). */
int http_head_tchar(uint8_t c);

/* 1 when s is a non-empty token. */
int http_head_token(struct span s);

/*
 * Writes the canonical form of a header name into out (name.n bytes), as
 * Go's textproto.CanonicalMIMEHeaderKey does: when every byte is a token
 * character, the first letter and every letter after '-' become upper case
 * and all other letters lower case ("x-h8s-original-path" ->
 * "X-H8s-Original-Path"); a name holding any other byte (a space, ':',
 * non-ASCII) is copied unchanged. out may equal name.p. Returns 1 when the
 * name was canonicalised, 0 when copied unchanged (and for an empty name).
 */
int http_head_canonical(uint8_t *out, struct span name);

/*
 * 1 when the field called name must not be forwarded: one of Connection,
 * Keep-Alive, Proxy-Connection, Proxy-Authenticate, Proxy-Authorization,
 * Te, Trailer, Transfer-Encoding, Upgrade (case-insensitive), or a name
 * listed in the value of any Connection field among fields[0..n). 0
 * otherwise.
 */
int http_head_hop_by_hop(struct span name, const struct http_head_field *fields, size_t n);

/*
 * Finds the first field named name (case-insensitive) at index >= from.
 * Returns its index, or -1.
 */
int http_head_find(const struct http_head_field *fields, size_t n, struct span name, size_t from);

/*
 * 1 when the comma-separated list in value holds token (case-insensitive,
 * whitespace around elements ignored), e.g. "close" in "Keep-Alive, close".
 */
int http_head_list_has(struct span value, struct span token);

/* ---------------------------------------------------------------- writer */

/*
 * Builds a head in a caller buffer. Errors are sticky: once a call fails,
 * later calls do nothing and http_head_writer_end reports the first error.
 * Nothing is ever written past cap.
 */
struct http_head_writer {
    uint8_t *p;
    size_t cap;
    size_t len;
    int err; /* 0, -ENOSPC or -EINVAL */
};

void http_head_writer_init(struct http_head_writer *w, uint8_t *buf, size_t cap);

/* Appends raw bytes (the caller vouches for their syntax). */
void http_head_write_raw(struct http_head_writer *w, const void *p, size_t n);

/* Appends a decimal number. */
void http_head_write_u64(struct http_head_writer *w, uint64_t v);

/*
 * Appends "name: value\r\n". name must be a token and value must hold no
 * CR, LF, NUL or other control byte except HTAB (-EINVAL otherwise), so a
 * field taken from an untrusted peer can never split the head.
 */
void http_head_write_field(struct http_head_writer *w, struct span name, struct span value);

/*
 * Appends the blank line ending the head. Returns the head's length, or the
 * first error (-ENOSPC: buffer too small; -EINVAL: a bad field).
 */
int http_head_writer_end(struct http_head_writer *w);

/* --------------------------------------------- parser building blocks */

/* Raw-byte checks llhttp (built in its lenient mode) does not make. */
struct http_head_scan {
    size_t total;    /* bytes of this head seen */
    size_t limit;    /* most bytes allowed */
    size_t line_len; /* bytes in the current line, CR excluded */
    uint8_t kind;    /* HTTP_HEAD_SCAN_* */
    uint8_t started; /* the start line is complete */
    uint8_t prev_cr;
    uint8_t prev_sp;
    uint8_t spaces; /* SP count in a request line */
};

/* Collects the start-line span and the fields of one head. */
struct http_head {
    uint8_t *buf; /* spill buffer (caller's) */
    size_t cap;
    size_t len;
    const uint8_t *feed; /* bytes of the current feed */
    size_t feed_len;
    size_t feed_copied; /* bytes at the start of feed already in buf */
    struct span line;   /* request target or reason phrase */
    size_t nfields;
    size_t max_fields;
    uint8_t cur; /* span being received: HTTP_HEAD_CUR_* */
    uint8_t cur_in_buf;
    uint8_t too_many;
    struct http_head_field fields[HTTP_HEAD_MAX_FIELDS];
};

#endif
