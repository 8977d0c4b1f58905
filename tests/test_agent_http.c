/*
 * tests/test_agent_http.c — h8srd end to end: a real nats-server, the real
 * agent binary, a real app (tests/support/backend.py), and this test in
 * the gateway's place publishing request messages and reading replies.
 *
 * Covers: every method including HEAD, odd paths and query strings (also
 * rebuilt from the subject when the gateway sends no X-H8s-Original-Path),
 * headers both ways (repeats kept, internal and hop-by-hop dropped, two
 * Set-Cookie), 204/304 without body, empty/small/large bodies by sha256,
 * complete vs streamed framing, keep-alive reuse, --rewrite-host and a
 * base path, refused requests, no listening socket, a bad flag.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/support/agtest.h"
#include "tests/support/natsd.h"

struct env {
    struct natsd *nats;
    struct agtest_proc app, agent;
    struct agtest_gw gw;
    uint8_t keep[1 << 16];
};

static struct env E;

static int setup(void **state)
{
    (void)state;
    char route[128];
    if (natsd_start(&E.nats, NULL) != 0 || agtest_backend_start(&E.app, "app1") != 0)
        return -1;
    snprintf(route, sizeof(route), "--route=app.test=http://127.0.0.1:%u", E.app.port);
    const char *args[] = {route, "--route=other.test=http://127.0.0.1:1", NULL};
    if (agtest_agent_start(&E.agent, natsd_url(E.nats), args, true) != 0)
        return -1;
    agtest_gw_init(&E.gw, natsd_url(E.nats));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    agtest_gw_free(&E.gw);
    /* A clean exit also means no sanitizer report from the agent. */
    int rc = agtest_proc_stop(&E.agent, SIGTERM, 5000);
    if (rc != 0)
        agtest_log_dump(&E.agent);
    agtest_proc_forget(&E.agent);
    agtest_proc_stop(&E.app, SIGTERM, 5000);
    natsd_stop(E.nats);
    return rc == 0 ? 0 : -1;
}

/* Sends q and waits for the whole answer, keeping its first 64 KiB. */
static struct agtest_reply *roundtrip(const struct agtest_req *cq)
{
    struct agtest_req q = *cq;
    q.keep = E.keep;
    q.keep_cap = sizeof(E.keep) - 1;
    struct agtest_reply *r = agtest_request(&E.gw, &q);
    assert_non_null(r);
    if (!agtest_wait(&E.gw, r, AGTEST_WAIT_MS)) {
        agtest_log_dump(&E.agent);
        fail_msg("no answer for %s %s", q.method ? q.method : "GET", q.path);
    }
    assert_false(r->bad);
    E.keep[r->keep_len] = '\0';
    return r;
}

static const char *body(const struct agtest_reply *r)
{
    (void)r;
    return (const char *)E.keep;
}

/* A JSON string member of the echo document, as json.dumps writes it. */
static const char *json_str(const char *doc, const char *key, char *out, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\": \"", key);
    const char *at = strstr(doc, pat);
    if (!at)
        return NULL;
    at += strlen(pat);
    size_t n = 0;
    while (at[n] && at[n] != '"' && n + 1 < cap) {
        if (at[n] == '\\' && at[n + 1])
            n++;
        n++;
    }
    snprintf(out, cap, "%.*s", (int)n, at);
    return out;
}

static void expect_echo(const struct agtest_reply *r, const char *method, const char *path,
                        const char *query)
{
    char v[1024];
    assert_int_equal(r->status, 200);
    if (!json_str(body(r), "method", v, sizeof(v)) || strcmp(v, method) != 0)
        fail_msg("method: %s", body(r));
    if (!json_str(body(r), "path", v, sizeof(v)) || strcmp(v, path) != 0)
        fail_msg("path: want %s in %s", path, body(r));
    if (!json_str(body(r), "query", v, sizeof(v)) || strcmp(v, query) != 0)
        fail_msg("query: want %s in %s", query, body(r));
}

