/*
 * gateway/gw_ws_tunnel.h — a client's WebSocket connection carried through
 * NATS (docs/PROTOCOL.md §7), gateway side: gw_ws_session (the client) +
 * h8s_ws_relay (the tunnel) + the open exchange.
 *
 * The HTTP layer calls gw_ws_tunnel_start for an upgrade request; from
 * then on the connection is the tunnel's. The daemon's inbox callback
 * (its one subscription to "_INBOX.h8s.<gateway id>.*") hands every
 * message whose id it does not own to h8s_ws_relays_dispatch, and its
 * NATS on_drained event to h8s_ws_relays_nats_drained.
 *
 * The open goes to the request subject, reply to this connection's
 * gateway subject, with the client's headers (the §7.2 filters applied),
 * the §2 gateway headers and our initial credit. Then:
 *   accept   -> 101 to the client (the app's subprotocol, which must be one
 *               of the client's offers, else 502 and an abort to the
 *               agent), relaying starts;
 *   response -> that status, headers and body to the client (101 without
 *               an accept: 502);
 *   no responders -> 503; no reply within open_timeout_ms -> 504.
 * Every end is logged (event=ws_tunnel_end) with the connection id, the
 * client-side outcome and the close code sent to the agent.
 */
#ifndef H8S_GATEWAY_GW_WS_TUNNEL_H
#define H8S_GATEWAY_GW_WS_TUNNEL_H

#include <stddef.h>
#include <stdint.h>

#include "core/loop.h"
#include "core/rand.h"
#include "gateway/gw_ws_session.h"
#include "proto/h8s_ws_relay.h"
#include "proto/nats_client.h"
#include "proto/ws_handshake.h"

struct gw_ws_tunnel_config {
    struct nats_client *nc;
    struct h8s_ws_relays *relays; /* the daemon's registry (its inbox dispatch) */
    struct span gw_id;            /* the gateway id of "_INBOX.h8s.<gateway id>.*" */
    struct rand_pool *rand;       /* connection ids */
    struct gw_ws_session_config session;
    struct h8s_ws_relay_config relay;
};

/* The upgrade request, as the HTTP layer parsed it. Spans are used before
 * gw_ws_tunnel_start returns. */
struct gw_ws_tunnel_request {
    const struct ws_handshake_http *head; /* method, version, every field as sent */
    struct span subject;     /* request subject (subject_request for GET, host, path) */
    struct span host;        /* the request's own Host */
    struct span path;        /* raw path */
    struct span query;       /* raw query without '?' */
    struct span client_addr; /* the client's address, for X-Forwarded-For */
    struct span scheme;      /* "http" or "https" */
    struct span rest;        /* bytes that followed the head in the same read */
};

/* Counters, for logs and tests. */
struct gw_ws_tunnel_stats {
    uint64_t started, accepted, refused, ended;
};

/*
 * Handles an upgrade request on c (from the HTTP layer's on_data, or its
 * head callback). Returns 101 when the tunnel is opening (c now belongs to
 * it; the caller returns from on_data and forgets c, after passing bytes
 * that followed the head to gw_ws_session_park(gw_ws_session_of(c), ...)
 * when it could not give them as req->rest); 400, 403 or 426 when the
 * handshake check refused (answered; c is closing and still the caller's,
 * whose on_close follows); 0 on an internal failure (c closed likewise).
 * stats may be NULL.
 */
unsigned gw_ws_tunnel_start(struct loop_conn *c, const struct gw_ws_tunnel_config *cfg,
                            const struct gw_ws_tunnel_request *req,
                            struct gw_ws_tunnel_stats *stats);

#endif
