/*
 * gateway/gw_ws.c — the HTTP layer's side of a WebSocket upgrade: the
 * request that passed the gateway's checks becomes a tunnel
 * (gateway/gw_ws_tunnel.h), and the connection leaves the slot table.
 *
 * The tunnel is started from the parser's head callback, which returns 0
 * so that the parser stops exactly at the end of the head (an upgrade
 * request has no body); process() then hands what followed the head to the
 * session and gives the slot back.
 */
#include "gw_internal.h"

#include "core/log.h"
#include "proto/http_head.h"

#include <string.h>

bool gw_ws_wanted(const struct http_req *req)
{
    if (!(req->flags & HTTP_REQ_F_UPGRADE))
        return false;
    for (size_t i = 0; i < req->nfields; i++)
        if (span_eq_nocase(req->fields[i].name, SPAN_LIT("Upgrade")) &&
            http_head_list_has(req->fields[i].value, SPAN_LIT("websocket")))
            return true;
    return false;
}

int gw_ws_upgrade(struct gw_conn *c, const struct http_req *req, struct span route)
{
    struct gw_worker *w = c->w;
    struct ws_handshake_header hdr[HTTP_HEAD_MAX_FIELDS];
    struct ws_handshake_http head = {
        .method = req->method_name,
        .version_major = 1,
        .version_minor = req->version_minor,
        .headers = hdr,
    };
    uint8_t subject[SUBJECT_MAX];
    const char *scheme = "http";

    for (size_t i = 0; i < req->nfields && head.nheaders < HTTP_HEAD_MAX_FIELDS; i++) {
        /* The key is the gateway's business, as for HTTP requests. */
        if (w->cfg->auth_key && span_eq_nocase(req->fields[i].name, SPAN_LIT("Authorization")))
            continue;
        if (w->cfg->trust_forwarded &&
            span_eq_nocase(req->fields[i].name, SPAN_LIT("X-Forwarded-Proto")) &&
            span_eq_nocase(req->fields[i].value, SPAN_LIT("https")))
            scheme = "https";
        hdr[head.nheaders].name = req->fields[i].name;
        hdr[head.nheaders].value = req->fields[i].value;
        head.nheaders++;
    }
    int sl = subject_request(subject, sizeof(subject), req->method_name, route, req->path);
    struct gw_ws_tunnel_request tr = {
        .head = &head,
        .subject = span_make(subject, sl > 0 ? (size_t)sl : 0),
        .host = req->host,
        .path = req->path,
        .query = req->query,
        .client_addr = span_make(c->peer, c->peer_len),
        .scheme = span_cstr(scheme),
    };
    gw_xchg_reset(c);
    if (sl <= 0) {
        c->x.close = true;
        gw_resp_simple(c, 400, "invalid request target");
        gw_conn_close(c, true);
        return -1;
    }
    if (gw_ws_tunnel_start(c->lc, &w->ws_cfg, &tr, &w->ws_stats) == 101) {
        c->ws_taken = true;
        return 0;
    }
    /* Refused (answered) or failed: the connection is closing, and its
     * on_close is still ours. */
    atomic_fetch_add(&w->gw->stats.rejected, 1);
    c->closing = true;
    loop_timer_stop(w->l, &c->conn_timer);
    c->timer_mode = GW_TIMER_NONE;
    return -1;
}

void gw_ws_handover(struct gw_conn *c, struct span rest)
{
    struct gw_worker *w = c->w;
    struct loop_conn *lc = c->lc;

    loop_timer_stop(w->l, &c->conn_timer);
    loop_timer_stop(w->l, &c->x_timer);
    c->timer_mode = GW_TIMER_NONE;
    gw_body_free(c);
    gw_xchg_reset(c);
    if (c->paused)
        loop_conn_resume(lc); /* a pipelined upgrade: the session reads now */
    c->ws_taken = false;
    c->closing = true; /* nothing of ours runs on it any more */
    gw_worker_slot_put(w, c);
    w->nconns--;
    w->nws++;
    /* Last: a refusal here ends the tunnel, and its on_end counts it out. */
    if (rest.n > 0 && gw_ws_session_park(gw_ws_session_of(lc), rest) < 0)
        log_emit(LOG_INFO, "ws_input_overrun", LOG_UINT("worker", w->id));
}
