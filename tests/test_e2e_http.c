/*
 * tests/test_e2e_http.c — HTTP through the whole tunnel: curl → h8sd →
 * nats-server → h8srd → the test app (tests/support/backend.py), every
 * part a real process on loopback.
 *
 * Every method incl. HEAD; paths and query strings with odd characters
 * reach the app byte for byte; multi-valued response headers (Set-Cookie
 * twice); statuses incl. 204 and 304 without a body; empty, small and
 * large bodies both ways checked by sha256 (larger than NATS's
 * max_payload, so they stream); a chunked request body; server-sent events
 * reaching the client one by one while the stream is open; keep-alive and
 * pipelined requests answered in order. h8sd runs two workers.
 */
#include "tests/e2e.h"

/* Larger than the server's 1 MiB max_payload: these bodies stream. */
#define BIG_UP (3u * 1024 * 1024 + 17)
#define BIG_DOWN (5u * 1024 * 1024 + 3)

static int group_setup(void **state)
{
    static const char *const gw_args[] = {"--workers=2", "--max-body-size=8M", NULL};
    const struct tunnel_opts o = {.agents = 1, .gw_args = gw_args};
    return e2e_group_start(state, &o);
}

/* The value of a JSON string field "key": "..." of the app's /echo
 * document, copied into out (the tests avoid characters JSON escapes). */
static const char *json_str(const char *doc, const char *key, char *out, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\": \"", key);
    const char *s = strstr(doc, pat);
    assert_non_null(s);
    s += strlen(pat);
    const char *e = strchr(s, '"');
    assert_non_null(e);
    size_t n = (size_t)(e - s);
    assert_true(n < cap);
    memcpy(out, s, n);
    out[n] = '\0';
    return out;
}

static long json_num(const char *doc, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\": ", key);
    const char *s = strstr(doc, pat);
    assert_non_null(s);
    return strtol(s + strlen(pat), NULL, 10);
}

static void test_methods(void **state)
{
    struct tunnel *t = *state;
    static const char *const methods[] = {"GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS",
                                          "TRACE", "PURGE"};
    char got[32];
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        struct tunnel_run r;
        const char *args[] = {"-X", methods[i], NULL};
        e2e_curl_ok(t, &r, NULL, "/echo/m", args);
        assert_int_equal(r.code, 200);
        assert_string_equal(json_str(r.out, "method", got, sizeof(got)), methods[i]);
        assert_string_equal(json_str(r.out, "path", got, sizeof(got)), "/echo/m");
        tunnel_run_free(&r);
    }
    /* HEAD: the head of a GET, Content-Length included, and no body. */
    struct tunnel_run r;
    char cl[32];
    const char *head[] = {"-I", NULL};
    e2e_curl_ok(t, &r, NULL, "/bytes/1000", head);
    assert_int_equal(r.code, 200);
    assert_int_equal(tunnel_run_header(&r, "Content-Length", 0, cl, sizeof(cl)), 1);
    assert_string_equal(cl, "1000");
    tunnel_run_free(&r);
    /* HEAD and then GET on one connection: the GET's answer follows the
     * HEAD's head at once, so the HEAD answer carried no body bytes. */
    static const char req[] = "HEAD /bytes/1000 HTTP/1.1\r\nHost: " TUNNEL_HOST "\r\n\r\n"
                              "GET /whoami HTTP/1.1\r\nHost: " TUNNEL_HOST
                              "\r\nConnection: close\r\n\r\n";
    struct rawsock_buf *b = malloc(sizeof(*b));
    assert_non_null(b);
    assert_int_equal(e2e_raw(t, req, sizeof(req) - 1, b, E2E_RAW_MS), 1);
    assert_int_equal(e2e_status(b->buf), 200);
    assert_non_null(strstr(b->buf, "Content-Length: 1000\r\n"));
    const char *second = strstr(b->buf, "\r\n\r\n");
    assert_non_null(second);
    assert_memory_equal(second + 4, "HTTP/1.1 200 ", 13);
    assert_int_equal(b->len - (size_t)(strstr(second + 4, "\r\n\r\n") + 4 - b->buf), 2);
    assert_memory_equal(b->buf + b->len - 2, "b0", 2);
    free(b);
    e2e_pass(t);
}

