/*
 * tests/test_ag_ws_backend.c — the agent's WebSocket client to the app
 * (agent/ag_ws_backend.c) against python3-websockets as the app
 * (tests/support/ws_backend.py), over 127.0.0.1.
 *
 * Covered: handshake with subprotocol choice; text, binary, empty and
 * 1 MiB messages both ways; fragmented messages from the app with a ping
 * between fragments, forwarded as chunks (type and boundaries kept); the
 * app's pings answered; Close codes and reasons both ways; refusals (403,
 * a 404 whose body is cut at refusal_max) surfaced with status, headers
 * and body; connection refused; a message over max_message (1009 to the
 * app); the app dropping TCP; back-pressure: an owner that takes nothing
 * leaves the app's sends stalled while our reads stay bounded, then gets
 * every byte once it resumes.
 *
 * Every wait is bounded; skipped with a message when /usr/bin/python3
 * cannot import websockets.
 */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/loop.h"
#include "core/rand.h"
#include "proto/ws_frame.h"
#include "tests/support/loop_harness.h"
#include "tests/support/pychild.h"

/* The Makefile links tests with libh8s.a (core/, proto/) only; the module
 * under test lives in agent/, so it is compiled into this test directly. */
#include "agent/ag_ws_backend.c"

#define WAIT_MS 10000
#define MAX_MESSAGE (2u << 20)

struct msg {
    unsigned op;
    size_t len;
    uint8_t *data;
};

struct owner {
    struct ag_ws_backend *b;
    /* on_open */
    int opened;
    struct ag_ws_backend_open open; /* spans cleared: copied below */
    char protocol[64];
    char body[2048];
    size_t body_len;
    char x_reason[64];
    /* messages, reassembled */
    struct msg msgs[64];
    size_t nmsgs;
    uint8_t *cur;
    size_t cur_len;
    unsigned cur_op;
    int in_msg;
    size_t chunks, max_chunk;
    int bad_flags;
    size_t take; /* 0: everything; SIZE_MAX: nothing (blocked) */
    /* close and end */
    int got_close;
    unsigned close_code;
    char close_reason[128];
    int answer_close; /* answer the app's Close with the same code */
    int ended;
    int end_err;
    unsigned end_code;
};

struct fx {
    struct loop *l;
    struct pychild py;
    uint16_t port;
    struct rand_pool rp;
    char lines[16][160];
    size_t nlines;
    unsigned ping_ms; /* keep-alive interval for the next start() */
};

/* ----------------------------------------------------------- callbacks */

static void w_open(struct ag_ws_backend *b, void *cookie, const struct ag_ws_backend_open *o)
{
    struct owner *w = cookie;
    (void)b;
    w->opened++;
    w->open = *o;
    snprintf(w->protocol, sizeof(w->protocol), "%.*s", (int)o->protocol.n,
             (const char *)o->protocol.p);
    w->body_len = o->body.n < sizeof(w->body) ? o->body.n : sizeof(w->body);
    if (w->body_len)
        memcpy(w->body, o->body.p, w->body_len);
    for (size_t i = 0; i < o->nfields; i++)
        if (span_eq_nocase(o->fields[i].name, SPAN_LIT("X-Reason")))
            snprintf(w->x_reason, sizeof(w->x_reason), "%.*s", (int)o->fields[i].value.n,
                     (const char *)o->fields[i].value.p);
    w->open.fields = NULL;
    w->open.body = span_make(NULL, 0);
}

static size_t w_message(struct ag_ws_backend *b, void *cookie, unsigned opcode, struct span data,
                        int first, int fin)
{
    struct owner *w = cookie;
    size_t k = w->take == 0          ? data.n
               : w->take == SIZE_MAX ? 0
                                     : (w->take < data.n ? w->take : data.n);
    (void)b;

    w->chunks++;
    if (data.n > w->max_chunk)
        w->max_chunk = data.n;
    if (first != !w->in_msg || (w->in_msg && opcode != w->cur_op))
        w->bad_flags++;
    if (k == 0 && data.n > 0)
        return 0; /* nothing taken: the same chunk comes again */
    if (!w->in_msg) {
        w->in_msg = 1;
        w->cur_op = opcode;
        w->cur_len = 0;
        w->cur = malloc(MAX_MESSAGE);
        assert_non_null(w->cur);
    }
    memcpy(w->cur + w->cur_len, data.p, k);
    w->cur_len += k;
    if (fin && k == data.n) {
        assert_true(w->nmsgs < 64);
        w->msgs[w->nmsgs].op = opcode;
        w->msgs[w->nmsgs].len = w->cur_len;
        w->msgs[w->nmsgs].data = w->cur;
        w->nmsgs++;
        w->cur = NULL;
        w->in_msg = 0;
    }
    return k;
}

