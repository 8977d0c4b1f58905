/*
 * bench/bench_ws.c — the `make bench-ws` driver: WebSocket echo straight
 * to an app and through the tunnel (docs/PROTOCOL.md §7), in one run.
 *
 * One process, one loop thread per part, all on 127.0.0.1:
 *   app      an echo WebSocket server (gateway/gw_ws_session, accepting
 *            at once and sending every chunk back);
 *   gateway  gw_ws_tunnel behind a minimal HTTP upgrade listener;
 *   agent    ag_ws_tunnel, in the queue group of the app's host;
 *   NATS     one nats-server (tests/support/natsd.h);
 *   load     CONNS client connections (agent/ag_ws_backend as client),
 *            each in a closed loop: send SIZE bytes, wait for the echo,
 *            record the round trip, send again.
 * Each path runs WARMUP seconds unmeasured, then SECONDS measured; the
 * figures are messages per second (round trips completed) and the p50 and
 * p99 round-trip times, then the tunnel/direct ratios. On a machine with
 * fewer cores than parts, all of them share the CPUs: the ratio includes
 * the gateway's and the agent's CPU, as it would on one host.
 *
 * Usage: bench_ws [-c CONNS] [-s SIZE] [-t SECONDS] [-w WARMUP]
 * Exit status: 0 when both paths completed round trips on every
 * connection, 1 otherwise, 2 on usage errors.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/loop.h"
#include "core/rand.h"
#include "proto/h8s_ws_relay.h"
#include "proto/nats_client.h"
#include "proto/subject.h"
#include "tests/support/loop_harness.h"
#include "tests/support/natsd.h"
#include "tests/support/ws_test_http.h"

/* The daemons' modules are compiled in here, as in the tests: the bench
 * rule links libh8s.a (core/, proto/) and tests/support only. */
#include "agent/ag_ws_backend.c"
#include "agent/ag_ws_tunnel.c"
#include "gateway/gw_ws_session.c"
#include "gateway/gw_ws_tunnel.c"

#define NBUCKETS 4096
#define QUEUE "h8s-agents"
#define MAX_CONNS 2000
#define MAX_SAMPLES (8u << 20)

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------- loop threads */

/* A part running on its own loop thread: setup runs there, then the
 * loop until stop. */
struct part {
    const char *name;
    struct loop *l;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int ready; /* 1 up, -1 failed */
    int (*setup)(struct part *p);
    void (*cleanup)(struct part *p);
    void *ctx;
};

static void part_wake(struct loop *l, void *arg)
{
    (void)arg;
    loop_stop(l);
}

static void *part_main(void *arg)
{
    struct part *p = arg;
    struct loop_config lc;
    char err[256];
    int ok;

    loop_config_defaults(&lc);
    lc.max_conns = 2 * MAX_CONNS + 64;
    lc.recv_buf_count = 2048;
    ok = loop_create(&p->l, &lc, err, sizeof(err)) == 0;
    if (!ok)
        fprintf(stderr, "bench_ws: %s: %s\n", p->name, err);
    if (ok) {
        loop_set_wakeup(p->l, part_wake, p);
        ok = p->setup(p) == 0;
    }
    pthread_mutex_lock(&p->mu);
    p->ready = ok ? 1 : -1;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if (ok)
        loop_run(p->l);
    if (p->cleanup)
        p->cleanup(p);
    loop_destroy(p->l);
    return NULL;
}

