/*
 * proto/nats_client.c — see nats_client.h. Lifecycle, the connection state
 * machine and the handlers for what the server sends.
 *
 * Reentrancy rule of this file: user callbacks run only from loop-driven
 * contexts (a completion, a timer, a parsed operation), never from inside a
 * call the user made, except where the header says so. Tearing a
 * connection down therefore only records why (nats_client_lose) and closes
 * the loop connection; everything the user hears about it happens in
 * nats_client_conn_closed, when the loop reports the close.
 */
#include "proto/nats_client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/log.h"
#include "proto/nats_client_internal.h"
#include "proto/nats_encode.h"

void nats_client_config_defaults(struct nats_client_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->urls = "nats://127.0.0.1:4222";
    cfg->echo = true;
    cfg->reconnect_buffer = 8u << 20;
    cfg->out_limit = 8u << 20;
    cfg->connect_timeout_ms = 2000;
    cfg->ping_interval_ms = 120000;
    cfg->max_pings_out = 2;
    cfg->reconnect_wait_ms = 250;
    cfg->reconnect_wait_max_ms = 8000;
    cfg->reconnect_jitter_ms = 100;
    cfg->max_reconnects = -1;
    cfg->max_requests = 65536;
}

static void set_err(char *err, size_t errlen, const char *a, const char *b)
{
    if (errlen == 0)
        return;
    size_t n = 0;
    for (const char *s = a; s && *s && n + 1 < errlen; s++)
        err[n++] = *s;
    for (const char *s = b; s && *s && n + 1 < errlen; s++)
        err[n++] = *s;
    err[n] = '\0';
}

/* ------------------------------------------------------------ PINGs */

static struct nats_ping *ping_at(struct nats_client *c, unsigned i)
{
    return &c->pings[(c->ping_head + i) % NATS_CLIENT_PING_MAX];
}

static void ping_timeout(struct loop *l, struct loop_timer *t)
{
    struct nats_ping *p = LOOP_CONTAINER_OF(t, struct nats_ping, timer);
    (void)l;
    /* The PONG will still come and must still match this slot. */
    p->kind = NATS_PING_ABANDONED;
    if (p->fn)
        p->fn(p->c, NATS_E_TIMEOUT, p->cookie);
}

/* Sends a PING and remembers what its PONG is for. Returns 0 or an error
 * (nothing remembered then). */
static int ping_send(struct nats_client *c, enum nats_ping_kind kind, unsigned timeout_ms,
                     nats_client_done_fn fn, void *cookie)
{
    if (c->ping_count == NATS_CLIENT_PING_MAX)
        return NATS_E_LIMIT;
    struct iovec v = {(void *)"PING\r\n", 6};
    int rc = nats_client_io_write(c, &v, 1);
    if (rc < 0)
        return NATS_E_DISCONNECTED;
    struct nats_ping *p = ping_at(c, c->ping_count++);
    p->c = c;
    p->kind = kind;
    p->fn = fn;
    p->cookie = cookie;
    loop_timer_init(&p->timer, ping_timeout);
    if (timeout_ms)
        loop_timer_start(c->loop, &p->timer, timeout_ms);
    return 0;
}

/*
 * Takes the oldest PING off the ring (ping_count > 0): its timer stopped,
 * its slot freed. Returns the slot, whose fn and cookie stay readable until
 * the next ping_send, and its kind in *kind.
 */
static struct nats_ping *ping_pop(struct nats_client *c, enum nats_ping_kind *kind)
{
    struct nats_ping *p = ping_at(c, 0);
    *kind = p->kind;
    loop_timer_stop(c->loop, &p->timer);
    p->kind = NATS_PING_FREE;
    c->ping_head = (c->ping_head + 1) % NATS_CLIENT_PING_MAX;
    c->ping_count--;
    return p;
}

