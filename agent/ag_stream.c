/*
 * agent/ag_stream.c — from the app's response to NATS messages, and from
 * the gateway's body chunks to the app, with credit both ways.
 *
 * Framing (PROTOCOL.md §3, §4), decided when the response head arrives:
 *   - no body (HEAD, 204, 304) or a Content-Length that fits one message
 *     with its headers: collect, then one complete message;
 *   - unknown length (chunked, until close): collect for up to AG_PROBE_MS
 *     (or AG_XCHG_INLINE bytes); if the body ended by then it is one
 *     complete message, else what was collected starts a stream. A small
 *     chunked answer is thus one message even when the app writes head and
 *     chunks separately, and an SSE stream's head and first event wait at
 *     most AG_PROBE_MS;
 *   - a Content-Length too large for one message: a stream at once.
 * While streaming, what the app sends is published at the end of each read
 * as far as the gateway's credit (and NATS's output limit) allows; what is
 * left waits in the exchange buffer with the app's socket paused, so at
 * most one read is held per exchange.
 *
 * Every publish that NATS back-pressure refuses (NATS_E_AGAIN) is retried
 * from the same state when the client reports on_drained: control
 * messages are flags, a framed chunk is kept in pend_hdr, the rest is in
 * the buffer. Nothing is dropped and nothing is sent twice.
 */
#include "agent/ag_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "core/log.h"
#include "proto/h8s_wire.h"
#include "proto/nats_hdr.h"

#define TAIL H8S_RESP_ENCODE_TAIL_MAX

static struct ag_xchg *xof(void *cookie)
{
    return ((struct ag_bconn *)cookie)->x;
}

static size_t buf_limit(const struct agent *ag)
{
    return ag_max_payload(ag) + NATS_HDR_MAX + TAIL + 2 * 65536;
}

/* Grows the exchange buffer to at least need bytes, keeping its content. */
static int reserve(struct ag_xchg *x, size_t need)
{
    if (need <= x->cap)
        return 0;
    size_t lim = buf_limit(x->ag);
    if (need > lim)
        return -E2BIG;
    size_t ncap = x->cap * 2 > need ? x->cap * 2 : need;
    if (ncap > lim)
        ncap = lim;
    uint8_t *nb;
    if (x->buf == x->inline_buf) {
        if (!(nb = malloc(ncap)))
            return -ENOMEM;
        memcpy(nb, x->buf, x->cap);
    } else if (!(nb = realloc(x->buf, ncap))) {
        return -ENOMEM;
    }
    x->buf = nb;
    x->cap = ncap;
    return 0;
}

static void set_paused(struct ag_xchg *x, bool hold)
{
    if (!x->bc) {
        x->paused = false;
        return;
    }
    if (hold && !x->paused)
        loop_conn_pause(x->bc->c);
    else if (!hold && x->paused)
        loop_conn_resume(x->bc->c);
    x->paused = hold;
}

/* Closes the open head as a complete response of content_length. */
static int close_single(struct ag_xchg *x, uint64_t content_length)
{
    size_t len = x->hlen;
    if (h8s_resp_encode_single(&x->enc, x->buf, x->hlen + TAIL, &len, content_length) != 0)
        return -1;
    x->hlen = len;
    x->mode = AG_MODE_COLLECT;
    return 0;
}

static int start_stream(struct ag_xchg *x)
{
    size_t len = x->hlen;
    if (h8s_resp_encode_stream(&x->enc, x->buf, x->hlen + TAIL, &len,
                               span_make(x->agent_subj, x->agent_subj_len)) != 0)
        return -1;
    x->hlen = len;
    x->mode = AG_MODE_STREAM;
    x->outcome = "stream";
    return 0;
}

/* ------------------------------------------------------ backend response */

