/*
 * proto/ws_conn.c — see ws_conn.h.
 */
#include "proto/ws_conn.h"

#include <errno.h>
#include <string.h>

int ws_conn_init(struct ws_conn *c, const struct ws_conn_config *cfg, uint64_t now)
{
    if (cfg == NULL || cfg->stage == NULL || cfg->stage_cap == 0 || cfg->sink == NULL ||
        cfg->sink->reserve == NULL || cfg->sink->commit == NULL ||
        cfg->frame_max < WS_CONN_FRAME_MIN || (cfg->backlog_cap && cfg->backlog == NULL) ||
        (cfg->role == WS_FRAME_CLIENT && cfg->rand == NULL))
        return -EINVAL;
    memset(c, 0, sizeof(*c));
    c->cfg = *cfg;
    ws_frame_parser_init(&c->parser, cfg->role, cfg->max_message);
    c->last_rx_ms = now;
    return 0;
}

/* Writes one whole frame through the sink. Nothing is written on failure. */
static int put_frame(struct ws_conn *c, unsigned op, int fin, const uint8_t *p, size_t n)
{
    int masked = c->cfg.role == WS_FRAME_CLIENT;
    uint8_t key[4], *o;
    size_t hl;
    int rc;

    hl = 2 + (n < 126 ? 0 : n <= 0xFFFF ? 2 : 8) + (masked ? 4 : 0);
    if (masked && (rc = rand_bytes(c->cfg.rand, key, sizeof(key))) != 0)
        return rc;
    o = c->cfg.sink->reserve(c->cfg.sink_cookie, hl + n);
    if (o == NULL)
        return -ENOBUFS;
    if (ws_frame_header_encode(o, op, fin, n, masked ? key : NULL) != hl)
        return -EINVAL; /* unreachable: callers pass valid frames */
    if (masked)
        ws_frame_mask(o + hl, p, n, key, 0);
    else if (n)
        memcpy(o + hl, p, n);
    c->cfg.sink->commit(c->cfg.sink_cookie, hl + n);
    return 0;
}

int ws_conn_flush(struct ws_conn *c)
{
    int rc;

    if (!c->pong_due || c->close_sent || c->failed)
        return 0;
    if ((rc = put_frame(c, WS_OP_PONG, 1, c->pong, c->pong_len)) != 0)
        return rc;
    c->pong_due = 0;
    return 0;
}

int ws_conn_send(struct ws_conn *c, unsigned opcode, const uint8_t *p, size_t n, int fin)
{
    size_t max_payload = c->cfg.frame_max - WS_FRAME_HEADER_MAX;
    unsigned op;
    int rc;

    if (c->failed || c->close_sent)
        return -EPIPE;
    if ((opcode != WS_OP_TEXT && opcode != WS_OP_BINARY) || (c->tx_op && c->tx_op != opcode))
        return -EINVAL;
    /* An empty piece in the middle of a message carries nothing: no frame. */
    if (n == 0 && !fin)
        return 0;
    op = c->tx_op ? WS_OP_CONT : opcode;
    do {
        size_t k = n < max_payload ? n : max_payload;
        if ((rc = put_frame(c, op, fin && k == n, p, k)) != 0) {
            /* Part of a message may be out: the stream cannot go on. */
            c->failed = 1;
            return rc;
        }
        op = WS_OP_CONT;
        if (k == 0)
            break; /* an empty message: one empty frame (p may be NULL) */
        p += k;
        n -= k;
    } while (n);
    c->tx_op = fin ? 0 : (uint8_t)opcode;
    return 0;
}

int ws_conn_close(struct ws_conn *c, unsigned code, struct span reason, uint64_t now)
{
    uint8_t pl[WS_FRAME_CONTROL_MAX];
    int len, rc;

    if (c->failed || c->close_sent)
        return -EPIPE;
    len = ws_frame_close_payload(pl, code, reason.p, reason.n);
    if (len < 0)
        return -EINVAL;
    if ((rc = put_frame(c, WS_OP_CLOSE, 1, pl, (size_t)len)) != 0)
        return rc;
    c->close_sent = 1;
    c->close_at_ms = now + c->cfg.close_ms;
    c->pong_due = 0;
    return 0;
}

