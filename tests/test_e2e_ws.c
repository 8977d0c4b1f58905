/*
 * tests/test_e2e_ws.c — WebSockets through the real daemons: build/h8sd and
 * build/h8srd as child processes, a real nats-server, and python3-websockets
 * (an implementation independent of ours) as the client
 * (tests/support/ws_client.py) and as the app (tests/support/ws_backend.py).
 *
 * The app, the agent and NATS live for the whole group; each test starts
 * its own gateway, so the SIGTERM test can end one. Every wait is bounded.
 * Skipped (not failed) when /usr/bin/python3 cannot import websockets.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/agtest.h"
#include "tests/support/gwproc.h"
#include "tests/support/httpc.h"
#include "tests/support/natsd.h"
#include "tests/support/pychild.h"
#include "tests/support/rawsock.h"

#define LINE_MS 20000
#define ORIGINS "--allowed-origins=http://h8s.test,https://h8s.test"

/* hex of the close reasons ws_client.py and ws_backend.py use */
#define CLIENT_BYE_HEX "636c69656e742062796520e29c93" /* "client bye ✓" */
#define SERVER_BYE_HEX "73657276657220627965"         /* "server bye" */

struct fx {
    int have_python;
    struct natsd *natsd;
    struct pychild app;
    char app_port[8];
    struct agtest_proc agent;
    struct gwproc gw;
};

static int group_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    char line[64], backend[64];

    if (f == NULL)
        return -1;
    *state = f;
    f->app.in = f->app.out = -1;
    f->have_python = pychild_available();
    if (!f->have_python)
        return 0;
    if (natsd_start(&f->natsd, NULL) != 0)
        return -1;
    if (pychild_start(&f->app, "ws_backend.py", NULL) != 0 ||
        pychild_line(&f->app, line, sizeof(line), 10000) != 1)
        return -1;
    snprintf(f->app_port, sizeof(f->app_port), "%d", atoi(line));
    snprintf(backend, sizeof(backend), "--backend-url=http://127.0.0.1:%s", f->app_port);
    const char *args[] = {"--hostname=127.0.0.1", backend, "--ws-max-message=4MiB", NULL};
    return agtest_agent_start(&f->agent, natsd_url(f->natsd), args, true) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
    struct fx *f = *state;
    if (f->agent.pid > 0)
        agtest_proc_stop(&f->agent, SIGTERM, 5000);
    pychild_stop(&f->app, 5000);
    if (f->natsd)
        natsd_stop(f->natsd);
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

static void gw_start(struct fx *f)
{
    const char *extra[] = {ORIGINS, "--ws-max-message=4MiB", NULL};
    assert_int_equal(gwproc_start(&f->gw, natsd_url(f->natsd), extra), 0);
}

/* The status h8sd answers an upgrade request with (Host host, extra
 * fields "Name: value\r\n..."), or a negative errno. */
static int upgrade_status(struct fx *f, const char *host, const char *extra)
{
    char req[1024];
    struct httpc_resp r;
    snprintf(req, sizeof(req),
             "GET /echo HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n%s\r\n",
             host, extra);
    int rc = httpc_once(f->gw.port, req, &r, 0, 5000);
    int st = rc == 1 ? r.status : rc < 0 ? rc : -EPROTO;
    httpc_resp_free(&r);
    return st;
}

static int test_teardown(void **state)
{
    struct fx *f = *state;
    if (f->gw.pid > 0)
        gwproc_stop(&f->gw);
    memset(&f->gw, 0, sizeof(f->gw));
    return 0;
}

/* Runs ws_client.py scenario against the gateway; its first line in *line. */
static void client_start(struct fx *f, struct pychild *c, const char *scenario, const char *arg)
{
    char port[8];
    snprintf(port, sizeof(port), "%u", f->gw.port);
    const char *args[] = {scenario, port, arg, NULL};
    assert_int_equal(pychild_start(c, "ws_client.py", args), 0);
}

