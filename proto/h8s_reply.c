/*
 * proto/h8s_reply.c — see h8s_reply.h.
 *
 * Each message's header block is scanned once for the handful of fields
 * the state machine reads; names are compared case-insensitively because
 * NATS clients in other languages do not all keep the case they were given.
 */
#include "proto/h8s_reply.h"

#include "proto/h8s_wire.h"
#include "proto/http_head.h"

#include <string.h>

enum { ST_WAIT, ST_STREAM, ST_DONE };

struct fields {
    struct span status_code, status, length, control, agent, credit, seq;
    uint8_t has_status_code, has_status, has_length, has_control, has_agent, has_credit, has_seq;
    uint8_t length_conflict;
};

static int fail(struct h8s_reply *r, int err)
{
    if (r->err == 0)
        r->err = err;
    return r->err;
}

static int prefix_nocase(struct span s, const char *pre)
{
    size_t n = strlen(pre);
    return s.n >= n && span_eq_nocase(span_make(s.p, n), span_make(pre, n));
}

static void take(struct span v, struct span *dst, uint8_t *has)
{
    if (!*has) {
        *dst = v;
        *has = 1;
    }
}

static void scan(const struct nats_hdr *h, struct fields *f)
{
    struct nats_hdr_iter it;
    struct span k, v;
    memset(f, 0, sizeof(*f));
    nats_hdr_iter_init(&it, h);
    while (nats_hdr_next(&it, &k, &v)) {
        if (span_eq_nocase(k, SPAN_LIT(H8S_HDR_STATUS_CODE))) {
            take(v, &f->status_code, &f->has_status_code);
        } else if (span_eq_nocase(k, SPAN_LIT(H8S_HDR_STATUS))) {
            take(v, &f->status, &f->has_status);
        } else if (span_eq_nocase(k, SPAN_LIT("Content-Length"))) {
            if (f->has_length && !span_eq(f->length, v))
                f->length_conflict = 1;
            take(v, &f->length, &f->has_length);
        } else if (prefix_nocase(k, H8S_HDR_INTERNAL_PREFIX)) {
            if (span_eq_nocase(k, SPAN_LIT(H8S_HDR_CONTROL)))
                take(v, &f->control, &f->has_control);
            else if (span_eq_nocase(k, SPAN_LIT(H8S_HDR_AGENT_SUBJECT)))
                take(v, &f->agent, &f->has_agent);
            else if (span_eq_nocase(k, SPAN_LIT(H8S_HDR_CREDIT)))
                take(v, &f->credit, &f->has_credit);
            else if (span_eq_nocase(k, SPAN_LIT(H8S_HDR_SEQ)))
                take(v, &f->seq, &f->has_seq);
        }
    }
}

