/*
 * proto/h8s_ws_relay.c — see h8s_ws_relay.h.
 */
#include "proto/h8s_ws_relay.h"

#include <errno.h>
#include <string.h>

#include "core/log.h"
#include "proto/subject.h"
#include "proto/ws_frame.h"

#define DEFAULT_CHUNK (64 * 1024)
#define DEFAULT_OPEN_TIMEOUT_MS 30000
#define HDR_ROOM 1024 /* kept free in max_payload for the header block */

static struct span own_subject(const struct h8s_ws_relay *r)
{
    return span_make(r->own, r->own_len);
}

static int publish(struct h8s_ws_relay *r, struct span hdr, struct span data)
{
    return nats_client_publish(r->nc, span_make(r->peer, r->peer_len), own_subject(r), hdr, data);
}

static void arm(struct h8s_ws_relay *r)
{
    uint64_t now = loop_now_ms(r->loop), d;

    if (r->released)
        return;
    if (r->t.state == H8S_WS_ST_OPENING)
        d = r->open_deadline ? r->open_deadline : UINT64_MAX;
    else
        d = h8s_ws_tunnel_deadline(&r->t);
    if (d == UINT64_MAX) {
        loop_timer_stop(r->loop, &r->timer);
        return;
    }
    loop_timer_start(r->loop, &r->timer, d > now ? d - now : 0);
}

static void send_close(struct h8s_ws_relay *r, unsigned code, struct span reason)
{
    uint8_t hb[H8S_WS_HDR_MAX];
    struct span out;

    if (h8s_ws_tunnel_send_close(&r->t, code, reason, loop_now_ms(r->loop), hb, sizeof(hb), &out) ==
        0)
        (void)publish(r, out, reason); /* best effort: silence ends it too */
}

static void send_credit(struct h8s_ws_relay *r)
{
    uint8_t hb[H8S_WS_HDR_MAX];
    struct span out;

    if (r->t.state != H8S_WS_ST_OPEN)
        return;
    /* A credit lost to a full output is harmless: the next one (at the
     * latest the next heartbeat) carries the same cumulative value. */
    if (h8s_ws_tunnel_credit(&r->t, r->ops->congested(r), 0, loop_now_ms(r->loop), hb, sizeof(hb),
                             &out) == 1)
        (void)publish(r, out, span_make(NULL, 0));
}

/* The tunnel failed (already marked in r->t): close the local peer with
 * the code, tell the other hop. */
static void fail_local(struct h8s_ws_relay *r, unsigned code, const char *reason)
{
    log_emit(LOG_INFO, "ws_tunnel_failed", LOG_STRN("conn", r->id, r->id_len),
             LOG_UINT("code", code), LOG_STR("reason", reason));
    (void)r->ops->close(r, code, span_cstr(reason));
    if (!h8s_ws_tunnel_done(&r->t))
        send_close(r, code, span_cstr(reason));
}

static void on_timer(struct loop *l, struct loop_timer *t)
{
    struct h8s_ws_relay *r = LOOP_CONTAINER_OF(t, struct h8s_ws_relay, timer);
    uint64_t now = loop_now_ms(l);

    if (r->released)
        return;
    if (r->t.state == H8S_WS_ST_OPENING) {
        if (r->open_deadline && now >= r->open_deadline) {
            r->open_deadline = 0;
            h8s_ws_tunnel_fail(&r->t, WS_CLOSE_INTERNAL, "no reply to the open");
            if (r->ops->on_open_reply)
                r->ops->on_open_reply(r, H8S_WS_EV_REFUSED, NULL);
            return;
        }
        arm(r);
        return;
    }
    switch (h8s_ws_tunnel_tick(&r->t, now)) {
    case H8S_WS_TICK_DEAD:
        fail_local(r, WS_CLOSE_INTERNAL, r->t.fail_reason);
        break;
    case H8S_WS_TICK_CLOSED:
        /* The other hop never answered the local peer's Close: answer it
         * ourselves with its own code. */
        if (r->local_first)
            (void)r->ops->close(r, r->local_code, span_make(r->local_reason, r->local_reason_len));
        break;
    default:
        break;
    }
    if (!r->released) {
        send_credit(r);
        arm(r);
    }
}

static void registry_add(struct h8s_ws_relays *set, struct h8s_ws_relay *r);
static void registry_remove(struct h8s_ws_relays *set, struct h8s_ws_relay *r);

