/*
 * tests/test_loop_echo.c — the loop as a TCP server and client over
 * loopback: an echo server with input back-pressure (pause at half the
 * output limit, resume on on_drain) exercised by many concurrent clients,
 * each checking that exactly its own byte stream comes back; clients on a
 * second loop (connect, write/writev/reserve, on_drain, FLUSH close);
 * multi-MiB payloads through tiny socket buffers and a slow reader; the
 * output limit (-ENOBUFS, NULL reserve, on_drain); pause/resume holding
 * data in order; a 4-buffer receive ring starved by many clients; ::1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
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

static void srv_start(struct lh_srv *s)
{
    if (lh_srv_start(s) < 0)
        fail_msg("server: %s", s->err);
}

static void srv_finish(struct lh_srv *s, unsigned closed)
{
    assert_int_equal(lh_srv_wait_closed(s, closed), closed);
    assert_int_equal(lh_srv_stop(s), 0);
}

/* --------------------------------------------- clients on plain sockets */

struct pcl {
    int fd;
    uint64_t seed;
    size_t sent, rcvd;
    int done;
};

/*
 * n concurrent non-blocking clients multiplexed with poll(): each sends len
 * bytes of its own stream, half-closes, and must read back exactly that
 * stream and then EOF. Every small_every-th client (0: none) gets 4 KiB
 * socket buffers, which forces short reads and writes on both sides.
 */
