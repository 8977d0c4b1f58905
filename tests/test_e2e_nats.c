/*
 * tests/test_e2e_nats.c — the NATS side of the tunnel seen end to end.
 *
 * Two agents in one queue group share a host's requests. A responder
 * written directly against the NATS protocol in another language
 * (tests/support/nats_responder.py: a TCP socket, no h8s code) answers
 * through the real h8sd the three ways docs/PROTOCOL.md §3 allows: a plain
 * reply, headers with Content-Length, and a stream (with and without
 * sequence numbers). The request message it receives carries the wire
 * headers. A stream with a sequence gap, and a stream that ignores flow
 * control towards a slow client, never reach the client as a successful
 * body. A gateway tracking interest serves only what agents registered.
 */
#include "tests/e2e.h"

#define MIB (1024u * 1024u)
#define FLOOD_SIZE (64u * MIB)
#define HWM_MAX_KIB (64 * 1024L)

static int group_setup(void **state)
{
    static const char *const gw_args[] = {"--request-timeout=10s", NULL};
    const struct tunnel_opts o = {
        .agents = 2, .queue_group = "apps", .responder = true, .gw_args = gw_args};
    return e2e_group_start(state, &o);
}

static void test_queue_group_shares(void **state)
{
    struct tunnel *t = *state;
    enum { N = 40 };
    char urls[N][96];
    const char *args[N + 1];
    for (int i = 0; i < N; i++) {
        snprintf(urls[i], sizeof(urls[i]), "%s/whoami", t->url);
        args[i] = urls[i];
    }
    args[N] = NULL;
    struct tunnel_run r;
    e2e_curl_ok(t, &r, NULL, NULL, args);
    assert_int_equal(e2e_count(r.err, "H8S code=200"), N);
    assert_int_equal(r.total, 2 * N);
    int b0 = e2e_count(r.out, "b0"), b1 = e2e_count(r.out, "b1");
    fprintf(stderr, "%d requests: agent 0 took %d, agent 1 took %d\n", N, b0, b1);
    assert_int_equal(b0 + b1, N);
    /* Each request goes to one member at random: both get some (the odds
     * of one taking all 40 are 2^-39). */
    assert_true(b0 > 0);
    assert_true(b1 > 0);
    tunnel_run_free(&r);
    e2e_pass(t);
}

static void test_plain_reply(void **state)
{
    struct tunnel *t = *state;
    struct tunnel_run r;
    uint64_t t0 = tunnel_now_ms();
    e2e_curl_ok(t, &r, TUNNEL_RESPONDER_HOST, "/plain", NULL);
    assert_int_equal(r.code, 200);
    assert_string_equal(r.out, "plain answer GET\n");
    char cl[16];
    assert_int_equal(tunnel_run_header(&r, "Content-Length", 0, cl, sizeof(cl)), 1);
    assert_string_equal(cl, "17");
    /* Complete at once: no wait for --request-timeout (10 s). */
    assert_true(tunnel_now_ms() - t0 < 5000);
    tunnel_run_free(&r);
    const char *post[] = {"--data-binary", "x", NULL};
    e2e_curl_ok(t, &r, TUNNEL_RESPONDER_HOST, "/plain/deeper/path", post);
    assert_int_equal(r.code, 200);
    assert_string_equal(r.out, "plain answer POST\n");
    tunnel_run_free(&r);
    e2e_pass(t);
}

static void test_full_reply(void **state)
{
    struct tunnel *t = *state;
    struct tunnel_run r;
    char v[64];
    e2e_curl_ok(t, &r, TUNNEL_RESPONDER_HOST, "/full", NULL);
    assert_int_equal(r.code, 201);
    assert_string_equal(r.out, "full answer\n");
    assert_int_equal(tunnel_run_header(&r, "X-Multi", 0, v, sizeof(v)), 2);
    assert_string_equal(v, "one");
    tunnel_run_header(&r, "X-Multi", 1, v, sizeof(v));
    assert_string_equal(v, "two");
    assert_int_equal(tunnel_run_header(&r, "Content-Type", 0, v, sizeof(v)), 1);
    assert_string_equal(v, "text/plain");
    /* Internal headers stay inside. */
    assert_int_equal(tunnel_run_header(&r, "X-H8s-Internal", 0, NULL, 0), 0);
    assert_int_equal(tunnel_run_header(&r, "Status-Code", 0, NULL, 0), 0);
    assert_int_equal(tunnel_run_header(&r, "Status", 0, NULL, 0), 0);
    tunnel_run_free(&r);
    e2e_pass(t);
}