static int resp_head(void *cookie, const struct http_resp *r)
{
    struct ag_xchg *x = xof(cookie);
    size_t hlen;
    x->status = r->status;
    x->resp_keepalive = (r->flags & HTTP_RESP_F_KEEP_ALIVE) != 0;
    if (r->flags & HTTP_RESP_F_UPGRADE) {
        x->fail_why = "protocol upgrade not supported";
        return -1;
    }
    if (!x->reply_len)
        return 0; /* nobody to answer (publish-only gateway): read and drop */
    int rc = h8s_resp_encode_head(r, x->buf, x->cap - TAIL, &hlen);
    if (rc == H8S_RESP_ENCODE_E_NOSPC) {
        if (reserve(x, NATS_HDR_MAX + TAIL) != 0) {
            x->fail_why = "out of memory";
            return -1;
        }
        rc = h8s_resp_encode_head(r, x->buf, x->cap - TAIL, &hlen);
    }
    if (rc != 0) {
        x->fail_why = h8s_resp_encode_strerror(rc);
        return -1;
    }
    if (!h8s_resp_encode_fits(&x->enc, hlen + TAIL, 0)) {
        x->fail_why = "response head larger than max_payload";
        return -1;
    }
    x->hlen = hlen;
    x->boff = hlen + TAIL;
    x->blen = 0;
    /* HEAD and 304 describe a body they do not carry: their length is the
     * resource's, and without one the answer is an empty stream. */
    bool described = (x->rflags & H8S_REQ_DECODE_F_HEAD) || r->status == 304;
    if (r->flags & HTTP_RESP_F_NO_BODY) {
        x->resp_cl = described ? r->content_length : 0;
        if (described && !r->has_content_length)
            rc = start_stream(x);
        else
            rc = close_single(x, x->resp_cl);
    } else if (r->flags & HTTP_RESP_F_CONTENT_LENGTH) {
        if (h8s_resp_encode_fits(&x->enc, hlen + TAIL, r->content_length)) {
            x->resp_cl = r->content_length;
            rc = reserve(x, x->boff + (size_t)r->content_length);
            if (rc == 0)
                rc = close_single(x, r->content_length);
        } else {
            rc = start_stream(x);
        }
    } else {
        x->mode = AG_MODE_PROBE;
    }
    if (rc != 0) {
        x->fail_why = "cannot frame the response";
        return -1;
    }
    return 0;
}

static int resp_body(void *cookie, const uint8_t *p, size_t n)
{
    struct ag_xchg *x = xof(cookie);
    x->bytes_out += n;
    if (!x->reply_len)
        return 0;
    if (x->head_out && x->blen == 0)
        x->boff = 0;
    if (x->mode == AG_MODE_PROBE && x->boff + x->blen + n > sizeof(x->inline_buf) &&
        start_stream(x) != 0) {
        x->fail_why = "cannot frame the response";
        return -1;
    }
    if (x->head_out && x->boff + x->blen + n > x->cap && x->boff > 0) {
        memmove(x->buf, x->buf + x->boff, x->blen);
        x->boff = 0;
    }
    if (reserve(x, x->boff + x->blen + n) != 0) {
        x->fail_why = "response buffer exhausted";
        return -1;
    }
    memcpy(x->buf + x->boff + x->blen, p, n);
    x->blen += n;
    return 0;
}

const struct http_resp_ops ag_stream_resp_ops = {resp_head, resp_body};

/* ------------------------------------------------------------- publish */

static void block(struct ag_xchg *x)
{
    struct agent *ag = x->ag;
    if (x->blocked)
        return;
    x->blocked = true;
    x->blk_next = NULL;
    if (ag->blocked_tail)
        ag->blocked_tail->blk_next = x;
    else
        ag->blocked = x;
    ag->blocked_tail = x;
    ag->st.nats_blocked++;
    set_paused(x, true);
}

/* 0 published, 1 held back by NATS (x is queued for on_drained), -1
 * failed for good. */
static int pub(struct ag_xchg *x, struct span hdr, struct span data)
{
    int rc = nats_client_publish(x->ag->nc, span_make(x->reply, x->reply_len), span_make(NULL, 0),
                                 hdr, data);
    if (rc == 0)
        return 0;
    if (rc == NATS_E_AGAIN || rc == NATS_E_BUFFER_FULL) {
        block(x);
        return 1;
    }
    log_emit(LOG_WARN, "publish_failed", LOG_STR("id", x->id), LOG_STR("host", x->rt->host),
             LOG_STR("error", nats_client_strerror(rc)));
    return -1;
}

