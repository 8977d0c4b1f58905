/*
 * tests/test_gw_basic.c — h8sd against responders written directly on
 * NATS: plain replies, complete and streamed responses, what the responder
 * receives, keep-alive, pipelining, HTTP/1.0, 100-continue, chunked
 * request bodies, HEAD/204/304, no responders, timeouts (504 and a stream
 * many times longer than the timeout that still succeeds).
 *
 * One nats-server, one responder thread and one h8sd (--request-timeout
 * 400ms) for the whole file; each test serves its own host.
 */
#include "tests/gwtest.h"

#include "proto/nats_hdr.h"

#define TIMEOUT_MS 400

struct rec {
    pthread_mutex_t mu;
    int count;
    char subject[4096];
    char reply[256];
    uint8_t hdr[16384];
    size_t hdr_len;
    uint8_t payload[65536];
    size_t payload_len;
    struct nats_msg m; /* spans into the copies above */
};

static struct gwfx fx;
static struct rec rec = {.mu = PTHREAD_MUTEX_INITIALIZER};
static atomic_int spy_hits;

/* ----------------------------------------------------------- handlers */

static void h_plain(struct responder *r, const struct nats_msg *m, void *arg)
{
    (void)arg;
    gwt_pub(r, m->reply, NULL, "hello plain", 11);
}

static void h_complete(struct responder *r, const struct nats_msg *m, void *arg)
{
    (void)arg;
    gwt_reply_full(r, m->reply, 201,
                   "Status: 201 Created\r\nContent-Type: text/x-test\r\nSet-Cookie: a=1\r\n"
                   "Set-Cookie: b=2\r\nX-H8s-Secret: no\r\nConnection: X-Hop\r\nX-Hop: 1\r\n"
                   "Keep-Alive: 9\r\n",
                   "created");
}

static void h_record(struct responder *r, const struct nats_msg *m, void *arg)
{
    (void)arg;
    pthread_mutex_lock(&rec.mu);
    rec.count++;
    snprintf(rec.subject, sizeof(rec.subject), "%.*s", (int)m->subject.n,
             (const char *)m->subject.p);
    snprintf(rec.reply, sizeof(rec.reply), "%.*s", (int)m->reply.n, (const char *)m->reply.p);
    rec.hdr_len = m->hdr.n < sizeof(rec.hdr) ? m->hdr.n : 0;
    memcpy(rec.hdr, m->hdr.p, rec.hdr_len);
    rec.payload_len = m->payload.n < sizeof(rec.payload) ? m->payload.n : 0;
    memcpy(rec.payload, m->payload.p, rec.payload_len);
    rec.m.hdr = span_make(rec.hdr, rec.hdr_len);
    rec.m.payload = span_make(rec.payload, rec.payload_len);
    pthread_mutex_unlock(&rec.mu);
    gwt_reply_full(r, m->reply, 200, NULL, "recorded");
}

static void h_spy(struct responder *r, const struct nats_msg *m, void *arg)
{
    (void)arg;
    atomic_fetch_add(&spy_hits, 1);
    gwt_reply_full(r, m->reply, 200, NULL, "wrong host");
}

/* Body: the original path, '|', then the request body. */
static void h_echo(struct responder *r, const struct nats_msg *m, void *arg)
{
    char path[1024], body[70000];
    (void)arg;
    if (!responder_hdr(m, H8S_HDR_ORIGINAL_PATH, path, sizeof(path)))
        strcpy(path, "?");
    int n = snprintf(body, sizeof(body), "%s|%.*s", path, (int)m->payload.n,
                     (const char *)m->payload.p);
    char lines[128];
    snprintf(lines, sizeof(lines), "Status-Code: 200\r\nContent-Length: %d\r\n", n);
    gwt_pub(r, m->reply, lines, body, (size_t)n);
}