static void test_methods(void **state)
{
    (void)state;
    const char *methods[] = {"GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"};
    struct agtest_reply *r;
    char sha[65], want[160];
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        const char *m = methods[i];
        int with_body = strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0;
        struct agtest_req q = {.method = m,
                               .path = "/echo/m",
                               .query = "x=1",
                               .body = with_body ? "hello" : NULL,
                               .body_len = with_body ? 5 : 0};
        r = roundtrip(&q);
        assert_true(r->single);
        expect_echo(r, m, "/echo/m", "x=1");
        crypto_hash_sha256_state s;
        uint8_t h[32];
        crypto_hash_sha256_init(&s);
        crypto_hash_sha256_update(&s, (const uint8_t *)"hello", with_body ? 5 : 0);
        crypto_hash_sha256_final(&s, h);
        for (int k = 0; k < 32; k++)
            snprintf(sha + 2 * k, 3, "%02x", h[k]);
        snprintf(want, sizeof(want), "\"body_sha256\": \"%s\"", sha);
        if (!strstr(body(r), want))
            fail_msg("%s body: %s", m, body(r));
    }
    /* HEAD: the length of what GET would send, and no body. */
    struct agtest_req q = {.method = "HEAD", .path = "/bytes/1000"};
    char v[32];
    r = roundtrip(&q);
    assert_int_equal(r->status, 200);
    assert_true(r->single);
    assert_string_equal(agtest_header(r, "Content-Length", 0, v, sizeof(v)), "1000");
    assert_int_equal(r->body_len, 0);
}

static void test_paths_and_queries(void **state)
{
    (void)state;
    struct agtest_reply *r;
    const char *path = "/echo/a%20b/c%2Fd//%7Euser/caf%C3%A9/";
    const char *query = "q=%E2%9C%93&x=a+b&empty=&sym=!$'()*,;:@/?&=&";
    struct agtest_req q = {.path = path, .query = query};
    r = roundtrip(&q);
    expect_echo(r, "GET", path, query);
    /* A gateway without X-H8s-Original-Path (the Go h8s): the subject's
     * tokens, which drop empty segments and the trailing slash. */
    q.no_original = true;
    r = roundtrip(&q);
    expect_echo(r, "GET", "/echo/a%20b/c/d/~user/caf%C3%A9", "");
    /* The root. */
    struct agtest_req root = {.path = "/"};
    r = roundtrip(&root);
    expect_echo(r, "GET", "/", "");
}

static void test_headers_both_ways(void **state)
{
    (void)state;
    struct agtest_reply *r;
    char v[256];
    const char *hdrs[] = {"X-Multi",
                          "1",
                          "X-Multi",
                          "2",
                          "Cookie",
                          "a=1; b=2",
                          "X-H8s-Secret",
                          "internal",
                          "Connection",
                          "X-Hop",
                          "X-Hop",
                          "hop",
                          "Keep-Alive",
                          "timeout=5",
                          "Accept",
                          "text/html, */*;q=0.1",
                          "Authorization",
                          "Bearer t0k",
                          NULL};
    struct agtest_req q = {.path = "/echo/h", .hdrs = hdrs};
    r = roundtrip(&q);
    const char *b = body(r);
    assert_non_null(strstr(b, "[\"X-Multi\", \"1\"], [\"X-Multi\", \"2\"]"));
    assert_non_null(strstr(b, "[\"Cookie\", \"a=1; b=2\"]"));
    assert_non_null(strstr(b, "[\"Host\", \"app.test\"]"));
    assert_non_null(strstr(b, "[\"X-Forwarded-For\", \"192.0.2.7\"]"));
    assert_non_null(strstr(b, "[\"Authorization\", \"Bearer t0k\"]"));
    assert_null(strcasestr(b, "X-H8s"));
    assert_null(strstr(b, "X-Hop"));
    assert_null(strstr(b, "Keep-Alive"));
    assert_null(strstr(b, "\"Connection\""));

    struct agtest_req c = {.path = "/cookies"};
    r = roundtrip(&c);
    assert_int_equal(r->status, 200);
    assert_string_equal(agtest_header(r, "Set-Cookie", 0, v, sizeof(v)), "a=1; Path=/");
    assert_string_equal(agtest_header(r, "Set-Cookie", 1, v, sizeof(v)), "b=2; HttpOnly");
    assert_null(agtest_header(r, "Set-Cookie", 2, v, sizeof(v)));
    assert_string_equal(agtest_header(r, "Status", 0, v, sizeof(v)), "200 OK");
    assert_null(agtest_header(r, "Connection", 0, v, sizeof(v)));
    assert_string_equal(body(r), "ok");
}

