/*
 * gateway/gw_ws_session.c — see gw_ws_session.h.
 *
 * States: PENDING (handshake checked, no answer yet; input parked in the
 * backlog), OPEN, ENDING (loop_conn_close called; on_end comes from the
 * loop's on_close), DEAD (aborted: no callback any more). One timer serves
 * ws_conn's deadlines (pings, close wait) once open.
 */
#include "gateway/gw_ws_session.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "proto/h8s_wire.h"
#include "proto/h8s_ws.h"
#include "proto/http_resp.h"
#include "proto/ws_conn.h"

enum { ST_PENDING, ST_OPEN, ST_ENDING, ST_DEAD };

struct gw_ws_session {
    struct loop *loop;
    struct loop_conn *conn;
    const struct gw_ws_session_ops *ops;
    void *cookie;
    struct ws_handshake_server hs; /* protocols point into proto_buf */
    struct ws_conn ws;
    struct loop_timer timer;
    size_t out_limit;
    unsigned close_ms;
    uint8_t state;
    uint8_t paused;
    uint8_t in_feed;
    uint8_t resume_wanted;
    int end_err;
    unsigned end_code;
    uint8_t proto_buf[GW_WS_SESSION_PROTO_MAX];
    uint8_t bufs[]; /* stage, then backlog */
};

/* ------------------------------------------------------------- helpers */

static uint8_t *sink_reserve(void *cookie, size_t n)
{
    struct gw_ws_session *s = cookie;
    return loop_conn_reserve(s->conn, n);
}

static void sink_commit(void *cookie, size_t used)
{
    struct gw_ws_session *s = cookie;
    loop_conn_commit(s->conn, used);
}

static const struct ws_conn_sink sink_ops = {sink_reserve, sink_commit};

static void arm(struct gw_ws_session *s)
{
    uint64_t now = loop_now_ms(s->loop), d;

    d = s->state == ST_OPEN ? ws_conn_deadline(&s->ws) : UINT64_MAX;
    if (d == UINT64_MAX) {
        loop_timer_stop(s->loop, &s->timer);
        return;
    }
    loop_timer_start(s->loop, &s->timer, d > now ? d - now : 0);
}

static void finish(struct gw_ws_session *s, int err, unsigned code, int how)
{
    if (s->state == ST_ENDING || s->state == ST_DEAD)
        return;
    s->state = ST_ENDING;
    s->end_err = err;
    s->end_code = code;
    loop_timer_stop(s->loop, &s->timer);
    loop_conn_close(s->conn, how, s->close_ms);
}

static int has_prefix_nocase(struct span s, struct span prefix)
{
    return s.n >= prefix.n && span_eq_nocase(span_make(s.p, prefix.n), prefix);
}

/* A plain response with an empty body, then the end (PENDING failures). */
static void fail_pending(struct gw_ws_session *s, unsigned status, int err, const char *why)
{
    struct http_head_writer w;
    uint8_t buf[256];
    int n;

    log_emit(LOG_INFO, "ws_upgrade_failed", LOG_UINT("status", status), LOG_STR("reason", why));
    http_head_writer_init(&w, buf, sizeof(buf));
    http_resp_write_status(&w, (int)status);
    http_resp_write_length(&w, 0);
    http_head_write_raw(&w, "Connection: close\r\n", 19);
    n = http_head_writer_end(&w);
    if (n > 0)
        (void)loop_conn_write(s->conn, buf, (size_t)n);
    finish(s, err, 0, LOOP_CLOSE_FLUSH);
}

/* ----------------------------------------------------------- open state */

