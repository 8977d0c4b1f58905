/*
 * proto/h8s_resp_encode.c — see h8s_resp_encode.h.
 *
 * The head is written straight into the caller's buffer (names are
 * canonicalised in place) rather than through nats_hdr_builder, which
 * would need each canonical name in a buffer of its own first; the byte
 * rules are the builder's, so nats_hdr_parse accepts every block made here.
 */
#include "proto/h8s_resp_encode.h"

#include <string.h>

#include "proto/h8s_wire.h"
#include "proto/http_head.h"
#include "proto/nats_hdr.h"

#define NATS_LINE "NATS/1.0\r\n"

struct out {
    uint8_t *p;
    size_t cap, len;
    int err;
};

static void put(struct out *o, const void *p, size_t n)
{
    if (o->err)
        return;
    if (n > o->cap - o->len) {
        o->err = H8S_RESP_ENCODE_E_NOSPC;
        return;
    }
    if (n)
        memcpy(o->p + o->len, p, n);
    o->len += n;
}

static void put_u64(struct out *o, uint64_t v)
{
    uint8_t rev[20], tmp[20];
    size_t k = 0, n = 0;
    do {
        rev[k++] = (uint8_t)('0' + v % 10);
        v /= 10;
    } while (v);
    while (k)
        tmp[n++] = rev[--k];
    put(o, tmp, n);
}

/* What a NATS header value may hold: no control bytes but HTAB. */
static int value_ok(struct span v)
{
    for (size_t i = 0; i < v.n; i++) {
        if ((v.p[i] < 0x20 && v.p[i] != '\t') || v.p[i] == 0x7f)
            return 0;
    }
    return 1;
}

static void field(struct out *o, struct span name, struct span value, int canon)
{
    if (o->err)
        return;
    if (!http_head_token(name) || !value_ok(value)) {
        o->err = H8S_RESP_ENCODE_E_FIELD;
        return;
    }
    size_t at = o->len;
    put(o, name.p, name.n);
    if (!o->err && canon)
        http_head_canonical(o->p + at, span_make(o->p + at, name.n));
    put(o, ": ", 2);
    put(o, value.p, value.n);
    put(o, "\r\n", 2);
}

static int skipped(struct span name, const struct http_resp *r)
{
    static const char prefix[] = H8S_HDR_INTERNAL_PREFIX;
    const size_t pn = sizeof(prefix) - 1;
    if (name.n >= pn && span_eq_nocase(span_make(name.p, pn), SPAN_LIT(prefix)))
        return 1;
    if (span_eq_nocase(name, SPAN_LIT("Content-Length")) ||
        span_eq_nocase(name, SPAN_LIT(H8S_HDR_STATUS)) ||
        span_eq_nocase(name, SPAN_LIT(H8S_HDR_STATUS_CODE)))
        return 1;
    return http_head_hop_by_hop(name, r->fields, r->nfields);
}

void h8s_resp_encode_init(struct h8s_resp_encode *e, size_t max_payload, int flow, uint64_t window)
{
    e->max_payload = max_payload;
    e->flow = flow != 0;
    e->credit = flow ? window : H8S_RESP_ENCODE_UNLIMITED;
    e->sent = 0;
    e->seq = 0;
    e->state = H8S_RESP_ENCODE_IDLE;
    e->err = 0;
}

int h8s_resp_encode_head(const struct http_resp *r, uint8_t *buf, size_t cap, size_t *len)
{
    /* Room is kept for the tail so a closed block never exceeds what
     * nats_hdr_parse accepts. */
    size_t lim = NATS_HDR_MAX - H8S_RESP_ENCODE_TAIL_MAX;
    struct out o = {buf, cap < lim ? cap : lim, 0, 0};
    uint8_t code[20];
    struct out c = {code, sizeof(code), 0, 0};
    struct span reason = r->reason;

    if (r->status < 100 || r->status > 999)
        return H8S_RESP_ENCODE_E_FIELD;
    put_u64(&c, (uint64_t)r->status);
    if (reason.n == 0 || !value_ok(reason))
        reason = span_cstr(http_status_reason(r->status));
    put(&o, NATS_LINE, sizeof(NATS_LINE) - 1);
    field(&o, SPAN_LIT(H8S_HDR_STATUS_CODE), span_make(code, c.len), 0);
    /* "Status: 404 Not Found" — the number alone when no reason is known. */
    put(&o, H8S_HDR_STATUS ": ", sizeof(H8S_HDR_STATUS) + 1);
    put(&o, code, c.len);
    if (reason.n) {
        put(&o, " ", 1);
        put(&o, reason.p, reason.n);
    }
    put(&o, "\r\n", 2);
    for (size_t i = 0; i < r->nfields; i++) {
        if (!skipped(r->fields[i].name, r))
            field(&o, r->fields[i].name, r->fields[i].value, 1);
    }
    if (o.err)
        return o.err;
    *len = o.len;
    return 0;
}

int h8s_resp_encode_fits(const struct h8s_resp_encode *e, size_t hdr_len, uint64_t body_len)
{
    return hdr_len <= e->max_payload && body_len <= e->max_payload - hdr_len;
}

static int fail(struct h8s_resp_encode *e, int err)
{
    if (!e->err)
        e->err = err;
    return e->err;
}

