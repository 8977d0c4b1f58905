/*
 * tests/support/tunnel.h — a whole h8s tunnel for end-to-end tests: a real
 * nats-server, one or two test apps (tests/support/backend.py), one or two
 * h8srd agents in front of them, h8sd, and optionally a responder written
 * directly against the NATS protocol (tests/support/nats_responder.py),
 * every one a child process on free loopback ports; plus the means to drive
 * it with real clients (curl, raw sockets) and to watch the daemons (logs,
 * exit status, memory).
 *
 * Binaries: h8sd and h8srd are taken from the build directory of the
 * running test binary (<build>/tests/test_x → <build>/h8sd), so `make
 * asan` runs the sanitized daemons; the python scripts from the source
 * tree the build directory sits in (found by walking up from it). Python is
 * /usr/bin/python3, the Debian interpreter (it has what the scripts need).
 *
 * Ports: nothing is picked by the harness. nats-server and the apps choose
 * their own free ports and report them; h8sd listens on 127.0.0.1:0 and its
 * port is read from its event=listening log line. Only 127.0.0.1 is used.
 *
 * Readiness (bounded by TUNNEL_WAIT_MS): an app once it printed its port;
 * an agent once the server lists its subscriptions (monitoring /connz), so
 * a request published afterwards reaches it; h8sd once it listens and all
 * its workers are connected to NATS.
 *
 * No leaks: every child asks the kernel for SIGKILL when the thread that
 * started it dies (PR_SET_PDEATHSIG), so a crashing or timed-out test takes
 * the whole tunnel with it; tunnel_stop() in a cmocka teardown covers
 * failed assertions. Start tunnels from the test's main thread.
 *
 * Logs: each process writes stdout and stderr to <dir>/<name>.log.
 * tunnel_stop() prints them all when the test did not set t->passed, when a
 * process died unasked, exited non-zero after SIGTERM, or logged a
 * sanitizer report; the directory is removed afterwards.
 *
 * Errors: functions return 0 or -errno: -ETIMEDOUT (not ready in time),
 * -ECHILD (a process exited during start-up), -ENOENT (a binary or script
 * is missing), others from the failing system call.
 */
#ifndef H8S_TESTS_SUPPORT_TUNNEL_H
#define H8S_TESTS_SUPPORT_TUNNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <sodium.h>

/* Upper bound of every readiness wait, in milliseconds. */
#define TUNNEL_WAIT_MS 15000
#define TUNNEL_AGENTS_MAX 2
#define TUNNEL_ARGS_MAX 64
#define TUNNEL_PATH_MAX 512
/* Directories: short enough that any file name used in them fits a path. */
#define TUNNEL_DIR_MAX 256
/* Bytes of a client's stdout kept for inspection (all of it is hashed). */
#define TUNNEL_KEEP (64 * 1024)
/* Host the agents serve. */
#define TUNNEL_HOST "app.test"
/* Host the NATS responder (no agent) serves. */
#define TUNNEL_RESPONDER_HOST "nats.test"

/* One child process. */
struct tunnel_proc {
    pid_t pid;        /* 0 when not running (never started, or reaped) */
    int started;      /* it ran at some point */
    int expect_exit;  /* we asked it to go */
    int died;         /* it exited without being asked */
    int status;       /* waitpid status once reaped */
    char name[32];    /* "h8sd", "h8srd-0", "backend-1", ... */
    char log[TUNNEL_PATH_MAX];
    off_t log_start;  /* where this run's lines begin (restarts append) */
};

struct tunnel_opts {
    /* nats-server config fragment (see natsd.h), NULL for none. */
    const char *nats_conf;
    /* Agents (each with its own app: ids "b0", "b1"); 0..TUNNEL_AGENTS_MAX. */
    unsigned agents;
    /* Queue group of the agents, NULL for none. */
    const char *queue_group;
    /* Extra h8sd and h8srd arguments, NULL-terminated (NULL for none).
     * Later arguments win over the harness's own (--workers=1 for h8sd). */
    const char *const *gw_args;
    const char *const *agent_args;
    /* Start nats_responder.py, serving TUNNEL_RESPONDER_HOST. */
    bool responder;
};

