/*
 * tests/test_loop_timer.c — the loop's intrusive timer heap: ordering, ties,
 * cancellation, re-arming and stopping from callbacks, a 50,000-timer
 * random workload against a reference, and timers bounding the wait of
 * loop_run_once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/loop.h"
#include "tests/support/loop_harness.h"

struct tctx {
    struct loop *l;
};

struct rec {
    struct loop_timer t;
    int id;
    int fired;
    uint64_t deadline; /* as armed, for order checks */
    uint64_t seq;
    int rearm_left;
    uint64_t rearm_ms;
    struct rec *victim; /* stopped from this timer's callback */
};

static int setup(void **state)
{
    struct tctx *t = calloc(1, sizeof(*t));
    struct loop_config cfg;
    char err[256];
    int r;

    assert_non_null(t);
    loop_config_defaults(&cfg);
    cfg.max_conns = 8;
    cfg.ring_entries = 64;
    cfg.recv_buf_count = 8;
    cfg.recv_buf_size = 4096;
    r = loop_create(&t->l, &cfg, err, sizeof(err));
    if (r < 0) {
        print_message("loop_create: %s\n", err);
        free(t);
        return -1;
    }
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct tctx *t = *state;

    loop_destroy(t->l);
    free(t);
    return 0;
}

/* Runs iterations until *counter reaches want or 5 s pass. */
static void run_until(struct loop *l, const int *counter, int want)
{
    uint64_t end = lh_mono_ms() + 5000;

    while (*counter < want && lh_mono_ms() < end)
        assert_true(loop_run_once(l, 100) >= 0);
    assert_int_equal(*counter, want);
}

struct order_ctx {
    struct rec recs[8];
    int order[8];
    int n;
};

static struct order_ctx *g_order;

static void order_fn(struct loop *l, struct loop_timer *t)
{
    struct rec *r = LOOP_CONTAINER_OF(t, struct rec, t);
    struct order_ctx *o = g_order;

    (void)l;
    r->fired++;
    o->order[o->n++] = r->id;
}

static void test_order(void **state)
{
    struct tctx *t = *state;
    struct order_ctx o;
    static const uint64_t ms[] = {30, 10, 20, 10, 0, 20};
    static const int want[] = {4, 1, 3, 2, 5, 0};

    memset(&o, 0, sizeof(o));
    g_order = &o;
    for (int i = 0; i < 6; i++) {
        o.recs[i].id = i;
        loop_timer_init(&o.recs[i].t, order_fn);
        assert_false(loop_timer_armed(&o.recs[i].t));
        assert_int_equal(loop_timer_start(t->l, &o.recs[i].t, ms[i]), 0);
        assert_true(loop_timer_armed(&o.recs[i].t));
    }
    run_until(t->l, &o.n, 6);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(o.order[i], want[i]);
        assert_int_equal(o.recs[i].fired, 1);
        assert_false(loop_timer_armed(&o.recs[i].t));
    }
}

struct tie_ctx {
    struct loop_timer t[100];
    int order[100];
    int n;
};

static struct tie_ctx *g_tie;

static void tie_fn(struct loop *l, struct loop_timer *t)
{
    (void)l;
    g_tie->order[g_tie->n++] = (int)(t - g_tie->t);
}

static void test_same_deadline_start_order(void **state)
{
    struct tctx *t = *state;
    struct tie_ctx *c = calloc(1, sizeof(*c));

    assert_non_null(c);
    g_tie = c;
    for (int i = 0; i < 100; i++) {
        loop_timer_init(&c->t[i], tie_fn);
        assert_int_equal(loop_timer_start(t->l, &c->t[i], 5), 0);
    }
    /* Re-arming moves a timer to the end of its tie group. */
    assert_int_equal(loop_timer_start(t->l, &c->t[0], 5), 0);
    run_until(t->l, &c->n, 100);
    for (int i = 0; i < 99; i++)
        assert_int_equal(c->order[i], i + 1);
    assert_int_equal(c->order[99], 0);
    free(c);
}

static int g_count;

static void count_fn(struct loop *l, struct loop_timer *t)
{
    (void)l;
    (void)t;
    g_count++;
}

static void test_cancel(void **state)
{
    struct tctx *t = *state;
    struct loop_timer a, b, c, never;

    g_count = 0;
    loop_timer_init(&a, count_fn);
    loop_timer_init(&b, count_fn);
    loop_timer_init(&c, count_fn);
    loop_timer_init(&never, count_fn);
    loop_timer_stop(t->l, &never); /* not armed: no-op */
    assert_int_equal(loop_timer_start(t->l, &a, 5), 0);
    assert_int_equal(loop_timer_start(t->l, &b, 5), 0);
    assert_int_equal(loop_timer_start(t->l, &c, 10), 0);
    loop_timer_stop(t->l, &b);
    loop_timer_stop(t->l, &b);
    assert_false(loop_timer_armed(&b));
    run_until(t->l, &g_count, 2);
    /* b stays silent even after its deadline passed long ago. */
    for (int i = 0; i < 3; i++)
        assert_true(loop_run_once(t->l, 10) >= 0);
    assert_int_equal(g_count, 2);

    /* A stopped timer can be armed again. */
    assert_int_equal(loop_timer_start(t->l, &b, 1), 0);
    run_until(t->l, &g_count, 3);
}

