/*
 * agent/ag_main.c — h8srd, the private side: NATS in, HTTP out to the app.
 *
 * Start-up order: flags (exit 2 on a bad value), logging, routes and
 * backend names (exit 1 when one does not resolve), the loop with its
 * kernel checks (exit 1 naming what is missing), the NATS client and its
 * subscriptions, then run until SIGTERM/SIGINT.
 *
 * The agent opens no listening socket: it only connects out, to NATS and
 * to its apps.
 *
 * Drain (SIGTERM/SIGINT): unsubscribe from the request subjects (no new
 * exchanges), unregister interest, let exchanges in flight finish for up
 * to --drain-timeout (then abort what is left), drain the NATS connection
 * so everything published reaches the server, exit 0. SIGHUP logs the
 * counters and resolves backend names again.
 */
#include "agent/ag_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "proto/h8s_wire.h"
#include "core/units.h"

#define NATS_CLOSE_MS 2000

size_t ag_max_payload(const struct agent *ag)
{
    const struct nats_info *in = ag->nc ? nats_client_server_info(ag->nc) : NULL;
    return in && in->max_payload ? (size_t)in->max_payload : NATS_PARSE_DEFAULT_MAX_PAYLOAD;
}

void ag_log_stats(const struct agent *ag)
{
    const struct ag_stats *s = &ag->st;
    log_emit(
        LOG_INFO, "stats", LOG_UINT("requests", s->requests), LOG_UINT("invalid", s->invalid),
        LOG_UINT("overloaded", s->overloaded), LOG_UINT("single", s->single),
        LOG_UINT("streamed", s->streamed), LOG_UINT("errors", s->errors),
        LOG_UINT("aborted", s->aborted), LOG_UINT("status_2xx", s->status_class[2]),
        LOG_UINT("status_3xx", s->status_class[3]), LOG_UINT("status_4xx", s->status_class[4]),
        LOG_UINT("status_5xx", s->status_class[5]),
        LOG_UINT("backend_connects", s->backend_connects),
        LOG_UINT("backend_reuses", s->backend_reuses), LOG_UINT("backend_fails", s->backend_fails),
        LOG_UINT("backend_timeouts", s->backend_timeouts), LOG_UINT("retries", s->retries),
        LOG_UINT("stream_errors", s->stream_errors), LOG_UINT("gateway_aborts", s->gateway_aborts),
        LOG_UINT("bytes_in", s->bytes_in), LOG_UINT("bytes_out", s->bytes_out),
        LOG_UINT("nats_blocked", s->nats_blocked), LOG_UINT("in_flight", ag->nxchg));
}

/* ------------------------------------------------------------ NATS events */

static void nats_connected(struct nats_client *c, void *cookie)
{
    struct agent *ag = cookie;
    (void)c;
    ag->connected_once = true;
    log_emit(LOG_INFO, "agent_ready", LOG_STR("agent_id", ag->id), LOG_UINT("hosts", ag->nroutes),
             LOG_STR("queue_group", ag->cfg->queue_group));
}

static void nats_closed(struct nats_client *c, void *cookie)
{
    struct agent *ag = cookie;
    (void)c;
    if (!ag->finishing)
        log_emit(LOG_ERROR, "nats_lost", LOG_STR("reason", "client closed"));
    loop_stop(ag->loop);
}

/* NATS has room again: exchanges held back publish in the order they
 * were held; one that is held again goes to the back of the line. */
static void nats_drained(struct nats_client *c, void *cookie)
{
    struct agent *ag = cookie;
    (void)c;
    size_t n = 0;
    for (struct ag_xchg *x = ag->blocked; x; x = x->blk_next)
        n++;
    while (n-- && ag->blocked) {
        struct ag_xchg *x = ag->blocked;
        ag->blocked = x->blk_next;
        if (!ag->blocked)
            ag->blocked_tail = NULL;
        x->blk_next = NULL;
        x->blocked = false;
        ag_stream_flush(x);
    }
}

static const struct nats_client_events nats_events = {
    .on_connected = nats_connected,
    .on_closed = nats_closed,
    .on_drained = nats_drained,
};

/* ------------------------------------------------------------------ drain */

