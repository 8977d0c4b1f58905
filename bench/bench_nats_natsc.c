/*
 * bench/bench_nats_natsc.c — one `make bench-nats` measurement with nats.c
 * (libnats), the reference the issue compares us with. Command line and
 * output: bench_nats.h.
 *
 * The same shape as bench_nats_h8s.c, written the way nats.c is meant to
 * be used: a normal asynchronous subscription (the library's reader and
 * delivery threads), natsConnection_Publish in a loop then a Flush for
 * the publisher, and for request/reply the asynchronous pattern (one
 * wildcard inbox subscription, PublishRequest from its callback) so that
 * INFLIGHT requests stay outstanding on one connection. Default options,
 * except for lat: natsOptions_SetSendAsap(true) on both connections, the
 * library's lowest-latency setting. A disconnect or a slow-consumer error
 * makes the run invalid (reconnecting is off so nothing is hidden).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <nats/nats.h>

#include "bench/bench_nats.h"

/* Counts what the connection-level callbacks reported. */
struct node {
    natsConnection *nc;
    atomic_int disconnects;
    atomic_int errors;
    atomic_bool closing; /* our own close: its disconnect is no failure */
};

static void on_disconnected(natsConnection *nc, void *closure)
{
    struct node *n = closure;
    (void)nc;
    if (atomic_load(&n->closing))
        return;
    atomic_fetch_add(&n->disconnects, 1);
    fprintf(stderr, "bench_nats_natsc: disconnected\n");
}

static void on_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
    struct node *n = closure;
    (void)nc;
    (void)sub;
    atomic_fetch_add(&n->errors, 1);
    fprintf(stderr, "bench_nats_natsc: error: %s\n", natsStatus_GetText(err));
}

static int node_open(struct node *n, const char *url, const char *name, bool send_asap)
{
    natsOptions *o = NULL;
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK)
        s = natsOptions_SetURL(o, url);
    if (s == NATS_OK)
        s = natsOptions_SetName(o, name);
    if (s == NATS_OK)
        s = natsOptions_SetAllowReconnect(o, false);
    if (s == NATS_OK)
        s = natsOptions_SetErrorHandler(o, on_error, n);
    if (s == NATS_OK)
        s = natsOptions_SetDisconnectedCB(o, on_disconnected, n);
    if (s == NATS_OK && send_asap)
        s = natsOptions_SetSendAsap(o, true);
    if (s == NATS_OK)
        s = natsConnection_Connect(&n->nc, o);
    natsOptions_Destroy(o);
    if (s != NATS_OK) {
        fprintf(stderr, "bench_nats_natsc: connect %s: %s\n", url, natsStatus_GetText(s));
        n->nc = NULL;
        return -1;
    }
    return 0;
}

static void node_close(struct node *n)
{
    if (n->nc == NULL)
        return;
    atomic_store(&n->closing, true);
    natsConnection_Close(n->nc);
    natsConnection_Destroy(n->nc);
    n->nc = NULL;
}

static bool node_failed(struct node *n)
{
    return atomic_load(&n->disconnects) > 0 || atomic_load(&n->errors) > 0;
}

/* Progress counters written by one callback thread, polled by main. */
static inline void bump(atomic_uint_fast64_t *v)
{
    atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

/* Lets the main thread sleep until a callback thread reports the end. */
struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* on CLOCK_MONOTONIC */
};

static int waiter_init(struct waiter *w)
{
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        return -1;
    int rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (rc == 0 && pthread_mutex_init(&w->mu, NULL) != 0) {
        pthread_cond_destroy(&w->cv);
        rc = -1;
    }
    return rc == 0 ? 0 : -1;
}

static void waiter_destroy(struct waiter *w)
{
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
}

