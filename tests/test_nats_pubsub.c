/*
 * tests/test_nats_pubsub.c — the NATS client against a real nats-server:
 * publish/subscribe with and without headers, ordering, queue groups,
 * request/reply (replies, timeouts, cancellation, no responders),
 * max_payload boundaries, subject validation, auto-unsubscribe, flush
 * and drain.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/nats_client.h"
#include "proto/nats_hdr.h"
#include "tests/support/natsd.h"
#include "tests/support/natstest.h"

#define MAX_PAYLOAD 65536

struct fixture {
    struct natsd *d;
};

static int setup(void **state)
{
    static struct fixture f;
    char conf[64];
    snprintf(conf, sizeof(conf), "max_payload: %d\n", MAX_PAYLOAD);
    struct natsd_opts o = {.conf = conf};
    if (natsd_start(&f.d, &o) != 0)
        return -1;
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    natsd_stop(f->d);
    return 0;
}

struct env {
    struct loop *l;
    struct natstest_events ev;
    struct nats_client *c;
};

static void env_open(struct env *e, struct fixture *f)
{
    memset(e, 0, sizeof(*e));
    e->l = natstest_loop();
    struct nats_client_config cfg;
    natstest_config(&cfg, natsd_url(f->d), &e->ev);
    e->c = natstest_client(e->l, &cfg);
    assert_true(natstest_wait_up(e->l, &e->ev, 1));
    assert_int_equal(nats_client_state(e->c), NATS_CLIENT_CONNECTED);
}

static void env_close(struct env *e)
{
    nats_client_destroy(e->c);
    loop_destroy(e->l);
}

static struct natstest_msgs *msgs_new(void)
{
    struct natstest_msgs *m = calloc(1, sizeof(*m));
    assert_non_null(m);
    return m;
}

static int pub(struct nats_client *c, const char *subj, const char *data)
{
    return nats_client_publish(c, span_cstr(subj), span_make(NULL, 0), span_make(NULL, 0),
                               span_cstr(data));
}

static void test_roundtrip(void **state)
{
    struct env e;
    env_open(&e, *state);
    struct natstest_msgs *got = msgs_new();
    assert_int_equal(nats_client_subscribe(e.c, SPAN_LIT("rt.>"), span_make(NULL, 0),
                                           natstest_on_msg, got, NULL),
                     0);
    assert_int_equal(natstest_flush(e.l, e.c), 0);

    assert_int_equal(pub(e.c, "rt.plain", "hello"), 0);
    uint8_t hbuf[256];
    struct nats_hdr_builder b;
    struct span hdr;
    nats_hdr_build_init(&b, hbuf, sizeof(hbuf), 0, span_make(NULL, 0));
    nats_hdr_build_add(&b, SPAN_LIT("X-Trace"), SPAN_LIT("abc"));
    nats_hdr_build_add(&b, SPAN_LIT("x-trace"), SPAN_LIT("second"));
    assert_int_equal(nats_hdr_build_finish(&b, &hdr), 0);
    assert_int_equal(nats_client_publish(e.c, SPAN_LIT("rt.hdr"), SPAN_LIT("rt.reply"), hdr,
                                         SPAN_LIT("with headers")),
                     0);
    /* Headers with an empty payload. */
    assert_int_equal(
        nats_client_publish(e.c, SPAN_LIT("rt.empty"), span_make(NULL, 0), hdr, span_make(NULL, 0)),
        0);
    assert_true(natstest_wait_msgs(e.l, got, 3, NATSTEST_WAIT_MS));

    assert_string_equal(got->m[0].subject, "rt.plain");
    assert_int_equal(got->m[0].payload_len, 5);
    assert_memory_equal(got->m[0].payload, "hello", 5);
    assert_int_equal(got->m[0].hdr_len, 0);
    assert_string_equal(got->m[0].reply, "");

    assert_string_equal(got->m[1].subject, "rt.hdr");
    assert_string_equal(got->m[1].reply, "rt.reply");
    assert_memory_equal(got->m[1].payload, "with headers", 12);
    struct nats_hdr h;
    struct span v;
    assert_int_equal(nats_hdr_parse(&h, span_make(got->m[1].hdr, got->m[1].hdr_len)), 0);
    assert_true(nats_hdr_get(&h, SPAN_LIT("X-Trace"), 0, &v));
    assert_true(span_eq(v, SPAN_LIT("abc")));
    assert_true(nats_hdr_get(&h, SPAN_LIT("x-trace"), 0, &v));
    assert_true(span_eq(v, SPAN_LIT("second")));

    assert_string_equal(got->m[2].subject, "rt.empty");
    assert_int_equal(got->m[2].payload_len, 0);
    assert_int_equal(got->m[2].hdr_len, hdr.n);

    /* Many messages, order kept, counters exact. */
    struct nats_client_stats st0, st1;
    nats_client_stats(e.c, &st0);
    for (int i = 0; i < 2000; i++) {
        char p[32];
        snprintf(p, sizeof(p), "%06d", i);
        assert_int_equal(pub(e.c, "rt.seq", p), 0);
    }
    assert_true(natstest_wait_msgs(e.l, got, 2003, NATSTEST_WAIT_MS));
    for (int i = 0; i < 2000; i++) {
        char p[32];
        snprintf(p, sizeof(p), "%06d", i);
        assert_memory_equal(got->m[3 + i].payload, p, 6);
    }
    nats_client_stats(e.c, &st1);
    assert_int_equal(st1.msgs_out - st0.msgs_out, 2000);
    assert_int_equal(st1.bytes_out - st0.bytes_out, 12000);
    assert_int_equal(st1.msgs_in - st0.msgs_in, 2000);
    assert_int_equal(st1.bytes_in - st0.bytes_in, 12000);
    assert_int_equal(st1.reconnects, 0);
    free(got);
    env_close(&e);
}