void ag_drain_check(struct agent *ag)
{
    if (!ag->draining || ag->finishing || ag->nxchg)
        return;
    ag->finishing = true;
    loop_timer_stop(ag->loop, &ag->t_drain);
    log_emit(LOG_INFO, "drain_done");
    ag_log_stats(ag);
    if (nats_client_drain(ag->nc, NATS_CLOSE_MS) != 0)
        loop_stop(ag->loop);
}

static void drain_expired(struct loop *l, struct loop_timer *t)
{
    struct agent *ag = LOOP_CONTAINER_OF(t, struct agent, t_drain);
    (void)l;
    log_emit(LOG_WARN, "drain_timeout", LOG_UINT("exchanges", ag->nxchg));
    ag_xchg_abort_all(ag, H8S_REASON_SHUTDOWN);
    ag_drain_check(ag);
}

static void on_drain(struct loop *l, void *arg)
{
    struct agent *ag = arg;
    ag->draining = true;
    for (size_t i = 0; i < ag->nroutes; i++) {
        struct ag_route *rt = &ag->routes[i];
        if (rt->sub_root)
            nats_client_unsubscribe(ag->nc, rt->sub_root, 0);
        if (rt->sub_path)
            nats_client_unsubscribe(ag->nc, rt->sub_path, 0);
        rt->sub_root = rt->sub_path = NULL;
    }
    ag_interest_stop(ag);
    for (size_t i = 0; i < ag->nbackends; i++)
        ag_backend_close_idle(&ag->backends[i]);
    log_emit(LOG_INFO, "drain", LOG_UINT("exchanges", ag->nxchg),
             LOG_DURATION("timeout", (int64_t)ag->drain_timeout_ms * UNITS_MS));
    loop_timer_start(l, &ag->t_drain, ag->drain_timeout_ms);
    ag_drain_check(ag);
}

static void on_reload(struct loop *l, void *arg)
{
    struct agent *ag = arg;
    (void)l;
    ag_log_stats(ag);
    ag_resolve_async(ag);
}

/* --------------------------------------------------------------- start-up */

static void fail_usage(const char *msg)
{
    char line[FLAGS_MSG_MAX];
    int n = snprintf(line, sizeof(line), "%s: %s\n", AG_PROG, msg);
    if (n > 0 && write(STDERR_FILENO, line, (size_t)n) < 0)
        exit(2);
    exit(2);
}

static int subscribe_all(struct agent *ag)
{
    struct span q = span_cstr(ag->cfg->queue_group);
    int rc;
    for (size_t i = 0; i < ag->nroutes; i++) {
        struct ag_route *rt = &ag->routes[i];
        uint8_t root[SUBJECT_HOST_MAX + 16], path[SUBJECT_HOST_MAX + 16];
        size_t rl, pl;
        if ((rc = subject_agent_subs(root, path, sizeof(root), span_cstr(rt->host), &rl, &pl)))
            return rc;
        if ((rc = nats_client_subscribe(ag->nc, span_make(root, rl), q, ag_xchg_on_request, rt,
                                        &rt->sub_root)) ||
            (rc = nats_client_subscribe(ag->nc, span_make(path, pl), q, ag_xchg_on_request, rt,
                                        &rt->sub_path)))
            return rc;
    }
    rc = subject_reply_wildcard(ag->inbox_wild, sizeof(ag->inbox_wild), span_cstr(ag->id));
    if (rc < 0)
        return rc;
    ag->inbox_wild_len = (size_t)rc;
    if ((rc = nats_client_subscribe(ag->nc, span_make(ag->inbox_wild, ag->inbox_wild_len),
                                    span_make(NULL, 0), ag_xchg_on_agent_msg, ag, &ag->sub_inbox)))
        return rc;
    return nats_client_subscribe(ag->nc, SPAN_LIT(SUBJECT_CONN_CLOSED_PREFIX ">"),
                                 span_make(NULL, 0), ag_xchg_on_closed, ag, &ag->sub_closed);
}

