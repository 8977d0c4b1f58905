/*
 * tests/test_loop_teardown.c — the hard edges of connection lifetime, on a
 * loop driven step by step over loopback: close with sends and receives in
 * flight, close from inside on_data (of the same and of another
 * connection), loop_destroy with everything open, stale completions for a
 * reused slot, connect refused / timed out / closed while pending,
 * LOOP_CLOSE_FLUSH ordering and linger, slot exhaustion at accept, signals
 * and cross-thread wakeup, and start-up errors. Meant to run under ASan.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/loop.h"
#include "tests/support/loop_harness.h"
#include "core/loop_internal.h" /* white-box: inject a stale completion */

static uint8_t pattern(size_t i)
{
    return (uint8_t)(i * 131 + (i >> 9) * 7 + 3);
}

/* Drives l until cond holds, for at most ms milliseconds. */
#define RUN_UNTIL(l, cond, ms)                                                                     \
    do {                                                                                           \
        uint64_t end_ = lh_mono_ms() + (ms);                                                       \
        while (!(cond) && lh_mono_ms() < end_)                                                     \
            assert_true(loop_run_once((l), 10) >= 0);                                              \
        assert_true(cond);                                                                         \
    } while (0)

/* ------------------------------------------------ single-thread server */

struct tconn {
    struct ts *t;
    struct loop_conn *c;
    int data_calls, closed, close_err, connect_calls, connect_res, eof, bad;
    size_t rcvd;
    int close_on_data;    /* loop_conn_close(self) in on_data */
    int ret_on_data;      /* returned by on_data */
    struct tconn *victim; /* loop_conn_close(victim) in on_data */
    int closed_by_other;
};

struct ts {
    struct loop *l;
    struct loop_listener *ls;
    struct sockaddr_storage addr;
    socklen_t alen;
    struct tconn conns[16];
    int nconns;
    int accept_errs, last_accept_err;
    size_t out_limit;
};

static int tc_data(struct loop_conn *c, const uint8_t *p, size_t n)
{
    struct tconn *tc = loop_conn_cookie(c);

    tc->data_calls++;
    if (tc->closed_by_other || tc->closed)
        tc->bad++;
    if (p == NULL) {
        tc->eof = 1;
        return 0;
    }
    tc->rcvd += n;
    if (tc->victim != NULL && !tc->victim->closed_by_other) {
        tc->victim->closed_by_other = 1;
        loop_conn_close(tc->victim->c, LOOP_CLOSE_ABORT, 0);
    }
    if (tc->close_on_data) {
        tc->closed_by_other = 1;
        loop_conn_close(c, LOOP_CLOSE_ABORT, 0);
        loop_conn_close(c, LOOP_CLOSE_ABORT, 0); /* idempotent */
        assert_int_equal(loop_conn_write(c, "x", 1), -EPIPE);
    }
    return tc->ret_on_data;
}

static void tc_connect(struct loop_conn *c, int res)
{
    struct tconn *tc = loop_conn_cookie(c);

    tc->connect_calls++;
    tc->connect_res = res;
}

static void tc_close(struct loop_conn *c, int err)
{
    struct tconn *tc = loop_conn_cookie(c);

    tc->closed++;
    tc->close_err = err;
    /* Everything is a no-op from here on. */
    assert_int_equal(loop_conn_write(c, "x", 1), -EPIPE);
    assert_null(loop_conn_reserve(c, 1));
    loop_conn_close(c, LOOP_CLOSE_FLUSH, 0);
    loop_conn_resume(c);
}

static const struct loop_conn_ops tc_ops = {
    .on_data = tc_data,
    .on_connect = tc_connect,
    .on_close = tc_close,
};

