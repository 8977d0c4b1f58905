/*
 * tests/support/pychild.h — a /usr/bin/python3 script as a test peer.
 *
 * The WebSocket tests use python3-websockets (Debian's package, an
 * implementation independent of ours) as app and as client. A script runs
 * as a child with a pipe on its stdin (closed to ask it to stop) and one on
 * its stdout, read line by line without blocking so the test can drive its
 * own loop meanwhile. The child gets SIGKILL if the test thread dies.
 * Scripts are found under tests/support/ from the current directory (the
 * repository root, where make runs the tests) or from $H8S_SRCDIR.
 *
 * Errors: negative errno values.
 */
#ifndef H8S_TESTS_SUPPORT_PYCHILD_H
#define H8S_TESTS_SUPPORT_PYCHILD_H

#include <stddef.h>
#include <sys/types.h>

#define PYCHILD_PYTHON "/usr/bin/python3"

struct pychild {
    pid_t pid;
    int in;  /* write end of the child's stdin */
    int out; /* read end of the child's stdout */
    char buf[4096];
    size_t len;
};

/* 1 when PYCHILD_PYTHON runs and imports websockets, else 0. */
int pychild_available(void);

/*
 * Starts PYCHILD_PYTHON on tests/support/<script> with up to 6 arguments
 * (NULL-terminated argv after the script). Returns 0 or -errno (-ENOENT
 * when the script is not found).
 */
int pychild_start(struct pychild *c, const char *script, const char *const *args);

/*
 * Non-blocking: when a whole line has arrived, copies it (without the
 * newline, NUL-terminated, cut to cap - 1) and returns 1; returns 0 when
 * none is complete yet, -EPIPE when the child closed its stdout.
 */
int pychild_try_line(struct pychild *c, char *line, size_t cap);

/* Blocking for at most timeout_ms: returns 1, -ETIMEDOUT or -EPIPE. */
int pychild_line(struct pychild *c, char *line, size_t cap, int timeout_ms);

/*
 * Closes the child's stdin, waits up to timeout_ms for it to exit, then
 * kills it. Returns its exit status (0..255), 128 + signal, or -1 when it
 * had to be killed. Safe on a child never started or already stopped.
 */
int pychild_stop(struct pychild *c, int timeout_ms);

#endif