static void ws_input(struct gw_ws_session *s, const uint8_t *p, size_t n)
{
    static const uint8_t nothing[1];
    uint64_t now = loop_now_ms(s->loop);

    if (p == NULL)
        p = nothing, n = 0;
    s->in_feed = 1;
    while (s->state == ST_OPEN) {
        struct ws_conn_event ev;
        size_t used = ws_conn_feed(&s->ws, p, n, now, &ev), k;

        p += used;
        n -= used;
        if (ev.type == WS_CONN_EV_NONE)
            break;
        if (ev.type == WS_CONN_EV_MESSAGE) {
            int wait;
            k = s->ops->on_message(s, s->cookie, ev.opcode, ev.data, ev.first, ev.fin);
            if (s->state != ST_OPEN)
                break;
            /* WAIT refuses even an empty chunk; a short take the rest. */
            wait = k == GW_WS_SESSION_WAIT || k < ev.data.n;
            if (k == GW_WS_SESSION_WAIT)
                k = 0;
            if (k > ev.data.n)
                k = ev.data.n;
            if (!wait || k)
                ws_conn_take(&s->ws, k);
            if (wait) {
                if (ws_conn_hold(&s->ws, p, n) != 0) {
                    log_emit(LOG_WARN, "ws_session_overflow", LOG_STR("what", "input backlog"));
                    finish(s, GW_WS_SESSION_E_OVERFLOW, 0, LOOP_CLOSE_ABORT);
                    break;
                }
                n = 0;
                if (!s->paused) {
                    s->paused = 1;
                    loop_conn_pause(s->conn);
                }
                if (!s->resume_wanted)
                    break;
                s->resume_wanted = 0;
            }
        } else if (ev.type == WS_CONN_EV_CLOSE) {
            s->ops->on_close(s, s->cookie, ev.code, ev.data);
            if (s->state == ST_OPEN && ws_conn_closed(&s->ws))
                finish(s, 0, 0, LOOP_CLOSE_FLUSH);
        } else {
            log_emit(LOG_INFO, "ws_session_protocol_error", LOG_UINT("code", ev.code),
                     LOG_STRN("reason", ev.data.p, ev.data.n));
            finish(s, GW_WS_SESSION_E_PROTOCOL, ev.code, LOOP_CLOSE_FLUSH);
        }
    }
    s->in_feed = 0;
    if (s->state == ST_OPEN && s->paused && !ws_conn_blocked(&s->ws)) {
        s->paused = 0;
        loop_conn_resume(s->conn);
    }
}

/* ------------------------------------------------------------- loop ops */

static int on_data(struct loop_conn *c, const uint8_t *p, size_t n)
{
    struct gw_ws_session *s = loop_conn_cookie(c);

    if (s->state == ST_PENDING) {
        /* The client left, or talks before our answer (RFC 6455 §4.1 says
         * it must wait): keep it for later, within bounds. */
        if (n == 0)
            finish(s, GW_WS_SESSION_E_GONE, 0, LOOP_CLOSE_ABORT);
        else if (ws_conn_hold(&s->ws, p, n) != 0)
            fail_pending(s, 400, GW_WS_SESSION_E_OVERFLOW, "client data before the handshake");
        return 0;
    }
    if (s->state != ST_OPEN)
        return 0;
    if (n == 0) {
        /* A FIN after both Close frames is the normal end; after the
         * client's Close alone, our answer is still to come. */
        if (ws_conn_closed(&s->ws))
            finish(s, 0, 0, LOOP_CLOSE_FLUSH);
        else if (!ws_conn_close_rcvd(&s->ws))
            finish(s, GW_WS_SESSION_E_GONE, 0, LOOP_CLOSE_ABORT);
        return 0;
    }
    ws_input(s, p, n);
    if (s->state == ST_OPEN)
        arm(s);
    return 0;
}

static void on_drain(struct loop_conn *c)
{
    struct gw_ws_session *s = loop_conn_cookie(c);

    if (s->state != ST_OPEN)
        return;
    (void)ws_conn_flush(&s->ws);
    if (s->ops->on_drain)
        s->ops->on_drain(s, s->cookie);
}

