/*
 * tests/test_agent_stream.c — h8srd streams, end to end (real nats-server,
 * real agent binary, real app; this test in the gateway's place).
 *
 * Covers: a 100 MiB download through a server with the default 1 MiB
 * max_payload, credit granted by a deliberately slow "client", never
 * exceeded, the agent's RSS bounded throughout, sha256 equal; a stream
 * to a gateway without flow control; SSE events arriving one by one while
 * the stream is open; 10 MiB and chunked uploads as request-body streams
 * with the agent's credit; a broken body stream (sequence gap) refused.
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

#include "proto/h8s_ctl.h"
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
    const char *args[] = {route, NULL};
    if (agtest_agent_start(&E.agent, natsd_url(E.nats), args, true) != 0)
        return -1;
    agtest_gw_init(&E.gw, natsd_url(E.nats));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    agtest_gw_free(&E.gw);
    int rc = agtest_proc_stop(&E.agent, SIGTERM, 5000);
    if (rc != 0)
        agtest_log_dump(&E.agent);
    agtest_proc_forget(&E.agent);
    agtest_proc_stop(&E.app, SIGTERM, 5000);
    natsd_stop(E.nats);
    return rc == 0 ? 0 : -1;
}

struct progress {
    struct agtest_reply *r;
    uint64_t want;
};

/* The client has read everything it allowed, or the stream is over. */
static bool caught_up(void *arg)
{
    struct progress *p = arg;
    return p->r->done || p->r->body_len >= p->want;
}

static void test_download_100mib_slow_client(void **state)
{
    (void)state;
    const uint64_t total = 100u << 20, window = 1u << 20;
    struct agtest_req q = {.path = "/bytes/104857600", .window = window, .manual_credit = true};
    struct agtest_reply *r = agtest_request(&E.gw, &q);
    assert_non_null(r);
    long base = -1, peak = 0;
    uint64_t granted = window;
    while (!r->done) {
        struct progress p = {r, granted};
        if (!natstest_run_until(E.gw.l, caught_up, &p, AGTEST_WAIT_MS)) {
            agtest_log_dump(&E.agent);
            fail_msg("stalled at %llu of %llu granted", (unsigned long long)r->body_len,
                     (unsigned long long)granted);
        }
        assert_false(r->bad); /* includes: never past the credit */
        if (r->done)
            break;
        /* A slow client: it takes a moment before reading on. */
        natstest_run_for(E.gw.l, 3);
        long rss = agtest_rss_kib(E.agent.pid);
        if (base < 0)
            base = rss;
        if (rss > peak)
            peak = rss;
        granted += window;
        assert_int_equal(agtest_grant(&E.gw, r, granted), 0);
    }
    assert_true(r->ended);
    assert_false(r->bad);
    assert_int_equal(r->body_len, total);
    char got[65], want[65];
    agtest_body_sha(r, got);
    agtest_pattern_sha(total, want);
    assert_string_equal(got, want);
    /* 100 MiB went through; the agent held a bounded amount of it. */
    fprintf(stderr, "agent rss: %ld KiB at first grant, peak %ld KiB\n", base, peak);
    assert_true(peak - base < 48 * 1024);
    assert_true(r->nmsgs > 100);
}

static void test_download_without_flow_control(void **state)
{
    (void)state;
    const uint64_t total = 20u << 20;
    struct agtest_req q = {.path = "/chunked/20971520"};
    struct agtest_reply *r = agtest_request(&E.gw, &q);
    assert_non_null(r);
    assert_true(agtest_wait(&E.gw, r, AGTEST_WAIT_MS));
    assert_false(r->bad);
    assert_true(r->streamed && r->ended);
    assert_int_equal(r->body_len, total);
    char got[65], want[65];
    agtest_body_sha(r, got);
    agtest_pattern_sha(total, want);
    assert_string_equal(got, want);
}

