/*
 * gateway/gw_xchg.c — one exchange: the checks a request passes before it
 * goes out (authorization, host, filters, interest), the request message,
 * the reply events, timeouts and aborts.
 *
 * An exchange starts in on_head and ends when both the request has been
 * read and the response written; only then does the connection parse its
 * next request. Everything the responder must learn when it ends early
 * (the reason on the close subject, an abort on its own subject) is sent
 * from gw_xchg_abort and gw_xchg_client_gone.
 */
#include "gw_internal.h"

#include "core/log.h"
#include "core/units.h"
#include "proto/h8s_wire.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

static void copy_str(char *dst, size_t cap, struct span s)
{
    size_t n = s.n < cap - 1 ? s.n : cap - 1;
    memcpy(dst, s.p, n);
    dst[n] = '\0';
}

void gw_xchg_reset(struct gw_conn *c)
{
    memset(&c->x, 0, sizeof(c->x));
}

void gw_xchg_arm_timer(struct gw_conn *c)
{
    c->x_deadline = loop_now_ms(c->w->l) + (uint64_t)(c->w->cfg->request_timeout_ns / UNITS_MS);
    gw_conn_timer_at(c, &c->x_timer, c->x_deadline);
}

/* Request ids carry their connection slot in the first characters. */
static int make_req_id(struct gw_conn *c)
{
    char *id = c->x.req_id;
    if (rand_id(&c->w->rnd, id, RAND_ID_LEN) < 0)
        return -1;
    uint32_t v = c->idx;
    for (int i = GW_ID_SLOT_CHARS - 1; i >= 0; i--) {
        id[i] = RAND_ID_ALPHABET[v % 62];
        v /= 62;
    }
    return 0;
}

static void access_log(struct gw_conn *c)
{
    struct gw_xchg *x = &c->x;
    if (!c->w->cfg->access_log)
        return;
    log_emit(LOG_INFO, "request", LOG_STR("method", x->method), LOG_STR("host", x->host),
             LOG_STR("path", x->path), LOG_INT("status", x->status),
             LOG_UINT("bytes", x->bytes_out),
             LOG_UINT("duration_ms", loop_now_ms(c->w->l) - x->t0_ms),
             LOG_STRN("peer", c->peer, c->peer_len));
}

/* Both directions are complete: log, free, and go on with the connection. */
static void finish(struct gw_conn *c)
{
    bool close = c->x.close;
    access_log(c);
    gw_body_free(c);
    gw_xchg_reset(c);
    gw_conn_xchg_finished(c, close);
}

/* The response is complete. A request body still arriving means the
 * connection cannot carry another request: the head said so already. */
static void resp_complete(struct gw_conn *c)
{
    struct gw_xchg *x = &c->x;
    x->resp = GW_RESP_DONE;
    if (x->req_done) {
        finish(c);
        return;
    }
    struct span agent = h8s_reply_agent(&x->reply);
    if (x->body == GW_BODY_STREAM && agent.n) {
        /* The responder answered before taking the whole body: tell it no
         * more is coming. */
        static const char abort_hdr[] = "NATS/1.0\r\n" H8S_HDR_CONTROL ": " H8S_CONTROL_ABORT
                                        "\r\n" H8S_HDR_REASON ": " H8S_REASON_CLIENT_CLOSED
                                        "\r\n\r\n";
        gw_worker_publish(c->w, agent, span_make(NULL, 0), SPAN_LIT(abort_hdr),
                          span_make(NULL, 0));
    }
    x->close = true;
    access_log(c);
    gw_body_free(c);
    gw_xchg_reset(c);
    gw_conn_close(c, true);
}

/* The gateway's own answer (4xx, 503, publish-only 200). A request with a
 * body that will not be read closes the connection after it. */