/* Call after setting the flag the main thread waits for. */
static void waiter_wake(struct waiter *w)
{
    pthread_mutex_lock(&w->mu);
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/*
 * Waits until *finished, a failure, BENCH_DEADLINE_S in total, or
 * BENCH_IDLE_S without *progress moving. Failures reported by the
 * connection callbacks are noticed within 100 ms. Returns the note for an
 * unfinished wait, NULL when finished.
 */
static const char *wait_done(struct waiter *w, atomic_bool *finished,
                             atomic_uint_fast64_t *progress, struct node *a, struct node *b)
{
    uint64_t start = bench_now_ns(), moved = start;
    uint64_t seen = atomic_load(progress);
    const char *note = NULL;
    pthread_mutex_lock(&w->mu);
    while (!atomic_load(finished)) {
        if (node_failed(a) || node_failed(b)) {
            note = "client_error";
            break;
        }
        uint64_t now = bench_now_ns();
        uint64_t p = atomic_load(progress);
        if (p != seen) {
            seen = p;
            moved = now;
        }
        if (now - start > BENCH_DEADLINE_S * 1000000000ull) {
            note = "deadline";
            break;
        }
        if (now - moved > BENCH_IDLE_S * 1000000000ull) {
            note = "messages_lost";
            break;
        }
        uint64_t until = now + 100000000ull;
        struct timespec ts = {(time_t)(until / 1000000000u), (long)(until % 1000000000u)};
        pthread_cond_timedwait(&w->cv, &w->mu, &ts);
    }
    pthread_mutex_unlock(&w->mu);
    return note;
}

/* ------------------------------------------------------------------ pub */

struct pub_run {
    const struct bench_args *a;
    struct waiter *w;
    atomic_uint_fast64_t received;
    atomic_uint_fast64_t bad;
    atomic_bool all_in;
    uint64_t t_first, t_last; /* delivery thread; read after all_in */
};

static void sub_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    struct pub_run *r = closure;
    (void)nc;
    (void)sub;
    if ((size_t)natsMsg_GetDataLength(msg) != r->a->size)
        bump(&r->bad);
    uint64_t n = atomic_load_explicit(&r->received, memory_order_relaxed);
    if (n == 0)
        r->t_first = bench_now_ns();
    atomic_store_explicit(&r->received, n + 1, memory_order_relaxed);
    if (n + 1 == r->a->count) {
        r->t_last = bench_now_ns();
        atomic_store(&r->all_in, true);
        waiter_wake(r->w);
    }
    natsMsg_Destroy(msg);
}

/* --------------------------------------------------------- reqrep, lat */

struct rr_run {
    const struct bench_args *a;
    struct waiter *w;
    const uint8_t *payload;
    struct node *req; /* failures count as its errors, which ends the wait */
    natsInbox *inbox;
    uint64_t warm, target;
    atomic_uint_fast64_t issued; /* main issues the first ones, callbacks the rest */
    atomic_uint_fast64_t done;   /* written by the reply callback only */
    atomic_uint_fast64_t t_sent; /* lat: the one request in flight */
    atomic_bool finished;
    atomic_int failed;
    uint64_t t_start, t_end;
    uint64_t *samples;
};

/*
 * Everything the library's threads may call back into. Lives until
 * nats_CloseAndWait has seen them all finish: closing and destroying a
 * connection does not wait for its callbacks.
 */
struct state {
    struct waiter w;
    struct node n[2]; /* subscriber or responder, publisher or requester */
    struct pub_run pub;
    struct rr_run rr;
    uint8_t *payload;
    uint64_t *samples; /* lat */
};