static void ts_accept(struct loop_listener *ls, struct loop_conn *c, int err)
{
    struct ts *t = loop_listener_cookie(ls);
    struct tconn *tc;

    if (err != 0) {
        t->accept_errs++;
        t->last_accept_err = err;
        return;
    }
    assert_true(t->nconns < 16);
    tc = &t->conns[t->nconns++];
    memset(tc, 0, sizeof(*tc));
    tc->t = t;
    tc->c = c;
    if (t->out_limit)
        loop_conn_set_out_limit(c, t->out_limit);
    loop_conn_set(c, &tc_ops, tc);
}

static void ts_open_cfg(struct ts *t, const struct loop_config *cfg)
{
    struct sockaddr_in a;
    char err[256];

    memset(t, 0, sizeof(*t));
    if (loop_create(&t->l, cfg, err, sizeof(err)) < 0)
        fail_msg("loop_create: %s", err);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(loop_listen(t->l, (struct sockaddr *)&a, sizeof(a), LOOP_LISTEN_REUSEPORT,
                                 ts_accept, t, &t->ls),
                     0);
    assert_int_equal(loop_listener_addr(t->ls, &t->addr, &t->alen), 0);
}

static void ts_open(struct ts *t)
{
    struct loop_config cfg;

    loop_config_defaults(&cfg);
    cfg.max_conns = 32;
    cfg.ring_entries = 128;
    cfg.recv_buf_count = 32;
    cfg.recv_buf_size = 4096;
    ts_open_cfg(t, &cfg);
}

static int cli_connect(const struct sockaddr_storage *a, socklen_t alen, int rcvbuf)
{
    int fd = socket(a->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {.tv_sec = 30, .tv_usec = 0};

    assert_true(fd >= 0);
    if (rcvbuf)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    assert_int_equal(connect(fd, (const struct sockaddr *)a, alen), 0);
    return fd;
}

/* A listener with backlog 0 whose queue is already full: further SYNs are
 * dropped, so a connect to it can only time out. */
static int full_listener(struct sockaddr_in *a, int fillers[3])
{
    socklen_t alen = sizeof(*a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    memset(a, 0, sizeof(*a));
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)a, sizeof(*a)), 0);
    assert_int_equal(listen(fd, 0), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)a, &alen), 0);
    for (int i = 0; i < 3; i++) {
        fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (connect(fillers[i], (struct sockaddr *)a, sizeof(*a)) < 0)
            assert_int_equal(errno, EINPROGRESS);
    }
    lh_sleep_ms(50);
    return fd;
}

/* ------------------------------------------------------------------ tests */

static void test_close_with_ops_in_flight(void **state)
{
    struct ts t;
    struct loop_stats st;
    size_t big = 8 * 1024 * 1024;
    uint8_t *buf = malloc(big);
    int fd;

    (void)state;
    assert_non_null(buf);
    for (size_t i = 0; i < big; i++)
        buf[i] = pattern(i);
    ts_open(&t);
    t.out_limit = 16 * 1024 * 1024;
    /* The client never reads: the sendmsg stays blocked in the kernel. */
    fd = cli_connect(&t.addr, t.alen, 4096);
    RUN_UNTIL(t.l, t.nconns == 1, 2000);
    assert_int_equal(loop_conn_write(t.conns[0].c, buf, big), 0);
    assert_int_equal(send(fd, "hello", 5, 0), 5);
    RUN_UNTIL(t.l, t.conns[0].rcvd == 5, 2000);
    for (int i = 0; i < 5; i++)
        assert_true(loop_run_once(t.l, 5) >= 0);
    loop_get_stats(t.l, &st);
    assert_true(loop_conn_pending(t.conns[0].c) > 0);
    assert_true(loop_conn_pending(t.conns[0].c) < big);
    assert_int_equal(st.conns_open, 1);
    /* Send and multishot recv both in flight. */
    loop_conn_close(t.conns[0].c, LOOP_CLOSE_ABORT, 0);
    RUN_UNTIL(t.l, t.conns[0].closed, 2000);
    for (int i = 0; i < 3; i++)
        assert_true(loop_run_once(t.l, 5) >= 0);
    assert_int_equal(t.conns[0].closed, 1);
    assert_int_equal(t.conns[0].close_err, 0);
    assert_int_equal(t.conns[0].bad, 0);
    loop_get_stats(t.l, &st);
    assert_int_equal(st.conns_open, 0);
    assert_int_equal(st.stale, 0);
    close(fd);

    /* Closed right after accept, before any operation was submitted. */
    fd = cli_connect(&t.addr, t.alen, 0);
    RUN_UNTIL(t.l, t.nconns == 2, 2000);
    loop_conn_close(t.conns[1].c, LOOP_CLOSE_ABORT, 0);
    RUN_UNTIL(t.l, t.conns[1].closed, 2000);
    assert_int_equal(t.conns[1].close_err, 0);
    close(fd);
    loop_destroy(t.l);
    free(buf);
}

