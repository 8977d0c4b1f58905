/*
 * gateway/gw_worker.c — one worker: its loop, NATS client, listener, reply
 * subscription, connection slots, and its part of a drain.
 *
 * Replies find their exchange without a table lookup: the first
 * GW_ID_SLOT_CHARS characters of a request id name the connection slot
 * (in the id alphabet), the other 19 are random. The whole id is compared
 * with the slot's current exchange, so a late reply for an exchange that
 * is over (the slot serving another one by now) is dropped.
 */
#include "gw_internal.h"

#include "core/log.h"
#include "core/units.h"
#include "proto/h8s_wire.h"
#include "proto/nats_parse.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#define GW_NATS_OUT_LIMIT (32u * 1024 * 1024)
#define GW_NATS_DRAIN_MS 2000

/* ------------------------------------------------------------ slots */

struct gw_conn *gw_worker_slot_get(struct gw_worker *w)
{
    if (w->nfree == 0)
        return NULL;
    uint32_t idx = w->free_slots[--w->nfree];
    struct gw_conn *c = w->conns[idx];
    if (!c) {
        /* One allocation per slot, kept for the worker's life: a new
         * connection on a used slot allocates nothing. */
        size_t stash = GW_STASH_CAP;
        c = calloc(1, sizeof(*c) + w->cfg->max_header + stash);
        if (!c) {
            w->free_slots[w->nfree++] = idx;
            return NULL;
        }
        c->head_buf = (uint8_t *)(c + 1);
        c->stash = c->head_buf + w->cfg->max_header;
        c->stash_cap = stash;
        c->idx = idx;
        c->w = w;
        w->conns[idx] = c;
    }
    return c;
}

void gw_worker_slot_put(struct gw_worker *w, struct gw_conn *c)
{
    c->lc = NULL;
    w->free_slots[w->nfree++] = c->idx;
}

/* -------------------------------------------------------------- NATS */

int gw_worker_publish(struct gw_worker *w, struct span subject, struct span reply,
                      struct span hdr, struct span payload)
{
    if (!w->nc)
        return NATS_E_CLOSED; /* tearing down */
    int rc = nats_client_publish(w->nc, subject, reply, hdr, payload);
    if (rc < 0 && rc != NATS_E_AGAIN)
        log_emit(LOG_WARN, "nats_publish_failed", LOG_UINT("worker", w->id),
                 LOG_STR("error", nats_client_strerror(rc)),
                 LOG_STRN("subject", subject.p, subject.n));
    return rc;
}

static void set_limits(struct gw_worker *w)
{
    const struct nats_info *info = nats_client_server_info(w->nc);
    if (info && info->max_payload > 0)
        w->max_payload = info->max_payload;
    w->window = w->max_payload > GW_WINDOW_MIN ? w->max_payload : GW_WINDOW_MIN;
    w->out_limit = (size_t)(2 * w->window + 256 * 1024);
}

static void on_nats_connected(struct nats_client *nc, void *cookie)
{
    struct gw_worker *w = cookie;
    w->nats_up = true;
    set_limits(w);
    log_emit(LOG_DEBUG, "worker_nats_up", LOG_UINT("worker", w->id),
             LOG_STR("server", nats_client_server_addr(nc)),
             LOG_UINT("max_payload", w->max_payload));
}

static void on_nats_disconnected(struct nats_client *nc, int err, void *cookie)
{
    struct gw_worker *w = cookie;
    w->nats_up = false;
    log_emit(LOG_WARN, "nats_disconnected", LOG_UINT("worker", w->id),
             LOG_STR("server", nats_client_server_addr(nc)),
             LOG_STR("error", nats_client_strerror(err)));
}

static void on_nats_drained(struct nats_client *nc, void *cookie)
{
    struct gw_worker *w = cookie;
    (void)nc;
    for (uint32_t i = 0; i < w->max_conns; i++) {
        struct gw_conn *c = w->conns[i];
        if (c && c->lc && c->x.active && c->x.want_nats_drain) {
            c->x.want_nats_drain = false;
            gw_body_pump(c);
        }
    }
}

