/*
 * gateway/gw_ws_tunnel.c — see gw_ws_tunnel.h.
 */
#include "gateway/gw_ws_tunnel.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "proto/h8s_wire.h"
#include "proto/h8s_ws.h"
#include "proto/http_head.h"
#include "proto/nats_hdr.h"

#define REPLY_FIELDS_MAX 64 /* fields of an accept or a refusal passed on */

struct gwt {
    struct h8s_ws_relay relay;
    struct gw_ws_session *s;
    struct gw_ws_tunnel_stats *stats;
    uint16_t abort_code; /* sent to the agent when we refuse after its accept */
    const char *abort_reason;
};

static struct gwt *of(struct h8s_ws_relay *r)
{
    return LOOP_CONTAINER_OF(r, struct gwt, relay);
}

/* The NATS header block's fields as HTTP fields (the session filters). */
static size_t reply_fields(struct span hdr, struct http_head_field *f, size_t max)
{
    struct nats_hdr h;
    struct nats_hdr_iter it;
    struct span k, v;
    size_t n = 0;

    if (hdr.n == 0 || nats_hdr_parse(&h, hdr) != 0)
        return 0;
    nats_hdr_iter_init(&it, &h);
    while (n < max && nats_hdr_next(&it, &k, &v)) {
        f[n].name = k;
        f[n].value = v;
        n++;
    }
    return n;
}

/* ------------------------------------------------------ relay -> client */

static int r_send(struct h8s_ws_relay *r, unsigned opcode, const uint8_t *p, size_t n, int fin)
{
    return gw_ws_session_send(of(r)->s, opcode, p, n, fin);
}

static int r_close(struct h8s_ws_relay *r, unsigned code, struct span reason)
{
    return gw_ws_session_close(of(r)->s, code, reason);
}

static void r_resume(struct h8s_ws_relay *r)
{
    gw_ws_session_resume(of(r)->s);
}

static int r_congested(struct h8s_ws_relay *r)
{
    return gw_ws_session_congested(of(r)->s);
}

static void refuse(struct gwt *g, unsigned status, const struct h8s_ws_msg *m)
{
    struct http_head_field f[REPLY_FIELDS_MAX];
    size_t n = m ? reply_fields(m->hdr, f, REPLY_FIELDS_MAX) : 0;
    struct span body = m ? m->data : span_make(NULL, 0);

    if (g->stats)
        g->stats->refused++;
    log_emit(LOG_INFO, "ws_tunnel_refused", LOG_STRN("conn", g->relay.id, g->relay.id_len),
             LOG_UINT("status", status));
    if (gw_ws_session_refuse(g->s, status, f, n, body) != 0)
        gw_ws_session_refuse(g->s, 502, NULL, 0, span_make(NULL, 0));
}

static void r_open_reply(struct h8s_ws_relay *r, enum h8s_ws_event_type ev,
                         const struct h8s_ws_msg *m)
{
    struct gwt *g = of(r);
    struct http_head_field f[REPLY_FIELDS_MAX];
    unsigned status;
    int rc;

    if (ev == H8S_WS_EV_ACCEPTED) {
        rc = gw_ws_session_accept(g->s, m->protocol, f, reply_fields(m->hdr, f, REPLY_FIELDS_MAX));
        if (rc == 0) {
            if (g->stats)
                g->stats->accepted++;
            return;
        }
        /* The app picked a subprotocol the client never offered (or the
         * 101 could not be written): the client gets 502, the agent an
         * abort saying why. */
        g->abort_code = WS_CLOSE_PROTOCOL_ERROR;
        g->abort_reason = rc == -EINVAL ? "subprotocol not offered" : "cannot answer the client";
        refuse(g, 502, NULL);
        return;
    }
    if (m == NULL)
        status = 504;
    else if (m->kind == H8S_WS_NO_RESPONDERS)
        status = 503;
    else if (m->kind == H8S_WS_HTTP)
        status = m->status == 0 ? 200 : m->status == 101 ? 502 : m->status;
    else
        status = 502;
    refuse(g, status, m && m->kind == H8S_WS_HTTP && status != 502 ? m : NULL);
}

