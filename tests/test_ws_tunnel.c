/*
 * tests/test_ws_tunnel.c — WebSockets end to end through NATS
 * (docs/PROTOCOL.md §7): python3-websockets client -> gateway side
 * (gw_ws_tunnel) -> nats-server -> agent side (ag_ws_tunnel, in its own
 * process) -> python3-websockets app, and back.
 *
 * The gateway side runs on this test's loop behind a tiny HTTP listener
 * that plays the gateway's HTTP layer (parse the head, map the subject,
 * hand over the upgrade). Each agent is a forked process with its own loop
 * and NATS connection, subscribed in the queue group as h8srd will be, so
 * "agent killed" is a real SIGKILL. Everything listens on 127.0.0.1.
 *
 * Covered: echo of text, binary, 1 MiB, empty and fragmented messages
 * with pings between fragments, subprotocol and the app's 101 headers,
 * Close code and reason both ways; the app's 403 reaching the client; a
 * foreign Origin refused; no agent -> 503; flow control end to end (an app
 * that does not read stalls the client, then everything arrives); 1,000
 * concurrent connections each echoing its own traffic; two agents in a
 * queue group: opens spread, every connection pinned (no message for a
 * tunnel an agent does not know); an agent killed -> its clients closed
 * with 1011 within seconds; a client breaking the protocol closed with
 * 1002 while another client with the very same Sec-WebSocket-Key keeps
 * its own traffic, and the app told 1001.
 *
 * The agent/ and gateway/ modules are compiled in here (the Makefile
 * links tests with libh8s.a only).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/loop.h"
#include "core/rand.h"
#include "proto/h8s_ws_relay.h"
#include "proto/nats_client.h"
#include "proto/subject.h"
#include "tests/support/loop_harness.h"
#include "tests/support/natsd.h"
#include "tests/support/natstest.h"
#include "tests/support/pychild.h"
#include "tests/support/ws_test_http.h"

#include "agent/ag_ws_backend.c"
#include "agent/ag_ws_tunnel.c"
#include "gateway/gw_ws_session.c"
#include "gateway/gw_ws_tunnel.c"

#define WAIT_MS 30000
#define MAX_MESSAGE (2u << 20)
#define NBUCKETS 4096
#define QUEUE "h8s-agents"
#define TEST_KEY "dGhlIHNhbXBsZSBub25jZQ=="

/* ------------------------------------------------------------- agent */

/* The agent process: everything h8srd does for WebSockets. */
struct agent {
    struct loop *l;
    struct nats_client *nc;
    struct h8s_ws_relays relays;
    struct h8s_ws_relay *buckets[NBUCKETS];
    struct rand_pool rp;
    struct ag_ws_tunnel_config cfg;
    struct ag_ws_tunnel_stats st;
    struct sockaddr_storage app;
    unsigned unknown;
    int out; /* pipe to the test */
    char id[RAND_ID_LEN + 1];
    char host[32];
};

static void agent_say(struct agent *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void agent_say(struct agent *a, const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n > 0 && write(a->out, line, (size_t)n) != n)
        _exit(3);
}

static void agent_on_request(struct nats_client *c, struct nats_sub *sub, const struct nats_msg *m,
                             void *cookie)
{
    struct agent *a = cookie;
    struct h8s_ws_msg msg;
    (void)c;
    (void)sub;
    if (h8s_ws_decode(&msg, m->hdr, m->payload) == 0 && msg.kind == H8S_WS_OPEN)
        (void)ag_ws_tunnel_open(a->l, &a->cfg, m, &a->st);
}

/* The last token of an inbox subject: the connection id. */
static struct span last_token(struct span s)
{
    size_t i = s.n;
    while (i > 0 && s.p[i - 1] != '.')
        i--;
    return span_make(s.p + i, s.n - i);
}