/* Status from the path ("/204"), with Content-Length 7 and body "content". */
static void h_status(struct responder *r, const struct nats_msg *m, void *arg)
{
    char path[64];
    (void)arg;
    responder_hdr(m, H8S_HDR_ORIGINAL_PATH, path, sizeof(path));
    int st = atoi(path + 1);
    if (st == 204) {
        gwt_pub(r, m->reply, "Status-Code: 204\r\nContent-Length: 0\r\n", "", 0);
        return;
    }
    char lines[128];
    snprintf(lines, sizeof(lines), "Status-Code: %d\r\nContent-Length: 7\r\nETag: \"v1\"\r\n", st);
    /* A HEAD or 304 carries the length of the resource, no data. */
    int head = m->subject.n > 14 && memcmp(m->subject.p, "h8s.http.HEAD.", 14) == 0;
    gwt_pub(r, m->reply, lines, "content", (head || st == 304) ? 0 : 7);
}

/* A head and one event, then silence. */
static void h_stall(struct responder *r, const struct nats_msg *m, void *arg)
{
    (void)arg;
    gwt_pub(r, m->reply, "Status-Code: 200\r\n", "data: first\n\n", 13);
}

static void h_silent(struct responder *r, const struct nats_msg *m, void *arg)
{
    (void)r;
    (void)m;
    (void)arg;
}

/* ---------------------------------------------------- streamed replies */

struct stream_job {
    char reply[256];
    int step, steps;
    unsigned every_ms;
    atomic_int *gate; /* when set: wait for *gate before each chunk after the first */
    int gate_seen;
};

static void stream_next(struct responder *r, void *arg)
{
    struct stream_job *j = arg;
    struct span reply = span_cstr(j->reply);
    if (j->gate && j->step < j->steps && atomic_load(j->gate) <= j->gate_seen) {
        responder_after(r, 5, stream_next, j);
        return;
    }
    if (j->step < j->steps) {
        char chunk[64];
        int n = snprintf(chunk, sizeof(chunk), "data: event %d\n\n", j->step + 1);
        gwt_pub(r, reply, NULL, chunk, (size_t)n);
        j->step++;
        j->gate_seen++;
        responder_after(r, j->every_ms, stream_next, j);
        return;
    }
    gwt_pub(r, reply, NULL, "", 0); /* the end */
    free(j);
}

static atomic_int sse_gate;

static void start_stream(struct responder *r, const struct nats_msg *m, int steps, unsigned every,
                         atomic_int *gate)
{
    struct stream_job *j = calloc(1, sizeof(*j));
    snprintf(j->reply, sizeof(j->reply), "%.*s", (int)m->reply.n, (const char *)m->reply.p);
    j->steps = steps;
    j->every_ms = every;
    j->gate = gate;
    /* Head without Content-Length: a stream. The first message carries
     * the first event already. */
    gwt_pub(r, m->reply, "Status: 200\r\nContent-Type: text/event-stream\r\n", "data: event 0\n\n",
            15);
    responder_after(r, every, stream_next, j);
}

static void h_stream(struct responder *r, const struct nats_msg *m, void *arg)
{
    (void)arg;
    start_stream(r, m, 3, 10, NULL);
}

static void h_sse(struct responder *r, const struct nats_msg *m, void *arg)
{
    (void)arg;
    start_stream(r, m, 2, 1, &sse_gate);
}

/* Ten chunks 100 ms apart: the whole stream lasts 2.5 times the timeout. */
static void h_slow_stream(struct responder *r, const struct nats_msg *m, void *arg)
{
    (void)arg;
    start_stream(r, m, 10, 100, NULL);
}

/* ------------------------------------------------------------- set-up */

static int group_setup(void **state)
{
    (void)state;
    static const char *const args[] = {"--request-timeout=400ms", NULL};
    if (gwt_setup(&fx, NULL, args) < 0)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    gwt_teardown(&fx);
    return 0;
}

