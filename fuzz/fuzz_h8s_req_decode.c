/*
 * fuzz/fuzz_h8s_req_decode.c — proto/h8s_req_decode: request messages
 * from any publisher into the request head the agent sends to its app.
 *
 * Input: one flags byte, then subject '\n' reply '\n' header lines, a NUL,
 * and the data. Header lines are "key:value" given to the NATS header
 * builder (bad ones are skipped), unless flags bit 0x80 passes the bytes
 * as a raw header block. Flags pick the route (rewrite_host, base path).
 *
 * Invariants on success: the head parses back with the strict request
 * parser (proto/http_req) as exactly one head, with the same method and
 * target, the Host the decoder reports, no X-H8s-* field, the body framing
 * announced, and no injected field (each is one the decoder adds or an
 * entry of the message, byte for byte); the target holds no byte that
 * needs escaping. Either way the reply span, when set, is a valid subject
 * inside the message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/h8s_ctl.h"
#include "proto/h8s_req_decode.h"
#include "proto/http_req.h"
#include "proto/nats_hdr.h"

struct back {
    const struct h8s_req_decode *d;
    const struct h8s_req_decode_route *rt;
    struct span hdr; /* the message's header block */
    int heads;
};

/* 1 when the message's header block has exactly this entry. */
static int from_message(struct span hdr, struct span k, struct span v)
{
    struct nats_hdr h;
    struct nats_hdr_iter it;
    struct span mk, mv;
    if (hdr.n == 0 || nats_hdr_parse(&h, hdr) != 0)
        return 0;
    nats_hdr_iter_init(&it, &h);
    while (nats_hdr_next(&it, &mk, &mv)) {
        if (span_eq(mk, k) && span_eq(mv, v))
            return 1;
    }
    return 0;
}

static int inside(struct span s, const uint8_t *p, size_t n)
{
    return s.n == 0 || (s.p >= p && s.p + s.n <= p + n);
}

static int on_head(void *cookie, const struct http_req *r)
{
    struct back *b = cookie;
    const struct h8s_req_decode *d = b->d;
    b->heads++;
    if (!span_eq(r->method_name, d->method) || !span_eq(r->target, d->target))
        abort();
    /* No injection: every field is one we add, or an entry of the message. */
    for (size_t i = 0; i < r->nfields; i++) {
        struct span k = r->fields[i].name, v = r->fields[i].value;
        if (k.n >= 6 && span_eq_nocase(span_make(k.p, 6), SPAN_LIT("X-H8s-")))
            abort();
        if (span_eq(k, SPAN_LIT("Host"))) {
            if (!span_eq(v, b->rt->rewrite_host ? b->rt->authority : d->host))
                abort();
        } else if (!span_eq(k, SPAN_LIT("Content-Length")) &&
                   !span_eq(k, SPAN_LIT("Transfer-Encoding")) &&
                   !(b->rt->rewrite_host && span_eq(k, SPAN_LIT("X-Forwarded-Host"))) &&
                   !from_message(b->hdr, k, v)) {
            abort();
        }
    }
    if ((d->flags & H8S_REQ_DECODE_F_LENGTH) &&
        (!(r->flags & HTTP_REQ_F_CONTENT_LENGTH) || r->content_length != d->content_length))
        abort();
    if (!!(d->flags & H8S_REQ_DECODE_F_CHUNKED) != !!(r->flags & HTTP_REQ_F_CHUNKED))
        abort();
    return 0;
}

static const struct http_req_ops ops = {on_head, NULL};

static int common_method(struct span m)
{
    static const char *const ok[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (span_eq(m, span_cstr(ok[i])))
            return 1;
    }
    return 0;
}

