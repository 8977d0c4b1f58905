/*
 * gateway/gw_main.c — h8sd, the public side: HTTP in, NATS out.
 *
 * Start-up order: flags (exit 2 on a bad value), logging, signals blocked
 * before any thread exists (so every worker inherits the mask and only
 * worker 0's signalfd sees them), workers 1..n-1 on their own threads,
 * worker 0 on this one (exit 1 when any cannot start: kernel checks, the
 * listening port, NATS configuration). Then run until SIGTERM or SIGINT:
 * every worker stops accepting and finishes its exchanges within
 * --drain-timeout, and the process exits 0. A second signal stops at once.
 */
#include "gw_internal.h"

#include "core/log.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

static void drain_all(struct loop *l, void *arg)
{
    struct gw *gw = arg;
    (void)l;
    for (unsigned i = 1; i < gw->nworkers; i++)
        loop_wakeup(gw->workers[i]->l);
    gw_worker_drain(gw->workers[0]);
}

static void log_stats(struct gw *gw)
{
    struct gw_stats *s = &gw->stats;
    log_emit(LOG_INFO, "gateway_stats", LOG_UINT("requests", atomic_load(&s->requests)),
             LOG_UINT("rejected", atomic_load(&s->rejected)),
             LOG_UINT("no_responders", atomic_load(&s->no_responders)),
             LOG_UINT("timeouts", atomic_load(&s->timeouts)),
             LOG_UINT("client_closed", atomic_load(&s->client_closed)),
             LOG_UINT("overflow_aborts", atomic_load(&s->overflow)),
             LOG_UINT("protocol_aborts", atomic_load(&s->protocol)),
             LOG_UINT("responder_aborts", atomic_load(&s->responder_abort)));
}

static void stop_all(struct gw *gw)
{
    atomic_store(&gw->stop_now, 1);
    for (unsigned i = 1; i < gw->nworkers; i++) {
        struct gw_worker *w = gw->workers[i];
        if (w && w->thread_started)
            loop_wakeup(w->l);
    }
    for (unsigned i = 1; i < gw->nworkers; i++) {
        struct gw_worker *w = gw->workers[i];
        if (w && w->thread_started)
            pthread_join(w->th, NULL);
    }
    for (unsigned i = 0; i < gw->nworkers; i++)
        gw_worker_free(gw->workers[i]);
}

int main(int argc, char **argv)
{
    struct gw *gw = calloc(1, sizeof(*gw));
    if (!gw)
        return EXIT_FAILURE;
    gw_config_parse(&gw->cfg, argc, argv);
    daemon_log_apply(&gw->cfg.log);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    gw->nworkers = (unsigned)gw->cfg.workers;
    int rc = gw_worker_start(gw, 0);
    for (unsigned i = 1; rc == 0 && i < gw->nworkers; i++)
        rc = gw_worker_start(gw, i);
    if (rc < 0) {
        stop_all(gw);
        free(gw);
        return EXIT_FAILURE;
    }
    const struct daemon_hooks hooks = {.drain = drain_all, .arg = gw};
    rc = daemon_run(gw->workers[0]->l, "h8sd", &hooks);
    /* Worker 0 is done. After a complete drain the others finish theirs,
     * bounded by --drain-timeout; after a second signal (or a loop error)
     * they stop now. */
    if (!gw->workers[0]->drained) {
        atomic_store(&gw->stop_now, 1);
        for (unsigned i = 1; i < gw->nworkers; i++)
            loop_wakeup(gw->workers[i]->l);
    }
    for (unsigned i = 1; i < gw->nworkers; i++) {
        struct gw_worker *w = gw->workers[i];
        if (w && w->thread_started)
            pthread_join(w->th, NULL);
        if (w)
            w->thread_started = false;
    }
    stop_all(gw);
    log_stats(gw);
    free(gw);
    return rc < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