/* Paths and queries reach the app exactly as the client sent them. */
static void test_odd_targets(void **state)
{
    struct tunnel *t = *state;
    static const struct {
        const char *target, *path, *query;
        int has_query;
    } v[] = {
        {"/echo/plain?a=1&b=2", "/echo/plain", "a=1&b=2", 1},
        {"/echo/q?x=%20%2B+&y=%zz&z=%E2%82%AC", "/echo/q", "x=%20%2B+&y=%zz&z=%E2%82%AC", 1},
        /* "?" with nothing after it arrives as no query: the wire carries
         * X-H8s-Original-Query, empty either way. */
        {"/echo/empty?", "/echo/empty", "", -1},
        {"/echo/none", "/echo/none", "", 0},
        {"/echo/slashes?next=/a/b?c=d;e=f", "/echo/slashes", "next=/a/b?c=d;e=f", 1},
        {"/echo/a%20b//c/", "/echo/a%20b//c/", "", 0},
        {"/echo/100%25/x.y/~u/$&+:=@", "/echo/100%25/x.y/~u/$&+:=@", "", 0},
        {"/echo/%2F%2e%2E/", "/echo/%2F%2e%2E/", "", 0},
        {"/echo/semi;p=1?q=%3B", "/echo/semi;p=1", "q=%3B", 1},
    };
    char got[256];
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        struct tunnel_run r;
        const char *args[] = {"--path-as-is", "-g", NULL};
        e2e_curl_ok(t, &r, NULL, v[i].target, args);
        assert_int_equal(r.code, 200);
        assert_string_equal(json_str(r.out, "path", got, sizeof(got)), v[i].path);
        assert_string_equal(json_str(r.out, "query", got, sizeof(got)), v[i].query);
        if (v[i].has_query >= 0)
            assert_non_null(strstr(r.out, v[i].has_query ? "\"has_query\": true"
                                                         : "\"has_query\": false"));
        tunnel_run_free(&r);
    }
    e2e_pass(t);
}

static void test_set_cookie_twice(void **state)
{
    struct tunnel *t = *state;
    struct tunnel_run r;
    char v[128];
    e2e_curl_ok(t, &r, NULL, "/cookies", NULL);
    assert_int_equal(r.code, 200);
    assert_string_equal(r.out, "ok");
    assert_int_equal(tunnel_run_header(&r, "Set-Cookie", 0, v, sizeof(v)), 2);
    assert_string_equal(v, "a=1; Path=/");
    tunnel_run_header(&r, "Set-Cookie", 1, v, sizeof(v));
    assert_string_equal(v, "b=2; HttpOnly");
    /* Internal headers of the wire convention never reach the client. */
    assert_int_equal(tunnel_run_header(&r, "Status-Code", 0, NULL, 0), 0);
    assert_int_equal(tunnel_run_header(&r, "Status", 0, NULL, 0), 0);
    tunnel_run_free(&r);
    e2e_pass(t);
}

static void test_statuses(void **state)
{
    struct tunnel *t = *state;
    static const int codes[] = {201, 204, 304, 400, 404, 418, 500, 503};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        struct tunnel_run r;
        char path[32], body[32], etag[16];
        snprintf(path, sizeof(path), "/status/%d", codes[i]);
        e2e_curl_ok(t, &r, NULL, path, NULL);
        assert_int_equal(r.code, codes[i]);
        if (codes[i] == 204 || codes[i] == 304) {
            assert_int_equal(r.total, 0);
            assert_int_equal(tunnel_run_header(&r, "Transfer-Encoding", 0, NULL, 0), 0);
        } else {
            snprintf(body, sizeof(body), "status %d\n", codes[i]);
            assert_string_equal(r.out, body);
        }
        assert_int_equal(tunnel_run_header(&r, "ETag", 0, etag, sizeof(etag)), 1);
        assert_string_equal(etag, "\"v1\"");
        tunnel_run_free(&r);
    }
    e2e_pass(t);
}

/* POSTs n pattern bytes (extra curl arguments in more) and checks that
 * the app saw exactly them. */
static void post_pattern(struct tunnel *t, uint64_t n, const char *more)
{
    char file[TUNNEL_PATH_MAX], at[TUNNEL_PATH_MAX + 1], want[65], got[80];
    struct tunnel_run r;
    assert_int_equal(tunnel_pattern_file(t, n, file), 0);
    snprintf(at, sizeof(at), "@%s", file);
    const char *args[] = {"--data-binary", at, "-H", "Content-Type: application/octet-stream",
                          more ? "-H" : NULL, more, NULL};
    e2e_curl_ok(t, &r, NULL, "/echo/upload", args);
    assert_int_equal(r.code, 200);
    assert_int_equal(json_num(r.out, "body_len"), (long)n);
    tunnel_pattern_sha(n, want);
    assert_string_equal(json_str(r.out, "body_sha256", got, sizeof(got)), want);
    unlink(file);
    tunnel_run_free(&r);
}

static void test_request_bodies(void **state)
{
    struct tunnel *t = *state;
    post_pattern(t, 0, NULL);
    post_pattern(t, 1, NULL);
    post_pattern(t, 1000, NULL);
    post_pattern(t, BIG_UP, NULL);
    e2e_pass(t);
}

static void test_chunked_request_body(void **state)
{
    struct tunnel *t = *state;
    post_pattern(t, 0, "Transfer-Encoding: chunked");
    post_pattern(t, 70000, "Transfer-Encoding: chunked");
    post_pattern(t, BIG_UP, "Transfer-Encoding: chunked");
    e2e_pass(t);
}

