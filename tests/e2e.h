/*
 * tests/e2e.h — what the tests/test_e2e_*.c files share: one tunnel
 * (tests/support/tunnel.h) per test file, started in the group setup,
 * checked around every test, and small cmocka helpers to drive it with
 * curl and with raw sockets (for the requests curl will not send).
 *
 * Header-only (static functions) on purpose: each test binary is one
 * tests/test_*.c plus tests/support/, which stays free of cmocka.
 *
 * Logs: a test that does not reach e2e_pass() gets every process's log
 * printed by its teardown, which also fails the test when a process of the
 * tunnel died meanwhile. The group teardown stops the tunnel and fails when
 * a daemon did not exit 0 on SIGTERM or logged a sanitizer report.
 */
#ifndef H8S_TESTS_E2E_H
#define H8S_TESTS_E2E_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/rawsock.h"
#include "tests/support/tunnel.h"

/* Bound of one curl run; generous for the sanitized daemons. */
#define E2E_CURL_MS 30000
/* Bound of one raw-socket exchange. */
#define E2E_RAW_MS 10000

static inline int e2e_group_start(void **state, const struct tunnel_opts *o)
{
    struct tunnel *t = calloc(1, sizeof(*t));
    *state = NULL;
    if (t == NULL)
        return -1;
    if (tunnel_start(t, o) < 0) {
        t->passed = 1; /* start-up already printed the logs */
        tunnel_stop(t);
        free(t);
        return -1;
    }
    *state = t;
    return 0;
}

static inline int e2e_group_stop(void **state)
{
    struct tunnel *t = *state;
    if (t == NULL)
        return 0;
    t->passed = 1; /* each test's teardown reported its own failure */
    int rc = tunnel_stop(t);
    free(t);
    *state = NULL;
    return rc;
}

static inline int e2e_before(void **state)
{
    struct tunnel *t = *state;
    t->passed = 0;
    return tunnel_check(t);
}

static inline int e2e_after(void **state)
{
    struct tunnel *t = *state;
    int rc = tunnel_check(t);
    if (!t->passed || rc < 0)
        tunnel_dump_logs(t);
    return rc;
}

static inline void e2e_pass(struct tunnel *t)
{
    t->passed = 1;
}

#define E2E_TEST(fn) cmocka_unit_test_setup_teardown(fn, e2e_before, e2e_after)

/* Runs curl (see tunnel_curl) and asserts it ran and exited 0. */
static inline void e2e_curl_ok(struct tunnel *t, struct tunnel_run *r, const char *host,
                               const char *path, const char *const *args)
{
    int rc = tunnel_curl(t, r, host, path, args, E2E_CURL_MS);
    if (rc != 0)
        fprintf(stderr, "curl %s exited %d: %s\n", path ? path : "", rc, r->err);
    assert_int_equal(rc, 0);
}

/* GETs path and asserts status code and the exact body. */
static inline void e2e_get_expect(struct tunnel *t, const char *host, const char *path, int code,
                                  const char *body)
{
    struct tunnel_run r;
    e2e_curl_ok(t, &r, host, path, NULL);
    assert_int_equal(r.code, code);
    if (body)
        assert_string_equal(r.out, body);
    tunnel_run_free(&r);
}

/* The status code of the first response in b, or -1. */
static inline int e2e_status(const char *buf)
{
    int code;
    return sscanf(buf, "HTTP/1.%*d %d", &code) == 1 ? code : -1;
}

/*
 * Sends n bytes of req on a fresh connection to h8sd and reads until the
 * gateway closes the connection or ms pass. Returns 1 when it closed, 0
 * when it stayed open (b holds what came). Asserts on socket errors.
 */
static inline int e2e_raw(struct tunnel *t, const void *req, size_t n, struct rawsock_buf *b,
                          int ms)
{
    uint64_t deadline = tunnel_now_ms() + (uint64_t)ms;
    int fd = rawsock_connect(t->port, E2E_RAW_MS), rc = 0;
    assert_true(fd >= 0);
    rawsock_buf_reset(b);
    assert_int_equal(rawsock_send(fd, req, n), 0);
    for (;;) {
        uint64_t now = tunnel_now_ms();
        if (now >= deadline)
            break;
        rc = rawsock_read_some(fd, b, (int)(deadline - now));
        if (rc < 0)
            break;
    }
    close(fd);
    /* A reset after the answer is a close too (unread input discarded). */
    return rc == -ECONNRESET || rc == -EPIPE;
}

/* e2e_raw for a NUL-terminated request. */
static inline int e2e_raw_str(struct tunnel *t, const char *req, struct rawsock_buf *b, int ms)
{
    return e2e_raw(t, req, strlen(req), b, ms);
}

/* Number of times needle occurs in s. */
static inline int e2e_count(const char *s, const char *needle)
{
    int n = 0;
    for (; (s = strstr(s, needle)) != NULL; s += strlen(needle))
        n++;
    return n;
}

#endif
