/*
 * agent/ag_xchg.c — exchanges: a request message in, a backend connection
 * out, until the answer is published or the exchange is aborted.
 *
 * Lookups: by id (the last token of the agent subject the gateway sends
 * body chunks, credit and aborts to) and by close subject (what the
 * gateway publishes when the client goes away). Both are chained hash
 * tables sized from --max-exchanges at start-up; exchange objects are
 * recycled, so a request costs no allocation in the steady state.
 *
 * Retry: a request written to a pooled connection that the app closed
 * before answering (the app's keep-alive timeout raced our reuse) is sent
 * once more on a fresh connection, when it is idempotent and small enough
 * to have been kept (inline body, AG_XCHG_INLINE bytes with its head).
 */
#include "agent/ag_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "core/log.h"
#include "proto/h8s_wire.h"

static uint32_t hash_bytes(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

static struct ag_xchg *find_by_id(struct agent *ag, struct span id)
{
    if (id.n != RAND_ID_LEN)
        return NULL;
    uint32_t h = hash_bytes(id.p, id.n);
    for (struct ag_xchg *x = ag->by_id[h & (ag->nbuckets - 1)]; x; x = x->id_next) {
        if (x->id_hash == h && memcmp(x->id, id.p, id.n) == 0)
            return x;
    }
    return NULL;
}

static struct ag_xchg *find_by_close(struct agent *ag, struct span subj)
{
    uint32_t h = hash_bytes(subj.p, subj.n);
    for (struct ag_xchg *x = ag->by_close[h & (ag->nbuckets - 1)]; x; x = x->close_next) {
        if (x->close_hash == h && x->close_len == subj.n && memcmp(x->close, subj.p, subj.n) == 0)
            return x;
    }
    return NULL;
}

static void link_xchg(struct agent *ag, struct ag_xchg *x)
{
    struct ag_xchg **b = &ag->by_id[x->id_hash & (ag->nbuckets - 1)];
    x->id_next = *b;
    *b = x;
    if (x->close_len) {
        b = &ag->by_close[x->close_hash & (ag->nbuckets - 1)];
        x->close_next = *b;
        *b = x;
    }
    x->prev = NULL;
    x->next = ag->live;
    if (ag->live)
        ag->live->prev = x;
    ag->live = x;
    ag->nxchg++;
}

static void unlink_xchg(struct agent *ag, struct ag_xchg *x)
{
    struct ag_xchg **pp;
    for (pp = &ag->by_id[x->id_hash & (ag->nbuckets - 1)]; *pp; pp = &(*pp)->id_next) {
        if (*pp == x) {
            *pp = x->id_next;
            break;
        }
    }
    if (x->close_len) {
        for (pp = &ag->by_close[x->close_hash & (ag->nbuckets - 1)]; *pp; pp = &(*pp)->close_next) {
            if (*pp == x) {
                *pp = x->close_next;
                break;
            }
        }
    }
    if (x->blocked) {
        struct ag_xchg *prev = NULL;
        for (pp = &ag->blocked; *pp; prev = *pp, pp = &(*pp)->blk_next) {
            if (*pp == x) {
                *pp = x->blk_next;
                if (ag->blocked_tail == x)
                    ag->blocked_tail = prev;
                break;
            }
        }
        x->blocked = false;
    }
    if (x->prev)
        x->prev->next = x->next;
    else
        ag->live = x->next;
    if (x->next)
        x->next->prev = x->prev;
    ag->nxchg--;
}

static struct ag_xchg *xchg_alloc(struct agent *ag)
{
    struct ag_xchg *x = ag->free_list;
    if (x) {
        ag->free_list = x->next;
        ag->nfree--;
    } else if (!(x = malloc(sizeof(*x)))) {
        return NULL;
    }
    memset(x, 0, offsetof(struct ag_xchg, inline_buf));
    x->ag = ag;
    x->buf = x->inline_buf;
    x->cap = sizeof(x->inline_buf);
    return x;
}

static void xchg_free(struct agent *ag, struct ag_xchg *x)
{
    if (x->buf != x->inline_buf)
        free(x->buf);
    if (ag->nfree < AG_XCHG_FREE_MAX) {
        x->next = ag->free_list;
        ag->free_list = x;
        ag->nfree++;
    } else {
        free(x);
    }
}

static void idle_fired(struct loop *l, struct loop_timer *t)
{
    struct ag_xchg *x = LOOP_CONTAINER_OF(t, struct ag_xchg, t_idle);
    (void)l;
    if (!x->head_out)
        x->ag->st.backend_timeouts++;
    ag_stream_fail(x, 504, H8S_REASON_TIMEOUT);
}

static void probe_fired(struct loop *l, struct loop_timer *t)
{
    struct ag_xchg *x = LOOP_CONTAINER_OF(t, struct ag_xchg, t_probe);
    (void)l;
    x->probe_over = true;
    ag_stream_flush(x);
}

static void grant_fired(struct loop *l, struct loop_timer *t)
{
    (void)l;
    ag_stream_grant_check(LOOP_CONTAINER_OF(t, struct ag_xchg, t_grant));
}

void ag_xchg_touch(struct ag_xchg *x)
{
    loop_timer_start(x->ag->loop, &x->t_idle, x->ag->backend_timeout_ms);
}

static int idempotent(const char *m)
{
    static const char *const ok[] = {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (strcmp(m, ok[i]) == 0)
            return 1;
    }
    return 0;
}

/* Connects (or reuses) and queues the request. On failure x is finished
 * and -1 returned. */
static int start_backend(struct ag_xchg *x, struct span head, struct span body, bool fresh)
{
    struct agent *ag = x->ag;
    int err = 0;
    struct ag_bconn *bc = ag_backend_acquire(x->rt->be, x, fresh, &err);
    if (!bc) {
        ag->st.backend_fails++;
        ag_stream_fail(x, 502, err == -EHOSTUNREACH ? "backend unresolved" : "cannot connect");
        return -1;
    }
    x->bc = bc;
    x->reused = bc->uses > 1;
    if (http_resp_begin(&bc->rp, (x->rflags & H8S_REQ_DECODE_F_HEAD) != 0) != 0) {
        ag_stream_fail(x, 502, "backend connection unusable");
        return -1;
    }
    loop_conn_set_out_limit(bc->c, head.n + body.n + AG_REQ_WINDOW + 65536);
    struct iovec v[2] = {{(void *)head.p, head.n}, {(void *)body.p, body.n}};
    if (loop_conn_writev(bc->c, v, body.n ? 2 : 1) < 0) {
        ag_stream_fail(x, 502, "cannot write to backend");
        return -1;
    }
    if (x->reused && !x->retried && !(x->rflags & H8S_REQ_DECODE_F_STREAM) &&
        idempotent(x->method) && head.n + body.n <= sizeof(x->inline_buf)) {
        memcpy(x->inline_buf, head.p, head.n);
        if (body.n)
            memcpy(x->inline_buf + head.n, body.p, body.n);
        x->replay_len = head.n + body.n;
    }
    if (!(x->rflags & H8S_REQ_DECODE_F_STREAM))
        x->req_sent = true;
    return 0;
}

static void copy_trunc(char *dst, size_t cap, struct span s)
{
    size_t n = s.n < cap - 1 ? s.n : cap - 1;
    if (n)
        memcpy(dst, s.p, n);
    dst[n] = '\0';
}

static void refuse(struct agent *ag, struct ag_route *rt, struct span reply, int status,
                   const char *event, const char *why)
{
    log_emit(LOG_WARN, event, LOG_STR("host", rt->host), LOG_STR("reason", why));
    if (reply.n)
        ag_stream_reply_error(ag, reply, status, why);
}

void ag_xchg_on_request(struct nats_client *nc, struct nats_sub *sub, const struct nats_msg *m,
                        void *cookie)
{
    struct ag_route *rt = cookie;
    struct agent *ag = rt->be->ag;
    struct h8s_req_decode d;
    (void)nc;
    (void)sub;

    ag->st.requests++;
    int rc = h8s_req_decode(&d, &rt->dr, m, ag->head_buf, H8S_REQ_DECODE_HEAD_MAX);
    if (rc != 0) {
        ag->st.invalid++;
        log_emit(LOG_WARN, "request_invalid", LOG_STR("host", rt->host),
                 LOG_STR("reason", h8s_req_decode_strerror(rc)),
                 LOG_STRN("subject", m->subject.p, m->subject.n < 200 ? m->subject.n : 200));
        if (d.reply.n)
            ag_stream_reply_error(ag, d.reply, h8s_req_decode_status(rc),
                                  h8s_req_decode_strerror(rc));
        return;
    }
    if (ag->finishing) {
        /* Sent before our unsubscribe reached the server, delivered after
         * the last exchange ended: too late to start one. */
        refuse(ag, rt, d.reply, 503, "refused", "agent shutting down");
        return;
    }
    if (ag->nxchg >= (size_t)ag->cfg->max_exchanges) {
        ag->st.overloaded++;
        refuse(ag, rt, d.reply, 503, "overloaded", "too many exchanges in flight");
        return;
    }
    struct ag_xchg *x = xchg_alloc(ag);
    if (!x) {
        ag->st.overloaded++;
        refuse(ag, rt, d.reply, 503, "overloaded", "out of memory");
        return;
    }
    int n = -1;
    if (rand_id(&ag->rnd, x->id, RAND_ID_LEN) == 0)
        n = subject_reply(x->agent_subj, sizeof(x->agent_subj), span_cstr(ag->id),
                          span_make(x->id, RAND_ID_LEN));
    if (n < 0) {
        xchg_free(ag, x);
        refuse(ag, rt, d.reply, 503, "overloaded", "no random id");
        return;
    }
    x->agent_subj_len = (size_t)n;
    x->id_hash = hash_bytes((const uint8_t *)x->id, RAND_ID_LEN);
    x->rt = rt;
    x->rflags = d.flags;
    memcpy(x->reply, d.reply.p, d.reply.n);
    x->reply_len = d.reply.n;
    if (d.flags & H8S_REQ_DECODE_F_CLOSE) {
        memcpy(x->close, d.close_subject.p, d.close_subject.n);
        x->close_len = d.close_subject.n;
        x->close_hash = hash_bytes(x->close, x->close_len);
    }
    copy_trunc(x->method, sizeof(x->method), d.method);
    copy_trunc(x->target, sizeof(x->target), d.target);
    x->start_ms = loop_now_ms(ag->loop);
    x->outcome = "single";
    h8s_resp_encode_init(&x->enc, ag_max_payload(ag), (d.flags & H8S_REQ_DECODE_F_WINDOW) != 0,
                         d.window);
    loop_timer_init(&x->t_idle, idle_fired);
    loop_timer_init(&x->t_grant, grant_fired);
    loop_timer_init(&x->t_probe, probe_fired);
    link_xchg(ag, x);
    if (d.flags & H8S_REQ_DECODE_F_STREAM) {
        h8s_ctl_rx_init(&x->rx, AG_REQ_WINDOW,
                        (d.flags & H8S_REQ_DECODE_F_LENGTH) ? d.content_length : UINT64_MAX);
        x->ready_pending = true;
    }
    x->bytes_in = d.body.n;
    ag_xchg_touch(x);
    if (start_backend(x, d.head, d.body, false) != 0)
        return;
    ag_stream_flush(x);
}

/* The app closed (or reset) a connection before answering: try once more
 * on a fresh connection when that is safe, else fail. */
static void retry_or_fail(struct ag_xchg *x, int err)
{
    struct agent *ag = x->ag;
    if (x->bc) {
        ag_backend_release(x->bc, false);
        x->bc = NULL;
    }
    if (x->replay_len && !x->got_resp && !x->retried && err != -ETIMEDOUT) {
        x->retried = true;
        ag->st.retries++;
        size_t n = x->replay_len;
        x->replay_len = 0;
        start_backend(x, span_make(x->inline_buf, n), span_make(NULL, 0), true);
        return;
    }
    if (err == -ETIMEDOUT) {
        ag->st.backend_timeouts++;
        ag_stream_fail(x, 504, "backend connect timeout");
    } else {
        ag->st.backend_fails++;
        ag_stream_fail(x, 502, err == -ECONNREFUSED ? "connection refused" : "connection lost");
    }
}

void ag_xchg_backend_data(struct ag_xchg *x, const uint8_t *p, size_t n)
{
    struct ag_bconn *bc = x->bc;
    if (n == 0) {
        /* The app closed its side: the end of an until-close body, or an
         * answer cut short. The connection is done either way. */
        bc->extra = true;
        int rc = http_resp_finish(&bc->rp);
        if (rc == HTTP_RESP_DONE)
            ag_stream_resp_done(x);
        else if (rc == 0 && !x->got_resp)
            retry_or_fail(x, -ECONNRESET);
        else
            ag_stream_fail(x, 502, http_resp_reason(&bc->rp));
        return;
    }
    x->got_resp = true;
    x->replay_len = 0;
    ag_xchg_touch(x);
    size_t off = 0;
    while (off < n) {
        size_t used = 0;
        int rc = http_resp_feed(&bc->rp, p + off, n - off, &used);
        off += used;
        if (rc == HTTP_RESP_DONE) {
            if (off < n)
                bc->extra = true; /* the app sent more than one answer */
            ag_stream_resp_done(x);
            return;
        }
        if (rc != HTTP_RESP_OK) {
            ag_stream_fail(x, 502, x->fail_why ? x->fail_why : http_resp_reason(&bc->rp));
            return;
        }
    }
    ag_stream_flush(x);
}

void ag_xchg_backend_closed(struct ag_xchg *x, int err)
{
    if (x->resp_done)
        return;
    retry_or_fail(x, err);
}

void ag_xchg_backend_drain(struct ag_xchg *x)
{
    ag_stream_grant_check(x);
}

static void access_log(const struct ag_xchg *x, const char *reason)
{
    const struct agent *ag = x->ag;
    uint64_t ms = loop_now_ms(ag->loop) - x->start_ms;
    if (reason)
        log_emit(LOG_INFO, "access", LOG_STR("id", x->id), LOG_STR("host", x->rt->host),
                 LOG_STR("method", x->method), LOG_STR("target", x->target),
                 LOG_INT("status", x->status), LOG_STR("outcome", x->outcome),
                 LOG_STR("reason", reason), LOG_UINT("bytes_in", x->bytes_in),
                 LOG_UINT("bytes_out", x->bytes_out), LOG_UINT("ms", ms),
                 LOG_BOOL("reused", x->reused));
    else
        log_emit(LOG_INFO, "access", LOG_STR("id", x->id), LOG_STR("host", x->rt->host),
                 LOG_STR("method", x->method), LOG_STR("target", x->target),
                 LOG_INT("status", x->status), LOG_STR("outcome", x->outcome),
                 LOG_UINT("bytes_in", x->bytes_in), LOG_UINT("bytes_out", x->bytes_out),
                 LOG_UINT("ms", ms), LOG_BOOL("reused", x->reused));
}

void ag_xchg_finish(struct ag_xchg *x, const char *reason)
{
    struct agent *ag = x->ag;
    if (x->bc) {
        bool reusable = !reason && x->resp_done && x->req_sent && x->resp_keepalive;
        ag_backend_release(x->bc, reusable);
        x->bc = NULL;
    }
    loop_timer_stop(ag->loop, &x->t_idle);
    loop_timer_stop(ag->loop, &x->t_grant);
    loop_timer_stop(ag->loop, &x->t_probe);
    unlink_xchg(ag, x);
    access_log(x, reason);
    if (x->status >= 100 && x->status <= 599)
        ag->st.status_class[x->status / 100]++;
    ag->st.bytes_in += x->bytes_in;
    ag->st.bytes_out += x->bytes_out;
    if (strcmp(x->outcome, "single") == 0)
        ag->st.single++;
    else if (strcmp(x->outcome, "stream") == 0)
        ag->st.streamed++;
    else if (strcmp(x->outcome, "error") == 0)
        ag->st.errors++;
    else
        ag->st.aborted++;
    xchg_free(ag, x);
    if (ag->draining)
        ag_drain_check(ag);
}

void ag_xchg_abort(struct ag_xchg *x, const char *reason, bool tell_gateway)
{
    struct agent *ag = x->ag;
    if (tell_gateway && x->reply_len && x->head_out && x->mode != AG_MODE_SENT &&
        (x->rflags & H8S_REQ_DECODE_F_WINDOW)) {
        uint8_t b[H8S_CTL_HDR_MAX];
        struct span hdr;
        if (h8s_ctl_build_abort(b, sizeof(b), span_cstr(reason), &hdr) == 0)
            nats_client_publish(ag->nc, span_make(x->reply, x->reply_len), span_make(NULL, 0), hdr,
                                span_make(NULL, 0));
    }
    x->outcome = "aborted";
    ag_xchg_finish(x, reason);
}

void ag_xchg_abort_all(struct agent *ag, const char *reason)
{
    while (ag->live)
        ag_xchg_abort(ag->live, reason, true);
}

void ag_xchg_on_agent_msg(struct nats_client *nc, struct nats_sub *sub, const struct nats_msg *m,
                          void *cookie)
{
    struct agent *ag = cookie;
    struct h8s_ctl c;
    (void)nc;
    (void)sub;
    /* "_INBOX.h8s.<agent id>.<exchange id>": the wildcard less its '*'. */
    size_t pre = ag->inbox_wild_len - 1;
    if (m->subject.n <= pre || memcmp(m->subject.p, ag->inbox_wild, pre) != 0)
        return;
    struct ag_xchg *x = find_by_id(ag, span_make(m->subject.p + pre, m->subject.n - pre));
    if (!x) {
        log_emit(LOG_DEBUG, "agent_msg_unknown", LOG_STRN("subject", m->subject.p, m->subject.n));
        return;
    }
    if (h8s_ctl_parse(&c, m->hdr) != 0) {
        ag_stream_protocol_error(x, "malformed control headers");
        return;
    }
    ag_stream_on_agent_msg(x, &c, m->payload);
}

void ag_xchg_on_closed(struct nats_client *nc, struct nats_sub *sub, const struct nats_msg *m,
                       void *cookie)
{
    struct agent *ag = cookie;
    (void)nc;
    (void)sub;
    struct ag_xchg *x = find_by_close(ag, m->subject);
    if (!x)
        return;
    ag->st.gateway_aborts++;
    log_emit(LOG_INFO, "exchange_aborted", LOG_STR("id", x->id), LOG_STR("host", x->rt->host),
             LOG_STR("by", "close_subject"),
             LOG_STRN("gateway_reason", m->payload.p, m->payload.n < 64 ? m->payload.n : 64));
    ag_xchg_abort(x, "gateway_closed", false);
}