static void run_pub(const struct bench_args *a, struct state *st, struct bench_result *res)
{
    struct node *sub = &st->n[0], *pub = &st->n[1];
    struct pub_run *r = &st->pub;
    const uint8_t *payload = st->payload;
    natsSubscription *s = NULL;
    r->a = a;
    r->w = &st->w;
    res->note = "setup_failed";
    if (node_open(sub, a->url, "bench-sub", false) != 0 ||
        node_open(pub, a->url, "bench-pub", false) != 0)
        goto out;
    if (natsConnection_Subscribe(&s, sub->nc, a->pub_subj, sub_msg, r) != NATS_OK ||
        natsConnection_Flush(sub->nc) != NATS_OK)
        goto out;

    res->note = NULL;
    for (size_t i = 0; i < a->count; i++) {
        natsStatus ps = natsConnection_Publish(pub->nc, a->pub_subj, payload, (int)a->size);
        if (ps != NATS_OK) {
            fprintf(stderr, "bench_nats_natsc: publish: %s\n", natsStatus_GetText(ps));
            res->note = "publisher_error";
            break;
        }
    }
    if (res->note == NULL &&
        natsConnection_FlushTimeout(pub->nc, BENCH_DEADLINE_S * 1000) != NATS_OK)
        res->note = "publisher_error";
    if (res->note == NULL)
        res->note = wait_done(&st->w, &r->all_in, &r->received, sub, pub);
    if (res->note == NULL && (node_failed(sub) || node_failed(pub)))
        res->note = "client_error";
    if (res->note == NULL && atomic_load(&r->bad))
        res->note = "bad_payload";
    res->done = atomic_load(&r->received);
    if (res->note == NULL) {
        res->ok = 1;
        res->note = "-";
        res->secs = (double)(r->t_last - r->t_first) / 1e9;
        res->rate = res->secs > 0 ? (double)a->count / res->secs : 0;
    }
out:
    node_close(sub);
    natsSubscription_Destroy(s);
    node_close(pub);
}

static void resp_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    struct node *n = closure;
    (void)sub;
    natsStatus s = natsConnection_Publish(nc, natsMsg_GetReply(msg), natsMsg_GetData(msg),
                                          natsMsg_GetDataLength(msg));
    if (s != NATS_OK) {
        atomic_fetch_add(&n->errors, 1);
        fprintf(stderr, "bench_nats_natsc: respond: %s\n", natsStatus_GetText(s));
    }
    natsMsg_Destroy(msg);
}

static void rr_fail(struct rr_run *r, int why)
{
    int none = 0;
    if (atomic_compare_exchange_strong(&r->failed, &none, why)) {
        atomic_fetch_add(&r->req->errors, 1);
        waiter_wake(r->w);
    }
}

static int rr_issue(struct rr_run *r)
{
    char reply[256];
    uint64_t k = atomic_fetch_add(&r->issued, 1);
    snprintf(reply, sizeof(reply), "%s.%llu", r->inbox, (unsigned long long)k);
    if (r->samples)
        atomic_store_explicit(&r->t_sent, bench_now_ns(), memory_order_relaxed);
    natsStatus s = natsConnection_PublishRequest(r->req->nc, r->a->req_subj, reply, r->payload,
                                                 (int)r->a->size);
    if (s != NATS_OK) {
        fprintf(stderr, "bench_nats_natsc: request: %s\n", natsStatus_GetText(s));
        rr_fail(r, 1);
        return -1;
    }
    return 0;
}

static void rr_reply(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    struct rr_run *r = closure;
    uint64_t now = bench_now_ns();
    (void)nc;
    (void)sub;
    int len = natsMsg_GetDataLength(msg);
    natsMsg_Destroy(msg);
    if (atomic_load(&r->failed) || atomic_load(&r->finished))
        return;
    if ((size_t)len != r->a->size) {
        rr_fail(r, 2);
        return;
    }
    uint64_t done = atomic_load_explicit(&r->done, memory_order_relaxed) + 1;
    if (r->samples && done > r->warm)
        r->samples[done - r->warm - 1] =
            now - atomic_load_explicit(&r->t_sent, memory_order_relaxed);
    if (done == r->warm)
        r->t_start = now;
    if (done == r->target)
        r->t_end = now;
    atomic_store_explicit(&r->done, done, memory_order_relaxed);
    if (done == r->target) {
        atomic_store(&r->finished, true);
        waiter_wake(r->w);
        return;
    }
    if (atomic_load(&r->issued) < r->target)
        rr_issue(r);
}

