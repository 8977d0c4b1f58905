/*
 * tests/test_gw_perm.c — h8sd with exactly the NATS permissions
 * docs/PROTOCOL.md §6 gives it: requests, streamed responses with credit,
 * streamed request bodies, and the reason on the close subject all work,
 * and nats-server reports no permission violation for the gateway.
 */
#include "tests/gwtest.h"

#include <unistd.h>

#define AGENT "_INBOX.h8s.permagent.x1"

static struct gwfx fx;
static atomic_int aborts, credits, chunks;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char reply_subject[256];

static const char conf[] =
    "authorization {\n"
    "  users = [\n"
    "    { user: gw, password: gwpass, permissions: {\n"
    "        publish: [\"h8s.http.>\", \"_INBOX.h8s.*.*\", \"h8s.control.connection.closed.>\"]\n"
    "        subscribe: [\"_INBOX.h8s.*.*\", \"h8s.control.interest.>\"] } }\n"
    "    { user: test, password: testpass }\n"
    "  ]\n"
    "}\n";

static void h_plain(struct responder *r, const struct nats_msg *m, void *arg)
{
    (void)arg;
    gwt_reply_full(r, m->reply, 200, NULL, "allowed");
}

/* A flow-controlled stream of two chunks that waits for one credit, or a
 * request body taken against credit. */
static void h_stream(struct responder *r, const struct nats_msg *m, void *arg)
{
    char v[32];
    (void)arg;
    pthread_mutex_lock(&mu);
    snprintf(reply_subject, sizeof(reply_subject), "%.*s", (int)m->reply.n,
             (const char *)m->reply.p);
    pthread_mutex_unlock(&mu);
    if (responder_hdr(m, H8S_HDR_BODY, v, sizeof(v))) {
        gwt_pub(r, m->reply,
                "X-H8s-Control: ready\r\nX-H8s-Agent-Subject: " AGENT "\r\nX-H8s-Credit: 100\r\n",
                "", 0);
        return;
    }
    gwt_pub(r, m->reply, "Status-Code: 200\r\nX-H8s-Agent-Subject: " AGENT "\r\n", "one,", 4);
}

static void h_agent(struct responder *r, const struct nats_msg *m, void *arg)
{
    char v[32];
    (void)arg;
    pthread_mutex_lock(&mu);
    struct span reply = span_cstr(reply_subject);
    if (responder_hdr(m, H8S_HDR_CONTROL, v, sizeof(v))) {
        if (strcmp(v, "abort") == 0)
            atomic_fetch_add(&aborts, 1);
        if (strcmp(v, "credit") == 0 && atomic_fetch_add(&credits, 1) == 0) {
            gwt_pub(r, reply, "X-H8s-Seq: 1\r\n", "two", 3);
            gwt_pub(r, reply, "X-H8s-Seq: 2\r\n", "", 0);
        }
    } else {
        /* Request body chunks: answer once the end arrives. */
        atomic_fetch_add(&chunks, 1);
        if (m->payload.n == 0)
            gwt_reply_full(r, reply, 200, NULL, "body taken");
    }
    pthread_mutex_unlock(&mu);
}

static int group_setup(void **state)
{
    (void)state;
    struct natsd_opts o = {.conf = conf};
    char url[128];
    memset(&fx, 0, sizeof(fx));
    if (natsd_start(&fx.nd, &o) < 0)
        return -1;
    snprintf(url, sizeof(url), "nats://test:testpass@127.0.0.1:%u", natsd_port(fx.nd));
    if (responder_start(&fx.rs, url) < 0)
        return -1;
    snprintf(url, sizeof(url), "nats://gw:gwpass@127.0.0.1:%u", natsd_port(fx.nd));
    static const char *const args[] = {"--max-body-size=8MiB", NULL};
    if (gwproc_start(&fx.gw, url, args) < 0)
        return -1;
    if (responder_sub(fx.rs, AGENT, NULL, h_agent, NULL) < 0)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    gwt_teardown(&fx);
    return 0;
}

static void test_plain(void **state)
{
    (void)state;
    struct httpc_resp r;
    gwt_serve(&fx, "test.perm", h_plain, NULL);
    assert_int_equal(httpc_once(fx.gw.port, "GET / HTTP/1.1\r\nHost: perm.test\r\n\r\n", &r, 0,
                                5000),
                     1);
    assert_int_equal(r.status, 200);
    assert_string_equal((char *)r.body, "allowed");
    httpc_resp_free(&r);
}

static void test_stream_with_credit(void **state)
{
    (void)state;
    struct httpc_resp r;
    gwt_serve(&fx, "test.permstream", h_stream, NULL);
    assert_int_equal(httpc_once(fx.gw.port, "GET / HTTP/1.1\r\nHost: permstream.test\r\n\r\n", &r,
                                0, 5000),
                     1);
    assert_int_equal(r.status, 200);
    assert_string_equal((char *)r.body, "one,two");
    assert_true(atomic_load(&credits) >= 1);
    httpc_resp_free(&r);
}

static void test_streamed_body_and_abort(void **state)
{
    (void)state;
    /* 2 MiB: more than one message, so the body streams to the agent. */
    size_t n = 2u * 1024 * 1024;
    char *req = malloc(n + 256);
    int h = snprintf(req, 256, "POST / HTTP/1.1\r\nHost: permstream.test\r\nContent-Length: %zu\r\n\r\n",
                     n);
    memset(req + h, 'b', n);
    struct httpc c;
    assert_int_equal(httpc_connect(&c, fx.gw.port), 0);
    /* Part of the body, then the client goes: the gateway may publish the
     * reason and the abort with its permissions. */
    assert_int_equal(httpc_send(&c, req, (size_t)h + 50), 0);
    int64_t deadline = gwt_now_ms() + 5000;
    while (atomic_load(&chunks) == 0 && gwt_now_ms() < deadline)
        gwt_sleep_ms(5);
    assert_true(atomic_load(&chunks) >= 1);
    httpc_close(&c);
    while (atomic_load(&aborts) == 0 && gwt_now_ms() < deadline)
        gwt_sleep_ms(5);
    assert_true(atomic_load(&aborts) >= 1);
    free(req);
    /* Nothing the gateway did was refused by the server. */
    assert_false(gwproc_log_has(&fx.gw, "Permissions Violation"));
    assert_false(gwproc_log_has(&fx.gw, "event=nats_error"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_stream_with_credit),
        cmocka_unit_test(test_streamed_body_and_abort),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