static void test_close_inside_on_data(void **state)
{
    struct ts t;
    struct loop_config cfg;
    uint8_t msg[600];
    int fa, fb, fc;

    (void)state;
    loop_config_defaults(&cfg);
    cfg.max_conns = 8;
    cfg.ring_entries = 64;
    cfg.recv_buf_count = 64;
    cfg.recv_buf_size = 64; /* 600 bytes arrive as many completions */
    ts_open_cfg(&t, &cfg);
    memset(msg, 'm', sizeof(msg));

    /* Self-close in the first on_data: the rest of the batch is dropped. */
    fa = cli_connect(&t.addr, t.alen, 0);
    RUN_UNTIL(t.l, t.nconns == 1, 2000);
    t.conns[0].close_on_data = 1;
    for (int i = 0; i < 3; i++)
        assert_true(loop_run_once(t.l, 5) >= 0);
    assert_int_equal(send(fa, msg, sizeof(msg), 0), (ssize_t)sizeof(msg));
    lh_sleep_ms(20);
    RUN_UNTIL(t.l, t.conns[0].closed, 2000);
    assert_int_equal(t.conns[0].data_calls, 1);
    assert_int_equal(t.conns[0].bad, 0);
    assert_int_equal(t.conns[0].close_err, 0);

    /* Each of two connections closes the other from on_data, with data
     * for both in the same batch: only the first one delivered sees any. */
    fb = cli_connect(&t.addr, t.alen, 0);
    fc = cli_connect(&t.addr, t.alen, 0);
    RUN_UNTIL(t.l, t.nconns == 3, 2000);
    t.conns[1].victim = &t.conns[2];
    t.conns[2].victim = &t.conns[1];
    for (int i = 0; i < 3; i++)
        assert_true(loop_run_once(t.l, 5) >= 0);
    assert_int_equal(send(fb, msg, sizeof(msg), 0), (ssize_t)sizeof(msg));
    assert_int_equal(send(fc, msg, sizeof(msg), 0), (ssize_t)sizeof(msg));
    lh_sleep_ms(20);
    RUN_UNTIL(t.l, t.conns[1].closed || t.conns[2].closed, 2000);
    for (int i = 0; i < 3; i++)
        assert_true(loop_run_once(t.l, 5) >= 0);
    assert_int_equal(t.conns[1].bad + t.conns[2].bad, 0);
    /* Exactly one closed (the victim), and it never saw a byte. */
    assert_int_equal(t.conns[1].closed + t.conns[2].closed, 1);
    {
        struct tconn *victim = t.conns[1].closed ? &t.conns[1] : &t.conns[2];
        struct tconn *killer = t.conns[1].closed ? &t.conns[2] : &t.conns[1];

        assert_int_equal(victim->data_calls, 0);
        assert_true(killer->data_calls > 0);
        loop_conn_close(killer->c, LOOP_CLOSE_ABORT, 0);
        RUN_UNTIL(t.l, killer->closed, 2000);
    }

    /* A negative on_data return aborts with that error. */
    assert_int_equal(close(fa), 0);
    fa = cli_connect(&t.addr, t.alen, 0);
    RUN_UNTIL(t.l, t.nconns == 4, 2000);
    t.conns[3].ret_on_data = -EPROTO;
    assert_int_equal(send(fa, "x", 1, 0), 1);
    RUN_UNTIL(t.l, t.conns[3].closed, 2000);
    assert_int_equal(t.conns[3].close_err, -EPROTO);
    assert_int_equal(t.conns[3].data_calls, 1);
    close(fa);
    close(fb);
    close(fc);
    loop_destroy(t.l);
}

