/*
 * tests/test_nats_cluster.c — the NATS client in a 3-node cluster (routes
 * on loopback): it learns the other nodes from INFO connect_urls, fails
 * over when its server is SIGKILLed (subscriptions restored there), and
 * leaves a server that announces lame-duck mode before that server closes
 * it.
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

#define NODES 3

static struct span none(void)
{
    return span_make(NULL, 0);
}

struct env {
    struct natsd *n[NODES];
    struct loop *l;
    struct natstest_events ev, pev;
    struct nats_client *c; /* connects to node 0 only */
    struct nats_client *p; /* publisher on node 2 */
    char url2[64];
};

static void env_open(struct env *e, const char *conf)
{
    memset(e, 0, sizeof(*e));
    struct natsd_opts o = {.conf = conf};
    assert_int_equal(natsd_cluster_start(e->n, NODES, &o), 0);
    e->l = natstest_loop();
    struct nats_client_config cfg;
    natstest_config(&cfg, natsd_url(e->n[0]), &e->ev);
    e->c = natstest_client(e->l, &cfg);
    snprintf(e->url2, sizeof(e->url2), "%s", natsd_url(e->n[2]));
    natstest_config(&cfg, e->url2, &e->pev);
    e->p = natstest_client(e->l, &cfg);
    assert_true(natstest_wait_up(e->l, &e->ev, 1));
    assert_true(natstest_wait_up(e->l, &e->pev, 1));
}

static void env_close(struct env *e)
{
    nats_client_destroy(e->c);
    nats_client_destroy(e->p);
    loop_destroy(e->l);
    natsd_cluster_stop(e->n, NODES);
}

struct urls_wait {
    struct nats_client *c;
    size_t n;
};

static bool knows_urls(void *arg)
{
    struct urls_wait *w = arg;
    const struct nats_info *info = nats_client_server_info(w->c);
    return info && info->n_connect_urls >= w->n;
}

/* Publishes "tag" on subject from p until c's recorder sees it: routes
 * and interest propagation take a moment after a (re)subscribe. */
static bool deliver(struct env *e, const char *subject, struct natstest_msgs *got)
{
    size_t before = got->count;
    for (int i = 0; i < 200; i++) {
        nats_client_publish(e->p, span_cstr(subject), none(), none(), SPAN_LIT("tag"));
        if (natstest_wait_msgs(e->l, got, before + 1, 25))
            return true;
    }
    return false;
}

static void test_failover(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, NULL);
    /* INFO told the client about all three nodes. */
    struct urls_wait w = {e.c, NODES};
    assert_true(natstest_run_until(e.l, knows_urls, &w, NATSTEST_WAIT_MS));
    char first[64];
    snprintf(first, sizeof(first), "%s", nats_client_server_addr(e.c));
    assert_non_null(strstr(natsd_url(e.n[0]), first));

    struct natstest_msgs *got = calloc(1, sizeof(*got));
    assert_int_equal(
        nats_client_subscribe(e.c, SPAN_LIT("fo.x"), none(), natstest_on_msg, got, NULL), 0);
    assert_true(deliver(&e, "fo.x", got));

    assert_int_equal(natsd_kill(e.n[0], SIGKILL), 0);
    /* Its configured URL is dead: only the learned ones can work. */
    assert_true(natstest_wait_up(e.l, &e.ev, 2));
    assert_int_equal(e.ev.reconnected, 1);
    assert_string_not_equal(nats_client_server_addr(e.c), first);
    /* The subscription came along to the new node. */
    assert_true(deliver(&e, "fo.x", got));
    struct nats_client_stats st;
    nats_client_stats(e.c, &st);
    assert_int_equal(st.reconnects, 1);
    free(got);
    env_close(&e);
}

static bool reconnected(void *arg)
{
    return ((struct natstest_events *)arg)->reconnected > 0;
}

static void test_lame_duck(void **state)
{
    (void)state;
    struct env e;
    /* The server would only start closing clients after 10 s: moving
     * earlier than that is the client's own doing. */
    env_open(&e, "lame_duck_grace_period: \"10s\"\nlame_duck_duration: \"30s\"\n");
    struct urls_wait w = {e.c, NODES};
    assert_true(natstest_run_until(e.l, knows_urls, &w, NATSTEST_WAIT_MS));
    struct natstest_msgs *got = calloc(1, sizeof(*got));
    assert_int_equal(
        nats_client_subscribe(e.c, SPAN_LIT("ld.x"), none(), natstest_on_msg, got, NULL), 0);
    assert_true(deliver(&e, "ld.x", got));
    char first[64];
    snprintf(first, sizeof(first), "%s", nats_client_server_addr(e.c));

    assert_int_equal(natsd_lame_duck(e.n[0]), 0);
    assert_true(natstest_run_until(e.l, reconnected, &e.ev, 5000));
    assert_int_equal(e.ev.last_disconnect_err, NATS_E_LAME_DUCK);
    assert_string_not_equal(nats_client_server_addr(e.c), first);
    assert_true(deliver(&e, "ld.x", got));
    /* A lame-duck server ignores SIGTERM until its duration ends. */
    natsd_kill(e.n[0], SIGKILL);
    free(got);
    env_close(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_failover),
        cmocka_unit_test(test_lame_duck),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