static void get(const char *host, const char *path, struct httpc_resp *r, int head)
{
    char req[1024];
    snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: %s\r\n\r\n", head ? "HEAD" : "GET", path,
             host);
    int rc = httpc_once(fx.gw.port, req, r, head, 5000);
    if (rc != 1)
        fail_msg("%s%s: httpc %d", host, path, rc);
}

/* -------------------------------------------------------------- tests */

static void test_plain_reply(void **state)
{
    (void)state;
    struct httpc_resp r;
    gwt_serve(&fx, "test.plain", h_plain, NULL);
    get("plain.test", "/anything?x=1", &r, 0);
    assert_int_equal(r.status, 200);
    assert_string_equal((char *)r.body, "hello plain");
    char v[64];
    assert_true(httpc_header(&r, "Content-Length", v, sizeof(v)));
    assert_string_equal(v, "11");
    assert_true(httpc_header(&r, "Date", v, sizeof(v)));
    httpc_resp_free(&r);

    /* The same through curl, the way a user would. */
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/p", fx.gw.port);
    const char *argv[] = {"curl", "-s", "-H", "Host: plain.test", url, NULL};
    struct gwproc_out *o = malloc(sizeof(*o));
    assert_int_equal(gwt_curl(o, 10000, argv), 0);
    assert_int_equal(o->status, 0);
    assert_string_equal(o->buf, "hello plain");
    free(o);
}

static void test_complete_headers(void **state)
{
    (void)state;
    struct httpc_resp r;
    gwt_serve(&fx, "test.complete", h_complete, NULL);
    get("complete.test", "/", &r, 0);
    assert_int_equal(r.status, 201);
    assert_string_equal((char *)r.body, "created");
    assert_int_equal(httpc_header_count(&r, "Set-Cookie"), 2);
    char v[64];
    assert_true(httpc_header(&r, "Content-Type", v, sizeof(v)));
    assert_string_equal(v, "text/x-test");
    /* Internal and hop-by-hop headers never reach the client. */
    assert_int_equal(httpc_header_count(&r, "Status"), 0);
    assert_int_equal(httpc_header_count(&r, "Status-Code"), 0);
    assert_int_equal(httpc_header_count(&r, "X-H8s-Secret"), 0);
    assert_int_equal(httpc_header_count(&r, "X-Hop"), 0);
    assert_int_equal(httpc_header_count(&r, "Keep-Alive"), 0);
    assert_null(strstr(r.head, "X-H8s"));
    httpc_resp_free(&r);
}

/* A copy of what the responder recorded, taken under the lock: asserting
 * while holding it would leave it held when an assertion jumps out. */
static struct rec snap;

static void take_snapshot(void)
{
    pthread_mutex_lock(&rec.mu);
    snap.count = rec.count;
    memcpy(snap.subject, rec.subject, sizeof(snap.subject));
    memcpy(snap.reply, rec.reply, sizeof(snap.reply));
    memcpy(snap.hdr, rec.hdr, rec.hdr_len);
    snap.hdr_len = rec.hdr_len;
    memcpy(snap.payload, rec.payload, rec.payload_len);
    snap.payload_len = rec.payload_len;
    pthread_mutex_unlock(&rec.mu);
    snap.m.hdr = span_make(snap.hdr, snap.hdr_len);
    snap.m.payload = span_make(snap.payload, snap.payload_len);
}

static int rec_hdr(const char *name, char *out, size_t cap)
{
    return responder_hdr(&snap.m, name, out, cap);
}