void ws_conn_take(struct ws_conn *c, size_t k)
{
    if (!c->ready)
        return;
    if (k > c->stage_len - c->stage_off)
        k = c->stage_len - c->stage_off;
    c->stage_off += k;
    if (k)
        c->msg_open = 1;
    if (c->stage_off < c->stage_len)
        return;
    c->ready = 0;
    if (c->stage_fin)
        c->msg_open = 0;
    c->stage_fin = 0;
    c->stage_len = 0;
    c->stage_off = 0;
}

int ws_conn_hold(struct ws_conn *c, const uint8_t *in, size_t n)
{
    if (n == 0)
        return 0;
    if (c->backlog_off) {
        memmove(c->cfg.backlog, c->cfg.backlog + c->backlog_off, c->backlog_len - c->backlog_off);
        c->backlog_len -= c->backlog_off;
        c->backlog_off = 0;
    }
    if (n > c->cfg.backlog_cap - c->backlog_len)
        return -ENOBUFS;
    memcpy(c->cfg.backlog + c->backlog_len, in, n);
    c->backlog_len += n;
    return 0;
}

int ws_conn_blocked(const struct ws_conn *c)
{
    return c->ready || c->close_due || c->backlog_off < c->backlog_len;
}

static void stage_ready(struct ws_conn *c, int fin)
{
    c->ready = 1;
    c->stage_fin = (uint8_t)fin;
}

static void message_event(const struct ws_conn *c, struct ws_conn_event *ev)
{
    ev->type = WS_CONN_EV_MESSAGE;
    ev->opcode = c->stage_op;
    ev->first = !c->msg_open;
    ev->fin = c->stage_fin;
    ev->data = span_make(c->cfg.stage + c->stage_off, c->stage_len - c->stage_off);
}

static void close_event(const struct ws_conn *c, struct ws_conn_event *ev)
{
    ev->type = WS_CONN_EV_CLOSE;
    ev->code = c->rcvd_code;
    ev->data = span_make(c->rcvd_reason, c->rcvd_reason_len);
}

size_t ws_conn_feed(struct ws_conn *c, const uint8_t *in, size_t n, uint64_t now,
                    struct ws_conn_event *ev)
{
    static const uint8_t nothing[1];
    size_t used = 0;

