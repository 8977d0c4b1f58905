/*
 * agent/ag_ws_backend.c — see ag_ws_backend.h.
 *
 * States: OPENING (connect and handshake, hs allocated), OPEN (frames),
 * ENDING (loop_conn_close called; on_end comes from the loop's be_on_close),
 * DEAD (aborted by the owner: no callback any more). One timer serves the
 * open deadline and then ws_conn's deadlines (pings, close wait).
 */
#include "agent/ag_ws_backend.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "proto/http_resp.h"
#include "proto/ws_conn.h"

enum { BE_ST_OPENING, BE_ST_OPEN, BE_ST_ENDING, BE_ST_DEAD };

#define PROTO_BUF_MAX 1024 /* bytes of offered subprotocols kept for the check */
#define CHOSEN_MAX 256

/* Handshake state: allocated by connect, freed once the answer is in. */
struct ag_ws_hs {
    struct http_resp_parser parser;
    char key[WS_HANDSHAKE_KEY_LEN + 1];
    struct span protocols[WS_HANDSHAKE_MAX_PROTOCOLS];
    size_t nprotocols;
    uint8_t proto_buf[PROTO_BUF_MAX];
    /* The answer, copied out of the parser for on_open. */
    unsigned status;
    int err;
    const char *why; /* handshake check failure, for the log */
    uint8_t chosen[CHOSEN_MAX];
    size_t chosen_len;
    struct http_head_field fields[HTTP_HEAD_MAX_FIELDS];
    size_t nfields;
    uint8_t *body;
    size_t body_len;
    int truncated;
    size_t copy_len;
    uint8_t copy[AG_WS_BACKEND_HEAD_MAX];
    uint8_t headbuf[AG_WS_BACKEND_HEAD_MAX];
};

struct ag_ws_backend {
    struct loop *loop;
    struct loop_conn *conn;
    const struct ag_ws_backend_ops *ops;
    void *cookie;
    struct ag_ws_hs *hs;
    struct ws_conn ws;
    struct loop_timer timer;
    uint64_t open_deadline;
    size_t refusal_max;
    size_t out_limit;
    unsigned close_ms;
    uint8_t state;
    uint8_t paused;
    uint8_t in_feed;
    uint8_t resume_wanted;
    uint8_t eof;
    int end_err;
    unsigned end_code;
    uint8_t bufs[]; /* stage, then backlog */
};

/* ------------------------------------------------------------- helpers */

static uint8_t *be_sink_reserve(void *cookie, size_t n)
{
    struct ag_ws_backend *b = cookie;
    return loop_conn_reserve(b->conn, n);
}

static void be_sink_commit(void *cookie, size_t used)
{
    struct ag_ws_backend *b = cookie;
    loop_conn_commit(b->conn, used);
}

static const struct ws_conn_sink be_sink_ops = {be_sink_reserve, be_sink_commit};

static void be_arm(struct ag_ws_backend *b)
{
    uint64_t now = loop_now_ms(b->loop), d;

    if (b->state == BE_ST_OPENING)
        d = b->open_deadline;
    else if (b->state == BE_ST_OPEN)
        d = ws_conn_deadline(&b->ws);
    else
        d = UINT64_MAX;
    if (d == UINT64_MAX) {
        loop_timer_stop(b->loop, &b->timer);
        return;
    }
    loop_timer_start(b->loop, &b->timer, d > now ? d - now : 0);
}

/* Ends the connection; on_end follows from the loop with err and code. */
static void be_finish(struct ag_ws_backend *b, int err, unsigned code, int how)
{
    if (b->state == BE_ST_ENDING || b->state == BE_ST_DEAD)
        return;
    b->state = BE_ST_ENDING;
    b->end_err = err;
    b->end_code = code;
    loop_timer_stop(b->loop, &b->timer);
    loop_conn_close(b->conn, how, b->close_ms);
}

static void be_report_open(struct ag_ws_backend *b)
{
    struct ag_ws_hs *hs = b->hs;
    struct ag_ws_backend_open o;

    memset(&o, 0, sizeof(o));
    o.status = hs->err ? (hs->err == AG_WS_BACKEND_E_HANDSHAKE ? hs->status : 0) : hs->status;
    o.err = hs->err;
    o.protocol = span_make(hs->chosen, hs->chosen_len);
    o.fields = hs->fields;
    o.nfields = hs->nfields;
    o.body = span_make(hs->body, hs->body_len);
    o.truncated = hs->truncated;
    b->ops->on_open(b, b->cookie, &o);
}