static void test_request_headers(void **state)
{
    (void)state;
    struct httpc_resp r;
    char v[512];
    gwt_serve(&fx, "test.hdrs", h_record, NULL);
    gwt_serve(&fx, "test.evil", h_spy, NULL);
    int rc = httpc_once(fx.gw.port,
                        "GET /a/b.c//d/?q=1&x=%zz&y=\"'| HTTP/1.1\r\nHost: Hdrs.Test:8080\r\n"
                        "X-Forwarded-For: 10.1.1.1\r\nX-Forwarded-Host: evil.test\r\n"
                        "X-Forwarded-Proto: https\r\nConnection: keep-alive, X-Drop\r\n"
                        "X-Drop: 1\r\nCookie: a=1\r\ncookie: b=2\r\nx-lower-case: v\r\n"
                        "X-H8s-Original-Path: /spoofed\r\nTE: trailers\r\n\r\n",
                        &r, 0, 5000);
    assert_int_equal(rc, 1);
    assert_int_equal(r.status, 200);
    httpc_resp_free(&r);
    /* The client's X-Forwarded-Host did not route the request. */
    assert_int_equal(atomic_load(&spy_hits), 0);
    take_snapshot();
    assert_int_equal(snap.count, 1);
    assert_string_equal(snap.subject, "h8s.http.GET.test.hdrs.a.b%2Ec.d");
    assert_memory_equal(snap.reply, "_INBOX.h8s.", 11);
    assert_true(rec_hdr("Host", v, sizeof(v)));
    assert_string_equal(v, "Hdrs.Test:8080");
    assert_true(rec_hdr("X-Forwarded-For", v, sizeof(v)));
    assert_string_equal(v, "10.1.1.1, 127.0.0.1");
    assert_true(rec_hdr("X-Forwarded-Host", v, sizeof(v)));
    assert_string_equal(v, "Hdrs.Test:8080");
    assert_true(rec_hdr("X-Forwarded-Proto", v, sizeof(v)));
    assert_string_equal(v, "http");
    assert_false(rec_hdr("X-Drop", v, sizeof(v)));
    assert_false(rec_hdr("Connection", v, sizeof(v)));
    assert_false(rec_hdr("TE", v, sizeof(v)));
    assert_int_equal(responder_hdr_count(&snap.m, "Cookie"), 2);
    assert_true(rec_hdr("X-Lower-Case", v, sizeof(v)));
    assert_int_equal(responder_hdr_count(&snap.m, H8S_HDR_ORIGINAL_PATH), 1);
    assert_true(rec_hdr(H8S_HDR_ORIGINAL_PATH, v, sizeof(v)));
    assert_string_equal(v, "/a/b.c//d/");
    assert_true(rec_hdr(H8S_HDR_ORIGINAL_QUERY, v, sizeof(v)));
    assert_string_equal(v, "q=1&x=%zz&y=\"'|");
    assert_true(rec_hdr(H8S_HDR_PUBLISH_SUBJECT, v, sizeof(v)));
    assert_string_equal(v, snap.subject);
    assert_true(rec_hdr(H8S_HDR_REPLY_SUBJECT, v, sizeof(v)));
    assert_string_equal(v, snap.reply);
    assert_true(rec_hdr(H8S_HDR_CLOSE_SUBJECT, v, sizeof(v)));
    assert_memory_equal(v, "h8s.control.connection.closed.", 30);
    assert_true(rec_hdr(H8S_HDR_WINDOW, v, sizeof(v)));
    assert_true(atoll(v) >= 1024 * 1024);
    /* Exact spelling matters to Go readers of NATS headers. */
    assert_non_null(memmem(snap.hdr, snap.hdr_len, "X-H8s-PublishSubject: ", 22));
    assert_non_null(memmem(snap.hdr, snap.hdr_len, "X-H8s-Original-Path: ", 21));
    assert_int_equal(snap.payload_len, 0);
}