static void test_destroy_with_open_conns(void **state)
{
    struct ts t;
    struct tconn out[2];
    struct loop_conn *c;
    struct sockaddr_in full;
    int fds[5], fillers[3], lfd;

    (void)state;
    ts_open(&t);
    for (int i = 0; i < 5; i++)
        fds[i] = cli_connect(&t.addr, t.alen, 0);
    RUN_UNTIL(t.l, t.nconns == 5, 2000);
    /* One outbound connection established to our own listener... */
    memset(out, 0, sizeof(out));
    assert_int_equal(
        loop_connect(t.l, (struct sockaddr *)&t.addr, t.alen, 2000, &tc_ops, &out[0], &c), 0);
    out[0].c = c;
    RUN_UNTIL(t.l, out[0].connect_calls == 1 && t.nconns == 6, 2000);
    assert_int_equal(out[0].connect_res, 0);
    /* ...and one still connecting, with output queued behind it. */
    lfd = full_listener(&full, fillers);
    assert_int_equal(
        loop_connect(t.l, (struct sockaddr *)&full, sizeof(full), 0, &tc_ops, &out[1], &c), 0);
    out[1].c = c;
    assert_int_equal(loop_conn_write(c, "queued", 6), 0);
    assert_int_equal(loop_conn_write(out[0].c, "queued", 6), 0);
    assert_int_equal(loop_conn_write(t.conns[0].c, "queued", 6), 0);
    loop_conn_pause(t.conns[1].c);
    loop_conn_close(t.conns[2].c, LOOP_CLOSE_FLUSH, 0);
    for (int i = 0; i < 3; i++)
        assert_true(loop_run_once(t.l, 5) >= 0);

    loop_destroy(t.l);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(t.conns[i].closed, 1);
        assert_int_equal(t.conns[i].bad, 0);
        if (i != 2) /* the flushing one may have finished cleanly */
            assert_int_equal(t.conns[i].close_err, -ECANCELED);
    }
    for (int i = 0; i < 2; i++) {
        assert_int_equal(out[i].closed, 1);
        assert_int_equal(out[i].close_err, -ECANCELED);
    }
    assert_int_equal(out[1].connect_calls, 0);
    for (int i = 0; i < 5; i++)
        close(fds[i]);
    for (int i = 0; i < 3; i++)
        close(fillers[i]);
    close(lfd);
    loop_destroy(NULL);
}