/* Fails every PING in flight (the connection is gone). */
static void pings_fail(struct nats_client *c, int err)
{
    while (c->ping_count) {
        enum nats_ping_kind kind;
        struct nats_ping *p = ping_pop(c, &kind);
        if (kind == NATS_PING_FLUSH && p->fn)
            p->fn(c, err, p->cookie);
    }
    c->ping_head = 0;
    c->pings_out = 0;
}

static void drain_check(struct nats_client *c);

static void ping_pong(struct nats_client *c)
{
    c->pings_out = 0;
    if (c->ping_count == 0)
        return;
    enum nats_ping_kind kind;
    struct nats_ping *p = ping_pop(c, &kind);
    if (kind == NATS_PING_FLUSH && p->fn) {
        p->fn(c, 0, p->cookie);
    } else if (kind == NATS_PING_DRAIN) {
        /* Every message sent before our UNSUBs has now been delivered. */
        nats_client_sub_remove_all(c, true);
        c->draining_subs_done = true;
        drain_check(c);
    }
}

static void keepalive(struct loop *l, struct loop_timer *t)
{
    struct nats_client *c = LOOP_CONTAINER_OF(t, struct nats_client, t_ping);
    if (c->phase != NATS_PH_UP)
        return;
    /* pings_out counts intervals without any PONG, whether or not the
     * ring had room for another PING. */
    if (c->pings_out >= c->cfg.max_pings_out) {
        log_emit(LOG_WARN, "nats_stale_connection", LOG_STR("server", nats_client_server_addr(c)),
                 LOG_UINT("pings_out", c->pings_out));
        nats_client_lose(c, NATS_E_STALE, LOOP_CLOSE_ABORT);
        return;
    }
    c->pings_out++;
    if (c->ping_count < NATS_CLIENT_PING_MAX)
        ping_send(c, NATS_PING_KEEPALIVE, 0, NULL, NULL);
    if (c->phase == NATS_PH_UP)
        loop_timer_start(l, t, c->cfg.ping_interval_ms);
}

/* ---------------------------------------------------- connection states */

static void closed_cb(struct loop *l, struct loop_timer *t)
{
    struct nats_client *c = LOOP_CONTAINER_OF(t, struct nats_client, t_closed);
    (void)l;
    if (c->closed_announced)
        return;
    c->closed_announced = true;
    log_emit(LOG_INFO, "nats_closed", LOG_UINT("reconnects", c->stats.reconnects));
    if (c->ev && c->ev->on_closed)
        c->ev->on_closed(c, c->cookie);
}

/* Called once no connection remains after close was requested. */
static void finish_close(struct nats_client *c)
{
    c->state = NATS_CLIENT_CLOSED;
    c->phase = NATS_PH_NONE;
    loop_timer_start(c->loop, &c->t_closed, 0);
}

static void stop_conn_timers(struct nats_client *c)
{
    loop_timer_stop(c->loop, &c->t_handshake);
    loop_timer_stop(c->loop, &c->t_ping);
    loop_timer_stop(c->loop, &c->t_tls_flush);
}

/* No connection any more: tell the user, then retry or finish closing. */
static void after_lost(struct nats_client *c)
{
    int err = c->lose_err;
    bool was_up = c->up_announced;
    c->up_announced = false;
    /* Only a connection that stayed up a while ends the back-off: one
     * dropped right after its handshake (a server failing every client,
     * an immediate -ERR) counts as a failed attempt, so a flapping server
     * is retried with growing waits instead of in a tight loop. */
    if (was_up && loop_now_ms(c->loop) - c->up_since_ms >= NATS_CLIENT_STABLE_MS)
        c->attempts = 0;
    c->phase = NATS_PH_NONE;
    pings_fail(c, c->close_requested ? NATS_E_CLOSED : NATS_E_DISCONNECTED);
    if (c->close_requested) {
        finish_close(c);
        return;
    }
    if (c->state == NATS_CLIENT_DRAINING) {
        /* A drain cannot finish without a connection. */
        nats_client_close(c);
        return;
    }
    c->state = NATS_CLIENT_CONNECTING;
    if (was_up && c->ev && c->ev->on_disconnected)
        c->ev->on_disconnected(c, err, c->cookie);
    if (c->close_requested || c->phase != NATS_PH_NONE)
        return; /* the callback closed the client or something restarted */
    nats_client_pool_schedule(c);
}