static void test_streamed(void **state)
{
    (void)state;
    struct httpc_resp r;
    gwt_serve(&fx, "test.stream", h_stream, NULL);
    get("stream.test", "/s", &r, 0);
    assert_int_equal(r.status, 200);
    assert_true(r.chunked);
    assert_string_equal((char *)r.body, "data: event 0\n\ndata: event 1\n\ndata: event 2\n\n"
                                        "data: event 3\n\n");
    char v[64];
    assert_true(httpc_header(&r, "Content-Type", v, sizeof(v)));
    assert_string_equal(v, "text/event-stream");
    assert_int_equal(httpc_header_count(&r, "Status"), 0);
    httpc_resp_free(&r);

    /* HEAD of a streamed response: the head alone, and the connection
     * still frames the next response correctly. */
    struct httpc h;
    assert_int_equal(httpc_connect(&h, fx.gw.port), 0);
    assert_int_equal(httpc_send_str(&h, "HEAD /s HTTP/1.1\r\nHost: stream.test\r\n\r\n"
                                        "GET /s HTTP/1.1\r\nHost: stream.test\r\n\r\n"),
                     0);
    httpc_resp_init(&r, 1);
    assert_int_equal(httpc_read(&h, &r, 0, NULL, 5000), 1);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 0);
    httpc_resp_free(&r);
    httpc_resp_init(&r, 0);
    assert_int_equal(httpc_read(&h, &r, 0, NULL, 5000), 1);
    assert_non_null(strstr((char *)r.body, "data: event 3"));
    httpc_resp_free(&r);
    httpc_close(&h);
}

/* Events arrive one by one while the stream is open: the responder sends
 * the next event only after the client has seen the previous one. */
static void test_sse_one_by_one(void **state)
{
    (void)state;
    struct httpc h;
    struct httpc_resp *r = malloc(sizeof(*r));
    gwt_serve(&fx, "test.sse", h_sse, NULL);
    assert_int_equal(httpc_connect(&h, fx.gw.port), 0);
    httpc_resp_init(r, 0);
    assert_int_equal(httpc_send_str(&h, "GET /events HTTP/1.1\r\nHost: sse.test\r\n\r\n"), 0);
    assert_int_equal(httpc_read(&h, r, 0, "event 0", 5000), 0);
    assert_int_equal(r->status, 200);
    assert_false(r->complete);
    atomic_store(&sse_gate, 1);
    assert_int_equal(httpc_read(&h, r, 0, "event 1", 5000), 0);
    assert_false(r->complete);
    atomic_store(&sse_gate, 2);
    assert_int_equal(httpc_read(&h, r, 0, NULL, 5000), 1);
    assert_string_equal((char *)r->body, "data: event 0\n\ndata: event 1\n\ndata: event 2\n\n");
    httpc_resp_free(r);
    httpc_close(&h);
    free(r);
}

static void test_no_responders(void **state)
{
    (void)state;
    struct httpc_resp r;
    get("nobody.test", "/", &r, 0);
    assert_int_equal(r.status, 503);
    httpc_resp_free(&r);
}

static void test_timeout(void **state)
{
    (void)state;
    struct httpc_resp r;
    gwt_serve(&fx, "test.silent", h_silent, NULL);
    int64_t t0 = gwt_now_ms();
    get("silent.test", "/", &r, 0);
    int64_t took = gwt_now_ms() - t0;
    assert_int_equal(r.status, 504);
    assert_true(took >= TIMEOUT_MS - 50);
    httpc_resp_free(&r);
    assert_true(gwproc_log_wait(&fx.gw, "reason=timeout", 2000));
}

/* Silence after the head: the client must not take a cut stream for a
 * whole one, so the connection is cut, not ended cleanly. */
static void test_timeout_mid_stream(void **state)
{
    (void)state;
    struct httpc h;
    struct httpc_resp *r = malloc(sizeof(*r));
    gwt_serve(&fx, "test.stall", h_stall, NULL);
    assert_int_equal(httpc_connect(&h, fx.gw.port), 0);
    httpc_resp_init(r, 0);
    assert_int_equal(httpc_send_str(&h, "GET / HTTP/1.1\r\nHost: stall.test\r\n\r\n"), 0);
    assert_int_equal(httpc_read(&h, r, 0, "first", 5000), 0);
    int64_t t0 = gwt_now_ms();
    assert_int_equal(httpc_read(&h, r, 0, NULL, 5000), -ECONNRESET);
    assert_true(gwt_now_ms() - t0 >= TIMEOUT_MS - 100);
    assert_false(r->complete);
    httpc_resp_free(r);
    httpc_close(&h);
    free(r);
}

