/*
 * tests/test_gw_ws_session.c — the gateway's WebSocket session with a
 * client (gateway/gw_ws_session.c), over 127.0.0.1.
 *
 * A tiny test listener on a loop plays the gateway's HTTP layer: it reads
 * the upgrade request head, hands the connection to gw_ws_session_start,
 * and, playing the tunnel, accepts at once (echoing every chunk back),
 * after a delay, refuses, or closes, depending on the path. Clients are
 * python3-websockets (tests/support/ws_client.py) and, for what a
 * conforming client never sends (unmasked frames, bad UTF-8, oversized
 * control frames, wrong versions), raw sockets.
 *
 * Covered: 101 with the app's subprotocol and headers (and never an
 * extension or an internal header); echo of text, binary, 1 MiB, empty and
 * fragmented messages with pings between fragments; no 101 before the
 * accept; refusals (403 from the handshake check for a foreign Origin, 426,
 * 400, the app's 403 with its headers and body, 502 for a subprotocol the
 * client did not offer); protocol violations closed with 1002/1007/1009
 * while another client's echo goes on undisturbed; Close both ways;
 * back-pressure (a session whose owner takes nothing stalls the client's
 * sends, then everything arrives once resumed); a client leaving before
 * and after the 101; keep-alive pings answered by a live client, and a
 * silent one dropped. Every wait is bounded.
 */
#include <errno.h>
#include <fcntl.h>
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
#include "proto/ws_frame.h"
#include "tests/support/loop_harness.h"
#include "tests/support/pychild.h"
#include "tests/support/ws_test_http.h"

/* The Makefile links tests with libh8s.a (core/, proto/) only; the module
 * under test lives in gateway/, so it is compiled into this test directly. */
#include "gateway/gw_ws_session.c"

#define WAIT_MS 15000
#define MAX_MESSAGE (2u << 20)
#define TEST_KEY "dGhlIHNhbXBsZSBub25jZQ=="

enum mode { M_ECHO, M_SLOW, M_REFUSE, M_CLOSE, M_PAUSE, M_BADPROTO };

struct srv;

struct owner {
    struct srv *srv;
    struct gw_ws_session *s;
    enum mode mode;
    struct loop_timer slow;
    int closed_once;
};

struct srv {
    struct loop *l;
    struct loop_listener *ls;
    uint16_t port;
    struct gw_ws_session_config cfg;
    struct ws_handshake_server_config hscfg;
    struct span origins[1];
    /* counters */
    unsigned accepted, refused[600], started, ended, open_now;
    int last_err;
    unsigned codes[2000]; /* on_end codes seen */
    unsigned end_errs_gone, end_errs_proto, end_ok;
    /* pause mode */
    int flood_taking;
    uint64_t flood_bytes;
    int flood_bad;
    struct owner *flood_owner;
};

struct hconn {
    struct srv *srv;
    size_t len;
    char buf[16384];
};

/* ------------------------------------------------------------- owner */

static size_t o_message(struct gw_ws_session *s, void *cookie, unsigned opcode, struct span data,
                        int first, int fin)
{
    struct owner *o = cookie;
    (void)first;
    if (o->mode == M_PAUSE) {
        if (!o->srv->flood_taking)
            return 0;
        for (size_t i = 0; i < data.n; i += 997)
            if (data.p[i] != (uint8_t)((o->srv->flood_bytes + i) >> 20))
                o->srv->flood_bad++;
        o->srv->flood_bytes += data.n;
        return data.n;
    }
    if (o->mode == M_CLOSE) {
        if (fin && !o->closed_once) {
            o->closed_once = 1;
            assert_int_equal(gw_ws_session_close(s, 4003, SPAN_LIT("bye from server")), 0);
        }
        return data.n;
    }
    /* Echo: each chunk goes straight back, as the tunnel would relay it. */
    assert_int_equal(gw_ws_session_send(s, opcode, data.p, data.n, fin), 0);
    return data.n;
}

static void o_close(struct gw_ws_session *s, void *cookie, unsigned code, struct span reason)
{
    (void)cookie;
    /* The far side answers with the same code (an echo app would). */
    int rc = gw_ws_session_close(s, code, reason);
    assert_true(rc == 0 || rc == -EPIPE);
}

