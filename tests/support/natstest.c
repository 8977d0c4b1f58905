/*
 * tests/support/natstest.c — see natstest.h.
 */
#include "tests/support/natstest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void ev_connected(struct nats_client *c, void *cookie)
{
    struct natstest_events *ev = cookie;
    (void)c;
    ev->connected++;
}

static void ev_disconnected(struct nats_client *c, int err, void *cookie)
{
    struct natstest_events *ev = cookie;
    (void)c;
    ev->disconnected++;
    ev->last_disconnect_err = err;
}

static void ev_reconnected(struct nats_client *c, void *cookie)
{
    struct natstest_events *ev = cookie;
    (void)c;
    ev->reconnected++;
}

static void ev_closed(struct nats_client *c, void *cookie)
{
    struct natstest_events *ev = cookie;
    (void)c;
    ev->closed++;
}

static void ev_drained(struct nats_client *c, void *cookie)
{
    struct natstest_events *ev = cookie;
    (void)c;
    ev->drained++;
}

static void ev_error(struct nats_client *c, int err, struct span text, void *cookie)
{
    struct natstest_events *ev = cookie;
    (void)c;
    ev->errors++;
    ev->last_error = err;
    size_t n = text.n < sizeof(ev->last_error_text) - 1 ? text.n : sizeof(ev->last_error_text) - 1;
    if (n)
        memcpy(ev->last_error_text, text.p, n);
    ev->last_error_text[n] = '\0';
}

const struct nats_client_events natstest_events_ops = {
    .on_connected = ev_connected,
    .on_disconnected = ev_disconnected,
    .on_reconnected = ev_reconnected,
    .on_closed = ev_closed,
    .on_drained = ev_drained,
    .on_error = ev_error,
};

static void copy_str(char *dst, size_t cap, struct span s)
{
    size_t n = s.n < cap - 1 ? s.n : cap - 1;
    if (n)
        memcpy(dst, s.p, n);
    dst[n] = '\0';
}

void natstest_on_msg(struct nats_client *c, struct nats_sub *sub, const struct nats_msg *m,
                     void *cookie)
{
    struct natstest_msgs *r = cookie;
    (void)c;
    (void)sub;
    if (r->count < NATSTEST_MSGS_MAX) {
        size_t i = r->count;
        copy_str(r->m[i].subject, sizeof(r->m[i].subject), m->subject);
        copy_str(r->m[i].reply, sizeof(r->m[i].reply), m->reply);
        size_t n = m->payload.n < NATSTEST_KEEP ? m->payload.n : NATSTEST_KEEP;
        if (n)
            memcpy(r->m[i].payload, m->payload.p, n);
        r->m[i].payload_len = m->payload.n;
        r->m[i].hdr_len = m->hdr.n;
        n = m->hdr.n < sizeof(r->m[i].hdr) ? m->hdr.n : sizeof(r->m[i].hdr);
        if (n)
            memcpy(r->m[i].hdr, m->hdr.p, n);
        r->kept = i + 1;
    }
    r->count++;
    r->bytes += m->payload.n;
}

struct loop *natstest_loop(void)
{
    struct loop *l = NULL;
    char err[256];
    int rc = loop_create(&l, NULL, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "loop_create: %s\n", err);
        abort();
    }
    return l;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

bool natstest_run_until(struct loop *l, bool (*done)(void *arg), void *arg, int timeout_ms)
{
    uint64_t end = now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        if (done && done(arg))
            return true;
        uint64_t now = now_ms();
        if (now >= end)
            return false;
        uint64_t left = end - now;
        if (loop_run_once(l, left > 50 ? 50 : (int)left) < 0)
            return false;
    }
}

void natstest_run_for(struct loop *l, int ms)
{
    natstest_run_until(l, NULL, NULL, ms);
}

void natstest_config(struct nats_client_config *cfg, const char *urls, struct natstest_events *ev)
{
    nats_client_config_defaults(cfg);
    cfg->urls = urls;
    cfg->name = "h8s-test";
    cfg->events = &natstest_events_ops;
    cfg->cookie = ev;
    cfg->reconnect_wait_ms = 20;
    cfg->reconnect_wait_max_ms = 200;
    cfg->reconnect_jitter_ms = 10;
    cfg->connect_timeout_ms = 1000;
}

struct nats_client *natstest_client(struct loop *l, const struct nats_client_config *cfg)
{
    struct nats_client *c = NULL;
    char err[256];
    int rc = nats_client_create(&c, l, cfg, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "nats_client_create: %s (%s)\n", err, nats_client_strerror(rc));
        abort();
    }
    if (nats_client_connect(c) != 0)
        abort();
    return c;
}

struct up_wait {
    struct natstest_events *ev;
    int n;
};

static bool up_done(void *arg)
{
    struct up_wait *w = arg;
    return w->ev->connected + w->ev->reconnected >= w->n;
}

bool natstest_wait_up(struct loop *l, struct natstest_events *ev, int n)
{
    struct up_wait w = {ev, n};
    return natstest_run_until(l, up_done, &w, NATSTEST_WAIT_MS);
}

struct flush_wait {
    bool done;
    int err;
};

static void flush_cb(struct nats_client *c, int err, void *cookie)
{
    struct flush_wait *w = cookie;
    (void)c;
    w->done = true;
    w->err = err;
}

static bool flush_done(void *arg)
{
    return ((struct flush_wait *)arg)->done;
}

int natstest_flush(struct loop *l, struct nats_client *c)
{
    struct flush_wait w = {false, 0};
    int rc = nats_client_flush(c, NATSTEST_WAIT_MS, flush_cb, &w);
    if (rc != 0)
        return rc;
    if (!natstest_run_until(l, flush_done, &w, NATSTEST_WAIT_MS + 1000))
        return NATS_E_TIMEOUT;
    return w.err;
}

struct msgs_wait {
    struct natstest_msgs *m;
    size_t n;
};

static bool msgs_done(void *arg)
{
    struct msgs_wait *w = arg;
    return w->m->count >= w->n;
}

bool natstest_wait_msgs(struct loop *l, struct natstest_msgs *msgs, size_t n, int timeout_ms)
{
    struct msgs_wait w = {msgs, n};
    return natstest_run_until(l, msgs_done, &w, timeout_ms);
}