static void test_stale_generation_dropped(void **state)
{
    struct ts t;
    struct loop_conn *a;
    struct loop_stats st;
    struct io_uring_sqe *sqe;
    uint32_t idx, gen;
    int fa, fb;
    char b[8];

    (void)state;
    ts_open(&t);
    fa = cli_connect(&t.addr, t.alen, 0);
    RUN_UNTIL(t.l, t.nconns == 1, 2000);
    a = t.conns[0].c;
    idx = a->idx;
    gen = a->gen;
    loop_conn_close(a, LOOP_CLOSE_ABORT, 0);
    RUN_UNTIL(t.l, t.conns[0].closed, 2000);
    close(fa);

    /* The next connection reuses the slot under a new generation. */
    fb = cli_connect(&t.addr, t.alen, 0);
    RUN_UNTIL(t.l, t.nconns == 2, 2000);
    assert_ptr_equal(t.conns[1].c, a);
    assert_int_equal(t.conns[1].c->idx, idx);
    assert_int_not_equal(t.conns[1].c->gen, gen);
    for (int i = 0; i < 3; i++)
        assert_true(loop_run_once(t.l, 5) >= 0);

    /* Late completions addressed to the old generation: a receive of 0
     * bytes (EOF to the new owner if it got through) and a send of 0
     * (a fatal error if it got through). */
    sqe = io_uring_get_sqe(&t.l->ring);
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data64(sqe, loop_ud(LOOP_OP_RECV, idx, gen));
    sqe = io_uring_get_sqe(&t.l->ring);
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data64(sqe, loop_ud(LOOP_OP_SEND, idx, gen));
    for (int i = 0; i < 5; i++)
        assert_true(loop_run_once(t.l, 5) >= 0);
    loop_get_stats(t.l, &st);
    assert_int_equal(st.stale, 2);
    assert_int_equal(t.conns[1].data_calls, 0);
    assert_int_equal(t.conns[1].closed, 0);

    /* The new owner is untouched and works. */
    assert_int_equal(send(fb, "ping", 4, 0), 4);
    RUN_UNTIL(t.l, t.conns[1].rcvd == 4, 2000);
    assert_int_equal(loop_conn_write(t.conns[1].c, "pong", 4), 0);
    for (int i = 0; i < 3; i++)
        assert_true(loop_run_once(t.l, 5) >= 0);
    assert_int_equal(recv(fb, b, sizeof(b), 0), 4);
    assert_memory_equal(b, "pong", 4);
    assert_int_equal(t.conns[1].eof, 0);
    close(fb);
    RUN_UNTIL(t.l, t.conns[1].eof, 2000);
    loop_destroy(t.l);
}

static void test_connect_refused(void **state)
{
    struct ts t;
    struct tconn o;
    struct loop_conn *c;
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    int fd;

    (void)state;
    ts_open(&t);
    /* Bound but not listening: the port is ours and refuses. */
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    memset(&o, 0, sizeof(o));
    assert_int_equal(loop_connect(t.l, (struct sockaddr *)&a, sizeof(a), 2000, &tc_ops, &o, &c), 0);
    assert_int_equal(loop_conn_write(c, "early", 5), 0);
    RUN_UNTIL(t.l, o.closed, 3000);
    assert_int_equal(o.connect_calls, 1);
    assert_int_equal(o.connect_res, -ECONNREFUSED);
    assert_int_equal(o.close_err, -ECONNREFUSED);

    /* Bad arguments. */
    assert_int_equal(loop_connect(t.l, (struct sockaddr *)&a, 3, 0, &tc_ops, &o, &c), -EINVAL);
    a.sin_family = AF_UNIX;
    assert_int_equal(loop_connect(t.l, (struct sockaddr *)&a, sizeof(a), 0, &tc_ops, &o, &c),
                     -EAFNOSUPPORT);
    close(fd);
    loop_destroy(t.l);
}