void nats_client_lose(struct nats_client *c, int err, int how)
{
    /* Already going down, or nothing to lose (a retry may be scheduled). */
    if (c->phase == NATS_PH_CLOSING || (c->phase == NATS_PH_NONE && c->conn == NULL))
        return;
    stop_conn_timers(c);
    nats_client_pool_cancel(c);
    c->lose_err = err;
    if (c->up_announced && !c->close_requested)
        log_emit(LOG_WARN, "nats_disconnected", LOG_STR("server", nats_client_server_addr(c)),
                 LOG_STR("error", nats_client_strerror(err)));
    if (c->conn) {
        c->phase = NATS_PH_CLOSING;
        if (how == LOOP_CLOSE_FLUSH)
            nats_client_io_close_tls(c);
        loop_conn_close(c->conn, how, NATS_CLIENT_CLOSE_LINGER_MS);
        return;
    }
    after_lost(c);
}

void nats_client_conn_closed(struct nats_client *c)
{
    after_lost(c);
}

static void handshake_timeout(struct loop *l, struct loop_timer *t)
{
    struct nats_client *c = LOOP_CONTAINER_OF(t, struct nats_client, t_handshake);
    (void)l;
    log_emit(LOG_WARN, "nats_connect_failed", LOG_STR("server", nats_client_server_addr(c)),
             LOG_STR("error", "timed out"));
    nats_client_lose(c, NATS_E_TIMEOUT, LOOP_CLOSE_ABORT);
}

void nats_client_send_connect(struct nats_client *c)
{
    const struct nats_server *s = nats_client_pool_current(c);
    if (nats_client_auth_connect(c, s) != 0)
        return; /* already lost */
    struct iovec v = {(void *)"PING\r\n", 6};
    if (nats_client_io_write(c, &v, 1) == 0)
        c->phase = NATS_PH_CONNECT;
}

void nats_client_handshake_done(struct nats_client *c)
{
    if (c->phase == NATS_PH_TLS)
        nats_client_send_connect(c);
}

/* The server answered our first PING: we are in. */
static void connected(struct nats_client *c)
{
    struct nats_server *s = nats_client_pool_current(c);
    bool first = !c->ever_connected;
    loop_timer_stop(c->loop, &c->t_handshake);
    c->phase = NATS_PH_UP;
    c->up_since_ms = loop_now_ms(c->loop);
    s->lame = false;
    if (nats_client_sub_resend_all(c) != 0 || nats_client_io_flush_rbuf(c) != 0)
        return; /* lost again; conn_closed follows */
    if (c->phase != NATS_PH_UP)
        return;
    loop_timer_start(c->loop, &c->t_ping, c->cfg.ping_interval_ms);
    c->ever_connected = true;
    c->up_announced = true;
    if (!first)
        c->stats.reconnects++;
    if (c->state == NATS_CLIENT_CONNECTING)
        c->state = NATS_CLIENT_CONNECTED;
    log_emit(LOG_INFO, first ? "nats_connected" : "nats_reconnected", LOG_STR("server", s->addr),
             LOG_STR("server_name", c->info.server_name), LOG_BOOL("tls", c->tls_active),
             LOG_UINT("max_payload", c->max_payload));
    if (c->ev && first && c->ev->on_connected)
        c->ev->on_connected(c, c->cookie);
    else if (c->ev && !first && c->ev->on_reconnected)
        c->ev->on_reconnected(c, c->cookie);
    if (c->phase == NATS_PH_UP && c->want_drained && c->rbuf_len == c->rbuf_off &&
        nats_client_io_pending(c) <= c->out_limit / 2) {
        c->want_drained = false;
        if (c->ev && c->ev->on_drained)
            c->ev->on_drained(c, c->cookie);
    }
}