static void test_queue_group(void **state)
{
    struct env a, b, p;
    env_open(&a, *state);
    env_open(&b, *state);
    env_open(&p, *state);
    struct natstest_msgs *ga = msgs_new(), *gb = msgs_new(), *gall = msgs_new();
    assert_int_equal(nats_client_subscribe(a.c, SPAN_LIT("work"), SPAN_LIT("workers"),
                                           natstest_on_msg, ga, NULL),
                     0);
    assert_int_equal(nats_client_subscribe(b.c, SPAN_LIT("work"), SPAN_LIT("workers"),
                                           natstest_on_msg, gb, NULL),
                     0);
    /* A plain subscriber next to the group sees everything. */
    assert_int_equal(nats_client_subscribe(b.c, SPAN_LIT("work"), span_make(NULL, 0),
                                           natstest_on_msg, gall, NULL),
                     0);
    assert_int_equal(natstest_flush(a.l, a.c), 0);
    assert_int_equal(natstest_flush(b.l, b.c), 0);
    for (int i = 0; i < 400; i++)
        assert_int_equal(pub(p.c, "work", "job"), 0);
    assert_int_equal(natstest_flush(p.l, p.c), 0);
    for (int i = 0; i < 200 && (ga->count + gb->count < 400 || gall->count < 400); i++) {
        natstest_run_for(a.l, 5);
        natstest_run_for(b.l, 5);
    }
    assert_int_equal(ga->count + gb->count, 400);
    assert_int_equal(gall->count, 400);
    /* Both members got a share (the server picks randomly). */
    assert_true(ga->count > 50);
    assert_true(gb->count > 50);
    free(ga);
    free(gb);
    free(gall);
    env_close(&a);
    env_close(&b);
    env_close(&p);
}

/* Replies with "re:" + the request payload. */
static void responder(struct nats_client *c, struct nats_sub *sub, const struct nats_msg *m,
                      void *cookie)
{
    (void)sub;
    int *served = cookie;
    uint8_t out[128];
    if (m->reply.n == 0 || m->payload.n > sizeof(out) - 3)
        return;
    memcpy(out, "re:", 3);
    memcpy(out + 3, m->payload.p, m->payload.n);
    nats_client_publish(c, m->reply, span_make(NULL, 0), span_make(NULL, 0),
                        span_make(out, m->payload.n + 3));
    (*served)++;
}

struct reply_rec {
    int calls;
    int err;
    char data[64];
    size_t len;
};

static void on_reply(struct nats_client *c, int err, const struct nats_msg *m, void *cookie)
{
    struct reply_rec *r = cookie;
    (void)c;
    r->calls++;
    r->err = err;
    if (m) {
        r->len = m->payload.n < sizeof(r->data) ? m->payload.n : sizeof(r->data);
        memcpy(r->data, m->payload.p, r->len);
    } else {
        assert_int_not_equal(err, 0);
    }
}

struct all_replies {
    struct reply_rec *r;
    int n;
};

static bool replies_done(void *arg)
{
    struct all_replies *a = arg;
    for (int i = 0; i < a->n; i++)
        if (a->r[i].calls == 0)
            return false;
    return true;
}

