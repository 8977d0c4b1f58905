/*
 * proto/h8s_ws_relay.h — one WebSocket tunnel at one hop, wired to NATS
 * (docs/PROTOCOL.md §7): the part of the gateway's and the agent's
 * WebSocket handling that is the same on both.
 *
 * Like proto/nats_client.h, and unlike the codecs, this runs on the loop:
 * it publishes with a struct nats_client and arms a loop timer. What is
 * particular to each daemon (the client session or the app connection,
 * the open exchange) stays with the caller, reached through ops.
 *
 * A relay pairs the tunnel state machine (proto/h8s_ws_tunnel.h) with:
 *   - the local side (the WebSocket peer of this hop), through ops:
 *     chunks from the tunnel are sent to it, its Close is relayed, it is
 *     closed with the right code when the tunnel fails or goes silent;
 *   - the local side's input, through h8s_ws_relay_local_message: chunks
 *     are published as far as the other hop's credit and the NATS client's
 *     output allow; the rest is refused (the local module then pauses its
 *     socket) and ops->resume is called once credit or room comes back;
 *   - credits and heartbeats, published as the local peer takes what came
 *     (h8s_ws_relay_local_drained) and when the timer says so;
 *   - liveness: silence, no-responders and aborts end the tunnel with 1011.
 * Every message is published with this hop's own subject as reply, so a
 * vanished peer shows as no-responders at once.
 *
 * A registry (struct h8s_ws_relays) maps connection ids to relays so the
 * daemon's inbox callback can hand each message to its relay, and answers
 * messages for unknown ids with an abort (§7.6).
 *
 * All on the loop's thread. Relays are caller-owned memory (embed one in
 * the per-connection struct, recover it with LOOP_CONTAINER_OF) and must
 * not be freed from inside an op; free after h8s_ws_relay_release, e.g.
 * from the local module's on_end (which the loop calls on its own).
 */
#ifndef H8S_PROTO_H8S_WS_RELAY_H
#define H8S_PROTO_H8S_WS_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include "core/loop.h"
#include "core/rand.h"
#include "proto/h8s_ws.h"
#include "proto/h8s_ws_tunnel.h"
#include "proto/nats_client.h"
#include "proto/span.h"
#include "proto/ws_frame.h"

struct h8s_ws_relay;
struct h8s_ws_relays;

struct h8s_ws_relay_ops {
    /* The local side. send and close return 0 or a negative errno; a
     * failure there is the local module's to report (it ends itself). */
    int (*send)(struct h8s_ws_relay *r, unsigned opcode, const uint8_t *p, size_t n, int fin);
    int (*close)(struct h8s_ws_relay *r, unsigned code, struct span reason);
    void (*resume)(struct h8s_ws_relay *r);
    /* 1 while the queue towards the local peer is above half its limit
     * (no credit is granted then; call h8s_ws_relay_local_drained when it
     * falls back, i.e. from loop_conn's on_drain). */
    int (*congested)(struct h8s_ws_relay *r);
    /*
     * Gateway only (may be NULL on the agent): the reply to the open.
     * ev is H8S_WS_EV_ACCEPTED (the relay is now open) or
     * H8S_WS_EV_REFUSED, with m the reply (kind HTTP: a response to pass
     * on; NO_RESPONDERS; anything else), or m NULL when no reply came in
     * time. m's spans are valid during the call only.
     */
    void (*on_open_reply)(struct h8s_ws_relay *r, enum h8s_ws_event_type ev,
                          const struct h8s_ws_msg *m);
};

struct h8s_ws_relay_config {
    struct h8s_ws_config tunnel; /* window, max_message, heartbeat, liveness, close wait */
    size_t chunk_max;            /* payload per data message; <= max_payload - 1 KiB */
    unsigned open_timeout_ms;    /* gateway: wait for the reply to the open */
};

struct h8s_ws_relay {
    struct h8s_ws_tunnel t;
    struct h8s_ws_relay_config cfg;
    struct loop *loop;
    struct nats_client *nc;
    struct h8s_ws_relays *set;
    const struct h8s_ws_relay_ops *ops;
    struct loop_timer timer;
    struct h8s_ws_relay *next; /* registry bucket chain */
    uint64_t open_deadline;
    uint8_t blocked;     /* the local side waits for credit or NATS room */
    uint8_t released;    /* h8s_ws_relay_release was called */
    uint8_t local_first; /* the local peer's Close came first: answer it if the other hop won't */
    uint8_t own_len, peer_len, id_len;
    uint16_t local_code; /* the local peer's Close we relayed, for the close wait */
    uint8_t local_reason_len;
    char own[H8S_WS_SUBJECT_MAX + 1];  /* our subject: replies go here */
    char peer[H8S_WS_SUBJECT_MAX + 1]; /* the other hop's subject */
    char id[RAND_ID_LEN + 1];          /* our connection id (the last token of own) */
    uint8_t local_reason[WS_FRAME_CLOSE_REASON_MAX];
};

