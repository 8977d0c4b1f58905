/*
 * tests/support/loop_harness.c — see loop_harness.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/support/loop_harness.h"

/* see loop_harness.h */
uint64_t lh_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* see loop_harness.h */
void lh_sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* see loop_harness.h */
uint64_t lh_mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Byte off..off+n of the pseudo-random stream named by seed. */
/* see loop_harness.h */
void lh_stream_fill(uint64_t seed, size_t off, uint8_t *p, size_t n)
{
    size_t i = 0;

    while (i < n) {
        size_t pos = off + i;
        uint64_t w = lh_mix64(seed * 0x100000001b3ull + pos / 8);
        for (size_t b = pos % 8; b < 8 && i < n; b++, i++)
            p[i] = (uint8_t)(w >> (8 * b));
    }
}

/* see loop_harness.h */
int lh_stream_check(uint64_t seed, size_t off, const uint8_t *p, size_t n)
{
    uint8_t exp[4096];

    while (n > 0) {
        size_t k = n < sizeof(exp) ? n : sizeof(exp);
        lh_stream_fill(seed, off, exp, k);
        if (memcmp(exp, p, k) != 0)
            return -1;
        off += k;
        p += k;
        n -= k;
    }
    return 0;
}

/* see loop_harness.h */
void lh_loopback(int family, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    if (family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        a->sin6_port = htons(port);
        *len = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a->sin_port = htons(port);
        *len = sizeof(*a);
    }
}