static void client_line(struct fx *f, struct pychild *c, char *line, size_t cap)
{
    int rc = pychild_line(c, line, cap, LINE_MS);
    if (rc != 1) {
        gwproc_dump_log(&f->gw);
        agtest_log_dump(&f->agent);
    }
    assert_int_equal(rc, 1);
}

static void run_client(struct fx *f, const char *scenario, const char *expect)
{
    struct pychild c = {.in = -1, .out = -1};
    char line[256];
    client_start(f, &c, scenario, NULL);
    client_line(f, &c, line, sizeof(line));
    assert_string_equal(line, expect);
    assert_int_equal(pychild_stop(&c, 10000), 0);
}

/* The app's next "closed <path> ..." line for path, within LINE_MS. */
static void app_closed(struct fx *f, const char *path, char *line, size_t cap)
{
    char want[64];
    int n = snprintf(want, sizeof(want), "closed %s ", path);
    for (int i = 0; i < 32; i++) {
        assert_int_equal(pychild_line(&f->app, line, cap, LINE_MS), 1);
        if (strncmp(line, want, (size_t)n) == 0)
            return;
    }
    fail_msg("no \"%s\" line from the app", want);
}

/* Text and binary echo of every length form and a 1 MiB message, a
 * fragmented message with a ping inside, subprotocol and Set-Cookie from
 * the app's 101; then the client's Close 4001 with a UTF-8 reason reaches
 * the app, and the app's answer (the same code and reason) the client. */
static void test_echo_and_client_close(void **state)
{
    struct fx *f = *state;
    char line[256];
    REQUIRE_PYTHON(f);
    gw_start(f);
    run_client(f, "echo", "ok 4001 " CLIENT_BYE_HEX);
    app_closed(f, "/echo", line, sizeof(line));
    assert_string_equal(line, "closed /echo 4001 " CLIENT_BYE_HEX);
    assert_true(gwproc_log_wait(&f->gw, "event=ws_tunnel_end", 5000));
}

/* The app closes with 4002 "server bye": the client gets both. */
static void test_app_close(void **state)
{
    struct fx *f = *state;
    REQUIRE_PYTHON(f);
    gw_start(f);
    run_client(f, "server-close", "closed 4002 " SERVER_BYE_HEX);
}

/* The app answers 403 instead of 101: the client gets that 403 and the
 * app's own header, never an open-then-close. */
static void test_app_refuses(void **state)
{
    struct fx *f = *state;
    REQUIRE_PYTHON(f);
    gw_start(f);
    run_client(f, "refuse", "rejected 403 nope");
}

/* An Origin not in --allowed-origins: 403 from the gateway itself. */
static void test_allowed_origins(void **state)
{
    struct fx *f = *state;
    REQUIRE_PYTHON(f);
    gw_start(f);
    run_client(f, "origin", "rejected 403 -");
    assert_true(gwproc_log_wait(&f->gw, "event=ws_tunnel_refused", 1) == 0);
}

/* A client that sends its first frame in the same write as the head (no
 * wait for the 101): the bytes after the head reach the session and are
 * relayed once the app accepted. */