/* Head, chunks within credit, and the end once the response is done. */
static int stream_out(struct ag_xchg *x)
{
    int rc;
    if (!x->head_out) {
        uint64_t room = h8s_resp_encode_room(&x->enc, x->hlen);
        uint64_t take = x->blen < room ? x->blen : room;
        if ((rc = pub(x, span_make(x->buf, x->hlen), span_make(x->buf + x->boff, take))) != 0)
            return rc;
        h8s_resp_encode_sent(&x->enc, x->hlen, take);
        x->head_out = true;
        x->boff += take;
        x->blen -= take;
    }
    for (;;) {
        if (x->pend_hdr_len) {
            rc = pub(x, span_make(x->pend_hdr, x->pend_hdr_len),
                     span_make(x->buf + x->boff, x->pend_take));
            if (rc != 0)
                return rc;
            x->boff += x->pend_take;
            x->blen -= x->pend_take;
            x->pend_hdr_len = 0;
            if (x->end_pending) {
                x->mode = AG_MODE_SENT;
                return 0;
            }
        }
        if (x->blen == 0) {
            x->boff = 0;
            break;
        }
        struct span h;
        uint64_t take;
        rc = h8s_resp_encode_chunk(&x->enc, x->blen, x->pend_hdr, sizeof(x->pend_hdr), &h, &take);
        if (rc < 0)
            return -1;
        if (rc == 0)
            return 0; /* waiting for credit */
        x->pend_hdr_len = h.n;
        x->pend_take = take;
    }
    if (x->resp_done) {
        struct span h;
        if (h8s_resp_encode_end(&x->enc, x->pend_hdr, sizeof(x->pend_hdr), &h) != 0)
            return -1;
        x->pend_hdr_len = h.n;
        x->pend_take = 0;
        x->end_pending = true;
        if ((rc = pub(x, h, span_make(NULL, 0))) != 0)
            return rc;
        x->pend_hdr_len = 0;
        x->mode = AG_MODE_SENT;
    }
    return 0;
}

static int control_out(struct ag_xchg *x)
{
    uint8_t cb[H8S_CTL_HDR_MAX];
    struct span hdr;
    int rc;
    if (x->ready_pending) {
        if (h8s_ctl_build_ready(cb, sizeof(cb), span_make(x->agent_subj, x->agent_subj_len),
                                x->rx.granted, &hdr) != 0)
            return -1;
        if ((rc = pub(x, hdr, span_make(NULL, 0))) != 0)
            return rc;
        x->ready_pending = false;
        x->credit_pending = false; /* "ready" carried the latest grant */
    }
    if (x->credit_pending) {
        if (h8s_ctl_build_credit(cb, sizeof(cb), x->rx.granted, &hdr) != 0)
            return -1;
        if ((rc = pub(x, hdr, span_make(NULL, 0))) != 0)
            return rc;
        x->credit_pending = false;
    }
    return 0;
}

int ag_stream_flush(struct ag_xchg *x)
{
    int rc = 0;
    if (x->blocked)
        return 0;
    if (!x->reply_len) {
        if (x->resp_done) {
            ag_xchg_finish(x, NULL);
            return 1;
        }
        return 0;
    }
    if ((rc = control_out(x)) != 0)
        goto out;
    if (x->mode == AG_MODE_PROBE) {
        if (x->resp_done) {
            rc = close_single(x, x->blen);
        } else if (x->probe_over) {
            rc = start_stream(x);
        } else {
            if (!loop_timer_armed(&x->t_probe))
                loop_timer_start(x->ag->loop, &x->t_probe, AG_PROBE_MS);
            return 0;
        }
        loop_timer_stop(x->ag->loop, &x->t_probe);
        if (rc != 0)
            goto out;
    }
    if (x->mode == AG_MODE_COLLECT && x->resp_done) {
        rc = pub(x, span_make(x->buf, x->hlen), span_make(x->buf + x->boff, x->blen));
        if (rc == 0) {
            x->head_out = true;
            x->mode = AG_MODE_SENT;
        }
    } else if (x->mode == AG_MODE_STREAM) {
        rc = stream_out(x);
    }
out:
    if (rc < 0) {
        ag_xchg_abort(x, "publish_failed", false);
        return 1;
    }
    if (x->mode == AG_MODE_SENT) {
        ag_xchg_finish(x, NULL);
        return 1;
    }
    set_paused(x,
               x->blocked || (x->mode == AG_MODE_STREAM && (x->blen > 0 || x->pend_hdr_len > 0)));
    return 0;
}

