/*
 * agent/ag_resolve.c — backend host names to addresses, without blocking
 * the loop.
 *
 * IP literals need nothing. Names are resolved once at start-up, before the
 * loop runs (a name that does not resolve stops the agent: the operator
 * sees the mistake at once), and again on SIGHUP through core/resolve (a
 * helper thread; the answers come back on the loop) and apply to
 * connections made from then on; a name that fails then keeps its old
 * address.
 */
#include "agent/ag_internal.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"

int ag_resolve_startup(struct agent *ag, char *err, size_t errlen)
{
    for (size_t i = 0; i < ag->nbackends; i++) {
        struct ag_backend *be = &ag->backends[i];
        struct resolve_name q;
        if (!be->is_name)
            continue;
        memset(&q, 0, sizeof(q));
        snprintf(q.host, sizeof(q.host), "%s", be->name);
        snprintf(q.port, sizeof(q.port), "%s", be->port_str);
        int rc = resolve_name_now(&q);
        if (rc != 0 || q.n == 0) {
            snprintf(err, errlen, "cannot resolve backend host %s: %s", be->name,
                     gai_strerror(rc ? rc : EAI_FAIL));
            return -EHOSTUNREACH;
        }
        ag_backend_set_addr(be, (const struct sockaddr *)&q.addrs[0], q.lens[0]);
    }
    return 0;
}

static void resolve_done(struct resolve *r, const struct resolve_name *names, size_t n)
{
    struct agent *ag = LOOP_CONTAINER_OF(r, struct agent, resolve);
    for (size_t i = 0; i < n; i++) {
        const struct resolve_name *e = &names[i];
        struct ag_backend *be = &ag->backends[e->tag];
        if (e->gai != 0 || e->n == 0) {
            log_emit(LOG_WARN, "backend_resolve_failed", LOG_STR("host", be->name),
                     LOG_STR("error", gai_strerror(e->gai ? e->gai : EAI_FAIL)));
            continue;
        }
        ag_backend_set_addr(be, (const struct sockaddr *)&e->addrs[0], e->lens[0]);
        log_emit(LOG_INFO, "backend_resolved", LOG_STR("host", be->name));
    }
}

void ag_resolve_async(struct agent *ag)
{
    struct resolve_query q[AG_ROUTES_MAX];
    size_t n = 0;

    if (resolve_busy(&ag->resolve))
        return;
    for (size_t i = 0; i < ag->nbackends && n < AG_ROUTES_MAX; i++) {
        struct ag_backend *be = &ag->backends[i];
        if (!be->is_name)
            continue;
        q[n++] = (struct resolve_query){be->name, be->port_str, i};
    }
    if (n == 0)
        return;
    resolve_init(&ag->resolve, ag->loop, resolve_done);
    int rc = resolve_start(&ag->resolve, q, n);
    if (rc < 0)
        log_emit(LOG_WARN, "backend_resolve_failed", LOG_ERRNO("error", rc));
}

void ag_resolve_cancel(struct agent *ag)
{
    resolve_cancel(&ag->resolve);
}
