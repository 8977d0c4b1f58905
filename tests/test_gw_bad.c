/*
 * tests/test_gw_bad.c — h8sd's answers to bad and unauthorised input, and
 * its policy flags: invalid hosts and encodings (400), long subjects
 * (414), large bodies (413, before reading them), large heads (431), slow
 * heads (408), request smuggling shapes (400 and close), bad flag values
 * (exit 2), --authorization-key, --host-filters, --publish-only and
 * --track-interest. After every bad request a good one still works.
 */
#include "tests/gwtest.h"

#include <signal.h>
#include <sys/wait.h>

static struct gwfx fx;
static atomic_int hits;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char last_auth[256];
static char last_reply[256];
static char last_payload[256];

static void h_ok(struct responder *r, const struct nats_msg *m, void *arg)
{
    (void)arg;
    atomic_fetch_add(&hits, 1);
    pthread_mutex_lock(&mu);
    if (!responder_hdr(m, "Authorization", last_auth, sizeof(last_auth)))
        last_auth[0] = '\0';
    snprintf(last_reply, sizeof(last_reply), "%.*s", (int)m->reply.n, (const char *)m->reply.p);
    snprintf(last_payload, sizeof(last_payload), "%.*s", (int)m->payload.n,
             (const char *)m->payload.p);
    pthread_mutex_unlock(&mu);
    if (m->reply.n)
        gwt_reply_full(r, m->reply, 200, NULL, "ok");
}

static int group_setup(void **state)
{
    (void)state;
    static const char *const args[] = {"--max-body-size=1KiB", "--max-header-size=8KiB",
                                       "--header-timeout=300ms", NULL};
    if (gwt_setup(&fx, NULL, args) < 0)
        return -1;
    char a[64], b[64];
    snprintf(a, sizeof(a), "h8s.http.*.test.good");
    snprintf(b, sizeof(b), "h8s.http.*.test.good.>");
    if (responder_sub(fx.rs, a, NULL, h_ok, NULL) < 0 || responder_sub(fx.rs, b, NULL, h_ok, NULL) < 0)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    gwt_teardown(&fx);
    return 0;
}

static void good_request_works(uint16_t port)
{
    struct httpc_resp r;
    assert_int_equal(httpc_once(port, "GET /x HTTP/1.1\r\nHost: good.test\r\n\r\n", &r, 0, 5000),
                     1);
    assert_int_equal(r.status, 200);
    httpc_resp_free(&r);
}

/* Sends req and expects status; close: the connection must then be closed. */
static void expect_status(uint16_t port, const char *req, size_t len, int status, int close)
{
    struct httpc h;
    struct httpc_resp *r = malloc(sizeof(*r));
    assert_int_equal(httpc_connect(&h, port), 0);
    httpc_resp_init(r, 0);
    assert_int_equal(httpc_send(&h, req, len), 0);
    int rc = httpc_read(&h, r, 0, NULL, 5000);
    if (rc != 1 || r->status != status)
        fail_msg("request %.60s...: rc %d status %d, want %d", req, rc, r->status, status);
    if (close)
        assert_int_equal(httpc_wait_closed(&h, 2000), 1);
    httpc_resp_free(r);
    free(r);
    httpc_close(&h);
}

static void expect_str(const char *req, int status, int close)
{
    expect_status(fx.gw.port, req, strlen(req), status, close);
}

static void test_bad_hosts(void **state)
{
    (void)state;
    static const char *const hosts[] = {"a b", "*", "a>b", "127.1", "under_score.test", "a..b",
                                        "[::1%eth0]", "x.test:99999", "é.test"};
    for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
        char req[256];
        snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", hosts[i]);
        expect_str(req, 400, 0);
    }
    /* Control bytes, no Host, two Hosts: refused by the parser, closed. */
    expect_str("GET / HTTP/1.1\r\nHost: a\x01" "b\r\n\r\n", 400, 1);
    expect_str("GET / HTTP/1.1\r\n\r\n", 400, 1);
    expect_str("GET / HTTP/1.1\r\nHost: good.test\r\nHost: other.test\r\n\r\n", 400, 1);
    /* A rejected host with a body: answered without reading it, closed. */
    expect_str("POST / HTTP/1.1\r\nHost: *\r\nContent-Length: 3\r\n\r\nabc", 400, 1);
    good_request_works(fx.gw.port);
}