/* ------------------------------------------------------ server events */

/* Parser callbacks stop parsing once the connection is being dropped. */
int nats_client_parse_stop(const struct nats_client *c)
{
    return (c->phase == NATS_PH_CLOSING || c->phase == NATS_PH_NONE || c->close_requested ||
            c->conn == NULL)
               ? 1
               : 0;
}

static int grow_parse_buffer(struct nats_client *c, size_t max_payload)
{
    size_t need = NATS_PARSE_BUF_SIZE(max_payload);
    if (need < NATS_PARSE_BUF_MIN)
        need = NATS_PARSE_BUF_MIN;
    if (need <= c->pbuf_cap)
        return 0;
    uint8_t *nb = malloc(need);
    if (nb == NULL)
        return -ENOMEM;
    /* Called from on_info: the parser holds nothing and the INFO text is
     * no longer used, so the old buffer can go at once. */
    if (nats_parse_set_buffer(&c->parser, nb, need) != 0) {
        free(nb);
        return -ENOMEM;
    }
    free(c->pbuf);
    c->pbuf = nb;
    c->pbuf_cap = need;
    return 0;
}

static int on_info(void *cookie, struct span json)
{
    struct nats_client *c = cookie;
    struct nats_server *s = nats_client_pool_current(c);
    int rc = nats_info_parse(&c->info, json);
    if (rc != 0) {
        log_emit(LOG_ERROR, "nats_protocol_error", LOG_STR("server", s->addr),
                 LOG_STR("error", nats_info_strerror(rc)));
        nats_client_lose(c, NATS_E_PROTO, LOOP_CLOSE_ABORT);
        return 1;
    }
    c->have_info = true;
    size_t mp = c->info.max_payload ? (size_t)c->info.max_payload : NATS_PARSE_DEFAULT_MAX_PAYLOAD;
    if (mp > NATS_ENC_PAYLOAD_MAX)
        mp = NATS_ENC_PAYLOAD_MAX;
    c->max_payload = mp;
    nats_parse_set_max_payload(&c->parser, mp);
    if (grow_parse_buffer(c, mp) != 0) {
        nats_client_lose(c, -ENOMEM, LOOP_CLOSE_ABORT);
        return 1;
    }
    /* Publish admission keeps room for any message below the limit at
     * which the loop reports the queue drained again (half of it). */
    size_t min_limit = 2 * (mp + NATS_PARSE_LINE_MAX + 2) + NATS_CLIENT_CTRL_MARGIN;
    c->out_limit = c->cfg.out_limit > min_limit ? c->cfg.out_limit : min_limit;
    if (c->conn)
        loop_conn_set_out_limit(c->conn, c->out_limit + NATS_CLIENT_CTRL_MARGIN);
    nats_client_pool_learn(c, &c->info);

    /* INFO is the server's first word: it may beat on_connect. */
    if (c->phase == NATS_PH_INFO || c->phase == NATS_PH_TCP) {
        bool want_tls = s->tls || c->cfg.tls_required || c->info.tls_required;
        if (!want_tls) {
            nats_client_send_connect(c);
            return nats_client_parse_stop(c);
        }
        if (!c->info.tls_required && !c->info.tls_available) {
            log_emit(LOG_ERROR, "nats_connect_failed", LOG_STR("server", s->addr),
                     LOG_STR("error", "TLS wanted but the server does not offer it"));
            nats_client_lose(c, NATS_E_TLS, LOOP_CLOSE_ABORT);
            return 1;
        }
        if (nats_client_io_start_tls(c) == 0)
            c->tls_switch = true;
        /* Everything after INFO is TLS records: stop this parser here. */
        return 1;
    }
    if (c->info.ldm && c->phase == NATS_PH_UP) {
        log_emit(LOG_WARN, "nats_lame_duck", LOG_STR("server", s->addr));
        s->lame = true;
        nats_client_lose(c, NATS_E_LAME_DUCK, LOOP_CLOSE_FLUSH);
        return 1;
    }
    return nats_client_parse_stop(c);
}

