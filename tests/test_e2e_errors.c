/*
 * tests/test_e2e_errors.c — what goes wrong, through the whole tunnel
 * (curl or raw sockets → h8sd → nats-server → h8srd → the test app).
 *
 * Bad input gets its status from the real gateway and nothing else: an
 * invalid Host or percent-encoding → 400, a subject too long → 414, a body
 * over --max-body-size → 413 (before reading it when Content-Length says
 * so), a head too large or with too many fields → 431, a head not complete
 * within --header-timeout → 408 and close, request smuggling shapes → 400
 * and close, and none of these reaches the app. No agent for a host → 503;
 * an app that refuses the connection → 502, one that cuts its body short →
 * a cut client connection, never a complete response; an app silent past
 * the agent's --backend-timeout → 504, while a stream whose every silence
 * is shorter than both timeouts lasts as long as it needs. A client that
 * goes away mid-stream makes the agent drop its connection to the app. SIGTERM drains both daemons: in-flight exchanges
 * finish, new connections are refused, exit status 0.
 */
#include "tests/e2e.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#define GW_ARGS "--header-timeout=1s", "--request-timeout=2s", "--drain-timeout=5s"

/* A loopback port nothing listens on (bound, then closed), or 0. */
static uint16_t dead_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    uint16_t port = 0;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static int group_setup(void **state)
{
    static const char *const gw_args[] = {GW_ARGS, NULL};
    char dead[80];
    uint16_t port = dead_port();
    if (port == 0)
        return -1;
    /* dead.test goes to an app that is not there. */
    snprintf(dead, sizeof(dead), "--route=dead.test=http://127.0.0.1:%u", (unsigned)port);
    const char *const agent_args[] = {"--backend-timeout=1s", dead, NULL};
    const struct tunnel_opts o = {.agents = 1, .gw_args = gw_args, .agent_args = agent_args};
    return e2e_group_start(state, &o);
}

/* Sends req and expects status code; close: the gateway must also close
 * the connection by itself (the request does not ask for it). */
static void expect_raw(struct tunnel *t, const char *req, size_t n, int code, int close)
{
    struct rawsock_buf *b = malloc(sizeof(*b));
    assert_non_null(b);
    int closed = e2e_raw(t, req, n, b, close ? 5000 : 2000);
    if (e2e_status(b->buf) != code || (close && !closed))
        fprintf(stderr, "request %.60s...: want %d%s, got %s\n---\n%.300s\n---\n", req, code,
                close ? " and close" : "", closed ? "closed" : "open", b->buf);
    assert_int_equal(e2e_status(b->buf), code);
    if (close)
        assert_true(closed);
    /* One answer, nothing after it (no second response to a smuggled
     * request). */
    assert_int_equal(e2e_count(b->buf, "HTTP/1."), 1);
    free(b);
}

static void expect_str(struct tunnel *t, const char *req, int code, int close)
{
    expect_raw(t, req, strlen(req), code, close);
}

/* The app's request count, which includes the /stats request reading it. */
static long app_requests(struct tunnel *t)
{
    long n = tunnel_backend_stat(t, 0, "requests");
    assert_true(n >= 0);
    return n;
}

/* Asserts that no request reached the app since app_requests() said
 * before (only this second /stats request). */
static void assert_app_untouched(struct tunnel *t, long before)
{
    assert_int_equal(app_requests(t), before + 1);
}

static void test_bad_host(void **state)
{
    struct tunnel *t = *state;
    static const char *const hosts[] = {
        "bad host", "a*b.test", "a>b.test", "app.test\x01", "under_score.test", "127.1",
        "app..test", "[::1%eth0]", "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z."
        "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s."
        "t.u.v.w.x.y.z.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.a.b.c.d.e.f.g.h.i.j.k.l."
        "m.n.o.p.q.r.s.t.u.v.w.x.y.z.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.toolong",
    };
    char req[1024];
    long before = app_requests(t);
    for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
        snprintf(req, sizeof(req), "GET /echo HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
                 hosts[i]);
        expect_str(t, req, 400, 0);
    }
    /* HTTP/1.1 without any Host, and with two. */
    expect_str(t, "GET /echo HTTP/1.1\r\nConnection: close\r\n\r\n", 400, 0);
    expect_str(t, "GET /echo HTTP/1.1\r\nHost: app.test\r\nHost: other.test\r\n"
                  "Connection: close\r\n\r\n",
               400, 0);
    assert_app_untouched(t, before);
    /* Case and one trailing dot do not matter: the same host. */
    e2e_get_expect(t, "APP.Test", "/whoami", 200, "b0");
    e2e_get_expect(t, "app.test.", "/whoami", 200, "b0");
    e2e_get_expect(t, "app.test:8080", "/whoami", 200, "b0");
    e2e_pass(t);
}