static void on_nats_closed(struct nats_client *nc, void *cookie)
{
    struct gw_worker *w = cookie;
    (void)nc;
    if (w->draining) {
        w->drained = true;
        loop_stop(w->l);
    }
}

static void on_nats_error(struct nats_client *nc, int err, struct span text, void *cookie)
{
    struct gw_worker *w = cookie;
    (void)nc;
    log_emit(LOG_WARN, "nats_error", LOG_UINT("worker", w->id),
             LOG_STR("error", nats_client_strerror(err)), LOG_STRN("text", text.p, text.n));
}

static const struct nats_client_events nats_events = {
    .on_connected = on_nats_connected,
    .on_disconnected = on_nats_disconnected,
    .on_reconnected = on_nats_connected,
    .on_closed = on_nats_closed,
    .on_drained = on_nats_drained,
    .on_error = on_nats_error,
};

static int slot_of(const uint8_t *id, uint32_t *idx)
{
    uint32_t v = 0;
    for (size_t i = 0; i < GW_ID_SLOT_CHARS; i++) {
        const char *a = memchr(RAND_ID_ALPHABET, id[i], sizeof(RAND_ID_ALPHABET) - 1);
        if (!a)
            return -1;
        v = v * 62 + (uint32_t)(a - RAND_ID_ALPHABET);
    }
    *idx = v;
    return 0;
}

static void on_reply(struct nats_client *nc, struct nats_sub *sub, const struct nats_msg *m,
                     void *cookie)
{
    struct gw_worker *w = cookie;
    struct span tok;
    uint32_t idx;
    (void)nc;
    (void)sub;
    if (!subject_reply_match(m->subject, span_cstr(w->gw_id), &tok) || tok.n != RAND_ID_LEN ||
        slot_of(tok.p, &idx) < 0 || idx >= w->max_conns)
        return;
    struct gw_conn *c = w->conns[idx];
    if (!c || !c->lc || !c->x.active || memcmp(c->x.req_id, tok.p, RAND_ID_LEN) != 0) {
        log_emit(LOG_DEBUG, "reply_dropped", LOG_UINT("worker", w->id),
                 LOG_STRN("subject", m->subject.p, m->subject.n));
        return;
    }
    gw_xchg_reply(c, m);
}

static void on_interest(struct nats_client *nc, struct nats_sub *sub, const struct nats_msg *m,
                        void *cookie)
{
    struct gw_worker *w = cookie;
    (void)nc;
    (void)sub;
    if (gw_interest_msg(&w->interest, loop_now_ms(w->l), m->subject, m->payload) < 0)
        log_emit(LOG_DEBUG, "interest_ignored", LOG_UINT("worker", w->id),
                 LOG_STRN("subject", m->subject.p, m->subject.n));
}

/* ------------------------------------------------------------- drain */

static void finish_drain(struct gw_worker *w)
{
    if (w->stopping)
        return;
    w->stopping = true;
    loop_timer_stop(w->l, &w->drain_timer);
    if (nats_client_drain(w->nc, GW_NATS_DRAIN_MS) < 0)
        loop_stop(w->l);
}

static void on_drain_timeout(struct loop *l, struct loop_timer *t)
{
    struct gw_worker *w = LOOP_CONTAINER_OF(t, struct gw_worker, drain_timer);
    (void)l;
    log_emit(LOG_WARN, "drain_timeout", LOG_UINT("worker", w->id),
             LOG_UINT("connections", w->nconns));
    for (uint32_t i = 0; i < w->max_conns; i++) {
        struct gw_conn *c = w->conns[i];
        if (c && c->lc && !c->closing) {
            if (c->x.active)
                gw_xchg_abort(c, H8S_REASON_TIMEOUT, 503);
            gw_conn_close(c, false);
        }
    }
    if (w->nconns == 0)
        finish_drain(w);
}

void gw_worker_drain(struct gw_worker *w)
{
    if (w->draining)
        return;
    w->draining = true;
    if (w->ls) {
        loop_listener_close(w->ls);
        w->ls = NULL;
    }
    for (uint32_t i = 0; i < w->max_conns; i++) {
        struct gw_conn *c = w->conns[i];
        if (c && c->lc && !c->closing)
            gw_conn_drain(c);
    }
    if (w->nconns == 0) {
        finish_drain(w);
        return;
    }
    loop_timer_start(w->l, &w->drain_timer, (uint64_t)(w->cfg->drain_timeout_ns / UNITS_MS));
}

