/*
 * tests/support/gwproc.h — the real h8sd binary as a child process, and
 * other programs (curl) run to completion with their output captured.
 *
 * The binary is $BUILD/h8sd (BUILD defaults to "build", as tests/run.sh
 * sets it, so `make asan` tests the sanitized build). It listens on
 * 127.0.0.1 port 0 unless the extra arguments say otherwise; the port is
 * read back from its "event=listening" log line. The child dies with the
 * test (PR_SET_PDEATHSIG). Every wait is bounded; errors are -errno.
 */
#ifndef H8S_TESTS_SUPPORT_GWPROC_H
#define H8S_TESTS_SUPPORT_GWPROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define GWPROC_WAIT_MS 10000
#define GWPROC_ARGS_MAX 32

struct gwproc {
    pid_t pid;
    uint16_t port;
    char dir[256];
    char log[320];
    int exited;      /* 1 once reaped */
    int exit_status; /* waitpid status once reaped */
};

/*
 * Starts h8sd with --nats-url=nats_url, --listen=127.0.0.1:0, --workers=1
 * and the NULL-terminated extra arguments (later ones win), and waits
 * until it listens and its NATS connection is up. On failure prints the
 * log and returns -errno.
 */
int gwproc_start(struct gwproc *g, const char *nats_url, const char *const *extra);

/* Sends sig. */
int gwproc_signal(struct gwproc *g, int sig);

/* Waits up to timeout_ms for the child to exit; returns 0 (status in
 * g->exit_status) or -ETIMEDOUT. */
int gwproc_wait(struct gwproc *g, int timeout_ms);

/* SIGTERM, then SIGKILL if needed; removes the directory. Safe twice. */
void gwproc_stop(struct gwproc *g);

/* 1 when the log holds needle now; gwproc_log_wait polls up to timeout_ms. */
int gwproc_log_has(const struct gwproc *g, const char *needle);
int gwproc_log_wait(const struct gwproc *g, const char *needle, int timeout_ms);
/* Counts the lines of the log holding needle. */
int gwproc_log_count(const struct gwproc *g, const char *needle);
void gwproc_dump_log(const struct gwproc *g);

/* A finished program's output: the first bytes kept, all counted and hashed. */
struct gwproc_out {
    char buf[1 << 16];
    size_t len;      /* bytes kept in buf (NUL-terminated) */
    uint64_t total;  /* bytes written in all */
    uint8_t sha[32]; /* SHA-256 of all of them */
    char err[4096];  /* stderr, first bytes */
    size_t err_len;
    int status;      /* exit code, or 128 + signal, or -1 when killed on timeout */
};

/*
 * Runs argv (argv[0] looked up in PATH) with stdin from stdin_path (NULL:
 * /dev/null), collecting stdout and stderr, killed after timeout_ms.
 * Returns 0 (see out->status) or -errno when it could not start.
 */
int gwproc_run(struct gwproc_out *out, const char *const *argv, const char *stdin_path,
               int timeout_ms);

/* "$BUILD/h8sd" */
const char *gwproc_binary(void);

/* SHA-256 in lower-case hex (65 bytes with the NUL). */
void gwproc_hex(const uint8_t sha[32], char out[65]);

#endif
