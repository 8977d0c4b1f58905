/*
 * proto/h8s_ws_tunnel.c — see h8s_ws_tunnel.h.
 */
#include "proto/h8s_ws_tunnel.h"

#include <string.h>

#include "proto/ws_frame.h"

void h8s_ws_config_defaults(struct h8s_ws_config *cfg)
{
    cfg->max_message = H8S_WS_DEFAULT_MAX_MESSAGE;
    cfg->window = H8S_WS_DEFAULT_WINDOW;
    cfg->heartbeat_ms = H8S_WS_DEFAULT_HEARTBEAT_MS;
    cfg->dead_ms = H8S_WS_DEFAULT_DEAD_MS;
    cfg->close_ms = H8S_WS_DEFAULT_CLOSE_MS;
}

void h8s_ws_tunnel_init(struct h8s_ws_tunnel *t, const struct h8s_ws_config *cfg, uint64_t now)
{
    memset(t, 0, sizeof(*t));
    if (cfg)
        t->cfg = *cfg;
    else
        h8s_ws_config_defaults(&t->cfg);
    if (t->cfg.window == 0)
        t->cfg.window = 1;
    if (t->cfg.window > H8S_WS_VALUE_MAX)
        t->cfg.window = H8S_WS_VALUE_MAX;
    t->tx_seq = 1;
    t->rx_seq = 1;
    t->rx_credit = t->cfg.window;
    t->last_tx_ms = now;
    t->last_rx_ms = now;
    t->state = H8S_WS_ST_OPENING;
    ws_utf8_init(&t->rx_utf8);
}

int h8s_ws_tunnel_start(struct h8s_ws_tunnel *t, uint64_t peer_credit, uint64_t now)
{
    if (t->state != H8S_WS_ST_OPENING)
        return -1;
    t->tx_credit = peer_credit > H8S_WS_VALUE_MAX ? H8S_WS_VALUE_MAX : peer_credit;
    t->state = H8S_WS_ST_OPEN;
    t->last_tx_ms = now;
    t->last_rx_ms = now;
    return 0;
}

uint64_t h8s_ws_tunnel_granted(const struct h8s_ws_tunnel *t)
{
    return t->rx_credit;
}

static enum h8s_ws_event_type fail(struct h8s_ws_tunnel *t, struct h8s_ws_event *ev, unsigned code,
                                   const char *reason)
{
    t->fail_code = (uint16_t)code;
    t->fail_reason = reason;
    /* Our close already went out: there is nothing left to send. */
    if (t->close_sent)
        t->state = H8S_WS_ST_CLOSED;
    ev->type = H8S_WS_EV_FAIL;
    ev->code = (uint16_t)code;
    ev->reason = reason;
    return ev->type;
}

static enum h8s_ws_event_type seq_fail(struct h8s_ws_tunnel *t, struct h8s_ws_event *ev,
                                       uint64_t seq)
{
    return fail(t, ev, WS_CLOSE_INTERNAL,
                seq > t->rx_seq ? "tunnel message lost (sequence gap)"
                                : "tunnel message repeated (sequence number reused)");
}

static enum h8s_ws_event_type recv_data(struct h8s_ws_tunnel *t, const struct h8s_ws_msg *m,
                                        struct h8s_ws_event *ev)
{
    size_t n = m->data.n;
    int first = t->rx_kind == 0;

    if (m->seq != t->rx_seq)
        return seq_fail(t, ev, m->seq);
    if (!first && m->kind != t->rx_kind)
        return fail(t, ev, WS_CLOSE_INTERNAL, "message type changed inside a message");
    /* rx_cost <= rx_credit always holds: the difference cannot wrap. */
    if (t->rx_credit - t->rx_cost < H8S_WS_MSG_COST ||
        n > t->rx_credit - t->rx_cost - H8S_WS_MSG_COST)
        return fail(t, ev, WS_CLOSE_POLICY, "tunnel data beyond the granted credit");
    if (first) {
        t->rx_msg_len = 0;
        ws_utf8_init(&t->rx_utf8);
    }
    if (t->rx_msg_len > t->cfg.max_message || n > t->cfg.max_message - t->rx_msg_len)
        return fail(t, ev, WS_CLOSE_TOO_BIG, "message exceeds the maximum size");
    if (m->kind == H8S_WS_TEXT) {
        int r = ws_utf8_feed(&t->rx_utf8, m->data.p, n);
        if (r == WS_UTF8_INVALID)
            return fail(t, ev, WS_CLOSE_INVALID_DATA, "invalid UTF-8 in text message");
        if (!m->more && r != WS_UTF8_OK)
            return fail(t, ev, WS_CLOSE_INVALID_DATA, "text message ends inside a UTF-8 sequence");
    }
    t->rx_seq++;
    t->rx_bytes += n;
    t->rx_cost += n + H8S_WS_MSG_COST;
    t->rx_msg_len += n;
    t->rx_kind = m->more ? (uint8_t)m->kind : 0;
    if (!m->more)
        t->rx_msgs++;
    ev->type = H8S_WS_EV_DATA;
    ev->kind = m->kind;
    ev->first = (uint8_t)first;
    ev->fin = !m->more;
    ev->data = m->data;
    return ev->type;
}