static void test_frame_with_head(void **state)
{
    struct fx *f = *state;
    static const uint8_t mask[4] = {0x11, 0x22, 0x33, 0x44};
    char out[512];
    struct rawsock_buf b;
    int err = 0;
    REQUIRE_PYTHON(f);
    gw_start(f);
    int n = snprintf(out, sizeof(out),
                     "GET /echo HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\nOrigin: http://h8s.test\r\n\r\n",
                     f->gw.port);
    assert_true(n > 0 && (size_t)n + 11 < sizeof(out));
    /* A masked text frame "early": FIN + text, MASK + 5, key, payload. */
    out[n++] = (char)0x81;
    out[n++] = (char)0x85;
    memcpy(out + n, mask, 4);
    n += 4;
    for (int i = 0; i < 5; i++)
        out[n++] = (char)("early"[i] ^ mask[i % 4]);
    int fd = rawsock_connect(f->gw.port, 5000);
    assert_true(fd >= 0);
    rawsock_buf_reset(&b);
    assert_int_equal(rawsock_send(fd, out, (size_t)n), 0);
    const char *end = rawsock_read_until(fd, &b, "\r\n\r\n", LINE_MS, &err);
    assert_non_null(end);
    assert_memory_equal(b.buf, "HTTP/1.1 101 ", 13);
    assert_non_null(strstr(b.buf, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    /* The echo: unmasked FIN + text, length 5. */
    assert_non_null(rawsock_read_until(fd, &b, "\x81\x05" "early", LINE_MS, &err));
    close(fd);
}

/* --authorization-key and --host-filters apply to upgrades as to HTTP
 * requests: 403 before any tunnel; a request that passes them reaches the
 * WebSocket handshake check (here: a wrong version, 426). */
static void test_gateway_checks(void **state)
{
    struct fx *f = *state;
    const char *extra[] = {"--authorization-key=sekret", "--host-filters=127.0.0.1", NULL};
    REQUIRE_PYTHON(f);
    assert_int_equal(gwproc_start(&f->gw, natsd_url(f->natsd), extra), 0);
    assert_int_equal(upgrade_status(f, "127.0.0.1", "Sec-WebSocket-Version: 13\r\n"), 403);
    assert_int_equal(upgrade_status(f, "127.0.0.1",
                                    "Authorization: wrong\r\nSec-WebSocket-Version: 13\r\n"),
                     403);
    assert_int_equal(upgrade_status(f, "other.test",
                                    "Authorization: sekret\r\nSec-WebSocket-Version: 13\r\n"),
                     403);
    assert_int_equal(upgrade_status(f, "127.0.0.1",
                                    "Authorization: sekret\r\nSec-WebSocket-Version: 8\r\n"),
                     426);
    assert_int_equal(gwproc_log_has(&f->gw, "event=ws_tunnel"), 0);
}

/* SIGTERM to h8sd: every open WebSocket is closed with 1001 and the
 * gateway exits 0 without waiting for the drain timeout. */
static void test_sigterm_closes_1001(void **state)
{
    struct fx *f = *state;
    struct pychild c = {.in = -1, .out = -1};
    char line[256];
    REQUIRE_PYTHON(f);
    gw_start(f);
    client_start(f, &c, "hold", "3");
    client_line(f, &c, line, sizeof(line));
    assert_string_equal(line, "open 3");
    assert_int_equal(gwproc_signal(&f->gw, SIGTERM), 0);
    client_line(f, &c, line, sizeof(line));
    assert_string_equal(line, "closed 1001 3");
    assert_int_equal(pychild_stop(&c, 10000), 0);
    assert_int_equal(gwproc_wait(&f->gw, 8000), 0);
    assert_true(WIFEXITED(f->gw.exit_status));
    assert_int_equal(WEXITSTATUS(f->gw.exit_status), 0);
    assert_int_equal(gwproc_log_has(&f->gw, "event=drain_timeout"), 0);
    /* The agent was told: its app connections closed too. */
    for (int i = 0; i < 3; i++)
        app_closed(f, "/echo", line, sizeof(line));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_echo_and_client_close, test_teardown),
        cmocka_unit_test_teardown(test_app_close, test_teardown),
        cmocka_unit_test_teardown(test_app_refuses, test_teardown),
        cmocka_unit_test_teardown(test_allowed_origins, test_teardown),
        cmocka_unit_test_teardown(test_frame_with_head, test_teardown),
        cmocka_unit_test_teardown(test_gateway_checks, test_teardown),
        cmocka_unit_test_teardown(test_sigterm_closes_1001, test_teardown),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