int h8s_ws_relay_init(struct h8s_ws_relay *r, struct loop *l, struct nats_client *nc,
                      struct h8s_ws_relays *set, const struct h8s_ws_relay_config *cfg,
                      const struct h8s_ws_relay_ops *ops, struct span daemon_id, struct span id)
{
    uint8_t own[sizeof(r->own)];
    int n;

    /* Checked before r is touched: r may be a live relay of the set. */
    if (id.n == 0 || id.n > RAND_ID_LEN || !subject_id_ok(id))
        return -EINVAL;
    n = subject_reply(own, sizeof(own) - 1, daemon_id, id);
    if (n < 0 || !h8s_ws_subject_ok(span_make(own, (size_t)n)))
        return -EINVAL;
    if (h8s_ws_relays_find(set, id) != NULL)
        return -EEXIST;
    memset(r, 0, sizeof(*r));
    memcpy(r->own, own, (size_t)n);
    r->own_len = (uint8_t)n;
    memcpy(r->id, id.p, id.n);
    r->id_len = (uint8_t)id.n;
    if (cfg) {
        r->cfg = *cfg;
    } else {
        h8s_ws_config_defaults(&r->cfg.tunnel);
    }
    if (r->cfg.chunk_max == 0)
        r->cfg.chunk_max = DEFAULT_CHUNK;
    if (r->cfg.open_timeout_ms == 0)
        r->cfg.open_timeout_ms = DEFAULT_OPEN_TIMEOUT_MS;
    r->loop = l;
    r->nc = nc;
    r->set = set;
    r->ops = ops;
    h8s_ws_tunnel_init(&r->t, &r->cfg.tunnel, loop_now_ms(l));
    loop_timer_init(&r->timer, on_timer);
    registry_add(set, r);
    return 0;
}

void h8s_ws_relay_opening(struct h8s_ws_relay *r)
{
    r->open_deadline = loop_now_ms(r->loop) + r->cfg.open_timeout_ms;
    arm(r);
}

static int set_peer(struct h8s_ws_relay *r, struct span peer)
{
    if (!h8s_ws_subject_ok(peer) || peer.n > H8S_WS_SUBJECT_MAX)
        return -EINVAL;
    memcpy(r->peer, peer.p, peer.n);
    r->peer[peer.n] = '\0';
    r->peer_len = (uint8_t)peer.n;
    return 0;
}

int h8s_ws_relay_start(struct h8s_ws_relay *r, struct span peer, uint64_t peer_credit)
{
    if (r->t.state != H8S_WS_ST_OPENING || set_peer(r, peer) != 0)
        return -EINVAL;
    if (h8s_ws_tunnel_start(&r->t, peer_credit, loop_now_ms(r->loop)) != 0)
        return -EINVAL;
    arm(r);
    return 0;
}

static unsigned opcode_of(enum h8s_ws_kind k)
{
    return k == H8S_WS_TEXT ? WS_OP_TEXT : WS_OP_BINARY;
}

void h8s_ws_relay_nats_msg(struct h8s_ws_relay *r, const struct nats_msg *m)
{
    uint64_t now = loop_now_ms(r->loop);
    struct h8s_ws_event ev;
    struct h8s_ws_msg msg;
    int rc;

    if (r->released)
        return;
    rc = h8s_ws_decode(&msg, m->hdr, m->payload);
    if (rc != 0) {
        log_emit(LOG_WARN, "ws_tunnel_bad_message", LOG_STRN("conn", r->id, r->id_len),
                 LOG_STR("err", h8s_ws_strerror(rc)));
        if (r->t.state == H8S_WS_ST_OPENING) {
            /* A reply that is neither an accept nor a response: 502. */
            h8s_ws_tunnel_fail(&r->t, WS_CLOSE_INTERNAL, "malformed reply");
            memset(&msg, 0, sizeof(msg));
            msg.kind = H8S_WS_CLOSE;
            if (r->ops->on_open_reply)
                r->ops->on_open_reply(r, H8S_WS_EV_REFUSED, &msg);
            return;
        }
        if (!r->t.fail_code && !h8s_ws_tunnel_done(&r->t)) {
            h8s_ws_tunnel_fail(&r->t, WS_CLOSE_INTERNAL, "malformed tunnel message");
            fail_local(r, WS_CLOSE_INTERNAL, "malformed tunnel message");
        }
        return;
    }
    switch (h8s_ws_tunnel_recv(&r->t, &msg, now, &ev)) {
    case H8S_WS_EV_ACCEPTED:
        if (set_peer(r, msg.agent_subject) != 0) { /* decode checked it: unreachable */
            h8s_ws_tunnel_fail(&r->t, WS_CLOSE_INTERNAL, "bad agent subject");
            return;
        }
        if (r->ops->on_open_reply)
            r->ops->on_open_reply(r, H8S_WS_EV_ACCEPTED, &msg);
        break;
    case H8S_WS_EV_REFUSED:
        r->open_deadline = 0;
        loop_timer_stop(r->loop, &r->timer);
        if (r->ops->on_open_reply)
            r->ops->on_open_reply(r, H8S_WS_EV_REFUSED, &msg);
        return;
    case H8S_WS_EV_DATA:
        (void)r->ops->send(r, opcode_of(ev.kind), ev.data.p, ev.data.n, ev.fin);
        break;
    case H8S_WS_EV_CREDIT:
        if (r->blocked) {
            r->blocked = 0;
            r->ops->resume(r);
        }
        break;
    case H8S_WS_EV_CLOSE:
        (void)r->ops->close(r, ev.code, ev.data);
        break;
    case H8S_WS_EV_FAIL:
        fail_local(r, ev.code, ev.reason);
        break;
    default:
        break;
    }
    if (!r->released) {
        send_credit(r);
        arm(r);
    }
}