static int answer(struct gw_conn *c, int status, const char *text, bool unread_body)
{
    struct gw_xchg *x = &c->x;
    if (status >= 400)
        atomic_fetch_add(&c->w->gw->stats.rejected, 1);
    x->body = GW_BODY_DISCARD;
    if (unread_body)
        x->close = true;
    gw_resp_simple(c, status, text);
    x->resp = GW_RESP_DONE;
    if (unread_body) {
        /* Stop parsing: process() closes after the answer is flushed. */
        access_log(c);
        gw_xchg_reset(c);
        return -1;
    }
    return 0; /* finished when the parser reaches the end of the request */
}

static bool auth_ok(const struct gw_config *cfg, const struct http_req *req)
{
    int i = http_head_find(req->fields, req->nfields, SPAN_LIT("Authorization"), 0);
    if (i < 0 || http_head_find(req->fields, req->nfields, SPAN_LIT("Authorization"),
                                (size_t)i + 1) >= 0)
        return false;
    struct span v = req->fields[i].value;
    /* Constant time in the key's length: the length check leaks only
     * whether the lengths match, the comparison nothing about the bytes. */
    if (v.n != cfg->auth_key_len)
        return false;
    return sodium_memcmp(v.p, cfg->auth_key, v.n) == 0;
}

int gw_xchg_on_head(struct gw_conn *c, const struct http_req *req)
{
    struct gw_worker *w = c->w;
    const struct gw_config *cfg = w->cfg;
    struct gw_xchg *x = &c->x;
    bool has_body = ((req->flags & HTTP_REQ_F_CONTENT_LENGTH) && req->content_length > 0) ||
                    (req->flags & HTTP_REQ_F_CHUNKED);

    gw_xchg_reset(c);
    x->active = true;
    x->t0_ms = loop_now_ms(w->l);
    x->head_req = req->method == HTTP_HEAD;
    x->http10 = req->version_minor == 0;
    x->close = !(req->flags & HTTP_REQ_F_KEEP_ALIVE) || w->draining;
    x->expect = (req->flags & HTTP_REQ_F_EXPECT_CONTINUE) && !x->http10 && has_body;
    copy_str(x->method, sizeof(x->method), req->method_name);
    copy_str(x->host, sizeof(x->host), req->host);
    copy_str(x->path, sizeof(x->path), req->target);
    atomic_fetch_add(&w->gw->stats.requests, 1);
    /* The limit follows the server's max_payload, known once connected. */
    loop_conn_set_out_limit(c->lc, w->out_limit);

    if (cfg->auth_key && !auth_ok(cfg, req))
        return answer(c, 403, "forbidden", has_body);
    unsigned flags = cfg->trust_forwarded ? H8S_REQ_ENC_TRUST_FORWARDED : 0;
    if (cfg->auth_key)
        flags |= H8S_REQ_ENC_STRIP_AUTH;
    struct span route = h8s_req_encode_route(req, flags);
    uint8_t rhost[SUBJECT_HOST_MAX];
    int rn = subject_host(rhost, sizeof(rhost), route);
    if (rn <= 0)
        return answer(c, 400, "invalid host", has_body);
    if (!gw_config_host_allowed(cfg, rhost, (size_t)rn))
        return answer(c, 403, "host not served here", has_body);
    if (make_req_id(c) < 0)
        return answer(c, 503, "no random id", has_body);

    struct h8s_req_encode_in in = {
        .req = req,
        .client_addr = span_make(c->peer, c->peer_len),
        .gw_id = span_cstr(w->gw_id),
        .req_id = span_make(x->req_id, RAND_ID_LEN),
        .flags = flags,
        .window = cfg->publish_only ? 0 : w->window,
    };
    if (req->flags & HTTP_REQ_F_CHUNKED) {
        in.body = H8S_REQ_BODY_LATER;
    } else if (has_body) {
        in.body = H8S_REQ_BODY_INLINE;
        in.body_len = req->content_length;
    }
    struct h8s_req_encode_out out;
    int rc = h8s_req_encode(&out, w->scratch, w->scratch_cap, &in);
    if (rc == 0 && in.body == H8S_REQ_BODY_INLINE &&
        (req->content_length > w->max_payload || out.hdr.n > w->max_payload - req->content_length)) {
        /* Too big for one message: a stream, which a responder without our
         * extension cannot take, so publish-only refuses it. */
        if (cfg->publish_only)
            return answer(c, 413, "body larger than one NATS message", has_body);
        in.body = H8S_REQ_BODY_STREAM;
        rc = h8s_req_encode(&out, w->scratch, w->scratch_cap, &in);
    }
    if (rc < 0)
        return answer(c, h8s_req_encode_status(rc), h8s_req_encode_strerror(rc), has_body);
    if (out.hdr.n >= w->max_payload)
        return answer(c, 431, "request head too large for a NATS message", has_body);
    if (cfg->track_interest &&
        !gw_interest_match(&w->interest, x->t0_ms, span_make(rhost, (size_t)rn),
                           req->method_name, req->path))
        return answer(c, 404, "no agent registered for this request", has_body);

    x->window = in.window;
    h8s_reply_init(&x->reply, x->window, x->head_req ? H8S_REPLY_HEAD : 0);
    struct span reply = cfg->publish_only ? span_make(NULL, 0) : out.reply;
    switch (in.body) {
    case H8S_REQ_BODY_NONE:
        x->body = GW_BODY_NONE;
        if (gw_worker_publish(w, out.subject, reply, out.hdr, span_make(NULL, 0)) < 0)
            return answer(c, 503, "NATS unavailable", false);
        if (cfg->publish_only)
            return answer(c, 200, "published", false);
        x->published = true;
        break;
    case H8S_REQ_BODY_STREAM:
        x->body = GW_BODY_STREAM;
        if (gw_body_begin(c, 0, 0, 0) < 0)
            return answer(c, 503, "out of memory", true);
        if (gw_worker_publish(w, out.subject, reply, out.hdr, span_make(NULL, 0)) < 0)
            return answer(c, 503, "NATS unavailable", true);
        x->published = true;
        /* 100 Continue waits for the agent's "ready". */
        break;
    default:
        x->body = in.body == H8S_REQ_BODY_LATER ? GW_BODY_LATER : GW_BODY_INLINE;
        if (gw_body_begin(c, out.subject.n, out.hdr.n, in.body_len) < 0)
            return answer(c, 503, "out of memory", true);
        /* Keep subject and header block for when the body is complete. */
        memcpy(x->buf, out.subject.p, out.subject.n);
        memcpy(x->buf + out.subject.n, out.hdr.p, out.hdr.n);
        if (x->expect) {
            gw_resp_continue(c);
            x->expect = false;
        }
        break;
    }
    gw_xchg_arm_timer(c);
    return 0;
}