static void test_bad_percent_encoding(void **state)
{
    struct tunnel *t = *state;
    long before = app_requests(t);
    expect_str(t, "GET /a%zz HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n", 400, 0);
    expect_str(t, "GET /a/%2 HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n", 400, 0);
    expect_str(t, "GET /a% HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n", 400, 0);
    assert_app_untouched(t, before);
    /* Valid at the first decode only: kept, and the app gets it as sent. */
    struct tunnel_run r;
    const char *args[] = {"--path-as-is", NULL};
    e2e_curl_ok(t, &r, NULL, "/echo/100%25", args);
    assert_int_equal(r.code, 200);
    assert_non_null(strstr(r.out, "\"path\": \"/echo/100%25\""));
    tunnel_run_free(&r);
    e2e_pass(t);
}

static void test_subject_too_long(void **state)
{
    struct tunnel *t = *state;
    /* 1,400 segments "ab": 4,200 subject bytes, over the 3,840 allowed,
     * in a head well under --max-header-size. */
    size_t cap = 8192, n = 0;
    char *req = malloc(cap);
    assert_non_null(req);
    n += (size_t)snprintf(req, cap, "GET ");
    for (int i = 0; i < 1400; i++)
        n += (size_t)snprintf(req + n, cap - n, "/ab");
    n += (size_t)snprintf(req + n, cap - n, " HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n");
    assert_true(n < cap);
    long before = app_requests(t);
    expect_raw(t, req, n, 414, 0);
    assert_app_untouched(t, before);
    free(req);
    e2e_pass(t);
}

static void test_body_too_large(void **state)
{
    struct tunnel *t = *state;
    long before = app_requests(t);
    /* Declared over the 2 MiB default: 413 at once, without the body
     * (nothing of it is ever sent here). */
    struct rawsock_buf *b = malloc(sizeof(*b));
    int err;
    assert_non_null(b);
    int fd = rawsock_connect(t->port, E2E_RAW_MS);
    assert_true(fd >= 0);
    rawsock_buf_reset(b);
    assert_int_equal(rawsock_send_str(fd, "POST /echo HTTP/1.1\r\nHost: app.test\r\n"
                                          "Content-Length: 3000000\r\n\r\n"),
                     0);
    assert_non_null(rawsock_read_until(fd, b, "\r\n\r\n", E2E_RAW_MS, &err));
    assert_int_equal(e2e_status(b->buf), 413);
    close(fd);
    /* curl announces 3 MiB with Expect: 100-continue: 413 instead of 100. */
    char file[TUNNEL_PATH_MAX], at[TUNNEL_PATH_MAX + 1];
    struct tunnel_run r;
    assert_int_equal(tunnel_pattern_file(t, 3u << 20, file), 0);
    snprintf(at, sizeof(at), "@%s", file);
    const char *args[] = {"--data-binary", at, NULL};
    e2e_curl_ok(t, &r, NULL, "/echo", args);
    assert_int_equal(r.code, 413);
    tunnel_run_free(&r);
    assert_app_untouched(t, before);
    /* Chunked, so the size shows only while reading: 413 all the same
     * (the app may have seen the start of it: it is aborted). */
    const char *chunked[] = {"--data-binary", at, "-H", "Transfer-Encoding: chunked", NULL};
    int rc = tunnel_curl(t, &r, NULL, "/echo", chunked, E2E_CURL_MS);
    /* The gateway may stop reading and close once it answered: curl then
     * reports a failed send, after having read the 413. */
    assert_true(rc == 0 || rc == 55 || rc == 56);
    assert_int_equal(r.code, 413);
    tunnel_run_free(&r);
    unlink(file);
    free(b);
    e2e_pass(t);
}

static void test_header_too_large(void **state)
{
    struct tunnel *t = *state;
    size_t cap = 32768, n;
    char *req = malloc(cap);
    assert_non_null(req);
    long before = app_requests(t);
    /* One field of 20,000 bytes: the head passes the 16 KiB default. */
    n = (size_t)snprintf(req, cap, "GET /echo HTTP/1.1\r\nHost: app.test\r\nX-Big: ");
    memset(req + n, 'x', 20000);
    n += 20000;
    n += (size_t)snprintf(req + n, cap - n, "\r\nConnection: close\r\n\r\n");
    expect_raw(t, req, n, 431, 0);
    /* 150 small fields: more than the gateway takes. */
    n = (size_t)snprintf(req, cap, "GET /echo HTTP/1.1\r\nHost: app.test\r\n");
    for (int i = 0; i < 150; i++)
        n += (size_t)snprintf(req + n, cap - n, "X-F%d: v\r\n", i);
    n += (size_t)snprintf(req + n, cap - n, "Connection: close\r\n\r\n");
    expect_raw(t, req, n, 431, 0);
    assert_app_untouched(t, before);
    free(req);
    e2e_pass(t);
}