static void o_end(struct gw_ws_session *s, void *cookie, int err, unsigned code)
{
    struct owner *o = cookie;
    struct srv *srv = o->srv;
    (void)s;
    srv->ended++;
    srv->open_now--;
    srv->last_err = err;
    if (code < 2000)
        srv->codes[code]++;
    if (err == 0)
        srv->end_ok++;
    else if (err == GW_WS_SESSION_E_GONE)
        srv->end_errs_gone++;
    else if (err == GW_WS_SESSION_E_PROTOCOL)
        srv->end_errs_proto++;
    if (srv->flood_owner == o)
        srv->flood_owner = NULL;
    loop_timer_stop(srv->l, &o->slow);
    free(o);
}

static const struct gw_ws_session_ops owner_ops = {o_message, o_close, NULL, o_end};

static void accept_now(struct owner *o)
{
    static const struct http_head_field app_fields[] = {
        {SPAN_LIT("Set-Cookie"), SPAN_LIT("app=1")},
        /* These must never reach the client. */
        {SPAN_LIT("Sec-WebSocket-Extensions"), SPAN_LIT("permessage-deflate")},
        {SPAN_LIT("X-H8s-Agent-Subject"), SPAN_LIT("_INBOX.h8s.a.b")},
        {SPAN_LIT("Content-Length"), SPAN_LIT("5")},
    };
    const struct span *offers;
    size_t n = gw_ws_session_offers(o->s, &offers);
    struct span chosen = span_make(NULL, 0);

    for (size_t i = 0; i < n; i++)
        if (span_eq(offers[i], SPAN_LIT("chat.v2")))
            chosen = offers[i];
    assert_int_equal(gw_ws_session_accept(o->s, chosen, app_fields, 4), 0);
}

static void slow_fire(struct loop *l, struct loop_timer *t)
{
    struct owner *o = LOOP_CONTAINER_OF(t, struct owner, slow);
    (void)l;
    accept_now(o);
}

/* ------------------------------------------------------ test listener */

static void h_close(struct loop_conn *c, int err)
{
    (void)err;
    free(loop_conn_cookie(c));
}

static int h_data(struct loop_conn *c, const uint8_t *p, size_t n);
static const struct loop_conn_ops hconn_ops = {h_data, NULL, NULL, h_close};

static int h_data(struct loop_conn *c, const uint8_t *p, size_t n)
{
    struct hconn *h = loop_conn_cookie(c);
    struct srv *srv = h->srv;
    struct ws_test_http head;
    struct owner *o;
    char path[64] = "";
    unsigned st;
    int r;

    if (n == 0 || n > sizeof(h->buf) - h->len)
        return -EPROTO;
    memcpy(h->buf + h->len, p, n);
    h->len += n;
    r = ws_test_http_parse(&head, 1, h->buf, h->len);
    if (r == 0)
        return 0;
    if (r < 0)
        return -EPROTO;
    sscanf(h->buf, "GET %63s", path);
    o = calloc(1, sizeof(*o));
    assert_non_null(o);
    o->srv = srv;
    loop_timer_init(&o->slow, slow_fire);
    o->mode = strcmp(path, "/slow") == 0       ? M_SLOW
              : strcmp(path, "/refuse") == 0   ? M_REFUSE
              : strcmp(path, "/close") == 0    ? M_CLOSE
              : strcmp(path, "/pause") == 0    ? M_PAUSE
              : strcmp(path, "/badproto") == 0 ? M_BADPROTO
                                               : M_ECHO;
    /* /park: the HTTP layer gives nothing as rest, and parks it after. */
    int park = strcmp(path, "/park") == 0;
    struct span rest = span_make(h->buf + head.head_len, h->len - head.head_len);
    st = gw_ws_session_start(c, &srv->cfg, &head.head, park ? span_make(NULL, 0) : rest, &owner_ops,
                             o, &o->s);
    if (st == 101 && park) {
        assert_ptr_equal(gw_ws_session_of(c), o->s);
        assert_int_equal(gw_ws_session_park(o->s, rest), 0);
    }
    if (st != 101) {
        srv->refused[st < 600 ? st : 0]++;
        free(o);
        return 0; /* c is closing and still ours: h goes in h_close */
    }
    free(h); /* the session owns c now */
    srv->started++;
    srv->open_now++;
    switch (o->mode) {
    case M_SLOW:
        assert_int_equal(loop_timer_start(srv->l, &o->slow, 300), 0);
        break;
    case M_REFUSE: {
        static const struct http_head_field f[] = {
            {SPAN_LIT("X-Reason"), SPAN_LIT("nope")},
            {SPAN_LIT("Connection"), SPAN_LIT("keep-alive")},
            {SPAN_LIT("X-H8s-Agent-Subject"), SPAN_LIT("_INBOX.h8s.a.b")},
            {SPAN_LIT("Status"), SPAN_LIT("403 Forbidden")},
        };
        assert_int_equal(gw_ws_session_refuse(o->s, 403, f, 4, SPAN_LIT("forbidden\n")), 0);
        break;
    }
    case M_BADPROTO:
        assert_int_equal(gw_ws_session_accept(o->s, SPAN_LIT("other"), NULL, 0), -EINVAL);
        assert_int_equal(gw_ws_session_refuse(o->s, 502, NULL, 0, span_make(NULL, 0)), 0);
        break;
    case M_PAUSE:
        srv->flood_owner = o;
        accept_now(o);
        break;
    default:
        accept_now(o);
    }
    return 0;
}

