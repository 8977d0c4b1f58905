/*
 * gateway/gw_body.c — request bodies.
 *
 * A body that fits one NATS message with its headers is buffered whole and
 * published as the request's data, which every responder understands.
 * Anything larger (known from Content-Length, or a chunked body that
 * outgrows one message) travels as a stream (PROTOCOL.md §4): the request
 * goes out with X-H8s-Body: stream, and once the agent says "ready" the
 * body follows to its subject in numbered chunks, never past its credit.
 * The stream buffer is a fixed window; when it is full the connection
 * stops reading (gw_body_room is 0) and TCP slows the client down.
 */
#include "gw_internal.h"

#include "core/log.h"
#include "proto/h8s_wire.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GW_STREAM_BUF (256 * 1024)
#define GW_LATER_FIRST (64 * 1024)
#define GW_CHUNK_HDR_MAX 64 /* "NATS/1.0\r\nX-H8s-Seq: <20 digits>\r\n\r\n" */

static size_t body_base(const struct gw_xchg *x)
{
    return x->subj_len + x->hdr_cap;
}

int gw_body_begin(struct gw_conn *c, size_t subj_len, size_t hdr_len, uint64_t len)
{
    struct gw_xchg *x = &c->x;
    size_t body;
    switch (x->body) {
    case GW_BODY_INLINE:
        body = (size_t)len; /* at most max_payload: checked by the caller */
        break;
    case GW_BODY_LATER:
        body = GW_LATER_FIRST;
        break;
    default:
        body = GW_STREAM_BUF;
        break;
    }
    x->subj_len = subj_len;
    x->hdr_len = hdr_len;
    /* Room for the fields added once the body's fate is known. */
    x->hdr_cap = hdr_len ? hdr_len + 2 * H8S_REQ_APPEND_ROOM : 0;
    x->buf_cap = subj_len + x->hdr_cap + body;
    x->buf = malloc(x->buf_cap ? x->buf_cap : 1);
    if (!x->buf)
        return -ENOMEM;
    x->body_off = x->body_len = 0;
    return 0;
}

void gw_body_free(struct gw_conn *c)
{
    free(c->x.buf);
    c->x.buf = NULL;
    c->x.buf_cap = 0;
}

static struct span subject(const struct gw_xchg *x)
{
    return span_make(x->buf, x->subj_len);
}

static struct span hdr(const struct gw_xchg *x)
{
    return span_make(x->buf + x->subj_len, x->hdr_len);
}

static int reply_subject(const struct gw_conn *c, uint8_t *out, size_t cap)
{
    return subject_reply(out, cap, span_cstr(c->w->gw_id), span_make(c->x.req_id, RAND_ID_LEN));
}

/* Bytes of body that still fit in one message with the header block. */
static uint64_t inline_max(const struct gw_conn *c)
{
    const struct gw_xchg *x = &c->x;
    uint64_t mp = c->w->max_payload;
    return x->hdr_len + H8S_REQ_APPEND_ROOM < mp ? mp - x->hdr_len - H8S_REQ_APPEND_ROOM : 0;
}

static int grow(struct gw_xchg *x, size_t need)
{
    size_t cap = x->buf_cap - body_base(x);
    if (need <= cap)
        return 0;
    while (cap < need)
        cap *= 2;
    uint8_t *nb = realloc(x->buf, body_base(x) + cap);
    if (!nb)
        return -ENOMEM;
    x->buf = nb;
    x->buf_cap = body_base(x) + cap;
    return 0;
}

int gw_body_to_stream(struct gw_conn *c)
{
    struct gw_xchg *x = &c->x;
    uint8_t reply[SUBJECT_REPLY_MAX];
    int rn = reply_subject(c, reply, sizeof(reply));
    size_t len = x->hdr_len;
    if (rn < 0 || h8s_req_encode_append(x->buf + x->subj_len, x->hdr_cap, &len,
                                        SPAN_LIT(H8S_HDR_BODY), SPAN_LIT(H8S_BODY_STREAM)) < 0)
        return -EINVAL;
    x->hdr_len = len;
    /* The window must take one more feed on top of what is buffered. */
    if (grow(x, x->body_len + GW_STASH_CAP) < 0)
        return -ENOMEM;
    if (gw_worker_publish(c->w, subject(x), span_make(reply, (size_t)rn), hdr(x),
                          span_make(NULL, 0)) < 0)
        return -EIO;
    x->body = GW_BODY_STREAM;
    x->published = true;
    return 0;
}

