/*
 * bench/bench_nats_h8s.c — one `make bench-nats` measurement with our
 * client (proto/nats_client.h). Command line and output: bench_nats.h.
 *
 * Each connection is one client on its own loop on its own thread: the
 * subscriber (responder) runs on a second thread, the publisher
 * (requester) on the main thread, as an application built on h8s would.
 * The publisher writes until the client says NATS_E_AGAIN (its output
 * queue is at out_limit) and resumes on on_drained: the client's own flow
 * control, with default settings throughout.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "bench/bench_nats.h"
#include "core/log.h"
#include "core/loop.h"
#include "proto/nats_client.h"

#define CONNECT_WAIT_MS 10000

/* One client on one loop, with what its events reported. */
struct node {
    struct loop *loop;
    struct nats_client *nc;
    bool up;
    int disconnects;
    int errors;
    int last_err;
    void (*on_drained)(struct node *n);
    void *owner;
};

static void ev_connected(struct nats_client *c, void *cookie)
{
    struct node *n = cookie;
    (void)c;
    n->up = true;
}

static void ev_disconnected(struct nats_client *c, int err, void *cookie)
{
    struct node *n = cookie;
    (void)c;
    n->disconnects++;
    n->last_err = err;
    fprintf(stderr, "bench_nats_h8s: disconnected: %s\n", nats_client_strerror(err));
}

static void ev_error(struct nats_client *c, int err, struct span text, void *cookie)
{
    struct node *n = cookie;
    (void)c;
    n->errors++;
    n->last_err = err;
    fprintf(stderr, "bench_nats_h8s: error: %s %.*s\n", nats_client_strerror(err), (int)text.n,
            (const char *)text.p);
}

static void ev_drained(struct nats_client *c, void *cookie)
{
    struct node *n = cookie;
    (void)c;
    if (n->on_drained)
        n->on_drained(n);
}

static const struct nats_client_events node_events = {
    .on_connected = ev_connected,
    .on_disconnected = ev_disconnected,
    .on_error = ev_error,
    .on_drained = ev_drained,
};

/* Runs n's loop until *flag is set or deadline (ns) passes. */
static bool node_run_until(struct node *n, const bool *flag, uint64_t deadline)
{
    while (!*flag) {
        if (bench_now_ns() > deadline)
            return false;
        if (loop_run_once(n->loop, 50) < 0)
            return false;
    }
    return true;
}

static void node_close(struct node *n)
{
    nats_client_destroy(n->nc);
    loop_destroy(n->loop);
    n->nc = NULL;
    n->loop = NULL;
}

/* Creates the loop and the client on the calling thread and connects. */
static int node_open(struct node *n, const char *url, const char *name)
{
    char err[256];
    int rc = loop_create(&n->loop, NULL, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "bench_nats_h8s: loop: %s\n", err);
        return -1;
    }
    struct nats_client_config cfg;
    nats_client_config_defaults(&cfg);
    cfg.urls = url;
    cfg.name = name;
    cfg.events = &node_events;
    cfg.cookie = n;
    /* A benchmark run must fail, not silently reconnect and go on. */
    cfg.max_reconnects = 0;
    rc = nats_client_create(&n->nc, n->loop, &cfg, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "bench_nats_h8s: client: %s\n", err);
        goto fail;
    }
    if (nats_client_connect(n->nc) != 0 ||
        !node_run_until(n, &n->up, bench_now_ns() + CONNECT_WAIT_MS * 1000000ull)) {
        fprintf(stderr, "bench_nats_h8s: cannot connect to %s\n", url);
        goto fail;
    }
    return 0;
fail:
    node_close(n);
    return -1;
}

struct flush_wait {
    bool done;
    int err;
};

static void flush_done(struct nats_client *c, int err, void *cookie)
{
    struct flush_wait *f = cookie;
    (void)c;
    f->done = true;
    f->err = err;
}

/* Round trip to the server: everything sent before (a SUB) is in effect. */
static int node_flush(struct node *n)
{
    struct flush_wait f = {false, 0};
    if (nats_client_flush(n->nc, CONNECT_WAIT_MS, flush_done, &f) != 0 ||
        !node_run_until(n, &f.done, bench_now_ns() + CONNECT_WAIT_MS * 1000000ull) || f.err)
        return -1;
    return 0;
}

/* Thread states shared between the main thread and the second one. */
enum { PEER_STARTING, PEER_READY, PEER_FAILED, PEER_DONE };