struct tunnel {
    struct natsd *nd;
    struct tunnel_proc backend[TUNNEL_AGENTS_MAX];
    struct tunnel_proc agent[TUNNEL_AGENTS_MAX];
    struct tunnel_proc gw;
    struct tunnel_proc responder;
    uint16_t backend_port[TUNNEL_AGENTS_MAX];
    uint16_t port;      /* h8sd's HTTP port */
    unsigned nagents;
    unsigned gw_workers;
    /* Set it at the end of a test: tunnel_stop() then keeps quiet. */
    int passed;
    unsigned seq;       /* names of scratch files */
    char dir[TUNNEL_DIR_MAX];    /* logs and scratch files */
    char bindir[TUNNEL_DIR_MAX]; /* where h8sd and h8srd are */
    char srcdir[TUNNEL_DIR_MAX]; /* the source tree */
    char url[64];       /* "http://127.0.0.1:<port>" */
};

/*
 * Starts the tunnel o describes (NULL: one agent, h8sd, nothing else) and
 * waits until every part is ready. t is zeroed first. On failure prints
 * every log and returns -errno; tunnel_stop() then stops whatever had
 * started (it must be called either way).
 */
int tunnel_start(struct tunnel *t, const struct tunnel_opts *o);

/*
 * Starts h8sd with --nats-url, --listen=127.0.0.1:0, --workers=1 and then
 * args (NULL-terminated, may be NULL), and waits until it is ready. Used by
 * tunnel_start(), and by tests that restart the gateway, with other flags or
 * after a drain (stop the old one first with tunnel_proc_stop()).
 */
int tunnel_gw_start(struct tunnel *t, const char *const *args);

/*
 * Stops every process (SIGTERM, SIGKILL after TUNNEL_WAIT_MS) in the
 * order a deployment would (gateway, responder, agents, apps, nats-server),
 * prints the logs (see above), removes the directory. Returns 0 when every
 * daemon exited with status 0 and no log holds a sanitizer report, -1
 * otherwise. Safe on a zeroed or already stopped tunnel.
 */
int tunnel_stop(struct tunnel *t);

/*
 * Returns 0 when every process of t that was started and not asked to stop
 * still runs; otherwise names the dead ones on stderr and returns -1. Call
 * it between tests sharing one tunnel.
 */
int tunnel_check(struct tunnel *t);

/* Prints every process's log to stderr, framed by marker lines. */
void tunnel_dump_logs(const struct tunnel *t);

/* Sends sig to p. Returns 0, -ESRCH when it is not running, or -errno. */
int tunnel_proc_signal(struct tunnel_proc *p, int sig);

/*
 * Waits up to timeout_ms for p to exit and reaps it. Returns its exit code
 * (0..255), 128 + the signal that killed it, or -ETIMEDOUT (it still
 * runs). A process that was already reaped gives its status again.
 */
int tunnel_proc_wait(struct tunnel_proc *p, int timeout_ms);

/*
 * Stops p: SIGTERM, then SIGKILL after TUNNEL_WAIT_MS. Returns what
 * tunnel_proc_wait() would (-ESRCH when it never ran).
 */
int tunnel_proc_stop(struct tunnel_proc *p);

/* 1 when p's log (of its current run) holds needle; tunnel_log_wait()
 * polls for up to timeout_ms. tunnel_log_count() counts the lines holding
 * needle. */
int tunnel_log_has(const struct tunnel_proc *p, const char *needle);
int tunnel_log_wait(const struct tunnel_proc *p, const char *needle, int timeout_ms);
int tunnel_log_count(const struct tunnel_proc *p, const char *needle);

/* VmHWM of pid (its peak resident memory) in KiB, from /proc; -1 when
 * gone. */
