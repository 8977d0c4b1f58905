/*
 * tests/support/responder.c — see responder.h.
 *
 * Cross-thread calls go through a one-slot mailbox guarded by a mutex: the
 * test thread fills it, wakes the loop (loop_wakeup), and waits on a
 * condition variable until the loop thread has run the call.
 */
#include "tests/support/responder.h"

#include "core/loop.h"
#include "core/rand.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct responder {
    pthread_t th;
    struct loop *l;
    struct nats_client *nc;
    struct rand_pool rnd;
    char url[256];

    pthread_mutex_t mu;
    pthread_cond_t cv;
    int ready, rc;
    atomic_int stop;
    /* mailbox */
    void (*call_fn)(struct responder *r, void *arg);
    void *call_arg;
    int call_done;
    atomic_int connected;
    atomic_int flushed;
    /* Owned by the responder thread: freed when it stops. */
    struct sub_ctx *subs;
    struct rtimer *timers;
};

struct rtimer {
    struct loop_timer t;
    struct responder *r;
    void (*fn)(struct responder *r, void *arg);
    void *arg;
    int owned; /* free(arg) after fn, or at stop */
    struct rtimer *prev, *next;
};

/* The subscription's callback and argument, kept per subscription. */
struct sub_ctx {
    struct responder *r;
    responder_fn fn;
    void *arg;
    struct sub_ctx *next;
};

static void on_connected(struct nats_client *c, void *cookie)
{
    struct responder *r = cookie;
    (void)c;
    atomic_store(&r->connected, 1);
}

static const struct nats_client_events events = {
    .on_connected = on_connected,
    .on_reconnected = on_connected,
};

static void on_wakeup(struct loop *l, void *arg)
{
    struct responder *r = arg;
    if (atomic_load(&r->stop)) {
        loop_stop(l);
        return;
    }
    pthread_mutex_lock(&r->mu);
    void (*fn)(struct responder *, void *) = r->call_fn;
    void *a = r->call_arg;
    pthread_mutex_unlock(&r->mu);
    if (fn) {
        fn(r, a);
        pthread_mutex_lock(&r->mu);
        r->call_fn = NULL;
        r->call_done = 1;
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
    }
}