static void agent_on_inbox(struct nats_client *c, struct nats_sub *sub, const struct nats_msg *m,
                           void *cookie)
{
    struct agent *a = cookie;
    struct span id = last_token(m->subject);
    (void)c;
    (void)sub;
    if (h8s_ws_relays_find(&a->relays, id) == NULL)
        a->unknown++;
    h8s_ws_relays_dispatch(&a->relays, id, m);
}

static void agent_on_drained(struct nats_client *c, void *cookie)
{
    (void)c;
    h8s_ws_relays_nats_drained(&((struct agent *)cookie)->relays);
}

static void agent_flushed(struct nats_client *c, int err, void *cookie)
{
    (void)c;
    if (err == 0)
        agent_say(cookie, "ready\n");
}

static void agent_on_signal(struct loop *l, int signo, void *arg)
{
    struct agent *a = arg;
    (void)signo;
    agent_say(a, "stats %llu %llu %llu %u\n", (unsigned long long)a->st.opens,
              (unsigned long long)a->st.accepted, (unsigned long long)a->st.refused, a->unknown);
    loop_stop(l);
}

static const struct nats_client_events agent_events = {.on_drained = agent_on_drained};

static void agent_main(const char *url, uint16_t app_port, const char *id, int out)
{
    static struct agent a; /* the child's only agent */
    struct nats_client_config nc;
    struct loop_config lc;
    uint8_t s1[SUBJECT_HOST_MAX + 16], s2[SUBJECT_HOST_MAX + 16], inbox[SUBJECT_REPLY_MAX];
    size_t n1, n2;
    socklen_t alen;
    char err[256];
    int ni;

    a.out = out;
    snprintf(a.id, sizeof(a.id), "%s", id);
    rand_pool_init(&a.rp);
    loop_config_defaults(&lc);
    lc.max_conns = 2048;
    if (loop_create(&a.l, &lc, err, sizeof(err)) != 0)
        _exit(10);
    nats_client_config_defaults(&nc);
    nc.urls = url;
    nc.name = id;
    nc.events = &agent_events;
    nc.cookie = &a;
    if (nats_client_create(&a.nc, a.l, &nc, err, sizeof(err)) != 0 ||
        nats_client_connect(a.nc) != 0)
        _exit(11);
    h8s_ws_relays_init(&a.relays, a.buckets, NBUCKETS, a.nc);
    lh_loopback(AF_INET, app_port, &a.app, &alen);
    snprintf(a.host, sizeof(a.host), "127.0.0.1:%u", app_port);
    a.cfg.nc = a.nc;
    a.cfg.relays = &a.relays;
    a.cfg.agent_id = span_cstr(a.id);
    a.cfg.rand = &a.rp;
    a.cfg.addr = (const struct sockaddr *)&a.app;
    a.cfg.addrlen = alen;
    a.cfg.host = span_cstr(a.host);
    a.cfg.base_path = SPAN_LIT("");
    a.cfg.backend.max_message = MAX_MESSAGE;
    a.cfg.backend.open_timeout_ms = 5000;
    a.cfg.backend.close_ms = 3000;
    h8s_ws_config_defaults(&a.cfg.relay.tunnel);
    a.cfg.relay.tunnel.max_message = MAX_MESSAGE;
    if (subject_agent_subs(s1, s2, sizeof(s1), SPAN_LIT("127.0.0.1"), &n1, &n2) != 0)
        _exit(12);
    ni = subject_reply_wildcard(inbox, sizeof(inbox), span_cstr(a.id));
    if (ni < 0 ||
        nats_client_subscribe(a.nc, span_make(s1, n1), SPAN_LIT(QUEUE), agent_on_request, &a,
                              NULL) != 0 ||
        nats_client_subscribe(a.nc, span_make(s2, n2), SPAN_LIT(QUEUE), agent_on_request, &a,
                              NULL) != 0 ||
        nats_client_subscribe(a.nc, span_make(inbox, (size_t)ni), span_make(NULL, 0),
                              agent_on_inbox, &a, NULL) != 0)
        _exit(13);
    /* Ready once the server has our subscriptions: a flush after the
     * connection is up (retried until it is). */
    loop_handle_signals(a.l, agent_on_signal, &a);
    for (int i = 0; i < 1000 && nats_client_state(a.nc) != NATS_CLIENT_CONNECTED; i++)
        loop_run_once(a.l, 10);
    if (nats_client_flush(a.nc, 5000, agent_flushed, &a) != 0)
        _exit(14);
    loop_run(a.l);
    _exit(0);
}

