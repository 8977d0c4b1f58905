/*
 * agent/ag_ws_tunnel.c — see ag_ws_tunnel.h.
 */
#include "agent/ag_ws_tunnel.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "proto/h8s_wire.h"
#include "proto/h8s_ws.h"
#include "proto/http_head.h"
#include "proto/http_resp.h"
#include "proto/nats_hdr.h"

#define FWD_MAX 64 /* headers at_of the open passed to the app */

struct agt {
    struct h8s_ws_relay relay;
    struct ag_ws_backend *b;
    struct ag_ws_tunnel_stats *stats;
    uint64_t peer_credit;
    size_t peer_len;
    char peer[H8S_WS_SUBJECT_MAX + 1]; /* the gateway subject, until the accept */
};

static struct agt *at_of(struct h8s_ws_relay *r)
{
    return LOOP_CONTAINER_OF(r, struct agt, relay);
}

static int at_is(struct span name, const char *what)
{
    return span_eq_nocase(name, span_cstr(what));
}

/* -------------------------------------------------------- relay -> app */

static int at_r_send(struct h8s_ws_relay *r, unsigned opcode, const uint8_t *p, size_t n, int fin)
{
    return ag_ws_backend_send(at_of(r)->b, opcode, p, n, fin);
}

static int at_r_close(struct h8s_ws_relay *r, unsigned code, struct span reason)
{
    return ag_ws_backend_close(at_of(r)->b, code, reason);
}

static void at_r_resume(struct h8s_ws_relay *r)
{
    ag_ws_backend_resume(at_of(r)->b);
}

static int at_r_congested(struct h8s_ws_relay *r)
{
    return ag_ws_backend_congested(at_of(r)->b);
}

static const struct h8s_ws_relay_ops at_relay_ops = {at_r_send, at_r_close, at_r_resume,
                                                     at_r_congested, NULL};

/* ------------------------------------------------------- the open reply */

static int at_response_forwards(struct span name, const struct http_head_field *f, size_t n)
{
    return !http_head_hop_by_hop(name, f, n) && !at_is(name, "Content-Length") &&
           !at_is(name, H8S_HDR_STATUS) && !at_is(name, H8S_HDR_STATUS_CODE) &&
           !(name.n >= 6 && span_eq_nocase(span_make(name.p, 6), SPAN_LIT("X-H8s-")));
}

/* The app did not switch protocols: its answer (or ours) as a §3 response. */
static void at_respond(struct agt *a, unsigned status, const struct http_head_field *f, size_t n,
                       struct span body)
{
    struct nats_hdr_builder b;
    char num[24], line[64];
    size_t cap = 1024;
    struct span hdr;
    uint8_t *buf;

    for (size_t i = 0; i < n; i++)
        cap += f[i].name.n + f[i].value.n + 4;
    if (cap > NATS_HDR_MAX)
        cap = NATS_HDR_MAX;
    buf = malloc(cap);
    if (buf == NULL)
        return; /* the gateway's open times out: 504 */
    nats_hdr_build_init(&b, buf, cap, 0, span_make(NULL, 0));
    snprintf(num, sizeof(num), "%u", status);
    snprintf(line, sizeof(line), "%u %s", status, http_status_reason((int)status));
    nats_hdr_build_add(&b, SPAN_LIT(H8S_HDR_STATUS_CODE), span_cstr(num));
    nats_hdr_build_add(&b, SPAN_LIT(H8S_HDR_STATUS), span_cstr(line));
    for (size_t i = 0; i < n; i++)
        if (at_response_forwards(f[i].name, f, n))
            nats_hdr_build_add(&b, f[i].name, f[i].value);
    snprintf(num, sizeof(num), "%zu", body.n);
    nats_hdr_build_add(&b, SPAN_LIT("Content-Length"), span_cstr(num));
    if (nats_hdr_build_finish(&b, &hdr) == 0)
        (void)nats_client_publish(a->relay.nc, span_make(a->peer, a->peer_len), span_make(NULL, 0),
                                  hdr, body);
    free(buf);
}