static void test_connect_timeout(void **state)
{
    struct ts t;
    struct tconn o[3];
    struct loop_conn *c;
    struct sockaddr_in full;
    int fillers[3], lfd;
    uint64_t t0;

    (void)state;
    ts_open(&t);
    lfd = full_listener(&full, fillers);
    memset(o, 0, sizeof(o));

    t0 = lh_mono_ms();
    assert_int_equal(
        loop_connect(t.l, (struct sockaddr *)&full, sizeof(full), 300, &tc_ops, &o[0], &c), 0);
    RUN_UNTIL(t.l, o[0].closed, 5000);
    if (o[0].connect_res == 0)
        fail_msg("the backlog-0 listener accepted: cannot provoke a timeout here");
    assert_int_equal(o[0].connect_calls, 1);
    assert_int_equal(o[0].connect_res, -ETIMEDOUT);
    assert_int_equal(o[0].close_err, -ETIMEDOUT);
    assert_true(lh_mono_ms() - t0 >= 290);

    /* Closed while the connect is in flight: no on_connect. */
    assert_int_equal(
        loop_connect(t.l, (struct sockaddr *)&full, sizeof(full), 0, &tc_ops, &o[1], &c), 0);
    for (int i = 0; i < 3; i++)
        assert_true(loop_run_once(t.l, 5) >= 0);
    loop_conn_close(c, LOOP_CLOSE_ABORT, 0);
    RUN_UNTIL(t.l, o[1].closed, 2000);
    assert_int_equal(o[1].connect_calls, 0);
    assert_int_equal(o[1].close_err, 0);

    /* Closed before the loop even submitted it. */
    assert_int_equal(
        loop_connect(t.l, (struct sockaddr *)&full, sizeof(full), 100, &tc_ops, &o[2], &c), 0);
    loop_conn_close(c, LOOP_CLOSE_FLUSH, 0);
    loop_conn_close(c, LOOP_CLOSE_ABORT, 0);
    RUN_UNTIL(t.l, o[2].closed, 2000);
    assert_int_equal(o[2].connect_calls, 0);
    assert_int_equal(o[2].close_err, 0);

    for (int i = 0; i < 3; i++)
        close(fillers[i]);
    close(lfd);
    loop_destroy(t.l);
}

/* ---- LOOP_CLOSE_FLUSH */

struct reader {
    struct sockaddr_storage addr;
    socklen_t alen;
    size_t want;
    int read_data; /* 0: never read (linger must expire) */
    atomic_int got_eof, hold_open;
    size_t rcvd;
    char msg[128];
    int fd;
};

static void *reader_main(void *arg)
{
    struct reader *r = arg;
    uint8_t buf[3000];
    unsigned reads = 0;

    while (r->read_data) {
        ssize_t got = recv(r->fd, buf, sizeof(buf), 0);

        if (got < 0) {
            snprintf(r->msg, sizeof(r->msg), "recv: %s after %zu", strerror(errno), r->rcvd);
            break;
        }
        if (got == 0) {
            atomic_store(&r->got_eof, 1);
            break;
        }
        for (ssize_t i = 0; i < got; i++) {
            if (buf[i] != pattern(r->rcvd + (size_t)i)) {
                snprintf(r->msg, sizeof(r->msg), "wrong byte at %zu", r->rcvd + (size_t)i);
                break;
            }
        }
        if (r->msg[0])
            break;
        r->rcvd += (size_t)got;
        if (++reads % 64 == 0)
            lh_sleep_ms(1);
    }
    /* Our FIN (the close) only after the test lets go. */
    while (atomic_load(&r->hold_open))
        lh_sleep_ms(2);
    close(r->fd);
    return NULL;
}

/* Server writes `len` bytes, closes with FLUSH/linger; one reader thread. */
static void flush_case(size_t len, int read_data, int hold_open, unsigned linger, int want_err)
{
    struct ts t;
    struct reader r;
    pthread_t th;
    uint8_t *buf = malloc(len);
    struct loop_conn *c;

    assert_non_null(buf);
    for (size_t i = 0; i < len; i++)
        buf[i] = pattern(i);
    ts_open(&t);
    t.out_limit = len + 1;
    memset(&r, 0, sizeof(r));
    r.read_data = read_data;
    atomic_store(&r.hold_open, hold_open);
    r.fd = cli_connect(&t.addr, t.alen, 4096);
    RUN_UNTIL(t.l, t.nconns == 1, 2000);
    c = t.conns[0].c;
    setsockopt(loop_conn_fd(c), SOL_SOCKET, SO_SNDBUF, &(int){4096}, sizeof(int));
    assert_int_equal(loop_conn_write(c, buf, len), 0);
    loop_conn_close(c, LOOP_CLOSE_FLUSH, linger);
    loop_conn_close(c, LOOP_CLOSE_FLUSH, linger); /* idempotent */
    assert_int_equal(loop_conn_write(c, "late", 4), -EPIPE);
    assert_null(loop_conn_reserve(c, 4));
    assert_int_equal(pthread_create(&th, NULL, reader_main, &r), 0);
    RUN_UNTIL(t.l, t.conns[0].closed, 30000);
    assert_int_equal(t.conns[0].close_err, want_err);
    atomic_store(&r.hold_open, 0);
    pthread_join(th, NULL);
    if (read_data) {
        if (r.msg[0])
            fail_msg("reader: %s", r.msg);
        /* Every byte, then the FIN. */
        assert_int_equal(r.rcvd, len);
        assert_true(atomic_load(&r.got_eof));
    }
    loop_destroy(t.l);
    free(buf);
}