static void test_sse_events_one_by_one(void **state)
{
    (void)state;
    struct agtest_req q = {
        .path = "/sse/5/300", .window = 65536, .keep = E.keep, .keep_cap = sizeof(E.keep) - 1};
    struct agtest_reply *r = agtest_request(&E.gw, &q);
    assert_non_null(r);
    assert_true(agtest_wait(&E.gw, r, AGTEST_WAIT_MS));
    assert_false(r->bad);
    assert_true(r->streamed && r->ended);
    char v[64];
    assert_string_equal(agtest_header(r, "Content-Type", 0, v, sizeof(v)), "text/event-stream");
    assert_null(agtest_header(r, "Content-Length", 0, v, sizeof(v)));
    /* Each event is its own message, ~300 ms after the previous one: they
     * reached the gateway while the app was still producing. */
    assert_int_equal(r->ndata, 5);
    for (int i = 0; i < 5; i++) {
        char ev[32];
        snprintf(ev, sizeof(ev), "data: event %d\n\n", i);
        assert_int_equal(r->t_len[i], strlen(ev));
        if (i > 0)
            assert_true(r->t_ms[i] - r->t_ms[i - 1] >= 200);
    }
    E.keep[r->keep_len] = '\0';
    assert_string_equal((char *)E.keep, "data: event 0\n\ndata: event 1\n\ndata: event 2\n\n"
                                        "data: event 3\n\ndata: event 4\n\n");
}

static void upload(uint64_t n, bool declared)
{
    char sha[65], want[100];
    struct agtest_req q = {.method = "PUT",
                           .path = "/echo/up",
                           .stream_body = true,
                           .declared = declared ? (int64_t)n : -1,
                           .window = 65536,
                           .keep = E.keep,
                           .keep_cap = sizeof(E.keep) - 1};
    struct agtest_reply *r = agtest_request(&E.gw, &q);
    assert_non_null(r);
    int rc = agtest_send_body(&E.gw, r, n, 300000);
    if (rc != 0) {
        agtest_log_dump(&E.agent);
        fail_msg("upload of %llu stalled (%d)", (unsigned long long)n, rc);
    }
    assert_true(r->ready);
    assert_true(agtest_wait(&E.gw, r, AGTEST_WAIT_MS));
    assert_false(r->bad);
    assert_int_equal(r->status, 200);
    E.keep[r->keep_len] = '\0';
    agtest_pattern_sha(n, sha);
    snprintf(want, sizeof(want), "\"body_sha256\": \"%s\"", sha);
    if (!strstr((char *)E.keep, want))
        fail_msg("upload %llu: %s", (unsigned long long)n, (char *)E.keep);
    /* The body came in pieces: several grants beyond the first window. */
    assert_true(r->body_credit >= n);
}

static void test_upload_stream_10mib(void **state)
{
    (void)state;
    upload(10u << 20, true);
}

static void test_upload_stream_chunked(void **state)
{
    (void)state;
    upload(3u << 20, false);
    upload(0, false);
}

static bool is_ready(void *arg)
{
    struct agtest_reply *r = arg;
    return r->ready || r->done;
}

static void test_upload_stream_gap(void **state)
{
    (void)state;
    struct agtest_req q = {
        .method = "POST", .path = "/echo/up", .stream_body = true, .declared = 100};
    struct agtest_reply *r = agtest_request(&E.gw, &q);
    assert_non_null(r);
    assert_true(natstest_run_until(E.gw.l, is_ready, r, AGTEST_WAIT_MS));
    assert_true(r->ready);
    /* Chunk 2 before chunk 1: the agent must refuse the body. */
    uint8_t hb[H8S_CTL_HDR_MAX];
    struct span hdr;
    assert_int_equal(h8s_ctl_build_seq(hb, sizeof(hb), 2, &hdr), 0);
    assert_int_equal(nats_client_publish(E.gw.nc, span_cstr(r->agent_subject), span_make(NULL, 0),
                                         hdr, SPAN_LIT("0123456789")),
                     0);
    assert_true(agtest_wait(&E.gw, r, AGTEST_WAIT_MS));
    assert_int_equal(r->status, 400);
    assert_true(agtest_log_wait(&E.agent, "event=stream_error", 2000));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_download_100mib_slow_client),
        cmocka_unit_test(test_download_without_flow_control),
        cmocka_unit_test(test_sse_events_one_by_one),
        cmocka_unit_test(test_upload_stream_10mib),
        cmocka_unit_test(test_upload_stream_chunked),
        cmocka_unit_test(test_upload_stream_gap),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