void ag_stream_resp_done(struct ag_xchg *x)
{
    x->resp_done = true;
    if (x->bc) {
        ag_backend_release(x->bc, x->req_sent && x->resp_keepalive && !x->bc->extra);
        x->bc = NULL;
        x->paused = false;
    }
    loop_timer_stop(x->ag->loop, &x->t_grant);
    ag_stream_flush(x);
}

/* A complete "<status> <reason>" text response in place of whatever was
 * being framed; nothing of it was published. */
static void fail_with(struct ag_xchg *x, int status, const char *abort_reason)
{
    if (x->bc) {
        ag_backend_release(x->bc, false);
        x->bc = NULL;
        x->paused = false;
    }
    if (x->head_out || x->mode == AG_MODE_SENT || !x->reply_len) {
        ag_xchg_abort(x, abort_reason, true);
        return;
    }
    char text[64];
    int tn = snprintf(text, sizeof(text), "%d %s\n", status, http_status_reason(status));
    const struct http_head_field f[1] = {
        {SPAN_LIT("Content-Type"), SPAN_LIT("text/plain; charset=utf-8")}};
    struct http_resp r;
    memset(&r, 0, sizeof(r));
    r.status = status;
    r.fields = f;
    r.nfields = 1;
    size_t hlen;
    h8s_resp_encode_init(&x->enc, ag_max_payload(x->ag), 0, 0);
    if (x->cap < 1024 || h8s_resp_encode_head(&r, x->buf, 512, &hlen) != 0) {
        ag_xchg_abort(x, abort_reason, false);
        return;
    }
    x->hlen = hlen;
    x->boff = hlen + TAIL;
    memcpy(x->buf + x->boff, text, (size_t)tn);
    x->blen = (size_t)tn;
    x->status = status;
    x->pend_hdr_len = 0;
    x->end_pending = false;
    x->resp_done = true;
    x->outcome = "error";
    if (close_single(x, x->blen) != 0) {
        ag_xchg_abort(x, abort_reason, false);
        return;
    }
    ag_stream_flush(x);
}

void ag_stream_fail(struct ag_xchg *x, int status, const char *why)
{
    log_emit(LOG_WARN, "backend_error", LOG_STR("id", x->id), LOG_STR("host", x->rt->host),
             LOG_INT("status", status), LOG_STR("reason", why),
             LOG_BOOL("response_started", x->head_out));
    fail_with(x, status, status == 504 ? H8S_REASON_TIMEOUT : H8S_REASON_BACKEND);
}

void ag_stream_protocol_error(struct ag_xchg *x, const char *why)
{
    x->ag->st.stream_errors++;
    log_emit(LOG_WARN, "stream_error", LOG_STR("id", x->id), LOG_STR("host", x->rt->host),
             LOG_STR("reason", why));
    fail_with(x, 400, H8S_REASON_PROTOCOL);
}

/* ------------------------------------------------------- request body */

static bool grant_due(struct ag_xchg *x)
{
    struct agent *ag = x->ag;
    uint64_t credit;
    if (!(x->rflags & H8S_REQ_DECODE_F_STREAM) || x->rx.done || x->rx.err || !x->bc)
        return false;
    /* Queued bytes still in our output queue are not consumed; the head
     * counts among them until it is sent, which only delays a grant. */
    size_t pending = loop_conn_pending(x->bc->c);
    uint64_t consumed = x->body_written > pending ? x->body_written - pending : 0;
    if (h8s_ctl_rx_grant(&x->rx, consumed, AG_REQ_WINDOW, &credit)) {
        x->credit_pending = true;
        loop_timer_stop(ag->loop, &x->t_grant);
        return true;
    }
    /* The sender is short of credit and the socket has not drained far
     * enough: look again shortly (on_drain only reports large drops). */
    if (x->rx.granted - x->rx.received < AG_REQ_WINDOW / 2 && !loop_timer_armed(&x->t_grant))
        loop_timer_start(ag->loop, &x->t_grant, AG_GRANT_POLL_MS);
    return false;
}