int gw_xchg_on_body(struct gw_conn *c, const uint8_t *p, size_t n)
{
    if (!c->x.active || c->x.body == GW_BODY_DISCARD || c->x.body == GW_BODY_NONE)
        return 0;
    int status = gw_body_take(c, p, n);
    if (status != 0) {
        gw_xchg_abort(c, H8S_REASON_PROTOCOL, status);
        return -1;
    }
    return 0;
}

void gw_xchg_req_done(struct gw_conn *c)
{
    struct gw_xchg *x = &c->x;
    if (!x->active) {
        /* on_head answered (bodyless rejection) and already finished. */
        gw_conn_xchg_finished(c, c->x.close);
        return;
    }
    x->req_done = true;
    switch (x->body) {
    case GW_BODY_INLINE:
    case GW_BODY_LATER:
        if (gw_body_publish_whole(c) < 0) {
            gw_xchg_abort(c, H8S_REASON_PROTOCOL, 503);
            return;
        }
        if (c->w->cfg->publish_only) {
            gw_resp_simple(c, 200, "published");
            x->resp = GW_RESP_DONE;
        } else {
            x->published = true;
        }
        break;
    case GW_BODY_STREAM:
        gw_body_pump(c);
        break;
    default:
        break;
    }
    if (x->active && x->resp == GW_RESP_DONE)
        finish(c);
}