/* Decimal, 1..20 digits, no sign, no overflow. */
static int parse_u64(struct span s, uint64_t *out)
{
    uint64_t v = 0;
    if (s.n == 0 || s.n > 20)
        return -1;
    for (size_t i = 0; i < s.n; i++) {
        unsigned d = (unsigned)s.p[i] - '0';
        if (d > 9 || v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* Status-Code, else the number that starts Status, else 200. */
static int pick_status(const struct fields *f)
{
    uint64_t v;
    if (f->has_status_code) {
        if (parse_u64(f->status_code, &v) < 0)
            return -1;
    } else if (f->has_status) {
        struct span s = f->status;
        if (s.n < 3 || (s.n > 3 && s.p[3] != ' ' && s.p[3] != '\t'))
            return -1;
        if (parse_u64(span_make(s.p, 3), &v) < 0)
            return -1;
    } else {
        return 200;
    }
    return v >= 200 && v <= 999 ? (int)v : -1;
}

/* "_INBOX.h8s.<id>.<id>": the only shape an agent address may take, so a
 * responder cannot make the gateway publish on request or control subjects. */
static int agent_ok(struct span s)
{
    const size_t pre = sizeof(SUBJECT_INBOX_PREFIX) - 1;
    if (s.n > H8S_REPLY_AGENT_MAX || s.n <= pre || memcmp(s.p, SUBJECT_INBOX_PREFIX, pre) != 0)
        return 0;
    struct span rest = span_make(s.p + pre, s.n - pre);
    const uint8_t *dot = rest.n ? memchr(rest.p, '.', rest.n) : NULL;
    if (!dot)
        return 0;
    struct span a = span_make(rest.p, (size_t)(dot - rest.p));
    struct span b = span_make(dot + 1, rest.n - a.n - 1);
    return subject_id_ok(a) && subject_id_ok(b);
}

static int set_agent(struct h8s_reply *r, struct span s)
{
    if (!agent_ok(s))
        return -1;
    if (r->agent_len == 0) {
        memcpy(r->agent, s.p, s.n);
        r->agent_len = s.n;
    }
    return 0;
}

void h8s_reply_init(struct h8s_reply *r, uint64_t window, unsigned flags)
{
    memset(r, 0, sizeof(*r));
    r->state = ST_WAIT;
    r->head_req = (flags & H8S_REPLY_HEAD) != 0;
    r->granted = window;
    r->step = window >= 4 ? window / 4 : 1;
}

static int control(struct h8s_reply *r, const struct fields *f, struct h8s_reply_event *ev)
{
    uint64_t v;
    if (span_eq_nocase(f->control, SPAN_LIT(H8S_CONTROL_ABORT)))
        return fail(r, H8S_REPLY_E_ABORTED);
    int ready = span_eq_nocase(f->control, SPAN_LIT(H8S_CONTROL_READY));
    if (!ready && !span_eq_nocase(f->control, SPAN_LIT(H8S_CONTROL_CREDIT)))
        return H8S_REPLY_EV_NONE;
    if (!f->has_credit || parse_u64(f->credit, &v) < 0)
        return fail(r, H8S_REPLY_E_PROTOCOL);
    if (ready && (!f->has_agent || set_agent(r, f->agent) < 0))
        return fail(r, H8S_REPLY_E_PROTOCOL);
    /* Cumulative: a late or reordered smaller value changes nothing. */
    if (v > r->req_credit)
        r->req_credit = v;
    ev->credit = r->req_credit;
    ev->kind = ready ? H8S_REPLY_EV_READY : H8S_REPLY_EV_CREDIT;
    return ev->kind;
}

/* Accounts n body bytes of the stream; the client gets them unless the
 * response has no body. */
static int take_body(struct h8s_reply *r, struct span payload, uint64_t room,
                     struct h8s_reply_event *ev)
{
    if (payload.n > UINT64_MAX - r->delivered)
        return fail(r, H8S_REPLY_E_OVERFLOW);
    r->delivered += payload.n;
    if (r->fc && r->delivered > r->granted)
        return fail(r, H8S_REPLY_E_OVERFLOW);
    if (r->no_body)
        return 0;
    if (payload.n > room)
        return fail(r, H8S_REPLY_E_OVERFLOW);
    ev->body = payload;
    return 0;
}

static int no_body_status(const struct h8s_reply *r, int status)
{
    return r->head_req || status == 204 || status == 304;
}

static int first(struct h8s_reply *r, const struct nats_hdr *h, const struct fields *f,
                 struct span payload, uint64_t room, struct h8s_reply_event *ev)
{
    uint64_t cl;
    if (h->block.n == 0) {
        /* A plain reply: a complete 200 whose body is the data. */
        ev->status = 200;
        ev->flags = H8S_REPLY_F_LENGTH;
        ev->content_length = payload.n;
        if (r->head_req) {
            ev->flags |= H8S_REPLY_F_NO_BODY;
        } else if (payload.n > room) {
            return fail(r, H8S_REPLY_E_OVERFLOW);
        } else {
            ev->body = payload;
        }
        r->state = ST_DONE;
        return ev->kind = H8S_REPLY_EV_RESPONSE;
    }
    int status = pick_status(f);
    if (status < 0)
        return fail(r, H8S_REPLY_E_PROTOCOL);
    if (f->has_agent) {
        if (set_agent(r, f->agent) < 0)
            return fail(r, H8S_REPLY_E_PROTOCOL);
        r->fc = 1;
        r->seq_mode = 1;
    }
    ev->status = status;
    ev->hdr = *h;
    r->no_body = (uint8_t)no_body_status(r, status);
    if (r->no_body)
        ev->flags |= H8S_REPLY_F_NO_BODY;

    if (f->has_length) {
        if (f->length_conflict || parse_u64(f->length, &cl) < 0)
            return fail(r, H8S_REPLY_E_PROTOCOL);
        if (status != 204)
            ev->flags |= H8S_REPLY_F_LENGTH;
        ev->content_length = cl;
        if (!r->no_body) {
            /* The data is the whole body: a length that disagrees would
             * make the client wait for bytes that never come, or read the
             * next response as body. */
            if (cl != payload.n)
                return fail(r, H8S_REPLY_E_PROTOCOL);
            if (payload.n > room)
                return fail(r, H8S_REPLY_E_OVERFLOW);
            ev->body = payload;
        }
        r->state = ST_DONE;
        return ev->kind = H8S_REPLY_EV_RESPONSE;
    }
    r->state = ST_STREAM;
    r->seq_next = 1;
    if (take_body(r, payload, room, ev) < 0)
        return r->err;
    return ev->kind = H8S_REPLY_EV_STREAM_START;
}

static int next(struct h8s_reply *r, const struct fields *f, struct span payload, uint64_t room,
                struct h8s_reply_event *ev)
{
    uint64_t seq;
    if (f->has_seq) {
        if (parse_u64(f->seq, &seq) < 0)
            return fail(r, H8S_REPLY_E_PROTOCOL);
        if (seq != r->seq_next)
            return fail(r, H8S_REPLY_E_SEQ);
        r->seq_mode = 1;
    } else if (r->seq_mode) {
        return fail(r, H8S_REPLY_E_SEQ);
    }
    r->seq_next++;
    if (payload.n == 0) {
        r->state = ST_DONE;
        return ev->kind = H8S_REPLY_EV_STREAM_END;
    }
    if (take_body(r, payload, room, ev) < 0)
        return r->err;
    return ev->kind = H8S_REPLY_EV_STREAM_DATA;
}

int h8s_reply_feed(struct h8s_reply *r, struct span hdr, struct span payload, uint64_t room,
                   struct h8s_reply_event *ev)
{
    struct nats_hdr h;
    struct fields f;

    memset(ev, 0, sizeof(*ev));
    if (r->err)
        return r->err;
    if (r->state == ST_DONE)
        return H8S_REPLY_EV_NONE;
    memset(&h, 0, sizeof(h));
    memset(&f, 0, sizeof(f));
    if (hdr.n > 0) {
        if (nats_hdr_parse(&h, hdr) != 0)
            return fail(r, H8S_REPLY_E_PROTOCOL);
        scan(&h, &f);
    }
    if (h.status == NATS_HDR_STATUS_NO_RESPONDERS && r->state == ST_WAIT) {
        r->state = ST_DONE;
        return ev->kind = H8S_REPLY_EV_NO_RESPONDERS;
    }
    if (h.status == NATS_HDR_STATUS_CONTROL)
        return H8S_REPLY_EV_NONE; /* a server heartbeat, not the responder */
    if (f.has_control)
        return control(r, &f, ev);
    if (r->state == ST_WAIT)
        return first(r, &h, &f, payload, room, ev);
    return next(r, &f, payload, room, ev);
}

int h8s_reply_credit(struct h8s_reply *r, uint64_t room, uint64_t *credit)
{
    if (r->err || r->state != ST_STREAM || !r->fc)
        return 0;
    uint64_t want = room > UINT64_MAX - r->delivered ? UINT64_MAX : r->delivered + room;
    if (want <= r->granted || want - r->granted < r->step)
        return 0;
    r->granted = want;
    *credit = want;
    return 1;
}

struct span h8s_reply_agent(const struct h8s_reply *r)
{
    return span_make(r->agent, r->agent_len);
}

int h8s_reply_done(const struct h8s_reply *r)
{
    return r->err == 0 && r->state == ST_DONE;
}

int h8s_reply_streaming(const struct h8s_reply *r)
{
    return r->err == 0 && r->state == ST_STREAM;
}

uint64_t h8s_reply_delivered(const struct h8s_reply *r)
{
    return r->delivered;
}

int h8s_reply_internal(struct span key)
{
    return span_eq_nocase(key, SPAN_LIT(H8S_HDR_STATUS)) ||
           span_eq_nocase(key, SPAN_LIT(H8S_HDR_STATUS_CODE)) ||
           prefix_nocase(key, H8S_HDR_INTERNAL_PREFIX) ||
           span_eq_nocase(key, SPAN_LIT("Content-Length")) ||
           span_eq_nocase(key, SPAN_LIT("Transfer-Encoding")) ||
           http_head_hop_by_hop(key, NULL, 0);
}

void h8s_reply_fwd_init(struct h8s_reply_fwd *f, const struct nats_hdr *h)
{
    f->h = h;
    nats_hdr_iter_init(&f->it, h);
}

/* A name listed in one of the block's Connection fields is hop-by-hop too. */
static int connection_named(const struct nats_hdr *h, struct span key)
{
    struct nats_hdr_iter it;
    struct span k, v;
    nats_hdr_iter_init(&it, h);
    while (nats_hdr_next(&it, &k, &v)) {
        if (span_eq_nocase(k, SPAN_LIT("Connection")) && http_head_list_has(v, key))
            return 1;
    }
    return 0;
}

int h8s_reply_fwd_next(struct h8s_reply_fwd *f, struct span *key, struct span *val)
{
    while (nats_hdr_next(&f->it, key, val)) {
        if (!h8s_reply_internal(*key) && !connection_named(f->h, *key))
            return 1;
    }
    return 0;
}

const char *h8s_reply_reason(int err)
{
    switch (err) {
    case H8S_REPLY_E_OVERFLOW:
        return H8S_REASON_OVERFLOW;
    default:
        return H8S_REASON_PROTOCOL;
    }
}