struct agent_proc {
    pid_t pid;
    int in; /* read end of the agent's pipe */
};

/* ----------------------------------------------------------- gateway */

struct gw {
    struct loop *l;
    struct nats_client *nc;
    struct natstest_events ev;
    struct h8s_ws_relays relays;
    struct h8s_ws_relay *buckets[NBUCKETS];
    struct rand_pool rp;
    struct gw_ws_tunnel_config cfg;
    struct gw_ws_tunnel_stats st;
    struct ws_handshake_server_config hs;
    struct span origins[1];
    struct loop_listener *ls;
    uint16_t port;
    unsigned unknown;
    char id[RAND_ID_LEN + 1];
};

struct hconn {
    struct gw *gw;
    size_t len;
    char buf[16384];
};

static void gw_on_inbox(struct nats_client *c, struct nats_sub *sub, const struct nats_msg *m,
                        void *cookie)
{
    struct gw *g = cookie;
    struct span id = last_token(m->subject);
    (void)c;
    (void)sub;
    if (h8s_ws_relays_find(&g->relays, id) == NULL)
        g->unknown++;
    h8s_ws_relays_dispatch(&g->relays, id, m);
}

static void h_close(struct loop_conn *c, int err)
{
    (void)err;
    free(loop_conn_cookie(c));
}

static int h_data(struct loop_conn *c, const uint8_t *p, size_t n);
static const struct loop_conn_ops hconn_ops = {h_data, NULL, NULL, h_close};

/* The gateway's HTTP layer, reduced to what an upgrade needs. */
static int h_data(struct loop_conn *c, const uint8_t *p, size_t n)
{
    struct hconn *h = loop_conn_cookie(c);
    struct gw_ws_tunnel_request req;
    struct ws_test_http head;
    uint8_t subject[SUBJECT_MAX];
    char target[1024] = "";
    struct span host = {NULL, 0}, path, query = {NULL, 0};
    char *q;
    int r, sl;

    if (n == 0 || n > sizeof(h->buf) - h->len)
        return -EPROTO;
    memcpy(h->buf + h->len, p, n);
    h->len += n;
    r = ws_test_http_parse(&head, 1, h->buf, h->len);
    if (r <= 0)
        return r;
    sscanf(h->buf, "GET %1023s", target);
    path = span_cstr(target);
    if ((q = strchr(target, '?')) != NULL) {
        path.n = (size_t)(q - target);
        query = span_cstr(q + 1);
    }
    for (size_t i = 0; i < head.head.nheaders; i++)
        if (span_eq_nocase(head.headers[i].name, SPAN_LIT("Host")))
            host = head.headers[i].value;
    sl = subject_request(subject, sizeof(subject), SPAN_LIT("GET"), host, path);
    if (sl < 0)
        return -EPROTO;
    memset(&req, 0, sizeof(req));
    req.head = &head.head;
    req.subject = span_make(subject, (size_t)sl);
    req.host = host;
    req.path = path;
    req.query = query;
    req.client_addr = SPAN_LIT("127.0.0.1");
    req.scheme = SPAN_LIT("http");
    req.rest = span_make(h->buf + head.head_len, h->len - head.head_len);
    if (gw_ws_tunnel_start(c, &h->gw->cfg, &req, &h->gw->st) == 101)
        free(h); /* the tunnel owns c now */
    return 0;
}