static void test_close_flush(void **state)
{
    (void)state;
    /* The peer reads everything and closes after our FIN. */
    flush_case(4 * 1024 * 1024 + 3, 1, 0, 20000, 0);
    /* The peer reads everything but never closes: linger ends it, and the
     * flush itself was complete. */
    flush_case(1024 * 1024, 1, 1, 300, 0);
    /* The peer never reads: linger expires before the queue drained. */
    flush_case(4 * 1024 * 1024, 0, 1, 200, -ETIMEDOUT);
}

/* ---- accept with every slot taken */

static void test_accept_emfile(void **state)
{
    struct ts t;
    struct loop_config cfg;
    int fds[4];
    char b;

    (void)state;
    loop_config_defaults(&cfg);
    cfg.max_conns = 2;
    cfg.ring_entries = 32;
    cfg.recv_buf_count = 4;
    cfg.recv_buf_size = 1024;
    ts_open_cfg(&t, &cfg);
    fds[0] = cli_connect(&t.addr, t.alen, 0);
    fds[1] = cli_connect(&t.addr, t.alen, 0);
    RUN_UNTIL(t.l, t.nconns == 2, 2000);
    fds[2] = cli_connect(&t.addr, t.alen, 0);
    RUN_UNTIL(t.l, t.accept_errs == 1, 2000);
    assert_int_equal(t.last_accept_err, -EMFILE);
    /* The refused one was closed at once. */
    assert_true(recv(fds[2], &b, 1, 0) <= 0);
    /* Free a slot: the listener is still accepting. */
    loop_conn_close(t.conns[0].c, LOOP_CLOSE_ABORT, 0);
    RUN_UNTIL(t.l, t.conns[0].closed, 2000);
    fds[3] = cli_connect(&t.addr, t.alen, 0);
    RUN_UNTIL(t.l, t.nconns == 3, 2000);
    for (int i = 0; i < 4; i++)
        close(fds[i]);
    loop_destroy(t.l);
    assert_int_equal(t.conns[1].close_err, -ECANCELED);
    assert_int_equal(t.conns[2].close_err, -ECANCELED);
}

/* ---- signals and wakeup */

struct sigrec {
    int hup, term, other;
};

static void sig_fn(struct loop *l, int signo, void *arg)
{
    struct sigrec *s = arg;

    (void)l;
    if (signo == SIGHUP)
        s->hup++;
    else if (signo == SIGTERM)
        s->term++;
    else
        s->other++;
}

static void test_signals(void **state)
{
    struct ts t;
    struct sigrec s;
    struct sigaction old;

    (void)state;
    ts_open(&t);
    memset(&s, 0, sizeof(s));
    assert_int_equal(loop_handle_signals(t.l, sig_fn, &s), 0);
    assert_int_equal(loop_handle_signals(t.l, sig_fn, &s), -EBUSY);
    assert_int_equal(sigaction(SIGPIPE, NULL, &old), 0);
    assert_true(old.sa_handler == SIG_IGN);
    assert_int_equal(raise(SIGHUP), 0);
    RUN_UNTIL(t.l, s.hup == 1, 2000);
    assert_int_equal(raise(SIGTERM), 0);
    RUN_UNTIL(t.l, s.term == 1, 2000);
    assert_int_equal(raise(SIGHUP), 0);
    RUN_UNTIL(t.l, s.hup == 2, 2000);
    assert_int_equal(s.other, 0);
    loop_destroy(t.l);
}