static void rearm_fn(struct loop *l, struct loop_timer *t)
{
    struct rec *r = LOOP_CONTAINER_OF(t, struct rec, t);

    r->fired++;
    if (r->rearm_left > 0) {
        r->rearm_left--;
        assert_int_equal(loop_timer_start(l, t, r->rearm_ms), 0);
    }
}

static void test_rearm_from_callback(void **state)
{
    struct tctx *t = *state;
    struct rec r;
    int iters = 0;

    memset(&r, 0, sizeof(r));
    loop_timer_init(&r.t, rearm_fn);
    r.rearm_left = 4;
    r.rearm_ms = 2;
    assert_int_equal(loop_timer_start(t->l, &r.t, 1), 0);
    run_until(t->l, &r.fired, 5);
    assert_false(loop_timer_armed(&r.t));

    /* Re-arming with 0 ms fires once per iteration, never in a tight loop
     * inside a single one. */
    memset(&r, 0, sizeof(r));
    loop_timer_init(&r.t, rearm_fn);
    r.rearm_left = 1000000;
    r.rearm_ms = 0;
    assert_int_equal(loop_timer_start(t->l, &r.t, 0), 0);
    while (r.fired < 10) {
        int before = r.fired;
        assert_true(loop_run_once(t->l, 0) >= 0);
        assert_true(r.fired - before <= 1);
        iters++;
        assert_true(iters < 1000);
    }
    loop_timer_stop(t->l, &r.t);
    assert_false(loop_timer_armed(&r.t));
}

static void stopper_fn(struct loop *l, struct loop_timer *t)
{
    struct rec *r = LOOP_CONTAINER_OF(t, struct rec, t);

    r->fired++;
    if (r->victim != NULL)
        loop_timer_stop(l, &r->victim->t);
}

static void test_stop_from_other_callback(void **state)
{
    struct tctx *t = *state;
    struct rec a, b, c, d;

    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    memset(&c, 0, sizeof(c));
    memset(&d, 0, sizeof(d));
    loop_timer_init(&a.t, stopper_fn);
    loop_timer_init(&b.t, stopper_fn);
    loop_timer_init(&c.t, stopper_fn);
    loop_timer_init(&d.t, stopper_fn);
    /* a and b are due in the same iteration; a stops b before it runs. */
    a.victim = &b;
    /* c stops d, which is due much later. */
    c.victim = &d;
    assert_int_equal(loop_timer_start(t->l, &a.t, 3), 0);
    assert_int_equal(loop_timer_start(t->l, &b.t, 3), 0);
    assert_int_equal(loop_timer_start(t->l, &c.t, 4), 0);
    assert_int_equal(loop_timer_start(t->l, &d.t, 50), 0);
    run_until(t->l, &c.fired, 1);
    assert_int_equal(a.fired, 1);
    assert_int_equal(b.fired, 0);
    assert_false(loop_timer_armed(&b.t));
    assert_false(loop_timer_armed(&d.t));
    for (int i = 0; i < 8; i++)
        assert_true(loop_run_once(t->l, 10) >= 0);
    assert_int_equal(d.fired, 0);
}

#define MANY 50000

struct many {
    struct rec recs[MANY];
    uint64_t last_deadline, last_seq;
    int fired;
    int bad_order;
    int early;
    int stopped_fired;
};

static struct many *g_many;

static uint64_t rng_next(uint64_t *s)
{
    /* xorshift64* */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 2685821657736338717ull;
}

static void many_fn(struct loop *l, struct loop_timer *t)
{
    struct rec *r = LOOP_CONTAINER_OF(t, struct rec, t);
    struct many *m = g_many;

    if (r->victim == r)
        m->stopped_fired++;
    if (t->deadline_ms < m->last_deadline ||
        (t->deadline_ms == m->last_deadline && t->seq < m->last_seq))
        m->bad_order++;
    if (t->deadline_ms > loop_now_ms(l))
        m->early++;
    m->last_deadline = t->deadline_ms;
    m->last_seq = t->seq;
    r->fired++;
    m->fired++;
}

