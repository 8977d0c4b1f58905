/*
 * tests/support/natsd.h — real nats-server instances for tests.
 *
 * Each instance runs `nats-server -c <dir>/nats.conf` in its own temporary
 * directory (under $TMPDIR, default /tmp) holding the generated config,
 * the server's log (nats.log: stdout and stderr, appended across
 * restarts) and its ports file. Everything listens on 127.0.0.1 only.
 *
 * Ports: the first start lets the server pick free ports itself (port -1
 * in the config) and reads them back from the ports file the server writes
 * once its listeners are up, so two tests can never race for a port.
 * Restarts reuse the same ports.
 *
 * Readiness: natsd_start / natsd_restart return only once the client port
 * answers with INFO (and, for cluster nodes, the route port is listening),
 * waiting at most NATSD_WAIT_MS. On any failure the server's log is
 * printed to stderr.
 *
 * No leaks: the child asks the kernel for SIGKILL when the thread that
 * started it dies (PR_SET_PDEATHSIG), so a crashing or timed-out test takes
 * its servers with it; natsd_stop() in a cmocka teardown covers failed
 * assertions. Start servers from a thread that outlives them (normally the
 * test's main thread).
 *
 * The binary is `nats-server` from PATH, or $H8S_NATS_SERVER if set.
 *
 * Errors: functions return 0 or a negative errno: -ETIMEDOUT (not ready in
 * time), -ECHILD (the server exited during start-up), -ENOENT (no
 * nats-server binary), others from the failing system call.
 */
#ifndef H8S_TESTS_SUPPORT_NATSD_H
#define H8S_TESTS_SUPPORT_NATSD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* Upper bound of every wait in this module, in milliseconds. */
#define NATSD_WAIT_MS 10000
/* Largest cluster natsd_cluster_start() builds. */
#define NATSD_CLUSTER_MAX 8

struct natsd;

struct natsd_opts {
    /*
     * Config text appended verbatim after the generated part: authorization,
     * tls, max_payload, operator/resolver, lame_duck_duration, ... It must
     * not set listen/port/http/cluster/server_name/ports_file_dir, which the
     * harness owns. NULL for none. Copied; the caller's string may go.
     */
    const char *conf;
    /* server_name; NULL for "h8s-<pid>-<counter>". Copied. */
    const char *name;
    /* Non-NULL: listen for routes on a loopback port and join this cluster. */
    const char *cluster_name;
    /* Route ports (127.0.0.1) of peers to connect to; needs cluster_name. */
    const uint16_t *routes;
    size_t nroutes;
};

/*
 * Creates a temporary directory, writes the config, starts nats-server and
 * waits until it is ready. On success *out owns the running server; release
 * it with natsd_stop(). On failure returns -errno, prints the log, leaves no
 * process or directory behind and sets *out to NULL.
 */
int natsd_start(struct natsd **out, const struct natsd_opts *opts);

/*
 * Stops the server (SIGTERM, then SIGKILL after NATSD_WAIT_MS), reaps it,
 * prints its log if it had died without being asked to, removes the
 * temporary directory and frees d. natsd_stop(NULL) is a no-op.
 */
void natsd_stop(struct natsd *d);

/*
 * Sends sig to the server and waits (at most NATSD_WAIT_MS) for it to exit.
 * Use SIGKILL to simulate a crash. The instance keeps its ports and
 * directory; natsd_restart() brings it back. Returns 0, -ESRCH if it was not
 * running, or -ETIMEDOUT.
 */
int natsd_kill(struct natsd *d, int sig);

/*
 * Sends sig without waiting for an exit: SIGSTOP / SIGCONT to freeze and
 * thaw a server, SIGHUP to reload its config. For SIGSTOP it returns once
 * every thread of the server is stopped, so the next request is sure to go
 * unanswered. Returns 0, -ESRCH if not running, -ETIMEDOUT, or -errno from
 * kill(2).
 */
int natsd_signal(struct natsd *d, int sig);

/*
 * Starts the server again with the same config and ports (stopping it first
 * if it still runs) and waits until it is ready. Cluster nodes come back
 * with routes to every peer natsd_cluster_start() gave them.
 */
int natsd_restart(struct natsd *d);

/*
 * Puts the server into lame duck mode (SIGUSR2, as `nats-server --signal
 * ldm` does) and waits until its client port refuses new connections.
 * Existing clients are then closed over the config's lame_duck_duration
 * (after lame_duck_grace_period), and the process exits by itself.
 */
int natsd_lame_duck(struct natsd *d);

/*
 * Waits until the monitoring endpoint /routez reports at least n routes,
 * for at most timeout_ms (capped at NATSD_WAIT_MS). Returns 0 or
 * -ETIMEDOUT (and prints the log).
 */
int natsd_wait_routes(struct natsd *d, unsigned n, int timeout_ms);

/*
 * Starts n (2..NATSD_CLUSTER_MAX) nodes of one cluster: node 0 first, then
 * the others with a route to it; then gives every node routes to all its
 * peers (used by natsd_restart) and waits until each has n - 1 routes.
 * opts may carry conf and cluster_name (default "h8s"); its name and
 * routes are ignored. On failure every node started is stopped, nodes[] is
 * all NULL, and -errno is returned.
 */
int natsd_cluster_start(struct natsd **nodes, size_t n, const struct natsd_opts *opts);

/* natsd_stop() on each of the n nodes and sets them to NULL. */
void natsd_cluster_stop(struct natsd **nodes, size_t n);

/* Client, monitoring (HTTP) and route ports; route port 0 without a cluster. */
uint16_t natsd_port(const struct natsd *d);
uint16_t natsd_monitor_port(const struct natsd *d);
uint16_t natsd_cluster_port(const struct natsd *d);

/* "nats://127.0.0.1:<port>", valid as long as d. */
const char *natsd_url(const struct natsd *d);

/* Process id, or 0 when not running. */
pid_t natsd_pid(const struct natsd *d);

/* The instance's temporary directory, valid as long as d. */
const char *natsd_dir(const struct natsd *d);

/* Copies the server's log to out, framed by marker lines. */
void natsd_dump_log(const struct natsd *d, FILE *out);

#endif