static void test_request_reply(void **state)
{
    struct env srv, cli;
    env_open(&srv, *state);
    env_open(&cli, *state);
    int served = 0;
    assert_int_equal(nats_client_subscribe(srv.c, SPAN_LIT("svc.echo"), span_make(NULL, 0),
                                           responder, &served, NULL),
                     0);
    assert_int_equal(natstest_flush(srv.l, srv.c), 0);

    enum { N = 64 };
    struct reply_rec r[N];
    memset(r, 0, sizeof(r));
    for (int i = 0; i < N; i++) {
        char p[16];
        snprintf(p, sizeof(p), "q%d", i);
        assert_int_equal(nats_client_request(cli.c, SPAN_LIT("svc.echo"), span_make(NULL, 0),
                                             span_cstr(p), 5000, on_reply, &r[i], NULL),
                         0);
    }
    struct all_replies all = {r, N};
    for (int i = 0; i < 400 && !replies_done(&all); i++) {
        natstest_run_for(cli.l, 5);
        natstest_run_for(srv.l, 5);
    }
    assert_true(replies_done(&all));
    for (int i = 0; i < N; i++) {
        char want[16];
        int n = snprintf(want, sizeof(want), "re:q%d", i);
        assert_int_equal(r[i].calls, 1);
        assert_int_equal(r[i].err, 0);
        assert_int_equal(r[i].len, (size_t)n);
        assert_memory_equal(r[i].data, want, (size_t)n);
    }
    assert_int_equal(served, N);

    /* A subscriber that never answers: the deadline fires, once. */
    struct natstest_msgs *sink = msgs_new();
    assert_int_equal(nats_client_subscribe(srv.c, SPAN_LIT("svc.silent"), span_make(NULL, 0),
                                           natstest_on_msg, sink, NULL),
                     0);
    assert_int_equal(natstest_flush(srv.l, srv.c), 0);
    struct reply_rec t = {0};
    assert_int_equal(nats_client_request(cli.c, SPAN_LIT("svc.silent"), span_make(NULL, 0),
                                         SPAN_LIT("x"), 150, on_reply, &t, NULL),
                     0);
    struct all_replies one = {&t, 1};
    assert_true(natstest_run_until(cli.l, replies_done, &one, 3000));
    assert_int_equal(t.err, NATS_E_TIMEOUT);
    natstest_run_for(cli.l, 50);
    assert_int_equal(t.calls, 1);

    /* Cancelled: never called, even when the reply comes. */
    struct reply_rec cancelled = {0};
    uint64_t id;
    assert_int_equal(nats_client_request(cli.c, SPAN_LIT("svc.echo"), span_make(NULL, 0),
                                         SPAN_LIT("c"), 2000, on_reply, &cancelled, &id),
                     0);
    assert_int_equal(nats_client_request_cancel(cli.c, id), 0);
    assert_int_equal(nats_client_request_cancel(cli.c, id), -ENOENT);
    for (int i = 0; i < 20; i++) {
        natstest_run_for(srv.l, 5);
        natstest_run_for(cli.l, 5);
    }
    assert_int_equal(cancelled.calls, 0);

    assert_int_equal(nats_client_request(cli.c, SPAN_LIT("svc.echo"), span_make(NULL, 0),
                                         SPAN_LIT("x"), 0, on_reply, &t, NULL),
                     -EINVAL);
    assert_int_equal(nats_client_request(cli.c, SPAN_LIT("bad subject"), span_make(NULL, 0),
                                         SPAN_LIT("x"), 100, on_reply, &t, NULL),
                     NATS_E_SUBJECT);
    free(sink);
    env_close(&srv);
    env_close(&cli);
}

static void test_no_responders(void **state)
{
    struct env e;
    env_open(&e, *state);
    struct reply_rec r = {0};
    assert_int_equal(nats_client_request(e.c, SPAN_LIT("nobody.home"), span_make(NULL, 0),
                                         SPAN_LIT("?"), 5000, on_reply, &r, NULL),
                     0);
    struct all_replies one = {&r, 1};
    /* Well before the 5 s deadline: the server answers 503 at once. */
    assert_true(natstest_run_until(e.l, replies_done, &one, 2000));
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.err, NATS_E_NO_RESPONDERS);
    env_close(&e);
}