enum h8s_ws_event_type h8s_ws_tunnel_recv(struct h8s_ws_tunnel *t, const struct h8s_ws_msg *m,
                                          uint64_t now, struct h8s_ws_event *ev)
{
    memset(ev, 0, sizeof(*ev));
    if (t->state == H8S_WS_ST_CLOSED || t->fail_code)
        return H8S_WS_EV_NONE;
    if (m->kind != H8S_WS_NO_RESPONDERS)
        t->last_rx_ms = now;
    if (t->state == H8S_WS_ST_OPENING) {
        ev->kind = m->kind;
        if (m->kind != H8S_WS_ACCEPT) {
            t->state = H8S_WS_ST_CLOSED;
            ev->type = H8S_WS_EV_REFUSED;
            return ev->type;
        }
        t->tx_credit = m->credit;
        t->state = H8S_WS_ST_OPEN;
        t->last_tx_ms = now;
        ev->type = H8S_WS_EV_ACCEPTED;
        return ev->type;
    }
    switch (m->kind) {
    case H8S_WS_CREDIT:
        if (m->credit <= t->tx_credit)
            return H8S_WS_EV_NONE;
        t->tx_credit = m->credit;
        ev->type = H8S_WS_EV_CREDIT;
        return ev->type;
    case H8S_WS_TEXT:
    case H8S_WS_BINARY:
        if (t->close_rcvd)
            return H8S_WS_EV_NONE;
        return recv_data(t, m, ev);
    case H8S_WS_CLOSE:
        if (t->close_rcvd)
            return H8S_WS_EV_NONE;
        if (m->seq == 0)
            return fail(t, ev, m->close_code, "the other hop dropped the connection");
        if (m->seq != t->rx_seq)
            return seq_fail(t, ev, m->seq);
        t->rx_seq++;
        t->rx_kind = 0;
        t->close_rcvd = 1;
        if (t->close_sent)
            t->state = H8S_WS_ST_CLOSED;
        ev->type = H8S_WS_EV_CLOSE;
        ev->code = m->close_code;
        ev->data = m->data;
        return ev->type;
    case H8S_WS_NO_RESPONDERS:
        return fail(t, ev, WS_CLOSE_INTERNAL, "the other hop is gone (no responders)");
    default:
        return fail(t, ev, WS_CLOSE_INTERNAL, "unexpected message in an open tunnel");
    }
}

static int can_send(const struct h8s_ws_tunnel *t)
{
    return t->state == H8S_WS_ST_OPEN && !t->fail_code && !t->close_sent;
}

uint64_t h8s_ws_tunnel_send_room(const struct h8s_ws_tunnel *t)
{
    if (!can_send(t) || t->tx_credit < t->tx_cost + H8S_WS_MSG_COST)
        return 0;
    return t->tx_credit - t->tx_cost - H8S_WS_MSG_COST;
}

int h8s_ws_tunnel_can_send(const struct h8s_ws_tunnel *t, size_t n)
{
    return can_send(t) && t->tx_credit >= t->tx_cost + H8S_WS_MSG_COST &&
           n <= t->tx_credit - t->tx_cost - H8S_WS_MSG_COST;
}

int h8s_ws_tunnel_send_data(struct h8s_ws_tunnel *t, enum h8s_ws_kind kind, size_t n, int fin,
                            uint64_t now, uint8_t *hdr, size_t cap, struct span *out)
{
    int rc;

    if (kind != H8S_WS_TEXT && kind != H8S_WS_BINARY)
        return H8S_WS_E_ARG;
    if (!can_send(t) || (t->tx_kind && t->tx_kind != kind))
        return H8S_WS_E_STATE;
    if (!h8s_ws_tunnel_can_send(t, n))
        return H8S_WS_E_CREDIT;
    if ((rc = h8s_ws_encode_data(hdr, cap, out, kind, t->tx_seq, !fin)) != 0)
        return rc;
    t->tx_seq++;
    t->tx_bytes += n;
    t->tx_cost += n + H8S_WS_MSG_COST;
    if (!t->tx_kind)
        t->tx_msg_len = 0;
    t->tx_msg_len += n;
    t->tx_kind = fin ? 0 : (uint8_t)kind;
    if (fin)
        t->tx_msgs++;
    t->last_tx_ms = now;
    return 0;
}