static void on_close(struct loop_conn *c, int err)
{
    struct gw_ws_session *s = loop_conn_cookie(c);

    /* The socket is gone: loop_conn calls made from here on are no-ops. */
    loop_timer_stop(s->loop, &s->timer);
    if (s->state == ST_PENDING || s->state == ST_OPEN) {
        s->end_err = err ? err : GW_WS_SESSION_E_GONE;
        s->state = ST_ENDING;
    }
    if (s->state == ST_ENDING)
        s->ops->on_end(s, s->cookie, s->end_err, s->end_code);
    free(s);
}

static const struct loop_conn_ops conn_ops = {on_data, NULL, on_drain, on_close};

static void on_timer(struct loop *l, struct loop_timer *t)
{
    struct gw_ws_session *s = LOOP_CONTAINER_OF(t, struct gw_ws_session, timer);

    if (s->state != ST_OPEN)
        return;
    switch (ws_conn_tick(&s->ws, loop_now_ms(l))) {
    case WS_CONN_TICK_DEAD:
        log_emit(LOG_INFO, "ws_session_silent");
        finish(s, GW_WS_SESSION_E_GONE, 0, LOOP_CLOSE_ABORT);
        return;
    case WS_CONN_TICK_CLOSED:
        finish(s, 0, 0, LOOP_CLOSE_ABORT);
        return;
    default:
        arm(s);
    }
}

/* ------------------------------------------------------------- the API */

/* Keeps the offers for gw_ws_session_offers and the select check. */
static int keep_offers(struct gw_ws_session *s, const struct ws_handshake_server *hs)
{
    size_t used = 0;

    s->hs = *hs;
    s->hs.origin = span_make(NULL, 0);
    for (size_t i = 0; i < hs->nprotocols; i++) {
        struct span p = hs->protocols[i];
        if (p.n > sizeof(s->proto_buf) - used)
            return -1;
        memcpy(s->proto_buf + used, p.p, p.n);
        s->hs.protocols[i] = span_make(s->proto_buf + used, p.n);
        used += p.n;
    }
    return 0;
}

unsigned gw_ws_session_start(struct loop_conn *c, const struct gw_ws_session_config *cfg,
                             const struct ws_handshake_http *req, struct span rest,
                             const struct gw_ws_session_ops *ops, void *cookie,
                             struct gw_ws_session **out)
{
    size_t chunk = cfg->chunk_max ? cfg->chunk_max : GW_WS_SESSION_DEFAULT_CHUNK;
    size_t backlog = cfg->recv_max ? cfg->recv_max : 64 * 1024;
    unsigned close_ms = cfg->close_ms ? cfg->close_ms : 5000;
    struct ws_handshake_server hs;
    struct ws_conn_config wc;
    struct gw_ws_session *s;
    unsigned status;
    char buf[256];
    int n;

    *out = NULL;
    status = ws_handshake_server_check(&hs, req, cfg->hs);
    if (status != 101) {
        log_emit(LOG_INFO, "ws_upgrade_refused", LOG_UINT("status", status),
                 LOG_STR("reason", hs.reason));
        n = ws_handshake_server_response(buf, sizeof(buf), &hs, span_make(NULL, 0));
        if (n > 0)
            (void)loop_conn_write(c, buf, (size_t)n);
        loop_conn_close(c, LOOP_CLOSE_FLUSH, close_ms);
        return status;
    }
    s = calloc(1, sizeof(*s) + chunk + backlog);
    if (s == NULL) {
        static const char oom[] = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n"
                                  "Connection: close\r\n\r\n";
        (void)loop_conn_write(c, oom, sizeof(oom) - 1);
        loop_conn_close(c, LOOP_CLOSE_FLUSH, close_ms);
        return 0;
    }
    s->loop = loop_conn_loop(c);
    s->conn = c;
    s->ops = ops;
    s->cookie = cookie;
    s->close_ms = close_ms;
    loop_timer_init(&s->timer, on_timer);
    memset(&wc, 0, sizeof(wc));
    wc.role = WS_FRAME_SERVER;
    wc.max_message = cfg->max_message;
    wc.frame_max = cfg->frame_max ? cfg->frame_max : 16384;
    wc.ping_interval_ms = cfg->ping_interval_ms;
    wc.close_ms = close_ms;
    wc.stage = s->bufs;
    wc.stage_cap = chunk;
    wc.backlog = s->bufs + chunk;
    wc.backlog_cap = backlog;
    wc.sink = &sink_ops;
    wc.sink_cookie = s;
    /* The connection is ours from here. A failure below answers and
     * closes it; the caller learns of it from the return value only, so
     * the session then ends without calling on_end (DEAD). */
    loop_conn_set(c, &conn_ops, s);
    s->out_limit = cfg->out_limit ? cfg->out_limit : GW_WS_SESSION_DEFAULT_OUT_LIMIT;
    loop_conn_set_out_limit(c, s->out_limit);
    if (ws_conn_init(&s->ws, &wc, loop_now_ms(s->loop)) != 0 || keep_offers(s, &hs) != 0 ||
        ws_conn_hold(&s->ws, rest.p, rest.n) != 0) {
        fail_pending(s, 400, GW_WS_SESSION_E_OVERFLOW, "handshake state does not fit");
        s->state = ST_DEAD;
        return 0;
    }
    s->state = ST_PENDING;
    *out = s;
    return 101;
}

