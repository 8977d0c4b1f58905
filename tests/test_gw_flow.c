/*
 * tests/test_gw_flow.c — bodies larger than a NATS message and flow control
 * (PROTOCOL.md §4), against a responder that plays our agent's part:
 * a 10 MiB upload streamed against credit (Content-Length and chunked),
 * a large download whose pace follows a slow client, a responder that
 * ignores flow control (that one connection is cut, others unaffected),
 * sequence gaps, a client leaving mid-stream (the reason reaches the
 * close subject and the agent), and SIGTERM draining.
 */
#include "tests/gwtest.h"

#include "tests/support/rawsock.h"

#include <signal.h>
#include <sodium.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define AGENT_PREFIX "_INBOX.h8s.testagent."
#define CHUNK (64 * 1024)
#define ABORT_OVERFLOW "event=exchange_aborted worker=0 reason=overflow"

static struct gwfx fx;

/* One exchange at a time in these tests; its state lives on the
 * responder thread (the test reads it after the exchange, or atomics). */
struct xstate {
    char reply[256];
    char agent[128];
    char close_subject[256];
    /* upload */
    uint64_t seq_next, received, credit;
    crypto_hash_sha256_state sh;
    atomic_int errors;
    /* download */
    uint64_t total, sent, dl_credit, dl_seq;
    int ignore_credit, gap_at, blast;
    atomic_ullong sent_now;
    atomic_int aborts;
    atomic_int done;
};

static struct xstate xs;
static pthread_mutex_t closed_mu = PTHREAD_MUTEX_INITIALIZER;
static char closed_subject[256], closed_reason[64];

/* Byte i of the download: a cheap, non-repeating pattern. */
static uint8_t pattern(uint64_t i)
{
    uint64_t x = (i / 8 + 1) * 0x9E3779B97F4A7C15ull;
    x ^= x >> 29;
    return (uint8_t)(x >> (8 * (i % 8)));
}

static void fill(uint8_t *p, uint64_t off, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = pattern(off + i);
}

/* --------------------------------------------------------- uploading */

static void send_credit(struct responder *r, const char *subject, uint64_t credit)
{
    char lines[128];
    snprintf(lines, sizeof(lines), "X-H8s-Control: credit\r\nX-H8s-Credit: %llu\r\n",
             (unsigned long long)credit);
    gwt_pub(r, span_cstr(subject), lines, "", 0);
}

static void h_upload(struct responder *r, const struct nats_msg *m, void *arg)
{
    char v[64], tok[23];
    (void)arg;
    memset(&xs, 0, sizeof(xs));
    snprintf(xs.reply, sizeof(xs.reply), "%.*s", (int)m->reply.n, (const char *)m->reply.p);
    crypto_hash_sha256_init(&xs.sh);
    if (!responder_hdr(m, H8S_HDR_BODY, v, sizeof(v)) || strcmp(v, "stream") != 0 || m->payload.n) {
        atomic_fetch_add(&xs.errors, 1);
        gwt_reply_full(r, m->reply, 500, NULL, "expected a streamed body");
        return;
    }
    responder_token(r, tok);
    snprintf(xs.agent, sizeof(xs.agent), AGENT_PREFIX "%s", tok);
    xs.seq_next = 1;
    xs.credit = 256 * 1024;
    char lines[256];
    snprintf(lines, sizeof(lines),
             "X-H8s-Control: ready\r\nX-H8s-Agent-Subject: %s\r\nX-H8s-Credit: %llu\r\n", xs.agent,
             (unsigned long long)xs.credit);
    gwt_pub(r, m->reply, lines, "", 0);
}

