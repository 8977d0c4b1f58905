/*
 * tests/test_nats_reconnect.c — the NATS client losing its server:
 * SIGKILL and restart (subscriptions restored with their sids, publishes
 * made meanwhile delivered in order, counters), a bounded reconnect
 * buffer that refuses explicitly when full, a frozen server detected by
 * keep-alive PINGs, a first connect that has to wait for the server, and
 * max_reconnects giving up.
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

#include "proto/nats_client.h"
#include "tests/support/natsd.h"
#include "tests/support/natstest.h"

struct env {
    struct natsd *d;
    struct loop *l;
    struct natstest_events ev;
    struct nats_client *c;
};

static void env_open(struct env *e, void (*tweak)(struct nats_client_config *))
{
    memset(e, 0, sizeof(*e));
    assert_int_equal(natsd_start(&e->d, NULL), 0);
    e->l = natstest_loop();
    struct nats_client_config cfg;
    natstest_config(&cfg, natsd_url(e->d), &e->ev);
    if (tweak)
        tweak(&cfg);
    e->c = natstest_client(e->l, &cfg);
    assert_true(natstest_wait_up(e->l, &e->ev, 1));
}

static void env_close(struct env *e)
{
    nats_client_destroy(e->c);
    loop_destroy(e->l);
    natsd_stop(e->d);
}

static struct span none(void)
{
    return span_make(NULL, 0);
}

static bool disconnected(void *arg)
{
    return ((struct natstest_events *)arg)->disconnected > 0;
}

static bool closed(void *arg)
{
    return ((struct natstest_events *)arg)->closed > 0;
}

static void test_kill_restart(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, NULL);
    struct natstest_msgs *plain = calloc(1, sizeof(*plain));
    struct natstest_msgs *queued = calloc(1, sizeof(*queued));
    struct nats_sub *s1, *s2;
    assert_int_equal(
        nats_client_subscribe(e.c, SPAN_LIT("rc.seq"), none(), natstest_on_msg, plain, &s1), 0);
    assert_int_equal(nats_client_subscribe(e.c, SPAN_LIT("rc.q.*"), SPAN_LIT("grp"),
                                           natstest_on_msg, queued, &s2),
                     0);
    uint64_t sid1 = nats_client_sub_sid(s1), sid2 = nats_client_sub_sid(s2);
    assert_int_equal(natstest_flush(e.l, e.c), 0);
    assert_int_equal(
        nats_client_publish(e.c, SPAN_LIT("rc.seq"), none(), none(), SPAN_LIT("before")), 0);
    assert_true(natstest_wait_msgs(e.l, plain, 1, NATSTEST_WAIT_MS));

    assert_int_equal(natsd_kill(e.d, SIGKILL), 0);
    assert_true(natstest_run_until(e.l, disconnected, &e.ev, NATSTEST_WAIT_MS));
    assert_int_equal(nats_client_state(e.c), NATS_CLIENT_CONNECTING);
    /* A flush cannot be made while disconnected. */
    assert_int_equal(natstest_flush(e.l, e.c), NATS_E_DISCONNECTED);

    /* Published while no server runs: buffered, in order. */
    for (int i = 0; i < 100; i++) {
        char p[16];
        snprintf(p, sizeof(p), "%04d", i);
        assert_int_equal(nats_client_publish(e.c, SPAN_LIT("rc.seq"), none(), none(), span_cstr(p)),
                         0);
    }
    assert_int_equal(
        nats_client_publish(e.c, SPAN_LIT("rc.q.x"), none(), none(), SPAN_LIT("to the group")), 0);
    struct nats_client_stats st;
    nats_client_stats(e.c, &st);
    assert_true(st.pending > 0);
    natstest_run_for(e.l, 100); /* a few failed attempts */

    assert_int_equal(natsd_restart(e.d), 0);
    assert_true(natstest_wait_up(e.l, &e.ev, 2));
    assert_int_equal(e.ev.reconnected, 1);
    assert_int_equal(e.ev.disconnected, 1);
    assert_int_equal(e.ev.connected, 1);
    assert_true(natstest_wait_msgs(e.l, plain, 101, NATSTEST_WAIT_MS));
    assert_true(natstest_wait_msgs(e.l, queued, 1, NATSTEST_WAIT_MS));
    for (int i = 0; i < 100; i++) {
        char p[16];
        snprintf(p, sizeof(p), "%04d", i);
        assert_memory_equal(plain->m[1 + i].payload, p, 4);
    }
    assert_string_equal(queued->m[0].subject, "rc.q.x");
    assert_int_equal(nats_client_sub_sid(s1), sid1);
    assert_int_equal(nats_client_sub_sid(s2), sid2);

    /* Live traffic after the reconnect goes through the restored subs. */
    assert_int_equal(
        nats_client_publish(e.c, SPAN_LIT("rc.seq"), none(), none(), SPAN_LIT("after")), 0);
    assert_true(natstest_wait_msgs(e.l, plain, 102, NATSTEST_WAIT_MS));
    assert_int_equal(natstest_flush(e.l, e.c), 0);
    nats_client_stats(e.c, &st);
    assert_int_equal(st.reconnects, 1);
    assert_int_equal(st.msgs_out, 103);
    assert_int_equal(st.msgs_in, 103);
    assert_int_equal(st.pending, 0);
    free(plain);
    free(queued);
    env_close(&e);
}