void gw_worker_conn_gone(struct gw_worker *w)
{
    w->nconns--;
    if (w->draining && w->nconns == 0)
        finish_drain(w);
}

/* Another thread asked: drain (first time) or stop at once (after). */
static void on_wakeup(struct loop *l, void *arg)
{
    struct gw_worker *w = arg;
    if (atomic_load(&w->gw->stop_now) || w->draining)
        loop_stop(l);
    else
        gw_worker_drain(w);
}

/* ------------------------------------------------------------ accept */

static void on_accept(struct loop_listener *ls, struct loop_conn *lc, int err)
{
    struct gw_worker *w = loop_listener_cookie(ls);
    if (err < 0) {
        log_emit(LOG_WARN, "accept_failed", LOG_UINT("worker", w->id), LOG_ERRNO("error", err));
        return;
    }
    if (w->draining)
        return; /* left without ops: the loop closes it */
    gw_conn_accept(w, lc);
}

/* ------------------------------------------------------------- setup */

static int setup(struct gw_worker *w)
{
    const struct gw_config *cfg = w->cfg;
    struct loop_config lcfg;
    char err[256];
    int rc;

    rand_pool_init(&w->rnd);
    if ((rc = rand_id(&w->rnd, w->gw_id, RAND_ID_LEN)) < 0) {
        log_emit(LOG_ERROR, "startup_failed", LOG_STR("reason", "no random id"),
                 LOG_ERRNO("error", rc));
        return rc;
    }
    loop_config_defaults(&lcfg);
    lcfg.max_conns = (unsigned)cfg->max_conns + 8; /* + the NATS connection */
    lcfg.recv_buf_size = GW_STASH_CAP;             /* one receive always fits the stash */
    if ((rc = daemon_loop_create(&w->l, &lcfg)) < 0)
        return rc;
    loop_timer_init(&w->drain_timer, on_drain_timeout);
    loop_set_wakeup(w->l, on_wakeup, w);

    w->max_conns = (uint32_t)cfg->max_conns;
    w->scratch_cap = H8S_REQ_ENCODE_BUFSZ;
    w->scratch = malloc(w->scratch_cap);
    w->conns = calloc(w->max_conns, sizeof(*w->conns));
    w->free_slots = malloc(w->max_conns * sizeof(*w->free_slots));
    if (!w->scratch || !w->conns || !w->free_slots)
        return -ENOMEM;
    for (uint32_t i = 0; i < w->max_conns; i++)
        w->free_slots[i] = w->max_conns - 1 - i;
    w->nfree = w->max_conns;
    if (cfg->track_interest && (rc = gw_interest_init(&w->interest)) < 0)
        return rc;

    w->max_payload = NATS_PARSE_DEFAULT_MAX_PAYLOAD;
    w->window = GW_WINDOW_MIN;
    w->out_limit = (size_t)(2 * w->window + 256 * 1024);

    struct nats_client_config ncfg;
    nats_client_config_defaults(&ncfg);
    if ((rc = nats_flags_config(&cfg->nats, &ncfg)) < 0) {
        log_emit(LOG_ERROR, "startup_failed", LOG_STR("reason", "--nats-cert and --nats-key go together"));
        return rc;
    }
    if (!ncfg.name)
        ncfg.name = "h8sd";
    ncfg.out_limit = GW_NATS_OUT_LIMIT;
    ncfg.echo = false;
    ncfg.events = &nats_events;
    ncfg.cookie = w;
    if ((rc = nats_client_create(&w->nc, w->l, &ncfg, err, sizeof(err))) < 0) {
        log_emit(LOG_ERROR, "startup_failed", LOG_STR("reason", err));
        return rc;
    }
    uint8_t sub[SUBJECT_REPLY_MAX];
    int n = subject_reply_wildcard(sub, sizeof(sub), span_cstr(w->gw_id));
    if (n < 0 || (rc = nats_client_subscribe(w->nc, span_make(sub, (size_t)n), span_make(NULL, 0),
                                             on_reply, w, NULL)) < 0)
        return n < 0 ? -EINVAL : rc;
    if (cfg->track_interest &&
        (rc = nats_client_subscribe(w->nc, SPAN_LIT(SUBJECT_INTEREST_WILDCARD),
                                    span_make(NULL, 0), on_interest, w, NULL)) < 0)
        return rc;
    if ((rc = nats_client_connect(w->nc)) < 0)
        return rc;

    rc = loop_listen(w->l, (const struct sockaddr *)&cfg->addr, cfg->addrlen,
                     LOOP_LISTEN_REUSEPORT, on_accept, w, &w->ls);
    if (rc < 0) {
        log_emit(LOG_ERROR, "startup_failed", LOG_STR("reason", "cannot listen"),
                 LOG_STR("listen", cfg->listen), LOG_ERRNO("error", rc));
        return rc;
    }
    if (w->id == 0) {
        /* With port 0 the kernel picked one; the other workers join it. */
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        uint16_t port = 0;
        if (loop_listener_addr(w->ls, &ss, &len) == 0) {
            if (ss.ss_family == AF_INET)
                port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
            else
                port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
            struct gw_config *wcfg = &w->gw->cfg; /* no other thread runs yet */
            if (wcfg->addr.ss_family == AF_INET)
                ((struct sockaddr_in *)&wcfg->addr)->sin_port = htons(port);
            else
                ((struct sockaddr_in6 *)&wcfg->addr)->sin6_port = htons(port);
        }
        log_emit(LOG_INFO, "listening", LOG_STR("listen", cfg->listen), LOG_UINT("port", port),
                 LOG_UINT("workers", w->gw->nworkers));
    }
    return 0;
}