static int on_msg(void *cookie, const struct nats_msg *m)
{
    struct nats_client *c = cookie;
    if (c->phase != NATS_PH_UP)
        return nats_client_parse_stop(c);
    nats_client_sub_dispatch(c, m);
    return nats_client_parse_stop(c);
}

static int on_ping(void *cookie)
{
    struct nats_client *c = cookie;
    struct iovec v = {(void *)"PONG\r\n", 6};
    nats_client_io_write(c, &v, 1);
    return nats_client_parse_stop(c);
}

static int on_pong(void *cookie)
{
    struct nats_client *c = cookie;
    if (c->phase == NATS_PH_CONNECT)
        connected(c);
    else if (c->phase == NATS_PH_UP)
        ping_pong(c);
    return nats_client_parse_stop(c);
}

static int contains_nocase(struct span s, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= s.n; i++)
        if (span_eq_nocase(span_make(s.p + i, n), span_make(needle, n)))
            return 1;
    return 0;
}

/* Which kind of credentials went into the CONNECT (never their value). */
static const char *auth_kind(const struct nats_client *c)
{
    const struct nats_server *s = nats_client_pool_current(c);
    if (c->have_creds)
        return c->creds.creds.kind == CREDS_KIND_USER ? "creds" : "nkey";
    if (s && s->user)
        return "user_password";
    if (s && s->token)
        return "token";
    return "none";
}

static int on_err(void *cookie, struct span text)
{
    struct nats_client *c = cookie;
    const char *addr = nats_client_server_addr(c);
    /* The server quotes its message: 'Authorization Violation'. */
    if (text.n >= 2 && text.p[0] == '\'' && text.p[text.n - 1] == '\'')
        text = span_make(text.p + 1, text.n - 2);
    if (contains_nocase(text, "permissions violation")) {
        log_emit(LOG_WARN, "nats_permission_denied", LOG_STR("server", addr),
                 LOG_STRN("error", text.p, text.n));
        if (c->ev && c->ev->on_error)
            c->ev->on_error(c, NATS_E_SERVER, text, c->cookie);
        return nats_client_parse_stop(c);
    }
    int err = NATS_E_SERVER;
    if (contains_nocase(text, "authorization") || contains_nocase(text, "authentication")) {
        err = NATS_E_AUTH;
        log_emit(LOG_ERROR, "nats_auth_failed", LOG_STR("server", addr),
                 LOG_STRN("error", text.p, text.n), LOG_STR("auth", auth_kind(c)),
                 LOG_UINT("attempt", c->attempts + 1));
    } else if (contains_nocase(text, "stale connection")) {
        err = NATS_E_STALE;
        log_emit(LOG_WARN, "nats_stale_connection", LOG_STR("server", addr));
    } else {
        log_emit(LOG_ERROR, "nats_server_error", LOG_STR("server", addr),
                 LOG_STRN("error", text.p, text.n));
    }
    if (c->ev && c->ev->on_error)
        c->ev->on_error(c, err, text, c->cookie);
    /* nats-server closes the connection after any other -ERR. */
    nats_client_lose(c, err, LOOP_CLOSE_ABORT);
    return 1;
}

const struct nats_parse_ops nats_client_parse_ops = {
    .on_msg = on_msg,
    .on_info = on_info,
    .on_ping = on_ping,
    .on_pong = on_pong,
    .on_err = on_err,
};

/* ------------------------------------------------------------- drain */