/* ------------------------------------------------------------------ pub */

struct pub_run {
    const struct bench_args *a;
    const uint8_t *payload;
    atomic_int sub_state;
    atomic_bool pub_done; /* the publisher sent and flushed everything */
    atomic_bool stop;     /* the main thread gave up */

    /* Subscriber thread only (read by main after the join). */
    struct node sub;
    uint64_t received, bad;
    uint64_t t_first, t_last;
    bool all_in;

    /* Publisher, main thread. */
    struct node pub;
    uint64_t sent;
    int pub_err;
    struct flush_wait flushed;
    bool flush_started;
};

static void sub_msg(struct nats_client *c, struct nats_sub *s, const struct nats_msg *m,
                    void *cookie)
{
    struct pub_run *r = cookie;
    (void)c;
    (void)s;
    if (m->payload.n != r->a->size)
        r->bad++;
    if (r->received++ == 0)
        r->t_first = bench_now_ns();
    if (r->received == r->a->count) {
        r->t_last = bench_now_ns();
        r->all_in = true;
    }
}

static void *sub_thread(void *arg)
{
    struct pub_run *r = arg;
    if (node_open(&r->sub, r->a->url, "bench-sub") != 0) {
        atomic_store(&r->sub_state, PEER_FAILED);
        return NULL;
    }
    if (nats_client_subscribe(r->sub.nc, span_cstr(r->a->pub_subj), span_make(NULL, 0), sub_msg,
                              r, NULL) != 0 ||
        node_flush(&r->sub) != 0) {
        node_close(&r->sub);
        atomic_store(&r->sub_state, PEER_FAILED);
        return NULL;
    }
    atomic_store(&r->sub_state, PEER_READY);
    uint64_t deadline = bench_now_ns() + BENCH_DEADLINE_S * 1000000000ull;
    uint64_t seen = 0, progress = bench_now_ns();
    while (!r->all_in && !atomic_load(&r->stop) && r->sub.disconnects == 0) {
        if (loop_run_once(r->sub.loop, 50) < 0)
            break;
        uint64_t now = bench_now_ns();
        if (r->received != seen) {
            seen = r->received;
            progress = now;
        }
        /* Once everything is sent, a long silence means messages were lost. */
        if (now > deadline ||
            (atomic_load(&r->pub_done) && now - progress > BENCH_IDLE_S * 1000000000ull))
            break;
    }
    node_close(&r->sub);
    atomic_store(&r->sub_state, PEER_DONE);
    return NULL;
}

static void pub_more(struct node *n)
{
    struct pub_run *r = n->owner;
    struct span subj = span_cstr(r->a->pub_subj), none = span_make(NULL, 0);
    struct span payload = span_make(r->payload, r->a->size);
    while (r->sent < r->a->count) {
        int rc = nats_client_publish(n->nc, subj, none, none, payload);
        if (rc == NATS_E_AGAIN)
            return; /* on_drained brings us back */
        if (rc != 0) {
            fprintf(stderr, "bench_nats_h8s: publish: %s\n", nats_client_strerror(rc));
            r->pub_err = rc;
            return;
        }
        r->sent++;
    }
    if (!r->flush_started) {
        r->flush_started = true;
        if (nats_client_flush(n->nc, BENCH_DEADLINE_S * 1000, flush_done, &r->flushed) != 0)
            r->pub_err = NATS_E_DISCONNECTED;
    }
}