static int at_accept_open(struct agt *a, const struct ag_ws_backend_open *o)
{
    struct nats_hdr_builder b;
    size_t cap = 1024;
    struct span hdr;
    uint8_t *buf;
    int rc;

    if (h8s_ws_relay_start(&a->relay, span_make(a->peer, a->peer_len), a->peer_credit) != 0)
        return -EINVAL;
    for (size_t i = 0; i < o->nfields; i++)
        cap += o->fields[i].name.n + o->fields[i].value.n + 4;
    if (cap > NATS_HDR_MAX)
        cap = NATS_HDR_MAX;
    buf = malloc(cap);
    if (buf == NULL)
        return -ENOMEM;
    nats_hdr_build_init(&b, buf, cap, 0, span_make(NULL, 0));
    h8s_ws_add_accept(&b, span_make(a->relay.own, a->relay.own_len), o->protocol,
                      h8s_ws_tunnel_granted(&a->relay.t));
    for (size_t i = 0; i < o->nfields; i++)
        if (h8s_ws_accept_forwards(o->fields[i].name))
            nats_hdr_build_add(&b, o->fields[i].name, o->fields[i].value);
    rc = nats_hdr_build_finish(&b, &hdr);
    if (rc == 0)
        rc =
            nats_client_publish(a->relay.nc, span_make(a->peer, a->peer_len),
                                span_make(a->relay.own, a->relay.own_len), hdr, span_make(NULL, 0));
    free(buf);
    return rc;
}

/* -------------------------------------------------------- app -> relay */

static void b_open(struct ag_ws_backend *b, void *cookie, const struct ag_ws_backend_open *o)
{
    struct agt *a = cookie;
    int rc;

    if (o->status == 101 && o->err == 0) {
        rc = at_accept_open(a, o);
        if (rc != 0) {
            log_emit(LOG_WARN, "ws_tunnel_accept_failed",
                     LOG_STRN("conn", a->relay.id, a->relay.id_len), LOG_INT("err", rc));
            (void)ag_ws_backend_close(b, WS_CLOSE_INTERNAL, SPAN_LIT("tunnel failed"));
            return;
        }
        if (a->stats)
            a->stats->accepted++;
        return;
    }
    if (a->stats)
        a->stats->refused++;
    if (o->err)
        at_respond(a, o->err == -ETIMEDOUT ? 504 : 502, NULL, 0, span_make(NULL, 0));
    else
        at_respond(a, o->status, o->fields, o->nfields, o->body);
}

static size_t b_message(struct ag_ws_backend *b, void *cookie, unsigned opcode, struct span data,
                        int first, int fin)
{
    struct agt *a = cookie;
    (void)b;
    (void)first;
    return h8s_ws_relay_local_message(&a->relay, opcode, data, fin);
}

static void b_close(struct ag_ws_backend *b, void *cookie, unsigned code, struct span reason)
{
    struct agt *a = cookie;
    (void)b;
    h8s_ws_relay_local_close(&a->relay, code, reason);
}

static void b_drain(struct ag_ws_backend *b, void *cookie)
{
    struct agt *a = cookie;
    (void)b;
    h8s_ws_relay_local_drained(&a->relay);
}

static void b_end(struct ag_ws_backend *b, void *cookie, int err, unsigned code)
{
    struct agt *a = cookie;
    unsigned to_gw = WS_CLOSE_INTERNAL;
    const char *why = "backend gone";
    (void)b;

    if (err == AG_WS_BACKEND_E_PROTOCOL) {
        to_gw = WS_CLOSE_GOING_AWAY;
        why = code == WS_CLOSE_TOO_BIG ? "peer message too big" : "peer protocol error";
    }
    log_emit(LOG_INFO, "ws_tunnel_end", LOG_STRN("conn", a->relay.id, a->relay.id_len),
             LOG_INT("backend_err", err), LOG_UINT("backend_code", code),
             LOG_UINT("tunnel_in", a->relay.t.rx_bytes),
             LOG_UINT("tunnel_out", a->relay.t.tx_bytes));
    h8s_ws_relay_release(&a->relay, to_gw, why);
    if (a->stats)
        a->stats->ended++;
    free(a);
}

static const struct ag_ws_backend_ops at_backend_ops = {b_open, b_message, b_close, b_drain, b_end};

/* ------------------------------------------------------------- the open */