static void gw_accept(struct loop_listener *ls, struct loop_conn *c, int err)
{
    struct hconn *h;
    if (err)
        return;
    h = calloc(1, sizeof(*h));
    assert_non_null(h);
    h->gw = loop_listener_cookie(ls);
    loop_conn_set(c, &hconn_ops, h);
}

/* ------------------------------------------------------------ fixture */

struct fx {
    struct natsd *natsd;
    struct pychild app;
    uint16_t app_port;
    struct gw gw;
    struct agent_proc agents[2];
    size_t nagents;
    char app_lines[64][160];
    size_t napp_lines;
    int have_python;
};

static void gw_drained(struct nats_client *c, void *cookie)
{
    /* The cookie is the events recorder natstest's callbacks expect. */
    struct gw *g = LOOP_CONTAINER_OF(cookie, struct gw, ev);
    (void)c;
    h8s_ws_relays_nats_drained(&g->relays);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct nats_client_config nc;
    struct sockaddr_storage ss;
    socklen_t len;
    char line[64], err[256];
    uint8_t inbox[SUBJECT_REPLY_MAX];
    int ni;

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
    f->app_port = (uint16_t)atoi(line);

    /* The gateway side. */
    struct gw *g = &f->gw;
    struct loop_config lc;
    loop_config_defaults(&lc);
    lc.max_conns = 2048;
    if (loop_create(&g->l, &lc, err, sizeof(err)) != 0)
        return -1;
    rand_pool_init(&g->rp);
    if (rand_id(&g->rp, g->id, RAND_ID_LEN) != 0)
        return -1;
    natstest_config(&nc, natsd_url(f->natsd), &g->ev);
    static struct nats_client_events gw_events;
    gw_events = natstest_events_ops;
    gw_events.on_drained = gw_drained;
    nc.events = &gw_events;
    nc.cookie = &g->ev;
    if (nats_client_create(&g->nc, g->l, &nc, err, sizeof(err)) != 0 ||
        nats_client_connect(g->nc) != 0)
        return -1;
    h8s_ws_relays_init(&g->relays, g->buckets, NBUCKETS, g->nc);
    ni = subject_reply_wildcard(inbox, sizeof(inbox), span_cstr(g->id));
    if (ni < 0 || nats_client_subscribe(g->nc, span_make(inbox, (size_t)ni), span_make(NULL, 0),
                                        gw_on_inbox, g, NULL) != 0)
        return -1;
    g->origins[0] = SPAN_LIT("http://h8s.test");
    g->hs.origins = g->origins;
    g->hs.norigins = 1;
    g->cfg.nc = g->nc;
    g->cfg.relays = &g->relays;
    g->cfg.gw_id = span_cstr(g->id);
    g->cfg.rand = &g->rp;
    g->cfg.session.hs = &g->hs;
    g->cfg.session.max_message = MAX_MESSAGE;
    g->cfg.session.close_ms = 3000;
    h8s_ws_config_defaults(&g->cfg.relay.tunnel);
    g->cfg.relay.tunnel.max_message = MAX_MESSAGE;
    g->cfg.relay.open_timeout_ms = 10000;
    lh_loopback(AF_INET, 0, &ss, &len);
    if (loop_listen(g->l, (struct sockaddr *)&ss, len, 0, gw_accept, g, &g->ls) != 0)
        return -1;
    loop_listener_addr(g->ls, &ss, &len);
    g->port = lh_port_of(&ss);
    for (int i = 0; i < 500 && nats_client_state(g->nc) != NATS_CLIENT_CONNECTED; i++)
        loop_run_once(g->l, 10);
    return nats_client_state(g->nc) == NATS_CLIENT_CONNECTED ? 0 : -1;
}