static void on_accept(struct loop_listener *ls, struct loop_conn *c, int err)
{
    struct srv *srv = loop_listener_cookie(ls);
    struct hconn *h;

    if (err)
        return;
    h = calloc(1, sizeof(*h));
    assert_non_null(h);
    h->srv = srv;
    srv->accepted++;
    loop_conn_set(c, &hconn_ops, h);
}

/* ------------------------------------------------------------ fixture */

struct fx {
    struct srv srv;
    struct pychild py;
    int have_python;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct loop_config lc;
    struct sockaddr_storage ss;
    socklen_t len;
    char err[256];

    if (f == NULL)
        return -1;
    *state = f;
    f->py.in = f->py.out = -1;
    f->have_python = pychild_available();
    loop_config_defaults(&lc);
    lc.max_conns = 256;
    if (loop_create(&f->srv.l, &lc, err, sizeof(err)) != 0) {
        fprintf(stderr, "loop_create: %s\n", err);
        return -1;
    }
    lh_loopback(AF_INET, 0, &ss, &len);
    if (loop_listen(f->srv.l, (struct sockaddr *)&ss, len, 0, on_accept, &f->srv, &f->srv.ls) != 0)
        return -1;
    loop_listener_addr(f->srv.ls, &ss, &len);
    f->srv.port = lh_port_of(&ss);
    f->srv.origins[0] = SPAN_LIT("http://h8s.test");
    f->srv.hscfg.origins = f->srv.origins;
    f->srv.hscfg.norigins = 1;
    f->srv.cfg.hs = &f->srv.hscfg;
    f->srv.cfg.max_message = MAX_MESSAGE;
    f->srv.cfg.chunk_max = 8192;
    f->srv.cfg.out_limit = 4u << 20;
    f->srv.cfg.close_ms = 2000;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    pychild_stop(&f->py, 5000);
    loop_destroy(f->srv.l);
    free(f);
    return 0;
}