static void be_hs_free(struct ag_ws_backend *b)
{
    if (b->hs) {
        free(b->hs->body);
        free(b->hs);
        b->hs = NULL;
    }
}

/* The open failed or was refused: tell the owner, then end. */
static void be_open_failed(struct ag_ws_backend *b, int err)
{
    int e;

    if (b->state != BE_ST_OPENING)
        return;
    if (err && !b->hs->err)
        b->hs->err = err;
    e = b->hs->err ? b->hs->err : AG_WS_BACKEND_E_REFUSED;
    if (b->hs->err == AG_WS_BACKEND_E_HANDSHAKE)
        log_emit(LOG_WARN, "ws_backend_handshake_failed", LOG_STR("reason", b->hs->why),
                 LOG_UINT("status", b->hs->status));
    be_report_open(b);
    be_hs_free(b);
    be_finish(b, e, 0, LOOP_CLOSE_ABORT);
}

/* ------------------------------------------------------------ handshake */

static int be_hs_on_head(void *cookie, const struct http_resp *r)
{
    struct ag_ws_backend *b = cookie;
    struct ag_ws_hs *hs = b->hs;
    struct ws_handshake_header hdrs[HTTP_HEAD_MAX_FIELDS];
    struct ws_handshake_http http;
    struct span chosen;
    int rc;

    /* Copy the head: on_open comes after the parser has moved on. The
     * copy is never larger than the head itself. */
    size_t nf = r->nfields < HTTP_HEAD_MAX_FIELDS ? r->nfields : HTTP_HEAD_MAX_FIELDS;

    hs->status = (unsigned)r->status;
    hs->nfields = 0;
    hs->copy_len = 0;
    for (size_t i = 0; i < nf; i++) {
        const struct http_head_field *f = &r->fields[i];
        hdrs[i].name = f->name;
        hdrs[i].value = f->value;
        if (f->name.n + f->value.n > sizeof(hs->copy) - hs->copy_len)
            continue;
        uint8_t *d = hs->copy + hs->copy_len;
        memcpy(d, f->name.p, f->name.n);
        if (f->value.n)
            memcpy(d + f->name.n, f->value.p, f->value.n);
        hs->fields[hs->nfields].name = span_make(d, f->name.n);
        hs->fields[hs->nfields].value = span_make(d + f->name.n, f->value.n);
        hs->nfields++;
        hs->copy_len += f->name.n + f->value.n;
    }
    if (r->status != 101) {
        hs->body = malloc(b->refusal_max ? b->refusal_max : 1);
        if (hs->body == NULL) {
            hs->err = -ENOMEM;
            return 1;
        }
        return 0;
    }
    memset(&http, 0, sizeof(http));
    http.status = (unsigned)r->status;
    http.version_major = 1;
    http.version_minor = r->version_minor;
    http.headers = hdrs;
    http.nheaders = nf;
    rc = ws_handshake_client_check(&http, span_cstr(hs->key), hs->protocols, hs->nprotocols,
                                   &chosen);
    if (rc == 0 && chosen.n > sizeof(hs->chosen))
        rc = WS_HANDSHAKE_ERR_PROTOCOL;
    if (rc != 0) {
        hs->err = AG_WS_BACKEND_E_HANDSHAKE;
        hs->why = ws_handshake_strerror(rc);
        return 1;
    }
    if (chosen.n)
        memcpy(hs->chosen, chosen.p, chosen.n);
    hs->chosen_len = chosen.n;
    return 0;
}

static int be_hs_on_body(void *cookie, const uint8_t *p, size_t n)
{
    struct ag_ws_backend *b = cookie;
    struct ag_ws_hs *hs = b->hs;
    size_t room = b->refusal_max - hs->body_len;

    if (n > room) {
        hs->truncated = 1;
        n = room;
    }
    if (n) {
        memcpy(hs->body + hs->body_len, p, n);
        hs->body_len += n;
    }
    return 0;
}

static const struct http_resp_ops be_hs_ops = {be_hs_on_head, be_hs_on_body};