/* Splits a Sec-Websocket-Protocol value into offers; returns the new count. */
static size_t at_add_offers(struct span v, struct span *offers, size_t n)
{
    size_t i = 0;

    while (i < v.n && n < WS_HANDSHAKE_MAX_PROTOCOLS) {
        size_t j = i;
        while (j < v.n && v.p[j] != ',')
            j++;
        struct span t = span_make(v.p + i, j - i);
        while (t.n && (t.p[0] == ' ' || t.p[0] == '\t'))
            t.p++, t.n--;
        while (t.n && (t.p[t.n - 1] == ' ' || t.p[t.n - 1] == '\t'))
            t.n--;
        if (t.n)
            offers[n++] = t;
        i = j + 1;
    }
    return n;
}

int ag_ws_tunnel_open(struct loop *l, const struct ag_ws_tunnel_config *cfg,
                      const struct nats_msg *m, struct ag_ws_tunnel_stats *stats)
{
    struct span offers[WS_HANDSHAKE_MAX_PROTOCOLS], path = {NULL, 0}, query = {NULL, 0};
    struct span origin = {NULL, 0}, base = cfg->base_path, key, val;
    struct ws_handshake_header fwd[FWD_MAX];
    size_t noffers = 0, nfwd = 0, tlen;
    struct ag_ws_backend_config bc;
    char id[RAND_ID_LEN + 1], *target;
    struct h8s_ws_msg msg;
    struct nats_hdr_iter it;
    struct nats_hdr h;
    struct agt *a;
    int rc;

    if (h8s_ws_decode(&msg, m->hdr, m->payload) != 0 || msg.kind != H8S_WS_OPEN ||
        !h8s_ws_subject_ok(m->reply) || nats_hdr_parse(&h, m->hdr) != 0)
        return -EINVAL;
    nats_hdr_iter_init(&it, &h);
    while (nats_hdr_next(&it, &key, &val)) {
        if (at_is(key, H8S_HDR_ORIGINAL_PATH))
            path = val;
        else if (at_is(key, H8S_HDR_ORIGINAL_QUERY))
            query = val;
        else if (at_is(key, "Origin"))
            origin = val;
        else if (at_is(key, "Sec-Websocket-Protocol"))
            noffers = at_add_offers(val, offers, noffers);
        else if (h8s_ws_backend_forwards(key) && nfwd < FWD_MAX)
            fwd[nfwd].name = key, fwd[nfwd++].value = val;
    }
    /* base path without its trailing '/', then the client's path. */
    while (base.n && base.p[base.n - 1] == '/')
        base.n--;
    if (path.n == 0 || path.p[0] != '/')
        path = SPAN_LIT("/");
    tlen = base.n + path.n + (query.n ? 1 + query.n : 0);
    target = malloc(tlen + 1);
    a = calloc(1, sizeof(*a));
    if (target == NULL || a == NULL || rand_id(cfg->rand, id, RAND_ID_LEN) != 0 ||
        h8s_ws_relay_init(&a->relay, l, cfg->nc, cfg->relays, &cfg->relay, &at_relay_ops,
                          cfg->agent_id, span_cstr(id)) != 0) {
        free(target);
        free(a);
        return -ENOMEM;
    }
    if (base.n)
        memcpy(target, base.p, base.n);
    memcpy(target + base.n, path.p, path.n);
    if (query.n) {
        target[base.n + path.n] = '?';
        memcpy(target + base.n + path.n + 1, query.p, query.n);
    }
    a->stats = stats;
    a->peer_credit = msg.credit;
    memcpy(a->peer, m->reply.p, m->reply.n);
    a->peer_len = m->reply.n;

    bc = cfg->backend;
    bc.addr = cfg->addr;
    bc.addrlen = cfg->addrlen;
    bc.host = cfg->host;
    bc.target = span_make(target, tlen);
    bc.origin = origin;
    bc.protocols = offers;
    bc.nprotocols = noffers;
    bc.headers = fwd;
    bc.nheaders = nfwd;
    bc.rand = cfg->rand;
    rc = ag_ws_backend_connect(l, &bc, &at_backend_ops, a, &a->b);
    free(target);
    if (stats)
        stats->opens++;
    if (rc != 0) {
        log_emit(LOG_WARN, "ws_tunnel_dial_failed", LOG_ERRNO("err", rc));
        at_respond(a, 502, NULL, 0, span_make(NULL, 0));
        h8s_ws_relay_release(&a->relay, 0, NULL);
        free(a);
        return rc;
    }
    return 0;
}
