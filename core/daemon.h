/*
 * core/daemon.h — what every h8s daemon does the same way at start-up:
 * the logging flags, the loop with its kernel checks, and signals.
 *
 * A daemon's main builds its flag groups (its own, the shared NATS ones,
 * and daemon_log_flags), parses them with flags_parse_or_exit, then calls
 * daemon_log_apply and daemon_loop_create. Nothing here keeps state of its
 * own: the caller owns struct daemon_log and the loop.
 */
#ifndef H8S_CORE_DAEMON_H
#define H8S_CORE_DAEMON_H

#include "core/flags.h"
#include "core/loop.h"

/* Destinations of the logging flags. */
struct daemon_log {
    int level;  /* index into log_level_names */
    int format; /* index into log_format_names */
};

#define DAEMON_LOG_FLAGS 2

/*
 * Fills out[] with --log-level (env LOG_LEVEL, default info) and
 * --log-format (env LOG_FORMAT, default logfmt) writing into *d, which must
 * outlive flag parsing.
 */
void daemon_log_flags(struct daemon_log *d, struct flags_entry out[DAEMON_LOG_FLAGS]);

/* Installs the parsed logging settings as the process-wide log sink. */
void daemon_log_apply(const struct daemon_log *d);

/*
 * Creates the loop with cfg (NULL for defaults). When the kernel lacks
 * something the loop needs, logs one line (event=startup_failed) naming it
 * and returns the negative errno; *out is then NULL.
 */
int daemon_loop_create(struct loop **out, const struct loop_config *cfg);

/* What a daemon does on signals; every member may be NULL. */
struct daemon_hooks {
    /* SIGTERM/SIGINT: begin a graceful drain and call loop_stop when it is
     * over. NULL: stop at once. A second signal during a drain stops at
     * once. */
    void (*drain)(struct loop *l, void *arg);
    /* SIGHUP. NULL: the signal is logged and otherwise ignored. */
    void (*reload)(struct loop *l, void *arg);
    void *arg;
};

/*
 * Takes SIGTERM, SIGINT and SIGHUP on l (see loop_handle_signals; call
 * before starting other threads), logs event=started with prog and the
 * version, runs the loop until it is stopped and logs event=stopped.
 * Returns 0, or the negative errno of a fatal loop error (logged).
 */
int daemon_run(struct loop *l, const char *prog, const struct daemon_hooks *h);

#endif