static void be_ws_input(struct ag_ws_backend *b, const uint8_t *p, size_t n);

/* Bytes of the answer. Returns once the handshake is over or needs more. */
static void be_hs_input(struct ag_ws_backend *b, const uint8_t *p, size_t n)
{
    struct ag_ws_hs *hs = b->hs;
    size_t used = 0;
    int rc = http_resp_feed(&hs->parser, p, n, &used);

    if (rc == HTTP_RESP_OK)
        return;
    if (rc != HTTP_RESP_DONE) {
        if (!hs->err) {
            hs->err = AG_WS_BACKEND_E_HTTP;
            log_emit(LOG_WARN, "ws_backend_bad_answer",
                     LOG_STR("reason", http_resp_reason(&hs->parser)));
        }
        be_open_failed(b, 0);
        return;
    }
    if (hs->status != 101) {
        log_emit(LOG_INFO, "ws_backend_refused", LOG_UINT("status", hs->status),
                 LOG_UINT("body", hs->body_len), LOG_BOOL("truncated", hs->truncated));
        be_open_failed(b, 0);
        return;
    }
    /* Switched: the rest of the input is already WebSocket. */
    b->state = BE_ST_OPEN;
    be_report_open(b);
    be_hs_free(b);
    if (b->state != BE_ST_OPEN)
        return;
    be_ws_input(b, p + used, n - used);
    if (b->state == BE_ST_OPEN)
        be_arm(b);
}

/* ----------------------------------------------------------- open state */

static void be_ws_input(struct ag_ws_backend *b, const uint8_t *p, size_t n)
{
    static const uint8_t nothing[1];
    uint64_t now = loop_now_ms(b->loop);

    if (p == NULL)
        p = nothing, n = 0;

    b->in_feed = 1;
    while (b->state == BE_ST_OPEN) {
        struct ws_conn_event ev;
        size_t used = ws_conn_feed(&b->ws, p, n, now, &ev), k;

        p += used;
        n -= used;
        if (ev.type == WS_CONN_EV_NONE)
            break;
        if (ev.type == WS_CONN_EV_MESSAGE) {
            int wait;
            k = b->ops->on_message(b, b->cookie, ev.opcode, ev.data, ev.first, ev.fin);
            if (b->state != BE_ST_OPEN)
                break;
            /* WAIT refuses even an empty chunk; a short take the rest. */
            wait = k == AG_WS_BACKEND_WAIT || k < ev.data.n;
            if (k == AG_WS_BACKEND_WAIT)
                k = 0;
            if (k > ev.data.n)
                k = ev.data.n;
            if (!wait || k)
                ws_conn_take(&b->ws, k);
            if (wait) {
                if (ws_conn_hold(&b->ws, p, n) != 0) {
                    log_emit(LOG_WARN, "ws_backend_overflow", LOG_STR("what", "input backlog"));
                    be_finish(b, AG_WS_BACKEND_E_OVERFLOW, 0, LOOP_CLOSE_ABORT);
                    break;
                }
                n = 0;
                if (!b->paused) {
                    b->paused = 1;
                    loop_conn_pause(b->conn);
                }
                if (!b->resume_wanted)
                    break;
                b->resume_wanted = 0;
            }
        } else if (ev.type == WS_CONN_EV_CLOSE) {
            b->ops->on_close(b, b->cookie, ev.code, ev.data);
            if (b->state == BE_ST_OPEN && ws_conn_closed(&b->ws))
                be_finish(b, 0, 0, LOOP_CLOSE_FLUSH);
        } else {
            log_emit(LOG_INFO, "ws_backend_protocol_error", LOG_UINT("code", ev.code),
                     LOG_STRN("reason", ev.data.p, ev.data.n));
            be_finish(b, AG_WS_BACKEND_E_PROTOCOL, ev.code, LOOP_CLOSE_FLUSH);
        }
    }
    b->in_feed = 0;
    if (b->state == BE_ST_OPEN && b->paused && !ws_conn_blocked(&b->ws)) {
        b->paused = 0;
        loop_conn_resume(b->conn);
    }
}

/* ------------------------------------------------------------- loop ops */

