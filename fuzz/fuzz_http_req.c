/*
 * fuzz/fuzz_http_req.c — proto/http_req (and http_llhttp, the http_head
 * scanner and collector under it): the gateway's request path through
 * llhttp. Shared plumbing in http_harness.h.
 *
 * The input is parsed twice: whole, and in pieces whose sizes come from the
 * first input byte. Invariants: every span handed out lies inside the
 * current piece or the head buffer (each byte is read, so ASan checks it);
 * body only follows a head; a request ends only after its head; the body
 * never passes the limit; both ways see the same requests, the same body
 * bytes and fail (or not) alike.
 */
#include "fuzz/http_harness.h"
#include "proto/http_req.h"

#define MAX_HEAD 1024
#define MAX_BODY 4096

struct run {
    struct http_fuzz_run h;
    uint8_t hb[MAX_HEAD];
};

static int on_head(void *c, const struct http_req *q)
{
    struct run *r = c;
    if (r->h.in_msg)
        abort();
    r->h.in_msg = 1;
    r->h.body = 0;
    http_fuzz_check_span(&r->h, q->target, 1);
    http_fuzz_check_span(&r->h, q->path, 1);
    http_fuzz_check_span(&r->h, q->query, 1);
    http_fuzz_check_span(&r->h, q->host, 1);
    if (!q->method_name.n || q->nfields > HTTP_HEAD_MAX_FIELDS)
        abort();
    for (size_t i = 0; i < q->nfields; i++) {
        http_fuzz_check_span(&r->h, q->fields[i].name, 1);
        http_fuzz_check_span(&r->h, q->fields[i].value, 1);
    }
    if ((q->flags & HTTP_REQ_F_CONTENT_LENGTH) && q->content_length > MAX_BODY)
        abort();
    return 0;
}

static int on_body(void *c, const uint8_t *p, size_t n)
{
    struct run *r = c;
    if (!r->h.in_msg || n == 0)
        abort();
    http_fuzz_check_span(&r->h, span_make(p, n), 0); /* pieces vary by split */
    r->h.body += n;
    if (r->h.body > MAX_BODY)
        abort();
    return 0;
}

static const struct http_req_ops ops = {on_head, on_body};

static int parse(struct run *r, const uint8_t *d, size_t n, unsigned step)
{
    struct http_req_parser p;
    struct http_req_config cfg = {MAX_HEAD, 16, MAX_BODY};
    memset(r, 0, sizeof(*r));
    r->h.hb = r->hb;
    r->h.hb_len = sizeof(r->hb);
    if (http_req_init(&p, &cfg, r->hb, sizeof(r->hb), &ops, r) != 0)
        abort();
    unsigned seed = step;
    for (size_t off = 0; off < n;) {
        size_t k;
        uint8_t *piece = http_fuzz_next_piece(&r->h, d, n, off, step, &seed, &k);
        size_t at = 0;
        int rc = HTTP_REQ_OK;
        for (;;) {
            size_t used;
            rc = http_req_feed(&p, piece + at, k - at, &used);
            if (used > k - at)
                abort();
            at += used;
            if (rc != HTTP_REQ_DONE)
                break;
            if (!r->h.in_msg)
                abort();
            r->h.in_msg = 0;
            http_fuzz_mix(&r->h, (const uint8_t *)"$", 1);
            if (http_req_next(&p) != 0)
                break;
        }
        free(piece);
        if (rc < 0 || (rc == HTTP_REQ_DONE)) {
            if (rc == HTTP_REQ_ERROR) {
                int st = http_req_status(&p);
                if (st < 400 || st > 505)
                    abort();
            }
            return rc < 0;
        }
        if (at != k)
            abort();
        off += k;
    }
    return http_req_finish(&p) < 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct run whole, split;
    if (size < 1)
        return 0;
    unsigned step = 1 + data[0] % 16;
    int e1 = parse(&whole, data + 1, size - 1, 0);
    int e2 = parse(&split, data + 1, size - 1, step);
    if (e1 != e2 || whole.h.hash != split.h.hash)
        abort();
    return 0;
}