static void agent_kill(struct agent_proc *a, int sig)
{
    if (a->pid > 0) {
        kill(a->pid, sig);
        waitpid(a->pid, NULL, 0);
        a->pid = 0;
    }
    if (a->in >= 0)
        close(a->in);
    a->in = -1;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    for (size_t i = 0; i < f->nagents; i++)
        agent_kill(&f->agents[i], SIGKILL);
    /* As h8sd will: relays detach from NATS before its client goes; the
     * sessions end when the loop goes. */
    if (f->gw.relays.buckets)
        h8s_ws_relays_shutdown(&f->gw.relays);
    if (f->gw.nc)
        nats_client_destroy(f->gw.nc);
    loop_destroy(f->gw.l);
    pychild_stop(&f->app, 5000);
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

/* One line from an agent's pipe, within ms, while the gateway runs. */
static int agent_line(struct fx *f, struct agent_proc *a, char *line, size_t cap, unsigned ms)
{
    uint64_t end = lh_mono_ms() + ms;
    size_t n = 0;
    while (lh_mono_ms() < end) {
        struct pollfd pfd = {a->in, POLLIN, 0};
        loop_run_once(f->gw.l, 0);
        if (poll(&pfd, 1, 5) == 1) {
            char ch;
            if (read(a->in, &ch, 1) != 1)
                return -1;
            if (ch == '\n') {
                line[n] = 0;
                return 1;
            }
            if (n + 1 < cap)
                line[n++] = ch;
        }
    }
    return 0;
}

static struct agent_proc *agent_start(struct fx *f)
{
    struct agent_proc *a = &f->agents[f->nagents++];
    char id[RAND_ID_LEN + 1], line[64];
    int fds[2];

    assert_int_equal(rand_id(&f->gw.rp, id, RAND_ID_LEN), 0);
    assert_int_equal(pipe(fds), 0);
    a->pid = fork();
    assert_true(a->pid >= 0);
    if (a->pid == 0) {
        /* Never outlive the test. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() == 1)
            _exit(2);
        close(fds[0]);
        agent_main(natsd_url(f->natsd), f->app_port, id, fds[1]);
    }
    close(fds[1]);
    a->in = fds[0];
    assert_int_equal(agent_line(f, a, line, sizeof(line), 10000), 1);
    assert_string_equal(line, "ready");
    return a;
}

/* Stops an agent gracefully and reads its counters. */
static void agent_stats(struct fx *f, struct agent_proc *a, unsigned long long *opens,
                        unsigned long long *accepted, unsigned *unknown)
{
    char line[128];
    unsigned long long refused;
    kill(a->pid, SIGTERM);
    assert_int_equal(agent_line(f, a, line, sizeof(line), 10000), 1);
    assert_int_equal(sscanf(line, "stats %llu %llu %llu %u", opens, accepted, &refused, unknown),
                     4);
    agent_kill(a, SIGKILL);
}

static void py_start(struct fx *f, struct pychild *py, const char *scenario, const char *arg)
{
    char port[16];
    snprintf(port, sizeof(port), "%u", f->gw.port);
    const char *args[] = {scenario, port, arg, NULL};
    assert_int_equal(pychild_start(py, "ws_client.py", args), 0);
}

static void py_line(struct fx *f, struct pychild *py, char *line, size_t cap, unsigned ms)
{
    uint64_t end = lh_mono_ms() + ms;
    int r;
    while ((r = pychild_try_line(py, line, cap)) == 0 && lh_mono_ms() < end)
        loop_run_once(f->gw.l, 5);
    if (r != 1)
        fail_msg("no line from the python client (%d)", r);
}

static void py_finish(struct fx *f, struct pychild *py)
{
    char tmp[64];
    uint64_t end = lh_mono_ms() + WAIT_MS;
    /* Keep the gateway running while the client winds down. */
    while (pychild_try_line(py, tmp, sizeof(tmp)) >= 0 && lh_mono_ms() < end)
        loop_run_once(f->gw.l, 5);
    assert_int_equal(pychild_stop(py, 5000), 0);
}

/* Waits for the app to print want. */
static void app_expect(struct fx *f, const char *want)
{
    uint64_t end = lh_mono_ms() + WAIT_MS;
    char line[160];
    for (;;) {
        for (size_t i = 0; i < f->napp_lines; i++)
            if (strcmp(f->app_lines[i], want) == 0)
                return;
        if (lh_mono_ms() > end)
            fail_msg("the app never said \"%s\"", want);
        if (pychild_try_line(&f->app, line, sizeof(line)) == 1 && f->napp_lines < 64)
            snprintf(f->app_lines[f->napp_lines++], sizeof(f->app_lines[0]), "%s", line);
        else
            loop_run_once(f->gw.l, 5);
    }
}

/* --------------------------------------------------------------- tests */

static void test_echo(void **state)
{
    struct fx *f = *state;
    struct pychild py;
    char line[256];
    REQUIRE_PYTHON(f);

    agent_start(f);
    /* Text, binary, 1 MiB, empty, fragments with a ping, subprotocol, the
     * app's Set-Cookie, and the close handshake end to end: the client's
     * code and reason reach the app, the app's answer reaches the client. */
    py_start(f, &py, "echo", NULL);
    py_line(f, &py, line, sizeof(line), WAIT_MS);
    assert_string_equal(line, "ok 4001 636c69656e742062796520e29c93");
    py_finish(f, &py);
    app_expect(f, "closed /echo 4001 636c69656e742062796520e29c93");
    /* The app closes: its code and reason reach the client. */
    py_start(f, &py, "server-close", NULL);
    py_line(f, &py, line, sizeof(line), WAIT_MS);
    assert_string_equal(line, "closed 4002 73657276657220627965");
    py_finish(f, &py);
    /* The app refuses: its status and headers reach the client. */
    py_start(f, &py, "refuse", NULL);
    py_line(f, &py, line, sizeof(line), WAIT_MS);
    assert_string_equal(line, "rejected 403 nope");
    py_finish(f, &py);
    /* A foreign Origin never leaves the gateway. */
    py_start(f, &py, "origin", NULL);
    py_line(f, &py, line, sizeof(line), WAIT_MS);
    assert_string_equal(line, "rejected 403 -");
    py_finish(f, &py);
    assert_int_equal(f->gw.st.started, 3);
    assert_int_equal(f->gw.st.accepted, 2);
    assert_int_equal(f->gw.unknown, 0);
}

static void test_no_agent(void **state)
{
    struct fx *f = *state;
    struct pychild py;
    char line[256];
    REQUIRE_PYTHON(f);

    py_start(f, &py, "refuse", NULL);
    py_line(f, &py, line, sizeof(line), WAIT_MS);
    assert_string_equal(line, "rejected 503 -");
    py_finish(f, &py);
}

static void test_flow_control(void **state)
{
    struct fx *f = *state;
    struct pychild py;
    char line[256];
    unsigned progress = 99;
    REQUIRE_PYTHON(f);

    agent_start(f);
    /* The app reads nothing for 3 s: the client's 96 MiB stall. (Less
     * could fit in the kernel's socket buffers, which loopback auto-tuning
     * grows to tens of MiB: sends "complete" there without our process
     * holding any of it.) */
    struct loop_stats st0, st1;
    loop_get_stats(f->gw.l, &st0);
    py_start(f, &py, "flood", "96");
    py_line(f, &py, line, sizeof(line), WAIT_MS);
    loop_get_stats(f->gw.l, &st1);
    assert_int_equal(sscanf(line, "progress %u", &progress), 1);
    print_message("flood: %u MiB sent by the client, %llu KiB read by the gateway in 1.5 s\n",
                  progress, (unsigned long long)((st1.bytes_in - st0.bytes_in) >> 10));
    assert_true(progress < 96);
    /* What the gateway read meanwhile is what the agent could pass on into
     * the app's socket buffers and its 4-message queue, not the client's
     * 96 MiB. */
    assert_true(st1.bytes_in - st0.bytes_in < (24u << 20));
    py_line(f, &py, line, sizeof(line), WAIT_MS);
    assert_string_equal(line, "sent all");
    py_line(f, &py, line, sizeof(line), WAIT_MS);
    assert_string_equal(line, "ok");
    py_finish(f, &py);
    app_expect(f, "got 100663296");
}

static void test_many(void **state)
{
    struct fx *f = *state;
    struct pychild py;
    char line[256];
    REQUIRE_PYTHON(f);

    agent_start(f);
    py_start(f, &py, "many", "1000");
    py_line(f, &py, line, sizeof(line), 120000);
    assert_string_equal(line, "ok 1000");
    py_finish(f, &py);
    assert_int_equal(f->gw.st.accepted, 1000);
    assert_int_equal(f->gw.unknown, 0);
}

static void test_two_agents_pinned(void **state)
{
    struct fx *f = *state;
    struct pychild py;
    char line[256];
    unsigned long long opens[2], accepted[2];
    unsigned unknown[2];
    REQUIRE_PYTHON(f);

    agent_start(f);
    agent_start(f);
    py_start(f, &py, "many", "200");
    py_line(f, &py, line, sizeof(line), 120000);
    assert_string_equal(line, "ok 200");
    py_finish(f, &py);
    for (int i = 0; i < 2; i++)
        agent_stats(f, &f->agents[i], &opens[i], &accepted[i], &unknown[i]);
    /* Each open went to exactly one agent, both took some, and no message
     * reached an agent for a tunnel it does not have. */
    assert_int_equal(opens[0] + opens[1], 200);
    assert_int_equal(accepted[0] + accepted[1], 200);
    assert_true(opens[0] > 0 && opens[1] > 0);
    assert_int_equal(unknown[0], 0);
    assert_int_equal(unknown[1], 0);
    assert_int_equal(f->gw.unknown, 0);
}

static void test_agent_killed(void **state)
{
    struct fx *f = *state;
    struct pychild py;
    char line[256];
    uint64_t t0;
    REQUIRE_PYTHON(f);

    struct agent_proc *a = agent_start(f);
    py_start(f, &py, "hold", "20");
    py_line(f, &py, line, sizeof(line), WAIT_MS);
    assert_string_equal(line, "open 20");
    t0 = lh_mono_ms();
    agent_kill(a, SIGKILL);
    /* The next heartbeat to the dead agent's subject gets no responders:
     * every client is closed with 1011 within seconds. */
    py_line(f, &py, line, sizeof(line), WAIT_MS);
    assert_string_equal(line, "closed 1011 20");
    assert_true(lh_mono_ms() - t0 < 8000);
    py_finish(f, &py);
}

/* ----------------------------------------------- raw clients, same key */

struct raw {
    int fd;
    uint8_t buf[8192];
    size_t len;
    int eof;
};

static void raw_open(struct fx *f, struct raw *r, const char *path)
{
    struct sockaddr_storage ss;
    socklen_t len;
    char req[512];
    uint64_t end = lh_mono_ms() + WAIT_MS;

    memset(r, 0, sizeof(*r));
    lh_loopback(AF_INET, f->gw.port, &ss, &len);
    r->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(r->fd >= 0);
    assert_int_equal(connect(r->fd, (struct sockaddr *)&ss, len), 0);
    fcntl(r->fd, F_SETFL, fcntl(r->fd, F_GETFL) | O_NONBLOCK);
    snprintf(req, sizeof(req),
             "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\nSec-WebSocket-Key: " TEST_KEY "\r\n"
             "Sec-WebSocket-Version: 13\r\nOrigin: http://h8s.test\r\n\r\n",
             path, f->gw.port);
    assert_int_equal(send(r->fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
    /* Up to the end of the 101. */
    while (lh_mono_ms() < end) {
        uint8_t *e = memmem(r->buf, r->len, "\r\n\r\n", 4);
        if (e) {
            assert_int_equal(strncmp((char *)r->buf, "HTTP/1.1 101 ", 13), 0);
            size_t k = (size_t)(e + 4 - r->buf);
            memmove(r->buf, r->buf + k, r->len - k);
            r->len -= k;
            return;
        }
        loop_run_once(f->gw.l, 5);
        ssize_t k = recv(r->fd, r->buf + r->len, sizeof(r->buf) - r->len, MSG_DONTWAIT);
        if (k > 0)
            r->len += (size_t)k;
    }
    fail_msg("no 101");
}

static void raw_text(struct raw *r, const char *s, int mask)
{
    static const uint8_t key[4] = {9, 8, 7, 6};
    uint8_t fr[200];
    size_t n = strlen(s), hl = 2;
    fr[0] = 0x81;
    fr[1] = (uint8_t)((mask ? 0x80 : 0) | n);
    if (mask) {
        memcpy(fr + 2, key, 4);
        hl = 6;
        ws_frame_mask(fr + hl, (const uint8_t *)s, n, key, 0);
    } else {
        memcpy(fr + hl, s, n);
    }
    assert_int_equal(send(r->fd, fr, hl + n, MSG_NOSIGNAL), (ssize_t)(hl + n));
}

/* Reads the next frame from the gateway: returns its opcode, payload in
 * out (NUL-terminated). */
static unsigned raw_next(struct fx *f, struct raw *r, char *out, size_t cap)
{
    uint64_t end = lh_mono_ms() + WAIT_MS;
    while (lh_mono_ms() < end) {
        if (r->len >= 2 && (r->buf[1] & 0x7F) < 126 && r->len >= 2u + (r->buf[1] & 0x7F)) {
            unsigned op = r->buf[0] & 0x0F;
            size_t n = r->buf[1] & 0x7F;
            assert_true(n < cap);
            memcpy(out, r->buf + 2, n);
            out[n] = 0;
            memmove(r->buf, r->buf + 2 + n, r->len - 2 - n);
            r->len -= 2 + n;
            return op;
        }
        loop_run_once(f->gw.l, 5);
        ssize_t k = recv(r->fd, r->buf + r->len, sizeof(r->buf) - r->len, MSG_DONTWAIT);
        if (k > 0)
            r->len += (size_t)k;
    }
    fail_msg("no frame");
    return 0;
}

static void test_violation_same_key(void **state)
{
    struct fx *f = *state;
    struct raw a, b;
    char got[160];
    REQUIRE_PYTHON(f);

    agent_start(f);
    /* Two clients, the same Sec-WebSocket-Key: each gets only its own. */
    raw_open(f, &a, "/echo");
    raw_open(f, &b, "/echo");
    for (int i = 0; i < 20; i++) {
        char ma[32], mb[32];
        snprintf(ma, sizeof(ma), "from a %d", i);
        snprintf(mb, sizeof(mb), "from b %d", i);
        raw_text(&a, ma, 1);
        raw_text(&b, mb, 1);
        assert_int_equal(raw_next(f, &b, got, sizeof(got)), WS_OP_TEXT);
        assert_string_equal(got, mb);
        assert_int_equal(raw_next(f, &a, got, sizeof(got)), WS_OP_TEXT);
        assert_string_equal(got, ma);
    }
    /* a breaks the protocol: 1002 to a, 1001 to its app connection ... */
    raw_text(&a, "unmasked", 0);
    assert_int_equal(raw_next(f, &a, got, sizeof(got)), WS_OP_CLOSE);
    assert_int_equal(((unsigned)(uint8_t)got[0] << 8) | (uint8_t)got[1], 1002);
    app_expect(f, "closed /echo 1001 706565722070726f746f636f6c206572726f72");
    /* ... and b goes on. */
    raw_text(&b, "still here", 1);
    assert_int_equal(raw_next(f, &b, got, sizeof(got)), WS_OP_TEXT);
    assert_string_equal(got, "still here");
    close(a.fd);
    close(b.fd);
    assert_int_equal(f->gw.st.accepted, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_echo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_agent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flow_control, setup, teardown),
        cmocka_unit_test_setup_teardown(test_violation_same_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_killed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_agents_pinned, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