static int be_on_data(struct loop_conn *c, const uint8_t *p, size_t n)
{
    struct ag_ws_backend *b = loop_conn_cookie(c);

    if (n == 0) {
        b->eof = 1;
        if (b->state == BE_ST_OPENING) {
            if (http_resp_finish(&b->hs->parser) == HTTP_RESP_DONE && b->hs->status &&
                b->hs->status != 101) {
                log_emit(LOG_INFO, "ws_backend_refused", LOG_UINT("status", b->hs->status),
                         LOG_UINT("body", b->hs->body_len),
                         LOG_BOOL("truncated", b->hs->truncated));
                be_open_failed(b, 0);
            } else {
                be_open_failed(b, b->hs->err ? 0 : AG_WS_BACKEND_E_HTTP);
            }
        } else if (b->state == BE_ST_OPEN) {
            /* A FIN after both Close frames is the normal end; after the
             * app's Close alone, our answer is still to come. */
            if (ws_conn_closed(&b->ws))
                be_finish(b, 0, 0, LOOP_CLOSE_FLUSH);
            else if (!ws_conn_close_rcvd(&b->ws))
                be_finish(b, AG_WS_BACKEND_E_GONE, 0, LOOP_CLOSE_ABORT);
        }
        return 0;
    }
    if (b->state == BE_ST_OPENING)
        be_hs_input(b, p, n);
    else if (b->state == BE_ST_OPEN) {
        be_ws_input(b, p, n);
        if (b->state == BE_ST_OPEN)
            be_arm(b);
    }
    return 0;
}

static void be_on_connect(struct loop_conn *c, int res)
{
    struct ag_ws_backend *b = loop_conn_cookie(c);

    if (res < 0 && b->state == BE_ST_OPENING) {
        log_emit(LOG_WARN, "ws_backend_connect_failed", LOG_ERRNO("err", res));
        be_open_failed(b, res);
    }
}

static void be_on_drain(struct loop_conn *c)
{
    struct ag_ws_backend *b = loop_conn_cookie(c);

    if (b->state != BE_ST_OPEN)
        return;
    (void)ws_conn_flush(&b->ws);
    if (b->ops->on_drain)
        b->ops->on_drain(b, b->cookie);
}

static void be_on_close(struct loop_conn *c, int err)
{
    struct ag_ws_backend *b = loop_conn_cookie(c);

    /* The socket is gone: loop_conn calls made from here on are no-ops. */
    loop_timer_stop(b->loop, &b->timer);
    if (b->state == BE_ST_OPENING) {
        be_open_failed(b, err ? err : AG_WS_BACKEND_E_GONE);
    } else if (b->state == BE_ST_OPEN) {
        /* Reset or send failure without our asking. */
        b->end_err = err ? err : AG_WS_BACKEND_E_GONE;
        b->state = BE_ST_ENDING;
    }
    if (b->state == BE_ST_ENDING)
        b->ops->on_end(b, b->cookie, b->end_err, b->end_code);
    be_hs_free(b);
    free(b);
}

static const struct loop_conn_ops be_conn_ops = {be_on_data, be_on_connect, be_on_drain,
                                                 be_on_close};

static void be_on_timer(struct loop *l, struct loop_timer *t)
{
    struct ag_ws_backend *b = LOOP_CONTAINER_OF(t, struct ag_ws_backend, timer);
    uint64_t now = loop_now_ms(l);

    if (b->state == BE_ST_OPENING) {
        if (now >= b->open_deadline) {
            log_emit(LOG_WARN, "ws_backend_open_timeout");
            be_open_failed(b, -ETIMEDOUT);
        } else {
            be_arm(b);
        }
        return;
    }
    if (b->state != BE_ST_OPEN)
        return;
    switch (ws_conn_tick(&b->ws, now)) {
    case WS_CONN_TICK_DEAD:
        log_emit(LOG_INFO, "ws_backend_silent");
        be_finish(b, AG_WS_BACKEND_E_GONE, 0, LOOP_CLOSE_ABORT);
        return;
    case WS_CONN_TICK_CLOSED:
        be_finish(b, 0, 0, LOOP_CLOSE_ABORT);
        return;
    default:
        be_arm(b);
    }
}

/* ------------------------------------------------------------- the API */