static void test_max_payload(void **state)
{
    struct env e;
    env_open(&e, *state);
    const struct nats_info *info = nats_client_server_info(e.c);
    assert_non_null(info);
    assert_int_equal(info->max_payload, MAX_PAYLOAD);
    struct natstest_msgs *got = msgs_new();
    assert_int_equal(
        nats_client_subscribe(e.c, SPAN_LIT("big"), span_make(NULL, 0), natstest_on_msg, got, NULL),
        0);
    assert_int_equal(natstest_flush(e.l, e.c), 0);
    uint8_t *data = malloc(MAX_PAYLOAD + 1);
    for (size_t i = 0; i <= MAX_PAYLOAD; i++)
        data[i] = (uint8_t)(i * 7);
    struct span none = span_make(NULL, 0);
    assert_int_equal(
        nats_client_publish(e.c, SPAN_LIT("big"), none, none, span_make(data, MAX_PAYLOAD + 1)),
        NATS_E_MAX_PAYLOAD);
    assert_int_equal(
        nats_client_publish(e.c, SPAN_LIT("big"), none, none, span_make(data, MAX_PAYLOAD)), 0);
    static const char hdr[] = "NATS/1.0\r\nK: v\r\n\r\n";
    struct span h = span_make(hdr, sizeof(hdr) - 1);
    assert_int_equal(
        nats_client_publish(e.c, SPAN_LIT("big"), none, h, span_make(data, MAX_PAYLOAD - h.n + 1)),
        NATS_E_MAX_PAYLOAD);
    assert_int_equal(
        nats_client_publish(e.c, SPAN_LIT("big"), none, h, span_make(data, MAX_PAYLOAD - h.n)), 0);
    assert_true(natstest_wait_msgs(e.l, got, 2, NATSTEST_WAIT_MS));
    assert_int_equal(got->m[0].payload_len, MAX_PAYLOAD);
    assert_memory_equal(got->m[0].payload, data, NATSTEST_KEEP);
    assert_int_equal(got->m[1].payload_len, MAX_PAYLOAD - h.n);
    assert_int_equal(got->m[1].hdr_len, h.n);
    /* The connection survived both refusals. */
    assert_int_equal(e.ev.disconnected, 0);
    assert_int_equal(e.ev.errors, 0);
    free(data);
    free(got);
    env_close(&e);
}