static void w_close(struct ag_ws_backend *b, void *cookie, unsigned code, struct span reason)
{
    struct owner *w = cookie;
    w->got_close++;
    w->close_code = code;
    snprintf(w->close_reason, sizeof(w->close_reason), "%.*s", (int)reason.n,
             (const char *)reason.p);
    if (w->answer_close)
        assert_int_equal(ag_ws_backend_close(b, code, reason), 0);
}

static void w_end(struct ag_ws_backend *b, void *cookie, int err, unsigned code)
{
    struct owner *w = cookie;
    (void)b;
    w->ended++;
    w->end_err = err;
    w->end_code = code;
    w->b = NULL;
}

static const struct ag_ws_backend_ops owner_ops = {w_open, w_message, w_close, NULL, w_end};

static void owner_free(struct owner *w)
{
    for (size_t i = 0; i < w->nmsgs; i++)
        free(w->msgs[i].data);
    free(w->cur);
    memset(w, 0, sizeof(*w));
}

/* ------------------------------------------------------------ fixture */

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    char err[256], line[64];
    struct loop_config cfg;

    if (f == NULL)
        return -1;
    *state = f;
    f->py.pid = 0;
    f->py.in = f->py.out = -1;
    if (!pychild_available())
        return 0;
    loop_config_defaults(&cfg);
    cfg.max_conns = 64;
    if (loop_create(&f->l, &cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "loop_create: %s\n", err);
        return -1;
    }
    rand_pool_init(&f->rp);
    if (pychild_start(&f->py, "ws_backend.py", NULL) != 0)
        return -1;
    if (pychild_line(&f->py, line, sizeof(line), WAIT_MS) != 1)
        return -1;
    f->port = (uint16_t)atoi(line);
    return f->port ? 0 : -1;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    pychild_stop(&f->py, 5000);
    loop_destroy(f->l);
    free(f);
    return 0;
}