static void test_header_timeout(void **state)
{
    struct tunnel *t = *state;
    struct rawsock_buf *b = malloc(sizeof(*b));
    assert_non_null(b);
    uint64_t t0 = tunnel_now_ms();
    /* Half a head, then silence: 408 after --header-timeout=1s, closed. */
    assert_int_equal(e2e_raw_str(t, "GET /echo HTTP/1.1\r\nHost: app.test\r\n", b, 8000), 1);
    uint64_t took = tunnel_now_ms() - t0;
    assert_int_equal(e2e_status(b->buf), 408);
    assert_true(took >= 900);
    free(b);
    e2e_pass(t);
}

static void test_smuggling(void **state)
{
    struct tunnel *t = *state;
    static const char *const reqs[] = {
        /* Content-Length with Transfer-Encoding. */
        "POST /echo HTTP/1.1\r\nHost: app.test\r\nContent-Length: 40\r\n"
        "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /whoami HTTP/1.1\r\nHost: app.test\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n"
        "Content-Length: 5\r\n\r\n0\r\n\r\n",
        /* Two Content-Length values that differ. */
        "POST /echo HTTP/1.1\r\nHost: app.test\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"
        "hello!",
        "POST /echo HTTP/1.1\r\nHost: app.test\r\nContent-Length: 5, 6\r\n\r\nhello!",
        /* Bad chunk sizes. */
        "POST /echo HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n"
        "zz\r\nhello\r\n0\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n"
        "-5\r\nhello\r\n0\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n"
        "fffffffffffffffff\r\nhello\r\n0\r\n\r\n",
        /* Obsolete line folding. */
        "GET /echo HTTP/1.1\r\nHost: app.test\r\nX-A: 1\r\n  folded\r\n\r\n",
        /* Bare CR in a field value and as a line end. */
        "GET /echo HTTP/1.1\r\nHost: app.test\r\nX-A: 1\r2\r\n\r\n",
        "GET /echo HTTP/1.1\rHost: app.test\r\n\r\n",
        /* Transfer-Encoding whose last coding is not chunked. */
        "POST /echo HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"
        "0\r\n\r\n",
        /* Whitespace before the colon. */
        "GET /echo HTTP/1.1\r\nHost: app.test\r\nContent-Length : 5\r\n\r\nhello",
    };
    long before = app_requests(t);
    for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++)
        expect_str(t, reqs[i], 400, 1);
    assert_app_untouched(t, before);
    e2e_pass(t);
}

static void test_no_agent(void **state)
{
    struct tunnel *t = *state;
    struct tunnel_run r;
    uint64_t t0 = tunnel_now_ms();
    e2e_curl_ok(t, &r, "nobody.test", "/x", NULL);
    assert_int_equal(r.code, 503);
    /* At once (NATS says no responders), not after --request-timeout. */
    assert_true(tunnel_now_ms() - t0 < 1900);
    tunnel_run_free(&r);
    e2e_pass(t);
}

static void test_slow_backend(void **state)
{
    struct tunnel *t = *state;
    struct tunnel_run r;
    /* The app answers after 3 s; the agent gives up after 1 s of silence. */
    e2e_curl_ok(t, &r, NULL, "/slow/3000", NULL);
    assert_int_equal(r.code, 504);
    tunnel_run_free(&r);
    e2e_pass(t);
}

/* The app refuses the connection: 502. The app cuts a streamed body
 * short: the client's connection is cut, never a complete response. */
static void test_app_fails(void **state)
{
    struct tunnel *t = *state;
    e2e_get_expect(t, "dead.test", "/x", 502, NULL);
    static const char *const paths[] = {"/die/10", "/die/300000"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        struct tunnel_run r;
        int rc = tunnel_curl(t, &r, NULL, paths[i], NULL, E2E_CURL_MS);
        assert_int_equal(r.code, 200);
        /* 18: the body ended early; 56: the connection was reset. */
        assert_true(rc == 18 || rc == 56);
        tunnel_run_free(&r);
    }
    e2e_pass(t);
}

/* Timeouts are idle limits: 6 events 700 ms apart take 3.5 s, longer than
 * the gateway's 2 s and the agent's 1 s, and every silence is shorter. */