int gw_body_take(struct gw_conn *c, const uint8_t *p, size_t n)
{
    struct gw_xchg *x = &c->x;
    switch (x->body) {
    case GW_BODY_INLINE:
        if (n > x->buf_cap - body_base(x) - x->body_len)
            return 400; /* the parser holds Content-Length: cannot happen */
        break;
    case GW_BODY_LATER:
        if (x->body_len + n > inline_max(c)) {
            if (c->w->cfg->publish_only)
                return 413;
            if (gw_body_to_stream(c) < 0)
                return 503;
            break;
        }
        if (grow(x, x->body_len + n) < 0)
            return 503;
        break;
    case GW_BODY_STREAM:
        if (n > x->buf_cap - body_base(x) - x->body_off - x->body_len) {
            memmove(x->buf + body_base(x), x->buf + body_base(x) + x->body_off, x->body_len);
            x->body_off = 0;
        }
        if (n > x->buf_cap - body_base(x) - x->body_len)
            return 500; /* gw_body_room bounds the feed: cannot happen */
        break;
    default:
        return 0;
    }
    memcpy(x->buf + body_base(x) + x->body_off + x->body_len, p, n);
    x->body_len += n;
    x->body_total += n;
    gw_xchg_arm_timer(c); /* the client is making progress */
    if (x->body == GW_BODY_STREAM)
        gw_body_pump(c);
    return 0;
}

size_t gw_body_room(const struct gw_conn *c)
{
    const struct gw_xchg *x = &c->x;
    if (x->body != GW_BODY_STREAM)
        return SIZE_MAX;
    return x->buf_cap - body_base(x) - x->body_len;
}

int gw_body_publish_whole(struct gw_conn *c)
{
    struct gw_xchg *x = &c->x;
    if (x->body == GW_BODY_LATER) {
        char v[24];
        size_t len = x->hdr_len;
        int k = snprintf(v, sizeof(v), "%zu", x->body_len);
        if (h8s_req_encode_append(x->buf + x->subj_len, x->hdr_cap, &len,
                                  SPAN_LIT("Content-Length"), span_make(v, (size_t)k)) < 0)
            return -EINVAL;
        x->hdr_len = len;
    }
    uint8_t reply[SUBJECT_REPLY_MAX];
    int rn = 0;
    if (!c->w->cfg->publish_only && (rn = reply_subject(c, reply, sizeof(reply))) < 0)
        return -EINVAL;
    int rc = gw_worker_publish(c->w, subject(x), span_make(reply, (size_t)rn), hdr(x),
                               span_make(x->buf + body_base(x), x->body_len));
    gw_body_free(c);
    x->body = GW_BODY_NONE;
    return rc < 0 ? -EIO : 0;
}

static int publish_chunk(struct gw_conn *c, struct span agent, const uint8_t *p, size_t n)
{
    char h[GW_CHUNK_HDR_MAX];
    int k = snprintf(h, sizeof(h), "NATS/1.0\r\n%s: %llu\r\n\r\n", H8S_HDR_SEQ,
                     (unsigned long long)(c->x.body_seq + 1));
    int rc = gw_worker_publish(c->w, agent, span_make(NULL, 0), span_make(h, (size_t)k),
                               span_make(p, n));
    if (rc == 0)
        c->x.body_seq++;
    return rc;
}

void gw_body_pump(struct gw_conn *c)
{
    struct gw_xchg *x = &c->x;
    struct span agent = h8s_reply_agent(&x->reply);
    if (!x->active || x->body != GW_BODY_STREAM || agent.n == 0 || x->body_end_sent)
        return;
    uint64_t max_chunk = c->w->max_payload > 2 * GW_CHUNK_HDR_MAX
                             ? c->w->max_payload - 2 * GW_CHUNK_HDR_MAX
                             : GW_CHUNK_HDR_MAX;
    bool freed = false;
    while (x->body_len > 0 && x->body_credit > x->body_sent) {
        uint64_t k = x->body_len;
        if (k > x->body_credit - x->body_sent)
            k = x->body_credit - x->body_sent;
        if (k > max_chunk)
            k = max_chunk;
        int rc = publish_chunk(c, agent, x->buf + body_base(x) + x->body_off, (size_t)k);
        if (rc == NATS_E_AGAIN) {
            x->want_nats_drain = true;
            break;
        }
        if (rc < 0) {
            gw_xchg_abort(c, H8S_REASON_PROTOCOL, 503);
            return;
        }
        x->body_sent += k;
        x->body_off += (size_t)k;
        x->body_len -= (size_t)k;
        freed = true;
    }
    if (x->body_len == 0)
        x->body_off = 0;
    if (x->req_done && x->body_len == 0 && !x->body_end_sent) {
        int rc = publish_chunk(c, agent, NULL, 0);
        if (rc == NATS_E_AGAIN)
            x->want_nats_drain = true;
        else if (rc < 0)
            gw_xchg_abort(c, H8S_REASON_PROTOCOL, 503);
        else
            x->body_end_sent = true;
    }
    if (freed && !x->req_done)
        gw_conn_unblock(c);
}
