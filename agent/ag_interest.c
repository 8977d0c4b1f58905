/*
 * agent/ag_interest.c — interest registration for gateways running with
 * --track-interest (PROTOCOL.md §5): every H8S_INTEREST_PERIOD_MS, one
 * {"host":H,"path":"*","method":"*"} per served host on
 * h8s.control.interest.register.<rhost>; the same on ...unregister... when
 * the agent stops. Our agents serve whole hosts, hence the wildcards.
 *
 * Publishes made before the NATS connection is up wait in the client's
 * reconnect buffer, so the first registration goes out as soon as it can.
 */
#include "agent/ag_internal.h"

#include <stdio.h>

#include "core/log.h"
#include "proto/h8s_wire.h"

static void publish_all(struct agent *ag, int unregister)
{
    uint8_t subj[SUBJECT_HOST_MAX + 40];
    char body[AG_HOST_MAX + 48];
    for (size_t i = 0; i < ag->nroutes; i++) {
        const struct ag_route *rt = &ag->routes[i];
        int sn = subject_interest(subj, sizeof(subj), unregister, span_cstr(rt->host));
        /* Host names were validated (letters, digits, '-', '.', ':', '[', ']'),
         * so they need no JSON escaping. */
        int bn = snprintf(body, sizeof(body), "{\"host\":\"%s\",\"path\":\"*\",\"method\":\"*\"}",
                          rt->host);
        if (sn < 0 || bn < 0 || (size_t)bn >= sizeof(body))
            continue;
        int rc = nats_client_publish(ag->nc, span_make(subj, (size_t)sn), span_make(NULL, 0),
                                     span_make(NULL, 0), span_make(body, (size_t)bn));
        if (rc != 0)
            log_emit(LOG_WARN, "interest_publish_failed", LOG_STR("host", rt->host),
                     LOG_STR("error", nats_client_strerror(rc)));
    }
}

static void tick(struct loop *l, struct loop_timer *t)
{
    struct agent *ag = LOOP_CONTAINER_OF(t, struct agent, t_interest);
    publish_all(ag, 0);
    loop_timer_start(l, t, H8S_INTEREST_PERIOD_MS);
}

void ag_interest_start(struct agent *ag)
{
    loop_timer_init(&ag->t_interest, tick);
    publish_all(ag, 0);
    loop_timer_start(ag->loop, &ag->t_interest, H8S_INTEREST_PERIOD_MS);
}

void ag_interest_stop(struct agent *ag)
{
    loop_timer_stop(ag->loop, &ag->t_interest);
    publish_all(ag, 1);
    log_emit(LOG_INFO, "interest_unregistered", LOG_UINT("hosts", ag->nroutes));
}