static void check_head(const struct h8s_req_decode *d, const struct h8s_req_decode_route *rt,
                       struct span hdr)
{
    static uint8_t hb[H8S_REQ_DECODE_HEAD_MAX];
    struct http_req_parser p;
    struct http_req_config cfg = {sizeof(hb), HTTP_HEAD_MAX_FIELDS, UINT64_MAX};
    struct back b = {d, rt, hdr, 0};
    size_t used;
    for (size_t i = 0; i < d->target.n; i++) {
        uint8_t c = d->target.p[i];
        if (c <= ' ' || c >= 0x7f || c == '#')
            abort();
    }
    if (http_req_init(&p, &cfg, hb, sizeof(hb), &ops, &b) != 0)
        abort();
    int rc = http_req_feed(&p, d->head.p, d->head.n, &used);
    /* The strict parser knows a fixed set of methods; for the common ones
     * the head must parse, for any it parses the checks above ran. */
    if (rc == HTTP_REQ_ERROR && !common_method(d->method))
        return;
    if ((rc != HTTP_REQ_OK && rc != HTTP_REQ_DONE) || b.heads != 1 || used != d->head.n)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t block[NATS_HDR_MAX], head[H8S_REQ_DECODE_HEAD_MAX];
    if (size < 1)
        return 0;
    uint8_t flags = data[0];
    const uint8_t *p = data + 1, *end = data + size;
    const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
    struct span subject = span_make(p, nl ? (size_t)(nl - p) : (size_t)(end - p));
    p = nl ? nl + 1 : end;
    nl = memchr(p, '\n', (size_t)(end - p));
    struct span reply = span_make(p, nl ? (size_t)(nl - p) : (size_t)(end - p));
    p = nl ? nl + 1 : end;
    const uint8_t *nul = memchr(p, 0, (size_t)(end - p));
    struct span lines = span_make(p, nul ? (size_t)(nul - p) : (size_t)(end - p));
    struct span payload = span_make(nul ? nul + 1 : end, nul ? (size_t)(end - nul - 1) : 0);

    struct span hdr = lines;
    if (!(flags & 0x80) && lines.n) {
        struct nats_hdr_builder b;
        nats_hdr_build_init(&b, block, sizeof(block), 0, span_make(NULL, 0));
        const uint8_t *q = lines.p, *qe = lines.p + lines.n;
        while (q < qe) {
            const uint8_t *e = memchr(q, '\r', (size_t)(qe - q));
            e = e ? e : qe;
            const uint8_t *colon = memchr(q, ':', (size_t)(e - q));
            if (colon) {
                struct nats_hdr_builder save = b;
                if (nats_hdr_build_add(&b, span_make(q, (size_t)(colon - q)),
                                       span_make(colon + 1, (size_t)(e - colon - 1))) != 0)
                    b = save;
            }
            q = e + 1;
        }
        if (nats_hdr_build_finish(&b, &hdr) != 0)
            hdr = span_make(NULL, 0);
    }

    const struct h8s_req_decode_route rt = {
        .rhost = SPAN_LIT("com.example.app"),
        .host = SPAN_LIT("app.example.com"),
        .base_path = (flags & 1) ? SPAN_LIT("/base") : span_make(NULL, 0),
        .authority = SPAN_LIT("[::1]:8080"),
        .rewrite_host = (flags & 2) != 0,
    };
    struct nats_msg m = {subject, reply, hdr, payload, 1};
    struct h8s_req_decode d;
    int rc = h8s_req_decode(&d, &rt, &m, head, (flags & 4) ? 512 : sizeof(head));
    if (d.reply.n && (!span_eq(d.reply, reply) || !h8s_ctl_subject_ok(d.reply)))
        abort();
    if (rc != 0) {
        if (rc < H8S_REQ_DECODE_E_TOO_BIG || rc > H8S_REQ_DECODE_E_SUBJECT)
            abort();
        int st = h8s_req_decode_status(rc);
        if (st != 400 && st != 431)
            abort();
        return 0;
    }
    if (!inside(d.method, subject.p, subject.n) || !inside(d.body, payload.p, payload.n) ||
        !inside(d.target, d.head.p, d.head.n) || d.head.p != head)
        abort();
    if ((d.flags & H8S_REQ_DECODE_F_CLOSE) && !h8s_ctl_subject_ok(d.close_subject))
        abort();
    if ((d.flags & H8S_REQ_DECODE_F_STREAM) && (d.body.n || !d.reply.n))
        abort();
    check_head(&d, &rt, hdr);
    return 0;
}