static void drain_timeout(struct loop *l, struct loop_timer *t)
{
    struct nats_client *c = LOOP_CONTAINER_OF(t, struct nats_client, t_drain);
    (void)l;
    log_emit(LOG_WARN, "nats_drain_timeout", LOG_UINT("requests", c->req_active));
    nats_client_close(c);
}

static void drain_check(struct nats_client *c)
{
    if (c->state == NATS_CLIENT_DRAINING && c->draining_subs_done && c->req_active == 0)
        nats_client_close(c);
}

void nats_client_req_done_hook(struct nats_client *c)
{
    drain_check(c);
}

int nats_client_drain(struct nats_client *c, unsigned timeout_ms)
{
    if (c->close_requested || c->state == NATS_CLIENT_DRAINING)
        return NATS_E_CLOSED;
    if (c->phase != NATS_PH_UP) {
        nats_client_close(c);
        return 0;
    }
    c->state = NATS_CLIENT_DRAINING;
    if (timeout_ms)
        loop_timer_start(c->loop, &c->t_drain, timeout_ms);
    nats_client_sub_drain_all(c);
    if (c->phase != NATS_PH_UP)
        return 0; /* lost while writing; after_lost closes */
    if (ping_send(c, NATS_PING_DRAIN, 0, NULL, NULL) != 0) {
        /* No room to track the PONG: skip waiting for in-flight messages. */
        nats_client_sub_remove_all(c, true);
        c->draining_subs_done = true;
        drain_check(c);
    }
    return 0;
}

/* ------------------------------------------------------------ public */

int nats_client_create(struct nats_client **out, struct loop *l,
                       const struct nats_client_config *cfg, char *err, size_t errlen)
{
    struct nats_client_config def;
    int rc;
    *out = NULL;
    set_err(err, errlen, "", NULL);
    if (cfg == NULL) {
        nats_client_config_defaults(&def);
        cfg = &def;
    }
    if (sodium_init() < 0) {
        set_err(err, errlen, "libsodium failed to initialise", NULL);
        return -EIO;
    }
    struct nats_client *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        set_err(err, errlen, "out of memory", NULL);
        return -ENOMEM;
    }
    c->loop = l;
    c->cfg = *cfg;
    c->ev = cfg->events;
    c->cookie = cfg->cookie;
    c->state = NATS_CLIENT_IDLE;
    c->max_payload = NATS_PARSE_DEFAULT_MAX_PAYLOAD;
    c->next_sid = 1;
    c->req_free = UINT32_MAX;
    rand_pool_init(&c->rnd);
    nats_client_config_defaults(&def);
    /* Zero means "default" for every limit, so callers may fill only
     * what they care about. */
    if (c->cfg.reconnect_buffer == 0)
        c->cfg.reconnect_buffer = def.reconnect_buffer;
    if (c->cfg.out_limit == 0)
        c->cfg.out_limit = def.out_limit;
    if (c->cfg.connect_timeout_ms == 0)
        c->cfg.connect_timeout_ms = def.connect_timeout_ms;
    if (c->cfg.ping_interval_ms == 0)
        c->cfg.ping_interval_ms = def.ping_interval_ms;
    if (c->cfg.max_pings_out == 0)
        c->cfg.max_pings_out = def.max_pings_out;
    if (c->cfg.reconnect_wait_ms == 0)
        c->cfg.reconnect_wait_ms = def.reconnect_wait_ms;
    if (c->cfg.reconnect_wait_max_ms < c->cfg.reconnect_wait_ms)
        c->cfg.reconnect_wait_max_ms = c->cfg.reconnect_wait_ms;
    if (c->cfg.max_requests == 0)
        c->cfg.max_requests = def.max_requests;
    c->out_limit = c->cfg.out_limit;
    loop_timer_init(&c->t_handshake, handshake_timeout);
    loop_timer_init(&c->t_ping, keepalive);
    loop_timer_init(&c->t_drain, drain_timeout);
    loop_timer_init(&c->t_closed, closed_cb);
    nats_client_io_init_timers(c);
    nats_client_pool_init_timers(c);

    if (cfg->name && *cfg->name && (c->name = strdup(cfg->name)) == NULL) {
        rc = -ENOMEM;
        set_err(err, errlen, "out of memory", NULL);
        goto fail;
    }
    c->cfg.name = c->name;
    c->pbuf_cap = NATS_PARSE_BUF_MIN;
    if ((c->pbuf = malloc(c->pbuf_cap)) == NULL || nats_client_sub_init(c) != 0) {
        rc = -ENOMEM;
        set_err(err, errlen, "out of memory", NULL);
        goto fail;
    }
    rc = nats_client_pool_add_urls(c, cfg->urls ? cfg->urls : def.urls, err, errlen);
    if (rc != 0)
        goto fail;
    if ((rc = nats_client_auth_load(c, err, errlen)) != 0)
        goto fail;
    if ((rc = nats_client_tls_load(c, err, errlen)) != 0)
        goto fail;
    /* Strings the caller passed are not kept beyond this point. */
    c->cfg.urls = NULL;
    c->cfg.creds_path = c->cfg.nkey_path = NULL;
    c->cfg.ca_path = c->cfg.cert_path = c->cfg.key_path = NULL;
    *out = c;
    return 0;