void ag_stream_grant_check(struct ag_xchg *x)
{
    if (grant_due(x))
        ag_stream_flush(x);
}

static int write_body(struct ag_xchg *x, int what, struct span data)
{
    struct loop_conn *c = x->bc->c;
    bool chunked = (x->rflags & H8S_REQ_DECODE_F_CHUNKED) != 0;
    if (what == H8S_CTL_RX_END) {
        x->req_sent = true;
        loop_timer_stop(x->ag->loop, &x->t_grant);
        return chunked ? loop_conn_write(c, HTTP_RESP_LAST_CHUNK, 5) : 0;
    }
    int rc;
    if (chunked) {
        uint8_t ch[HTTP_RESP_CHUNK_HEAD_MAX];
        size_t hn = http_resp_chunk_head(ch, data.n);
        struct iovec v[3] = {{ch, hn}, {(void *)data.p, data.n}, {(void *)"\r\n", 2}};
        rc = loop_conn_writev(c, v, 3);
    } else {
        rc = loop_conn_write(c, data.p, data.n);
    }
    if (rc == 0)
        x->body_written += data.n;
    return rc;
}

void ag_stream_on_agent_msg(struct ag_xchg *x, const struct h8s_ctl *c, struct span data)
{
    struct agent *ag = x->ag;
    ag_xchg_touch(x);
    switch (c->kind) {
    case H8S_CTL_ABORT:
        ag->st.gateway_aborts++;
        log_emit(LOG_INFO, "exchange_aborted", LOG_STR("id", x->id), LOG_STR("host", x->rt->host),
                 LOG_STR("by", "gateway"), LOG_STRN("gateway_reason", c->reason.p, c->reason.n));
        ag_xchg_abort(x, "gateway_abort", false);
        return;
    case H8S_CTL_CREDIT:
        if ((c->has & H8S_CTL_HAS_CREDIT) && h8s_resp_encode_credit(&x->enc, c->credit))
            ag_stream_flush(x);
        return;
    case H8S_CTL_DATA:
        break;
    default:
        return; /* ready (ours, echoed?) and future kinds: nothing to do */
    }
    if (!(x->rflags & H8S_REQ_DECODE_F_STREAM)) {
        ag_stream_protocol_error(x, "body chunk without a body stream");
        return;
    }
    int what = h8s_ctl_rx_msg(&x->rx, c, data.n);
    if (what < 0) {
        ag_stream_protocol_error(x, h8s_ctl_strerror(what));
        return;
    }
    x->bytes_in += data.n;
    /* After an early answer the app no longer reads: the rest is dropped. */
    if (x->bc && !x->resp_done && write_body(x, what, data) != 0) {
        ag_stream_fail(x, 502, "cannot write the request body");
        return;
    }
    if (what == H8S_CTL_RX_DATA)
        grant_due(x);
    ag_stream_flush(x);
}

int ag_stream_reply_error(struct agent *ag, struct span reply, int status, const char *text)
{
    uint8_t hb[512];
    char body[160];
    const struct http_head_field f[1] = {
        {SPAN_LIT("Content-Type"), SPAN_LIT("text/plain; charset=utf-8")}};
    struct http_resp r;
    struct h8s_resp_encode e;
    size_t hlen;
    memset(&r, 0, sizeof(r));
    r.status = status;
    r.fields = f;
    r.nfields = 1;
    int bn = snprintf(body, sizeof(body), "%d %s: %s\n", status, http_status_reason(status), text);
    if (bn < 0 || (size_t)bn >= sizeof(body))
        bn = (int)sizeof(body) - 1;
    h8s_resp_encode_init(&e, ag_max_payload(ag), 0, 0);
    if (h8s_resp_encode_head(&r, hb, sizeof(hb) - TAIL, &hlen) != 0 ||
        h8s_resp_encode_single(&e, hb, sizeof(hb), &hlen, (uint64_t)bn) != 0)
        return -EINVAL;
    int rc = nats_client_publish(ag->nc, reply, span_make(NULL, 0), span_make(hb, hlen),
                                 span_make(body, (size_t)bn));
    if (rc != 0)
        log_emit(LOG_WARN, "publish_failed", LOG_INT("status", status),
                 LOG_STR("error", nats_client_strerror(rc)));
    return rc;
}
