/*
 * agent/ag_ws_tunnel.h — a client's WebSocket connection carried through
 * NATS (docs/PROTOCOL.md §7), agent side: the open exchange +
 * ag_ws_backend (the app) + h8s_ws_relay (the tunnel).
 *
 * The daemon's request callback (its queue subscriptions to the host's
 * request subjects) hands a message that decodes as an open (h8s_ws_decode
 * kind H8S_WS_OPEN) to ag_ws_tunnel_open; its inbox callback (the one
 * subscription to "_INBOX.h8s.<agent id>.*") hands every message whose id
 * it does not own to h8s_ws_relays_dispatch, and its NATS on_drained event
 * to h8s_ws_relays_nats_drained.
 *
 * The agent dials the app on X-H8s-Original-Path and -Query (behind the
 * backend URL's own path), with a fresh key, the client's offers, its
 * Origin and the headers h8s_ws_backend_forwards allows. Nothing is sent
 * to the gateway before the app answered; then:
 *   101         -> accept (agent subject, subprotocol, credit, the app's
 *                  other 101 headers), relaying starts;
 *   refusal     -> the app's status, headers and body as an HTTP response
 *                  (§3), at most refusal_max bytes of body;
 *   unreachable -> 502; no answer within open_timeout_ms -> 504.
 * Every end is logged (event=ws_tunnel_end) with the connection id.
 */
#ifndef H8S_AGENT_AG_WS_TUNNEL_H
#define H8S_AGENT_AG_WS_TUNNEL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "agent/ag_ws_backend.h"
#include "core/loop.h"
#include "core/rand.h"
#include "proto/h8s_ws_relay.h"
#include "proto/nats_client.h"

struct ag_ws_tunnel_config {
    struct nats_client *nc;
    struct h8s_ws_relays *relays; /* the daemon's registry (its inbox dispatch) */
    struct span agent_id;         /* the agent id of "_INBOX.h8s.<agent id>.*" */
    struct rand_pool *rand;       /* connection ids, keys, masks */
    const struct sockaddr *addr;  /* the app, resolved */
    socklen_t addrlen;
    struct span host;      /* Host for the app, e.g. "app.internal:8080" */
    struct span base_path; /* the backend URL's path ("" or "/" for none) */
    /* Limits and timers for the app connection (addr, host, target,
     * origin, protocols and headers are filled in per open). */
    struct ag_ws_backend_config backend;
    struct h8s_ws_relay_config relay;
};

struct ag_ws_tunnel_stats {
    uint64_t opens, accepted, refused, ended;
};

/*
 * Takes the open message m (kind H8S_WS_OPEN, reply subject the gateway's)
 * and starts dialing the app. Returns 0; or -EINVAL when m is not a usable
 * open (no tunnel reply subject, bad headers: nothing is answered, the
 * gateway times out), or -errno when the dial could not start (a 502 is
 * answered). stats may be NULL.
 */
int ag_ws_tunnel_open(struct loop *l, const struct ag_ws_tunnel_config *cfg,
                      const struct nats_msg *m, struct ag_ws_tunnel_stats *stats);

#endif