static void test_status_without_body(void **state)
{
    (void)state;
    struct agtest_reply *r;
    char v[64];
    struct agtest_req q = {.path = "/status/204"};
    r = roundtrip(&q);
    assert_int_equal(r->status, 204);
    assert_true(r->single);
    assert_int_equal(r->body_len, 0);
    assert_string_equal(agtest_header(r, "Status", 0, v, sizeof(v)), "204 No Content");

    q.path = "/status/304";
    r = roundtrip(&q);
    assert_int_equal(r->status, 304);
    assert_int_equal(r->body_len, 0);
    assert_string_equal(agtest_header(r, "Etag", 0, v, sizeof(v)), "\"v1\"");

    q.path = "/status/404";
    r = roundtrip(&q);
    assert_int_equal(r->status, 404);
    assert_string_equal(body(r), "status 404\n");
}

static void check_download(const char *path, uint64_t n, bool want_single)
{
    struct agtest_reply *r;
    char got[65], want[65];
    struct agtest_req q = {.path = path, .window = 4u << 20};
    r = roundtrip(&q);
    assert_int_equal(r->status, 200);
    if (r->single != want_single)
        fail_msg("%s: single=%d streamed=%d msgs=%d", path, r->single, r->streamed, r->nmsgs);
    assert_true(r->single || r->ended);
    assert_int_equal(r->body_len, n);
    agtest_body_sha(r, got);
    agtest_pattern_sha(n, want);
    assert_string_equal(got, want);
}

static void test_bodies(void **state)
{
    (void)state;
    /* Uploads: empty, small, 512 KiB, all inline. */
    static uint8_t up[512 * 1024];
    for (size_t i = 0; i < sizeof(up); i++)
        up[i] = (uint8_t)(i % 251);
    const size_t sizes[] = {0, 1, 4096, sizeof(up)};
    for (size_t i = 0; i < 4; i++) {
        struct agtest_reply *r;
        char sha[65], want[100];
        struct agtest_req q = {
            .method = "POST", .path = "/echo/up", .body = up, .body_len = sizes[i]};
        r = roundtrip(&q);
        agtest_pattern_sha(sizes[i], sha);
        snprintf(want, sizeof(want), "\"body_sha256\": \"%s\"", sha);
        if (!strstr(body(r), want))
            fail_msg("upload %zu: %s", sizes[i], body(r));
    }
    /* Downloads: one message while it fits max_payload (1 MiB), a stream
     * beyond; unknown lengths are one message when small. */
    check_download("/bytes/0", 0, true);
    check_download("/bytes/10", 10, true);
    check_download("/bytes/700000", 700000, true);
    check_download("/bytes/3000000", 3000000, false);
    check_download("/chunked/100", 100, true);
    check_download("/chunked/2000000", 2000000, false);
    check_download("/close/50000", 50000, false);
}

static void test_keepalive(void **state)
{
    (void)state;
    long before = agtest_backend_stat(E.app.port, "connections");
    for (int i = 0; i < 20; i++) {
        struct agtest_reply *r;
        struct agtest_req q = {.path = "/whoami"};
        r = roundtrip(&q);
        assert_string_equal(body(r), "app1");
    }
    long after = agtest_backend_stat(E.app.port, "connections");
    assert_true(before >= 0);
    /* One more for /stats itself; the agent reused its connection. */
    assert_true(after - before <= 3);
}

static void test_refused_requests(void **state)
{
    (void)state;
    struct agtest_reply *r;
    /* An X-H8s-Original-Path that is not a path: 400 from the agent. */
    const char *hdrs[] = {"X-H8s-Original-Path", "no-slash", NULL};
    struct agtest_req q = {.path = "/echo", .no_original = true, .hdrs = hdrs};
    r = roundtrip(&q);
    assert_int_equal(r->status, 400);
    assert_true(r->single);
    /* A host nobody serves: NATS answers "no responders". */
    struct agtest_req n = {.host = "nobody.test", .path = "/"};
    r = roundtrip(&n);
    assert_true(r->no_responders);
    /* A backend that refuses connections: 502. */
    struct agtest_req o = {.host = "other.test", .path = "/"};
    r = roundtrip(&o);
    assert_int_equal(r->status, 502);
    assert_true(agtest_log_wait(&E.agent, "event=backend_error", 2000));
}