int h8s_ws_tunnel_send_close(struct h8s_ws_tunnel *t, unsigned code, struct span reason,
                             uint64_t now, uint8_t *hdr, size_t cap, struct span *out)
{
    int rc;

    if (t->state != H8S_WS_ST_OPEN || t->close_sent)
        return H8S_WS_E_STATE;
    if (code == 0 ? reason.n != 0
                  : reason.n > WS_FRAME_CLOSE_REASON_MAX || !ws_utf8_valid(reason.p, reason.n))
        return H8S_WS_E_ARG;
    if ((rc = h8s_ws_encode_close(hdr, cap, out, t->tx_seq, code)) != 0)
        return rc;
    t->tx_seq++;
    t->tx_kind = 0;
    t->close_sent = 1;
    t->last_tx_ms = now;
    if (t->close_rcvd || t->fail_code)
        t->state = H8S_WS_ST_CLOSED;
    else
        t->close_at_ms = now + t->cfg.close_ms;
    return 0;
}

int h8s_ws_tunnel_credit(struct h8s_ws_tunnel *t, int congested, int force, uint64_t now,
                         uint8_t *hdr, size_t cap, struct span *out)
{
    uint64_t w = t->cfg.window, grant = t->rx_credit;
    int rc;

    if (t->state != H8S_WS_ST_OPEN || t->fail_code)
        return 0;
    if (!congested) {
        /* rx_cost <= rx_credit <= H8S_WS_VALUE_MAX and w <= H8S_WS_VALUE_MAX:
         * the sum fits in 64 bits. */
        grant = t->rx_cost + w;
        if (grant > H8S_WS_VALUE_MAX)
            grant = H8S_WS_VALUE_MAX;
        if (grant < t->rx_credit)
            grant = t->rx_credit;
    }
    if (!force && grant - t->rx_credit < (w + 1) / 2 &&
        (now < t->last_tx_ms || now - t->last_tx_ms < t->cfg.heartbeat_ms))
        return 0;
    if ((rc = h8s_ws_encode_credit(hdr, cap, out, grant)) != 0)
        return rc;
    t->rx_credit = grant;
    t->last_tx_ms = now;
    return 1;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

uint64_t h8s_ws_tunnel_deadline(const struct h8s_ws_tunnel *t)
{
    uint64_t d, hb;

    if (t->state != H8S_WS_ST_OPEN || t->fail_code)
        return UINT64_MAX;
    d = add_sat(t->last_rx_ms, t->cfg.dead_ms);
    hb = add_sat(t->last_tx_ms, t->cfg.heartbeat_ms);
    if (hb < d)
        d = hb;
    if (t->close_sent && t->close_at_ms < d)
        d = t->close_at_ms;
    return d;
}

int h8s_ws_tunnel_tick(struct h8s_ws_tunnel *t, uint64_t now)
{
    int silent = now >= t->last_rx_ms && now - t->last_rx_ms >= t->cfg.dead_ms;

    if (t->state != H8S_WS_ST_OPEN)
        return H8S_WS_TICK_NONE;
    if (t->close_sent) {
        if (now < t->close_at_ms && !silent)
            return H8S_WS_TICK_NONE;
        t->state = H8S_WS_ST_CLOSED;
        return H8S_WS_TICK_CLOSED;
    }
    if (!t->fail_code && silent) {
        t->fail_code = WS_CLOSE_INTERNAL;
        t->fail_reason = "the other hop is silent";
        return H8S_WS_TICK_DEAD;
    }
    return H8S_WS_TICK_NONE;
}

void h8s_ws_tunnel_fail(struct h8s_ws_tunnel *t, unsigned code, const char *reason)
{
    if (t->state == H8S_WS_ST_CLOSED || t->fail_code)
        return;
    if (t->state == H8S_WS_ST_OPENING) {
        /* Nobody to tell yet: the gateway learns the agent's subject only
         * from the accept, which §7.6 then answers with a close. */
        t->state = H8S_WS_ST_CLOSED;
    }
    if (t->close_sent)
        t->state = H8S_WS_ST_CLOSED;
    t->fail_code = (uint16_t)code;
    t->fail_reason = reason;
}

int h8s_ws_tunnel_done(const struct h8s_ws_tunnel *t)
{
    return t->state == H8S_WS_ST_CLOSED;
}
