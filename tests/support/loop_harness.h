/*
 * tests/support/loop_harness.h — helpers for tests of core/loop: clocks,
 * verifiable byte streams, loopback addresses, and a server loop running
 * on its own thread (echo with input back-pressure, or a producer that
 * streams bytes against its output limit).
 *
 * No cmocka in here: functions report failures by return value or by the
 * server's counters, and the test asserts.
 */
#ifndef H8S_TESTS_LOOP_HARNESS_H
#define H8S_TESTS_LOOP_HARNESS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/loop.h"

/* Monotonic milliseconds, independent of any loop. */
uint64_t lh_mono_ms(void);
void lh_sleep_ms(unsigned ms);

/* splitmix64 finaliser: a cheap, well-mixed 64-bit hash. */
uint64_t lh_mix64(uint64_t x);

/*
 * Every seed names an endless pseudo-random byte stream. lh_stream_fill
 * writes bytes off..off+n-1 of it into p; lh_stream_check returns 0 when p
 * holds exactly those bytes, -1 otherwise.
 */
void lh_stream_fill(uint64_t seed, size_t off, uint8_t *p, size_t n);
int lh_stream_check(uint64_t seed, size_t off, const uint8_t *p, size_t n);

/* 127.0.0.1 or ::1 (family AF_INET or AF_INET6) with port, into *ss. */
void lh_loopback(int family, uint16_t port, struct sockaddr_storage *ss, socklen_t *len);
uint16_t lh_port_of(const struct sockaddr_storage *ss);

enum lh_srv_mode {
    LH_SRV_ECHO,    /* echo; pause above half the limit, resume on drain;
                       FLUSH-close on EOF */
    LH_SRV_PRODUCE, /* send produce_len bytes of produce_seed's stream,
                       mixing write and reserve/commit, then FLUSH-close */
};

struct lh_srv {
    /* Set by lh_srv_init; adjust before lh_srv_start. */
    struct loop_config cfg;
    int family;
    enum lh_srv_mode mode;
    int sndbuf;       /* SO_SNDBUF of accepted sockets; 0 = default */
    size_t out_limit; /* per-connection output limit; 0 = loop default */
    size_t produce_len;
    uint64_t produce_seed;

    /* After lh_srv_start: the listening address. */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char err[256];

    /* Counters, updated on the server thread. */
    atomic_uint accepted, closed, close_errors, accept_errors;
    atomic_uint pauses, drains, enobufs, reserve_null, v6_peers;
    atomic_uint bad; /* a contract violation was observed */

    /* After lh_srv_stop: the loop's final counters. */
    struct loop_stats st;

    /* private */
    pthread_t th;
    struct loop *l;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int ready, rc;
};

void lh_srv_init(struct lh_srv *s, int family, enum lh_srv_mode mode);

/* Starts the server thread, listening on port 0 of the loopback address.
 * Returns 0, or -errno with the reason in s->err (thread already joined). */
int lh_srv_start(struct lh_srv *s);

/* Waits up to 10 s until the server has closed want connections; returns
 * how many it has closed. */
unsigned lh_srv_wait_closed(struct lh_srv *s, unsigned want);

/* Stops the loop from this thread (loop_wakeup), joins, fills s->st.
 * Returns 0 or -errno from loop_wakeup. */
int lh_srv_stop(struct lh_srv *s);

#endif