static void test_response_bodies(void **state)
{
    struct tunnel *t = *state;
    static const struct {
        const char *kind;
        uint64_t n;
    } v[] = {{"bytes", 0},      {"bytes", 1},       {"bytes", 1000},      {"bytes", BIG_DOWN},
             {"chunked", 0},    {"chunked", 5000},  {"chunked", 300000},  {"close", 200000}};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        struct tunnel_run r;
        char path[64], want[65];
        snprintf(path, sizeof(path), "/%s/%llu", v[i].kind, (unsigned long long)v[i].n);
        e2e_curl_ok(t, &r, NULL, path, NULL);
        assert_int_equal(r.code, 200);
        assert_int_equal(r.total, v[i].n);
        tunnel_pattern_sha(v[i].n, want);
        assert_string_equal(r.sha, want);
        tunnel_run_free(&r);
    }
    e2e_pass(t);
}

/* Each event reaches the client while the app is still producing the
 * next ones (4 events 400 ms apart). */
static void test_sse_one_by_one(void **state)
{
    struct tunnel *t = *state;
    struct rawsock_buf *b = malloc(sizeof(*b));
    int err;
    assert_non_null(b);
    int fd = rawsock_connect(t->port, E2E_RAW_MS);
    assert_true(fd >= 0);
    rawsock_buf_reset(b);
    assert_int_equal(rawsock_send_str(fd, "GET /sse/4/400 HTTP/1.1\r\nHost: " TUNNEL_HOST
                                          "\r\nAccept: text/event-stream\r\n\r\n"),
                     0);
    assert_non_null(rawsock_read_until(fd, b, "data: event 0\n\n", E2E_RAW_MS, &err));
    uint64_t t0 = tunnel_now_ms();
    assert_int_equal(e2e_status(b->buf), 200);
    assert_non_null(strstr(b->buf, "text/event-stream"));
    /* Event 3 is 1.2 s away in the app: the stream is open, not buffered. */
    assert_null(strstr(b->buf, "event 3"));
    assert_non_null(rawsock_read_until(fd, b, "data: event 1\n\n", E2E_RAW_MS, &err));
    assert_null(strstr(b->buf, "event 3"));
    assert_non_null(rawsock_read_until(fd, b, "data: event 3\n\n", E2E_RAW_MS, &err));
    /* Events came spread over the app's pace, not in one burst. */
    assert_true(tunnel_now_ms() - t0 >= 600);
    /* And the stream ends properly (chunked last chunk). */
    assert_non_null(rawsock_read_until(fd, b, "\r\n0\r\n\r\n", E2E_RAW_MS, &err));
    close(fd);
    free(b);
    e2e_pass(t);
}

static void test_keep_alive(void **state)
{
    struct tunnel *t = *state;
    struct tunnel_run r;
    char u1[128], u2[128], u3[128];
    snprintf(u1, sizeof(u1), "%s/whoami", t->url);
    snprintf(u2, sizeof(u2), "%s/bytes/7000", t->url);
    snprintf(u3, sizeof(u3), "%s/whoami", t->url);
    const char *args[] = {u1, u2, u3, NULL};
    e2e_curl_ok(t, &r, NULL, NULL, args);
    assert_int_equal(r.code, 200);
    /* Three transfers, one connection. */
    assert_int_equal(e2e_count(r.err, "H8S code=200"), 3);
    assert_int_equal(r.connects, 1);
    assert_int_equal(r.total, 2 + 7000 + 2);
    assert_memory_equal(r.out, "b0", 2);
    assert_memory_equal(r.out + 2 + 7000, "b0", 2);
    tunnel_run_free(&r);
    e2e_pass(t);
}

/* Three requests in one write, the first the slowest: answers in order. */
static void test_pipelined(void **state)
{
    struct tunnel *t = *state;
    static const char req[] = "GET /slow/300 HTTP/1.1\r\nHost: " TUNNEL_HOST "\r\n\r\n"
                              "POST /echo/second HTTP/1.1\r\nHost: " TUNNEL_HOST
                              "\r\nContent-Length: 5\r\n\r\nhello"
                              "GET /echo/third HTTP/1.1\r\nHost: " TUNNEL_HOST
                              "\r\nConnection: close\r\n\r\n";
    struct rawsock_buf *b = malloc(sizeof(*b));
    assert_non_null(b);
    assert_int_equal(e2e_raw(t, req, sizeof(req) - 1, b, E2E_RAW_MS), 1);
    assert_int_equal(e2e_count(b->buf, "HTTP/1.1 200 "), 3);
    const char *a = strstr(b->buf, "slow\n");
    const char *c = strstr(b->buf, "\"path\": \"/echo/second\"");
    const char *d = strstr(b->buf, "\"path\": \"/echo/third\"");
    assert_non_null(a);
    assert_non_null(c);
    assert_non_null(d);
    assert_true(a < c && c < d);
    assert_non_null(strstr(c, "\"body_len\": 5"));
    free(b);
    e2e_pass(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        E2E_TEST(test_methods),          E2E_TEST(test_odd_targets),
        E2E_TEST(test_set_cookie_twice), E2E_TEST(test_statuses),
        E2E_TEST(test_request_bodies),   E2E_TEST(test_chunked_request_body),
        E2E_TEST(test_response_bodies),  E2E_TEST(test_sse_one_by_one),
        E2E_TEST(test_keep_alive),       E2E_TEST(test_pipelined),
    };
    return cmocka_run_group_tests(tests, group_setup, e2e_group_stop);
}