static void test_bad_encoding_and_long_subject(void **state)
{
    (void)state;
    expect_str("GET /100%zz HTTP/1.1\r\nHost: good.test\r\n\r\n", 400, 0);
    expect_str("GET /a/% HTTP/1.1\r\nHost: good.test\r\n\r\n", 400, 0);
    /* 2000 one-letter segments: a subject of about 4000 bytes. */
    char *req = malloc(8192);
    int n = snprintf(req, 8192, "GET /");
    for (int i = 0; i < 2000; i++)
        n += snprintf(req + n, 8192 - (size_t)n, "a/");
    n += snprintf(req + n, 8192 - (size_t)n, " HTTP/1.1\r\nHost: good.test\r\n\r\n");
    expect_status(fx.gw.port, req, (size_t)n, 414, 0);
    free(req);
    good_request_works(fx.gw.port);
}

static void test_body_limit(void **state)
{
    (void)state;
    /* Content-Length over the limit: 413 at once, the body never sent. */
    expect_str("POST / HTTP/1.1\r\nHost: good.test\r\nContent-Length: 2000\r\n\r\n", 413, 1);
    /* A chunked body passing it. */
    char *req = malloc(4096);
    int n = snprintf(req, 4096, "POST / HTTP/1.1\r\nHost: good.test\r\n"
                                "Transfer-Encoding: chunked\r\n\r\n400\r\n");
    memset(req + n, 'x', 1024);
    n += 1024;
    n += snprintf(req + n, 4096 - (size_t)n, "\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n");
    expect_status(fx.gw.port, req, (size_t)n, 413, 1);
    free(req);
    /* Exactly at the limit is fine. */
    req = malloc(2048);
    n = snprintf(req, 2048, "POST / HTTP/1.1\r\nHost: good.test\r\nContent-Length: 1024\r\n\r\n");
    memset(req + n, 'y', 1024);
    expect_status(fx.gw.port, req, (size_t)n + 1024, 200, 0);
    free(req);
}

static void test_header_limits(void **state)
{
    (void)state;
    char *req = malloc(16384);
    int n = snprintf(req, 16384, "GET / HTTP/1.1\r\nHost: good.test\r\nX-Big: ");
    memset(req + n, 'b', 9000);
    n += 9000;
    n += snprintf(req + n, 16384 - (size_t)n, "\r\n\r\n");
    expect_status(fx.gw.port, req, (size_t)n, 431, 1);
    n = snprintf(req, 16384, "GET / HTTP/1.1\r\nHost: good.test\r\n");
    for (int i = 0; i < 101; i++)
        n += snprintf(req + n, 16384 - (size_t)n, "X-F%d: v\r\n", i);
    n += snprintf(req + n, 16384 - (size_t)n, "\r\n");
    expect_status(fx.gw.port, req, (size_t)n, 431, 1);
    free(req);
    good_request_works(fx.gw.port);
}

static void test_header_timeout(void **state)
{
    (void)state;
    struct httpc h;
    struct httpc_resp r;
    assert_int_equal(httpc_connect(&h, fx.gw.port), 0);
    assert_int_equal(httpc_send_str(&h, "GET / HTTP/1.1\r\nHost: goo"), 0);
    int64_t t0 = gwt_now_ms();
    httpc_resp_init(&r, 0);
    assert_int_equal(httpc_read(&h, &r, 0, NULL, 5000), 1);
    assert_int_equal(r.status, 408);
    assert_true(gwt_now_ms() - t0 >= 250);
    httpc_resp_free(&r);
    assert_int_equal(httpc_wait_closed(&h, 2000), 1);
    httpc_close(&h);
    /* A connection that sends nothing is closed without a word. */
    assert_int_equal(httpc_connect(&h, fx.gw.port), 0);
    assert_int_equal(httpc_wait_closed(&h, 3000), 1);
    httpc_close(&h);
}