static void maybe_credit(struct gw_conn *c)
{
    struct gw_xchg *x = &c->x;
    uint64_t credit;
    struct span agent = h8s_reply_agent(&x->reply);
    if (x->resp != GW_RESP_STREAM || agent.n == 0)
        return;
    if (!h8s_reply_credit(&x->reply, gw_resp_credit_room(c), &credit))
        return;
    char hdr[128];
    int n = snprintf(hdr, sizeof(hdr), "NATS/1.0\r\n%s: %s\r\n%s: %llu\r\n\r\n", H8S_HDR_CONTROL,
                     H8S_CONTROL_CREDIT, H8S_HDR_CREDIT, (unsigned long long)credit);
    gw_worker_publish(c->w, agent, span_make(NULL, 0), span_make(hdr, (size_t)n),
                      span_make(NULL, 0));
}

void gw_xchg_client_drained(struct gw_conn *c)
{
    maybe_credit(c);
}

static void count_error(struct gw_worker *w, int rc)
{
    struct gw_stats *st = &w->gw->stats;
    switch (rc) {
    case H8S_REPLY_E_OVERFLOW:
        atomic_fetch_add(&st->overflow, 1);
        break;
    case H8S_REPLY_E_ABORTED:
        atomic_fetch_add(&st->responder_abort, 1);
        break;
    default:
        atomic_fetch_add(&st->protocol, 1);
        break;
    }
}

/* After a failed write: a full queue is the responder outrunning the
 * limit (overflow); anything else means the client is gone. Returns 1 when
 * the exchange was ended. */
static int write_failed(struct gw_conn *c, int rc)
{
    if (rc == 0)
        return 0;
    if (rc == -ENOBUFS) {
        atomic_fetch_add(&c->w->gw->stats.overflow, 1);
        gw_xchg_abort(c, H8S_REASON_OVERFLOW, 502);
        return 1;
    }
    gw_xchg_client_gone(c);
    gw_conn_close(c, false);
    return 1;
}

void gw_xchg_reply(struct gw_conn *c, const struct nats_msg *m)
{
    struct gw_xchg *x = &c->x;
    struct h8s_reply_event ev;
    if (!x->published || c->closing)
        return;
    int rc = h8s_reply_feed(&x->reply, m->hdr, m->payload, gw_resp_room(c), &ev);
    if (rc < 0) {
        count_error(c->w, rc);
        log_emit(LOG_WARN, "reply_rejected", LOG_UINT("worker", c->w->id),
                 LOG_STR("reason", h8s_reply_reason(rc)), LOG_INT("code", rc),
                 LOG_STR("host", x->host), LOG_STR("path", x->path));
        gw_xchg_abort(c, h8s_reply_reason(rc), 502);
        return;
    }
    gw_xchg_arm_timer(c);
    switch (rc) {
    case H8S_REPLY_EV_NO_RESPONDERS:
        atomic_fetch_add(&c->w->gw->stats.no_responders, 1);
        if (!x->req_done)
            x->close = true;
        gw_resp_simple(c, 503, "no responders");
        resp_complete(c);
        break;
    case H8S_REPLY_EV_RESPONSE:
        if (write_failed(c, gw_resp_head(c, &ev)))
            return;
        resp_complete(c);
        break;
    case H8S_REPLY_EV_STREAM_START:
        if (write_failed(c, gw_resp_head(c, &ev)))
            return;
        x->resp = GW_RESP_STREAM;
        maybe_credit(c);
        break;
    case H8S_REPLY_EV_STREAM_DATA:
        if (write_failed(c, gw_resp_body(c, ev.body)))
            return;
        maybe_credit(c);
        break;
    case H8S_REPLY_EV_STREAM_END:
        gw_resp_end(c);
        resp_complete(c);
        break;
    case H8S_REPLY_EV_READY:
    case H8S_REPLY_EV_CREDIT:
        if (ev.credit > x->body_credit)
            x->body_credit = ev.credit;
        if (rc == H8S_REPLY_EV_READY && x->expect && x->resp == GW_RESP_WAIT) {
            gw_resp_continue(c);
            x->expect = false;
        }
        gw_body_pump(c);
        break;
    default:
        break;
    }
}

