/*
 * tests/test_ws_interop.c — our codec against an independent RFC 6455
 * implementation (python3-websockets), over loopback, both directions.
 *
 *   client: we connect to a python echo server, handshake with
 *           ws_handshake_client_*, and exchange text, binary (all length
 *           forms), a fragmented text message split inside a code point with
 *           a ping between the fragments, then a close with code and reason.
 *   server: a python client connects to a tiny blocking server built on
 *           ws_handshake_server_* and the parser in copy mode; it echoes what
 *           it gets (large messages fragmented, with a ping in between) and
 *           the python side checks every echo, the subprotocol and that no
 *           extension was accepted. A second client with a foreign Origin
 *           must get 403.
 *
 * Every wait is bounded (socket timeouts, poll, the child is killed after a
 * deadline). Skips with a message when /usr/bin/python3 cannot import
 * websockets.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "proto/ws_frame.h"
#include "proto/ws_handshake.h"
#include "tests/support/ws_test_http.h"

#define PYTHON "/usr/bin/python3"
#define IO_TIMEOUT_S 10
#define CHILD_TIMEOUT_MS 40000
#define MAX_MESSAGE (1u << 20)

/* ------------------------------------------------------ python scripts */

static const char echo_server_py[] =
    "import asyncio, websockets\n"
    "async def main():\n"
    "    done = asyncio.get_running_loop().create_future()\n"
    "    async def echo(ws):\n"
    "        try:\n"
    "            async for msg in ws:\n"
    "                await ws.send(msg)\n"
    "        except websockets.ConnectionClosed:\n"
    "            pass\n"
    "        if not done.done():\n"
    "            done.set_result((ws.close_code, ws.close_reason, ws.subprotocol))\n"
    "    async with websockets.serve(echo, '127.0.0.1', 0, subprotocols=['h8s.v1'],\n"
    "                                max_size=1 << 20) as server:\n"
    "        print(server.sockets[0].getsockname()[1], flush=True)\n"
    "        code, reason, proto = await asyncio.wait_for(done, 30)\n"
    "    print('closed', code, reason.encode().hex(), proto, flush=True)\n"
    "asyncio.run(main())\n";

static const char client_py[] =
    "import asyncio, os, sys, websockets\n"
    "async def echo():\n"
    "    uri = 'ws://127.0.0.1:%s/tunnel' % sys.argv[1]\n"
    "    async with websockets.connect(uri, subprotocols=['h8s.v2', 'h8s.v1'],\n"
    "                                  origin='http://h8s.test', max_size=1 << 20,\n"
    "                                  open_timeout=10, close_timeout=10) as ws:\n"
    "        assert ws.subprotocol == 'h8s.v1', ws.subprotocol\n"
    "        assert ws.extensions == [], ws.extensions\n"
    "        assert 'Sec-WebSocket-Extensions' not in ws.response_headers\n"
    "        msgs = ['hello', '\\u03ba\\u1f79\\u03c3\\u03bc\\u03b5 \\u2713', b'', '',\n"
    "                os.urandom(125), os.urandom(126), os.urandom(65535),\n"
    "                os.urandom(65536), os.urandom(300000), 'x' * 70000]\n"
    "        for m in msgs:\n"
    "            await ws.send(m)\n"
    "            r = await asyncio.wait_for(ws.recv(), 10)\n"
    "            assert r == m, (type(m), len(m), len(r))\n"
    "        await ws.send(['frag', 'men', 't\\u00e9d'])\n"
    "        assert await asyncio.wait_for(ws.recv(), 10) == 'fragment\\u00e9d'\n"
    "        await asyncio.wait_for(await ws.ping(b'are you there?'), 10)\n"
    "        await ws.close(code=4002, reason='done \\u2713')\n"
    "    print('ok', ws.close_code, ws.close_reason.encode().hex(), flush=True)\n"
    "async def evil():\n"
    "    uri = 'ws://127.0.0.1:%s/tunnel' % sys.argv[1]\n"
    "    try:\n"
    "        async with websockets.connect(uri, origin='http://evil.test', open_timeout=10):\n"
    "            print('accepted', flush=True)\n"
    "    except websockets.InvalidStatusCode as e:\n"
    "        print('rejected', e.status_code, flush=True)\n"
    "asyncio.run(asyncio.wait_for(echo() if sys.argv[2] == 'echo' else evil(), 30))\n";

/* ------------------------------------------------------- child process */