/*
 * Prepares r (OPENING) and adds it to set under id: own is
 * "_INBOX.h8s.<daemon id>.<id>", id a fresh getrandom id (rand_id). cfg
 * NULL means defaults. Returns 0, -EINVAL (bad subject or id) or -EEXIST
 * (id already in set).
 */
int h8s_ws_relay_init(struct h8s_ws_relay *r, struct loop *l, struct nats_client *nc,
                      struct h8s_ws_relays *set, const struct h8s_ws_relay_config *cfg,
                      const struct h8s_ws_relay_ops *ops, struct span daemon_id, struct span id);

/* Gateway: the open was published; wait for the reply until
 * open_timeout_ms (then on_open_reply(REFUSED, NULL)). */
void h8s_ws_relay_opening(struct h8s_ws_relay *r);

/*
 * Agent: the open arrived with the gateway's subject (its reply subject)
 * and credit. The relay is OPEN: the accept (with h8s_ws_tunnel_granted
 * as credit) is the caller's to publish, after the app switched protocols.
 * Returns 0 or -EINVAL (peer not a tunnel subject, or not OPENING).
 */
int h8s_ws_relay_start(struct h8s_ws_relay *r, struct span peer, uint64_t peer_credit);

/* A message for this relay (from the registry's dispatch). */
void h8s_ws_relay_nats_msg(struct h8s_ws_relay *r, const struct nats_msg *m);

/* Returned by h8s_ws_relay_local_message when nothing at all was taken
 * (not even an empty chunk): wait for ops->resume. Equal to
 * GW_WS_SESSION_WAIT and AG_WS_BACKEND_WAIT. */
#define H8S_WS_RELAY_WAIT ((size_t)-1)

/*
 * A chunk from the local peer. Publishes as much as credit and the NATS
 * client allow, in data messages of at most chunk_max bytes, and returns
 * the bytes taken, or H8S_WS_RELAY_WAIT when none; fewer than data.n means
 * "wait for ops->resume". Once the tunnel can carry nothing more (closing,
 * failed) the chunk is taken and dropped: the connection is ending with a
 * code already.
 */
size_t h8s_ws_relay_local_message(struct h8s_ws_relay *r, unsigned opcode, struct span data,
                                  int fin);

/* The local peer's Close (initiating, or answering the other hop's). */
void h8s_ws_relay_local_close(struct h8s_ws_relay *r, unsigned code, struct span reason);

/* The local side's output drained: grant credit when due. */
void h8s_ws_relay_local_drained(struct h8s_ws_relay *r);

/*
 * The local side is gone: sends our close (code, reason: PROTOCOL.md §7.5)
 * unless one went out already, stops the timer and leaves the registry.
 * No op is called after this; r's memory is the caller's again.
 */
void h8s_ws_relay_release(struct h8s_ws_relay *r, unsigned code, const char *reason);

/* The NATS client drained after a refused publish: wakes a blocked relay. */
void h8s_ws_relay_nats_drained(struct h8s_ws_relay *r);

/* ------------------------------------------------------------ registry */

struct h8s_ws_relays {
    struct h8s_ws_relay **buckets; /* caller's storage, nbuckets entries */
    size_t mask;                   /* nbuckets - 1; nbuckets a power of two */
    size_t count;
    struct nats_client *nc; /* for answers to unknown ids */
};

/* buckets: caller storage of nbuckets (a power of two >= 1) pointers. */
void h8s_ws_relays_init(struct h8s_ws_relays *set, struct h8s_ws_relay **buckets, size_t nbuckets,
                        struct nats_client *nc);

/* The relay registered under id, or NULL. */
struct h8s_ws_relay *h8s_ws_relays_find(const struct h8s_ws_relays *set, struct span id);

/*
 * An inbox message whose last subject token is id: handed to its relay.
 * For an unknown id, a tunnel message (accept, text, binary, credit) with
 * a tunnel reply subject is answered with an abort (1001 for an accept,
 * else 1011, reason "unknown connection"); anything else (HTTP replies,
 * closes, no-responders) is left alone. Returns 1 when the message was a
 * tunnel's (handled here), 0 when it is not (the caller's, e.g. an HTTP
 * reply).
 */
int h8s_ws_relays_dispatch(struct h8s_ws_relays *set, struct span id, const struct nats_msg *m);

/* Calls h8s_ws_relay_nats_drained on every blocked relay. */
void h8s_ws_relays_nats_drained(struct h8s_ws_relays *set);

/*
 * Shutdown, before nats_client_destroy: every relay still registered sends
 * its close (1001, "shutting down") if it has not, stops its timer and
 * leaves the set, as h8s_ws_relay_release does; no relay publishes or
 * calls an op after this. The local sides are the caller's to end (their
 * later h8s_ws_relay_release is then a no-op).
 */
void h8s_ws_relays_shutdown(struct h8s_ws_relays *set);

#endif