#define REQUIRE_PYTHON(f)                                                                          \
    do {                                                                                           \
        if (!(f)->have_python) {                                                                   \
            print_message("skipped: " PYCHILD_PYTHON " cannot import websockets "                  \
                          "(install python3-websockets)\n");                                       \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

/* Starts a python scenario and runs the loop until its next line. */
static void py_start(struct fx *f, struct pychild *py, const char *scenario, const char *arg)
{
    char port[16];
    snprintf(port, sizeof(port), "%u", f->srv.port);
    const char *args[] = {scenario, port, arg, NULL};
    assert_int_equal(pychild_start(py, "ws_client.py", args), 0);
}

static void py_line(struct fx *f, struct pychild *py, char *line, size_t cap)
{
    uint64_t end = lh_mono_ms() + WAIT_MS;
    int r;
    while ((r = pychild_try_line(py, line, cap)) == 0 && lh_mono_ms() < end)
        loop_run_once(f->srv.l, 5);
    if (r != 1)
        fail_msg("no line from the python client (%d)", r);
}

static void py_finish(struct fx *f, struct pychild *py)
{
    /* Keep serving while the client finishes. */
    for (int i = 0; i < 100 && py->pid > 0; i++) {
        loop_run_once(f->srv.l, 5);
        char tmp[8];
        if (pychild_try_line(py, tmp, sizeof(tmp)) < 0)
            break;
    }
    assert_int_equal(pychild_stop(py, WAIT_MS), 0);
}

static void run_for(struct fx *f, unsigned ms)
{
    uint64_t end = lh_mono_ms() + ms;
    while (lh_mono_ms() < end)
        loop_run_once(f->srv.l, 5);
}

static void run_until_ended(struct fx *f, unsigned want)
{
    uint64_t end = lh_mono_ms() + WAIT_MS;
    while (f->srv.ended < want && lh_mono_ms() < end)
        loop_run_once(f->srv.l, 5);
    assert_int_equal(f->srv.ended, want);
}

/* ------------------------------------------------------ raw client */

struct raw {
    int fd;
    uint8_t buf[65536];
    size_t len;
    int eof;
};

static void raw_open(struct fx *f, struct raw *r)
{
    struct sockaddr_storage ss;
    socklen_t len;
    memset(r, 0, sizeof(*r));
    lh_loopback(AF_INET, f->srv.port, &ss, &len);
    r->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(r->fd >= 0);
    assert_int_equal(connect(r->fd, (struct sockaddr *)&ss, len), 0);
    fcntl(r->fd, F_SETFL, fcntl(r->fd, F_GETFL) | O_NONBLOCK);
}

static void raw_send(struct raw *r, const void *p, size_t n)
{
    assert_int_equal(send(r->fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Runs the loop and reads until pred(r) or the deadline. */
static int raw_wait(struct fx *f, struct raw *r, int (*pred)(struct raw *))
{
    uint64_t end = lh_mono_ms() + WAIT_MS;
    while (!pred(r) && lh_mono_ms() < end) {
        loop_run_once(f->srv.l, 5);
        ssize_t k = recv(r->fd, r->buf + r->len, sizeof(r->buf) - r->len, MSG_DONTWAIT);
        if (k > 0)
            r->len += (size_t)k;
        else if (k == 0 || (k < 0 && errno != EAGAIN))
            r->eof = 1;
    }
    return pred(r);
}

static int have_head(struct raw *r)
{
    return memmem(r->buf, r->len, "\r\n\r\n", 4) != NULL || r->eof;
}

static int have_echo(struct raw *r)
{
    return r->len >= 7 || r->eof;
}

static int have_eof(struct raw *r)
{
    return r->eof;
}

/* Sends an upgrade request; returns the status of the answer. */
static unsigned raw_handshake(struct fx *f, struct raw *r, const char *path, const char *version)
{
    char req[512];
    unsigned st = 0;
    snprintf(req, sizeof(req),
             "GET %s HTTP/1.1\r\nHost: h8s.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: " TEST_KEY "\r\nSec-WebSocket-Version: %s\r\n"
             "Origin: http://h8s.test\r\n\r\n",
             path, version);
    raw_send(r, req, strlen(req));
    assert_true(raw_wait(f, r, have_head));
    r->buf[r->len < sizeof(r->buf) ? r->len : sizeof(r->buf) - 1] = 0;
    sscanf((const char *)r->buf, "HTTP/1.1 %u", &st);
    return st;
}

/* Drops the head from the buffer (after a 101). */
static void raw_drop_head(struct raw *r)
{
    uint8_t *e = memmem(r->buf, r->len, "\r\n\r\n", 4);
    assert_non_null(e);
    size_t k = (size_t)(e + 4 - r->buf);
    memmove(r->buf, r->buf + k, r->len - k);
    r->len -= k;
}

static void raw_frame(struct raw *r, unsigned b0, int mask, const void *pl, size_t n)
{
    static const uint8_t key[4] = {1, 2, 3, 4};
    uint8_t h[WS_FRAME_HEADER_MAX + 200];
    size_t hl;
    assert_true(n <= 200);
    /* Hand-made header: lets the test write what the encoder refuses. */
    h[0] = (uint8_t)b0;
    h[1] = (uint8_t)((mask ? 0x80 : 0) | n);
    hl = 2;
    if (mask) {
        memcpy(h + 2, key, 4);
        hl = 6;
    }
    if (mask)
        ws_frame_mask(h + hl, pl, n, key, 0);
    else if (n)
        memcpy(h + hl, pl, n);
    raw_send(r, h, hl + n);
}

/* The server's Close code in r's buffer, or 0. */
static unsigned raw_close_code(struct raw *r)
{
    struct ws_frame_parser p;
    struct ws_frame_event ev;
    size_t off = 0;
    ws_frame_parser_init(&p, WS_FRAME_CLIENT, 1u << 24);
    for (;;) {
        off += ws_frame_parser_feed(&p, r->buf + off, r->len - off, &ev);
        if (ev.type == WS_EV_NONE || ev.type == WS_EV_ERROR)
            return 0;
        if (ev.type == WS_EV_CLOSE)
            return ev.code;
    }
}

/* --------------------------------------------------------------- tests */

static void test_echo(void **state)
{
    struct fx *f = *state;
    char line[256];
    REQUIRE_PYTHON(f);

    py_start(f, &f->py, "echo", NULL);
    py_line(f, &f->py, line, sizeof(line));
    /* The close reason came back from our side: "client bye ✓". */
    assert_string_equal(line, "ok 4001 636c69656e742062796520e29c93");
    py_finish(f, &f->py);
    run_until_ended(f, 1);
    assert_int_equal(f->srv.end_ok, 1);

    /* The 101 only after the (delayed) accept. */
    py_start(f, &f->py, "slow", NULL);
    py_line(f, &f->py, line, sizeof(line));
    unsigned ms = 0;
    assert_int_equal(sscanf(line, "ok %u", &ms), 1);
    assert_true(ms >= 250);
    py_finish(f, &f->py);
    run_until_ended(f, 2);
}

static void test_refusals(void **state)
{
    struct fx *f = *state;
    char line[256];
    struct raw r;
    REQUIRE_PYTHON(f);

    /* The app refuses: its status and headers reach the client. */
    py_start(f, &f->py, "refuse", NULL);
    py_line(f, &f->py, line, sizeof(line));
    assert_string_equal(line, "rejected 403 nope");
    py_finish(f, &f->py);
    /* A foreign Origin never gets to the app. */
    py_start(f, &f->py, "origin", NULL);
    py_line(f, &f->py, line, sizeof(line));
    assert_string_equal(line, "rejected 403 -");
    py_finish(f, &f->py);
    assert_int_equal(f->srv.refused[403], 1);

    /* The refusal on the wire: no internal or hop-by-hop field, the body. */
    raw_open(f, &r);
    assert_int_equal(raw_handshake(f, &r, "/refuse", "13"), 403);
    assert_true(raw_wait(f, &r, have_eof));
    r.buf[r.len] = 0;
    assert_null(strstr((char *)r.buf, "X-H8s"));
    assert_null(strstr((char *)r.buf, "keep-alive"));
    assert_null(strstr((char *)r.buf, "Status:"));
    assert_non_null(strstr((char *)r.buf, "X-Reason: nope\r\n"));
    assert_non_null(strstr((char *)r.buf, "Content-Length: 10\r\n"));
    assert_non_null(strstr((char *)r.buf, "Connection: close\r\n"));
    assert_non_null(strstr((char *)r.buf, "\r\n\r\nforbidden\n"));
    close(r.fd);

    /* Version 12: 426 naming 13. */
    raw_open(f, &r);
    assert_int_equal(raw_handshake(f, &r, "/echo", "12"), 426);
    r.buf[r.len] = 0;
    assert_non_null(strstr((char *)r.buf, "Sec-WebSocket-Version: 13\r\n"));
    close(r.fd);
    /* A subprotocol the client did not offer: the owner answers 502. */
    raw_open(f, &r);
    assert_int_equal(raw_handshake(f, &r, "/badproto", "13"), 502);
    close(r.fd);
    run_until_ended(f, 3); /* two /refuse sessions and /badproto */
}

static void test_violations(void **state)
{
    struct fx *f = *state;
    struct pychild bystander;
    char line[256];
    static const struct {
        const char *what;
        unsigned code;
    } cases[] = {{"unmasked", 1002}, {"utf8", 1007}, {"control", 1002},
                 {"big", 1009},      {"rsv", 1002},  {"opcode", 1002}};
    REQUIRE_PYTHON(f);

    /* A well-behaved client keeps echoing the whole time. */
    py_start(f, &bystander, "echo-loop", "2");
    run_for(f, 200);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct raw r;
        raw_open(f, &r);
        assert_int_equal(raw_handshake(f, &r, "/echo", "13"), 101);
        raw_drop_head(&r);
        if (strcmp(cases[i].what, "unmasked") == 0) {
            raw_frame(&r, 0x81, 0, "hi", 2);
        } else if (strcmp(cases[i].what, "utf8") == 0) {
            raw_frame(&r, 0x81, 1, "ok\xed\xa0\x80", 5);
        } else if (strcmp(cases[i].what, "control") == 0) {
            uint8_t h[2] = {0x89, 0x80 | 126}; /* a ping announcing 126+ bytes */
            raw_send(&r, h, 2);
        } else if (strcmp(cases[i].what, "big") == 0) {
            /* 4 MiB announced (with its mask key): refused at the header. */
            uint8_t h[14] = {0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0x40, 0, 0, 1, 2, 3, 4};
            raw_send(&r, h, sizeof(h));
        } else if (strcmp(cases[i].what, "rsv") == 0) {
            raw_frame(&r, 0xC1, 1, "x", 1);
        } else {
            raw_frame(&r, 0x83, 1, "x", 1);
        }
        /* Our Close with the right code, then the TCP connection ends. */
        assert_true(raw_wait(f, &r, have_eof));
        assert_int_equal(raw_close_code(&r), cases[i].code);
        close(r.fd);
    }
    py_line(f, &bystander, line, sizeof(line));
    assert_int_equal(strncmp(line, "ok ", 3), 0);
    assert_true(atoi(line + 3) > 10);
    py_finish(f, &bystander);
    run_until_ended(f, 7);
    assert_int_equal(f->srv.end_errs_proto, 6);
    assert_int_equal(f->srv.codes[1002], 4);
    assert_int_equal(f->srv.codes[1007], 1);
    assert_int_equal(f->srv.codes[1009], 1);
}

static void test_close_both_ways(void **state)
{
    struct fx *f = *state;
    char line[256];
    struct raw r;
    REQUIRE_PYTHON(f);

    /* We close: the client sees our code and reason. */
    py_start(f, &f->py, "server-close", NULL);
    py_line(f, &f->py, line, sizeof(line));
    assert_string_equal(line, "closed 4003 6279652066726f6d20736572766572");
    py_finish(f, &f->py);
    run_until_ended(f, 1);
    assert_int_equal(f->srv.end_ok, 1);

    /* The client's Close without a code: answered with an empty Close,
     * then our FIN. */
    raw_open(f, &r);
    assert_int_equal(raw_handshake(f, &r, "/echo", "13"), 101);
    raw_drop_head(&r);
    raw_frame(&r, 0x88, 1, NULL, 0);
    assert_true(raw_wait(f, &r, have_eof));
    assert_int_equal(r.len, 2);
    assert_int_equal(r.buf[0], 0x88);
    assert_int_equal(r.buf[1], 0);
    close(r.fd);
    run_until_ended(f, 2);
    assert_int_equal(f->srv.end_ok, 2);
}

static void test_flow_control(void **state)
{
    struct fx *f = *state;
    char line[256];
    struct loop_stats st0, st1;
    unsigned progress = 99;
    REQUIRE_PYTHON(f);

    py_start(f, &f->py, "flood", NULL);
    loop_get_stats(f->srv.l, &st0);
    py_line(f, &f->py, line, sizeof(line));
    loop_get_stats(f->srv.l, &st1);
    assert_int_equal(sscanf(line, "progress %u", &progress), 1);
    /* The client's sends stalled; we read no more than a few buffers. */
    assert_true(progress < 16);
    assert_true(st1.bytes_in - st0.bytes_in < (1u << 20));
    assert_int_equal(f->srv.flood_bytes, 0);
    /* Take everything from now on. */
    f->srv.flood_taking = 1;
    assert_non_null(f->srv.flood_owner);
    gw_ws_session_resume(f->srv.flood_owner->s);
    py_line(f, &f->py, line, sizeof(line));
    assert_string_equal(line, "sent all");
    py_line(f, &f->py, line, sizeof(line));
    assert_string_equal(line, "ok");
    py_finish(f, &f->py);
    run_until_ended(f, 1);
    assert_int_equal(f->srv.flood_bytes, 16u << 20);
    assert_int_equal(f->srv.flood_bad, 0);
}

static void test_early_frames(void **state)
{
    struct fx *f = *state;
    static const uint8_t key[4] = {1, 2, 3, 4};
    const char *paths[] = {"/echo", "/park"};

    /* A client that sends a frame in the same write as its request (it
     * should wait for the 101): the frame is kept and echoed after the 101,
     * whether the HTTP layer passes it as rest or parks it later. */
    for (int i = 0; i < 2; i++) {
        char req[512];
        uint8_t fr[16];
        struct raw r;
        int n = snprintf(req, sizeof(req),
                         "GET %s HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
                         "Connection: Upgrade\r\nSec-WebSocket-Key: " TEST_KEY "\r\n"
                         "Sec-WebSocket-Version: 13\r\nOrigin: http://h8s.test\r\n\r\n",
                         paths[i]);
        fr[0] = 0x81;
        fr[1] = 0x80 | 5;
        memcpy(fr + 2, key, 4);
        ws_frame_mask(fr + 6, (const uint8_t *)"early", 5, key, 0);
        memcpy(req + n, fr, 11);
        raw_open(f, &r);
        raw_send(&r, req, (size_t)n + 11);
        assert_true(raw_wait(f, &r, have_head));
        raw_drop_head(&r);
        assert_true(raw_wait(f, &r, have_echo));
        assert_int_equal(r.buf[0], 0x81);
        assert_int_equal(r.buf[1], 5);
        assert_memory_equal(r.buf + 2, "early", 5);
        close(r.fd);
    }
    run_until_ended(f, 2);
}

static void test_client_gone(void **state)
{
    struct fx *f = *state;
    struct raw r;
    (void)state;

    /* Gone after the 101. */
    raw_open(f, &r);
    assert_int_equal(raw_handshake(f, &r, "/echo", "13"), 101);
    close(r.fd);
    run_until_ended(f, 1);
    assert_int_equal(f->srv.end_errs_gone, 1);
    /* Gone while the open is pending: reported before any accept. */
    static const char slow_req[] =
        "GET /slow HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: " TEST_KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n";
    raw_open(f, &r);
    raw_send(&r, slow_req, sizeof(slow_req) - 1);
    run_for(f, 50);
    assert_int_equal(f->srv.started, 2);
    close(r.fd);
    run_until_ended(f, 2);
    assert_int_equal(f->srv.end_errs_gone, 2);
}

static void test_keepalive(void **state)
{
    struct fx *f = *state;
    char line[64];
    struct raw r;
    uint64_t t0;
    REQUIRE_PYTHON(f);

    f->srv.cfg.ping_interval_ms = 100;
    /* A live client answers our pings: still there after 6 intervals. */
    py_start(f, &f->py, "idle", NULL);
    py_line(f, &f->py, line, sizeof(line));
    assert_string_equal(line, "ok");
    py_finish(f, &f->py);
    run_until_ended(f, 1);
    assert_int_equal(f->srv.end_errs_gone, 0);
    /* A client that never answers is dropped after two intervals. */
    raw_open(f, &r);
    assert_int_equal(raw_handshake(f, &r, "/echo", "13"), 101);
    t0 = lh_mono_ms();
    run_until_ended(f, 2);
    assert_true(lh_mono_ms() - t0 < 2000);
    assert_int_equal(f->srv.end_errs_gone, 1);
    raw_drop_head(&r);
    raw_wait(f, &r, have_eof);
    /* It got our ping first. */
    assert_true(r.len >= 2 && r.buf[0] == 0x89);
    close(r.fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_echo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_violations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_both_ways, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flow_control, setup, teardown),
        cmocka_unit_test_setup_teardown(test_early_frames, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_gone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keepalive, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
