/*
 * fuzz/fuzz_h8s_req_encode.c — proto/h8s_req_encode behind proto/http_req:
 * arbitrary request heads, parsed and encoded into the NATS request
 * message as the gateway does it inside on_head.
 *
 * Input: one byte of options (trust, TLS, strip auth, body mode, window),
 * then the request bytes, parsed whole and in pieces. Invariants: both
 * ways give the same encoding; every block parses with nats_hdr; no value
 * holds CR or LF; no hop-by-hop field and no field the client's Connection
 * named survives unless the gateway writes it itself; each X-H8s-* field
 * appears once and is the gateway's own; X-H8s-PublishSubject equals the
 * subject, which never holds whitespace, wildcards or empty tokens.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/h8s_req_encode.h"
#include "proto/h8s_wire.h"

struct run {
    struct h8s_req_encode_in in;
    uint8_t buf[H8S_REQ_ENCODE_BUFSZ];
    uint8_t hb[2048];
    uint64_t hash;
    int heads;
};

static void mix(struct run *r, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        r->hash = (r->hash ^ p[i]) * 1099511628211ull;
}

static int ours(struct span k)
{
    static const char *const names[] = {
        "Host", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Content-Length",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (span_eq_nocase(k, span_cstr(names[i])))
            return 1;
    return 0;
}

static void check_subject(struct span s)
{
    if (s.n == 0 || s.p[0] == '.' || s.p[s.n - 1] == '.')
        abort();
    for (size_t i = 0; i < s.n; i++) {
        uint8_t c = s.p[i];
        if (c <= ' ' || c >= 0x7f || c == '*' || c == '>')
            abort();
        if (c == '.' && i + 1 < s.n && s.p[i + 1] == '.')
            abort();
    }
}

static int on_head(void *cookie, const struct http_req *q)
{
    struct run *r = cookie;
    struct h8s_req_encode_out out;
    r->heads++;
    r->in.req = q;
    int rc = h8s_req_encode(&out, r->buf, sizeof(r->buf), &r->in);
    mix(r, (const uint8_t *)&rc, sizeof(rc));
    if (rc != 0) {
        if (h8s_req_encode_status(rc) < 400)
            abort();
        return 0;
    }
    check_subject(out.subject);
    check_subject(out.reply);
    check_subject(out.close_subject);
    struct nats_hdr h;
    if (nats_hdr_parse(&h, out.hdr) != 0 || h.status != 0)
        abort();
    mix(r, out.hdr.p, out.hdr.n);
    struct nats_hdr_iter it;
    struct span k, v;
    unsigned internal = 0, publish = 0;
    nats_hdr_iter_init(&it, &h);
    while (nats_hdr_next(&it, &k, &v)) {
        if (memchr(v.p, '\r', v.n) || memchr(v.p, '\n', v.n))
            abort();
        if (http_head_hop_by_hop(k, NULL, 0))
            abort();
        int mine = k.n >= 6 && span_eq_nocase(span_make(k.p, 6), SPAN_LIT("X-H8s-"));
        if (!mine && !ours(k) && http_head_hop_by_hop(k, q->fields, q->nfields))
            abort();
        if (mine) {
            internal++;
            if (span_eq(k, SPAN_LIT(H8S_HDR_PUBLISH_SUBJECT))) {
                publish++;
                if (!span_eq(v, out.subject))
                    abort();
            }
        }
    }
    /* Publish, reply, path, query, close, and window and body when asked. */
    unsigned want = 5 + (r->in.window > 0) + (r->in.body == H8S_REQ_BODY_STREAM);
    if (publish != 1 || internal != want)
        abort();
    return 0;
}

static const struct http_req_ops ops = {on_head, NULL};

static uint64_t parse(struct run *r, const uint8_t *d, size_t n, unsigned step)
{
    struct http_req_parser p;
    struct http_req_config cfg = {sizeof(r->hb), 64, 1 << 20};
    r->hash = 14695981039346656037ull;
    r->heads = 0;
    if (http_req_init(&p, &cfg, r->hb, sizeof(r->hb), &ops, r) != 0)
        abort();
    unsigned seed = step;
    for (size_t off = 0; off < n;) {
        size_t k = step ? 1 + (seed = seed * 1103515245u + 12345u) % (2 * step) : n - off;
        if (k > n - off)
            k = n - off;
        uint8_t *piece = malloc(k);
        memcpy(piece, d + off, k);
        size_t used;
        int rc = http_req_feed(&p, piece, k, &used);
        free(piece);
        if (rc != HTTP_REQ_OK)
            break;
        off += k;
    }
    return r->hash ^ (uint64_t)r->heads;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct run whole, split;
    if (size < 2)
        return 0;
    unsigned o = data[0];
    struct h8s_req_encode_in in = {
        .client_addr = (o & 0x80) ? SPAN_LIT("2001:db8::7") : SPAN_LIT("192.0.2.7"),
        .gw_id = SPAN_LIT("GWid"),
        .req_id = SPAN_LIT("REQid"),
        .flags = o & 7,
        .body = (int)((o >> 3) & 3),
        .body_len = o,
        .window = (o & 0x20) ? 65536 : 0,
    };
    whole.in = in;
    split.in = in;
    unsigned step = 1 + data[1] % 16;
    uint64_t a = parse(&whole, data + 2, size - 2, 0);
    uint64_t b = parse(&split, data + 2, size - 2, step);
    if (a != b)
        abort();
    return 0;
}