struct child {
    pid_t pid;
    int out; /* read end of the child's stdout */
};

static void child_start(struct child *c, const char *script, const char *a1, const char *a2)
{
    int fds[2];

    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    c->pid = fork();
    assert_true(c->pid >= 0);
    if (c->pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        execl(PYTHON, "python3", "-c", script, a1, a2, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    c->out = fds[0];
}

/* Exit status of the child, waiting at most timeout_ms, then killing it. */
static int child_wait(struct child *c, int timeout_ms)
{
    int status = 0;

    for (int waited = 0; c->pid > 0; waited += 20) {
        pid_t r = waitpid(c->pid, &status, WNOHANG);
        if (r == c->pid) {
            c->pid = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        if (waited >= timeout_ms) {
            kill(c->pid, SIGKILL);
            waitpid(c->pid, &status, 0);
            c->pid = 0;
            return -1;
        }
        nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
    }
    return -1;
}

static void child_cleanup(struct child *c)
{
    if (c->pid > 0) {
        kill(c->pid, SIGKILL);
        waitpid(c->pid, NULL, 0);
        c->pid = 0;
    }
    if (c->out >= 0)
        close(c->out);
    c->out = -1;
}

/* One line of the child's stdout (without the newline), bounded in time. */
static void child_line(struct child *c, char *buf, size_t cap)
{
    size_t n = 0;

    for (;;) {
        struct pollfd pfd = {c->out, POLLIN, 0};
        char ch;
        assert_true(poll(&pfd, 1, IO_TIMEOUT_S * 1000) == 1);
        assert_int_equal(read(c->out, &ch, 1), 1);
        if (ch == '\n')
            break;
        assert_true(n + 1 < cap);
        buf[n++] = ch;
    }
    buf[n] = '\0';
}

static int python_websockets_available(void)
{
    struct child c = {0, -1};
    pid_t pid;
    int status;

    if (access(PYTHON, X_OK) != 0)
        return 0;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, STDERR_FILENO);
        execl(PYTHON, "python3", "-c", "import websockets", (char *)NULL);
        _exit(127);
    }
    c.pid = pid;
    status = child_wait(&c, 20000);
    return status == 0;
}

#define REQUIRE_PYTHON()                                                                           \
    do {                                                                                           \
        if (!python_websockets_available()) {                                                      \
            print_message("skipped: " PYTHON " cannot import websockets "                          \
                          "(install python3-websockets)\n");                                       \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

/* ------------------------------------------------------------ sockets */

static void set_timeouts(int fd)
{
    struct timeval tv = {IO_TIMEOUT_S, 0};
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), 0);
}

static struct sockaddr_in loopback(unsigned port)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sa;
}

static void send_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t r = send(fd, b, n, MSG_NOSIGNAL);
        assert_true(r > 0);
        b += r;
        n -= (size_t)r;
    }
}

/* ---------------------------------------------------------- a peer */

struct peer {
    int fd;
    enum ws_frame_role role;
    int copy_mode; /* parse with feed_copy straight into msg */
    struct ws_frame_parser p;
    uint8_t rbuf[16384];
    size_t rpos, rlen;
    uint8_t *msg; /* MAX_MESSAGE bytes */
    size_t msg_len;
    unsigned msg_op;
};

static void peer_init(struct peer *c, int fd, enum ws_frame_role role, int copy_mode)
{
    memset(c, 0, sizeof(*c));
    c->fd = fd;
    c->role = role;
    c->copy_mode = copy_mode;
    ws_frame_parser_init(&c->p, role, MAX_MESSAGE);
    c->msg = malloc(MAX_MESSAGE);
    assert_non_null(c->msg);
}