/* see loop_harness.h */
uint16_t lh_port_of(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
    return ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

/* ------------------------------------------------------- server harness */

struct lh_conn {
    struct lh_srv *s;
    int paused;
    size_t produced;
};

static size_t lh_limit(const struct lh_srv *s)
{
    return s->out_limit ? s->out_limit : s->cfg.out_limit;
}

static int lh_echo_data(struct loop_conn *c, const uint8_t *p, size_t n)
{
    struct lh_conn *sc = loop_conn_cookie(c);
    struct lh_srv *s = sc->s;
    int r;

    if (p == NULL) {
        loop_conn_close(c, LOOP_CLOSE_FLUSH, 30000);
        return 0;
    }
    if (sc->paused)
        atomic_fetch_add(&s->bad, 1); /* pause must hold data back */
    r = loop_conn_write(c, p, n);
    if (r < 0) {
        atomic_fetch_add(&s->enobufs, 1);
        return r;
    }
    if (loop_conn_pending(c) > lh_limit(s) / 2) {
        sc->paused = 1;
        atomic_fetch_add(&s->pauses, 1);
        loop_conn_pause(c);
    }
    return 0;
}

static void lh_produce(struct loop_conn *c)
{
    struct lh_conn *sc = loop_conn_cookie(c);
    struct lh_srv *s = sc->s;
    uint8_t tmp[16384];

    while (sc->produced < s->produce_len) {
        size_t n = s->produce_len - sc->produced;
        if (n > sizeof(tmp))
            n = sizeof(tmp);
        /* Mix write and reserve/commit so both meet the limit. */
        if ((lh_mix64(sc->produced + atomic_load(&s->drains)) >> 17) & 1) {
            uint8_t *p = loop_conn_reserve(c, n);
            if (p == NULL) {
                atomic_fetch_add(&s->reserve_null, 1);
                return;
            }
            lh_stream_fill(s->produce_seed, sc->produced, p, n);
            loop_conn_commit(c, n);
        } else {
            lh_stream_fill(s->produce_seed, sc->produced, tmp, n);
            int r = loop_conn_write(c, tmp, n);
            if (r == -ENOBUFS) {
                atomic_fetch_add(&s->enobufs, 1);
                /* The same space cannot be reserved either. */
                if (loop_conn_reserve(c, n) != NULL)
                    atomic_fetch_add(&s->bad, 1);
                return;
            }
            if (r != 0)
                atomic_fetch_add(&s->bad, 1);
        }
        sc->produced += n;
    }
    loop_conn_close(c, LOOP_CLOSE_FLUSH, 30000);
}

static int lh_produce_data(struct loop_conn *c, const uint8_t *p, size_t n)
{
    (void)c;
    (void)p;
    (void)n;
    return 0;
}

static void lh_drain(struct loop_conn *c)
{
    struct lh_conn *sc = loop_conn_cookie(c);
    struct lh_srv *s = sc->s;

    atomic_fetch_add(&s->drains, 1);
    if (s->mode == LH_SRV_PRODUCE) {
        lh_produce(c);
        return;
    }
    if (loop_conn_pending(c) > lh_limit(s) / 2)
        atomic_fetch_add(&s->bad, 1);
    sc->paused = 0;
    loop_conn_resume(c);
}

static void lh_close(struct loop_conn *c, int err)
{
    struct lh_conn *sc = loop_conn_cookie(c);
    struct lh_srv *s = sc->s;

    if (err != 0) {
        atomic_fetch_add(&s->close_errors, 1);
        fprintf(stderr, "server connection closed: %s\n", strerror(-err));
    }
    atomic_fetch_add(&s->closed, 1);
    free(sc);
}

static const struct loop_conn_ops lh_echo_ops = {
    .on_data = lh_echo_data,
    .on_drain = lh_drain,
    .on_close = lh_close,
};

static const struct loop_conn_ops lh_produce_ops = {
    .on_data = lh_produce_data,
    .on_drain = lh_drain,
    .on_close = lh_close,
};

static void lh_accept(struct loop_listener *ls, struct loop_conn *c, int err)
{
    struct lh_srv *s = loop_listener_cookie(ls);
    struct lh_conn *sc;
    socklen_t plen;

    if (err != 0) {
        atomic_fetch_add(&s->accept_errors, 1);
        return;
    }
    sc = calloc(1, sizeof(*sc));
    if (sc == NULL)
        return; /* no ops: the loop closes it */
    sc->s = s;
    if (s->sndbuf)
        setsockopt(loop_conn_fd(c), SOL_SOCKET, SO_SNDBUF, &s->sndbuf, sizeof(s->sndbuf));
    if (s->out_limit)
        loop_conn_set_out_limit(c, s->out_limit);
    if (loop_conn_peer(c, &plen)->sa_family == AF_INET6 && plen >= sizeof(struct sockaddr_in6))
        atomic_fetch_add(&s->v6_peers, 1);
    atomic_fetch_add(&s->accepted, 1);
    if (s->mode == LH_SRV_PRODUCE) {
        loop_conn_set(c, &lh_produce_ops, sc);
        lh_produce(c);
    } else {
        loop_conn_set(c, &lh_echo_ops, sc);
    }
}

static void lh_wake(struct loop *l, void *arg)
{
    (void)arg;
    loop_stop(l);
}

static void *lh_main(void *arg)
{
    struct lh_srv *s = arg;
    struct loop_listener *ls;
    struct sockaddr_storage any;
    socklen_t anylen;
    int r;

    r = loop_create(&s->l, &s->cfg, s->err, sizeof(s->err));
    if (r == 0) {
        lh_loopback(s->family, 0, &any, &anylen);
        r = loop_listen(s->l, (struct sockaddr *)&any, anylen, 0, lh_accept, s, &ls);
        if (r < 0)
            snprintf(s->err, sizeof(s->err), "loop_listen: %s", strerror(-r));
        else
            r = loop_listener_addr(ls, &s->addr, &s->addrlen);
        if (r == 0 && (loop_listener_cookie(ls) != s || lh_port_of(&s->addr) == 0)) {
            snprintf(s->err, sizeof(s->err), "listener cookie or port wrong");
            r = -EINVAL;
        }
    }
    if (r == 0)
        loop_set_wakeup(s->l, lh_wake, s);
    pthread_mutex_lock(&s->mu);
    s->rc = r;
    s->ready = 1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (r < 0) {
        loop_destroy(s->l);
        return NULL;
    }
    r = loop_run(s->l);
    if (r < 0)
        atomic_fetch_add(&s->bad, 1);
    loop_get_stats(s->l, &s->st);
    loop_destroy(s->l);
    return NULL;
}

/* see loop_harness.h */
void lh_srv_init(struct lh_srv *s, int family, enum lh_srv_mode mode)
{
    memset(s, 0, sizeof(*s));
    loop_config_defaults(&s->cfg);
    s->cfg.max_conns = 512;
    s->cfg.ring_entries = 256;
    s->cfg.recv_buf_count = 64;
    s->cfg.recv_buf_size = 16384;
    s->cfg.out_limit = 256 * 1024;
    s->family = family;
    s->mode = mode;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
}

/* see loop_harness.h */
int lh_srv_start(struct lh_srv *s)
{
    int r = pthread_create(&s->th, NULL, lh_main, s);

    if (r != 0) {
        snprintf(s->err, sizeof(s->err), "pthread_create: %s", strerror(r));
        return -r;
    }
    pthread_mutex_lock(&s->mu);
    while (!s->ready)
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    if (s->rc < 0)
        pthread_join(s->th, NULL);
    return s->rc;
}

/* see loop_harness.h */
unsigned lh_srv_wait_closed(struct lh_srv *s, unsigned want)
{
    uint64_t end = lh_mono_ms() + 10000;

    while (atomic_load(&s->closed) < want && lh_mono_ms() < end)
        lh_sleep_ms(2);
    return atomic_load(&s->closed);
}

/* see loop_harness.h */
int lh_srv_stop(struct lh_srv *s)
{
    int r = loop_wakeup(s->l);

    if (r < 0)
        return r;
    pthread_join(s->th, NULL);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    return 0;
}