static void test_sliding_timeout(void **state)
{
    (void)state;
    struct httpc_resp r;
    gwt_serve(&fx, "test.slow", h_slow_stream, NULL);
    int64_t t0 = gwt_now_ms();
    get("slow.test", "/", &r, 0);
    int64_t took = gwt_now_ms() - t0;
    assert_int_equal(r.status, 200);
    assert_true(took > 2 * TIMEOUT_MS);
    assert_non_null(strstr((char *)r.body, "data: event 10\n\n"));
    httpc_resp_free(&r);
}

static void test_keepalive_pipelining(void **state)
{
    (void)state;
    struct httpc h;
    gwt_serve(&fx, "test.echo", h_echo, NULL);
    assert_int_equal(httpc_connect(&h, fx.gw.port), 0);
    /* Three requests in one write: answered in order on one connection. */
    assert_int_equal(httpc_send_str(&h, "GET /one HTTP/1.1\r\nHost: echo.test\r\n\r\n"
                                        "GET /two HTTP/1.1\r\nHost: echo.test\r\n\r\n"
                                        "POST /three HTTP/1.1\r\nHost: echo.test\r\n"
                                        "Content-Length: 4\r\n\r\nbody"),
                     0);
    static const char *const want[] = {"/one|", "/two|", "/three|body"};
    for (int i = 0; i < 3; i++) {
        struct httpc_resp r;
        httpc_resp_init(&r, 0);
        assert_int_equal(httpc_read(&h, &r, 0, NULL, 5000), 1);
        assert_int_equal(r.status, 200);
        assert_string_equal((char *)r.body, want[i]);
        assert_true(r.keep_alive);
        httpc_resp_free(&r);
    }
    /* Keep-alive: the same connection serves another request later. */
    assert_int_equal(httpc_send_str(&h, "GET /four HTTP/1.1\r\nHost: echo.test\r\n\r\n"), 0);
    struct httpc_resp r;
    httpc_resp_init(&r, 0);
    assert_int_equal(httpc_read(&h, &r, 0, NULL, 5000), 1);
    assert_string_equal((char *)r.body, "/four|");
    httpc_resp_free(&r);
    /* Connection: close is honoured. */
    assert_int_equal(
        httpc_send_str(&h, "GET /five HTTP/1.1\r\nHost: echo.test\r\nConnection: close\r\n\r\n"), 0);
    httpc_resp_init(&r, 0);
    assert_int_equal(httpc_read(&h, &r, 0, NULL, 5000), 1);
    assert_false(r.keep_alive);
    httpc_resp_free(&r);
    assert_int_equal(httpc_wait_closed(&h, 2000), 1);
    httpc_close(&h);
}