fail:
    nats_client_destroy(c);
    return rc;
}

int nats_client_connect(struct nats_client *c)
{
    if (c->state != NATS_CLIENT_IDLE)
        return NATS_E_CLOSED;
    c->state = NATS_CLIENT_CONNECTING;
    nats_client_pool_start_attempt(c);
    return 0;
}

/* Starts the handshake deadline and a fresh parser for a new attempt. */
void nats_client_attempt_begin(struct nats_client *c)
{
    nats_parse_init(&c->parser, &nats_client_parse_ops, c);
    nats_parse_set_buffer(&c->parser, c->pbuf, c->pbuf_cap);
    nats_parse_set_max_payload(&c->parser, c->max_payload);
    c->have_info = false;
    c->tls_active = false;
    c->tls_switch = false;
    c->pings_out = 0;
    c->phase = NATS_PH_TCP; /* resolution, if needed, says so itself */
    loop_timer_start(c->loop, &c->t_handshake, c->cfg.connect_timeout_ms);
}

int nats_client_publish(struct nats_client *c, struct span subject, struct span reply,
                        struct span hdr, struct span payload)
{
    if (c->close_requested || c->state == NATS_CLIENT_CLOSED)
        return NATS_E_CLOSED;
    return nats_client_io_publish(c, subject, reply, hdr, payload);
}

int nats_client_flush(struct nats_client *c, unsigned timeout_ms, nats_client_done_fn fn,
                      void *cookie)
{
    if (c->close_requested || c->state == NATS_CLIENT_CLOSED)
        return NATS_E_CLOSED;
    if (timeout_ms == 0 || fn == NULL)
        return -EINVAL;
    if (c->phase != NATS_PH_UP)
        return NATS_E_DISCONNECTED;
    return ping_send(c, NATS_PING_FLUSH, timeout_ms, fn, cookie);
}

void nats_client_close(struct nats_client *c)
{
    if (c->close_requested)
        return;
    c->close_requested = true;
    c->state = NATS_CLIENT_CLOSED;
    loop_timer_stop(c->loop, &c->t_reconnect);
    loop_timer_stop(c->loop, &c->t_drain);
    nats_client_req_fail_all(c, NATS_E_CLOSED);
    if (c->conn && c->phase != NATS_PH_CLOSING) {
        /* Queued publishes still go out; the linger bounds the wait. */
        nats_client_lose(c, NATS_E_CLOSED, LOOP_CLOSE_FLUSH);
        return;
    }
    if (c->conn == NULL) {
        stop_conn_timers(c);
        nats_client_pool_cancel(c);
        pings_fail(c, NATS_E_CLOSED);
        finish_close(c);
    }
    /* else: on_close is pending and after_lost finishes the close. */
}