    memset(ev, 0, sizeof(*ev));
    if (in == NULL) /* so that no pointer arithmetic ever starts from NULL */
        in = nothing, n = 0;
    if (n) {
        /* Any byte is a sign of life, whether parsed now or parked. */
        c->last_rx_ms = now;
        c->ping_out = 0;
    }
    for (;;) {
        struct ws_frame_event fev;
        const uint8_t *src;
        size_t srclen, k;
        int from_backlog;

        if (c->ready) {
            message_event(c, ev);
            return used;
        }
        if (c->close_due) {
            c->close_due = 0;
            close_event(c, ev);
            return used;
        }
        if (c->close_rcvd || c->failed) {
            /* The stream is over (RFC 6455 §5.5.1): later bytes mean nothing. */
            c->backlog_len = c->backlog_off = 0;
            return n;
        }
        from_backlog = c->backlog_off < c->backlog_len;
        src = from_backlog ? c->cfg.backlog + c->backlog_off : in + used;
        srclen = from_backlog ? c->backlog_len - c->backlog_off : n - used;
        /* Called with nothing left too: the parser may still have an event
         * (the end of a message whose last frame just ended). */
        k = ws_frame_parser_feed_copy(&c->parser, src, srclen, c->cfg.stage + c->stage_len,
                                      c->cfg.stage_cap - c->stage_len, &fev);
        if (from_backlog) {
            c->backlog_off += k;
            if (c->backlog_off == c->backlog_len)
                c->backlog_off = c->backlog_len = 0;
        } else {
            used += k;
        }
        switch (fev.type) {
        case WS_EV_NONE:
            /* Short of the input only when the stage is full. A full stage
             * is handed over only now, so that a message ending exactly
             * there goes with fin set. */
            if (c->stage_len == c->cfg.stage_cap) {
                stage_ready(c, 0);
                break;
            }
            if (from_backlog)
                break; /* the backlog is used up: on with in */
            if (c->stage_len > 0) {
                stage_ready(c, 0); /* forward what this read brought */
                break;
            }
            return used;
        case WS_EV_FRAME:
            if (fev.first)
                c->stage_op = fev.opcode;
            break;
        case WS_EV_DATA:
            c->stage_len += fev.data.n;
            break;
        case WS_EV_MESSAGE_END:
            stage_ready(c, 1);
            break;
        case WS_EV_PING:
            if (!c->close_sent) {
                memcpy(c->pong, fev.data.p, fev.data.n);
                c->pong_len = (uint8_t)fev.data.n;
                c->pong_due = 1;
                (void)ws_conn_flush(c); /* a refused pong waits for ws_conn_flush */
            }
            break;
        case WS_EV_PONG:
            break;
        case WS_EV_CLOSE:
            c->close_rcvd = 1;
            c->rcvd_code = fev.code;
            c->rcvd_reason_len = (uint8_t)fev.data.n;
            memcpy(c->rcvd_reason, fev.data.p, fev.data.n);
            if (c->stage_len > 0) {
                /* Deliver what came before the Close first. */
                stage_ready(c, 0);
                c->close_due = 1;
                break;
            }
            close_event(c, ev);
            return used;
        case WS_EV_ERROR:
        default:
            c->failed = 1;
            c->ready = 0;
            c->stage_len = c->stage_off = 0;
            c->backlog_len = c->backlog_off = 0;
            if (!c->close_sent) {
                uint8_t pl[WS_FRAME_CONTROL_MAX];
                /* The parser's reasons are short ASCII, its codes valid. */
                int len = ws_frame_close_payload(pl, fev.code, fev.data.p, fev.data.n);
                if (len >= 0 && put_frame(c, WS_OP_CLOSE, 1, pl, (size_t)len) == 0) {
                    c->close_sent = 1;
                    c->close_at_ms = now + c->cfg.close_ms;
                }
            }
            ev->type = WS_CONN_EV_ERROR;
            ev->code = fev.code;
            ev->data = fev.data;
            return n;
        }
    }
}

uint64_t ws_conn_deadline(const struct ws_conn *c)
{
    uint64_t d = UINT64_MAX;
    unsigned iv = c->cfg.ping_interval_ms;

    if (c->close_sent && !c->close_rcvd)
        d = c->close_at_ms;
    if (iv && !c->close_sent && !c->close_rcvd && !c->failed) {
        uint64_t k = c->ping_out ? c->ping_at_ms + iv : c->last_rx_ms + iv;
        if (k < d)
            d = k;
    }
    return d;
}

int ws_conn_tick(struct ws_conn *c, uint64_t now)
{
    unsigned iv = c->cfg.ping_interval_ms;

    if (c->close_sent && !c->close_rcvd)
        return now >= c->close_at_ms ? WS_CONN_TICK_CLOSED : WS_CONN_TICK_NONE;
    if (!iv || c->close_sent || c->close_rcvd || c->failed)
        return WS_CONN_TICK_NONE;
    if (c->ping_out)
        return now >= c->ping_at_ms + iv ? WS_CONN_TICK_DEAD : WS_CONN_TICK_NONE;
    if (now < c->last_rx_ms + iv)
        return WS_CONN_TICK_NONE;
    /* A ping the output refuses counts as sent: a peer that neither reads
     * nor writes for another interval is gone either way. */
    (void)put_frame(c, WS_OP_PING, 1, NULL, 0);
    c->ping_out = 1;
    c->ping_at_ms = now;
    return WS_CONN_TICK_PING;
}

int ws_conn_closed(const struct ws_conn *c)
{
    return c->close_sent && c->close_rcvd;
}

int ws_conn_close_sent(const struct ws_conn *c)
{
    return c->close_sent;
}

int ws_conn_close_rcvd(const struct ws_conn *c)
{
    return c->close_rcvd;
}

int ws_conn_failed(const struct ws_conn *c)
{
    return c->failed;
}