static void test_validation_and_unsub(void **state)
{
    struct env e;
    env_open(&e, *state);
    struct span none = span_make(NULL, 0);
    assert_int_equal(pub(e.c, "bad subject", "x"), NATS_E_SUBJECT);
    assert_int_equal(pub(e.c, "wild.*", "x"), NATS_E_SUBJECT);
    assert_int_equal(pub(e.c, "a..b", "x"), NATS_E_SUBJECT);
    assert_int_equal(nats_client_publish(e.c, SPAN_LIT("ok"), SPAN_LIT("r >"), none, none),
                     NATS_E_SUBJECT);
    struct natstest_msgs *got = msgs_new();
    assert_int_equal(
        nats_client_subscribe(e.c, SPAN_LIT("a.>.b"), none, natstest_on_msg, got, NULL),
        NATS_E_SUBJECT);
    assert_int_equal(
        nats_client_subscribe(e.c, SPAN_LIT("ok"), SPAN_LIT("bad q"), natstest_on_msg, got, NULL),
        NATS_E_SUBJECT);

    /* Auto-unsubscribe after 3 of 10. */
    struct nats_sub *s;
    assert_int_equal(nats_client_subscribe(e.c, SPAN_LIT("au"), none, natstest_on_msg, got, &s), 0);
    assert_int_equal(nats_client_unsubscribe(e.c, s, 3), 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(pub(e.c, "au", "m"), 0);
    assert_int_equal(natstest_flush(e.l, e.c), 0);
    natstest_run_for(e.l, 50);
    assert_int_equal(got->count, 3);

    /* Unsubscribe now: nothing more arrives. */
    struct natstest_msgs *g2 = msgs_new();
    assert_int_equal(nats_client_subscribe(e.c, SPAN_LIT("un"), none, natstest_on_msg, g2, &s), 0);
    assert_int_equal(pub(e.c, "un", "1"), 0);
    assert_true(natstest_wait_msgs(e.l, g2, 1, NATSTEST_WAIT_MS));
    assert_int_equal(nats_client_unsubscribe(e.c, s, 0), 0);
    assert_int_equal(pub(e.c, "un", "2"), 0);
    assert_int_equal(natstest_flush(e.l, e.c), 0);
    natstest_run_for(e.l, 50);
    assert_int_equal(g2->count, 1);
    free(got);
    free(g2);
    env_close(&e);
}

static bool drained_done(void *arg)
{
    return ((struct natstest_events *)arg)->drained > 0;
}

/* Publishing faster than the socket drains: an explicit NATS_E_AGAIN,
 * then on_drained, and nothing lost. */
static void test_flow_control(void **state)
{
    struct env e, p;
    env_open(&e, *state);
    env_open(&p, *state);
    struct natstest_msgs *got = msgs_new();
    struct span none = span_make(NULL, 0);
    assert_int_equal(nats_client_subscribe(e.c, SPAN_LIT("fc"), none, natstest_on_msg, got, NULL),
                     0);
    assert_int_equal(natstest_flush(e.l, e.c), 0);
    static uint8_t data[8192];
    size_t sent = 0;
    int rc;
    /* Without running the loop nothing leaves: the queue fills up. */
    while ((rc = nats_client_publish(p.c, SPAN_LIT("fc"), none, none,
                                     span_make(data, sizeof(data)))) == 0)
        sent++;
    assert_int_equal(rc, NATS_E_AGAIN);
    assert_true(sent > 10);
    assert_true(nats_client_pending(p.c) > 0);
    assert_int_equal(p.ev.drained, 0);
    assert_true(natstest_run_until(p.l, drained_done, &p.ev, NATSTEST_WAIT_MS));
    assert_int_equal(nats_client_publish(p.c, SPAN_LIT("fc"), none, none, SPAN_LIT("last")), 0);
    sent++;
    assert_int_equal(natstest_flush(p.l, p.c), 0);
    for (int i = 0; i < 400 && got->count < sent; i++)
        natstest_run_for(e.l, 10);
    assert_int_equal(got->count, sent);
    assert_int_equal(got->m[got->kept - 1].payload_len, 4);
    free(got);
    env_close(&e);
    env_close(&p);
}

/* URL forms the pool accepts (nothing is connected here). */
static void test_url_forms(void **state)
{
    (void)state;
    struct loop *l = natstest_loop();
    struct nats_client_config cfg;
    struct nats_client *c = NULL;
    char err[256];
    nats_client_config_defaults(&cfg);
    cfg.urls = "nats://[::1]:4333, tls://u:p@localhost, 10.0.0.1:7, nats://tok@h.example";
    assert_int_equal(nats_client_create(&c, l, &cfg, err, sizeof(err)), 0);
    assert_string_equal(nats_client_server_addr(c), "[::1]:4333");
    assert_null(nats_client_server_info(c));
    assert_int_equal(nats_client_state(c), NATS_CLIENT_IDLE);
    nats_client_destroy(c);
    static const char *bad[] = {"",
                                "nats://",
                                "http://h:1",
                                "nats://h:0",
                                "nats://h:1,,",
                                "nats://[fe80::1%eth0]:1",
                                "nats://h/path?q"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cfg.urls = bad[i];
        assert_int_equal(nats_client_create(&c, l, &cfg, err, sizeof(err)), NATS_E_CONFIG);
        assert_null(c);
        assert_true(strlen(err) > 0);
    }
    loop_destroy(l);
}

static bool closed_done(void *arg)
{
    return ((struct natstest_events *)arg)->closed > 0;
}

static void test_drain(void **state)
{
    struct env e, p;
    env_open(&e, *state);
    env_open(&p, *state);
    struct natstest_msgs *got = msgs_new();
    struct span none = span_make(NULL, 0);
    assert_int_equal(nats_client_subscribe(e.c, SPAN_LIT("dr"), none, natstest_on_msg, got, NULL),
                     0);
    assert_int_equal(natstest_flush(e.l, e.c), 0);
    for (int i = 0; i < 500; i++)
        assert_int_equal(pub(p.c, "dr", "d"), 0);
    assert_int_equal(natstest_flush(p.l, p.c), 0);
    /* Everything the server routed before our UNSUB still arrives. */
    assert_int_equal(nats_client_drain(e.c, 5000), 0);
    assert_int_equal(nats_client_state(e.c), NATS_CLIENT_DRAINING);
    assert_int_equal(nats_client_subscribe(e.c, SPAN_LIT("x"), none, natstest_on_msg, got, NULL),
                     NATS_E_CLOSED);
    assert_true(natstest_run_until(e.l, closed_done, &e.ev, NATSTEST_WAIT_MS));
    assert_int_equal(got->count, 500);
    assert_int_equal(e.ev.closed, 1);
    assert_int_equal(nats_client_state(e.c), NATS_CLIENT_CLOSED);
    assert_int_equal(pub(e.c, "dr", "late"), NATS_E_CLOSED);
    free(got);
    env_close(&e);
    env_close(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),     cmocka_unit_test(test_queue_group),
        cmocka_unit_test(test_request_reply), cmocka_unit_test(test_no_responders),
        cmocka_unit_test(test_max_payload),   cmocka_unit_test(test_validation_and_unsub),
        cmocka_unit_test(test_drain),         cmocka_unit_test(test_flow_control),
        cmocka_unit_test(test_url_forms),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