void gw_xchg_timeout(struct gw_conn *c)
{
    struct gw_xchg *x = &c->x;
    atomic_fetch_add(&c->w->gw->stats.timeouts, 1);
    /* Waiting on the client's body (buffering, or the agent has credit to
     * spare) is the client's slowness: 408. Otherwise the responder's: 504. */
    bool client_slow = !x->req_done && (x->body == GW_BODY_INLINE || x->body == GW_BODY_LATER ||
                                        (x->body == GW_BODY_STREAM &&
                                         x->body_credit > x->body_sent && x->body_len == 0));
    gw_xchg_abort(c, H8S_REASON_TIMEOUT, client_slow ? 408 : 504);
}

/* Tells the responder the exchange is over: the reason on the close
 * subject, and an abort on its own subject when it gave one. */
static void tell_responder(struct gw_conn *c, const char *reason)
{
    struct gw_worker *w = c->w;
    struct gw_xchg *x = &c->x;
    if (!x->published)
        return;
    uint8_t subj[H8S_REQ_CLOSE_MAX];
    int n = subject_conn_closed(subj, sizeof(subj), span_cstr(w->gw_id));
    if (n > 0 && (size_t)n + 1 + RAND_ID_LEN <= sizeof(subj)) {
        subj[n] = '.';
        memcpy(subj + n + 1, x->req_id, RAND_ID_LEN);
        gw_worker_publish(w, span_make(subj, (size_t)n + 1 + RAND_ID_LEN), span_make(NULL, 0),
                          span_make(NULL, 0), span_cstr(reason));
    }
    struct span agent = h8s_reply_agent(&x->reply);
    if (agent.n) {
        char hdr[160];
        int k = snprintf(hdr, sizeof(hdr), "NATS/1.0\r\n%s: %s\r\n%s: %s\r\n\r\n",
                         H8S_HDR_CONTROL, H8S_CONTROL_ABORT, H8S_HDR_REASON, reason);
        gw_worker_publish(w, agent, span_make(NULL, 0), span_make(hdr, (size_t)k),
                          span_make(NULL, 0));
    }
}

void gw_xchg_abort(struct gw_conn *c, const char *reason, int status)
{
    struct gw_xchg *x = &c->x;
    if (!x->active)
        return;
    tell_responder(c, reason);
    log_emit(LOG_WARN, "exchange_aborted", LOG_UINT("worker", c->w->id), LOG_STR("reason", reason),
             LOG_INT("status", x->resp == GW_RESP_WAIT ? status : 0), LOG_STR("method", x->method),
             LOG_STR("host", x->host), LOG_STR("path", x->path),
             LOG_UINT("bytes", x->bytes_out));
    x->published = false;
    if (x->resp == GW_RESP_WAIT && status != 0 && !c->closing) {
        x->close = true;
        gw_resp_simple(c, status, reason);
        x->resp = GW_RESP_DONE;
        access_log(c);
            gw_body_free(c);
        gw_xchg_reset(c);
        gw_conn_close(c, true);
        return;
    }
    /* The head is out (or nothing can be sent): the client must not take
     * a cut response for a whole one, so the connection is cut. */
    gw_body_free(c);
    gw_xchg_reset(c);
    gw_conn_close(c, false);
}

void gw_xchg_client_gone(struct gw_conn *c)
{
    struct gw_xchg *x = &c->x;
    if (!x->active)
        return;
    if (x->resp != GW_RESP_DONE && x->published) {
        atomic_fetch_add(&c->w->gw->stats.client_closed, 1);
        tell_responder(c, H8S_REASON_CLIENT_CLOSED);
        log_emit(LOG_INFO, "client_closed", LOG_UINT("worker", c->w->id),
                 LOG_STR("method", x->method), LOG_STR("host", x->host),
                 LOG_STR("path", x->path), LOG_UINT("bytes", x->bytes_out));
    }
    gw_body_free(c);
    gw_xchg_reset(c);
}
