/*
 * gateway/gw_conn.c — one client connection: bytes in, the request parser,
 * the header and idle timers, and input back-pressure.
 *
 * Input the connection cannot take yet (the next pipelined request while an
 * exchange runs, request body beyond the agent's credit) goes to a small
 * stash and the socket is paused, so the kernel's buffer and TCP hold the
 * rest: one receive buffer per connection at most, whatever the client
 * sends.
 */
#include "gw_internal.h"

#include "core/log.h"
#include "core/units.h"
#include "proto/h8s_wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

static int on_req_head(void *cookie, const struct http_req *req)
{
    struct gw_conn *c = cookie;
    c->timer_mode = GW_TIMER_NONE; /* the timer, if armed, fires idle */
    return gw_xchg_on_head(c, req);
}

static int on_req_body(void *cookie, const uint8_t *p, size_t n)
{
    return gw_xchg_on_body(cookie, p, n);
}

static const struct http_req_ops req_ops = {on_req_head, on_req_body};

void gw_conn_timer_at(struct gw_conn *c, struct loop_timer *t, uint64_t deadline_ms)
{
    struct loop *l = c->w->l;
    uint64_t now = loop_now_ms(l);
    if (loop_timer_armed(t) && t->deadline_ms <= deadline_ms)
        return; /* fires first, then re-arms for the rest */
    loop_timer_start(l, t, deadline_ms > now ? deadline_ms - now : 0);
}

/* 1 when the timer fired before its deadline and was re-armed. */
static int early(struct gw_conn *c, struct loop_timer *t, uint64_t deadline_ms)
{
    uint64_t now = loop_now_ms(c->w->l);
    if (now >= deadline_ms)
        return 0;
    loop_timer_start(c->w->l, t, deadline_ms - now);
    return 1;
}

static void arm_conn_timer(struct gw_conn *c, enum gw_timer_mode mode)
{
    const struct gw_config *cfg = c->w->cfg;
    int64_t ns = mode == GW_TIMER_IDLE ? cfg->idle_timeout_ns : cfg->header_timeout_ns;
    c->timer_mode = mode;
    c->conn_deadline = loop_now_ms(c->w->l) + (uint64_t)(ns / UNITS_MS);
    gw_conn_timer_at(c, &c->conn_timer, c->conn_deadline);
}

static void on_conn_timer(struct loop *l, struct loop_timer *t)
{
    struct gw_conn *c = LOOP_CONTAINER_OF(t, struct gw_conn, conn_timer);
    (void)l;
    if (c->closing || c->x.active || c->timer_mode == GW_TIMER_NONE)
        return;
    if (early(c, t, c->conn_deadline))
        return;
    enum gw_timer_mode mode = c->timer_mode;
    c->timer_mode = GW_TIMER_NONE;
    if (mode == GW_TIMER_IDLE || http_req_idle(&c->parser)) {
        /* Nothing was sent recently: nothing for a plain close to lose. */
        gw_conn_close(c, false);
        return;
    }
    /* Part of a head arrived, not all of it in time. */
    log_emit(LOG_INFO, "header_timeout", LOG_UINT("worker", c->w->id),
             LOG_STRN("peer", c->peer, c->peer_len));
    atomic_fetch_add(&c->w->gw->stats.rejected, 1);
    c->x.close = true;
    gw_resp_simple(c, 408, "request head not complete in time");
    gw_conn_close(c, true);
}

static void on_x_timer(struct loop *l, struct loop_timer *t)
{
    struct gw_conn *c = LOOP_CONTAINER_OF(t, struct gw_conn, x_timer);
    (void)l;
    if (c->closing || !c->x.active || early(c, t, c->x_deadline))
        return;
    gw_xchg_timeout(c);
}

bool gw_conn_can_read(const struct gw_conn *c)
{
    if (c->closing || c->wait_drain)
        return false;
    if (c->x.active && c->x.req_done)
        return false; /* the next request waits for this response */
    return true;
}

static void pause_input(struct gw_conn *c)
{
    if (!c->paused) {
        c->paused = true;
        loop_conn_pause(c->lc);
    }
}