struct wk {
    struct loop *l;
    atomic_int calls;
    pthread_t loop_thread;
    int wrong_thread;
    int stop_after;
    int n;
    atomic_int bad; /* failures seen off the test thread */
};

static void wake_fn(struct loop *l, void *arg)
{
    struct wk *w = arg;

    if (!pthread_equal(pthread_self(), w->loop_thread))
        w->wrong_thread++;
    atomic_fetch_add(&w->calls, 1);
    if (w->stop_after)
        loop_stop(l);
}

static void *waker(void *arg)
{
    struct wk *w = arg;

    for (int i = 0; i < w->n; i++)
        if (loop_wakeup(w->l) != 0)
            atomic_fetch_add(&w->bad, 1);
    return NULL;
}

static void *late_waker(void *arg)
{
    struct wk *w = arg;

    lh_sleep_ms(50);
    if (loop_wakeup(w->l) != 0)
        atomic_fetch_add(&w->bad, 1);
    return NULL;
}

static void test_wakeup_from_thread(void **state)
{
    struct ts t;
    struct wk w;
    pthread_t th;

    (void)state;
    ts_open(&t);
    memset(&w, 0, sizeof(w));
    w.l = t.l;
    w.loop_thread = pthread_self();
    w.n = 1000;
    loop_set_wakeup(t.l, wake_fn, &w);
    assert_true(loop_run_once(t.l, 0) >= 0);
    /* 1000 wakes before the loop looks: one call. */
    assert_int_equal(pthread_create(&th, NULL, waker, &w), 0);
    pthread_join(th, NULL);
    RUN_UNTIL(t.l, atomic_load(&w.calls) >= 1, 2000);
    for (int i = 0; i < 3; i++)
        assert_true(loop_run_once(t.l, 5) >= 0);
    assert_int_equal(atomic_load(&w.calls), 1);

    /* A wake interrupts an unbounded wait of loop_run. */
    w.stop_after = 1;
    assert_int_equal(pthread_create(&th, NULL, late_waker, &w), 0);
    assert_int_equal(loop_run(t.l), 0);
    pthread_join(th, NULL);
    assert_int_equal(atomic_load(&w.calls), 2);
    assert_int_equal(w.wrong_thread, 0);
    assert_int_equal(atomic_load(&w.bad), 0);
    loop_destroy(t.l);
}

static void test_create_errors(void **state)
{
    struct loop_config cfg;
    struct loop *l = (struct loop *)(uintptr_t)1; /* must come back NULL */
    char err[128];

    (void)state;
    loop_config_defaults(&cfg);
    cfg.recv_buf_count = 1000; /* not a power of two */
    assert_int_equal(loop_create(&l, &cfg, err, sizeof(err)), -EINVAL);
    assert_null(l);
    assert_non_null(strstr(err, "recv_buf_count"));
    loop_config_defaults(&cfg);
    cfg.max_conns = 1u << 25;
    assert_int_equal(loop_create(&l, &cfg, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "max_conns"));
    /* A tiny err buffer is still NUL-terminated. */
    assert_int_equal(loop_create(&l, &cfg, err, 5), -EINVAL);
    assert_int_equal(strlen(err), 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_close_with_ops_in_flight),
        cmocka_unit_test(test_close_inside_on_data),
        cmocka_unit_test(test_destroy_with_open_conns),
        cmocka_unit_test(test_stale_generation_dropped),
        cmocka_unit_test(test_connect_refused),
        cmocka_unit_test(test_connect_timeout),
        cmocka_unit_test(test_close_flush),
        cmocka_unit_test(test_accept_emfile),
        cmocka_unit_test(test_wakeup_from_thread),
        cmocka_unit_test(test_create_errors),
        cmocka_unit_test(test_signals),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