static void *thread_main(void *arg)
{
    struct responder *r = arg;
    char err[256];
    struct nats_client_config cfg;
    int rc = loop_create(&r->l, NULL, err, sizeof(err));
    if (rc == 0) {
        loop_set_wakeup(r->l, on_wakeup, r);
        nats_client_config_defaults(&cfg);
        cfg.urls = r->url;
        cfg.name = "test-responder";
        cfg.events = &events;
        cfg.cookie = r;
        cfg.reconnect_wait_ms = 20;
        cfg.reconnect_wait_max_ms = 200;
        cfg.out_limit = 64u * 1024 * 1024;
        rc = nats_client_create(&r->nc, r->l, &cfg, err, sizeof(err));
        if (rc == 0)
            rc = nats_client_connect(r->nc);
    }
    pthread_mutex_lock(&r->mu);
    r->rc = rc;
    r->ready = 1;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    if (rc == 0)
        loop_run(r->l);
    while (r->timers) {
        struct rtimer *t = r->timers;
        r->timers = t->next;
        loop_timer_stop(r->l, &t->t);
        if (t->owned)
            free(t->arg);
        free(t);
    }
    nats_client_destroy(r->nc);
    r->nc = NULL;
    loop_destroy(r->l);
    r->l = NULL;
    return NULL;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int responder_start(struct responder **out, const char *url)
{
    struct responder *r = calloc(1, sizeof(*r));
    *out = NULL;
    if (!r)
        return -ENOMEM;
    strncpy(r->url, url, sizeof(r->url) - 1);
    rand_pool_init(&r->rnd);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    if (pthread_create(&r->th, NULL, thread_main, r) != 0) {
        free(r);
        return -EAGAIN;
    }
    pthread_mutex_lock(&r->mu);
    while (!r->ready)
        pthread_cond_wait(&r->cv, &r->mu);
    int rc = r->rc;
    pthread_mutex_unlock(&r->mu);
    int64_t deadline = now_ms() + RESPONDER_WAIT_MS;
    while (rc == 0 && !atomic_load(&r->connected)) {
        if (now_ms() > deadline) {
            rc = -ETIMEDOUT;
            break;
        }
        struct timespec ts = {0, 5 * 1000000};
        nanosleep(&ts, NULL);
    }
    if (rc < 0) {
        responder_stop(r);
        return rc;
    }
    *out = r;
    return 0;
}

void responder_stop(struct responder *r)
{
    if (!r)
        return;
    atomic_store(&r->stop, 1);
    if (r->l)
        loop_wakeup(r->l);
    pthread_join(r->th, NULL);
    while (r->subs) {
        struct sub_ctx *s = r->subs;
        r->subs = s->next;
        free(s);
    }
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}

int responder_call(struct responder *r, void (*fn)(struct responder *r, void *arg), void *arg)
{
    pthread_mutex_lock(&r->mu);
    r->call_fn = fn;
    r->call_arg = arg;
    r->call_done = 0;
    pthread_mutex_unlock(&r->mu);
    loop_wakeup(r->l);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += RESPONDER_WAIT_MS / 1000;
    int rc = 0;
    pthread_mutex_lock(&r->mu);
    while (!r->call_done && rc == 0)
        rc = pthread_cond_timedwait(&r->cv, &r->mu, &ts);
    int done = r->call_done;
    pthread_mutex_unlock(&r->mu);
    return done ? 0 : -ETIMEDOUT;
}

struct sub_call {
    const char *subject, *queue;
    responder_fn fn;
    void *arg;
    int rc;
};

static void on_sub_msg(struct nats_client *c, struct nats_sub *sub, const struct nats_msg *m,
                       void *cookie)
{
    struct sub_ctx *s = cookie;
    (void)c;
    (void)sub;
    s->fn(s->r, m, s->arg);
}

static void on_flushed(struct nats_client *c, int err, void *cookie)
{
    struct responder *r = cookie;
    (void)c;
    atomic_store(&r->flushed, err == 0 ? 1 : -1);
}

static void do_sub(struct responder *r, void *arg)
{
    struct sub_call *sc = arg;
    /* Lives as long as the client: subscriptions are never removed. */
    struct sub_ctx *s = malloc(sizeof(*s));
    if (!s) {
        sc->rc = -ENOMEM;
        return;
    }
    s->r = r;
    s->fn = sc->fn;
    s->arg = sc->arg;
    sc->rc = nats_client_subscribe(r->nc, span_cstr(sc->subject), span_cstr(sc->queue),
                                   on_sub_msg, s, NULL);
    if (sc->rc < 0) {
        free(s);
        return;
    }
    s->next = r->subs;
    r->subs = s;
    atomic_store(&r->flushed, 0);
    sc->rc = nats_client_flush(r->nc, RESPONDER_WAIT_MS, on_flushed, r);
}

int responder_sub(struct responder *r, const char *subject, const char *queue, responder_fn fn,
                  void *arg)
{
    struct sub_call sc = {subject, queue, fn, arg, 0};
    int rc = responder_call(r, do_sub, &sc);
    if (rc < 0)
        return rc;
    if (sc.rc < 0)
        return sc.rc;
    int64_t deadline = now_ms() + RESPONDER_WAIT_MS;
    while (atomic_load(&r->flushed) == 0) {
        if (now_ms() > deadline)
            return -ETIMEDOUT;
        struct timespec ts = {0, 2 * 1000000};
        nanosleep(&ts, NULL);
    }
    return atomic_load(&r->flushed) == 1 ? 0 : -EIO;
}

int responder_pub(struct responder *r, struct span subject, struct span hdr, struct span payload)
{
    return nats_client_publish(r->nc, subject, span_make(NULL, 0), hdr, payload);
}

static void on_rtimer(struct loop *l, struct loop_timer *t)
{
    struct rtimer *rt = LOOP_CONTAINER_OF(t, struct rtimer, t);
    struct responder *r = rt->r;
    (void)l;
    if (rt->prev)
        rt->prev->next = rt->next;
    else
        r->timers = rt->next;
    if (rt->next)
        rt->next->prev = rt->prev;
    rt->fn(r, rt->arg);
    if (rt->owned)
        free(rt->arg);
    free(rt);
}

static int after(struct responder *r, unsigned ms, void (*fn)(struct responder *r, void *arg),
                 void *arg, int owned)
{
    struct rtimer *rt = calloc(1, sizeof(*rt));
    if (!rt)
        return -ENOMEM;
    rt->r = r;
    rt->fn = fn;
    rt->arg = arg;
    rt->owned = owned;
    rt->next = r->timers;
    if (r->timers)
        r->timers->prev = rt;
    r->timers = rt;
    loop_timer_init(&rt->t, on_rtimer);
    return loop_timer_start(r->l, &rt->t, ms);
}

int responder_after(struct responder *r, unsigned ms, void (*fn)(struct responder *r, void *arg),
                    void *arg)
{
    return after(r, ms, fn, arg, 0);
}

int responder_after_owned(struct responder *r, unsigned ms,
                          void (*fn)(struct responder *r, void *arg), void *arg)
{
    return after(r, ms, fn, arg, 1);
}

void responder_token(struct responder *r, char out[23])
{
    if (rand_id(&r->rnd, out, 22) < 0)
        memcpy(out, "fallbacktokenfallbackt", 23);
}

struct nats_client *responder_client(struct responder *r)
{
    return r->nc;
}

int responder_hdr(const struct nats_msg *m, const char *name, char *out, size_t cap)
{
    struct nats_hdr h;
    struct nats_hdr_iter it;
    struct span k, v;
    if (m->hdr.n == 0 || nats_hdr_parse(&h, m->hdr) != 0)
        return 0;
    nats_hdr_iter_init(&it, &h);
    while (nats_hdr_next(&it, &k, &v)) {
        if (span_eq_nocase(k, span_cstr(name))) {
            size_t n = v.n < cap - 1 ? v.n : cap - 1;
            memcpy(out, v.p, n);
            out[n] = '\0';
            return 1;
        }
    }
    return 0;
}

int responder_hdr_count(const struct nats_msg *m, const char *name)
{
    struct nats_hdr h;
    struct nats_hdr_iter it;
    struct span k, v;
    int count = 0;
    if (m->hdr.n == 0 || nats_hdr_parse(&h, m->hdr) != 0)
        return 0;
    nats_hdr_iter_init(&it, &h);
    while (nats_hdr_next(&it, &k, &v))
        count += span_eq_nocase(k, span_cstr(name));
    return count;
}