size_t h8s_ws_relay_local_message(struct h8s_ws_relay *r, unsigned opcode, struct span data,
                                  int fin)
{
    enum h8s_ws_kind kind = opcode == WS_OP_TEXT ? H8S_WS_TEXT : H8S_WS_BINARY;
    const struct nats_info *info = nats_client_server_info(r->nc);
    size_t limit = r->cfg.chunk_max, off = 0;
    uint8_t hb[H8S_WS_HDR_MAX];
    struct span out;

    if (r->released || r->t.state != H8S_WS_ST_OPEN || r->t.fail_code || r->t.close_sent)
        return data.n; /* the connection is ending with a code already */
    if (info && info->max_payload > HDR_ROOM && limit > info->max_payload - HDR_ROOM)
        limit = (size_t)(info->max_payload - HDR_ROOM);
    do {
        uint64_t room = h8s_ws_tunnel_send_room(&r->t);
        size_t k = data.n - off;
        struct h8s_ws_tunnel saved = r->t;
        int last, rc;

        if (k > limit)
            k = limit;
        if (k > room)
            k = (size_t)room;
        if ((k == 0 && off < data.n) || !h8s_ws_tunnel_can_send(&r->t, k)) {
            r->blocked = 1; /* out of credit: ops->resume when it comes */
            break;
        }
        last = fin && off + k == data.n;
        if (h8s_ws_tunnel_send_data(&r->t, kind, k, last, loop_now_ms(r->loop), hb, sizeof(hb),
                                    &out) != 0)
            return data.n; /* unreachable: checked above */
        rc = publish(r, out, span_make(k ? data.p + off : NULL, k));
        if (rc == NATS_E_AGAIN || rc == NATS_E_BUFFER_FULL) {
            /* Not sent: as if never asked. nats drained resumes it. */
            r->t = saved;
            r->blocked = 1;
            break;
        }
        if (rc != 0) {
            r->t = saved;
            h8s_ws_tunnel_fail(&r->t, WS_CLOSE_INTERNAL, "tunnel publish failed");
            fail_local(r, WS_CLOSE_INTERNAL, "tunnel publish failed");
            return data.n;
        }
        off += k;
    } while (off < data.n);
    arm(r);
    return r->blocked && off == 0 ? H8S_WS_RELAY_WAIT : off;
}

void h8s_ws_relay_local_close(struct h8s_ws_relay *r, unsigned code, struct span reason)
{
    if (r->released || r->t.state != H8S_WS_ST_OPEN)
        return;
    if (!r->t.close_rcvd) {
        /* The local peer starts the closing handshake: keep its code to
         * answer it ourselves should the other hop stay silent. */
        r->local_first = 1;
        r->local_code = (uint16_t)code;
        r->local_reason_len =
            (uint8_t)(reason.n < sizeof(r->local_reason) ? reason.n : sizeof(r->local_reason));
        if (r->local_reason_len)
            memcpy(r->local_reason, reason.p, r->local_reason_len);
    }
    send_close(r, code, reason);
    arm(r);
}