static void test_smuggling(void **state)
{
    (void)state;
    static const char *const reqs[] = {
        "POST / HTTP/1.1\r\nHost: good.test\r\nContent-Length: 5\r\n"
        "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: good.test\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"
        "hello!",
        "POST / HTTP/1.1\r\nHost: good.test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n",
        "POST / HTTP/1.1\r\nHost: good.test\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5\r\nhelloXX0\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: good.test\r\nX-A: b\r\n c\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: good.test\r\nX-A: b\rc\r\n\r\n",
        "GET / HTTP/1.1\nHost: good.test\n\n",
        "GET /  HTTP/1.1\r\nHost: good.test\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++)
        expect_str(reqs[i], 400, 1);
    good_request_works(fx.gw.port);
}

/* Runs h8sd with one bad flag: one line on stderr, exit status 2. */
static void bad_flag(const char *flag, const char *want)
{
    const char *argv[] = {gwproc_binary(), flag, NULL};
    struct gwproc_out *o = malloc(sizeof(*o));
    assert_int_equal(gwproc_run(o, argv, NULL, 10000), 0);
    assert_int_equal(o->status, 2);
    assert_int_equal(o->len, 0);
    char *nl = strchr(o->err, '\n');
    assert_non_null(nl);
    assert_int_equal(nl[1], '\0');
    if (!strstr(o->err, want))
        fail_msg("stderr: %s", o->err);
    free(o);
}

static void test_bad_flags(void **state)
{
    (void)state;
    bad_flag("--request-timeout=5x", "--request-timeout");
    bad_flag("--max-body-size=-1", "--max-body-size");
    bad_flag("--listen=nowhere", "--listen");
    bad_flag("--host-filters=bad host", "--host-filters");
    bad_flag("--workers=100", "--workers");
    bad_flag("--no-such-flag", "no-such-flag");
}

static void test_authorization_key(void **state)
{
    (void)state;
    struct gwproc g;
    static const char *const args[] = {"--authorization-key=s3cret", NULL};
    assert_int_equal(gwproc_start(&g, natsd_url(fx.nd), args), 0);
    struct httpc_resp r;
    static const char *const bad[] = {
        "GET / HTTP/1.1\r\nHost: good.test\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: good.test\r\nAuthorization: s3cre\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: good.test\r\nAuthorization: s3crett\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: good.test\r\nAuthorization: Bearer s3cret\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: good.test\r\nAuthorization: s3cret\r\nAuthorization: s3cret\r\n\r\n",
    };
    int before = atomic_load(&hits);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(httpc_once(g.port, bad[i], &r, 0, 5000), 1);
        assert_int_equal(r.status, 403);
        httpc_resp_free(&r);
    }
    assert_int_equal(atomic_load(&hits), before);
    assert_int_equal(
        httpc_once(g.port, "GET / HTTP/1.1\r\nHost: good.test\r\nAuthorization: s3cret\r\n\r\n",
                   &r, 0, 5000),
        1);
    assert_int_equal(r.status, 200);
    httpc_resp_free(&r);
    /* The key is the gateway's: it is not forwarded. */
    char auth[256];
    pthread_mutex_lock(&mu);
    memcpy(auth, last_auth, sizeof(auth));
    pthread_mutex_unlock(&mu);
    assert_string_equal(auth, "");
    /* Never logged either. */
    assert_false(gwproc_log_has(&g, "s3cret"));
    gwproc_stop(&g);
}

