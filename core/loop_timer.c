/*
 * core/loop_timer.c — intrusive timers in a binary min-heap.
 *
 * The heap stores pointers to caller-owned struct loop_timer; each timer
 * remembers its own position (heap_idx, 1-based so 0 means "not armed"), so
 * stop and re-arm are O(log n) without a search. See core/loop.h.
 */
#include <errno.h>
#include <stdlib.h>

#include "core/loop_internal.h"

static int timer_before(const struct loop_timer *a, const struct loop_timer *b)
{
    if (a->deadline_ms != b->deadline_ms)
        return a->deadline_ms < b->deadline_ms;
    return a->seq < b->seq;
}

static void heap_set(struct loop *l, size_t i, struct loop_timer *t)
{
    l->theap[i] = t;
    t->heap_idx = i + 1;
}

static void sift_up(struct loop *l, size_t i)
{
    struct loop_timer *t = l->theap[i];

    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!timer_before(t, l->theap[parent]))
            break;
        heap_set(l, i, l->theap[parent]);
        i = parent;
    }
    heap_set(l, i, t);
}

static void sift_down(struct loop *l, size_t i)
{
    struct loop_timer *t = l->theap[i];

    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= l->tn)
            break;
        if (child + 1 < l->tn && timer_before(l->theap[child + 1], l->theap[child]))
            child++;
        if (!timer_before(l->theap[child], t))
            break;
        heap_set(l, i, l->theap[child]);
        i = child;
    }
    heap_set(l, i, t);
}

static void heap_remove(struct loop *l, struct loop_timer *t)
{
    size_t i = t->heap_idx - 1;
    struct loop_timer *last = l->theap[--l->tn];

    t->heap_idx = 0;
    if (last == t)
        return;
    heap_set(l, i, last);
    /* The moved element may belong above or below its new position. */
    if (i > 0 && timer_before(last, l->theap[(i - 1) / 2]))
        sift_up(l, i);
    else
        sift_down(l, i);
}

void loop_timer_init(struct loop_timer *t, loop_timer_fn fn)
{
    t->deadline_ms = 0;
    t->seq = 0;
    t->heap_idx = 0;
    t->fn = fn;
}

int loop_timer_start(struct loop *l, struct loop_timer *t, uint64_t ms)
{
    if (t->heap_idx == 0 && l->tn == l->tcap) {
        size_t cap = l->tcap ? l->tcap * 2 : 64;
        struct loop_timer **h;

        if (cap > SIZE_MAX / sizeof(*h))
            return -ENOMEM;
        h = realloc(l->theap, cap * sizeof(*h));
        if (h == NULL)
            return -ENOMEM;
        l->theap = h;
        l->tcap = cap;
    }
    t->deadline_ms = ms > UINT64_MAX - l->now_ms ? UINT64_MAX : l->now_ms + ms;
    t->seq = l->tseq++;
    if (t->heap_idx != 0) {
        /* A later (deadline, seq) can only move it down, but an earlier
         * deadline moves it up: let both sifts decide. */
        size_t i = t->heap_idx - 1;
        sift_up(l, i);
        sift_down(l, t->heap_idx - 1);
        return 0;
    }
    l->theap[l->tn] = t;
    t->heap_idx = ++l->tn;
    sift_up(l, l->tn - 1);
    return 0;
}

void loop_timer_stop(struct loop *l, struct loop_timer *t)
{
    if (t->heap_idx == 0 || t->heap_idx > l->tn || l->theap[t->heap_idx - 1] != t)
        return;
    heap_remove(l, t);
}

void loop_timer_run(struct loop *l)
{
    /*
     * Only timers armed before this pass may fire in it: a callback that
     * re-arms itself with 0 ms runs again next iteration, not forever now.
     * Timers armed during the pass get seq >= snap and a deadline >= now,
     * so they sort after every older expired timer and stop the scan.
     */
    uint64_t snap = l->tseq;

    while (l->tn > 0) {
        struct loop_timer *t = l->theap[0];

        if (t->deadline_ms > l->now_ms || t->seq >= snap)
            break;
        heap_remove(l, t);
        if (t->fn != NULL)
            t->fn(l, t);
    }
}

int64_t loop_timer_next(const struct loop *l)
{
    if (l->tn == 0)
        return -1;
    if (l->theap[0]->deadline_ms <= l->now_ms)
        return 0;
    uint64_t d = l->theap[0]->deadline_ms - l->now_ms;
    return d > INT64_MAX ? INT64_MAX : (int64_t)d;
}

void loop_timer_clear(struct loop *l)
{
    for (size_t i = 0; i < l->tn; i++)
        l->theap[i]->heap_idx = 0;
    l->tn = 0;
    free(l->theap);
    l->theap = NULL;
    l->tcap = 0;
}