static void run_rr(const struct bench_args *a, struct state *st, struct bench_result *res)
{
    struct node *resp = &st->n[0], *req = &st->n[1];
    struct rr_run *r = &st->rr;
    natsSubscription *rs = NULL, *is = NULL;
    bool asap = a->mode == BENCH_LAT;
    char wild[256];
    r->a = a;
    r->w = &st->w;
    r->payload = st->payload;
    r->warm = BENCH_WARMUP(a->count);
    r->target = r->warm + a->count;
    r->samples = st->samples;
    r->req = req;
    res->note = "setup_failed";
    if (node_open(resp, a->url, "bench-resp", asap) != 0 ||
        node_open(req, a->url, "bench-req", asap) != 0)
        goto out;
    if (natsInbox_Create(&r->inbox) != NATS_OK)
        goto out;
    snprintf(wild, sizeof(wild), "%s.*", r->inbox);
    if (natsConnection_Subscribe(&rs, resp->nc, a->req_subj, resp_msg, resp) != NATS_OK ||
        natsConnection_Flush(resp->nc) != NATS_OK ||
        natsConnection_Subscribe(&is, req->nc, wild, rr_reply, r) != NATS_OK ||
        natsConnection_Flush(req->nc) != NATS_OK)
        goto out;

    unsigned inflight = a->mode == BENCH_LAT ? 1 : a->inflight;
    if (r->warm == 0)
        r->t_start = bench_now_ns();
    for (unsigned i = 0; i < inflight && atomic_load(&r->issued) < r->target; i++)
        if (rr_issue(r) != 0)
            break;
    res->note = wait_done(&st->w, &r->finished, &r->done, resp, req);
    if (atomic_load(&r->failed))
        res->note = atomic_load(&r->failed) == 2 ? "bad_payload" : "request_error";
    else if (res->note == NULL && (node_failed(resp) || node_failed(req)))
        res->note = "client_error";
    uint64_t done = atomic_load(&r->done);
    res->done = done > r->warm ? done - r->warm : 0;
    if (res->note == NULL) {
        res->ok = 1;
        res->note = "-";
        res->secs = (double)(r->t_end - r->t_start) / 1e9;
        res->rate = res->secs > 0 ? (double)a->count / res->secs : 0;
        if (r->samples) {
            res->p50_us = bench_quantile_us(r->samples, a->count, 0.50, 0);
            res->p99_us = bench_quantile_us(r->samples, a->count, 0.99, 1);
        }
    }
out:
    node_close(req);
    natsSubscription_Destroy(is);
    node_close(resp);
    natsSubscription_Destroy(rs);
    natsInbox_Destroy(r->inbox);
    r->inbox = NULL;
}

int main(int argc, char **argv)
{
    struct bench_args a;
    struct bench_result res = {0};
    if (bench_parse_args(argc, argv, &a) != 0)
        return 2;
    if (bench_watchdog_start() != 0) {
        res.note = "no_watchdog";
        return bench_print_result(&res);
    }
    struct state *st = calloc(1, sizeof(*st));
    bool waiter = st && waiter_init(&st->w) == 0;
    if (!waiter || (st->payload = malloc(a.size)) == NULL ||
        (a.mode == BENCH_LAT && (st->samples = calloc(a.count, sizeof(uint64_t))) == NULL)) {
        res.note = "out_of_memory";
    } else {
        bench_fill(st->payload, a.size);
        if (a.mode == BENCH_PUB)
            run_pub(&a, st, &res);
        else
            run_rr(&a, st, &res);
    }
    int rc = bench_print_result(&res);
    /* The library's threads may still hold closures into st until then. */
    if (nats_CloseAndWait(10000) == NATS_OK && st) {
        if (waiter)
            waiter_destroy(&st->w);
        free(st->samples);
        free(st->payload);
        free(st);
    }
    return rc;
}