static void test_host_filters(void **state)
{
    (void)state;
    struct gwproc g;
    static const char *const args[] = {"--host-filters=good.test,*.wild.test", NULL};
    assert_int_equal(gwproc_start(&g, natsd_url(fx.nd), args), 0);
    char a[64];
    snprintf(a, sizeof(a), "h8s.http.*.test.wild.>");
    struct httpc_resp r;
    assert_int_equal(httpc_once(g.port, "GET / HTTP/1.1\r\nHost: other.test\r\n\r\n", &r, 0, 5000),
                     1);
    assert_int_equal(r.status, 403);
    httpc_resp_free(&r);
    assert_int_equal(httpc_once(g.port, "GET / HTTP/1.1\r\nHost: wild.test\r\n\r\n", &r, 0, 5000),
                     1);
    assert_int_equal(r.status, 403);
    httpc_resp_free(&r);
    assert_int_equal(httpc_once(g.port, "GET / HTTP/1.1\r\nHost: GOOD.test:81\r\n\r\n", &r, 0, 5000),
                     1);
    assert_int_equal(r.status, 200);
    httpc_resp_free(&r);
    /* Below the wildcard: passes the filter (no responder there: 503). */
    assert_int_equal(httpc_once(g.port, "GET / HTTP/1.1\r\nHost: a.wild.test\r\n\r\n", &r, 0, 5000),
                     1);
    assert_int_equal(r.status, 503);
    httpc_resp_free(&r);
    /* The filter looks at the real Host, never at X-Forwarded-Host. */
    assert_int_equal(httpc_once(g.port,
                                "GET / HTTP/1.1\r\nHost: other.test\r\n"
                                "X-Forwarded-Host: good.test\r\n\r\n",
                                &r, 0, 5000),
                     1);
    assert_int_equal(r.status, 403);
    httpc_resp_free(&r);
    gwproc_stop(&g);
}

static void test_publish_only(void **state)
{
    (void)state;
    struct gwproc g;
    static const char *const args[] = {"--publish-only", NULL};
    assert_int_equal(gwproc_start(&g, natsd_url(fx.nd), args), 0);
    struct httpc_resp r;
    int before = atomic_load(&hits);
    assert_int_equal(httpc_once(g.port,
                                "POST /p HTTP/1.1\r\nHost: good.test\r\nContent-Length: 4\r\n\r\n"
                                "data",
                                &r, 0, 5000),
                     1);
    assert_int_equal(r.status, 200);
    httpc_resp_free(&r);
    int64_t deadline = gwt_now_ms() + 5000;
    while (atomic_load(&hits) == before && gwt_now_ms() < deadline)
        gwt_sleep_ms(5);
    assert_int_equal(atomic_load(&hits), before + 1);
    char payload[256], reply[256];
    pthread_mutex_lock(&mu);
    memcpy(payload, last_payload, sizeof(payload));
    memcpy(reply, last_reply, sizeof(reply));
    pthread_mutex_unlock(&mu);
    assert_string_equal(payload, "data");
    assert_string_equal(reply, "");
    /* Even with nobody listening, publish-only answers 200. */
    assert_int_equal(httpc_once(g.port, "GET / HTTP/1.1\r\nHost: nobody.test\r\n\r\n", &r, 0, 5000),
                     1);
    assert_int_equal(r.status, 200);
    httpc_resp_free(&r);
    gwproc_stop(&g);
}

struct reg_msg {
    const char *subject;
    const char *json;
};

static void do_register(struct responder *r, void *arg)
{
    struct reg_msg *m = arg;
    responder_pub(r, span_cstr(m->subject), span_make(NULL, 0), span_cstr(m->json));
}

static int status_of(uint16_t port, const char *req)
{
    struct httpc_resp r;
    int rc = httpc_once(port, req, &r, 0, 5000);
    int st = rc == 1 ? r.status : rc;
    httpc_resp_free(&r);
    return st;
}

/* Polls until req gets want (registrations travel asynchronously). */
static void wait_status(uint16_t port, const char *req, int want)
{
    int64_t deadline = gwt_now_ms() + 5000;
    int st;
    while ((st = status_of(port, req)) != want && gwt_now_ms() < deadline)
        gwt_sleep_ms(20);
    assert_int_equal(st, want);
}