/* Thread start-up handshake: the main thread waits for each worker's setup. */
struct start {
    struct gw_worker *w;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, rc;
};

static void *worker_main(void *arg)
{
    struct start *st = arg;
    struct gw_worker *w = st->w;
    int rc = setup(w);
    pthread_mutex_lock(&st->mu);
    st->rc = rc;
    st->done = 1;
    pthread_cond_signal(&st->cv);
    pthread_mutex_unlock(&st->mu);
    /* st is gone once signalled. */
    if (rc == 0) {
        rc = loop_run(w->l);
        if (rc < 0)
            log_emit(LOG_ERROR, "loop_failed", LOG_UINT("worker", w->id), LOG_ERRNO("error", rc));
    }
    return NULL;
}

int gw_worker_start(struct gw *gw, unsigned id)
{
    struct gw_worker *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->gw = gw;
    w->cfg = &gw->cfg;
    w->id = id;
    gw->workers[id] = w;
    if (id == 0)
        return setup(w);

    struct start st = {.w = w};
    pthread_mutex_init(&st.mu, NULL);
    pthread_cond_init(&st.cv, NULL);
    int rc = pthread_create(&w->th, NULL, worker_main, &st);
    if (rc != 0) {
        pthread_mutex_destroy(&st.mu);
        pthread_cond_destroy(&st.cv);
        return -rc;
    }
    w->thread_started = true;
    pthread_mutex_lock(&st.mu);
    while (!st.done)
        pthread_cond_wait(&st.cv, &st.mu);
    rc = st.rc;
    pthread_mutex_unlock(&st.mu);
    pthread_mutex_destroy(&st.mu);
    pthread_cond_destroy(&st.cv);
    return rc;
}

void gw_worker_free(struct gw_worker *w)
{
    if (!w)
        return;
    /* Connections still open are torn down by loop_destroy; with stopping
     * set their close callbacks publish nothing on the client freed first. */
    w->stopping = true;
    w->draining = true;
    if (w->nc)
        nats_client_destroy(w->nc);
    w->nc = NULL;
    if (w->l)
        loop_destroy(w->l);
    if (w->conns) {
        for (uint32_t i = 0; i < w->max_conns; i++) {
            if (w->conns[i])
                gw_body_free(w->conns[i]);
            free(w->conns[i]);
        }
    }
    if (w->cfg->track_interest)
        gw_interest_free(&w->interest);
    free(w->conns);
    free(w->free_slots);
    free(w->scratch);
    free(w);
}