struct gw_ws_session *gw_ws_session_of(struct loop_conn *c)
{
    return loop_conn_cookie(c);
}

int gw_ws_session_park(struct gw_ws_session *s, struct span bytes)
{
    if (s->state != ST_PENDING)
        return -EPIPE;
    if (ws_conn_hold(&s->ws, bytes.p, bytes.n) != 0) {
        fail_pending(s, 400, GW_WS_SESSION_E_OVERFLOW, "client data before the handshake");
        return -ENOBUFS;
    }
    return 0;
}

size_t gw_ws_session_offers(const struct gw_ws_session *s, const struct span **offers)
{
    *offers = s->hs.protocols;
    return s->hs.nprotocols;
}

int gw_ws_session_accept(struct gw_ws_session *s, struct span protocol,
                         const struct http_head_field *fields, size_t nfields)
{
    struct http_head_writer w;
    size_t cap = 512 + protocol.n;
    uint8_t *buf;
    int n, rc;

    if (s->state != ST_PENDING)
        return -EPIPE;
    if (ws_handshake_server_select(&s->hs, protocol) != 0)
        return -EINVAL;
    for (size_t i = 0; i < nfields; i++)
        cap += fields[i].name.n + fields[i].value.n + 4;
    buf = malloc(cap);
    if (buf == NULL)
        return -ENOMEM;
    n = ws_handshake_server_response((char *)buf, cap, &s->hs, protocol);
    if (n < 2) {
        free(buf);
        return -EINVAL;
    }
    /* Reopen the head before its blank line to add the app's fields. */
    http_head_writer_init(&w, buf, cap);
    w.len = (size_t)n - 2;
    for (size_t i = 0; i < nfields; i++)
        if (h8s_ws_accept_forwards(fields[i].name))
            http_head_write_field(&w, fields[i].name, fields[i].value);
    n = http_head_writer_end(&w);
    if (n < 0) {
        free(buf);
        return n == -ENOSPC ? -ENOBUFS : -EINVAL;
    }
    rc = loop_conn_write(s->conn, buf, (size_t)n);
    free(buf);
    if (rc != 0)
        return rc;
    s->state = ST_OPEN;
    /* What the client sent meanwhile is parsed now. */
    ws_input(s, NULL, 0);
    if (s->state == ST_OPEN)
        arm(s);
    return 0;
}

static int refusal_forwards(struct span name, const struct http_head_field *fields, size_t n)
{
    return !http_head_hop_by_hop(name, fields, n) &&
           !has_prefix_nocase(name, SPAN_LIT(H8S_HDR_INTERNAL_PREFIX)) &&
           !span_eq_nocase(name, SPAN_LIT("Content-Length")) &&
           !span_eq_nocase(name, SPAN_LIT(H8S_HDR_STATUS)) &&
           !span_eq_nocase(name, SPAN_LIT(H8S_HDR_STATUS_CODE));
}