/* A streamed reply: parts 300 ms apart reach the client as they come. */
static void streamed(struct tunnel *t, const char *path)
{
    struct tunnel_run r;
    const char *args[] = {"--no-buffer", NULL};
    uint64_t t0 = tunnel_now_ms();
    e2e_curl_ok(t, &r, TUNNEL_RESPONDER_HOST, path, args);
    uint64_t end = tunnel_now_ms();
    assert_int_equal(r.code, 200);
    assert_string_equal(r.out, "part 0\npart 1\npart 2\npart 3\n");
    /* The first part came well before the last (900 ms later), not all
     * at the end. */
    assert_true(r.first_ms - t0 < end - t0);
    assert_true(end - r.first_ms >= 300);
    tunnel_run_free(&r);
}

static void test_streamed_reply(void **state)
{
    struct tunnel *t = *state;
    streamed(t, "/stream");
    streamed(t, "/seq");
    e2e_pass(t);
}

/* Sequence 1 then 3: the client must not get a complete, successful body. */
static void test_sequence_gap(void **state)
{
    struct tunnel *t = *state;
    struct tunnel_run r;
    int rc = tunnel_curl(t, &r, TUNNEL_RESPONDER_HOST, "/gap", NULL, E2E_CURL_MS);
    fprintf(stderr, "gap: curl exit %d, code %d, %llu body bytes\n", rc, r.code,
            (unsigned long long)r.total);
    assert_int_not_equal(rc, 0);
    assert_null(strstr(r.out, "part 3"));
    tunnel_run_free(&r);
    e2e_pass(t);
}

/* What the responder received: the wire headers of docs/PROTOCOL.md §2. */
static void test_request_headers(void **state)
{
    struct tunnel *t = *state;
    struct tunnel_run r;
    const char *args[] = {"-H",     "x-custom-thing: v",        "-H", "X-Two: a",
                          "-H",     "X-Two: b",                 "-H", "Connection: X-Hop",
                          "-H",     "X-Hop: secret",            "-H", "Keep-Alive: 5",
                          "-H",     "X-Forwarded-Host: app.test", "-H", "X-Forwarded-For: 10.9.8.7",
                          "--path-as-is", NULL};
    e2e_curl_ok(t, &r, TUNNEL_RESPONDER_HOST, "/headers/a%20b//c.d/?q=1&r=%zz", args);
    assert_int_equal(r.code, 200);
    const char *h = r.out;
    assert_memory_equal(h, "NATS/1.0\r\n", 10);
    assert_non_null(strstr(h, "\r\nX-Custom-Thing: v\r\n"));
    assert_non_null(strstr(h, "\r\nX-Two: a\r\n"));
    assert_non_null(strstr(h, "\r\nX-Two: b\r\n"));
    /* Hop-by-hop fields, and those Connection names, are not forwarded. */
    assert_null(strstr(h, "X-Hop"));
    assert_null(strstr(h, "Keep-Alive"));
    assert_null(strstr(h, "\r\nConnection:"));
    assert_non_null(strstr(h, "\r\nHost: nats.test\r\n"));
    assert_non_null(
        strstr(h, "\r\nX-H8s-PublishSubject: h8s.http.GET.test.nats.headers.a%20b.c%2Ed\r\n"));
    assert_non_null(strstr(h, "\r\nX-H8s-Original-Path: /headers/a%20b//c.d/\r\n"));
    assert_non_null(strstr(h, "\r\nX-H8s-Original-Query: q=1&r=%zz\r\n"));
    assert_non_null(strstr(h, "\r\nX-H8s-ReplySubject: _INBOX.h8s."));
    assert_non_null(strstr(h, "\r\nX-H8s-Connection-Close-Subject: h8s.control.connection.closed."));
    /* The client's own X-Forwarded-For is kept, ours appended; the Host
     * routed the request, not the client's X-Forwarded-Host. */
    assert_non_null(strstr(h, "\r\nX-Forwarded-For: 10.9.8.7, 127.0.0.1\r\n"));
    assert_non_null(strstr(h, "\r\nX-Forwarded-Proto: http\r\n"));
    assert_non_null(strstr(h, "\r\nX-Forwarded-Host: nats.test\r\n"));
    assert_null(strstr(h, "X-Forwarded-Host: app.test"));
    tunnel_run_free(&r);
    e2e_pass(t);
}

