/* core/daemon.c — see daemon.h */
#include "core/daemon.h"

#include "core/log.h"
#include "core/version.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

void daemon_log_flags(struct daemon_log *d, struct flags_entry out[DAEMON_LOG_FLAGS])
{
    out[0] = (struct flags_entry){
        .name = "log-level",
        .env = "LOG_LEVEL",
        .def = "info",
        .help = "lowest level logged: debug, info, warn or error",
        FLAGS_DEST_ENUM(&d->level, log_level_names),
    };
    out[1] = (struct flags_entry){
        .name = "log-format",
        .env = "LOG_FORMAT",
        .def = "logfmt",
        .help = "log line format: logfmt (key=value) or json",
        FLAGS_DEST_ENUM(&d->format, log_format_names),
    };
}

void daemon_log_apply(const struct daemon_log *d)
{
    struct log_config cfg;

    log_config_defaults(&cfg);
    cfg.level = (enum log_level)d->level;
    cfg.format = (enum log_format)d->format;
    log_configure(&cfg);
}

int daemon_loop_create(struct loop **out, const struct loop_config *cfg)
{
    char err[256];
    int rc = loop_create(out, cfg, err, sizeof(err));

    if (rc < 0)
        log_emit(LOG_ERROR, "startup_failed", LOG_STR("reason", err), LOG_ERRNO("error", rc));
    return rc;
}

/* Signal state lives on daemon_run's stack: nothing process-wide. */
struct daemon_run_state {
    const struct daemon_hooks *h;
    int draining;
};

static const char *daemon_signame(int signo)
{
    switch (signo) {
    case SIGTERM:
        return "SIGTERM";
    case SIGINT:
        return "SIGINT";
    case SIGHUP:
        return "SIGHUP";
    default:
        return "other";
    }
}

static void daemon_on_signal(struct loop *l, int signo, void *arg)
{
    struct daemon_run_state *st = arg;

    if (signo == SIGHUP) {
        log_emit(LOG_INFO, "reload", LOG_STR("signal", "SIGHUP"));
        if (st->h->reload)
            st->h->reload(l, st->h->arg);
        return;
    }
    if (st->draining || !st->h->drain) {
        log_emit(LOG_INFO, "shutdown", LOG_STR("signal", daemon_signame(signo)),
                 LOG_BOOL("immediate", st->draining));
        loop_stop(l);
        return;
    }
    st->draining = 1;
    log_emit(LOG_INFO, "drain_begin", LOG_STR("signal", daemon_signame(signo)));
    st->h->drain(l, st->h->arg);
}

int daemon_run(struct loop *l, const char *prog, const struct daemon_hooks *h)
{
    static const struct daemon_hooks none;
    struct daemon_run_state st = {.h = h ? h : &none};
    int rc = loop_handle_signals(l, daemon_on_signal, &st);

    if (rc < 0) {
        log_emit(LOG_ERROR, "startup_failed", LOG_STR("reason", "cannot take signals"),
                 LOG_ERRNO("error", rc));
        return rc;
    }
    log_emit(LOG_INFO, "started", LOG_STR("program", prog), LOG_STR("version", H8S_VERSION),
             LOG_INT("pid", getpid()));
    rc = loop_run(l);
    if (rc < 0)
        log_emit(LOG_ERROR, "loop_failed", LOG_ERRNO("error", rc));
    log_emit(LOG_INFO, "stopped", LOG_STR("program", prog));
    return rc;
}