static size_t be_request_size(const struct ag_ws_backend_config *cfg)
{
    size_t n = 512 + cfg->host.n + cfg->target.n + cfg->origin.n;
    for (size_t i = 0; i < cfg->nprotocols; i++)
        n += cfg->protocols[i].n + 32; /* one field per offer at worst */
    for (size_t i = 0; i < cfg->nheaders; i++)
        n += cfg->headers[i].name.n + cfg->headers[i].value.n + 4;
    return n;
}

/* Keeps copies of the offers for the 101 check. */
static int be_keep_protocols(struct ag_ws_hs *hs, const struct ag_ws_backend_config *cfg)
{
    size_t used = 0;

    if (cfg->nprotocols > WS_HANDSHAKE_MAX_PROTOCOLS)
        return -EINVAL;
    for (size_t i = 0; i < cfg->nprotocols; i++) {
        struct span s = cfg->protocols[i];
        if (s.n > sizeof(hs->proto_buf) - used)
            return -EINVAL;
        memcpy(hs->proto_buf + used, s.p, s.n);
        hs->protocols[i] = span_make(hs->proto_buf + used, s.n);
        used += s.n;
    }
    hs->nprotocols = cfg->nprotocols;
    return 0;
}

int ag_ws_backend_connect(struct loop *l, const struct ag_ws_backend_config *cfg,
                          const struct ag_ws_backend_ops *ops, void *cookie,
                          struct ag_ws_backend **out)
{
    size_t chunk = cfg->chunk_max ? cfg->chunk_max : AG_WS_BACKEND_DEFAULT_CHUNK;
    size_t backlog = cfg->recv_max ? cfg->recv_max : 64 * 1024;
    struct ws_handshake_client hc;
    struct ws_conn_config wc;
    struct http_resp_config rc;
    uint8_t nonce[WS_HANDSHAKE_NONCE_LEN];
    struct ag_ws_backend *b;
    char *req = NULL;
    size_t req_cap;
    int n, err;

    *out = NULL;
    if (!ops || !ops->on_open || !ops->on_message || !ops->on_close || !ops->on_end || !cfg->addr ||
        !cfg->rand || cfg->host.n == 0 || cfg->target.n == 0)
        return -EINVAL;
    b = calloc(1, sizeof(*b) + chunk + backlog);
    if (b == NULL)
        return -ENOMEM;
    b->hs = calloc(1, sizeof(*b->hs));
    if (b->hs == NULL) {
        err = -ENOMEM;
        goto err1;
    }
    b->loop = l;
    b->ops = ops;
    b->cookie = cookie;
    b->refusal_max = cfg->refusal_max ? cfg->refusal_max : AG_WS_BACKEND_DEFAULT_REFUSAL;
    b->close_ms = cfg->close_ms ? cfg->close_ms : 5000;
    b->open_deadline = loop_now_ms(l) + (cfg->open_timeout_ms ? cfg->open_timeout_ms : 10000);
    loop_timer_init(&b->timer, be_on_timer);

    memset(&wc, 0, sizeof(wc));
    wc.role = WS_FRAME_CLIENT;
    wc.max_message = cfg->max_message;
    wc.frame_max = cfg->frame_max ? cfg->frame_max : 16384;
    wc.ping_interval_ms = cfg->ping_interval_ms;
    wc.close_ms = b->close_ms;
    wc.stage = b->bufs;
    wc.stage_cap = chunk;
    wc.backlog = b->bufs + chunk;
    wc.backlog_cap = backlog;
    wc.rand = cfg->rand;
    wc.sink = &be_sink_ops;
    wc.sink_cookie = b;
    if ((err = ws_conn_init(&b->ws, &wc, loop_now_ms(l))) != 0)
        goto err2;
    if ((err = be_keep_protocols(b->hs, cfg)) != 0)
        goto err2;
    http_resp_config_defaults(&rc);
    rc.max_head = sizeof(b->hs->headbuf);
    if (http_resp_init(&b->hs->parser, &rc, b->hs->headbuf, sizeof(b->hs->headbuf), &be_hs_ops,
                       b) != 0 ||
        http_resp_begin(&b->hs->parser, 0) != 0) {
        err = -EINVAL;
        goto err2;
    }