#define REQUIRE_PYTHON(f)                                                                          \
    do {                                                                                           \
        if ((f)->l == NULL) {                                                                      \
            print_message("skipped: " PYCHILD_PYTHON " cannot import websockets "                  \
                          "(install python3-websockets)\n");                                       \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

/* Collects the app's stdout lines as they come. */
static void poll_lines(struct fx *f)
{
    char line[160];
    while (f->nlines < 16 && pychild_try_line(&f->py, line, sizeof(line)) == 1)
        snprintf(f->lines[f->nlines++], sizeof(f->lines[0]), "%s", line);
}

static int has_line(struct fx *f, const char *want)
{
    poll_lines(f);
    for (size_t i = 0; i < f->nlines; i++)
        if (strcmp(f->lines[i], want) == 0)
            return 1;
    return 0;
}

/* Runs the loop until cond(arg) or WAIT_MS; returns cond's last value. */
static int run_until(struct fx *f, int (*cond)(struct fx *, void *), void *arg, unsigned ms)
{
    uint64_t end = lh_mono_ms() + ms;
    while (!cond(f, arg) && lh_mono_ms() < end)
        assert_true(loop_run_once(f->l, 10) >= 0);
    return cond(f, arg);
}

static int c_opened(struct fx *f, void *arg)
{
    (void)f;
    return ((struct owner *)arg)->opened > 0;
}
static int c_ended(struct fx *f, void *arg)
{
    (void)f;
    return ((struct owner *)arg)->ended > 0;
}
static int c_never(struct fx *f, void *arg)
{
    (void)f;
    (void)arg;
    return 0;
}
static int c_line(struct fx *f, void *arg)
{
    return has_line(f, arg);
}
struct nmsgs_arg {
    struct owner *w;
    size_t n;
};
static int c_nmsgs(struct fx *f, void *arg)
{
    struct nmsgs_arg *a = arg;
    (void)f;
    return a->w->nmsgs >= a->n || a->w->ended;
}

static void start(struct fx *f, struct owner *w, const char *path, size_t max_message,
                  size_t refusal_max, uint16_t port)
{
    static const struct span offers[] = {SPAN_LIT("nope"), SPAN_LIT("chat.v2")};
    static const struct ws_handshake_header extra[] = {
        {SPAN_LIT("X-Forwarded-For"), SPAN_LIT("192.0.2.1")}};
    struct ag_ws_backend_config cfg;
    struct sockaddr_storage ss;
    socklen_t len;
    char host[32];

    lh_loopback(AF_INET, port, &ss, &len);
    snprintf(host, sizeof(host), "127.0.0.1:%u", port);
    memset(&cfg, 0, sizeof(cfg));
    cfg.addr = (const struct sockaddr *)&ss;
    cfg.addrlen = len;
    cfg.host = span_cstr(host);
    cfg.target = span_cstr(path);
    cfg.origin = SPAN_LIT("http://h8s.test");
    cfg.protocols = offers;
    cfg.nprotocols = 2;
    cfg.headers = extra;
    cfg.nheaders = 1;
    cfg.max_message = max_message;
    cfg.chunk_max = 4096;
    cfg.refusal_max = refusal_max;
    cfg.open_timeout_ms = WAIT_MS;
    cfg.close_ms = 3000;
    cfg.out_limit = 4u << 20;
    cfg.ping_interval_ms = f->ping_ms;
    cfg.rand = &f->rp;
    assert_int_equal(ag_ws_backend_connect(f->l, &cfg, &owner_ops, w, &w->b), 0);
    assert_true(run_until(f, c_opened, w, WAIT_MS));
}

static void expect_msg(struct owner *w, size_t i, unsigned op, const void *p, size_t n)
{
    assert_true(i < w->nmsgs);
    assert_int_equal(w->msgs[i].op, op);
    assert_int_equal(w->msgs[i].len, n);
    if (n)
        assert_memory_equal(w->msgs[i].data, p, n);
}

static void wait_msgs(struct fx *f, struct owner *w, size_t n)
{
    struct nmsgs_arg a = {w, n};
    assert_true(run_until(f, c_nmsgs, &a, WAIT_MS));
    assert_int_equal(w->nmsgs, n);
}

/* --------------------------------------------------------------- tests */

static void test_echo(void **state)
{
    struct fx *f = *state;
    struct owner w;
    uint8_t *big;
    char want[160];
    REQUIRE_PYTHON(f);

    memset(&w, 0, sizeof(w));
    start(f, &w, "/echo?x=1", MAX_MESSAGE, 0, f->port);
    assert_int_equal(w.open.status, 101);
    assert_int_equal(w.open.err, 0);
    assert_string_equal(w.protocol, "chat.v2");

    assert_int_equal(ag_ws_backend_send(w.b, WS_OP_TEXT, (const uint8_t *)"hello", 5, 1), 0);
    assert_int_equal(ag_ws_backend_send(w.b, WS_OP_BINARY, (const uint8_t *)"\x00\xff\x01", 3, 1),
                     0);
    assert_int_equal(ag_ws_backend_send(w.b, WS_OP_TEXT, NULL, 0, 1), 0);
    /* A message sent in pieces (as tunnel chunks arrive), one code point
     * split between two of them. */
    assert_int_equal(ag_ws_backend_send(w.b, WS_OP_TEXT, (const uint8_t *)"caf\xc3", 4, 0), 0);
    assert_int_equal(ag_ws_backend_send(w.b, WS_OP_BINARY, (const uint8_t *)"x", 1, 1), -EINVAL);
    assert_int_equal(ag_ws_backend_send(w.b, WS_OP_TEXT, (const uint8_t *)"\xa9!", 2, 1), 0);
    wait_msgs(f, &w, 4);
    expect_msg(&w, 0, WS_OP_TEXT, "hello", 5);
    expect_msg(&w, 1, WS_OP_BINARY, "\x00\xff\x01", 3);
    expect_msg(&w, 2, WS_OP_TEXT, "", 0);
    expect_msg(&w, 3, WS_OP_TEXT, "caf\xc3\xa9!", 6);

    /* 1 MiB in 4 pieces; it comes back in chunks of at most 4 KiB. */
    big = malloc(1u << 20);
    assert_non_null(big);
    lh_stream_fill(7, 0, big, 1u << 20);
    for (int i = 0; i < 4; i++)
        assert_int_equal(
            ag_ws_backend_send(w.b, WS_OP_BINARY, big + i * (256u << 10), 256u << 10, i == 3), 0);
    wait_msgs(f, &w, 5);
    expect_msg(&w, 4, WS_OP_BINARY, big, 1u << 20);
    assert_true(w.max_chunk <= 4096);
    assert_true(w.chunks >= 256);
    assert_int_equal(w.bad_flags, 0);
    free(big);

    /* Our Close, answered by the app's: code and reason both ways. */
    assert_int_equal(ag_ws_backend_close(w.b, 4001, SPAN_LIT("client bye \xe2\x9c\x93")), 0);
    assert_int_equal(ag_ws_backend_close(w.b, 4001, span_make(NULL, 0)), -EPIPE);
    assert_true(run_until(f, c_ended, &w, WAIT_MS));
    assert_int_equal(w.got_close, 1);
    assert_int_equal(w.close_code, 4001);
    assert_string_equal(w.close_reason, "client bye \xe2\x9c\x93");
    assert_int_equal(w.end_err, 0);
    snprintf(want, sizeof(want), "closed /echo 4001 %s", "636c69656e742062796520e29c93");
    assert_true(run_until(f, c_line, want, WAIT_MS));
    owner_free(&w);
}

static void test_fragments_and_pings(void **state)
{
    struct fx *f = *state;
    struct owner w;
    REQUIRE_PYTHON(f);

    memset(&w, 0, sizeof(w));
    start(f, &w, "/fragments", MAX_MESSAGE, 0, f->port);
    wait_msgs(f, &w, 2);
    expect_msg(&w, 0, WS_OP_TEXT,
               "fragment\xc3\xa9"
               "d",
               11);
    expect_msg(&w, 1, WS_OP_BINARY, "\x00\x01\x02", 3);
    assert_int_equal(w.bad_flags, 0);
    ag_ws_backend_abort(w.b);
    w.b = NULL;
    /* No callback after abort. */
    for (int i = 0; i < 20; i++)
        loop_run_once(f->l, 5);
    assert_int_equal(w.ended, 0);
    owner_free(&w);

    /* Our keep-alive pings are answered: an idle connection lives on. */
    f->ping_ms = 100;
    start(f, &w, "/echo", MAX_MESSAGE, 0, f->port);
    run_until(f, c_never, NULL, 600);
    assert_int_equal(w.ended, 0);
    assert_int_equal(ag_ws_backend_send(w.b, WS_OP_TEXT, (const uint8_t *)"still", 5, 1), 0);
    wait_msgs(f, &w, 1);
    expect_msg(&w, 0, WS_OP_TEXT, "still", 5);
    ag_ws_backend_abort(w.b);
    owner_free(&w);
    f->ping_ms = 0;

    /* The app pings; our pong reaches it. */
    start(f, &w, "/pinger", MAX_MESSAGE, 0, f->port);
    wait_msgs(f, &w, 1);
    expect_msg(&w, 0, WS_OP_TEXT, "pong-ok", 7);
    ag_ws_backend_abort(w.b);
    owner_free(&w);
}

static void test_app_closes(void **state)
{
    struct fx *f = *state;
    struct owner w;
    REQUIRE_PYTHON(f);

    memset(&w, 0, sizeof(w));
    w.answer_close = 1;
    start(f, &w, "/closer", MAX_MESSAGE, 0, f->port);
    assert_int_equal(ag_ws_backend_send(w.b, WS_OP_TEXT, (const uint8_t *)"go", 2, 1), 0);
    assert_true(run_until(f, c_ended, &w, WAIT_MS));
    assert_int_equal(w.got_close, 1);
    assert_int_equal(w.close_code, 4002);
    assert_string_equal(w.close_reason, "server bye");
    assert_int_equal(w.end_err, 0);
    assert_true(run_until(f, c_line, "closed /closer 4002 73657276657220627965", WAIT_MS));
    owner_free(&w);
}

static void test_refused(void **state)
{
    struct fx *f = *state;
    struct owner w;
    REQUIRE_PYTHON(f);

    memset(&w, 0, sizeof(w));
    start(f, &w, "/refuse", MAX_MESSAGE, 0, f->port);
    assert_int_equal(w.open.status, 403);
    assert_int_equal(w.open.err, 0);
    assert_int_equal(w.body_len, 10);
    assert_memory_equal(w.body, "forbidden\n", 10);
    assert_false(w.open.truncated);
    assert_string_equal(w.x_reason, "nope");
    assert_true(run_until(f, c_ended, &w, WAIT_MS));
    assert_int_equal(w.end_err, AG_WS_BACKEND_E_REFUSED);
    owner_free(&w);

    /* A body longer than refusal_max is cut, and says so. */
    start(f, &w, "/notfound", MAX_MESSAGE, 1000, f->port);
    assert_int_equal(w.open.status, 404);
    assert_int_equal(w.body_len, 1000);
    assert_true(w.open.truncated);
    assert_true(run_until(f, c_ended, &w, WAIT_MS));
    owner_free(&w);

    /* Nobody listening. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd); /* bound, never listening, now closed: refused */
    start(f, &w, "/echo", MAX_MESSAGE, 0, ntohs(sa.sin_port));
    assert_int_equal(w.open.status, 0);
    assert_int_equal(w.open.err, -ECONNREFUSED);
    assert_true(run_until(f, c_ended, &w, WAIT_MS));
    assert_int_equal(w.end_err, -ECONNREFUSED);
    owner_free(&w);
}

static void test_limits_and_loss(void **state)
{
    struct fx *f = *state;
    struct owner w;
    REQUIRE_PYTHON(f);

    /* A message over max_message: 1009 to the app, protocol error here. */
    memset(&w, 0, sizeof(w));
    start(f, &w, "/big?size=3000000", MAX_MESSAGE, 0, f->port);
    assert_true(run_until(f, c_ended, &w, WAIT_MS));
    assert_int_equal(w.end_err, AG_WS_BACKEND_E_PROTOCOL);
    assert_int_equal(w.end_code, WS_CLOSE_TOO_BIG);
    assert_int_equal(w.nmsgs, 0);
    assert_true(run_until(
        f, c_line,
        "closed /big 1009 6d657373616765206578636565647320746865206d6178696d756d2073697a65",
        WAIT_MS));
    owner_free(&w);

    /* The app drops TCP without a Close. */
    start(f, &w, "/drop", MAX_MESSAGE, 0, f->port);
    assert_int_equal(ag_ws_backend_send(w.b, WS_OP_TEXT, (const uint8_t *)"x", 1, 1), 0);
    assert_true(run_until(f, c_ended, &w, WAIT_MS));
    assert_true(w.end_err == AG_WS_BACKEND_E_GONE || w.end_err == -ECONNRESET);
    assert_int_equal(w.got_close, 0);
    owner_free(&w);
}

static void test_backpressure(void **state)
{
    struct fx *f = *state;
    struct owner w;
    struct loop_stats st0, st1;
    const size_t n = 16, size = 1u << 20;
    REQUIRE_PYTHON(f);

    memset(&w, 0, sizeof(w));
    w.take = SIZE_MAX; /* take nothing */
    loop_get_stats(f->l, &st0);
    start(f, &w, "/flood?n=16&size=1048576", MAX_MESSAGE, 0, f->port);
    /* 1.5 s paused: the app stalls, we read only a few buffers. */
    run_until(f, c_never, NULL, 1500);
    loop_get_stats(f->l, &st1);
    assert_int_equal(w.nmsgs, 0);
    assert_true(w.chunks >= 1);
    assert_true(st1.bytes_in - st0.bytes_in < (1u << 20));
    assert_false(has_line(f, "flood sent"));

    /* Resume: everything arrives, in order and intact. */
    w.take = 0;
    ag_ws_backend_resume(w.b);
    wait_msgs(f, &w, n + 1);
    for (size_t k = 0; k < n; k++) {
        assert_int_equal(w.msgs[k].op, WS_OP_BINARY);
        assert_int_equal(w.msgs[k].len, size);
        for (size_t i = 0; i < size; i += 4093)
            assert_int_equal(w.msgs[k].data[i], (uint8_t)((k * 31 + i) & 255));
    }
    expect_msg(&w, n, WS_OP_TEXT, "done", 4);
    assert_true(run_until(f, c_line, "flood sent", WAIT_MS));
    assert_int_equal(w.bad_flags, 0);

    /* Slow taker: 100 bytes at a time, resumed each time. */
    w.take = 100;
    assert_int_equal(ag_ws_backend_send(w.b, WS_OP_BINARY, w.msgs[0].data, 50000, 1), 0);
    for (int i = 0; i < 2000 && w.nmsgs < n + 2; i++) {
        loop_run_once(f->l, 5);
        ag_ws_backend_resume(w.b);
    }
    assert_int_equal(w.nmsgs, n + 2);
    expect_msg(&w, n + 1, WS_OP_BINARY, w.msgs[0].data, 50000);
    ag_ws_backend_abort(w.b);
    owner_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_echo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fragments_and_pings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_app_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits_and_loss, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backpressure, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
