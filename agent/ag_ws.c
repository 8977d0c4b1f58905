/*
 * agent/ag_ws.c — h8srd's WebSocket wiring: opens that arrive on a route's
 * request subjects go to ag_ws_tunnel_open with that route's app; the
 * inbox, NATS-drained and shutdown paths reach the registry from
 * ag_xchg.c and ag_main.c.
 */
#include "agent/ag_internal.h"

#include <errno.h>
#include <stdlib.h>

#include "core/log.h"
#include "core/units.h"
#include "proto/h8s_ws.h"
#include "proto/nats_hdr.h"

#define AG_WS_PING_MS 20000 /* keep-alive pings towards the app */

int ag_ws_init(struct agent *ag)
{
    size_t nbuckets = 64;
    while (nbuckets < (size_t)ag->cfg->max_exchanges)
        nbuckets <<= 1;
    ag->ws_buckets = calloc(nbuckets, sizeof(*ag->ws_buckets));
    if (!ag->ws_buckets)
        return -ENOMEM;
    h8s_ws_relays_init(&ag->ws_relays, ag->ws_buckets, nbuckets, ag->nc);

    struct ag_ws_tunnel_config *t = &ag->ws_cfg;
    t->nc = ag->nc;
    t->relays = &ag->ws_relays;
    t->agent_id = span_cstr(ag->id);
    t->rand = &ag->rnd;
    t->backend.max_message = ag->cfg->ws_max_message;
    t->backend.open_timeout_ms = ag->backend_timeout_ms;
    t->backend.ping_interval_ms = AG_WS_PING_MS;
    h8s_ws_config_defaults(&t->relay.tunnel);
    t->relay.tunnel.max_message = ag->cfg->ws_max_message;
    return 0;
}

int ag_ws_request(struct agent *ag, struct ag_route *rt, const struct nats_msg *m)
{
    struct h8s_ws_msg wm;
    if (h8s_ws_decode(&wm, m->hdr, m->payload) != 0 || wm.kind != H8S_WS_OPEN)
        return 0;
    ag->st.requests++;
    if (ag->draining || ag->finishing) {
        log_emit(LOG_WARN, "refused", LOG_STR("host", rt->host),
                 LOG_STR("reason", "agent shutting down"));
        if (m->reply.n)
            ag_stream_reply_error(ag, m->reply, 503, "agent shutting down");
        return 1;
    }
    if (rt->be->addrlen == 0) {
        if (m->reply.n)
            ag_stream_reply_error(ag, m->reply, 502, "backend not resolved");
        return 1;
    }
    struct ag_ws_tunnel_config cfg = ag->ws_cfg;
    cfg.addr = (const struct sockaddr *)&rt->be->addr;
    cfg.addrlen = rt->be->addrlen;
    cfg.base_path = span_cstr(rt->base);
    cfg.host = span_cstr(rt->be->authority);
    if (!ag->cfg->rewrite_host) {
        /* The public Host, as for HTTP requests. */
        struct nats_hdr h;
        struct span host;
        if (nats_hdr_parse(&h, m->hdr) == 0 && nats_hdr_get(&h, SPAN_LIT("Host"), 0, &host) == 1 &&
            host.n > 0)
            cfg.host = host;
    }
    if (ag_ws_tunnel_open(ag->loop, &cfg, m, &ag->ws_st) != 0)
        ag->st.errors++;
    return 1;
}
