/*
 * fuzz/http_harness.h — what fuzz_http_req.c and fuzz_http_resp.c share
 * (proto/http_req, proto/http_resp and the engine under both,
 * proto/http_llhttp with the http_head scanner and collector).
 *
 * Each harness parses its input twice, whole and in pieces, and compares a
 * hash of everything the parser handed out. This header holds that hash,
 * the span check (a span lies inside the current piece or the head buffer,
 * and every byte of it is read so ASan sees it) and the piece splitter,
 * which gives every piece its own allocation so a span kept past its feed
 * is caught.
 */
#ifndef H8S_FUZZ_HTTP_HARNESS_H
#define H8S_FUZZ_HTTP_HARNESS_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/span.h"

struct http_fuzz_run {
    const uint8_t *piece; /* the delivery being parsed */
    size_t piece_len;
    const uint8_t *hb; /* the parser's head buffer */
    size_t hb_len;
    uint64_t hash, body;
    int in_msg;
};

static void http_fuzz_mix(struct http_fuzz_run *r, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        r->hash = (r->hash ^ p[i]) * 1099511628211ull;
}

/* sep: hash a separator after s (not for body pieces, which vary by split). */
static void http_fuzz_check_span(struct http_fuzz_run *r, struct span s, int sep)
{
    uintptr_t a = (uintptr_t)s.p;
    int in_piece = a >= (uintptr_t)r->piece && a + s.n <= (uintptr_t)r->piece + r->piece_len;
    int in_hb = a >= (uintptr_t)r->hb && a + s.n <= (uintptr_t)r->hb + r->hb_len;
    if (s.n && !in_piece && !in_hb)
        abort();
    http_fuzz_mix(r, s.p, s.n);
    if (sep)
        http_fuzz_mix(r, (const uint8_t *)"|", 1);
}

/*
 * The next delivery of d[off..n): the rest when step is 0, otherwise a
 * pseudo-random size below 2 * step. Returns a private copy (free it) and
 * records it as r's current piece; *k receives its length.
 */
static uint8_t *http_fuzz_next_piece(struct http_fuzz_run *r, const uint8_t *d, size_t n,
                                     size_t off, unsigned step, unsigned *seed, size_t *k)
{
    size_t len = step ? 1 + (*seed = *seed * 1103515245u + 12345u) % (2 * step) : n - off;
    if (len > n - off)
        len = n - off;
    uint8_t *piece = malloc(len);
    if (!piece)
        abort();
    memcpy(piece, d + off, len);
    r->piece = piece;
    r->piece_len = len;
    *k = len;
    return piece;
}

#endif
