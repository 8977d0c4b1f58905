/*
 * proto/nats_hdr.h — NATS message header blocks (HMSG/HPUB).
 *
 * Wire form:
 *   NATS/1.0[ <status>[ <description>]]\r\n
 *   <Key>: <Value>\r\n          (zero or more; a key may repeat)
 *   \r\n
 *
 * The reader validates a whole block once and then hands out spans into it
 * (no copies, no allocation); keys keep their case exactly as sent and
 * repeated keys stay in order. Values are trimmed of surrounding spaces and
 * tabs. The builder writes a block into a caller buffer, refusing keys that
 * are not HTTP tokens and values or descriptions holding control bytes, so
 * whatever it produces the reader accepts.
 */
#ifndef H8S_PROTO_NATS_HDR_H
#define H8S_PROTO_NATS_HDR_H

#include <stddef.h>
#include <stdint.h>

#include "proto/span.h"

/* Largest header block read or built. */
#define NATS_HDR_MAX (64 * 1024)

/* Status codes the server puts in the header line. */
#define NATS_HDR_STATUS_CONTROL 100 /* idle heartbeat / flow control */
#define NATS_HDR_STATUS_NOT_FOUND 404
#define NATS_HDR_STATUS_TIMEOUT 408
#define NATS_HDR_STATUS_NO_RESPONDERS 503 /* a request found no subscriber */

/* Error codes (negative). */
#define NATS_HDR_EFORMAT (-1) /* malformed block */
#define NATS_HDR_ETOOBIG (-2) /* block larger than NATS_HDR_MAX */
#define NATS_HDR_ENOSPC (-3)  /* builder: buffer too small */
#define NATS_HDR_EKEY (-4)    /* builder: key empty or not a token */
#define NATS_HDR_EVALUE (-5)  /* builder: value holds CR, LF or control bytes */
#define NATS_HDR_ESTATUS (-6) /* builder: status not in 100..999 or bad description */

/* A validated block; spans point into the parsed input. */
struct nats_hdr {
    struct span block;
    int status;       /* 0 when the line carries none */
    struct span desc; /* status description, n == 0 when absent */
    size_t first;     /* offset of the first entry line in block */
    size_t count;     /* number of entries */
};

/*
 * Validates block and fills *h. Nothing is copied: h's spans (and those
 * the iterator returns) live as long as block's memory.
 * Returns 0, NATS_HDR_EFORMAT or NATS_HDR_ETOOBIG.
 */
int nats_hdr_parse(struct nats_hdr *h, struct span block);

struct nats_hdr_iter {
    const struct nats_hdr *h;
    size_t off;
};

/* Positions it before the first entry of a parsed h. */
void nats_hdr_iter_init(struct nats_hdr_iter *it, const struct nats_hdr *h);

/* Next entry in wire order: returns 1 and sets *key, *val, or 0 at the end. */
int nats_hdr_next(struct nats_hdr_iter *it, struct span *key, struct span *val);

/*
 * The idx-th value (0-based, wire order) of key, compared case-sensitively
 * as NATS does. Returns 1 and sets *val, or 0 when there is no such value.
 */
int nats_hdr_get(const struct nats_hdr *h, struct span key, size_t idx, struct span *val);

/* Builder state; embed or keep on the stack. */
struct nats_hdr_builder {
    uint8_t *buf;
    size_t cap;
    size_t len;
    int err; /* sticky */
};

/*
 * Starts a block in buf (caller-owned, cap bytes; at most NATS_HDR_MAX
 * is used). status 0 writes no status; otherwise it must be 100..999 and
 * desc (may be empty) must hold no control bytes.
 */
void nats_hdr_build_init(struct nats_hdr_builder *b, uint8_t *buf, size_t cap, int status,
                         struct span desc);

/* Appends "key: val". Returns 0 or the (sticky) error. */
int nats_hdr_build_add(struct nats_hdr_builder *b, struct span key, struct span val);

/* Terminates the block; *out spans it inside buf. Returns 0 or the
 * sticky error of any earlier step. */
int nats_hdr_build_finish(struct nats_hdr_builder *b, struct span *out);

/* Static description of a NATS_HDR_E* code. */
const char *nats_hdr_strerror(int err);

#endif