    /* The request, with a fresh key. */
    memset(&hc, 0, sizeof(hc));
    hc.host = cfg->host;
    hc.target = cfg->target;
    hc.origin = cfg->origin;
    hc.protocols = cfg->protocols;
    hc.nprotocols = cfg->nprotocols;
    hc.headers = cfg->headers;
    hc.nheaders = cfg->nheaders;
    if ((err = rand_bytes(cfg->rand, nonce, sizeof(nonce))) != 0)
        goto err2;
    req_cap = be_request_size(cfg);
    req = malloc(req_cap);
    if (req == NULL) {
        err = -ENOMEM;
        goto err2;
    }
    n = ws_handshake_client_request(req, req_cap, &hc, nonce, b->hs->key);
    if (n < 0) {
        err = -EINVAL;
        goto err3;
    }
    if ((err = loop_connect(l, cfg->addr, cfg->addrlen, 0, &be_conn_ops, b, &b->conn)) != 0)
        goto err3;
    b->out_limit = cfg->out_limit ? cfg->out_limit : AG_WS_BACKEND_DEFAULT_OUT_LIMIT;
    loop_conn_set_out_limit(b->conn, b->out_limit);
    if ((err = loop_conn_write(b->conn, req, (size_t)n)) != 0) {
        /* The connection exists: let the loop take it down. No callback
         * reaches the owner, who sees the error here. */
        b->state = BE_ST_DEAD;
        loop_conn_close(b->conn, LOOP_CLOSE_ABORT, 0);
        free(req);
        return err;
    }
    free(req);
    be_arm(b);
    *out = b;
    return 0;

err3:
    free(req);
err2:
    free(b->hs);
err1:
    free(b);
    return err;
}

int ag_ws_backend_send(struct ag_ws_backend *b, unsigned opcode, const uint8_t *p, size_t n,
                       int fin)
{
    int rc;

    if (b->state != BE_ST_OPEN)
        return -EPIPE;
    rc = ws_conn_send(&b->ws, opcode, p, n, fin);
    if (rc == -ENOBUFS) {
        log_emit(LOG_WARN, "ws_backend_overflow", LOG_STR("what", "output limit"),
                 LOG_UINT("pending", loop_conn_pending(b->conn)));
        be_finish(b, AG_WS_BACKEND_E_OVERFLOW, 0, LOOP_CLOSE_ABORT);
    }
    return rc;
}

int ag_ws_backend_close(struct ag_ws_backend *b, unsigned code, struct span reason)
{
    int rc;

    if (b->state == BE_ST_OPENING) {
        be_hs_free(b);
        be_finish(b, -ECANCELED, 0, LOOP_CLOSE_ABORT);
        return 0;
    }
    if (b->state != BE_ST_OPEN)
        return -EPIPE;
    rc = ws_conn_close(&b->ws, code, reason, loop_now_ms(b->loop));
    if (rc == -ENOBUFS) {
        be_finish(b, AG_WS_BACKEND_E_OVERFLOW, 0, LOOP_CLOSE_ABORT);
        return 0;
    }
    if (rc != 0)
        return rc;
    /* Our answer to the app's Close ends it; the app may have sent its FIN
     * already. Otherwise wait for its answer. */
    if (ws_conn_closed(&b->ws))
        be_finish(b, 0, 0, LOOP_CLOSE_FLUSH);
    else
        be_arm(b);
    return 0;
}

void ag_ws_backend_abort(struct ag_ws_backend *b)
{
    if (b->state == BE_ST_DEAD)
        return;
    be_hs_free(b);
    loop_timer_stop(b->loop, &b->timer);
    b->state = BE_ST_DEAD;
    loop_conn_close(b->conn, LOOP_CLOSE_ABORT, 0); /* also cuts a FLUSH close short */
}

void ag_ws_backend_resume(struct ag_ws_backend *b)
{
    if (b->state != BE_ST_OPEN || !b->paused)
        return;
    if (b->in_feed) {
        b->resume_wanted = 1;
        return;
    }
    be_ws_input(b, NULL, 0);
    if (b->state == BE_ST_OPEN)
        be_arm(b);
}

size_t ag_ws_backend_pending(const struct ag_ws_backend *b)
{
    return b->state == BE_ST_OPEN ? loop_conn_pending(b->conn) : 0;
}

int ag_ws_backend_congested(const struct ag_ws_backend *b)
{
    return ag_ws_backend_pending(b) > b->out_limit / 2;
}