static int start(struct agent *ag)
{
    char err[512];
    const struct ag_config *cfg = ag->cfg;

    if (ag_resolve_startup(ag, err, sizeof(err)) != 0) {
        log_emit(LOG_ERROR, "startup_failed", LOG_STR("reason", err));
        return -1;
    }
    struct loop_config lc;
    loop_config_defaults(&lc);
    uint64_t conns = (uint64_t)cfg->max_exchanges + ag->nbackends * (uint64_t)cfg->max_idle + 64;
    lc.max_conns = conns > (1u << 20) ? (1u << 20) : (unsigned)conns;
    if (daemon_loop_create(&ag->loop, &lc) < 0)
        return -1;
    rand_pool_init(&ag->rnd);
    ag->nbuckets = 64;
    while (ag->nbuckets < (size_t)cfg->max_exchanges)
        ag->nbuckets <<= 1;
    ag->by_id = calloc(ag->nbuckets, sizeof(*ag->by_id));
    ag->by_close = calloc(ag->nbuckets, sizeof(*ag->by_close));
    ag->head_buf = malloc(H8S_REQ_DECODE_HEAD_MAX);
    if (!ag->by_id || !ag->by_close || !ag->head_buf ||
        rand_id(&ag->rnd, ag->id, RAND_ID_LEN) != 0) {
        log_emit(LOG_ERROR, "startup_failed", LOG_STR("reason", "out of memory or randomness"));
        return -1;
    }

    struct nats_client_config nc;
    nats_client_config_defaults(&nc);
    nats_flags_config(&cfg->nats, &nc);
    if (!nc.name)
        nc.name = AG_PROG;
    nc.events = &nats_events;
    nc.cookie = ag;
    int rc = nats_client_create(&ag->nc, ag->loop, &nc, err, sizeof(err));
    if (rc != 0) {
        log_emit(LOG_ERROR, "startup_failed", LOG_STR("reason", err));
        return -1;
    }
    if ((rc = subscribe_all(ag)) != 0 || (rc = nats_client_connect(ag->nc)) != 0) {
        log_emit(LOG_ERROR, "startup_failed", LOG_STR("reason", "cannot subscribe"),
                 LOG_INT("error", rc));
        return -1;
    }
    for (size_t i = 0; i < ag->nroutes; i++) {
        const struct ag_route *rt = &ag->routes[i];
        log_emit(LOG_INFO, "route", LOG_STR("host", rt->host),
                 LOG_STR("backend", rt->be->authority), LOG_STR("base_path", rt->base),
                 LOG_BOOL("rewrite_host", cfg->rewrite_host));
    }
    loop_timer_init(&ag->t_drain, drain_expired);
    ag_interest_start(ag);
    return 0;
}

static void teardown(struct agent *ag)
{
    ag_resolve_cancel(ag);
    if (ag->loop) {
        ag_xchg_abort_all(ag, H8S_REASON_SHUTDOWN);
        loop_timer_stop(ag->loop, &ag->t_interest);
        loop_timer_stop(ag->loop, &ag->t_drain);
        for (size_t i = 0; i < ag->nbackends; i++)
            ag_backend_close_idle(&ag->backends[i]);
    }
    nats_client_destroy(ag->nc);
    loop_destroy(ag->loop);
    while (ag->free_list) {
        struct ag_xchg *x = ag->free_list;
        ag->free_list = x->next;
        free(x);
    }
    free(ag->by_id);
    free(ag->by_close);
    free(ag->head_buf);
}

int main(int argc, char **argv)
{
    /* The two root objects are large (flag lists, route tables): heap, not
     * stack. Everything else hangs off them. */
    struct ag_config *cfg = calloc(1, sizeof(*cfg));
    struct agent *ag = calloc(1, sizeof(*ag));
    char err[256];

    if (!cfg || !ag) {
        fprintf(stderr, "%s: out of memory\n", AG_PROG);
        return EXIT_FAILURE;
    }
    ag_config_parse(cfg, argc, argv);
    daemon_log_apply(&cfg->log);
    ag->cfg = cfg;
    ag->backend_timeout_ms = (unsigned)(cfg->backend_timeout_ns / UNITS_MS);
    ag->drain_timeout_ms = (unsigned)(cfg->drain_timeout_ns / UNITS_MS);
    if (ag_config_routes(ag, cfg, err, sizeof(err)) != 0)
        fail_usage(err);

    int rc = -1;
    if (start(ag) == 0) {
        const struct daemon_hooks hooks = {.drain = on_drain, .reload = on_reload, .arg = ag};
        rc = daemon_run(ag->loop, AG_PROG, &hooks);
    }
    teardown(ag);
    free(ag);
    free(cfg);
    return rc < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