static void test_http10(void **state)
{
    (void)state;
    struct httpc h;
    struct httpc_resp r;
    gwt_serve(&fx, "test.ten", h_echo, NULL);
    assert_int_equal(httpc_connect(&h, fx.gw.port), 0);
    assert_int_equal(httpc_send_str(&h, "GET /old HTTP/1.0\r\nHost: ten.test\r\n\r\n"), 0);
    httpc_resp_init(&r, 0);
    assert_int_equal(httpc_read(&h, &r, 0, NULL, 5000), 1);
    assert_string_equal((char *)r.body, "/old|");
    httpc_resp_free(&r);
    assert_int_equal(httpc_wait_closed(&h, 2000), 1);
    httpc_close(&h);

    /* HTTP/1.0 keep-alive is kept. */
    assert_int_equal(httpc_connect(&h, fx.gw.port), 0);
    assert_int_equal(
        httpc_send_str(&h, "GET /ka HTTP/1.0\r\nHost: ten.test\r\nConnection: keep-alive\r\n\r\n"), 0);
    httpc_resp_init(&r, 0);
    assert_int_equal(httpc_read(&h, &r, 0, NULL, 5000), 1);
    char v[64];
    assert_true(httpc_header(&r, "Connection", v, sizeof(v)));
    assert_string_equal(v, "keep-alive");
    httpc_resp_free(&r);
    assert_int_equal(httpc_wait_closed(&h, 200), 0);
    httpc_close(&h);

    /* A streamed response to HTTP/1.0 ends with the connection. */
    gwt_serve(&fx, "test.tenstream", h_stream, NULL);
    assert_int_equal(httpc_connect(&h, fx.gw.port), 0);
    assert_int_equal(httpc_send_str(&h, "GET / HTTP/1.0\r\nHost: tenstream.test\r\n\r\n"), 0);
    httpc_resp_init(&r, 0);
    assert_int_equal(httpc_read(&h, &r, 0, NULL, 5000), 1);
    assert_false(r.chunked);
    assert_non_null(strstr((char *)r.body, "data: event 3"));
    httpc_resp_free(&r);
    httpc_close(&h);
}

