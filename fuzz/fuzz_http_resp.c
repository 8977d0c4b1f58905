/*
 * fuzz/fuzz_http_resp.c — proto/http_resp: the agent's response path
 * through llhttp (and http_llhttp and the http_head scanner under it).
 * Shared plumbing in http_harness.h.
 *
 * The first byte picks which responses answer HEAD and the piece sizes;
 * the rest is parsed whole and in pieces. Invariants: spans lie inside the
 * current piece or the head buffer (every byte is read for ASan); body only
 * after a head, never for a no-body response, never beyond Content-Length;
 * both ways see the same responses and body bytes and fail (or not) alike.
 */
#include "fuzz/http_harness.h"
#include "proto/http_resp.h"

#define MAX_HEAD 2048

struct run {
    struct http_fuzz_run h;
    uint8_t hb[MAX_HEAD];
    unsigned flags;
    uint64_t cl;
};

static int on_head(void *c, const struct http_resp *q)
{
    struct run *r = c;
    if (r->h.in_msg || q->status < 101 || q->status > 599 || (q->status < 200 && q->status != 101))
        abort();
    r->h.in_msg = 1;
    r->h.body = 0;
    r->flags = q->flags;
    r->cl = q->content_length;
    http_fuzz_mix(&r->h, (const uint8_t *)&q->status, sizeof(q->status));
    http_fuzz_check_span(&r->h, q->reason, 1);
    for (size_t i = 0; i < q->nfields; i++) {
        http_fuzz_check_span(&r->h, q->fields[i].name, 1);
        http_fuzz_check_span(&r->h, q->fields[i].value, 1);
    }
    return 0;
}

static int on_body(void *c, const uint8_t *p, size_t n)
{
    struct run *r = c;
    if (!r->h.in_msg || n == 0 || (r->flags & HTTP_RESP_F_NO_BODY))
        abort();
    http_fuzz_check_span(&r->h, span_make(p, n), 0);
    r->h.body += n;
    if ((r->flags & HTTP_RESP_F_CONTENT_LENGTH) && r->h.body > r->cl)
        abort();
    return 0;
}

static const struct http_resp_ops ops = {on_head, on_body};

static int parse(struct run *r, const uint8_t *d, size_t n, unsigned heads, unsigned step)
{
    struct http_resp_parser p;
    struct http_resp_config cfg = {MAX_HEAD, 16};
    unsigned k_resp = 0;
    memset(r, 0, sizeof(*r));
    r->h.hb = r->hb;
    r->h.hb_len = sizeof(r->hb);
    if (http_resp_init(&p, &cfg, r->hb, sizeof(r->hb), &ops, r) != 0 ||
        http_resp_begin(&p, heads & 1) != 0)
        abort();
    unsigned seed = step;
    for (size_t off = 0; off < n;) {
        size_t k;
        uint8_t *piece = http_fuzz_next_piece(&r->h, d, n, off, step, &seed, &k);
        size_t at = 0;
        int rc;
        for (;;) {
            size_t used;
            rc = http_resp_feed(&p, piece + at, k - at, &used);
            if (used > k - at)
                abort();
            at += used;
            if (rc != HTTP_RESP_DONE)
                break;
            if (!r->h.in_msg || ((r->flags & HTTP_RESP_F_CONTENT_LENGTH) && r->h.body != r->cl))
                abort();
            r->h.in_msg = 0;
            http_fuzz_mix(&r->h, (const uint8_t *)"$", 1);
            if (r->flags & HTTP_RESP_F_UPGRADE)
                break;
            http_resp_begin(&p, (heads >> (++k_resp % 8)) & 1);
        }
        free(piece);
        if (rc < 0 || rc == HTTP_RESP_DONE)
            return rc < 0;
        if (at != k)
            abort();
        off += k;
    }
    int rc = http_resp_finish(&p);
    if (rc == HTTP_RESP_DONE && !(r->flags & HTTP_RESP_F_UNTIL_CLOSE) && r->h.in_msg)
        abort();
    return rc < 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct run whole, split;
    if (size < 2)
        return 0;
    unsigned heads = data[0], step = 1 + data[1] % 16;
    int e1 = parse(&whole, data + 2, size - 2, heads, 0);
    int e2 = parse(&split, data + 2, size - 2, heads, step);
    if (e1 != e2 || whole.h.hash != split.h.hash)
        abort();
    return 0;
}