static void upload_chunk(struct responder *r, const struct nats_msg *m)
{
    char v[64];
    if (!responder_hdr(m, H8S_HDR_SEQ, v, sizeof(v)) || strtoull(v, NULL, 10) != xs.seq_next)
        atomic_fetch_add(&xs.errors, 1);
    xs.seq_next++;
    xs.received += m->payload.n;
    if (xs.received > xs.credit)
        atomic_fetch_add(&xs.errors, 1); /* the gateway overran our credit */
    if (m->payload.n == 0) {
        uint8_t sha[32];
        char hex[65];
        crypto_hash_sha256_final(&xs.sh, sha);
        gwproc_hex(sha, hex);
        gwt_reply_full(r, span_cstr(xs.reply), 200, NULL, hex);
        atomic_store(&xs.done, 1);
        return;
    }
    crypto_hash_sha256_update(&xs.sh, m->payload.p, m->payload.n);
    if (xs.credit - xs.received < 128 * 1024) {
        xs.credit += 256 * 1024;
        send_credit(r, xs.reply, xs.credit);
    }
}

/* -------------------------------------------------------- downloading */

static void dl_pump(struct responder *r);

static void dl_pump_later(struct responder *r, void *arg)
{
    (void)arg;
    dl_pump(r);
}

static void dl_pump(struct responder *r)
{
    static uint8_t buf[CHUNK];
    while (xs.sent < xs.total && (xs.ignore_credit || xs.sent < xs.dl_credit)) {
        uint64_t k = xs.total - xs.sent;
        if (k > CHUNK)
            k = CHUNK;
        if (!xs.ignore_credit && k > xs.dl_credit - xs.sent)
            k = xs.dl_credit - xs.sent;
        fill(buf, xs.sent, (size_t)k);
        uint64_t seq = ++xs.dl_seq;
        if (xs.gap_at && seq == (uint64_t)xs.gap_at)
            seq++; /* skip a number */
        char lines[64];
        snprintf(lines, sizeof(lines), "X-H8s-Seq: %llu\r\n", (unsigned long long)seq);
        if (gwt_pub(r, span_cstr(xs.reply), xs.blast ? NULL : lines, buf, (size_t)k) < 0) {
            xs.dl_seq--;
            responder_after(r, 2, dl_pump_later, NULL);
            return;
        }
        xs.sent += k;
        atomic_store(&xs.sent_now, xs.sent);
    }
    if (xs.sent == xs.total && !atomic_load(&xs.done)) {
        char lines[64];
        snprintf(lines, sizeof(lines), "X-H8s-Seq: %llu\r\n", (unsigned long long)++xs.dl_seq);
        gwt_pub(r, span_cstr(xs.reply), xs.blast ? NULL : lines, "", 0);
        atomic_store(&xs.done, 1);
    }
}

static void dl_start(struct responder *r, const struct nats_msg *m)
{
    char v[64], tok[23];
    snprintf(xs.reply, sizeof(xs.reply), "%.*s", (int)m->reply.n, (const char *)m->reply.p);
    responder_hdr(m, H8S_HDR_CLOSE_SUBJECT, xs.close_subject, sizeof(xs.close_subject));
    xs.dl_credit = responder_hdr(m, H8S_HDR_WINDOW, v, sizeof(v)) ? strtoull(v, NULL, 10) : 0;
    responder_token(r, tok);
    snprintf(xs.agent, sizeof(xs.agent), AGENT_PREFIX "%s", tok);
    char lines[256];
    if (xs.blast)
        snprintf(lines, sizeof(lines), "Status-Code: 200\r\n");
    else
        snprintf(lines, sizeof(lines), "Status-Code: 200\r\nX-H8s-Agent-Subject: %s\r\n"
                                       "Content-Type: application/octet-stream\r\n", xs.agent);
    gwt_pub(r, m->reply, lines, "", 0);
    dl_pump(r);
}

static void h_download(struct responder *r, const struct nats_msg *m, void *arg)
{
    (void)arg;
    dl_start(r, m);
}

/* The agent's own subject: body chunks, credit and aborts from the gateway. */
static void h_agent(struct responder *r, const struct nats_msg *m, void *arg)
{
    char v[64];
    (void)arg;
    if (responder_hdr(m, H8S_HDR_CONTROL, v, sizeof(v))) {
        if (strcmp(v, "abort") == 0) {
            atomic_fetch_add(&xs.aborts, 1);
            xs.total = xs.sent; /* stop */
            atomic_store(&xs.done, 1);
            return;
        }
        if (strcmp(v, "credit") == 0 && responder_hdr(m, H8S_HDR_CREDIT, v, sizeof(v))) {
            uint64_t c = strtoull(v, NULL, 10);
            if (c > xs.dl_credit)
                xs.dl_credit = c;
            dl_pump(r);
        }
        return;
    }
    upload_chunk(r, m);
}

