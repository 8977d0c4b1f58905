/*
 * tests/test_agent_ops.c — h8srd in operation, end to end (real
 * nats-server, real agent binaries, real apps; this test in the gateway's
 * place).
 *
 * Covers: two agents in one queue group share a host's load; a silent app
 * gives 504 after --backend-timeout; an app that dies mid-stream makes the
 * agent abort the stream (never a clean end); the connection-close subject
 * and the abort control message each make the agent close its connection
 * to the app within a few seconds; --max-exchanges answers 503 beyond it;
 * interest registration every 5 s with the exact JSON, and the
 * unregistration at shutdown; SIGTERM drains in-flight exchanges and
 * refuses new ones; a drain that times out aborts what is left; exit 0.
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
    struct agtest_proc app1, app2;
    struct agtest_gw gw;
    uint8_t keep[4096];
};

static struct env E;

static int setup(void **state)
{
    (void)state;
    if (natsd_start(&E.nats, NULL) != 0 || agtest_backend_start(&E.app1, "app1") != 0 ||
        agtest_backend_start(&E.app2, "app2") != 0)
        return -1;
    agtest_gw_init(&E.gw, natsd_url(E.nats));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    agtest_gw_free(&E.gw);
    agtest_proc_stop(&E.app1, SIGTERM, 5000);
    agtest_proc_stop(&E.app2, SIGTERM, 5000);
    natsd_stop(E.nats);
    return 0;
}

/* Starts an agent serving host from app with extra flags. */
static void agent(struct agtest_proc *p, const char *host, const struct agtest_proc *app,
                  const char *const *extra)
{
    static char route[8][160];
    static unsigned k;
    const char *args[16];
    size_t n = 0;
    char *rt = route[k++ % 8];
    snprintf(rt, 160, "--route=%s=http://127.0.0.1:%u", host, app->port);
    args[n++] = rt;
    for (size_t i = 0; extra && extra[i] && n < 15; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    assert_int_equal(agtest_agent_start(p, natsd_url(E.nats), args, true), 0);
}

static void stop_clean(struct agtest_proc *p)
{
    int rc = agtest_proc_stop(p, SIGTERM, 8000);
    if (rc != 0)
        agtest_log_dump(p);
    assert_int_equal(rc, 0);
    agtest_proc_forget(p);
}

static struct agtest_reply *get(const char *host, const char *path, uint64_t window)
{
    struct agtest_req q = {.host = host,
                           .path = path,
                           .window = window,
                           .keep = E.keep,
                           .keep_cap = sizeof(E.keep) - 1};
    struct agtest_reply *r = agtest_request(&E.gw, &q);
    assert_non_null(r);
    return r;
}

static void test_queue_group_shares_load(void **state)
{
    (void)state;
    struct agtest_proc a, b;
    const char *group[] = {"--queue-group=h8s-test", NULL};
    agent(&a, "q.test", &E.app1, group);
    agent(&b, "q.test", &E.app2, group);
    int seen1 = 0, seen2 = 0;
    for (int i = 0; i < 40; i++) {
        struct agtest_reply *r = get("q.test", "/whoami", 0);
        assert_true(agtest_wait(&E.gw, r, AGTEST_WAIT_MS));
        assert_int_equal(r->status, 200);
        assert_int_equal(r->nmsgs, 1); /* one agent answered, not both */
        E.keep[r->keep_len] = '\0';
        seen1 += strcmp((char *)E.keep, "app1") == 0;
        seen2 += strcmp((char *)E.keep, "app2") == 0;
    }
    /* The group saw every request exactly once; both members worked. */
    natstest_run_for(E.gw.l, 200);
    assert_int_equal(seen1 + seen2, 40);
    assert_true(seen1 >= 5 && seen2 >= 5);
    stop_clean(&a);
    stop_clean(&b);
}

static void test_slow_backend_504(void **state)
{
    (void)state;
    struct agtest_proc a;
    /* Margins are wide on purpose: under ASan on a loaded machine the
     * backend's events can be late by a few hundred milliseconds. */
    const char *fl[] = {"--backend-timeout=1s", NULL};
    agent(&a, "slow.test", &E.app1, fl);
    uint64_t t0 = agtest_now_ms();
    struct agtest_reply *r = get("slow.test", "/slow/3000", 0);
    assert_true(agtest_wait(&E.gw, r, AGTEST_WAIT_MS));
    uint64_t took = agtest_now_ms() - t0;
    assert_int_equal(r->status, 504);
    assert_true(took >= 950 && took < 2900);
    /* Idle-based: a stream that keeps moving outlives the timeout (SSE
     * events 250 ms apart for 2.5 s, timeout 1 s). */
    r = get("slow.test", "/sse/10/250", 65536);
    assert_true(agtest_wait(&E.gw, r, AGTEST_WAIT_MS));
    assert_true(r->ended);
    assert_int_equal(r->ndata, 10);
    stop_clean(&a);
}

static void test_backend_dies_mid_stream(void **state)
{
    (void)state;
    struct agtest_proc a;
    agent(&a, "die.test", &E.app1, NULL);
    struct agtest_reply *r = get("die.test", "/die/100000", 1u << 20);
    assert_true(agtest_wait(&E.gw, r, AGTEST_WAIT_MS));
    /* The body is incomplete: the gateway is told, never a clean end. */
    assert_true(r->streamed);
    assert_true(r->aborted);
    assert_false(r->ended);
    assert_string_equal(r->abort_reason, "backend_error");
    assert_true(r->body_len <= 100000);
    stop_clean(&a);
}

struct stat_wait {
    uint16_t port;
    const char *key;
    long want;
};

static bool stat_reached(void *arg)
{
    struct stat_wait *w = arg;
    return agtest_backend_stat(w->port, w->key) >= w->want;
}

static bool data_msgs(void *arg)
{
    struct agtest_reply *r = arg;
    return r->done || r->ndata >= 3;
}

static void abort_case(bool close_subject, bool to_agent)
{
    struct agtest_proc a;
    agent(&a, "ab.test", &E.app1, NULL);
    long before = agtest_backend_stat(E.app1.port, "aborted");
    assert_true(before >= 0);
    struct agtest_reply *r = get("ab.test", "/forever", 1u << 20);
    assert_true(natstest_run_until(E.gw.l, data_msgs, r, AGTEST_WAIT_MS));
    assert_false(r->done);
    uint64_t t0 = agtest_now_ms();
    assert_int_equal(agtest_abort(&E.gw, r, close_subject, to_agent), 0);
    struct stat_wait w = {E.app1.port, "aborted", before + 1};
    assert_true(natstest_run_until(E.gw.l, stat_reached, &w, 5000));
    uint64_t took = agtest_now_ms() - t0;
    fprintf(stderr, "app saw its connection closed %llu ms after the abort\n",
            (unsigned long long)took);
    assert_true(took < 3000);
    assert_true(agtest_log_wait(&a, "event=exchange_aborted", 1000));
    stop_clean(&a);
}

static void test_close_subject_closes_backend(void **state)
{
    (void)state;
    abort_case(true, false);
}

static void test_abort_control_closes_backend(void **state)
{
    (void)state;
    abort_case(false, true);
}

static void test_max_exchanges(void **state)
{
    (void)state;
    struct agtest_proc a;
    const char *fl[] = {"--max-exchanges=2", NULL};
    agent(&a, "busy.test", &E.app1, fl);
    struct agtest_reply *r[3];
    for (int i = 0; i < 3; i++)
        r[i] = get("busy.test", "/slow/600", 0);
    int ok = 0, busy = 0;
    for (int i = 0; i < 3; i++) {
        assert_true(agtest_wait(&E.gw, r[i], AGTEST_WAIT_MS));
        ok += r[i]->status == 200;
        busy += r[i]->status == 503;
    }
    assert_int_equal(ok, 2);
    assert_int_equal(busy, 1);
    stop_clean(&a);
}

/* --------------------------------------------------------------- interest */

struct interest {
    int reg, unreg;
    uint64_t t[4];
    char last[256];
    char last_subj[128];
};

static void on_interest(struct nats_client *nc, struct nats_sub *sub, const struct nats_msg *m,
                        void *cookie)
{
    struct interest *in = cookie;
    (void)nc;
    (void)sub;
    snprintf(in->last, sizeof(in->last), "%.*s", (int)m->payload.n, (const char *)m->payload.p);
    snprintf(in->last_subj, sizeof(in->last_subj), "%.*s", (int)m->subject.n,
             (const char *)m->subject.p);
    if (strstr(in->last_subj, ".unregister."))
        in->unreg++;
    else if (in->reg < 4)
        in->t[in->reg++] = agtest_now_ms();
}

static bool two_regs(void *arg)
{
    return ((struct interest *)arg)->reg >= 2;
}

static bool one_unreg(void *arg)
{
    return ((struct interest *)arg)->unreg >= 1;
}

static void test_interest(void **state)
{
    (void)state;
    /* Static: when an assertion fails the subscription outlives this frame,
     * and its callback must not write into a dead stack. */
    static struct interest in;
    struct nats_sub *sub;
    memset(&in, 0, sizeof(in));
    assert_int_equal(nats_client_subscribe(E.gw.nc, SPAN_LIT("h8s.control.interest.>"),
                                           span_make(NULL, 0), on_interest, &in, &sub),
                     0);
    assert_int_equal(natstest_flush(E.gw.l, E.gw.nc), 0);
    struct agtest_proc a;
    agent(&a, "Interest.Example.test", &E.app1, NULL);
    assert_true(natstest_run_until(E.gw.l, two_regs, &in, 9000));
    assert_string_equal(in.last_subj, "h8s.control.interest.register.test.example.interest");
    assert_string_equal(in.last,
                        "{\"host\":\"interest.example.test\",\"path\":\"*\",\"method\":\"*\"}");
    uint64_t gap = in.t[1] - in.t[0];
    assert_true(gap >= 4000 && gap <= 6500);
    assert_int_equal(agtest_proc_stop(&a, SIGTERM, 8000), 0);
    agtest_proc_forget(&a);
    assert_true(natstest_run_until(E.gw.l, one_unreg, &in, 3000));
    assert_string_equal(in.last_subj, "h8s.control.interest.unregister.test.example.interest");
    assert_string_equal(in.last,
                        "{\"host\":\"interest.example.test\",\"path\":\"*\",\"method\":\"*\"}");
    nats_client_unsubscribe(E.gw.nc, sub, 0);
}

/* ------------------------------------------------------------------ drain */

static void test_sigterm_drains(void **state)
{
    (void)state;
    struct agtest_proc a;
    agent(&a, "drain.test", &E.app1, NULL);
    struct agtest_reply *slow = get("drain.test", "/slow/1500", 0);
    natstest_run_for(E.gw.l, 300); /* the agent has it in flight */
    kill(a.pid, SIGTERM);
    assert_true(agtest_log_wait(&a, "event=drain ", 3000));
    natstest_run_for(E.gw.l, 100);
    /* New requests find nobody: the agent left the request subjects. */
    struct agtest_reply *late = get("drain.test", "/whoami", 0);
    assert_true(agtest_wait(&E.gw, late, AGTEST_WAIT_MS));
    assert_true(late->no_responders);
    /* The one in flight completes. */
    assert_true(agtest_wait(&E.gw, slow, AGTEST_WAIT_MS));
    assert_int_equal(slow->status, 200);
    E.keep[slow->keep_len] = '\0';
    assert_string_equal((char *)E.keep, "slow\n");
    assert_int_equal(agtest_proc_stop(&a, 0, 5000), 0);
    agtest_proc_forget(&a);
}

static void test_drain_timeout_aborts(void **state)
{
    (void)state;
    struct agtest_proc a;
    const char *fl[] = {"--drain-timeout=300ms", NULL};
    agent(&a, "dt.test", &E.app1, fl);
    long before = agtest_backend_stat(E.app1.port, "aborted");
    struct agtest_reply *r = get("dt.test", "/forever", 1u << 20);
    assert_true(natstest_run_until(E.gw.l, data_msgs, r, AGTEST_WAIT_MS));
    uint64_t t0 = agtest_now_ms();
    kill(a.pid, SIGTERM);
    assert_true(agtest_wait(&E.gw, r, AGTEST_WAIT_MS));
    assert_true(r->aborted);
    assert_string_equal(r->abort_reason, "shutdown");
    assert_int_equal(agtest_proc_stop(&a, 0, 5000), 0);
    assert_true(agtest_now_ms() - t0 < 3000);
    agtest_proc_forget(&a);
    struct stat_wait w = {E.app1.port, "aborted", before + 1};
    assert_true(natstest_run_until(E.gw.l, stat_reached, &w, 5000));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queue_group_shares_load),
        cmocka_unit_test(test_slow_backend_504),
        cmocka_unit_test(test_backend_dies_mid_stream),
        cmocka_unit_test(test_close_subject_closes_backend),
        cmocka_unit_test(test_abort_control_closes_backend),
        cmocka_unit_test(test_max_exchanges),
        cmocka_unit_test(test_interest),
        cmocka_unit_test(test_sigterm_drains),
        cmocka_unit_test(test_drain_timeout_aborts),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