static const struct h8s_ws_relay_ops relay_ops = {r_send, r_close, r_resume, r_congested,
                                                  r_open_reply};

/* ------------------------------------------------------ client -> relay */

static size_t s_message(struct gw_ws_session *s, void *cookie, unsigned opcode, struct span data,
                        int first, int fin)
{
    struct gwt *g = cookie;
    (void)s;
    (void)first;
    return h8s_ws_relay_local_message(&g->relay, opcode, data, fin);
}

static void s_close(struct gw_ws_session *s, void *cookie, unsigned code, struct span reason)
{
    struct gwt *g = cookie;
    (void)s;
    h8s_ws_relay_local_close(&g->relay, code, reason);
}

static void s_drain(struct gw_ws_session *s, void *cookie)
{
    struct gwt *g = cookie;
    (void)s;
    h8s_ws_relay_local_drained(&g->relay);
}

static void s_end(struct gw_ws_session *s, void *cookie, int err, unsigned code)
{
    struct gwt *g = cookie;
    unsigned to_agent = WS_CLOSE_GOING_AWAY;
    const char *why = "client gone";
    (void)s;

    if (g->abort_code) {
        to_agent = g->abort_code;
        why = g->abort_reason;
    } else if (err == GW_WS_SESSION_E_PROTOCOL) {
        why = code == WS_CLOSE_TOO_BIG ? "peer message too big" : "peer protocol error";
    }
    log_emit(LOG_INFO, "ws_tunnel_end", LOG_STRN("conn", g->relay.id, g->relay.id_len),
             LOG_INT("client_err", err), LOG_UINT("client_code", code),
             LOG_UINT("tunnel_in", g->relay.t.rx_bytes),
             LOG_UINT("tunnel_out", g->relay.t.tx_bytes));
    h8s_ws_relay_release(&g->relay, to_agent, why);
    if (g->stats)
        g->stats->ended++;
    free(g);
}

static const struct gw_ws_session_ops session_ops = {s_message, s_close, s_drain, s_end};

/* ------------------------------------------------------------- start */

static int is(struct span name, const char *what)
{
    return span_eq_nocase(name, span_cstr(what));
}

/* 1 when a Connection field of h lists name (a hop-by-hop header too). */
static int connection_lists(const struct ws_handshake_http *h, struct span name)
{
    for (size_t i = 0; i < h->nheaders; i++)
        if (is(h->headers[i].name, "Connection") && http_head_list_has(h->headers[i].value, name))
            return 1;
    return 0;
}

/* Builds the open's header block (§7.2) into buf; returns its span or an
 * empty one when a field cannot be carried. */
