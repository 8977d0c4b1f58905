/*
 * tests/test_nats_hostile.c — the NATS client facing a peer that breaks
 * the protocol (something a real nats-server never does, so a scripted
 * loopback listener plays it): garbage instead of INFO, malformed INFO
 * JSON, a message whose payload is not followed by CRLF, an oversized
 * message, a peer that never answers. Each must end the connection with
 * a protocol error (or a timeout) and lead to a new attempt after a
 * back-off, never a crash, a hang or a busy loop.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/loop.h"
#include "proto/nats_client.h"
#include "tests/support/natstest.h"

#define INFO_OK                                                                                    \
    "INFO {\"server_id\":\"hostile\",\"version\":\"2.9.10\",\"proto\":1,"                          \
    "\"headers\":true,\"max_payload\":1024}\r\n"

/* What the fake peer says: on accept, then after the client's PING. */
struct script {
    const char *greeting;
    const char *after_ping; /* NULL: never answer */
    int accepts;
    int pings;
};

static int peer_data(struct loop_conn *c, const uint8_t *p, size_t n)
{
    struct script *s = loop_conn_cookie(c);
    if (n == 0)
        return -ECONNRESET;
    if (s->after_ping && memmem(p, n, "PING\r\n", 6)) {
        s->pings++;
        loop_conn_write(c, s->after_ping, strlen(s->after_ping));
    }
    return 0;
}

static void peer_close(struct loop_conn *c, int err)
{
    (void)c;
    (void)err;
}

static const struct loop_conn_ops peer_ops = {.on_data = peer_data, .on_close = peer_close};

static void on_accept(struct loop_listener *ls, struct loop_conn *c, int err)
{
    struct script *s = loop_listener_cookie(ls);
    if (err)
        return;
    s->accepts++;
    loop_conn_set(c, &peer_ops, s);
    if (s->greeting)
        loop_conn_write(c, s->greeting, strlen(s->greeting));
}

static void run_script(struct script *s, int ms, int *accepts, struct natstest_events *ev)
{
    struct loop *l = natstest_loop();
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct loop_listener *ls;
    assert_int_equal(loop_listen(l, (struct sockaddr *)&sa, sizeof(sa), 0, on_accept, s, &ls), 0);
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    assert_int_equal(loop_listener_addr(ls, &ss, &len), 0);
    char url[64];
    snprintf(url, sizeof(url), "nats://127.0.0.1:%u",
             (unsigned)ntohs(((struct sockaddr_in *)&ss)->sin_port));
    struct nats_client_config cfg;
    natstest_config(&cfg, url, ev);
    cfg.connect_timeout_ms = 200;
    struct nats_client *c = natstest_client(l, &cfg);
    natstest_run_for(l, ms);
    *accepts = s->accepts;
    nats_client_destroy(c);
    loop_listener_close(ls);
    loop_destroy(l);
}

/* The peer must have been tried again, but with back-off (20 ms doubling
 * to 200 ms in these tests: a handful of attempts per second, not
 * thousands), and never be reported as connected. */
static void expect_retried(struct script *s, int ms)
{
    struct natstest_events ev = {0};
    int accepts;
    run_script(s, ms, &accepts, &ev);
    assert_true(accepts >= 2);
    assert_true(accepts <= 30);
    assert_int_equal(ev.connected, 0);
}

static void test_garbage_greeting(void **state)
{
    (void)state;
    struct script s = {.greeting = "HELLO THERE\r\n"};
    expect_retried(&s, 500);
    struct script s2 = {.greeting = "\x16\x03\x01\x02\x00"};
    expect_retried(&s2, 500);
}

static void test_bad_info(void **state)
{
    (void)state;
    struct script s = {.greeting = "INFO {\"server_id\":\r\n"};
    expect_retried(&s, 500);
    struct script s2 = {.greeting = "INFO {\"max_payload\":\"big\"}\r\n"};
    expect_retried(&s2, 500);
}

static void test_bad_message(void **state)
{
    (void)state;
    /* Accepted, then a message whose payload overruns its byte count. */
    struct natstest_events ev = {0};
    struct script s = {.greeting = INFO_OK, .after_ping = "PONG\r\nMSG a 1 5\r\nhelloXX\r\n"};
    int accepts;
    run_script(&s, 500, &accepts, &ev);
    assert_true(accepts >= 2);
    assert_true(accepts <= 30);
    assert_true(ev.connected == 1);
    assert_true(ev.disconnected >= 1);
    assert_int_equal(ev.last_disconnect_err, NATS_E_PROTO);

    /* A message larger than the max_payload the peer itself announced. */
    struct natstest_events ev2 = {0};
    struct script s2 = {.greeting = INFO_OK, .after_ping = "PONG\r\nMSG a 1 4096\r\n"};
    run_script(&s2, 500, &accepts, &ev2);
    assert_true(ev2.disconnected >= 1);
    assert_int_equal(ev2.last_disconnect_err, NATS_E_PROTO);
}

static void test_silent_peer(void **state)
{
    (void)state;
    /* INFO, then nothing: the 200 ms handshake deadline ends each attempt. */
    struct script s = {.greeting = INFO_OK};
    expect_retried(&s, 700);
    /* Not even INFO. */
    struct script s2 = {0};
    expect_retried(&s2, 700);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_garbage_greeting),
        cmocka_unit_test(test_bad_info),
        cmocka_unit_test(test_bad_message),
        cmocka_unit_test(test_silent_peer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