static void test_many_random(void **state)
{
    struct tctx *t = *state;
    struct many *m = calloc(1, sizeof(*m));
    uint64_t seed = 0x9e3779b97f4a7c15ull, end;
    int expect = 0;

    assert_non_null(m);
    g_many = m;
    for (int i = 0; i < MANY; i++) {
        loop_timer_init(&m->recs[i].t, many_fn);
        assert_int_equal(loop_timer_start(t->l, &m->recs[i].t, rng_next(&seed) % 300), 0);
    }
    /* Churn: stop a sixth, re-arm another sixth with a new deadline. */
    for (int i = 0; i < MANY; i++) {
        uint64_t x = rng_next(&seed) % 6;
        if (x == 0) {
            loop_timer_stop(t->l, &m->recs[i].t);
            m->recs[i].victim = &m->recs[i];
        } else if (x == 1) {
            assert_int_equal(loop_timer_start(t->l, &m->recs[i].t, rng_next(&seed) % 300), 0);
        }
    }
    for (int i = 0; i < MANY; i++)
        expect += m->recs[i].victim == NULL;
    end = lh_mono_ms() + 10000;
    while (m->fired < expect && lh_mono_ms() < end)
        assert_true(loop_run_once(t->l, -1) >= 0);
    assert_int_equal(m->fired, expect);
    assert_int_equal(m->bad_order, 0);
    assert_int_equal(m->early, 0);
    assert_int_equal(m->stopped_fired, 0);
    for (int i = 0; i < MANY; i++) {
        assert_int_equal(m->recs[i].fired, m->recs[i].victim == NULL ? 1 : 0);
        assert_false(loop_timer_armed(&m->recs[i].t));
    }
    free(m);
}

static void test_timer_drives_wait(void **state)
{
    struct tctx *t = *state;
    struct loop_timer a, far;
    uint64_t t0, t1;
    int r;

    g_count = 0;
    loop_timer_init(&a, count_fn);
    loop_timer_init(&far, count_fn);
    /* Let the loop's own start-up completions settle first. */
    assert_true(loop_run_once(t->l, 0) >= 0);

    /* An unbounded wait returns when the timer is due, having fired it. */
    assert_true(loop_run_once(t->l, 0) >= 0);
    assert_int_equal(loop_timer_start(t->l, &a, 40), 0);
    t0 = lh_mono_ms();
    r = loop_run_once(t->l, -1);
    t1 = lh_mono_ms();
    assert_int_equal(r, 0);
    assert_int_equal(g_count, 1);
    assert_true(t1 - t0 >= 39);

    /* A later timer does not stretch a bounded wait, and does not fire. */
    assert_int_equal(loop_timer_start(t->l, &far, 10000), 0);
    t0 = lh_mono_ms();
    r = loop_run_once(t->l, 20);
    t1 = lh_mono_ms();
    assert_int_equal(r, 0);
    assert_int_equal(g_count, 1);
    assert_true(t1 - t0 >= 19);
    assert_true(loop_timer_armed(&far));
    loop_timer_stop(t->l, &far);

    /* loop_now_ms follows the clock from one iteration to the next. */
    t0 = loop_now_ms(t->l);
    assert_int_equal(loop_timer_start(t->l, &a, 15), 0);
    assert_int_equal(loop_run_once(t->l, -1), 0);
    assert_true(loop_now_ms(t->l) >= t0 + 15);
    assert_int_equal(g_count, 2);
}

static void stop_loop_fn(struct loop *l, struct loop_timer *t)
{
    (void)t;
    g_count++;
    loop_stop(l);
}

static void test_loop_run_stops(void **state)
{
    struct tctx *t = *state;
    struct loop_timer a, b;

    g_count = 0;
    loop_timer_init(&a, stop_loop_fn);
    loop_timer_init(&b, count_fn);
    assert_int_equal(loop_timer_start(t->l, &a, 5), 0);
    assert_int_equal(loop_timer_start(t->l, &b, 1000), 0);
    assert_int_equal(loop_run(t->l), 0);
    assert_int_equal(g_count, 1);
    assert_true(loop_timer_armed(&b));
    /* loop_run can be entered again after loop_stop. */
    assert_int_equal(loop_timer_start(t->l, &a, 1), 0);
    assert_int_equal(loop_run(t->l), 0);
    assert_int_equal(g_count, 2);
    loop_timer_stop(t->l, &b);
}

static struct loop_timer g_left_armed;

static void test_destroy_disarms(void **state)
{
    struct tctx *t = *state;

    /* Timers still armed at loop_destroy are disarmed, never fired. */
    g_count = 0;
    loop_timer_init(&g_left_armed, count_fn);
    assert_int_equal(loop_timer_start(t->l, &g_left_armed, 0), 0);
    loop_destroy(t->l);
    t->l = NULL;
    assert_false(loop_timer_armed(&g_left_armed));
    assert_int_equal(g_count, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_same_deadline_start_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rearm_from_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_from_other_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_random, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_drives_wait, setup, teardown),
        cmocka_unit_test_setup_teardown(test_loop_run_stops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_disarms, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