static void test_track_interest(void **state)
{
    (void)state;
    struct gwproc g;
    static const char *const args[] = {"--track-interest", NULL};
    assert_int_equal(gwproc_start(&g, natsd_url(fx.nd), args), 0);
    const char *get_good = "GET /any/path HTTP/1.1\r\nHost: good.test\r\n\r\n";
    assert_int_equal(status_of(g.port, get_good), 404);

    /* Our agents register whole hosts. */
    struct reg_msg reg = {"h8s.control.interest.register.test.good",
                          "{\"host\":\"good.test\",\"path\":\"*\",\"method\":\"*\"}"};
    assert_int_equal(responder_call(fx.rs, do_register, &reg), 0);
    wait_status(g.port, get_good, 200);
    assert_int_equal(status_of(g.port, "POST /x HTTP/1.1\r\nHost: Good.Test\r\n"
                                       "Content-Length: 0\r\n\r\n"),
                     200);

    /* Go services register exact entries, matched exactly (decoded path). */
    struct reg_msg exact = {"h8s.control.interest.register.test.good",
                            "{\"method\":\"GET\",\"path\":\"/only here\",\"host\":\"exact.test\","
                            "\"extra\":1}"};
    assert_int_equal(responder_call(fx.rs, do_register, &exact), 0);
    wait_status(g.port, "GET /only%20here HTTP/1.1\r\nHost: exact.test\r\n\r\n", 503);
    assert_int_equal(status_of(g.port, "GET /other HTTP/1.1\r\nHost: exact.test\r\n\r\n"), 404);
    assert_int_equal(status_of(g.port, "DELETE /only%20here HTTP/1.1\r\nHost: exact.test\r\n\r\n"),
                     404);

    /* Garbage registrations change nothing. */
    struct reg_msg junk = {"h8s.control.interest.register.test.junk", "{\"host\":\"junk.test\""};
    assert_int_equal(responder_call(fx.rs, do_register, &junk), 0);
    assert_int_equal(status_of(g.port, "GET / HTTP/1.1\r\nHost: junk.test\r\n\r\n"), 404);

    /* Unregistering removes the entry. */
    struct reg_msg unreg = {"h8s.control.interest.unregister.test.good",
                            "{\"host\":\"good.test\",\"path\":\"*\",\"method\":\"*\"}"};
    assert_int_equal(responder_call(fx.rs, do_register, &unreg), 0);
    wait_status(g.port, get_good, 404);
    gwproc_stop(&g);
}

static void test_trust_forwarded(void **state)
{
    (void)state;
    struct gwproc g;
    static const char *const args[] = {"--trust-forwarded", "--host-filters=good.test", NULL};
    assert_int_equal(gwproc_start(&g, natsd_url(fx.nd), args), 0);
    /* Behind a proxy the operator controls, its X-Forwarded-Host routes
     * and passes the filters. */
    assert_int_equal(status_of(g.port, "GET / HTTP/1.1\r\nHost: lb.internal\r\n"
                                       "X-Forwarded-Host: good.test\r\n\r\n"),
                     200);
    assert_int_equal(status_of(g.port, "GET / HTTP/1.1\r\nHost: good.test\r\n"
                                       "X-Forwarded-Host: other.test\r\n\r\n"),
                     403);
    gwproc_stop(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_hosts),
        cmocka_unit_test(test_bad_encoding_and_long_subject),
        cmocka_unit_test(test_body_limit),
        cmocka_unit_test(test_header_limits),
        cmocka_unit_test(test_header_timeout),
        cmocka_unit_test(test_smuggling),
        cmocka_unit_test(test_bad_flags),
        cmocka_unit_test(test_authorization_key),
        cmocka_unit_test(test_host_filters),
        cmocka_unit_test(test_publish_only),
        cmocka_unit_test(test_track_interest),
        cmocka_unit_test(test_trust_forwarded),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