static void test_rewrite_host_and_base(void **state)
{
    (void)state;
    struct agtest_proc rw;
    char route[128], want[96];
    snprintf(route, sizeof(route), "--route=rw.test=http://127.0.0.1:%u/echo/", E.app.port);
    const char *args[] = {route, "--rewrite-host", NULL};
    assert_int_equal(agtest_agent_start(&rw, natsd_url(E.nats), args, true), 0);
    struct agtest_reply *r;
    struct agtest_req q = {.host = "rw.test", .path = "/x/y", .query = "a=1"};
    r = roundtrip(&q);
    expect_echo(r, "GET", "/echo/x/y", "a=1");
    snprintf(want, sizeof(want), "[\"Host\", \"127.0.0.1:%u\"]", E.app.port);
    assert_non_null(strstr(body(r), want));
    assert_non_null(strstr(body(r), "[\"X-Forwarded-Host\", \"rw.test\"]"));
    assert_int_equal(agtest_proc_stop(&rw, SIGTERM, 5000), 0);
    agtest_proc_forget(&rw);
}

/* Configuration the Go h8srd way (environment), a backend by name, and
 * SIGHUP: counters logged, names resolved again off the loop. */
static void test_env_and_names(void **state)
{
    (void)state;
    struct agtest_proc p;
    char url[64];
    snprintf(url, sizeof(url), "http://localhost:%u/echo", E.app.port);
    setenv("H8SRD_HOSTNAME", "env1.test,env2.test", 1);
    setenv("H8SRD_BACKEND_URL", url, 1);
    int rc = agtest_agent_start(&p, natsd_url(E.nats), NULL, true);
    unsetenv("H8SRD_HOSTNAME");
    unsetenv("H8SRD_BACKEND_URL");
    assert_int_equal(rc, 0);
    const char *hosts[] = {"env1.test", "env2.test"};
    for (int i = 0; i < 2; i++) {
        struct agtest_req q = {.host = hosts[i], .path = "/e"};
        struct agtest_reply *r = roundtrip(&q);
        expect_echo(r, "GET", "/echo/e", "");
    }
    kill(p.pid, SIGHUP);
    assert_true(agtest_log_wait(&p, "event=backend_resolved host=localhost", 5000));
    assert_true(agtest_log_wait(&p, "event=stats requests=2", 1000));
    struct agtest_req q = {.host = "env2.test", .path = "/after-hup"};
    expect_echo(roundtrip(&q), "GET", "/echo/after-hup", "");
    assert_int_equal(agtest_proc_stop(&p, SIGTERM, 5000), 0);
    agtest_proc_forget(&p);
}

static void test_no_listening_socket(void **state)
{
    (void)state;
    int sockets = 0;
    int listening = agtest_listeners(E.agent.pid, &sockets);
    assert_int_equal(listening, 0);
    assert_true(sockets >= 2); /* NATS and a pooled app connection at least */
}

static void test_bad_flag(void **state)
{
    (void)state;
    struct agtest_proc p;
    const char *args[] = {"--route=a.test=http://127.0.0.1:1", "--backend-timeout=5parsecs", NULL};
    assert_int_equal(agtest_agent_start(&p, natsd_url(E.nats), args, false), 0);
    assert_int_equal(agtest_proc_stop(&p, 0, 5000), 2);
    assert_true(agtest_log_wait(&p, "h8srd: invalid value \"5parsecs\" for --backend-timeout", 0));
    agtest_proc_forget(&p);
    const char *args2[] = {"--hostname=a.test", NULL};
    assert_int_equal(agtest_agent_start(&p, natsd_url(E.nats), args2, false), 0);
    assert_int_equal(agtest_proc_stop(&p, 0, 5000), 2);
    assert_true(agtest_log_wait(&p, "h8srd: --hostname needs --backend-url\n", 0));
    agtest_proc_forget(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_methods),
        cmocka_unit_test(test_paths_and_queries),
        cmocka_unit_test(test_headers_both_ways),
        cmocka_unit_test(test_status_without_body),
        cmocka_unit_test(test_bodies),
        cmocka_unit_test(test_keepalive),
        cmocka_unit_test(test_refused_requests),
        cmocka_unit_test(test_rewrite_host_and_base),
        cmocka_unit_test(test_env_and_names),
        cmocka_unit_test(test_no_listening_socket),
        cmocka_unit_test(test_bad_flag),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