void h8s_ws_relay_local_drained(struct h8s_ws_relay *r)
{
    if (r->released)
        return;
    send_credit(r);
    arm(r);
}

void h8s_ws_relay_release(struct h8s_ws_relay *r, unsigned code, const char *reason)
{
    if (r->released)
        return;
    if (r->t.state == H8S_WS_ST_OPEN && !r->t.close_sent)
        send_close(r, code, span_cstr(reason));
    loop_timer_stop(r->loop, &r->timer);
    registry_remove(r->set, r);
    r->released = 1;
}

void h8s_ws_relay_nats_drained(struct h8s_ws_relay *r)
{
    if (r->released || !r->blocked)
        return;
    r->blocked = 0;
    r->ops->resume(r);
}

/* ------------------------------------------------------------ registry */

static size_t hash_id(struct span id)
{
    uint64_t h = UINT64_C(1469598103934665603);
    for (size_t i = 0; i < id.n; i++)
        h = (h ^ id.p[i]) * UINT64_C(1099511628211);
    return (size_t)(h ^ (h >> 29));
}

void h8s_ws_relays_init(struct h8s_ws_relays *set, struct h8s_ws_relay **buckets, size_t nbuckets,
                        struct nats_client *nc)
{
    memset(buckets, 0, nbuckets * sizeof(*buckets));
    set->buckets = buckets;
    set->mask = nbuckets - 1;
    set->count = 0;
    set->nc = nc;
}

static void registry_add(struct h8s_ws_relays *set, struct h8s_ws_relay *r)
{
    size_t b = hash_id(span_make(r->id, r->id_len)) & set->mask;
    r->next = set->buckets[b];
    set->buckets[b] = r;
    set->count++;
}

static void registry_remove(struct h8s_ws_relays *set, struct h8s_ws_relay *r)
{
    struct h8s_ws_relay **pp = &set->buckets[hash_id(span_make(r->id, r->id_len)) & set->mask];

    for (; *pp; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            set->count--;
            return;
        }
    }
}

struct h8s_ws_relay *h8s_ws_relays_find(const struct h8s_ws_relays *set, struct span id)
{
    struct h8s_ws_relay *r = set->buckets[hash_id(id) & set->mask];

    for (; r; r = r->next)
        if (span_eq(span_make(r->id, r->id_len), id))
            return r;
    return NULL;
}

int h8s_ws_relays_dispatch(struct h8s_ws_relays *set, struct span id, const struct nats_msg *m)
{
    static const char reason[] = "unknown connection";
    struct h8s_ws_relay *r = h8s_ws_relays_find(set, id);
    uint8_t hb[H8S_WS_HDR_MAX];
    struct h8s_ws_msg msg;
    struct span out;

    if (r != NULL) {
        h8s_ws_relay_nats_msg(r, m);
        return 1;
    }
    if (h8s_ws_decode(&msg, m->hdr, m->payload) != 0 || msg.kind == H8S_WS_HTTP)
        return 0;
    switch (msg.kind) {
    case H8S_WS_ACCEPT:
    case H8S_WS_TEXT:
    case H8S_WS_BINARY:
    case H8S_WS_CREDIT:
        /* No reply subject on the abort: nothing answers an abort. */
        if (h8s_ws_subject_ok(m->reply) &&
            h8s_ws_encode_close(hb, sizeof(hb), &out, 0,
                                msg.kind == H8S_WS_ACCEPT ? WS_CLOSE_GOING_AWAY
                                                          : WS_CLOSE_INTERNAL) == 0)
            (void)nats_client_publish(set->nc, m->reply, span_make(NULL, 0), out, SPAN_LIT(reason));
        break;
    default:
        break; /* closes and no-responders are never answered */
    }
    return 1;
}

void h8s_ws_relays_shutdown(struct h8s_ws_relays *set)
{
    for (size_t b = 0; b <= set->mask; b++)
        while (set->buckets[b] != NULL)
            h8s_ws_relay_release(set->buckets[b], WS_CLOSE_GOING_AWAY, "shutting down");
}

void h8s_ws_relays_nats_drained(struct h8s_ws_relays *set)
{
    for (size_t b = 0; b <= set->mask; b++)
        for (struct h8s_ws_relay *r = set->buckets[b]; r; r = r->next)
            if (r->blocked)
                h8s_ws_relay_nats_drained(r);
}
