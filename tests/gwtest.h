/*
 * tests/gwtest.h — what the tests/test_gw_*.c files share: a fixture with
 * a real nats-server, a test responder thread and a real h8sd, and small
 * helpers to answer requests the ways responders do.
 *
 * Header-only (static functions) on purpose: every test binary is one
 * tests/test_*.c file plus tests/support/, and these helpers only make
 * sense with cmocka, which tests/support/ stays free of.
 */
#ifndef H8S_TESTS_GWTEST_H
#define H8S_TESTS_GWTEST_H

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "proto/h8s_wire.h"
#include "proto/nats_client.h"
#include "tests/support/gwproc.h"
#include "tests/support/httpc.h"
#include "tests/support/natsd.h"
#include "tests/support/responder.h"

struct gwfx {
    struct natsd *nd;
    struct responder *rs;
    struct gwproc gw;
};

static inline int64_t gwt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void gwt_sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* Starts nats-server (conf may be NULL), the responder and, when args is
 * not NULL, an h8sd with those extra arguments. */
static inline int gwt_setup(struct gwfx *f, const char *conf, const char *const *args)
{
    struct natsd_opts o = {.conf = conf};
    memset(f, 0, sizeof(*f));
    if (natsd_start(&f->nd, &o) < 0)
        return -1;
    if (responder_start(&f->rs, natsd_url(f->nd)) < 0)
        return -1;
    if (args && gwproc_start(&f->gw, natsd_url(f->nd), args) < 0)
        return -1;
    return 0;
}

static inline void gwt_teardown(struct gwfx *f)
{
    gwproc_stop(&f->gw);
    responder_stop(f->rs);
    natsd_stop(f->nd);
}

/* Subscribes fn to every request for host (both subjects an agent uses). */
static inline void gwt_serve(struct gwfx *f, const char *rhost, responder_fn fn, void *arg)
{
    char a[256], b[256];
    snprintf(a, sizeof(a), "h8s.http.*.%s", rhost);
    snprintf(b, sizeof(b), "h8s.http.*.%s.>", rhost);
    assert_int_equal(responder_sub(f->rs, a, NULL, fn, arg), 0);
    assert_int_equal(responder_sub(f->rs, b, NULL, fn, arg), 0);
}

/* Publishes a header block given as "Key: value\r\n" lines (NULL: no
 * headers at all) and a body to subject. Responder thread. */
static inline int gwt_pub(struct responder *r, struct span subject, const char *lines,
                          const void *body, size_t n)
{
    char hdr[8192];
    struct span h = span_make(NULL, 0);
    if (lines) {
        int k = snprintf(hdr, sizeof(hdr), "NATS/1.0\r\n%s\r\n", lines);
        h = span_make(hdr, (size_t)k);
    }
    return responder_pub(r, subject, h, span_make(body, n));
}

/* A complete response with status and Content-Length. */
static inline int gwt_reply_full(struct responder *r, struct span reply, int status,
                                 const char *extra, const char *body)
{
    char lines[4096];
    snprintf(lines, sizeof(lines), "Status-Code: %d\r\nContent-Length: %zu\r\n%s", status,
             strlen(body), extra ? extra : "");
    return gwt_pub(r, reply, lines, body, strlen(body));
}

/* curl with the given arguments against the gateway; output in *o. */
static inline int gwt_curl(struct gwproc_out *o, int timeout_ms, const char *const *argv)
{
    return gwproc_run(o, argv, NULL, timeout_ms);
}

#endif