static void peer_free(struct peer *c)
{
    free(c->msg);
    c->msg = NULL;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

/* Reads the HTTP head into rbuf; bytes after it stay there for frames. */
static void peer_read_head(struct peer *c, struct ws_test_http *h, int is_request)
{
    int r;

    while ((r = ws_test_http_parse(h, is_request, (const char *)c->rbuf, c->rlen)) == 0) {
        ssize_t n;
        assert_true(c->rlen < sizeof(c->rbuf));
        n = recv(c->fd, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen, 0);
        assert_true(n > 0);
        c->rlen += (size_t)n;
    }
    assert_int_equal(r, 1);
    c->rpos = h->head_len;
}

/*
 * Returns the next message (WS_EV_MESSAGE_END, payload in c->msg) or
 * control frame (PING, PONG, CLOSE; payload valid until the next call).
 */
static void peer_next(struct peer *c, struct ws_frame_event *out)
{
    for (;;) {
        struct ws_frame_event ev;
        size_t used;

        if (c->copy_mode)
            used = ws_frame_parser_feed_copy(&c->p, c->rbuf + c->rpos, c->rlen - c->rpos,
                                             c->msg + c->msg_len, MAX_MESSAGE - c->msg_len, &ev);
        else
            used = ws_frame_parser_feed(&c->p, c->rbuf + c->rpos, c->rlen - c->rpos, &ev);
        c->rpos += used;
        switch (ev.type) {
        case WS_EV_NONE: {
            ssize_t n;
            assert_int_equal(c->rpos, c->rlen);
            c->rpos = c->rlen = 0;
            n = recv(c->fd, c->rbuf, sizeof(c->rbuf), 0);
            assert_true(n > 0);
            c->rlen = (size_t)n;
            break;
        }
        case WS_EV_FRAME:
            if (ev.first) {
                c->msg_len = 0;
                c->msg_op = ev.opcode;
            }
            assert_true(ev.length <= MAX_MESSAGE - c->msg_len);
            break;
        case WS_EV_DATA:
            if (c->copy_mode)
                assert_ptr_equal(ev.data.p, c->msg + c->msg_len);
            else
                memcpy(c->msg + c->msg_len, ev.data.p, ev.data.n);
            c->msg_len += ev.data.n;
            break;
        case WS_EV_ERROR:
            fail_msg("peer sent an invalid stream: %u %.*s", ev.code, (int)ev.data.n,
                     (const char *)ev.data.p);
            break;
        default:
            if (ev.type == WS_EV_MESSAGE_END)
                assert_int_equal(ev.length, c->msg_len);
            *out = ev;
            return;
        }
    }
}

static void peer_send(struct peer *c, unsigned op, int fin, const void *pl, size_t n)
{
    uint8_t key[4], *buf = malloc(WS_FRAME_HEADER_MAX + n);
    int masked = c->role == WS_FRAME_CLIENT;
    size_t hl;

    assert_non_null(buf);
    randombytes_buf(key, sizeof(key));
    hl = ws_frame_header_encode(buf, op, fin, n, masked ? key : NULL);
    assert_true(hl >= 2);
    if (masked)
        ws_frame_mask(buf + hl, pl, n, key, 0);
    else if (n)
        memcpy(buf + hl, pl, n);
    send_all(c->fd, buf, hl + n);
    free(buf);
}

static void peer_expect_message(struct peer *c, unsigned op, const void *pl, size_t n)
{
    struct ws_frame_event ev;

    peer_next(c, &ev);
    assert_int_equal(ev.type, WS_EV_MESSAGE_END);
    assert_int_equal(ev.opcode, op);
    assert_int_equal(c->msg_len, n);
    if (n)
        assert_memory_equal(c->msg, pl, n);
}

/* ------------------------------------------------------------- fixture */

struct fixture {
    struct child child;
    struct peer peer;
    int listen_fd;
};

static int fixture_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    f->child.out = -1;
    f->peer.fd = -1;
    f->listen_fd = -1;
    *state = f;
    return sodium_init() < 0 ? -1 : 0;
}

static int fixture_teardown(void **state)
{
    struct fixture *f = *state;
    child_cleanup(&f->child);
    peer_free(&f->peer);
    if (f->listen_fd >= 0)
        close(f->listen_fd);
    free(f);
    return 0;
}

/* -------------------------------------------------- we are the client */