static void h_closed(struct responder *r, const struct nats_msg *m, void *arg)
{
    (void)r;
    (void)arg;
    pthread_mutex_lock(&closed_mu);
    snprintf(closed_subject, sizeof(closed_subject), "%.*s", (int)m->subject.n,
             (const char *)m->subject.p);
    snprintf(closed_reason, sizeof(closed_reason), "%.*s", (int)m->payload.n,
             (const char *)m->payload.p);
    pthread_mutex_unlock(&closed_mu);
}

/* ------------------------------------------------------------- set-up */

static int group_setup(void **state)
{
    (void)state;
    static const char *const args[] = {"--max-body-size=64MiB", "--request-timeout=5s", NULL};
    if (gwt_setup(&fx, NULL, args) < 0)
        return -1;
    if (responder_sub(fx.rs, AGENT_PREFIX "*", NULL, h_agent, NULL) < 0 ||
        responder_sub(fx.rs, "h8s.control.connection.closed.>", NULL, h_closed, NULL) < 0)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    gwt_teardown(&fx);
    return 0;
}

static void reset_state(struct responder *r, void *arg)
{
    (void)r;
    struct xstate *init = arg;
    xs.total = init->total;
    xs.ignore_credit = init->ignore_credit;
    xs.gap_at = init->gap_at;
    xs.blast = init->blast;
    xs.sent = xs.dl_seq = xs.dl_credit = 0;
    atomic_store(&xs.sent_now, 0);
    atomic_store(&xs.aborts, 0);
    atomic_store(&xs.errors, 0);
    atomic_store(&xs.done, 0);
}

static void set_download(uint64_t total, int ignore_credit, int gap_at, int blast)
{
    static struct xstate init;
    init.total = total;
    init.ignore_credit = ignore_credit;
    init.gap_at = gap_at;
    init.blast = blast;
    assert_int_equal(responder_call(fx.rs, reset_state, &init), 0);
}

/* -------------------------------------------------------------- tests */

static void upload(const char *extra_header)
{
    const size_t size = 10u * 1024 * 1024;
    char path[300], url[128], hex[65];
    snprintf(path, sizeof(path), "%s/upload.bin", fx.gw.dir);
    uint8_t *data = malloc(size);
    assert_non_null(data);
    randombytes_buf(data, size);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, size, f), size);
    fclose(f);
    uint8_t sha[32];
    crypto_hash_sha256(sha, data, size);
    gwproc_hex(sha, hex);
    free(data);

    snprintf(url, sizeof(url), "http://127.0.0.1:%u/upload", fx.gw.port);
    char file_arg[320];
    snprintf(file_arg, sizeof(file_arg), "@%s", path);
    const char *argv[] = {"curl", "-s", "-H", "Host: up.test", "-H", extra_header,
                          "--data-binary", file_arg, url, NULL};
    struct gwproc_out *o = malloc(sizeof(*o));
    assert_int_equal(gwt_curl(o, 60000, argv), 0);
    unlink(path);
    assert_int_equal(o->status, 0);
    assert_string_equal(o->buf, hex);
    assert_int_equal(atomic_load(&xs.errors), 0);
    free(o);
}