static void test_expect_continue(void **state)
{
    (void)state;
    struct httpc h;
    struct httpc_resp r;
    gwt_serve(&fx, "test.cont", h_echo, NULL);
    assert_int_equal(httpc_connect(&h, fx.gw.port), 0);
    assert_int_equal(httpc_send_str(&h, "PUT /c HTTP/1.1\r\nHost: cont.test\r\n"
                                        "Expect: 100-continue\r\nContent-Length: 5\r\n\r\n"),
                     0);
    /* The interim response comes before any body byte is sent. */
    httpc_resp_init(&r, 0);
    uint8_t buf[64];
    size_t got = 0;
    int64_t deadline = gwt_now_ms() + 5000;
    while (got < 25 && gwt_now_ms() < deadline) {
        ssize_t k = recv(h.fd, buf + got, sizeof(buf) - got, MSG_DONTWAIT);
        if (k > 0)
            got += (size_t)k;
        else
            gwt_sleep_ms(5);
    }
    assert_int_equal(got, 25);
    assert_memory_equal(buf, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    assert_int_equal(httpc_send_str(&h, "hello"), 0);
    assert_int_equal(httpc_read(&h, &r, 0, NULL, 5000), 1);
    assert_int_equal(r.status, 200);
    assert_string_equal((char *)r.body, "/c|hello");
    httpc_resp_free(&r);
    httpc_close(&h);

    /* curl sends the body only after 100 Continue (or its own 1 s wait):
     * a fast 100 makes it take well under that. */
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/curl", fx.gw.port);
    const char *argv[] = {"curl", "-s",  "-H", "Host: cont.test", "-H", "Expect: 100-continue",
                          "--data-binary", "abc", url, NULL};
    struct gwproc_out *o = malloc(sizeof(*o));
    int64_t t0 = gwt_now_ms();
    assert_int_equal(gwt_curl(o, 10000, argv), 0);
    assert_int_equal(o->status, 0);
    assert_string_equal(o->buf, "/curl|abc");
    assert_true(gwt_now_ms() - t0 < 900);
    free(o);
}

static void test_chunked_request_body(void **state)
{
    (void)state;
    struct httpc_resp r;
    gwt_serve(&fx, "test.chunky", h_record, NULL);
    pthread_mutex_lock(&rec.mu);
    rec.count = 0;
    pthread_mutex_unlock(&rec.mu);
    int rc = httpc_once(fx.gw.port,
                        "POST /up HTTP/1.1\r\nHost: chunky.test\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
                        &r, 0, 5000);
    assert_int_equal(rc, 1);
    assert_int_equal(r.status, 200);
    httpc_resp_free(&r);
    take_snapshot();
    assert_int_equal(snap.count, 1);
    assert_int_equal(snap.payload_len, 11);
    assert_memory_equal(snap.payload, "hello world", 11);
    char v[64];
    assert_true(rec_hdr("Content-Length", v, sizeof(v)));
    assert_string_equal(v, "11");
    assert_false(rec_hdr("Transfer-Encoding", v, sizeof(v)));
    assert_false(rec_hdr(H8S_HDR_BODY, v, sizeof(v)));
}

static void test_head_204_304(void **state)
{
    (void)state;
    struct httpc_resp r;
    char v[64];
    gwt_serve(&fx, "test.status", h_status, NULL);
    get("status.test", "/200", &r, 1);
    assert_int_equal(r.status, 200);
    assert_true(httpc_header(&r, "Content-Length", v, sizeof(v)));
    assert_string_equal(v, "7");
    assert_int_equal(r.body_len, 0);
    httpc_resp_free(&r);

    get("status.test", "/204", &r, 0);
    assert_int_equal(r.status, 204);
    assert_int_equal(httpc_header_count(&r, "Content-Length"), 0);
    assert_int_equal(r.body_len, 0);
    httpc_resp_free(&r);

    get("status.test", "/304", &r, 0);
    assert_int_equal(r.status, 304);
    assert_true(httpc_header(&r, "ETag", v, sizeof(v)));
    assert_int_equal(r.body_len, 0);
    httpc_resp_free(&r);

    /* After a bodiless response the connection still frames correctly. */
    struct httpc h;
    assert_int_equal(httpc_connect(&h, fx.gw.port), 0);
    assert_int_equal(httpc_send_str(&h, "HEAD /200 HTTP/1.1\r\nHost: status.test\r\n\r\n"
                                        "GET /404 HTTP/1.1\r\nHost: status.test\r\n\r\n"),
                     0);
    httpc_resp_init(&r, 1);
    assert_int_equal(httpc_read(&h, &r, 0, NULL, 5000), 1);
    assert_int_equal(r.status, 200);
    httpc_resp_free(&r);
    httpc_resp_init(&r, 0);
    assert_int_equal(httpc_read(&h, &r, 0, NULL, 5000), 1);
    assert_int_equal(r.status, 404);
    assert_string_equal((char *)r.body, "content");
    httpc_resp_free(&r);
    httpc_close(&h);
}

/* The gateway rides out a NATS server restart: its client reconnects and
 * restores the reply subscription. */
static void test_nats_restart(void **state)
{
    (void)state;
    struct httpc_resp r;
    gwt_serve(&fx, "test.again", h_plain, NULL);
    get("again.test", "/", &r, 0);
    assert_int_equal(r.status, 200);
    httpc_resp_free(&r);
    assert_int_equal(natsd_restart(fx.nd), 0);
    int64_t deadline = gwt_now_ms() + 10000;
    int st = 0;
    while (gwt_now_ms() < deadline) {
        get("again.test", "/", &r, 0);
        st = r.status;
        httpc_resp_free(&r);
        if (st == 200)
            break;
        gwt_sleep_ms(50);
    }
    assert_int_equal(st, 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_reply),
        cmocka_unit_test(test_complete_headers),
        cmocka_unit_test(test_request_headers),
        cmocka_unit_test(test_streamed),
        cmocka_unit_test(test_sse_one_by_one),
        cmocka_unit_test(test_no_responders),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_timeout_mid_stream),
        cmocka_unit_test(test_sliding_timeout),
        cmocka_unit_test(test_keepalive_pipelining),
        cmocka_unit_test(test_http10),
        cmocka_unit_test(test_expect_continue),
        cmocka_unit_test(test_chunked_request_body),
        cmocka_unit_test(test_head_204_304),
        cmocka_unit_test(test_nats_restart),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