static int run_pub(const struct bench_args *a, struct bench_result *res)
{
    struct pub_run *r = calloc(1, sizeof(*r));
    uint8_t *payload = malloc(a->size);
    pthread_t th;
    if (r == NULL || payload == NULL)
        goto nomem;
    bench_fill(payload, a->size);
    r->a = a;
    r->payload = payload;
    atomic_init(&r->sub_state, PEER_STARTING);
    atomic_init(&r->pub_done, false);
    atomic_init(&r->stop, false);
    r->pub.on_drained = pub_more;
    r->pub.owner = r;
    res->note = "setup_failed";
    if (pthread_create(&th, NULL, sub_thread, r) != 0)
        goto nomem;
    if (node_open(&r->pub, a->url, "bench-pub") != 0)
        goto out;
    uint64_t deadline = bench_now_ns() + CONNECT_WAIT_MS * 1000000ull;
    while (atomic_load(&r->sub_state) == PEER_STARTING && bench_now_ns() < deadline)
        loop_run_once(r->pub.loop, 1);
    if (atomic_load(&r->sub_state) != PEER_READY)
        goto out;

    deadline = bench_now_ns() + BENCH_DEADLINE_S * 1000000000ull;
    pub_more(&r->pub);
    /* The subscriber may see the last message before our PONG is back:
     * its thread ending is no reason to stop waiting for the flush. */
    while (!r->flushed.done && r->pub_err == 0 && r->pub.disconnects == 0 &&
           bench_now_ns() < deadline) {
        if (loop_run_once(r->pub.loop, 50) < 0)
            break;
    }
    atomic_store(&r->pub_done, true);
    res->note = "-";
out:
    if (!r->flushed.done || r->flushed.err != 0)
        atomic_store(&r->stop, true);
    pthread_join(th, NULL);
    if (r->pub.disconnects || r->pub.errors || r->pub_err || r->flushed.err)
        res->note = "publisher_error";
    else if (r->sub.disconnects || r->sub.errors)
        res->note = "subscriber_error";
    else if (r->bad)
        res->note = "bad_payload";
    else if (r->sub_state == PEER_DONE && !r->all_in && r->flushed.done)
        res->note = "messages_lost";
    else if (!r->flushed.done && strcmp(res->note, "-") == 0)
        res->note = "deadline";
    res->done = r->received;
    if (r->all_in && strcmp(res->note, "-") == 0) {
        res->ok = 1;
        res->secs = (double)(r->t_last - r->t_first) / 1e9;
        res->rate = res->secs > 0 ? (double)a->count / res->secs : 0;
    }
    if (r->pub.nc)
        node_close(&r->pub);
    free(payload);
    free(r);
    return 0;
nomem:
    free(payload);
    free(r);
    return -1;
}

/* --------------------------------------------------------- reqrep, lat */

struct rr_run {
    const struct bench_args *a;
    const uint8_t *payload;
    atomic_int resp_state;
    atomic_bool stop;

    /* Responder thread only. */
    struct node resp;
    int resp_err;

    /* Requester, main thread. */
    struct node req;
    uint64_t warm, target; /* warm-up requests, warm-up + counted */
    uint64_t issued, done;
    uint64_t t_start, t_end;
    uint64_t t_sent;   /* lat: when the one request in flight went out */
    uint64_t *samples; /* lat: count round trips, ns */
    int err;
    const char *note;
    bool finished;
};

static void resp_msg(struct nats_client *c, struct nats_sub *s, const struct nats_msg *m,
                     void *cookie)
{
    struct rr_run *r = cookie;
    (void)s;
    int rc = nats_client_publish(c, m->reply, span_make(NULL, 0), span_make(NULL, 0), m->payload);
    if (rc != 0 && r->resp_err == 0) {
        fprintf(stderr, "bench_nats_h8s: respond: %s\n", nats_client_strerror(rc));
        r->resp_err = rc;
    }
}

static void *resp_thread(void *arg)
{
    struct rr_run *r = arg;
    if (node_open(&r->resp, r->a->url, "bench-resp") != 0) {
        atomic_store(&r->resp_state, PEER_FAILED);
        return NULL;
    }
    if (nats_client_subscribe(r->resp.nc, span_cstr(r->a->req_subj), span_make(NULL, 0),
                              resp_msg, r, NULL) != 0 ||
        node_flush(&r->resp) != 0) {
        node_close(&r->resp);
        atomic_store(&r->resp_state, PEER_FAILED);
        return NULL;
    }
    atomic_store(&r->resp_state, PEER_READY);
    while (!atomic_load(&r->stop) && r->resp.disconnects == 0)
        if (loop_run_once(r->resp.loop, 50) < 0)
            break;
    node_close(&r->resp);
    atomic_store(&r->resp_state, PEER_DONE);
    return NULL;
}

static void rr_reply(struct nats_client *c, int err, const struct nats_msg *m, void *cookie);

static int rr_issue(struct rr_run *r)
{
    r->issued++;
    if (r->samples)
        r->t_sent = bench_now_ns();
    int rc = nats_client_request(r->req.nc, span_cstr(r->a->req_subj), span_make(NULL, 0),
                                 span_make(r->payload, r->a->size), BENCH_REQ_TIMEOUT_MS,
                                 rr_reply, r, NULL);
    if (rc != 0) {
        fprintf(stderr, "bench_nats_h8s: request: %s\n", nats_client_strerror(rc));
        r->err = rc;
        r->note = "request_error";
    }
    return rc;
}