int gw_ws_session_refuse(struct gw_ws_session *s, unsigned status,
                         const struct http_head_field *fields, size_t nfields, struct span body)
{
    struct http_head_writer w;
    size_t cap = 256;
    uint8_t *buf;
    int n, rc;

    if (s->state != ST_PENDING)
        return -EPIPE;
    if (status < 100 || status > 599 || status == 101)
        return -EINVAL;
    for (size_t i = 0; i < nfields; i++)
        cap += fields[i].name.n + fields[i].value.n + 4;
    buf = malloc(cap);
    if (buf == NULL)
        return -ENOMEM;
    http_head_writer_init(&w, buf, cap);
    http_resp_write_status(&w, (int)status);
    for (size_t i = 0; i < nfields; i++)
        if (refusal_forwards(fields[i].name, fields, nfields))
            http_head_write_field(&w, fields[i].name, fields[i].value);
    http_resp_write_length(&w, body.n);
    http_head_write_raw(&w, "Connection: close\r\n", 19);
    n = http_head_writer_end(&w);
    if (n < 0) {
        free(buf);
        return -EINVAL;
    }
    rc = loop_conn_write(s->conn, buf, (size_t)n);
    free(buf);
    if (rc == 0 && body.n)
        rc = loop_conn_write(s->conn, body.p, body.n);
    finish(s, GW_WS_SESSION_E_REFUSED, 0, rc == 0 ? LOOP_CLOSE_FLUSH : LOOP_CLOSE_ABORT);
    return 0;
}

int gw_ws_session_send(struct gw_ws_session *s, unsigned opcode, const uint8_t *p, size_t n,
                       int fin)
{
    int rc;

    if (s->state != ST_OPEN)
        return -EPIPE;
    rc = ws_conn_send(&s->ws, opcode, p, n, fin);
    if (rc == -ENOBUFS) {
        log_emit(LOG_WARN, "ws_session_overflow", LOG_STR("what", "output limit"),
                 LOG_UINT("pending", loop_conn_pending(s->conn)));
        finish(s, GW_WS_SESSION_E_OVERFLOW, 0, LOOP_CLOSE_ABORT);
    }
    return rc;
}

int gw_ws_session_close(struct gw_ws_session *s, unsigned code, struct span reason)
{
    int rc;

    if (s->state != ST_OPEN)
        return -EPIPE;
    rc = ws_conn_close(&s->ws, code, reason, loop_now_ms(s->loop));
    if (rc == -ENOBUFS) {
        finish(s, GW_WS_SESSION_E_OVERFLOW, 0, LOOP_CLOSE_ABORT);
        return 0;
    }
    if (rc != 0)
        return rc;
    if (ws_conn_closed(&s->ws))
        finish(s, 0, 0, LOOP_CLOSE_FLUSH);
    else
        arm(s);
    return 0;
}

void gw_ws_session_abort(struct gw_ws_session *s)
{
    if (s->state == ST_DEAD)
        return;
    loop_timer_stop(s->loop, &s->timer);
    s->state = ST_DEAD;
    loop_conn_close(s->conn, LOOP_CLOSE_ABORT, 0); /* also cuts a FLUSH close short */
}

void gw_ws_session_resume(struct gw_ws_session *s)
{
    if (s->state != ST_OPEN || !s->paused)
        return;
    if (s->in_feed) {
        s->resume_wanted = 1;
        return;
    }
    ws_input(s, NULL, 0);
    if (s->state == ST_OPEN)
        arm(s);
}

size_t gw_ws_session_pending(const struct gw_ws_session *s)
{
    return s->state == ST_OPEN ? loop_conn_pending(s->conn) : 0;
}

int gw_ws_session_congested(const struct gw_ws_session *s)
{
    return gw_ws_session_pending(s) > s->out_limit / 2;
}