int h8s_resp_encode_single(struct h8s_resp_encode *e, uint8_t *buf, size_t cap, size_t *len,
                           uint64_t content_length)
{
    if (e->err)
        return e->err;
    if (cap > NATS_HDR_MAX)
        cap = NATS_HDR_MAX;
    if (e->state != H8S_RESP_ENCODE_IDLE || *len > cap)
        return fail(e, H8S_RESP_ENCODE_E_STATE);
    struct out o = {buf, cap, *len, 0};
    put(&o, "Content-Length: ", 16);
    put_u64(&o, content_length);
    put(&o, "\r\n\r\n", 4);
    if (o.err)
        return fail(e, o.err);
    *len = o.len;
    e->state = H8S_RESP_ENCODE_SINGLE;
    return 0;
}

int h8s_resp_encode_stream(struct h8s_resp_encode *e, uint8_t *buf, size_t cap, size_t *len,
                           struct span agent_subject)
{
    if (e->err)
        return e->err;
    if (cap > NATS_HDR_MAX)
        cap = NATS_HDR_MAX;
    if (e->state != H8S_RESP_ENCODE_IDLE || *len > cap)
        return fail(e, H8S_RESP_ENCODE_E_STATE);
    if (agent_subject.n && !h8s_ctl_subject_ok(agent_subject))
        return fail(e, H8S_RESP_ENCODE_E_FIELD);
    struct out o = {buf, cap, *len, 0};
    if (agent_subject.n)
        field(&o, SPAN_LIT(H8S_HDR_AGENT_SUBJECT), agent_subject, 0);
    put(&o, "\r\n", 2);
    if (o.err)
        return fail(e, o.err);
    *len = o.len;
    e->state = H8S_RESP_ENCODE_STREAM;
    return 0;
}

uint64_t h8s_resp_encode_room(const struct h8s_resp_encode *e, size_t hdr_len)
{
    if (e->err || e->state != H8S_RESP_ENCODE_STREAM || hdr_len >= e->max_payload)
        return 0;
    uint64_t room = e->credit > e->sent ? e->credit - e->sent : 0;
    uint64_t fit = e->max_payload - hdr_len;
    return room < fit ? room : fit;
}

int h8s_resp_encode_sent(struct h8s_resp_encode *e, size_t hdr_len, uint64_t n)
{
    if (e->err)
        return e->err;
    if (n > h8s_resp_encode_room(e, hdr_len))
        return fail(e, H8S_RESP_ENCODE_E_CREDIT);
    e->sent += n;
    return 0;
}

static int seq_block(struct h8s_resp_encode *e, uint8_t *buf, size_t cap, struct span *hdr)
{
    int rc = h8s_ctl_build_seq(buf, cap, e->seq + 1, hdr);
    if (rc)
        return fail(e, H8S_RESP_ENCODE_E_NOSPC);
    e->seq++;
    return 0;
}

int h8s_resp_encode_chunk(struct h8s_resp_encode *e, uint64_t avail, uint8_t *buf, size_t cap,
                          struct span *hdr, uint64_t *take)
{
    if (e->err)
        return e->err;
    if (e->state != H8S_RESP_ENCODE_STREAM || avail == 0)
        return fail(e, H8S_RESP_ENCODE_E_STATE);
    /* The block is "NATS/1.0\r\nX-H8s-Seq: <n>\r\n\r\n"; size it before
     * deciding, so a chunk is never framed that then does not fit. */
    uint8_t tmp[H8S_RESP_ENCODE_SEQ_HDR_MAX];
    struct span probe;
    if (h8s_ctl_build_seq(tmp, sizeof(tmp), e->seq + 1, &probe) != 0)
        return fail(e, H8S_RESP_ENCODE_E_NOSPC);
    uint64_t room = h8s_resp_encode_room(e, probe.n);
    if (room == 0)
        return 0;
    int rc = seq_block(e, buf, cap, hdr);
    if (rc)
        return rc;
    *take = avail < room ? avail : room;
    e->sent += *take;
    return 1;
}

int h8s_resp_encode_end(struct h8s_resp_encode *e, uint8_t *buf, size_t cap, struct span *hdr)
{
    if (e->err)
        return e->err;
    if (e->state != H8S_RESP_ENCODE_STREAM)
        return fail(e, H8S_RESP_ENCODE_E_STATE);
    int rc = seq_block(e, buf, cap, hdr);
    if (rc)
        return rc;
    e->state = H8S_RESP_ENCODE_ENDED;
    return 0;
}

int h8s_resp_encode_credit(struct h8s_resp_encode *e, uint64_t credit)
{
    if (!e->flow || credit <= e->credit)
        return 0;
    e->credit = credit;
    return 1;
}

const char *h8s_resp_encode_strerror(int err)
{
    switch (err) {
    case 0:
        return "no error";
    case H8S_RESP_ENCODE_E_NOSPC:
        return "response header block too large";
    case H8S_RESP_ENCODE_E_FIELD:
        return "backend header not representable in NATS headers";
    case H8S_RESP_ENCODE_E_STATE:
        return "response framing call out of order";
    case H8S_RESP_ENCODE_E_CREDIT:
        return "send past credit or max_payload";
    }
    return "unknown error";
}