static void test_client_against_python_server(void **state)
{
    struct fixture *f = *state;
    struct peer *c = &f->peer;
    const struct span protos[] = {SPAN_LIT("other"), SPAN_LIT("h8s.v1")};
    static const size_t sizes[] = {0, 125, 126, 65535, 65536, 100000};
    struct ws_handshake_client hc = {{0}, SPAN_LIT("/echo"), {0}, protos, 2, NULL, 0};
    char line[256], host[32], req[512], key[WS_HANDSHAKE_KEY_LEN + 1];
    uint8_t nonce[WS_HANDSHAKE_NONCE_LEN], cp[WS_FRAME_CONTROL_MAX];
    struct ws_test_http head;
    struct ws_frame_event ev;
    struct span chosen;
    struct sockaddr_in sa;
    unsigned port;
    int fd, n, got_pong = 0, got_msg = 0;

    REQUIRE_PYTHON();
    child_start(&f->child, echo_server_py, NULL, NULL);
    child_line(&f->child, line, sizeof(line));
    assert_int_equal(sscanf(line, "%u", &port), 1);

    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    set_timeouts(fd);
    sa = loopback(port);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    peer_init(c, fd, WS_FRAME_CLIENT, 0);

    /* Handshake. */
    snprintf(host, sizeof(host), "127.0.0.1:%u", port);
    hc.host = span_cstr(host);
    randombytes_buf(nonce, sizeof(nonce));
    n = ws_handshake_client_request(req, sizeof(req), &hc, nonce, key);
    assert_true(n > 0);
    send_all(fd, req, (size_t)n);
    peer_read_head(c, &head, 0);
    assert_int_equal(ws_handshake_client_check(&head.head, span_cstr(key), protos, 2, &chosen), 0);
    assert_true(span_eq(chosen, SPAN_LIT("h8s.v1")));

    /* Text, then binary in every length form. */
    peer_send(c, WS_OP_TEXT, 1, "hello", 5);
    peer_expect_message(c, WS_OP_TEXT, "hello", 5);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        uint8_t *pl = malloc(sizes[i] + 1);
        assert_non_null(pl);
        randombytes_buf(pl, sizes[i]);
        peer_send(c, WS_OP_BINARY, 1, pl, sizes[i]);
        peer_expect_message(c, WS_OP_BINARY, pl, sizes[i]);
        free(pl);
    }
    peer_send(c, WS_OP_TEXT, 1, "", 0);
    peer_expect_message(c, WS_OP_TEXT, "", 0);

    /* Fragmented text, cut inside U+00E9, with a ping between fragments. */
    peer_send(c, WS_OP_TEXT, 0, "frag", 4);
    peer_send(c, WS_OP_PING, 1, "are you there?", 14);
    peer_send(c, WS_OP_CONT, 0, "men", 3);
    peer_send(c, WS_OP_CONT, 0, "t\xc3", 2);
    peer_send(c, WS_OP_CONT, 1,
              "\xa9"
              "d",
              2);
    while (!got_pong || !got_msg) {
        peer_next(c, &ev);
        if (ev.type == WS_EV_PONG) {
            assert_true(span_eq(ev.data, SPAN_LIT("are you there?")));
            got_pong = 1;
        } else {
            assert_int_equal(ev.type, WS_EV_MESSAGE_END);
            assert_int_equal(ev.opcode, WS_OP_TEXT);
            assert_int_equal(c->msg_len, 11);
            assert_memory_equal(c->msg,
                                "fragment\xc3\xa9"
                                "d",
                                11);
            got_msg = 1;
        }
    }

    /* Close with a code and a UTF-8 reason; the server echoes both. */
    n = ws_frame_close_payload(cp, 4001, (const uint8_t *)"bye \xe2\x9c\x93", 7);
    assert_int_equal(n, 9);
    peer_send(c, WS_OP_CLOSE, 1, cp, (size_t)n);
    peer_next(c, &ev);
    assert_int_equal(ev.type, WS_EV_CLOSE);
    assert_int_equal(ev.code, 4001);
    assert_true(span_eq(ev.data, SPAN_LIT("bye \xe2\x9c\x93")));
    peer_free(c);

    child_line(&f->child, line, sizeof(line));
    assert_string_equal(line, "closed 4001 62796520e29c93 h8s.v1");
    assert_int_equal(child_wait(&f->child, CHILD_TIMEOUT_MS), 0);
}

/* -------------------------------------------------- we are the server */