/*
 * A responder without flow control floods 64 MiB at a client reading at
 * 2 MB/s. The gateway may deliver it all or abort, but never delivers a
 * damaged body as a success, and its memory stays bounded either way.
 */
static void test_flood_without_flow_control(void **state)
{
    struct tunnel *t = *state;
    struct tunnel_run r;
    char path[64];
    snprintf(path, sizeof(path), "/flood/%u", FLOOD_SIZE);
    const char *args[] = {"--limit-rate", "2M", "--max-time", "20", NULL};
    int rc = tunnel_curl(t, &r, TUNNEL_RESPONDER_HOST, path, args, E2E_CURL_MS);
    long hwm = tunnel_hwm_kib(t->gw.pid);
    fprintf(stderr, "flood: curl exit %d after %llu bytes; h8sd peak %ld KiB\n", rc,
            (unsigned long long)r.total, hwm);
    assert_int_equal(r.code, 200);
    /* A slow client at 2 MB/s cannot take 64 MiB in 20 s: the gateway
     * aborted it (overflow) or curl gave up; either way not a success. */
    assert_int_not_equal(rc, 0);
    assert_true(r.total < FLOOD_SIZE);
    assert_true(hwm > 0 && hwm < HWM_MAX_KIB);
    assert_true(tunnel_log_wait(&t->gw, "overflow", 5000));
    tunnel_run_free(&r);
    e2e_pass(t);
}

/*
 * A gateway with --track-interest serves what live agents registered (our
 * agents register whole hosts every 5 s) and answers 404 for the rest,
 * even where a responder without registration listens.
 */
static void test_track_interest(void **state)
{
    struct tunnel *t = *state;
    static const char *const plain[] = {"--request-timeout=10s", NULL};
    static const char *const tracking[] = {"--request-timeout=10s", "--track-interest", NULL};
    assert_int_equal(tunnel_proc_stop(&t->gw), 0);
    assert_int_equal(tunnel_gw_start(t, tracking), 0);
    /* Until the agents' next registration the gateway knows nobody. */
    uint64_t deadline = tunnel_now_ms() + 12000;
    int code = 0;
    while (tunnel_now_ms() < deadline) {
        struct tunnel_run r;
        e2e_curl_ok(t, &r, NULL, "/whoami", NULL);
        code = r.code;
        tunnel_run_free(&r);
        if (code != 404)
            break;
        tunnel_sleep_ms(200);
    }
    assert_int_equal(code, 200);
    e2e_get_expect(t, NULL, "/any/path/at/all", 404, NULL);
    e2e_get_expect(t, "nobody.test", "/", 404, NULL);
    e2e_get_expect(t, TUNNEL_RESPONDER_HOST, "/plain", 404, NULL);
    assert_int_equal(tunnel_proc_stop(&t->gw), 0);
    assert_int_equal(tunnel_gw_start(t, plain), 0);
    e2e_pass(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        E2E_TEST(test_queue_group_shares),  E2E_TEST(test_plain_reply),
        E2E_TEST(test_full_reply),          E2E_TEST(test_streamed_reply),
        E2E_TEST(test_sequence_gap),        E2E_TEST(test_request_headers),
        E2E_TEST(test_flood_without_flow_control), E2E_TEST(test_track_interest),
    };
    return cmocka_run_group_tests(tests, group_setup, e2e_group_stop);
}