static void parse_error(struct gw_conn *c)
{
    int status = http_req_status(&c->parser);
    const char *reason = http_req_reason(&c->parser);
    log_emit(LOG_INFO, "bad_request", LOG_UINT("worker", c->w->id), LOG_INT("status", status),
             LOG_STR("reason", reason), LOG_STRN("peer", c->peer, c->peer_len));
    atomic_fetch_add(&c->w->gw->stats.rejected, 1);
    if (c->x.active) {
        /* Mid-body (413 on a chunked body, a bad chunk): the responder,
         * if it already has the request, learns it will get no more. */
        gw_xchg_abort(c, H8S_REASON_PROTOCOL, status);
        gw_conn_close(c, true);
        return;
    }
    /* After an error the byte stream's framing is lost: answer and close. */
    c->x.close = true;
    gw_resp_simple(c, status, reason);
    gw_conn_close(c, true);
}

/*
 * Feeds input to the parser while the connection can take it. Returns the
 * bytes consumed; the caller keeps the rest (in the stash).
 */
static size_t process(struct gw_conn *c, const uint8_t *p, size_t n)
{
    size_t done = 0;
    c->in_process = true;
    while (done < n && gw_conn_can_read(c)) {
        if (c->timer_mode == GW_TIMER_IDLE && http_req_idle(&c->parser))
            arm_conn_timer(c, GW_TIMER_HEADER); /* first byte of the next request */
        size_t allow = n - done;
        if (c->x.active && c->x.body == GW_BODY_STREAM) {
            /* Body bytes never outnumber the raw bytes that carry them. */
            size_t room = gw_body_room(c);
            if (room == 0)
                break;
            if (allow > room)
                allow = room;
        }
        size_t used = 0;
        int rc = http_req_feed(&c->parser, p + done, allow, &used);
        done += used;
        if (c->closing)
            break;
        if (rc == HTTP_REQ_DONE) {
            gw_xchg_req_done(c);
            continue;
        }
        if (rc == HTTP_REQ_ERROR) {
            parse_error(c);
            break;
        }
        if (rc == HTTP_REQ_ABORTED) {
            /* on_head answered and asked to stop reading: close after it. */
            if (!c->closing)
                gw_conn_close(c, true);
            break;
        }
    }
    c->in_process = false;
    return done;
}

static int stash_add(struct gw_conn *c, const uint8_t *p, size_t n)
{
    if (c->stash_off > 0 && c->stash_off == c->stash_len)
        c->stash_off = c->stash_len = 0;
    if (n > c->stash_cap - c->stash_len) {
        if (c->stash_off > 0) {
            memmove(c->stash, c->stash + c->stash_off, c->stash_len - c->stash_off);
            c->stash_len -= c->stash_off;
            c->stash_off = 0;
        }
        if (n > c->stash_cap - c->stash_len)
            return -ENOBUFS;
    }
    memcpy(c->stash + c->stash_len, p, n);
    c->stash_len += n;
    return 0;
}

static void handle_eof(struct gw_conn *c)
{
    if (c->x.active) {
        /* As Go's server does: a client that closes its side during an
         * exchange is gone, and the responder should stop. */
        gw_xchg_client_gone(c);
        gw_conn_close(c, false);
        return;
    }
    if (http_req_finish(&c->parser) < 0) {
        /* Part of a request and then EOF: nobody to answer. */
        gw_conn_close(c, false);
        return;
    }
    gw_conn_close(c, true);
}

void gw_conn_unblock(struct gw_conn *c)
{
    if (c->in_process || c->closing)
        return;
    if (c->stash_len > c->stash_off) {
        size_t used = process(c, c->stash + c->stash_off, c->stash_len - c->stash_off);
        if (c->closing)
            return;
        c->stash_off += used;
        if (c->stash_off < c->stash_len)
            return; /* still blocked: stay paused */
        c->stash_off = c->stash_len = 0;
    }
    if (c->eof) {
        handle_eof(c);
        return;
    }
    if (c->paused && gw_conn_can_read(c)) {
        c->paused = false;
        loop_conn_resume(c->lc);
    }
}

static int on_data(struct loop_conn *lc, const uint8_t *p, size_t n)
{
    struct gw_conn *c = loop_conn_cookie(lc);
    if (c->closing)
        return 0;
    if (n == 0) {
        c->eof = true;
        if (c->stash_len == c->stash_off && gw_conn_can_read(c))
            handle_eof(c);
        else if (c->x.active)
            handle_eof(c); /* waiting on a response: the client left */
        return 0;
    }
    size_t used = 0;
    if (c->stash_len == c->stash_off)
        used = process(c, p, n);
    if (used < n && !c->closing) {
        if (stash_add(c, p + used, n - used) < 0) {
            log_emit(LOG_WARN, "input_overrun", LOG_UINT("worker", c->w->id));
            gw_conn_close(c, false);
            return 0;
        }
        pause_input(c);
    }
    return 0;
}