static void test_idle_not_total(void **state)
{
    struct tunnel *t = *state;
    struct tunnel_run r;
    uint64_t t0 = tunnel_now_ms();
    e2e_curl_ok(t, &r, NULL, "/sse/6/700", NULL);
    assert_int_equal(r.code, 200);
    assert_true(tunnel_now_ms() - t0 >= 3500);
    assert_int_equal(e2e_count(r.out, "data: event "), 6);
    assert_non_null(strstr(r.out, "data: event 5\n\n"));
    tunnel_run_free(&r);
    e2e_pass(t);
}

static int wait_stat(struct tunnel *t, const char *key, long want, int ms)
{
    uint64_t deadline = tunnel_now_ms() + (uint64_t)ms;
    while (tunnel_backend_stat(t, 0, key) != want) {
        if (tunnel_now_ms() >= deadline)
            return 0;
        tunnel_sleep_ms(50);
    }
    return 1;
}

/* curl gives up on an endless stream: within a few seconds the app sees
 * its connection closed (the agent stopped reading from it). */
static void test_client_disconnect(void **state)
{
    struct tunnel *t = *state;
    struct tunnel_run r;
    long aborted = tunnel_backend_stat(t, 0, "aborted");
    assert_true(aborted >= 0);
    const char *args[] = {"--max-time", "1.5", NULL};
    assert_int_equal(tunnel_curl(t, &r, NULL, "/forever", args, E2E_CURL_MS), 28);
    assert_int_equal(r.code, 200);
    assert_true(r.total >= 1024);
    tunnel_run_free(&r);
    assert_true(wait_stat(t, "aborted", aborted + 1, 8000));
    assert_true(wait_stat(t, "forever_active", 0, 2000));
    /* The gateway said why on the connection-close subject. */
    assert_true(tunnel_log_wait(&t->gw, "client_closed", 2000));
    e2e_pass(t);
}

/* curl /slow/800 in the background, the daemon p gets SIGTERM meanwhile. */
static void drain_one(struct tunnel *t, struct tunnel_proc *p)
{
    struct tunnel_run r;
    /* Each /stats read counts itself: after k reads past base, a count
     * above base + k means the slow request has reached the app. */
    long base = app_requests(t), k = 0;
    assert_int_equal(tunnel_curl_start(t, &r, NULL, "/slow/800", NULL), 0);
    uint64_t deadline = tunnel_now_ms() + 10000;
    while (app_requests(t) <= base + ++k) {
        assert_true(tunnel_now_ms() < deadline);
        tunnel_sleep_ms(20);
    }
    /* The app answers 0.8 s after it got the request (within the agent's
     * 1 s --backend-timeout): the signal comes while it is in flight. */
    assert_int_equal(tunnel_proc_signal(p, SIGTERM), 0);
    if (p == &t->gw) {
        /* While the exchange is still in flight, new clients are refused. */
        tunnel_sleep_ms(150);
        assert_true(tunnel_run_poll(&r, 0));
        assert_int_equal(rawsock_connect(t->port, 1000), -ECONNREFUSED);
    }
    assert_int_equal(tunnel_run_wait(&r, E2E_CURL_MS), 0);
    assert_int_equal(r.code, 200);
    assert_string_equal(r.out, "slow\n");
    assert_int_equal(tunnel_proc_wait(p, 8000), 0);
    tunnel_run_free(&r);
}

static void test_gateway_drains(void **state)
{
    struct tunnel *t = *state;
    uint16_t port = t->port;
    drain_one(t, &t->gw);
    /* Gone: nothing accepts on its port any more. */
    assert_int_equal(rawsock_connect(port, 1000), -ECONNREFUSED);
    /* A fresh gateway for the tests after this one. */
    static const char *const gw_args[] = {GW_ARGS, NULL};
    assert_int_equal(tunnel_gw_start(t, gw_args), 0);
    e2e_get_expect(t, NULL, "/whoami", 200, "b0");
    e2e_pass(t);
}

static void test_agent_drains(void **state)
{
    struct tunnel *t = *state;
    drain_one(t, &t->agent[0]);
    /* No agent left for the host. */
    e2e_get_expect(t, NULL, "/whoami", 503, NULL);
    e2e_pass(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        E2E_TEST(test_bad_host),          E2E_TEST(test_bad_percent_encoding),
        E2E_TEST(test_subject_too_long),  E2E_TEST(test_body_too_large),
        E2E_TEST(test_header_too_large),  E2E_TEST(test_header_timeout),
        E2E_TEST(test_smuggling),         E2E_TEST(test_no_agent),
        E2E_TEST(test_slow_backend),      E2E_TEST(test_app_fails),
        E2E_TEST(test_idle_not_total),
        E2E_TEST(test_client_disconnect), E2E_TEST(test_gateway_drains),
        E2E_TEST(test_agent_drains),
    };
    return cmocka_run_group_tests(tests, group_setup, e2e_group_stop);
}