static void rr_reply(struct nats_client *c, int err, const struct nats_msg *m, void *cookie)
{
    struct rr_run *r = cookie;
    uint64_t now = bench_now_ns();
    (void)c;
    if (err != 0 || r->err != 0) {
        if (r->err == 0) {
            fprintf(stderr, "bench_nats_h8s: reply: %s\n", nats_client_strerror(err));
            r->err = err;
            r->note = err == NATS_E_TIMEOUT ? "request_timeout" : "reply_error";
        }
        return;
    }
    if (m->payload.n != r->a->size) {
        r->err = -EPROTO;
        r->note = "bad_payload";
        return;
    }
    r->done++;
    if (r->samples && r->done > r->warm)
        r->samples[r->done - r->warm - 1] = now - r->t_sent;
    if (r->done == r->warm)
        r->t_start = now;
    if (r->done == r->target) {
        r->t_end = now;
        r->finished = true;
        return;
    }
    if (r->issued < r->target)
        rr_issue(r);
}

static int run_rr(const struct bench_args *a, struct bench_result *res)
{
    struct rr_run *r = calloc(1, sizeof(*r));
    uint8_t *payload = malloc(a->size);
    pthread_t th;
    if (r == NULL || payload == NULL)
        goto nomem;
    bench_fill(payload, a->size);
    r->a = a;
    r->payload = payload;
    r->warm = BENCH_WARMUP(a->count);
    r->target = r->warm + a->count;
    r->note = "setup_failed";
    atomic_init(&r->resp_state, PEER_STARTING);
    atomic_init(&r->stop, false);
    if (a->mode == BENCH_LAT && (r->samples = calloc(a->count, sizeof(*r->samples))) == NULL)
        goto nomem;
    if (pthread_create(&th, NULL, resp_thread, r) != 0)
        goto nomem;
    if (node_open(&r->req, a->url, "bench-req") != 0)
        goto out;
    uint64_t deadline = bench_now_ns() + CONNECT_WAIT_MS * 1000000ull;
    while (atomic_load(&r->resp_state) == PEER_STARTING && bench_now_ns() < deadline)
        loop_run_once(r->req.loop, 1);
    if (atomic_load(&r->resp_state) != PEER_READY)
        goto out;

    r->note = "-";
    unsigned inflight = a->mode == BENCH_LAT ? 1 : a->inflight;
    if (r->warm == 0)
        r->t_start = bench_now_ns();
    for (unsigned i = 0; i < inflight && r->issued < r->target; i++)
        if (rr_issue(r) != 0)
            break;
    deadline = bench_now_ns() + BENCH_DEADLINE_S * 1000000000ull;
    while (!r->finished && r->err == 0 && r->req.disconnects == 0 &&
           atomic_load(&r->resp_state) == PEER_READY) {
        if (bench_now_ns() > deadline) {
            r->note = "deadline";
            break;
        }
        if (loop_run_once(r->req.loop, 50) < 0)
            break;
    }
out:
    atomic_store(&r->stop, true);
    pthread_join(th, NULL);
    if (r->req.disconnects || r->req.errors)
        r->note = "requester_error";
    else if (r->resp.disconnects || r->resp.errors || r->resp_err)
        r->note = "responder_error";
    res->note = r->note;
    res->done = r->done > r->warm ? r->done - r->warm : 0;
    if (r->finished && strcmp(r->note, "-") == 0) {
        res->ok = 1;
        res->secs = (double)(r->t_end - r->t_start) / 1e9;
        res->rate = res->secs > 0 ? (double)a->count / res->secs : 0;
        if (r->samples) {
            res->p50_us = bench_quantile_us(r->samples, a->count, 0.50, 0);
            res->p99_us = bench_quantile_us(r->samples, a->count, 0.99, 1);
        }
    }
    if (r->req.nc)
        node_close(&r->req);
    free(r->samples);
    free(payload);
    free(r);
    return 0;
nomem:
    if (r)
        free(r->samples);
    free(payload);
    free(r);
    return -1;
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
    struct log_config lc;
    log_config_defaults(&lc);
    lc.level = LOG_WARN;
    log_configure(&lc);
    int rc = a.mode == BENCH_PUB ? run_pub(&a, &res) : run_rr(&a, &res);
    if (rc != 0)
        res.note = "out_of_memory";
    return bench_print_result(&res);
}