static void test_upload_10mib(void **state)
{
    (void)state;
    gwt_serve(&fx, "test.up", h_upload, NULL);

    /* A streamed body waits for the agent: 100 Continue comes once the
     * agent is ready, before any body byte was sent. */
    struct httpc h;
    assert_int_equal(httpc_connect(&h, fx.gw.port), 0);
    assert_int_equal(httpc_send_str(&h, "PUT /e HTTP/1.1\r\nHost: up.test\r\n"
                                        "Expect: 100-continue\r\nContent-Length: 3000000\r\n\r\n"),
                     0);
    char cont[26];
    size_t got = 0;
    int64_t deadline = gwt_now_ms() + 5000;
    while (got < 25 && gwt_now_ms() < deadline) {
        ssize_t k = recv(h.fd, cont + got, 25 - got, MSG_DONTWAIT);
        if (k > 0)
            got += (size_t)k;
        else
            gwt_sleep_ms(2);
    }
    assert_int_equal(got, 25);
    assert_memory_equal(cont, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    httpc_close(&h);

    upload("X-Test: content-length");
    /* Chunked: buffered until it outgrows one message, then a stream. */
    upload("Transfer-Encoding: chunked");
}

static void test_download_follows_slow_client(void **state)
{
    (void)state;
    const uint64_t total = 48u * 1024 * 1024;
    gwt_serve(&fx, "test.down", h_download, NULL);
    set_download(total, 0, 0, 0);

    /* A slow reader with a small receive buffer. */
    struct httpc *h = malloc(sizeof(*h));
    struct httpc_resp *r = malloc(sizeof(*r));
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int rcv = 64 * 1024;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
    close(fd);
    assert_int_equal(httpc_connect(h, fx.gw.port), 0);
    setsockopt(h->fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
    httpc_resp_init(r, 0);
    assert_int_equal(httpc_send_str(h, "GET /big HTTP/1.1\r\nHost: down.test\r\n\r\n"), 0);
    assert_int_equal(httpc_read(h, r, 1, NULL, 5000), 0);
    assert_int_equal(r->status, 200);
    /* Read slowly: the responder must not run far ahead of the client. */
    uint64_t got = 0, max_ahead = 0;
    crypto_hash_sha256_state sh;
    crypto_hash_sha256_init(&sh);
    int64_t deadline = gwt_now_ms() + 60000;
    int slow_rounds = 0;
    h->read_max = 16 * 1024;
    while (!r->complete && gwt_now_ms() < deadline) {
        int rc = httpc_read(h, r, 0, NULL, 0 /* one read */);
        if (rc < 0 && rc != -EAGAIN)
            fail_msg("read failed: %d after %llu bytes", rc, (unsigned long long)got);
        if (r->body_len) {
            crypto_hash_sha256_update(&sh, r->body, r->body_len);
            got += r->body_len;
            r->body_len = 0;
        }
        uint64_t sent = atomic_load(&xs.sent_now);
        if (sent > got && sent - got > max_ahead)
            max_ahead = sent - got;
        if (slow_rounds < 256) {
            slow_rounds++;
            gwt_sleep_ms(10); /* 16 KiB per 10 ms for the first 4 MiB */
        } else {
            h->read_max = 0;
        }
    }
    assert_true(r->complete);
    assert_true(got == total);
    print_message("responder ran at most %llu bytes ahead of the slow client\n",
                  (unsigned long long)max_ahead);
    /* Bounded by the gateway's window and queue plus socket buffers, far
     * below the 48 MiB a responder without flow control would push. */
    if (max_ahead > 12u * 1024 * 1024)
        fail_msg("responder ran %llu bytes ahead of the client", (unsigned long long)max_ahead);
    uint8_t sha[32], want[32];
    crypto_hash_sha256_final(&sh, sha);
    crypto_hash_sha256_state ws;
    crypto_hash_sha256_init(&ws);
    uint8_t *buf = malloc(CHUNK);
    for (uint64_t off = 0; off < total; off += CHUNK) {
        fill(buf, off, CHUNK);
        crypto_hash_sha256_update(&ws, buf, CHUNK);
    }
    free(buf);
    crypto_hash_sha256_final(&ws, want);
    assert_memory_equal(sha, want, 32);
    httpc_resp_free(r);
    httpc_close(h);
    free(r);
    free(h);
}

static void test_download_curl(void **state)
{
    (void)state;
    const uint64_t total = 20u * 1024 * 1024;
    gwt_serve(&fx, "test.curl", h_download, NULL);
    set_download(total, 0, 0, 0);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/file", fx.gw.port);
    const char *argv[] = {"curl", "-s", "-H", "Host: curl.test", url, NULL};
    struct gwproc_out *o = malloc(sizeof(*o));
    assert_int_equal(gwt_curl(o, 60000, argv), 0);
    assert_int_equal(o->status, 0);
    assert_true(o->total == total);
    uint8_t *buf = malloc(CHUNK);
    crypto_hash_sha256_state ws;
    uint8_t want[32];
    crypto_hash_sha256_init(&ws);
    for (uint64_t off = 0; off < total; off += CHUNK) {
        fill(buf, off, CHUNK);
        crypto_hash_sha256_update(&ws, buf, CHUNK);
    }
    crypto_hash_sha256_final(&ws, want);
    assert_memory_equal(o->sha, want, 32);
    free(buf);
    free(o);
}

/* Reads a response expecting it to be cut: returns the body bytes seen. */
static size_t read_cut(uint16_t port, const char *req, int *cut)
{
    struct httpc *h = malloc(sizeof(*h));
    struct httpc_resp *r = malloc(sizeof(*r));
    assert_int_equal(httpc_connect(h, port), 0);
    httpc_resp_init(r, 0);
    assert_int_equal(httpc_send_str(h, req), 0);
    int rc = httpc_read(h, r, 0, NULL, 20000);
    *cut = rc == -ECONNRESET || rc == -EPROTO;
    size_t n = r->body_len;
    httpc_resp_free(r);
    httpc_close(h);
    free(r);
    free(h);
    return n;
}

static void test_sequence_gap(void **state)
{
    (void)state;
    gwt_serve(&fx, "test.gap", h_download, NULL);
    set_download(4 * CHUNK, 0, 2, 0);
    int cut = 0;
    size_t n = read_cut(fx.gw.port, "GET / HTTP/1.1\r\nHost: gap.test\r\n\r\n", &cut);
    assert_true(cut);
    assert_true(n < 4 * CHUNK);
    assert_true(gwproc_log_wait(&fx.gw, "reason=protocol_error", 2000));
}

static void test_responder_ignores_credit(void **state)
{
    (void)state;
    gwt_serve(&fx, "test.greedy", h_download, NULL);
    /* Flow control announced, then ignored: more than the window at once. */
    set_download(8u * 1024 * 1024, 1, 0, 0);
    int cut = 0;
    struct httpc *h = malloc(sizeof(*h));
    struct httpc_resp *r = malloc(sizeof(*r));
    assert_int_equal(httpc_connect(h, fx.gw.port), 0);
    httpc_resp_init(r, 0);
    assert_int_equal(httpc_send_str(h, "GET / HTTP/1.1\r\nHost: greedy.test\r\n\r\n"), 0);
    /* Do not read until the gateway has given up on it. */
    assert_true(gwproc_log_wait(&fx.gw, "reason=overflow", 10000));
    int rc = httpc_read(h, r, 0, NULL, 20000);
    cut = rc == -ECONNRESET || rc == -EPROTO;
    assert_true(cut);
    httpc_resp_free(r);
    httpc_close(h);
    free(r);
    free(h);
    /* The responder was told. */
    int64_t deadline = gwt_now_ms() + 5000;
    while (atomic_load(&xs.aborts) == 0 && gwt_now_ms() < deadline)
        gwt_sleep_ms(5);
    assert_int_equal(atomic_load(&xs.aborts), 1);
}

static void h_ok(struct responder *r, const struct nats_msg *m, void *arg)
{
    (void)arg;
    gwt_reply_full(r, m->reply, 200, NULL, "fine");
}

static void test_blast_without_flow_control(void **state)
{
    (void)state;
    gwt_serve(&fx, "test.blast", h_download, NULL);
    gwt_serve(&fx, "test.fine", h_ok, NULL);
    int before = gwproc_log_count(&fx.gw, ABORT_OVERFLOW);
    /* A Go-style responder: no agent subject, no numbers, 32 MiB at once,
     * to a client that does not read. */
    set_download(32u * 1024 * 1024, 1, 0, 1);
    struct httpc *h = malloc(sizeof(*h));
    int rcv = 64 * 1024;
    assert_int_equal(httpc_connect(h, fx.gw.port), 0);
    setsockopt(h->fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
    assert_int_equal(httpc_send_str(h, "GET / HTTP/1.1\r\nHost: blast.test\r\n\r\n"), 0);
    int64_t deadline = gwt_now_ms() + 20000;
    while (gwproc_log_count(&fx.gw, ABORT_OVERFLOW) == before && gwt_now_ms() < deadline)
        gwt_sleep_ms(10);
    assert_int_equal(gwproc_log_count(&fx.gw, ABORT_OVERFLOW), before + 1);
    /* Others are unaffected. */
    struct httpc_resp r;
    assert_int_equal(httpc_once(fx.gw.port, "GET / HTTP/1.1\r\nHost: fine.test\r\n\r\n", &r, 0,
                                5000),
                     1);
    assert_int_equal(r.status, 200);
    httpc_resp_free(&r);
    /* The slow client never gets a truncated body as a whole one. */
    struct httpc_resp *rr = malloc(sizeof(*rr));
    httpc_resp_init(rr, 0);
    int rc = httpc_read(h, rr, 0, NULL, 20000);
    assert_true(rc == -ECONNRESET || rc == -EPROTO);
    httpc_resp_free(rr);
    free(rr);
    httpc_close(h);
    free(h);
}

static void test_client_leaves_mid_stream(void **state)
{
    (void)state;
    gwt_serve(&fx, "test.leave", h_download, NULL);
    pthread_mutex_lock(&closed_mu);
    closed_subject[0] = closed_reason[0] = '\0';
    pthread_mutex_unlock(&closed_mu);
    /* A long stream; the client reads a little and goes. */
    set_download(512u * 1024 * 1024, 0, 0, 0);
    struct httpc *h = malloc(sizeof(*h));
    struct httpc_resp *r = malloc(sizeof(*r));
    assert_int_equal(httpc_connect(h, fx.gw.port), 0);
    httpc_resp_init(r, 0);
    assert_int_equal(httpc_send_str(h, "GET / HTTP/1.1\r\nHost: leave.test\r\n\r\n"), 0);
    assert_int_equal(httpc_read(h, r, 1, NULL, 5000), 0);
    httpc_resp_free(r);
    httpc_close(h);
    free(r);
    free(h);
    int64_t deadline = gwt_now_ms() + 3000;
    int ok = 0;
    while (!ok && gwt_now_ms() < deadline) {
        /* Only this exchange's subject counts: a reason for an earlier
         * test's exchange may still be on its way. */
        pthread_mutex_lock(&closed_mu);
        ok = strcmp(closed_subject, xs.close_subject) == 0;
        pthread_mutex_unlock(&closed_mu);
        if (!ok)
            gwt_sleep_ms(5);
    }
    assert_true(ok);
    char reason[64];
    pthread_mutex_lock(&closed_mu);
    memcpy(reason, closed_reason, sizeof(reason));
    pthread_mutex_unlock(&closed_mu);
    assert_string_equal(reason, "client_closed");
    while (atomic_load(&xs.aborts) == 0 && gwt_now_ms() < deadline)
        gwt_sleep_ms(5);
    assert_int_equal(atomic_load(&xs.aborts), 1);
    assert_true(atomic_load(&xs.sent_now) < 512u * 1024 * 1024);
}

/* ------------------------------------------------------------- drain */

static atomic_int drain_seen;

static void drain_answer(struct responder *r, void *arg)
{
    char *reply = arg;
    gwt_reply_full(r, span_cstr(reply), 200, NULL, "drained fine");
}

static void h_slow_ok(struct responder *r, const struct nats_msg *m, void *arg)
{
    (void)arg;
    char *reply = malloc(m->reply.n + 1);
    memcpy(reply, m->reply.p, m->reply.n);
    reply[m->reply.n] = '\0';
    atomic_fetch_add(&drain_seen, 1);
    responder_after_owned(r, 600, drain_answer, reply);
}

struct bg_req {
    uint16_t port;
    const char *req;
    int rc, status;
    char body[64];
};

static void *bg_main(void *arg)
{
    struct bg_req *b = arg;
    struct httpc_resp *r = malloc(sizeof(*r));
    b->rc = httpc_once(b->port, b->req, r, 0, 10000);
    b->status = r->status;
    snprintf(b->body, sizeof(b->body), "%s", r->body ? (char *)r->body : "");
    httpc_resp_free(r);
    free(r);
    return NULL;
}

static void test_sigterm_drain(void **state)
{
    (void)state;
    struct gwproc g;
    static const char *const args[] = {"--drain-timeout=5s", "--workers=2", NULL};
    gwt_serve(&fx, "test.drain", h_slow_ok, NULL);
    assert_int_equal(gwproc_start(&g, natsd_url(fx.nd), args), 0);
    /* An idle keep-alive connection, and an exchange in flight. */
    struct httpc idle;
    assert_int_equal(httpc_connect(&idle, g.port), 0);
    struct bg_req b = {.port = g.port, .req = "GET / HTTP/1.1\r\nHost: drain.test\r\n\r\n"};
    pthread_t th;
    int before = atomic_load(&drain_seen);
    assert_int_equal(pthread_create(&th, NULL, bg_main, &b), 0);
    int64_t deadline = gwt_now_ms() + 5000;
    while (atomic_load(&drain_seen) == before && gwt_now_ms() < deadline)
        gwt_sleep_ms(2);
    assert_int_equal(gwproc_signal(&g, SIGTERM), 0);
    /* New connections are refused soon after. */
    int refused = 0;
    deadline = gwt_now_ms() + 2000;
    while (!refused && gwt_now_ms() < deadline) {
        int fd = rawsock_connect(g.port, 500);
        if (fd == -ECONNREFUSED)
            refused = 1;
        else if (fd >= 0)
            close(fd);
        gwt_sleep_ms(10);
    }
    assert_true(refused);
    assert_int_equal(httpc_wait_closed(&idle, 2000), 1);
    httpc_close(&idle);
    /* The exchange in flight completes. */
    pthread_join(th, NULL);
    assert_int_equal(b.rc, 1);
    assert_int_equal(b.status, 200);
    assert_string_equal(b.body, "drained fine");
    assert_int_equal(gwproc_wait(&g, 10000), 0);
    assert_true(WIFEXITED(g.exit_status));
    assert_int_equal(WEXITSTATUS(g.exit_status), 0);
    assert_true(gwproc_log_has(&g, "event=gateway_stats"));
    gwproc_stop(&g);
}

static void test_sigterm_drain_timeout(void **state)
{
    (void)state;
    struct gwproc g;
    static const char *const args[] = {"--drain-timeout=300ms", NULL};
    gwt_serve(&fx, "test.drainslow", h_slow_ok, NULL);
    assert_int_equal(gwproc_start(&g, natsd_url(fx.nd), args), 0);
    struct bg_req b = {.port = g.port, .req = "GET / HTTP/1.1\r\nHost: drainslow.test\r\n\r\n"};
    pthread_t th;
    int before = atomic_load(&drain_seen);
    assert_int_equal(pthread_create(&th, NULL, bg_main, &b), 0);
    int64_t deadline = gwt_now_ms() + 5000;
    while (atomic_load(&drain_seen) == before && gwt_now_ms() < deadline)
        gwt_sleep_ms(2);
    int64_t t0 = gwt_now_ms();
    assert_int_equal(gwproc_signal(&g, SIGTERM), 0);
    pthread_join(th, NULL);
    /* Cut short by the drain timeout: an answer, not a hang. */
    assert_int_equal(b.rc, 1);
    assert_int_equal(b.status, 503);
    assert_int_equal(gwproc_wait(&g, 10000), 0);
    assert_true(gwt_now_ms() - t0 < 3000);
    assert_int_equal(WEXITSTATUS(g.exit_status), 0);
    gwproc_stop(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upload_10mib),
        cmocka_unit_test(test_download_follows_slow_client),
        cmocka_unit_test(test_download_curl),
        cmocka_unit_test(test_sequence_gap),
        cmocka_unit_test(test_responder_ignores_credit),
        cmocka_unit_test(test_blast_without_flow_control),
        cmocka_unit_test(test_client_leaves_mid_stream),
        cmocka_unit_test(test_sigterm_drain),
        cmocka_unit_test(test_sigterm_drain_timeout),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