static void small_buffer(struct nats_client_config *cfg)
{
    cfg->reconnect_buffer = 1000;
}

static void test_buffer_full(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, small_buffer);
    struct natstest_msgs *got = calloc(1, sizeof(*got));
    assert_int_equal(nats_client_subscribe(e.c, SPAN_LIT("bf"), none(), natstest_on_msg, got, NULL),
                     0);
    assert_int_equal(natstest_flush(e.l, e.c), 0);
    assert_int_equal(natsd_kill(e.d, SIGKILL), 0);
    assert_true(natstest_run_until(e.l, disconnected, &e.ev, NATSTEST_WAIT_MS));

    /* Each "PUB bf 50\r\n" + 50 + CRLF is 63 bytes: 15 fit in 1000. */
    uint8_t data[50];
    memset(data, 'b', sizeof(data));
    int ok = 0, rc;
    while ((rc = nats_client_publish(e.c, SPAN_LIT("bf"), none(), none(),
                                     span_make(data, sizeof(data)))) == 0)
        ok++;
    assert_int_equal(rc, NATS_E_BUFFER_FULL);
    assert_int_equal(ok, 15);
    /* Still refused, never silently dropped; a smaller one still fits. */
    assert_int_equal(
        nats_client_publish(e.c, SPAN_LIT("bf"), none(), none(), span_make(data, sizeof(data))),
        NATS_E_BUFFER_FULL);
    assert_int_equal(nats_client_publish(e.c, SPAN_LIT("bf"), none(), none(), SPAN_LIT("x")), 0);

    assert_int_equal(natsd_restart(e.d), 0);
    assert_true(natstest_wait_up(e.l, &e.ev, 2));
    assert_true(natstest_wait_msgs(e.l, got, 16, NATSTEST_WAIT_MS));
    assert_int_equal(natstest_flush(e.l, e.c), 0);
    assert_int_equal(got->count, 16);
    /* The refusal promised a drained notice once room came back. */
    assert_true(e.ev.drained >= 1);
    free(got);
    env_close(&e);
}

static void fast_pings(struct nats_client_config *cfg)
{
    cfg->ping_interval_ms = 100;
    cfg->max_pings_out = 2;
}

static void test_stale_server(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, fast_pings);
    /* A frozen server keeps the socket open but never answers. */
    assert_int_equal(natsd_signal(e.d, SIGSTOP), 0);
    assert_true(natstest_run_until(e.l, disconnected, &e.ev, 3000));
    assert_int_equal(e.ev.last_disconnect_err, NATS_E_STALE);
    assert_int_equal(natsd_signal(e.d, SIGCONT), 0);
    assert_true(natstest_wait_up(e.l, &e.ev, 2));
    assert_int_equal(nats_client_state(e.c), NATS_CLIENT_CONNECTED);
    env_close(&e);
}

static void test_first_connect_waits(void **state)
{
    (void)state;
    struct natsd *d;
    struct natstest_events ev = {0};
    assert_int_equal(natsd_start(&d, NULL), 0);
    assert_int_equal(natsd_kill(d, SIGKILL), 0);
    struct loop *l = natstest_loop();
    struct nats_client_config cfg;
    natstest_config(&cfg, natsd_url(d), &ev);
    struct nats_client *c = natstest_client(l, &cfg);
    struct natstest_msgs *got = calloc(1, sizeof(*got));
    /* Subscriptions and publishes made before the first connection. */
    assert_int_equal(
        nats_client_subscribe(c, SPAN_LIT("early"), none(), natstest_on_msg, got, NULL), 0);
    assert_int_equal(nats_client_publish(c, SPAN_LIT("early"), none(), none(), SPAN_LIT("1")), 0);
    natstest_run_for(l, 300);
    assert_int_equal(ev.connected, 0);
    assert_int_equal(nats_client_state(c), NATS_CLIENT_CONNECTING);
    assert_int_equal(natsd_restart(d), 0);
    assert_true(natstest_wait_up(l, &ev, 1));
    assert_int_equal(ev.connected, 1);
    assert_int_equal(ev.reconnected, 0);
    assert_true(natstest_wait_msgs(l, got, 1, NATSTEST_WAIT_MS));
    free(got);
    nats_client_destroy(c);
    loop_destroy(l);
    natsd_stop(d);
}

static void two_attempts(struct nats_client_config *cfg)
{
    cfg->max_reconnects = 2;
}

static void test_max_reconnects(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, two_attempts);
    assert_int_equal(natsd_kill(e.d, SIGKILL), 0);
    assert_true(natstest_run_until(e.l, closed, &e.ev, NATSTEST_WAIT_MS));
    assert_int_equal(e.ev.closed, 1);
    assert_int_equal(nats_client_state(e.c), NATS_CLIENT_CLOSED);
    assert_int_equal(nats_client_publish(e.c, SPAN_LIT("x"), none(), none(), SPAN_LIT("x")),
                     NATS_E_CLOSED);
    env_close(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_restart),   cmocka_unit_test(test_buffer_full),
        cmocka_unit_test(test_stale_server),   cmocka_unit_test(test_first_connect_waits),
        cmocka_unit_test(test_max_reconnects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
