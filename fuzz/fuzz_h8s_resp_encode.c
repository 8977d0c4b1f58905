/*
 * fuzz/fuzz_h8s_resp_encode.c — the agent's response path: backend bytes
 * through proto/http_resp (in pieces), framed by proto/h8s_resp_encode.
 *
 * Input: flags byte (bit 0 HEAD request, bit 1 stream rather than single,
 * bit 2 a small header buffer, bits 4-7 pick max_payload), a credit-step
 * byte, then the backend's bytes, cut into pieces of varying size.
 * Invariants: every header block built parses with nats_hdr; it starts
 * with Status-Code equal to the backend's status; no hop-by-hop field, no
 * backend Content-Length and no X-H8s-* field of the backend passes (only
 * our own X-H8s-Agent-Subject); chunks never exceed max_payload with their
 * header nor the credit, sequence numbers count up from 1 without gaps.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/h8s_ctl.h"
#include "proto/h8s_resp_encode.h"
#include "proto/http_resp.h"
#include "proto/nats_hdr.h"

struct run {
    struct h8s_resp_encode enc;
    uint8_t block[NATS_HDR_MAX];
    size_t cap;
    int stream, ok;
    uint64_t credit_step, seq;
};

static void check_block(struct run *r, struct span blk, int status)
{
    struct nats_hdr h;
    struct nats_hdr_iter it;
    struct span k, v;
    int first = 1, lengths = 0;
    if (nats_hdr_parse(&h, blk) != 0)
        abort();
    nats_hdr_iter_init(&it, &h);
    while (nats_hdr_next(&it, &k, &v)) {
        if (first) {
            uint64_t code;
            if (!span_eq(k, SPAN_LIT("Status-Code")) || h8s_ctl_number(v, &code) != 0 ||
                code != (uint64_t)status)
                abort();
            first = 0;
        }
        if (span_eq_nocase(k, SPAN_LIT("Content-Length")))
            lengths++;
        if (span_eq_nocase(k, SPAN_LIT("Connection")) ||
            span_eq_nocase(k, SPAN_LIT("Transfer-Encoding")) ||
            span_eq_nocase(k, SPAN_LIT("Keep-Alive")) || span_eq_nocase(k, SPAN_LIT("Upgrade")))
            abort();
        if (k.n >= 6 && span_eq_nocase(span_make(k.p, 6), SPAN_LIT("X-H8s-")) &&
            !(r->stream && span_eq(k, SPAN_LIT("X-H8s-Agent-Subject"))))
            abort();
    }
    if (first || lengths != !r->stream)
        abort();
}

static int on_head(void *cookie, const struct http_resp *resp)
{
    struct run *r = cookie;
    size_t len;
    int rc = h8s_resp_encode_head(resp, r->block, r->cap - H8S_RESP_ENCODE_TAIL_MAX, &len);
    if (rc != 0) {
        if (rc != H8S_RESP_ENCODE_E_NOSPC && rc != H8S_RESP_ENCODE_E_FIELD)
            abort();
        return 0;
    }
    if (r->stream)
        rc = h8s_resp_encode_stream(&r->enc, r->block, r->cap, &len, SPAN_LIT("_INBOX.h8s.a.b"));
    else
        rc = h8s_resp_encode_single(&r->enc, r->block, r->cap, &len, resp->content_length);
    if (rc != 0)
        abort(); /* the tail room was kept */
    check_block(r, span_make(r->block, len), resp->status);
    r->ok = 1;
    if (r->stream) {
        uint64_t room = h8s_resp_encode_room(&r->enc, len);
        if ((room && len + room > r->enc.max_payload) ||
            h8s_resp_encode_sent(&r->enc, len, room) != 0)
            abort();
    }
    return 0;
}

static int on_body(void *cookie, const uint8_t *p, size_t n)
{
    struct run *r = cookie;
    uint8_t sb[H8S_RESP_ENCODE_SEQ_HDR_MAX];
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < n; i++)
        sink ^= p[i];
    (void)sink;
    if (!r->ok || !r->stream)
        return 0;
    uint64_t avail = n;
    int starved = 0;
    while (avail > 0) {
        struct span hdr;
        uint64_t take = 0, before = r->enc.sent;
        int rc = h8s_resp_encode_chunk(&r->enc, avail, sb, sizeof(sb), &hdr, &take);
        if (rc < 0)
            abort();
        if (rc == 0) {
            /* Blocked right after a grant: max_payload leaves no room. */
            if (starved++)
                return 0;
            h8s_resp_encode_credit(&r->enc, r->enc.credit + r->credit_step);
            continue;
        }
        starved = 0;
        struct h8s_ctl c;
        if (take == 0 || take > avail || hdr.n + take > r->enc.max_payload ||
            r->enc.sent > r->enc.credit || r->enc.sent != before + take ||
            h8s_ctl_parse(&c, hdr) != 0 || c.seq != ++r->seq)
            abort();
        avail -= take;
    }
    return 0;
}

static const struct http_resp_ops ops = {on_head, on_body};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct run r;
    static uint8_t hb[8192];
    static const size_t payloads[16] = {16,   40,   64,    100,   128,   256,     512, 1024,
                                        2048, 4096, 16384, 65536, 70000, 1 << 20, 300, 90};
    if (size < 2)
        return 0;
    uint8_t flags = data[0];
    memset(&r.enc, 0, sizeof(r.enc));
    r.stream = (flags & 2) != 0;
    r.cap = (flags & 4) ? 400 : sizeof(r.block);
    r.ok = 0;
    r.seq = 0;
    r.credit_step = (uint64_t)data[1] + 1;
    h8s_resp_encode_init(&r.enc, payloads[flags >> 4], flags & 8, data[1]);

    struct http_resp_parser p;
    const struct http_resp_config cfg = {sizeof(hb), 64};
    if (http_resp_init(&p, &cfg, hb, sizeof(hb), &ops, &r) != 0 ||
        http_resp_begin(&p, flags & 1) != 0)
        abort();
    const uint8_t *in = data + 2;
    size_t n = size - 2, off = 0;
    unsigned seed = data[1];
    while (off < n) {
        size_t k = 1 + (seed = seed * 1103515245u + 12345u) % 64;
        if (k > n - off)
            k = n - off;
        uint8_t *piece = malloc(k);
        memcpy(piece, in + off, k);
        size_t used;
        int rc = http_resp_feed(&p, piece, k, &used);
        free(piece);
        if (rc != HTTP_RESP_OK)
            return 0;
        off += k;
    }
    http_resp_finish(&p);
    return 0;
}