static void poll_clients(const struct lh_srv *s, unsigned n, size_t len, unsigned small_every,
                         uint64_t salt)
{
    int bufsz = 4096;

    struct pcl *cl = calloc(n, sizeof(*cl));
    struct pollfd *pf = calloc(n, sizeof(*pf));
    unsigned *map = calloc(n, sizeof(*map));
    uint8_t *buf = malloc(65536);
    unsigned left = n;
    uint64_t end = lh_mono_ms() + 120000;

    assert_non_null(cl);
    assert_non_null(pf);
    assert_non_null(map);
    assert_non_null(buf);
    for (unsigned i = 0; i < n; i++) {
        cl[i].fd = socket(s->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        assert_true(cl[i].fd >= 0);
        if (small_every && i % small_every == 0) {
            setsockopt(cl[i].fd, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
            setsockopt(cl[i].fd, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
        }
        cl[i].seed = salt * 1000003u + i + 1;
        if (connect(cl[i].fd, (const struct sockaddr *)&s->addr, s->addrlen) < 0)
            assert_int_equal(errno, EINPROGRESS);
    }
    while (left > 0) {
        unsigned k = 0;
        int r;

        if (lh_mono_ms() > end)
            fail_msg("%u of %u clients unfinished", left, n);
        for (unsigned i = 0; i < n; i++) {
            if (cl[i].done)
                continue;
            pf[k].fd = cl[i].fd;
            pf[k].events = POLLIN | (cl[i].sent < len ? POLLOUT : 0);
            pf[k].revents = 0;
            map[k++] = i;
        }
        r = poll(pf, k, 100);
        assert_true(r >= 0 || errno == EINTR);
        for (unsigned j = 0; j < k && r > 0; j++) {
            struct pcl *p = &cl[map[j]];

            if ((pf[j].revents & POLLOUT) && p->sent < len) {
                size_t m = len - p->sent < 65536 ? len - p->sent : 65536;
                ssize_t w;

                lh_stream_fill(p->seed, p->sent, buf, m);
                w = send(p->fd, buf, m, MSG_NOSIGNAL);
                if (w < 0 && errno != EAGAIN)
                    fail_msg("client %u: send: %s", map[j], strerror(errno));
                if (w > 0) {
                    p->sent += (size_t)w;
                    if (p->sent == len)
                        assert_int_equal(shutdown(p->fd, SHUT_WR), 0);
                }
            }
            if (pf[j].revents & (POLLIN | POLLHUP | POLLERR)) {
                ssize_t got = recv(p->fd, buf, 65536, 0);

                if (got < 0 && errno != EAGAIN)
                    fail_msg("client %u: recv: %s (sent %zu, got back %zu)", map[j],
                             strerror(errno), p->sent, p->rcvd);
                if (got > 0) {
                    if (p->rcvd + (size_t)got > len)
                        fail_msg("client %u: more bytes than sent", map[j]);
                    if (lh_stream_check(p->seed, p->rcvd, buf, (size_t)got) != 0)
                        fail_msg("client %u: wrong bytes at %zu", map[j], p->rcvd);
                    p->rcvd += (size_t)got;
                }
                if (got == 0) {
                    if (p->rcvd != len)
                        fail_msg("client %u: EOF after %zu of %zu bytes", map[j], p->rcvd, len);
                    close(p->fd);
                    p->done = 1;
                    left--;
                }
            }
        }
    }
    free(buf);
    free(map);
    free(pf);
    free(cl);
}

/* ------------------------------------------------------------------ tests */

static void test_echo_many_clients(void **state)
{
    struct lh_srv s;

    (void)state;
    lh_srv_init(&s, AF_INET, LH_SRV_ECHO);
    srv_start(&s);
    poll_clients(&s, 200, 48 * 1024, 4, 1);
    srv_finish(&s, 200);
    assert_int_equal(atomic_load(&s.accepted), 200);
    assert_int_equal(atomic_load(&s.close_errors), 0);
    assert_int_equal(atomic_load(&s.enobufs), 0);
    assert_int_equal(atomic_load(&s.bad), 0);
    assert_int_equal(s.st.accepts, 200);
    assert_int_equal(s.st.bytes_in, 200u * 48 * 1024);
    assert_int_equal(s.st.bytes_out, 200u * 48 * 1024);
    assert_int_equal(s.st.conns_open, 0);
}

static void test_echo_ring_starvation(void **state)
{
    struct lh_srv s;

    (void)state;
    lh_srv_init(&s, AF_INET, LH_SRV_ECHO);
    /* Four 4 KiB buffers for 64 busy connections. */
    s.cfg.recv_buf_count = 4;
    s.cfg.recv_buf_size = 4096;
    s.cfg.out_limit = 64 * 1024;
    srv_start(&s);
    poll_clients(&s, 64, 96 * 1024, 0, 3);
    srv_finish(&s, 64);
    print_message("recv_nobufs=%llu pauses=%u\n", (unsigned long long)s.st.recv_nobufs,
                  atomic_load(&s.pauses));
    assert_true(s.st.recv_nobufs > 0);
    assert_int_equal(atomic_load(&s.close_errors), 0);
    assert_int_equal(atomic_load(&s.bad), 0);
    assert_int_equal(s.st.bytes_out, 64u * 96 * 1024);
}

static void test_echo_ipv6(void **state)
{
    struct lh_srv s;
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_storage a;
    socklen_t alen;

    (void)state;
    lh_loopback(AF_INET6, 0, &a, &alen);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, alen) < 0) {
        if (fd >= 0)
            close(fd);
        print_message("::1 unavailable (%s): skipping IPv6\n", strerror(errno));
        skip();
    }
    close(fd);
    lh_srv_init(&s, AF_INET6, LH_SRV_ECHO);
    srv_start(&s);
    assert_int_equal(s.addr.ss_family, AF_INET6);
    poll_clients(&s, 20, 32 * 1024, 0, 4);
    srv_finish(&s, 20);
    assert_int_equal(atomic_load(&s.v6_peers), 20);
    assert_int_equal(atomic_load(&s.close_errors), 0);
}

/* ---- multi-MiB through 4 KiB socket buffers, reader slower than writer */

struct slowcl {
    const struct lh_srv *s;
    uint64_t seed;
    size_t len;
    int fd;
    size_t rcvd;
    char msg[160];
};

static void *slow_writer(void *arg)
{
    struct slowcl *k = arg;
    uint8_t *buf = malloc(65536);
    size_t sent = 0;

    while (buf != NULL && sent < k->len) {
        size_t m = k->len - sent < 65536 ? k->len - sent : 65536;
        ssize_t w;

        lh_stream_fill(k->seed, sent, buf, m);
        w = send(k->fd, buf, m, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        sent += (size_t)w;
    }
    shutdown(k->fd, SHUT_WR);
    free(buf);
    return NULL;
}

static void *slow_client(void *arg)
{
    struct slowcl *k = arg;
    int small = 4096;
    uint8_t buf[4096];
    pthread_t w;
    unsigned reads = 0;
    struct timeval tv = {.tv_sec = 60, .tv_usec = 0};

    k->fd = socket(k->s->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    setsockopt(k->fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    setsockopt(k->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    setsockopt(k->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(k->fd, (const struct sockaddr *)&k->s->addr, k->s->addrlen) < 0) {
        snprintf(k->msg, sizeof(k->msg), "connect: %s", strerror(errno));
        close(k->fd);
        return NULL;
    }
    pthread_create(&w, NULL, slow_writer, k);
    for (;;) {
        ssize_t got = recv(k->fd, buf, 1 + (reads * 7919) % sizeof(buf), 0);

        if (got < 0) {
            snprintf(k->msg, sizeof(k->msg), "recv: %s after %zu", strerror(errno), k->rcvd);
            break;
        }
        if (got == 0) {
            if (k->rcvd != k->len)
                snprintf(k->msg, sizeof(k->msg), "EOF after %zu of %zu", k->rcvd, k->len);
            break;
        }
        if (lh_stream_check(k->seed, k->rcvd, buf, (size_t)got) != 0) {
            snprintf(k->msg, sizeof(k->msg), "wrong bytes at %zu", k->rcvd);
            break;
        }
        k->rcvd += (size_t)got;
        /* A slow reader: the echo must back up into the server's queue. */
        if (++reads % 16 == 0)
            lh_sleep_ms(1);
    }
    pthread_join(w, NULL);
    close(k->fd);
    return NULL;
}

static void test_echo_big_slow(void **state)
{
    enum { N = 4 };
    struct lh_srv s;
    struct slowcl k[N];
    pthread_t th[N];

    (void)state;
    lh_srv_init(&s, AF_INET, LH_SRV_ECHO);
    s.sndbuf = 4096;
    s.out_limit = 256 * 1024;
    srv_start(&s);
    for (int i = 0; i < N; i++) {
        memset(&k[i], 0, sizeof(k[i]));
        k[i].s = &s;
        k[i].seed = 777 + (uint64_t)i;
        k[i].len = (size_t)(3 + i) * 1024 * 1024 + 12345;
        assert_int_equal(pthread_create(&th[i], NULL, slow_client, &k[i]), 0);
    }
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    srv_finish(&s, N);
    print_message("pauses=%u drains=%u sends=%llu enobufs=%u close_errors=%u bad=%u\n",
                  atomic_load(&s.pauses), atomic_load(&s.drains), (unsigned long long)s.st.sends,
                  atomic_load(&s.enobufs), atomic_load(&s.close_errors), atomic_load(&s.bad));
    for (int i = 0; i < N; i++) {
        if (k[i].msg[0])
            fail_msg("client %d: %s", i, k[i].msg);
        assert_int_equal(k[i].rcvd, k[i].len);
    }
    assert_true(atomic_load(&s.pauses) > 0);
    assert_true(atomic_load(&s.drains) > 0);
    assert_int_equal(atomic_load(&s.enobufs), 0);
    assert_int_equal(atomic_load(&s.close_errors), 0);
    assert_int_equal(atomic_load(&s.bad), 0);
}

/* ---- output limit: -ENOBUFS, NULL reserve, on_drain, FLUSH close */

static void test_output_limit(void **state)
{
    struct lh_srv s;
    int fd, small = 4096;
    size_t rcvd = 0;
    uint8_t buf[8192];
    struct timeval tv = {.tv_sec = 60, .tv_usec = 0};

    (void)state;
    lh_srv_init(&s, AF_INET, LH_SRV_PRODUCE);
    s.sndbuf = 4096;
    s.out_limit = 64 * 1024;
    s.produce_len = 3 * 1024 * 1024 + 777;
    s.produce_seed = 4242;
    srv_start(&s);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    assert_int_equal(connect(fd, (struct sockaddr *)&s.addr, s.addrlen), 0);
    /* Let the producer hit its limit before anything is read. */
    lh_sleep_ms(100);
    assert_true(atomic_load(&s.enobufs) + atomic_load(&s.reserve_null) > 0);
    for (;;) {
        ssize_t got = recv(fd, buf, sizeof(buf), 0);

        if (got < 0)
            fail_msg("recv: %s after %zu", strerror(errno), rcvd);
        if (got == 0)
            break;
        if (lh_stream_check(s.produce_seed, rcvd, buf, (size_t)got) != 0)
            fail_msg("wrong bytes at %zu", rcvd);
        rcvd += (size_t)got;
    }
    assert_int_equal(rcvd, s.produce_len);
    close(fd);
    srv_finish(&s, 1);
    print_message("enobufs=%u reserve_null=%u drains=%u\n", atomic_load(&s.enobufs),
                  atomic_load(&s.reserve_null), atomic_load(&s.drains));
    assert_true(atomic_load(&s.enobufs) > 0);
    assert_true(atomic_load(&s.reserve_null) > 0);
    assert_true(atomic_load(&s.drains) > 0);
    assert_int_equal(atomic_load(&s.bad), 0);
    assert_int_equal(atomic_load(&s.close_errors), 0);
}

/* ---- clients on a second loop */

struct lcl {
    uint64_t seed;
    size_t len, queued, rcvd;
    int connected, closed, close_err, drains, bad;
    unsigned k;
};

static void lcl_push(struct loop_conn *c)
{
    struct lcl *k = loop_conn_cookie(c);
    uint8_t tmp[4000];

    while (k->queued < k->len) {
        size_t n = 1 + (k->k * 2654435761u) % sizeof(tmp);
        int r = 0;

        if (n > k->len - k->queued)
            n = k->len - k->queued;
        switch (k->k % 3) {
        case 0:
            lh_stream_fill(k->seed, k->queued, tmp, n);
            r = loop_conn_write(c, tmp, n);
            break;
        case 1: {
            struct iovec v[3];
            size_t a = n / 3, b = n / 3;
            lh_stream_fill(k->seed, k->queued, tmp, n);
            v[0].iov_base = tmp;
            v[0].iov_len = a;
            v[1].iov_base = tmp + a;
            v[1].iov_len = b;
            v[2].iov_base = tmp + a + b;
            v[2].iov_len = n - a - b;
            r = loop_conn_writev(c, v, 3);
            break;
        }
        default: {
            uint8_t *p = loop_conn_reserve(c, n);
            if (p == NULL) {
                r = -ENOBUFS;
                break;
            }
            lh_stream_fill(k->seed, k->queued, p, n);
            loop_conn_commit(c, n);
            break;
        }
        }
        if (r == -ENOBUFS)
            return; /* on_drain resumes */
        if (r != 0)
            k->bad++;
        k->queued += n;
        k->k++;
    }
}

static void lcl_connect(struct loop_conn *c, int res)
{
    struct lcl *k = loop_conn_cookie(c);

    if (res != 0) {
        k->bad++;
        return;
    }
    k->connected = 1;
    lcl_push(c);
}

static int lcl_data(struct loop_conn *c, const uint8_t *p, size_t n)
{
    struct lcl *k = loop_conn_cookie(c);

    if (p == NULL || k->rcvd + n > k->len || lh_stream_check(k->seed, k->rcvd, p, n) != 0) {
        k->bad++;
        return -EPROTO;
    }
    k->rcvd += n;
    if (k->rcvd == k->len)
        loop_conn_close(c, LOOP_CLOSE_FLUSH, 10000);
    return 0;
}

static void lcl_drain(struct loop_conn *c)
{
    struct lcl *k = loop_conn_cookie(c);

    k->drains++;
    lcl_push(c);
}

static void lcl_close(struct loop_conn *c, int err)
{
    struct lcl *k = loop_conn_cookie(c);

    k->closed++;
    k->close_err = err;
}

static const struct loop_conn_ops lcl_ops = {
    .on_data = lcl_data,
    .on_connect = lcl_connect,
    .on_drain = lcl_drain,
    .on_close = lcl_close,
};

static void test_echo_loop_clients(void **state)
{
    enum { N = 40 };
    struct lh_srv s;
    struct loop *cl;
    struct loop_config cfg;
    struct lcl *k = calloc(N, sizeof(*k));
    struct loop_conn *c;
    char err[256];
    uint64_t end;
    int closed = 0, drains = 0;
    struct loop_stats st;

    (void)state;
    assert_non_null(k);
    lh_srv_init(&s, AF_INET, LH_SRV_ECHO);
    srv_start(&s);
    loop_config_defaults(&cfg);
    cfg.max_conns = N;
    cfg.ring_entries = 128;
    cfg.recv_buf_count = 32;
    cfg.recv_buf_size = 8192;
    cfg.out_chunk_size = 4096;
    cfg.out_limit = 24 * 1024;
    if (loop_create(&cl, &cfg, err, sizeof(err)) < 0)
        fail_msg("client loop: %s", err);
    for (int i = 0; i < N; i++) {
        k[i].seed = 5000 + (uint64_t)i;
        k[i].len = 200 * 1024 + (size_t)i * 1111;
        assert_int_equal(
            loop_connect(cl, (struct sockaddr *)&s.addr, s.addrlen, 5000, &lcl_ops, &k[i], &c), 0);
        assert_ptr_equal(loop_conn_cookie(c), &k[i]);
        assert_ptr_equal(loop_conn_loop(c), cl);
        /* Half of them queue output before the connect has completed. */
        if (i % 2)
            lcl_push(c);
    }
    /* Every slot is taken now. */
    assert_int_equal(
        loop_connect(cl, (struct sockaddr *)&s.addr, s.addrlen, 5000, &lcl_ops, &k[0], &c),
        -EMFILE);
    end = lh_mono_ms() + 60000;
    while (closed < N && lh_mono_ms() < end) {
        assert_true(loop_run_once(cl, 100) >= 0);
        closed = 0;
        for (int i = 0; i < N; i++)
            closed += k[i].closed;
    }
    loop_get_stats(cl, &st);
    loop_destroy(cl);
    srv_finish(&s, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(k[i].bad, 0);
        assert_true(k[i].connected);
        assert_int_equal(k[i].closed, 1);
        assert_int_equal(k[i].close_err, 0);
        assert_int_equal(k[i].rcvd, k[i].len);
        drains += k[i].drains;
    }
    assert_true(drains > 0);
    assert_int_equal(st.connects, N);
    assert_int_equal(st.closes, N);
    assert_int_equal(st.conns_open, 0);
    assert_int_equal(atomic_load(&s.close_errors), 0);
    assert_int_equal(atomic_load(&s.bad), 0);
    free(k);
}

/* ---- pause/resume on a loop driven step by step */

struct pr {
    struct loop_conn *c;
    int paused;
    size_t rcvd;
    uint64_t seed;
    int eof, bad, closed;
    unsigned pauses, data_calls;
    int pause_each; /* pause inside every on_data, resume from a timer */
    struct loop_timer resume;
};

static int pr_data(struct loop_conn *c, const uint8_t *p, size_t n)
{
    struct pr *r = loop_conn_cookie(c);

    r->data_calls++;
    if (r->paused || r->eof)
        r->bad++;
    if (p == NULL) {
        r->eof = 1;
        return 0;
    }
    if (lh_stream_check(r->seed, r->rcvd, p, n) != 0)
        r->bad++;
    r->rcvd += n;
    if (r->pause_each) {
        r->paused = 1;
        r->pauses++;
        loop_conn_pause(c);
        loop_conn_pause(c); /* idempotent */
        loop_timer_start(loop_conn_loop(c), &r->resume, 1);
    }
    return 0;
}

static void pr_resume_fn(struct loop *l, struct loop_timer *t)
{
    struct pr *r = LOOP_CONTAINER_OF(t, struct pr, resume);

    (void)l;
    r->paused = 0;
    loop_conn_resume(r->c);
    loop_conn_resume(r->c);
}

static void pr_close(struct loop_conn *c, int err)
{
    struct pr *r = loop_conn_cookie(c);

    (void)err;
    r->closed++;
}

static const struct loop_conn_ops pr_ops = {
    .on_data = pr_data,
    .on_close = pr_close,
};

static void pr_accept(struct loop_listener *ls, struct loop_conn *c, int err)
{
    struct pr *r = loop_listener_cookie(ls);

    if (err != 0 || r->c != NULL) {
        r->bad++;
        return;
    }
    r->c = c;
    loop_conn_set(c, &pr_ops, r);
    if (!r->pause_each) {
        r->paused = 1;
        loop_conn_pause(c);
    }
}

static void test_pause_resume(void **state)
{
    struct loop *l;
    struct loop_config cfg;
    struct loop_listener *ls;
    struct sockaddr_storage a;
    socklen_t alen;
    struct pr r;
    char err[256];
    uint8_t buf[65536];
    size_t sent = 0, total = 1024 * 1024;
    uint64_t end;
    int fd;

    (void)state;
    loop_config_defaults(&cfg);
    cfg.max_conns = 4;
    cfg.ring_entries = 64;
    cfg.recv_buf_count = 16;
    cfg.recv_buf_size = 2048;
    if (loop_create(&l, &cfg, err, sizeof(err)) < 0)
        fail_msg("loop_create: %s", err);

    /* Phase 1: paused from accept; nothing is delivered until resume,
     * then data in order, then EOF. */
    memset(&r, 0, sizeof(r));
    r.seed = 99;
    loop_timer_init(&r.resume, pr_resume_fn);
    lh_loopback(AF_INET, 0, &a, &alen);
    assert_int_equal(loop_listen(l, (struct sockaddr *)&a, alen, 0, pr_accept, &r, &ls), 0);
    assert_int_equal(loop_listener_addr(ls, &a, &alen), 0);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, alen), 0);
    lh_stream_fill(r.seed, 0, buf, 30000);
    assert_int_equal(send(fd, buf, 30000, 0), 30000);
    assert_int_equal(shutdown(fd, SHUT_WR), 0);
    for (int i = 0; i < 10; i++)
        assert_true(loop_run_once(l, 10) >= 0);
    assert_non_null(r.c);
    assert_int_equal(r.data_calls, 0);
    r.paused = 0;
    loop_conn_resume(r.c);
    end = lh_mono_ms() + 5000;
    while (!r.eof && lh_mono_ms() < end)
        assert_true(loop_run_once(l, 10) >= 0);
    assert_int_equal(r.rcvd, 30000);
    assert_true(r.eof);
    assert_int_equal(r.bad, 0);
    loop_conn_close(r.c, LOOP_CLOSE_ABORT, 0);
    while (!r.closed && lh_mono_ms() < end)
        assert_true(loop_run_once(l, 10) >= 0);
    assert_int_equal(r.closed, 1);
    close(fd);

    /* Phase 2: pause inside every on_data while more data is in flight;
     * whatever the kernel already handed over is held, in order. */
    memset(&r, 0, sizeof(r));
    r.seed = 1234;
    r.pause_each = 1;
    loop_timer_init(&r.resume, pr_resume_fn);
    loop_listener_close(ls);
    lh_loopback(AF_INET, 0, &a, &alen);
    assert_int_equal(loop_listen(l, (struct sockaddr *)&a, alen, 0, pr_accept, &r, &ls), 0);
    assert_int_equal(loop_listener_addr(ls, &a, &alen), 0);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (connect(fd, (struct sockaddr *)&a, alen) < 0)
        assert_int_equal(errno, EINPROGRESS);
    end = lh_mono_ms() + 30000;
    while ((r.rcvd < total || !r.eof) && lh_mono_ms() < end) {
        if (sent < total) {
            size_t m = total - sent < sizeof(buf) ? total - sent : sizeof(buf);
            ssize_t w;

            lh_stream_fill(r.seed, sent, buf, m);
            w = send(fd, buf, m, MSG_NOSIGNAL);
            if (w > 0)
                sent += (size_t)w;
            if (sent == total)
                shutdown(fd, SHUT_WR);
        }
        assert_true(loop_run_once(l, 1) >= 0);
    }
    print_message("pauses=%u data_calls=%u\n", r.pauses, r.data_calls);
    assert_int_equal(r.rcvd, total);
    assert_true(r.eof);
    assert_int_equal(r.bad, 0);
    assert_true(r.pauses > 10);
    loop_conn_close(r.c, LOOP_CLOSE_ABORT, 0);
    loop_listener_close(ls);
    loop_listener_close(ls); /* idempotent */
    while (!r.closed && lh_mono_ms() < end)
        assert_true(loop_run_once(l, 10) >= 0);
    assert_int_equal(r.closed, 1);
    close(fd);
    loop_destroy(l);
}

/* ---- the write API at its edges, on a loop driven step by step */

struct edge {
    struct loop_conn *c;
    size_t rcvd;
};

static int edge_data(struct loop_conn *c, const uint8_t *p, size_t n)
{
    (void)c;
    (void)p;
    (void)n;
    return 0;
}

static const struct loop_conn_ops edge_ops = {.on_data = edge_data};

static void edge_accept(struct loop_listener *ls, struct loop_conn *c, int err)
{
    struct edge *e = loop_listener_cookie(ls);

    if (err == 0 && e->c == NULL) {
        e->c = c;
        loop_conn_set(c, &edge_ops, e);
    }
}

static void test_write_api_edges(void **state)
{
    struct loop *l;
    struct loop_config cfg;
    struct loop_listener *ls;
    struct sockaddr_storage a, me;
    socklen_t alen, melen = sizeof(me), plen;
    const struct sockaddr_in *peer;
    struct edge e;
    struct iovec v[2];
    char err[256];
    uint8_t *p, *q, buf[4096], want[4096];
    size_t wn = 0, got = 0;
    uint64_t end;
    int fd;

    (void)state;
    loop_config_defaults(&cfg);
    cfg.max_conns = 4;
    cfg.ring_entries = 32;
    cfg.recv_buf_count = 4;
    cfg.recv_buf_size = 1024;
    cfg.out_chunk_size = 256;
    cfg.out_limit = 1000;
    if (loop_create(&l, &cfg, err, sizeof(err)) < 0)
        fail_msg("loop_create: %s", err);
    memset(&e, 0, sizeof(e));
    lh_loopback(AF_INET, 0, &a, &alen);
    assert_int_equal(loop_listen(l, (struct sockaddr *)&a, 3, 0, edge_accept, &e, &ls), -EINVAL);
    a.ss_family = AF_UNIX;
    assert_int_equal(loop_listen(l, (struct sockaddr *)&a, alen, 0, edge_accept, &e, &ls),
                     -EAFNOSUPPORT);
    lh_loopback(AF_INET, 0, &a, &alen);
    assert_int_equal(loop_listen(l, (struct sockaddr *)&a, alen, 0, edge_accept, &e, &ls), 0);
    assert_int_equal(loop_listener_addr(ls, &a, &alen), 0);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, alen), 0);
    end = lh_mono_ms() + 2000;
    while (e.c == NULL && lh_mono_ms() < end)
        assert_true(loop_run_once(l, 10) >= 0);
    assert_non_null(e.c);

    /* The peer is the client's own address. */
    assert_int_equal(getsockname(fd, (struct sockaddr *)&me, &melen), 0);
    peer = (const struct sockaddr_in *)loop_conn_peer(e.c, &plen);
    assert_int_equal(plen, sizeof(struct sockaddr_in));
    assert_int_equal(peer->sin_port, ((struct sockaddr_in *)&me)->sin_port);
    assert_int_equal(peer->sin_addr.s_addr, htonl(INADDR_LOOPBACK));

    /* Bad vectors, empty writes. */
    assert_int_equal(loop_conn_writev(e.c, NULL, -1), -EINVAL);
    assert_int_equal(loop_conn_writev(e.c, NULL, 1), -EINVAL);
    v[0].iov_base = buf;
    v[0].iov_len = SIZE_MAX;
    v[1].iov_base = buf;
    v[1].iov_len = 2;
    assert_int_equal(loop_conn_writev(e.c, v, 2), -ENOBUFS);
    assert_int_equal(loop_conn_write(e.c, buf, 0), 0);
    assert_int_equal(loop_conn_writev(e.c, v, 0), 0);
    assert_int_equal(loop_conn_pending(e.c), 0);

    /* Reservations: larger than a chunk, committed empty, forgotten,
     * clamped to what was reserved. */
    assert_null(loop_conn_reserve(e.c, 257));
    assert_non_null(loop_conn_reserve(e.c, 10));
    loop_conn_commit(e.c, 0);
    assert_int_equal(loop_conn_pending(e.c), 0);
    assert_non_null(loop_conn_reserve(e.c, 10));
    p = loop_conn_reserve(e.c, 20); /* forgets the first */
    assert_non_null(p);
    for (int i = 0; i < 20; i++)
        p[i] = want[wn + (size_t)i] = (uint8_t)('a' + i);
    loop_conn_commit(e.c, 50); /* clamped to 20 */
    wn += 20;
    loop_conn_commit(e.c, 5); /* nothing reserved: no-op */
    assert_int_equal(loop_conn_pending(e.c), 20);
    /* Reserving inside the tail chunk, then spilling into a new one. */
    q = loop_conn_reserve(e.c, 200);
    assert_ptr_equal(q, p + 20);
    memset(q, 'q', 200);
    memset(want + wn, 'q', 200);
    loop_conn_commit(e.c, 200);
    wn += 200;
    q = loop_conn_reserve(e.c, 100);
    assert_non_null(q);
    memset(q, 'r', 100);
    memset(want + wn, 'r', 100);
    loop_conn_commit(e.c, 100);
    wn += 100;

    /* Up to the limit exactly, and not one byte more. */
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(i * 7);
    assert_int_equal(loop_conn_write(e.c, buf, 1000 - wn + 1), -ENOBUFS);
    assert_null(loop_conn_reserve(e.c, 1000 - wn + 1));
    v[0].iov_base = buf;
    v[0].iov_len = 100;
    v[1].iov_base = buf + 100;
    v[1].iov_len = 1000 - wn - 100;
    assert_int_equal(loop_conn_writev(e.c, v, 2), 0);
    memcpy(want + wn, buf, 1000 - wn);
    wn = 1000;
    assert_int_equal(loop_conn_pending(e.c), 1000);
    assert_int_equal(loop_conn_write(e.c, buf, 1), -ENOBUFS);
    /* A larger per-connection limit, then back to the default. */
    loop_conn_set_out_limit(e.c, 1001);
    assert_int_equal(loop_conn_write(e.c, "Z", 1), 0);
    want[wn++] = 'Z';
    loop_conn_set_out_limit(e.c, 0);
    assert_int_equal(loop_conn_write(e.c, "Z", 1), -ENOBUFS);

    end = lh_mono_ms() + 5000;
    while (got < wn && lh_mono_ms() < end) {
        ssize_t r;

        assert_true(loop_run_once(l, 10) >= 0);
        r = recv(fd, buf + got, sizeof(buf) - got, MSG_DONTWAIT);
        if (r > 0)
            got += (size_t)r;
    }
    assert_int_equal(got, wn);
    assert_memory_equal(buf, want, wn);
    assert_int_equal(loop_conn_pending(e.c), 0);
    close(fd);
    loop_destroy(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo_many_clients), cmocka_unit_test(test_echo_loop_clients),
        cmocka_unit_test(test_echo_big_slow),     cmocka_unit_test(test_output_limit),
        cmocka_unit_test(test_pause_resume),      cmocka_unit_test(test_echo_ring_starvation),
        cmocka_unit_test(test_echo_ipv6),         cmocka_unit_test(test_write_api_edges),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