/* Owner of a connection the client let go of at destroy: the loop still
 * completes its teardown, but nobody is told. */
static int orphan_data(struct loop_conn *conn, const uint8_t *p, size_t n)
{
    (void)conn;
    (void)p;
    (void)n;
    return -ECANCELED;
}

static void orphan_close(struct loop_conn *conn, int err)
{
    (void)conn;
    (void)err;
}

static const struct loop_conn_ops orphan_ops = {.on_data = orphan_data, .on_close = orphan_close};

void nats_client_destroy(struct nats_client *c)
{
    if (c == NULL)
        return;
    c->close_requested = true;
    if (c->conn) {
        loop_conn_set(c->conn, &orphan_ops, NULL);
        loop_conn_close(c->conn, LOOP_CLOSE_ABORT, 0);
        c->conn = NULL;
    }
    stop_conn_timers(c);
    loop_timer_stop(c->loop, &c->t_reconnect);
    loop_timer_stop(c->loop, &c->t_drain);
    loop_timer_stop(c->loop, &c->t_closed);
    nats_client_pool_cancel(c);
    for (unsigned i = 0; i < NATS_CLIENT_PING_MAX; i++)
        loop_timer_stop(c->loop, &c->pings[i].timer);
    nats_client_req_free_all(c);
    nats_client_sub_free_all(c);
    nats_client_pool_free(c);
    nats_client_auth_free(c);
    nats_client_tls_free(c);
    free(c->pbuf);
    free(c->rbuf);
    free(c->name);
    free(c);
}

enum nats_client_state nats_client_state(const struct nats_client *c)
{
    return c->state;
}

size_t nats_client_pending(const struct nats_client *c)
{
    return nats_client_io_pending(c) + (c->rbuf_len - c->rbuf_off);
}

void nats_client_stats(const struct nats_client *c, struct nats_client_stats *st)
{
    *st = c->stats;
    st->pending = nats_client_pending(c);
}

const struct nats_info *nats_client_server_info(const struct nats_client *c)
{
    return c->have_info || c->ever_connected ? &c->info : NULL;
}

const char *nats_client_server_addr(const struct nats_client *c)
{
    const struct nats_server *s = nats_client_pool_current(c);
    return s ? s->addr : "";
}

const char *nats_client_strerror(int err)
{
    switch (err) {
    case 0:
        return "no error";
    case NATS_E_SUBJECT:
        return "invalid subject, reply subject or queue group";
    case NATS_E_MAX_PAYLOAD:
        return "message larger than the server's max_payload";
    case NATS_E_BUFFER_FULL:
        return "not connected and the reconnect buffer is full";
    case NATS_E_AGAIN:
        return "output queue full; wait for it to drain";
    case NATS_E_CLOSED:
        return "client closed";
    case NATS_E_TIMEOUT:
        return "timed out";
    case NATS_E_NO_RESPONDERS:
        return "no responders";
    case NATS_E_LIMIT:
        return "too many requests or flushes in flight";
    case NATS_E_DISCONNECTED:
        return "not connected";
    case NATS_E_AUTH:
        return "authorization failed";
    case NATS_E_PROTO:
        return "protocol error";
    case NATS_E_CONFIG:
        return "invalid configuration";
    case NATS_E_TLS:
        return "TLS failure";
    case NATS_E_STALE:
        return "stale connection";
    case NATS_E_SERVER:
        return "server error";
    case NATS_E_NO_HEADERS:
        return "server does not support headers";
    case NATS_E_LAME_DUCK:
        return "server entering lame-duck mode";
    }
    return err < 0 ? strerror(-err) : "unknown error";
}