long tunnel_hwm_kib(pid_t pid);

/* An app's /stats counter (requests, connections, aborted,
 * forever_active), read straight from the app; -errno on failure. */
long tunnel_backend_stat(const struct tunnel *t, unsigned i, const char *key);

/*
 * Writes n bytes of the apps' pattern (byte i = i % 251) to a fresh file in
 * t->dir and puts its path in path (TUNNEL_PATH_MAX bytes). Returns 0 or
 * -errno.
 */
int tunnel_pattern_file(struct tunnel *t, uint64_t n, char *path);

/* SHA-256 of n pattern bytes, lower-case hex (65 bytes with the NUL). */
void tunnel_pattern_sha(uint64_t n, char out[65]);

/* ------------------------------------------------------------ clients */

/* A client program run to completion (or watched while it runs). */
struct tunnel_run {
    pid_t pid;
    int out_fd, err_fd;   /* pipes, -1 once closed */
    int status;           /* exit code, 128 + signal, or -1 when killed on timeout */
    uint64_t total;       /* stdout bytes in all */
    uint64_t first_ms;    /* when the first stdout byte arrived (monotonic ms) */
    size_t len;           /* stdout bytes kept in out (NUL-terminated) */
    size_t err_len;
    int code;             /* curl: HTTP status of the last transfer, 0 if none */
    int connects;         /* curl: new connections over all its transfers */
    char sha[65];         /* SHA-256 of all of stdout, hex */
    char hdr_path[TUNNEL_PATH_MAX]; /* curl: where -D wrote the response heads */
    char *out;            /* TUNNEL_KEEP + 1 bytes, owned */
    char err[8192];       /* stderr, first bytes (NUL-terminated) */
    crypto_hash_sha256_state hash; /* of stdout so far */
};

/*
 * Starts argv (argv[0] looked up in PATH) with stdin from stdin_path (NULL:
 * /dev/null) and its output on pipes. Returns 0 or -errno. The child dies
 * with the test. Follow with tunnel_run_wait(), always.
 */
int tunnel_run_start(struct tunnel_run *r, const char *const *argv, const char *stdin_path);

/*
 * Collects r's output until it exits, killing it after timeout_ms (status
 * -1 then). Frees what tunnel_run_start() took except r->out, which stays
 * readable until tunnel_run_free(). Returns r->status.
 */
int tunnel_run_wait(struct tunnel_run *r, int timeout_ms);

/* Reads whatever stdout r has produced for up to ms (keeps hashing).
 * Returns 1 while r's stdout is open, 0 once it reached end of file. */
int tunnel_run_poll(struct tunnel_run *r, int ms);

/* Frees r->out, killing r's program first if it still runs. Safe twice. */
void tunnel_run_free(struct tunnel_run *r);

/*
 * Runs curl against h8sd: `curl -sS -D <hdr file> -w <code,connects>
 * -H "Host: <host>" <args...> <t->url><path>` (host NULL: TUNNEL_HOST;
 * path NULL: no URL added, args carry them). Waits up to timeout_ms.
 * Returns r->status (curl's exit code), or -errno when curl could not be
 * started. Free r with tunnel_run_free() in both cases.
 */
int tunnel_curl(struct tunnel *t, struct tunnel_run *r, const char *host, const char *path,
                const char *const *args, int timeout_ms);

/* The same, without waiting: follow with tunnel_run_wait(). */
int tunnel_curl_start(struct tunnel *t, struct tunnel_run *r, const char *host, const char *path,
                      const char *const *args);

/*
 * Counts the response header fields called name (case-insensitive) in r's
 * head file, and copies the value of the idx-th one (NUL-terminated,
 * truncated to cap) into out when out is not NULL.
 */
int tunnel_run_header(const struct tunnel_run *r, const char *name, size_t idx, char *out,
                      size_t cap);

/* Monotonic milliseconds; sleep. */
uint64_t tunnel_now_ms(void);
void tunnel_sleep_ms(unsigned ms);

#endif