static int part_start(struct part *p)
{
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (pthread_create(&p->th, NULL, part_main, p) != 0)
        return -1;
    pthread_mutex_lock(&p->mu);
    while (p->ready == 0)
        pthread_cond_wait(&p->cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
    return p->ready == 1 ? 0 : -1;
}

static void part_stop(struct part *p)
{
    loop_wakeup(p->l);
    pthread_join(p->th, NULL);
}

/* Reads an upgrade head on an accepted connection and hands it on. */
struct hconn {
    void *owner;
    int (*upgrade)(struct loop_conn *c, struct hconn *h, struct ws_test_http *head);
    size_t len;
    char buf[8192];
};

static void h_close(struct loop_conn *c, int err)
{
    (void)err;
    free(loop_conn_cookie(c));
}

static int h_data(struct loop_conn *c, const uint8_t *p, size_t n)
{
    struct hconn *h = loop_conn_cookie(c);
    struct ws_test_http head;
    int r;

    if (n == 0 || n > sizeof(h->buf) - h->len)
        return -EPROTO;
    memcpy(h->buf + h->len, p, n);
    h->len += n;
    r = ws_test_http_parse(&head, 1, h->buf, h->len);
    if (r <= 0)
        return r;
    return h->upgrade(c, h, &head);
}

static const struct loop_conn_ops hconn_ops = {h_data, NULL, NULL, h_close};

/* ------------------------------------------------------------- the app */

struct app {
    struct loop_listener *ls;
    uint16_t port;
    struct gw_ws_session_config cfg;
    int (*upgrade)(struct loop_conn *c, struct hconn *h, struct ws_test_http *head);
};

static size_t app_message(struct gw_ws_session *s, void *cookie, unsigned opcode, struct span data,
                          int first, int fin)
{
    (void)cookie;
    (void)first;
    return gw_ws_session_send(s, opcode, data.p, data.n, fin) == 0 ? data.n : 0;
}

static void app_close(struct gw_ws_session *s, void *cookie, unsigned code, struct span reason)
{
    (void)cookie;
    (void)gw_ws_session_close(s, code, reason);
}

static void app_end(struct gw_ws_session *s, void *cookie, int err, unsigned code)
{
    (void)s;
    (void)cookie;
    (void)err;
    (void)code;
}

static const struct gw_ws_session_ops app_ops = {app_message, app_close, NULL, app_end};

static int app_upgrade(struct loop_conn *c, struct hconn *h, struct ws_test_http *head)
{
    struct app *a = h->owner;
    struct gw_ws_session *s;
    struct span rest = span_make(h->buf + head->head_len, h->len - head->head_len);

    if (gw_ws_session_start(c, &a->cfg, &head->head, rest, &app_ops, NULL, &s) != 101)
        return 0;
    free(h);
    return gw_ws_session_accept(s, span_make(NULL, 0), NULL, 0) == 0 ? 0 : -EPROTO;
}

static void listener_accept(struct loop_listener *ls, struct loop_conn *c, int err)
{
    struct app *owner = loop_listener_cookie(ls); /* app or gateway: same head */
    struct hconn *h;
    if (err)
        return;
    h = calloc(1, sizeof(*h));
    if (h == NULL) {
        loop_conn_close(c, LOOP_CLOSE_ABORT, 0);
        return;
    }
    h->owner = owner;
    h->upgrade = owner->upgrade;
    loop_conn_set(c, &hconn_ops, h);
}

static int listen_any(struct part *p, struct app *a)
{
    struct sockaddr_storage ss;
    socklen_t len;

    lh_loopback(AF_INET, 0, &ss, &len);
    if (loop_listen(p->l, (struct sockaddr *)&ss, len, 0, listener_accept, a, &a->ls) != 0)
        return -1;
    loop_listener_addr(a->ls, &ss, &len);
    a->port = lh_port_of(&ss);
    return 0;
}

static int app_setup(struct part *p)
{
    struct app *a = p->ctx;
    a->cfg.max_message = 1u << 20;
    a->upgrade = app_upgrade;
    return listen_any(p, a);
}

/* --------------------------------------------------- gateway and agent */

struct nats_side {
    struct app http; /* gateway: its listener (first: the listener cookie) */
    struct loop *l;
    const char *url;
    struct nats_client *nc;
    struct h8s_ws_relays relays;
    struct h8s_ws_relay *buckets[NBUCKETS];
    struct rand_pool rp;
    char id[RAND_ID_LEN + 1];
    struct gw_ws_tunnel_config gw;
    struct ag_ws_tunnel_config ag;
    struct sockaddr_storage app_addr;
    char app_host[32];
    uint16_t app_port;
    int connected;
};

static struct span last_token(struct span s)
{
    size_t i = s.n;
    while (i > 0 && s.p[i - 1] != '.')
        i--;
    return span_make(s.p + i, s.n - i);
}

static void on_inbox(struct nats_client *c, struct nats_sub *sub, const struct nats_msg *m,
                     void *cookie)
{
    struct nats_side *n = cookie;
    (void)c;
    (void)sub;
    h8s_ws_relays_dispatch(&n->relays, last_token(m->subject), m);
}

static void on_drained(struct nats_client *c, void *cookie)
{
    (void)c;
    h8s_ws_relays_nats_drained(&((struct nats_side *)cookie)->relays);
}

static void on_connected(struct nats_client *c, void *cookie)
{
    (void)c;
    ((struct nats_side *)cookie)->connected = 1;
}

static const struct nats_client_events nats_events = {.on_connected = on_connected,
                                                      .on_drained = on_drained};

static int nats_side_setup(struct part *p, struct nats_side *n)
{
    struct nats_client_config cfg;
    uint8_t inbox[SUBJECT_REPLY_MAX];
    char err[256];
    int k;

    n->l = p->l;
    rand_pool_init(&n->rp);
    if (rand_id(&n->rp, n->id, RAND_ID_LEN) != 0)
        return -1;
    nats_client_config_defaults(&cfg);
    cfg.urls = n->url;
    cfg.events = &nats_events;
    cfg.cookie = n;
    cfg.out_limit = 64u << 20;
    if (nats_client_create(&n->nc, p->l, &cfg, err, sizeof(err)) != 0 ||
        nats_client_connect(n->nc) != 0) {
        fprintf(stderr, "bench_ws: %s: %s\n", p->name, err);
        return -1;
    }
    h8s_ws_relays_init(&n->relays, n->buckets, NBUCKETS, n->nc);
    k = subject_reply_wildcard(inbox, sizeof(inbox), span_cstr(n->id));
    if (k < 0 || nats_client_subscribe(n->nc, span_make(inbox, (size_t)k), span_make(NULL, 0),
                                       on_inbox, n, NULL) != 0)
        return -1;
    for (int i = 0; i < 500 && !n->connected; i++)
        loop_run_once(p->l, 10);
    return n->connected ? 0 : -1;
}

static void nats_side_cleanup(struct part *p)
{
    struct nats_side *n = p->ctx;
    h8s_ws_relays_shutdown(&n->relays);
    nats_client_destroy(n->nc);
}

static int gw_upgrade(struct loop_conn *c, struct hconn *h, struct ws_test_http *head)
{
    struct nats_side *n = h->owner;
    struct gw_ws_tunnel_request req;
    uint8_t subject[SUBJECT_MAX];
    char target[512] = "";
    struct span host = {NULL, 0};
    int sl;

    sscanf(h->buf, "GET %511s", target);
    for (size_t i = 0; i < head->head.nheaders; i++)
        if (span_eq_nocase(head->headers[i].name, SPAN_LIT("Host")))
            host = head->headers[i].value;
    sl = subject_request(subject, sizeof(subject), SPAN_LIT("GET"), host, span_cstr(target));
    if (sl < 0)
        return -EPROTO;
    memset(&req, 0, sizeof(req));
    req.head = &head->head;
    req.subject = span_make(subject, (size_t)sl);
    req.host = host;
    req.path = span_cstr(target);
    req.query = SPAN_LIT("");
    req.client_addr = SPAN_LIT("127.0.0.1");
    req.scheme = SPAN_LIT("http");
    req.rest = span_make(h->buf + head->head_len, h->len - head->head_len);
    if (gw_ws_tunnel_start(c, &n->gw, &req, NULL) == 101)
        free(h);
    return 0;
}

static int gw_setup(struct part *p)
{
    struct nats_side *n = p->ctx;
    if (nats_side_setup(p, n) != 0)
        return -1;
    n->gw.nc = n->nc;
    n->gw.relays = &n->relays;
    n->gw.gw_id = span_cstr(n->id);
    n->gw.rand = &n->rp;
    n->gw.session.max_message = 1u << 20;
    h8s_ws_config_defaults(&n->gw.relay.tunnel);
    n->http.upgrade = gw_upgrade;
    return listen_any(p, &n->http);
}

static void ag_on_request(struct nats_client *c, struct nats_sub *sub, const struct nats_msg *m,
                          void *cookie)
{
    struct nats_side *n = cookie;
    struct h8s_ws_msg msg;
    (void)c;
    (void)sub;
    if (h8s_ws_decode(&msg, m->hdr, m->payload) == 0 && msg.kind == H8S_WS_OPEN)
        (void)ag_ws_tunnel_open(n->l, &n->ag, m, NULL);
}

static int ag_setup(struct part *p)
{
    struct nats_side *n = p->ctx;
    uint8_t s1[SUBJECT_HOST_MAX + 16], s2[SUBJECT_HOST_MAX + 16];
    size_t n1, n2;
    socklen_t alen;

    if (nats_side_setup(p, n) != 0)
        return -1;
    lh_loopback(AF_INET, n->app_port, &n->app_addr, &alen);
    snprintf(n->app_host, sizeof(n->app_host), "127.0.0.1:%u", n->app_port);
    n->ag.nc = n->nc;
    n->ag.relays = &n->relays;
    n->ag.agent_id = span_cstr(n->id);
    n->ag.rand = &n->rp;
    n->ag.addr = (const struct sockaddr *)&n->app_addr;
    n->ag.addrlen = alen;
    n->ag.host = span_cstr(n->app_host);
    n->ag.base_path = SPAN_LIT("");
    n->ag.backend.max_message = 1u << 20;
    h8s_ws_config_defaults(&n->ag.relay.tunnel);
    if (subject_agent_subs(s1, s2, sizeof(s1), SPAN_LIT("127.0.0.1"), &n1, &n2) != 0 ||
        nats_client_subscribe(n->nc, span_make(s1, n1), SPAN_LIT(QUEUE), ag_on_request, n, NULL) !=
            0 ||
        nats_client_subscribe(n->nc, span_make(s2, n2), SPAN_LIT(QUEUE), ag_on_request, n, NULL) !=
            0)
        return -1;
    return 0;
}

/* ------------------------------------------------------------ the load */

struct load;

struct client {
    struct load *ld;
    struct ag_ws_backend *b;
    uint64_t sent_at;
};

struct load {
    struct loop *l;
    struct rand_pool rp;
    struct client *cl;
    size_t n, size;
    uint8_t *payload;
    int measuring;
    uint32_t *samples; /* round trips in microseconds */
    size_t nsamples;
    unsigned opened, failed, ended;
};

static void cl_send(struct client *c)
{
    c->sent_at = now_ns();
    if (ag_ws_backend_send(c->b, WS_OP_BINARY, c->ld->payload, c->ld->size, 1) != 0)
        c->ld->failed++;
}

static void cl_open(struct ag_ws_backend *b, void *cookie, const struct ag_ws_backend_open *o)
{
    struct client *c = cookie;
    (void)b;
    if (o->status == 101 && o->err == 0) {
        c->ld->opened++;
        cl_send(c);
    } else {
        c->ld->failed++;
    }
}

static size_t cl_message(struct ag_ws_backend *b, void *cookie, unsigned opcode, struct span data,
                         int first, int fin)
{
    struct client *c = cookie;
    struct load *ld = c->ld;
    (void)b;
    (void)opcode;
    (void)first;
    if (fin) {
        uint64_t us = (now_ns() - c->sent_at) / 1000;
        if (ld->measuring && ld->nsamples < MAX_SAMPLES)
            ld->samples[ld->nsamples++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
        cl_send(c);
    }
    return data.n;
}

static void cl_close(struct ag_ws_backend *b, void *cookie, unsigned code, struct span reason)
{
    (void)cookie;
    (void)ag_ws_backend_close(b, code, reason);
}

static void cl_end(struct ag_ws_backend *b, void *cookie, int err, unsigned code)
{
    struct client *c = cookie;
    (void)b;
    (void)err;
    (void)code;
    c->b = NULL;
    c->ld->ended++;
}

static const struct ag_ws_backend_ops cl_ops = {cl_open, cl_message, cl_close, NULL, cl_end};

static void run_ms(struct load *ld, unsigned ms)
{
    uint64_t end = lh_mono_ms() + ms;
    while (lh_mono_ms() < end)
        loop_run_once(ld->l, 10);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

struct result {
    double rate;
    unsigned p50, p99;
    size_t samples;
    int ok;
};

/* Runs CONNS echo loops against port for warmup + secs seconds. */
static struct result run_path(struct load *ld, uint16_t port, unsigned warmup, unsigned secs)
{
    struct ag_ws_backend_config cfg;
    struct sockaddr_storage ss;
    struct result r = {0, 0, 0, 0, 0};
    char host[32];
    socklen_t len;
    uint64_t t0, t1;

    lh_loopback(AF_INET, port, &ss, &len);
    snprintf(host, sizeof(host), "127.0.0.1:%u", port);
    memset(&cfg, 0, sizeof(cfg));
    cfg.addr = (const struct sockaddr *)&ss;
    cfg.addrlen = len;
    cfg.host = span_cstr(host);
    cfg.target = SPAN_LIT("/echo");
    cfg.max_message = 1u << 20;
    cfg.open_timeout_ms = 30000;
    cfg.rand = &ld->rp;
    ld->opened = ld->failed = ld->ended = 0;
    ld->nsamples = 0;
    for (size_t i = 0; i < ld->n; i++) {
        ld->cl[i].ld = ld;
        if (ag_ws_backend_connect(ld->l, &cfg, &cl_ops, &ld->cl[i], &ld->cl[i].b) != 0)
            ld->failed++;
    }
    for (int i = 0; i < 3000 && ld->opened + ld->failed < ld->n; i++)
        loop_run_once(ld->l, 10);
    if (ld->opened < ld->n)
        fprintf(stderr, "bench_ws: only %u of %zu connections opened\n", ld->opened, ld->n);
    run_ms(ld, warmup * 1000);
    ld->measuring = 1;
    t0 = now_ns();
    run_ms(ld, secs * 1000);
    t1 = now_ns();
    ld->measuring = 0;
    for (size_t i = 0; i < ld->n; i++)
        if (ld->cl[i].b)
            (void)ag_ws_backend_close(ld->cl[i].b, WS_CLOSE_NORMAL, span_make(NULL, 0));
    for (int i = 0; i < 1000 && ld->ended < ld->n; i++)
        loop_run_once(ld->l, 10);
    for (size_t i = 0; i < ld->n; i++)
        if (ld->cl[i].b) {
            ag_ws_backend_abort(ld->cl[i].b);
            ld->cl[i].b = NULL;
        }
    run_ms(ld, 100);
    r.samples = ld->nsamples;
    r.rate = (double)ld->nsamples / ((double)(t1 - t0) / 1e9);
    if (ld->nsamples) {
        qsort(ld->samples, ld->nsamples, sizeof(ld->samples[0]), cmp_u32);
        r.p50 = ld->samples[ld->nsamples * 50 / 100];
        r.p99 = ld->samples[ld->nsamples * 99 / 100];
    }
    r.ok = ld->opened == ld->n && ld->failed == 0 && ld->nsamples >= ld->n;
    return r;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    unsigned long v;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v == 0 || v > max)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    unsigned long conns = 100, size = 64, secs = 5, warmup = 1;
    static struct app app;
    static struct nats_side gw, ag;
    struct part papp = {.name = "app", .setup = app_setup, .ctx = &app};
    struct part pag = {
        .name = "agent", .setup = ag_setup, .cleanup = nats_side_cleanup, .ctx = &ag};
    struct part pgw = {
        .name = "gateway", .setup = gw_setup, .cleanup = nats_side_cleanup, .ctx = &gw};
    struct log_config lcfg;
    struct loop_config lc;
    struct natsd *d = NULL;
    struct load ld;
    struct result direct, tunnel;
    char err[256];
    int opt;

    while ((opt = getopt(argc, argv, "c:s:t:w:")) != -1) {
        int bad = 0;
        switch (opt) {
        case 'c':
            bad = parse_uint(optarg, MAX_CONNS, &conns);
            break;
        case 's':
            bad = parse_uint(optarg, 1u << 20, &size);
            break;
        case 't':
            bad = parse_uint(optarg, 3600, &secs);
            break;
        case 'w':
            bad = parse_uint(optarg, 3600, &warmup);
            break;
        default:
            bad = 1;
        }
        if (bad) {
            fprintf(stderr, "usage: bench_ws [-c CONNS] [-s SIZE] [-t SECONDS] [-w WARMUP]\n");
            return 2;
        }
    }
    log_config_defaults(&lcfg);
    lcfg.level = LOG_WARN;
    log_configure(&lcfg);

    memset(&ld, 0, sizeof(ld));
    ld.n = conns;
    ld.size = size;
    ld.cl = calloc(conns, sizeof(*ld.cl));
    ld.payload = malloc(size);
    ld.samples = malloc(MAX_SAMPLES * sizeof(*ld.samples));
    if (!ld.cl || !ld.payload || !ld.samples)
        return 1;
    memset(ld.payload, 'x', size);
    rand_pool_init(&ld.rp);
    loop_config_defaults(&lc);
    lc.max_conns = MAX_CONNS + 64;
    if (loop_create(&ld.l, &lc, err, sizeof(err)) != 0) {
        fprintf(stderr, "bench_ws: %s\n", err);
        return 1;
    }
    if (natsd_start(&d, NULL) != 0)
        return 1;
    gw.url = ag.url = natsd_url(d);
    if (part_start(&papp) != 0)
        return 1;
    ag.app_port = app.port;
    if (part_start(&pag) != 0 || part_start(&pgw) != 0)
        return 1;

    printf("bench-ws: %lu connections, %lu-byte binary echo, %lus measured after %lus warm-up\n",
           conns, size, secs, warmup);
    fflush(stdout);
    direct = run_path(&ld, app.port, (unsigned)warmup, (unsigned)secs);
    tunnel = run_path(&ld, gw.http.port, (unsigned)warmup, (unsigned)secs);
    printf("  %-8s %10.0f msgs/s   p50 %6u us   p99 %6u us   (%zu round trips)\n", "direct",
           direct.rate, direct.p50, direct.p99, direct.samples);
    printf("  %-8s %10.0f msgs/s   p50 %6u us   p99 %6u us   (%zu round trips)\n", "tunnel",
           tunnel.rate, tunnel.p50, tunnel.p99, tunnel.samples);
    if (direct.rate > 0 && direct.p99 > 0)
        printf("  tunnel/direct: throughput x%.2f, p99 x%.1f\n", tunnel.rate / direct.rate,
               (double)tunnel.p99 / direct.p99);

    part_stop(&pgw);
    part_stop(&pag);
    part_stop(&papp);
    loop_destroy(ld.l);
    natsd_stop(d);
    free(ld.cl);
    free(ld.payload);
    free(ld.samples);
    return direct.ok && tunnel.ok ? 0 : 1;
}
