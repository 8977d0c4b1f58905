/*
 * agent/ag_resolve.c — backend host names to addresses, without blocking
 * the loop.
 *
 * IP literals need nothing. Names are resolved once at start-up, before the
 * loop runs (a name that does not resolve stops the agent: the operator
 * sees the mistake at once), and again on SIGHUP on a short-lived detached
 * thread: the loop polls the job with a timer and applies the new addresses
 * for connections made from then on; a name that fails then keeps its old
 * address. The job is shared by reference count, so either side may let go
 * first.
 */
#include "agent/ag_internal.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

#define RESOLVE_POLL_MS 20

struct ag_resolve_job {
    atomic_int refs;
    atomic_bool done;
    size_t n;
    struct {
        size_t backend; /* index in ag->backends */
        char name[AG_HOST_MAX];
        char port[8];
        struct sockaddr_storage ss;
        socklen_t len;
        int gai;
    } e[AG_ROUTES_MAX];
};

static int resolve_one(const char *name, const char *port, struct sockaddr_storage *ss,
                       socklen_t *len)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    int rc = getaddrinfo(name, port, &hints, &res);
    if (rc != 0)
        return rc;
    if (!res || res->ai_addrlen > sizeof(*ss)) {
        freeaddrinfo(res);
        return EAI_FAIL;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

int ag_resolve_startup(struct agent *ag, char *err, size_t errlen)
{
    for (size_t i = 0; i < ag->nbackends; i++) {
        struct ag_backend *be = &ag->backends[i];
        struct sockaddr_storage ss;
        socklen_t len;
        if (!be->is_name)
            continue;
        int rc = resolve_one(be->name, be->port_str, &ss, &len);
        if (rc != 0) {
            snprintf(err, errlen, "cannot resolve backend host %s: %s", be->name, gai_strerror(rc));
            return -EHOSTUNREACH;
        }
        ag_backend_set_addr(be, (const struct sockaddr *)&ss, len);
    }
    return 0;
}

static void job_unref(struct ag_resolve_job *j)
{
    if (atomic_fetch_sub(&j->refs, 1) == 1)
        free(j);
}

static void *resolve_thread(void *arg)
{
    struct ag_resolve_job *j = arg;
    for (size_t i = 0; i < j->n; i++)
        j->e[i].gai = resolve_one(j->e[i].name, j->e[i].port, &j->e[i].ss, &j->e[i].len);
    atomic_store(&j->done, true);
    job_unref(j);
    return NULL;
}

static void resolve_poll(struct loop *l, struct loop_timer *t)
{
    struct agent *ag = LOOP_CONTAINER_OF(t, struct agent, t_resolve);
    struct ag_resolve_job *j = ag->resolve;
    if (!j)
        return;
    if (!atomic_load(&j->done)) {
        loop_timer_start(l, t, RESOLVE_POLL_MS);
        return;
    }
    for (size_t i = 0; i < j->n; i++) {
        struct ag_backend *be = &ag->backends[j->e[i].backend];
        if (j->e[i].gai != 0) {
            log_emit(LOG_WARN, "backend_resolve_failed", LOG_STR("host", be->name),
                     LOG_STR("error", gai_strerror(j->e[i].gai)));
            continue;
        }
        ag_backend_set_addr(be, (const struct sockaddr *)&j->e[i].ss, j->e[i].len);
        log_emit(LOG_INFO, "backend_resolved", LOG_STR("host", be->name));
    }
    ag->resolve = NULL;
    job_unref(j);
}

void ag_resolve_async(struct agent *ag)
{
    if (ag->resolve)
        return;
    struct ag_resolve_job *j = calloc(1, sizeof(*j));
    if (!j) {
        log_emit(LOG_WARN, "backend_resolve_failed", LOG_ERRNO("error", -ENOMEM));
        return;
    }
    for (size_t i = 0; i < ag->nbackends; i++) {
        struct ag_backend *be = &ag->backends[i];
        if (!be->is_name)
            continue;
        j->e[j->n].backend = i;
        memcpy(j->e[j->n].name, be->name, sizeof(be->name));
        memcpy(j->e[j->n].port, be->port_str, sizeof(be->port_str));
        j->n++;
    }
    if (j->n == 0) {
        free(j);
        return;
    }
    atomic_init(&j->refs, 2);
    atomic_init(&j->done, false);
    pthread_attr_t attr;
    pthread_t tid;
    int rc = pthread_attr_init(&attr);
    if (rc == 0) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        rc = pthread_create(&tid, &attr, resolve_thread, j);
        pthread_attr_destroy(&attr);
    }
    if (rc != 0) {
        free(j);
        log_emit(LOG_WARN, "backend_resolve_failed", LOG_ERRNO("error", -rc));
        return;
    }
    ag->resolve = j;
    loop_timer_init(&ag->t_resolve, resolve_poll);
    loop_timer_start(ag->loop, &ag->t_resolve, RESOLVE_POLL_MS);
}

void ag_resolve_cancel(struct agent *ag)
{
    if (!ag->resolve)
        return;
    loop_timer_stop(ag->loop, &ag->t_resolve);
    job_unref(ag->resolve);
    ag->resolve = NULL;
}