static void on_drain(struct loop_conn *lc)
{
    struct gw_conn *c = loop_conn_cookie(lc);
    if (c->closing)
        return;
    if (c->wait_drain) {
        c->wait_drain = false;
        gw_conn_unblock(c);
        return;
    }
    if (c->x.active)
        gw_xchg_client_drained(c);
}

static void on_close(struct loop_conn *lc, int err)
{
    struct gw_conn *c = loop_conn_cookie(lc);
    struct gw_worker *w = c->w;
    (void)err;
    if (c->x.active)
        gw_xchg_client_gone(c);
    loop_timer_stop(w->l, &c->conn_timer);
    loop_timer_stop(w->l, &c->x_timer);
    gw_body_free(c);
    gw_xchg_reset(c);
    gw_worker_slot_put(w, c);
    gw_worker_conn_gone(w);
}

static const struct loop_conn_ops conn_ops = {
    .on_data = on_data,
    .on_drain = on_drain,
    .on_close = on_close,
};

static void peer_text(struct gw_conn *c)
{
    socklen_t len;
    const struct sockaddr *sa = loop_conn_peer(c->lc, &len);
    const void *addr = NULL;
    if (sa && sa->sa_family == AF_INET)
        addr = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
    else if (sa && sa->sa_family == AF_INET6)
        addr = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
    c->peer_len = 0;
    if (addr && inet_ntop(sa->sa_family, addr, c->peer, sizeof(c->peer)))
        c->peer_len = strlen(c->peer);
}

void gw_conn_accept(struct gw_worker *w, struct loop_conn *lc)
{
    struct gw_conn *c = gw_worker_slot_get(w);
    if (!c) {
        log_emit(LOG_WARN, "connection_refused", LOG_UINT("worker", w->id),
                 LOG_STR("reason", "no free slot"));
        return; /* left without ops: the loop closes it */
    }
    const struct gw_config *cfg = w->cfg;
    struct http_req_config pc = {
        .max_head = (size_t)cfg->max_header,
        .max_fields = HTTP_REQ_DEFAULT_MAX_FIELDS,
        .max_body = cfg->max_body,
    };
    c->lc = lc;
    c->closing = c->paused = c->eof = c->in_process = c->wait_drain = false;
    c->stash_off = c->stash_len = 0;
    loop_timer_init(&c->conn_timer, on_conn_timer);
    loop_timer_init(&c->x_timer, on_x_timer);
    c->timer_mode = GW_TIMER_NONE;
    memset(&c->x, 0, sizeof(c->x));
    http_req_init(&c->parser, &pc, c->head_buf, (size_t)cfg->max_header, &req_ops, c);
    loop_conn_set(lc, &conn_ops, c);
    loop_conn_set_out_limit(lc, w->out_limit);
    peer_text(c);
    w->nconns++;
    arm_conn_timer(c, GW_TIMER_HEADER);
}

void gw_conn_close(struct gw_conn *c, bool flush)
{
    if (c->closing)
        return;
    c->closing = true;
    loop_timer_stop(c->w->l, &c->conn_timer);
    c->timer_mode = GW_TIMER_NONE;
    loop_conn_close(c->lc, flush ? LOOP_CLOSE_FLUSH : LOOP_CLOSE_ABORT, flush ? 5000 : 0);
}

void gw_conn_xchg_finished(struct gw_conn *c, bool close)
{
    if (c->closing)
        return;
    if (close || c->w->draining || http_req_next(&c->parser) < 0) {
        gw_conn_close(c, true);
        return;
    }
    arm_conn_timer(c, GW_TIMER_IDLE);
    /* A response that left a lot queued holds the next request back until
     * half of it is out, so that one's answer fits the output limit. */
    if (loop_conn_pending(c->lc) > c->w->out_limit / 2)
        c->wait_drain = true;
    else
        gw_conn_unblock(c);
}

void gw_conn_drain(struct gw_conn *c)
{
    if (c->x.active) {
        c->x.close = true;
        return;
    }
    /* Idle between requests: close now, without waiting for the peer's
     * FIN (a lingering flush would hold the drain for up to its linger
     * time); what was sent before is already queued in the kernel. */
    gw_conn_close(c, loop_conn_pending(c->lc) > 0);
}