static struct span open_block(const struct gwt *g, const struct gw_ws_tunnel_request *req,
                              uint8_t *buf, size_t cap)
{
    const struct ws_handshake_http *h = req->head;
    struct nats_hdr_builder b;
    struct span out = {NULL, 0}, xff = {NULL, 0};
    uint8_t canon[256], xffbuf[1024];

    nats_hdr_build_init(&b, buf, cap, 0, span_make(NULL, 0));
    for (size_t i = 0; i < h->nheaders; i++) {
        struct span name = h->headers[i].name;
        if (is(name, "X-Forwarded-For")) {
            xff = h->headers[i].value;
            continue;
        }
        if (is(name, "Host") || is(name, "X-Forwarded-Proto") || is(name, "X-Forwarded-Host") ||
            name.n > sizeof(canon) || !h8s_ws_open_forwards(name) || connection_lists(h, name))
            continue;
        http_head_canonical(canon, name);
        nats_hdr_build_add(&b, span_make(canon, name.n), h->headers[i].value);
    }
    if (xff.n && xff.n + 2 + req->client_addr.n <= sizeof(xffbuf)) {
        memcpy(xffbuf, xff.p, xff.n);
        memcpy(xffbuf + xff.n, ", ", 2);
        memcpy(xffbuf + xff.n + 2, req->client_addr.p, req->client_addr.n);
        xff = span_make(xffbuf, xff.n + 2 + req->client_addr.n);
    } else {
        xff = req->client_addr;
    }
    nats_hdr_build_add(&b, SPAN_LIT("Host"), req->host);
    nats_hdr_build_add(&b, SPAN_LIT(H8S_HDR_PUBLISH_SUBJECT), req->subject);
    nats_hdr_build_add(&b, SPAN_LIT(H8S_HDR_REPLY_SUBJECT),
                       span_make(g->relay.own, g->relay.own_len));
    nats_hdr_build_add(&b, SPAN_LIT(H8S_HDR_ORIGINAL_PATH), req->path);
    nats_hdr_build_add(&b, SPAN_LIT(H8S_HDR_ORIGINAL_QUERY), req->query);
    nats_hdr_build_add(&b, SPAN_LIT("X-Forwarded-For"), xff);
    nats_hdr_build_add(&b, SPAN_LIT("X-Forwarded-Proto"), req->scheme);
    nats_hdr_build_add(&b, SPAN_LIT("X-Forwarded-Host"), req->host);
    if (h8s_ws_add_open(&b, h8s_ws_tunnel_granted(&g->relay.t)) != 0 ||
        nats_hdr_build_finish(&b, &out) != 0)
        return span_make(NULL, 0);
    return out;
}

unsigned gw_ws_tunnel_start(struct loop_conn *c, const struct gw_ws_tunnel_config *cfg,
                            const struct gw_ws_tunnel_request *req,
                            struct gw_ws_tunnel_stats *stats)
{
    static const char oops[] = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n"
                               "Connection: close\r\n\r\n";
    char id[RAND_ID_LEN + 1];
    struct gwt *g = calloc(1, sizeof(*g));
    struct span hdr;
    size_t cap = 4096;
    uint8_t *buf;
    unsigned st;
    int rc;

    if (g == NULL || rand_id(cfg->rand, id, RAND_ID_LEN) != 0 ||
        h8s_ws_relay_init(&g->relay, loop_conn_loop(c), cfg->nc, cfg->relays, &cfg->relay,
                          &relay_ops, cfg->gw_id, span_cstr(id)) != 0) {
        free(g);
        (void)loop_conn_write(c, oops, sizeof(oops) - 1);
        loop_conn_close(c, LOOP_CLOSE_FLUSH, 1000);
        return 0;
    }
    g->stats = stats;
    st = gw_ws_session_start(c, &cfg->session, req->head, req->rest, &session_ops, g, &g->s);
    if (st != 101) {
        h8s_ws_relay_release(&g->relay, 0, NULL);
        free(g);
        return st;
    }
    if (stats)
        stats->started++;
    /* From here every failure goes through the session: its on_end frees. */
    for (size_t i = 0; i < req->head->nheaders; i++)
        cap += req->head->headers[i].name.n + req->head->headers[i].value.n + 4;
    cap += req->subject.n + req->path.n + req->query.n + 2 * req->host.n + req->client_addr.n;
    if (cap > NATS_HDR_MAX)
        cap = NATS_HDR_MAX;
    buf = malloc(cap);
    if (buf == NULL) {
        refuse(g, 500, NULL);
        return 101;
    }
    hdr = open_block(g, req, buf, cap);
    if (hdr.n == 0) {
        free(buf);
        refuse(g, 431, NULL);
        return 101;
    }
    rc = nats_client_publish(cfg->nc, req->subject, span_make(g->relay.own, g->relay.own_len), hdr,
                             span_make(NULL, 0));
    free(buf);
    if (rc != 0) {
        log_emit(LOG_WARN, "ws_tunnel_open_failed", LOG_STR("err", nats_client_strerror(rc)));
        refuse(g, 503, NULL);
        return 101;
    }
    h8s_ws_relay_opening(&g->relay);
    return 101;
}