static int listen_loopback(unsigned *port)
{
    struct sockaddr_in sa = loopback(0);
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static int accept_bounded(int lfd)
{
    struct pollfd pfd = {lfd, POLLIN, 0};
    int fd;

    assert_int_equal(poll(&pfd, 1, IO_TIMEOUT_S * 1000), 1);
    fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    assert_true(fd >= 0);
    set_timeouts(fd);
    return fd;
}

/* Reads and answers the upgrade request; returns the status sent. */
static unsigned serve_handshake(struct peer *c)
{
    const struct span origins[] = {SPAN_LIT("http://h8s.test")};
    const struct ws_handshake_server_config cfg = {origins, 1, 1};
    struct ws_handshake_server hs;
    struct ws_test_http head;
    struct span chosen = {0};
    char resp[512];
    int n;

    peer_read_head(c, &head, 1);
    if (ws_handshake_server_check(&hs, &head.head, &cfg) == 101) {
        /* The backend's choice: h8s.v1 when offered. */
        for (size_t i = 0; i < hs.nprotocols; i++)
            if (span_eq(hs.protocols[i], SPAN_LIT("h8s.v1")))
                chosen = hs.protocols[i];
        assert_int_equal(ws_handshake_server_select(&hs, chosen), 0);
    }
    n = ws_handshake_server_response(resp, sizeof(resp), &hs, chosen);
    assert_true(n > 0);
    send_all(c->fd, resp, (size_t)n);
    return hs.status;
}

static void test_server_against_python_client(void **state)
{
    struct fixture *f = *state;
    struct peer *c = &f->peer;
    struct ws_frame_event ev;
    char line[256], portstr[16];
    unsigned port, echoed = 0, pongs = 0, pings_sent = 0;
    uint8_t cp[WS_FRAME_CONTROL_MAX];

    REQUIRE_PYTHON();
    f->listen_fd = listen_loopback(&port);
    snprintf(portstr, sizeof(portstr), "%u", port);
    child_start(&f->child, client_py, portstr, "echo");
    peer_init(c, accept_bounded(f->listen_fd), WS_FRAME_SERVER, 1);
    assert_int_equal(serve_handshake(c), 101);

    for (;;) {
        peer_next(c, &ev);
        if (ev.type == WS_EV_MESSAGE_END) {
            /* Large echoes go back in three fragments with a ping between
             * the first two, so the peer reassembles and answers. */
            if (c->msg_len > 1000) {
                size_t a = c->msg_len / 3, b = 2 * c->msg_len / 3;
                peer_send(c, c->msg_op, 0, c->msg, a);
                peer_send(c, WS_OP_PING, 1, "hb", 2);
                pings_sent++;
                peer_send(c, WS_OP_CONT, 0, c->msg + a, b - a);
                peer_send(c, WS_OP_CONT, 1, c->msg + b, c->msg_len - b);
            } else {
                peer_send(c, c->msg_op, 1, c->msg, c->msg_len);
            }
            echoed++;
        } else if (ev.type == WS_EV_PING) {
            peer_send(c, WS_OP_PONG, 1, ev.data.p, ev.data.n);
        } else if (ev.type == WS_EV_PONG) {
            assert_true(span_eq(ev.data, SPAN_LIT("hb")));
            pongs++;
        } else {
            assert_int_equal(ev.type, WS_EV_CLOSE);
            assert_int_equal(ev.code, 4002);
            assert_true(span_eq(ev.data, SPAN_LIT("done \xe2\x9c\x93")));
            assert_int_equal(ws_frame_close_payload(cp, ev.code, ev.data.p, ev.data.n),
                             2 + (int)ev.data.n);
            peer_send(c, WS_OP_CLOSE, 1, cp, 2 + ev.data.n);
            break;
        }
    }
    assert_int_equal(echoed, 11);
    /* Four messages are large. The client answers each ping before it can
     * see the message it interrupts, hence before it sends anything else. */
    assert_int_equal(pings_sent, 4);
    assert_int_equal(pongs, pings_sent);
    peer_free(c);

    child_line(&f->child, line, sizeof(line));
    assert_string_equal(line, "ok 4002 646f6e6520e29c93");
    assert_int_equal(child_wait(&f->child, CHILD_TIMEOUT_MS), 0);
}

static void test_server_refuses_foreign_origin(void **state)
{
    struct fixture *f = *state;
    char line[256], portstr[16];
    unsigned port;

    REQUIRE_PYTHON();
    f->listen_fd = listen_loopback(&port);
    snprintf(portstr, sizeof(portstr), "%u", port);
    child_start(&f->child, client_py, portstr, "evil");
    peer_init(&f->peer, accept_bounded(f->listen_fd), WS_FRAME_SERVER, 1);
    assert_int_equal(serve_handshake(&f->peer), 403);
    peer_free(&f->peer);
    child_line(&f->child, line, sizeof(line));
    assert_string_equal(line, "rejected 403");
    assert_int_equal(child_wait(&f->child, CHILD_TIMEOUT_MS), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_client_against_python_server, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_server_against_python_client, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_server_refuses_foreign_origin, fixture_setup,
                                        fixture_teardown),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
