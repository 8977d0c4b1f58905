/*
 * tests/test_nats_parse.c — the server→client NATS parser (proto/nats_parse)
 * and the INFO JSON reader (proto/nats_info).
 *
 * Every vector is fed whole, one byte at a time, split at every offset and
 * in random multi-part splits; each delivery is copied into a heap block of
 * exactly its size so an over-read is caught by ASan. All ways of feeding
 * must produce the same event log and the same final error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/nats_info.h"
#include "proto/nats_parse.h"

#define LOG_MAX (1u << 20)

struct rec {
    struct nats_parse p;
    uint8_t *buf;
    size_t cap;
    char *log;
    size_t len;
    const uint8_t *in_lo, *in_hi; /* the current delivery */
    int stop_after;               /* callbacks allowed before failing; -1 = never */
    int calls;
    int in_place; /* messages delivered as spans into the input */
};

__attribute__((format(printf, 2, 3))) static void logf_(struct rec *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(r->log + r->len, LOG_MAX - r->len, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < LOG_MAX - r->len);
    r->len += (size_t)n;
}

static void log_span(struct rec *r, const char *name, struct span s)
{
    logf_(r, " %s=", name);
    for (size_t i = 0; i < s.n; i++) {
        uint8_t c = s.p[i];
        if (c >= 0x21 && c < 0x7f && c != '\\')
            logf_(r, "%c", c);
        else
            logf_(r, "\\x%02x", c);
    }
}

/* A span must lie inside the current input or the assembly buffer. */
static int span_inside(const struct rec *r, struct span s, int *in_input)
{
    if (s.n == 0)
        return 1;
    if (s.p >= r->in_lo && s.p + s.n <= r->in_hi) {
        *in_input = 1;
        return 1;
    }
    return s.p >= r->buf && s.p + s.n <= r->buf + r->cap;
}

static int count_call(struct rec *r)
{
    r->calls++;
    return r->stop_after >= 0 && r->calls > r->stop_after;
}

static int on_msg(void *cookie, const struct nats_msg *m)
{
    struct rec *r = cookie;
    int in_input = 0;
    assert_true(span_inside(r, m->subject, &in_input));
    assert_true(span_inside(r, m->reply, &in_input));
    assert_true(span_inside(r, m->hdr, &in_input));
    assert_true(span_inside(r, m->payload, &in_input));
    assert_true(m->subject.n > 0);
    for (size_t i = 0; i < m->subject.n; i++)
        assert_true(m->subject.p[i] > 0x20 && m->subject.p[i] != 0x7f);
    r->in_place += in_input;
    logf_(r, "MSG sid=%llu", (unsigned long long)m->sid);
    log_span(r, "subj", m->subject);
    log_span(r, "reply", m->reply);
    log_span(r, "hdr", m->hdr);
    log_span(r, "data", m->payload);
    logf_(r, "\n");
    return count_call(r);
}

static int on_info(void *cookie, struct span json)
{
    struct rec *r = cookie;
    int in_input;
    assert_true(span_inside(r, json, &in_input));
    logf_(r, "INFO len=%zu", json.n);
    if (json.n < 200)
        log_span(r, "json", json);
    logf_(r, "\n");
    return count_call(r);
}

static int on_ping(void *cookie)
{
    struct rec *r = cookie;
    logf_(r, "PING\n");
    return count_call(r);
}

static int on_pong(void *cookie)
{
    struct rec *r = cookie;
    logf_(r, "PONG\n");
    return count_call(r);
}

static int on_ok(void *cookie)
{
    struct rec *r = cookie;
    logf_(r, "OK\n");
    return count_call(r);
}

static int on_err(void *cookie, struct span text)
{
    struct rec *r = cookie;
    logf_(r, "ERR");
    log_span(r, "text", text);
    logf_(r, "\n");
    return count_call(r);
}

static const struct nats_parse_ops rec_ops = {on_msg, on_info, on_ping, on_pong, on_ok, on_err};

struct opts {
    size_t max_payload; /* 0 = default */
    size_t cap;         /* 0 = NATS_PARSE_BUF_MIN */
    int stop_after;     /* -1 = never */
};

static void rec_init(struct rec *r, const struct opts *o)
{
    memset(r, 0, sizeof(*r));
    r->cap = o->cap ? o->cap : NATS_PARSE_BUF_MIN;
    r->buf = malloc(r->cap);
    r->log = malloc(LOG_MAX);
    assert_non_null(r->buf);
    assert_non_null(r->log);
    r->log[0] = '\0';
    r->stop_after = o->stop_after;
    nats_parse_init(&r->p, &rec_ops, r);
    assert_int_equal(nats_parse_set_buffer(&r->p, r->buf, r->cap), 0);
    if (o->max_payload)
        nats_parse_set_max_payload(&r->p, o->max_payload);
}

static void rec_free(struct rec *r)
{
    free(r->buf);
    free(r->log);
}

/* Feeds in[0..n) in parts ending at cuts[0..ncuts) (ascending) and at n. */
static int feed_parts(struct rec *r, const uint8_t *in, size_t n, const size_t *cuts, size_t ncuts)
{
    size_t pos = 0;
    int rc = 0;
    for (size_t k = 0; k <= ncuts; k++) {
        size_t end = k < ncuts ? cuts[k] : n;
        size_t len = end - pos;
        uint8_t *copy = malloc(len ? len : 1);
        assert_non_null(copy);
        memcpy(copy, in + pos, len);
        r->in_lo = copy;
        r->in_hi = copy + len;
        rc = nats_parse_feed(&r->p, copy, len);
        free(copy);
        pos = end;
        if (rc != 0)
            break;
    }
    return rc;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

/*
 * Runs one vector all the ways; returns the reference (whole-feed) error
 * and leaves the reference log in *log_out (caller frees).
 */
static int run_all(const uint8_t *in, size_t n, const struct opts *o, char **log_out, int *in_place)
{
    struct rec ref, r;
    rec_init(&ref, o);
    int want = feed_parts(&ref, in, n, NULL, 0);
    assert_int_equal(nats_parse_error(&ref.p), want);
    if (in_place)
        *in_place = ref.in_place;

    size_t *cuts = malloc((n + 1) * sizeof(*cuts));
    assert_non_null(cuts);

    /* One byte at a time. */
    for (size_t i = 0; i < n; i++)
        cuts[i] = i + 1;
    rec_init(&r, o);
    assert_int_equal(feed_parts(&r, in, n, cuts, n ? n - 1 : 0), want);
    assert_string_equal(r.log, ref.log);
    rec_free(&r);

    /* Two parts, split at every offset (small vectors; big ones get random). */
    if (n <= 4096) {
        for (size_t i = 0; i <= n; i++) {
            rec_init(&r, o);
            cuts[0] = i;
            assert_int_equal(feed_parts(&r, in, n, cuts, 1), want);
            assert_string_equal(r.log, ref.log);
            rec_free(&r);
        }
    }

    /* Random multi-part splits. */
    for (int iter = 0; iter < 100; iter++) {
        size_t k = n ? rng() % (n < 16 ? n : 16) : 0;
        for (size_t i = 0; i < k; i++)
            cuts[i] = rng() % (n + 1);
        qsort(cuts, k, sizeof(*cuts), cmp_size);
        rec_init(&r, o);
        assert_int_equal(feed_parts(&r, in, n, cuts, k), want);
        assert_string_equal(r.log, ref.log);
        rec_free(&r);
    }
    free(cuts);
    *log_out = ref.log;
    ref.log = NULL;
    rec_free(&ref);
    return want;
}

static void expect_vec(const char *in, size_t n, const struct opts *o, int want_err,
                       const char *want_log)
{
    char *log;
    int err = run_all((const uint8_t *)in, n, o, &log, NULL);
    if (err != want_err || strcmp(log, want_log) != 0)
        print_error("vector %.60s...\nwant err %d log:\n%s\ngot err %d log:\n%s\n", in, want_err,
                    want_log, err, log);
    assert_int_equal(err, want_err);
    assert_string_equal(log, want_log);
    free(log);
}

#define VEC(s) (s), sizeof(s) - 1

static const struct opts dflt = {0, 0, -1};

static void test_all_ops(void **state)
{
    (void)state;
    static const char in[] = "INFO {\"server_id\":\"x\"}\r\n"
                             "PING\r\n"
                             "MSG foo 1 5\r\nhello\r\n"
                             "MSG foo.bar 22 reply.x 0\r\n\r\n"
                             "HMSG a 3 12 17\r\nNATS/1.0\r\n\r\nhello\r\n"
                             "HMSG a 3 in.box 12 12\r\nNATS/1.0\r\n\r\n\r\n"
                             "+OK\r\n"
                             "-ERR 'Unknown Protocol Operation'\r\n"
                             "pong\r\n"
                             "msg lower 1 2\r\nhi\r\n"
                             "Msg\tfoo\t 18446744073709551615 \t2 \r\nhi\r\n"
                             "-err\r\n"
                             "MSG bin 7 4\r\n\r\n\0\n\r\n";
    expect_vec(VEC(in), &dflt, 0,
               "INFO len=17 json={\"server_id\":\"x\"}\n"
               "PING\n"
               "MSG sid=1 subj=foo reply= hdr= data=hello\n"
               "MSG sid=22 subj=foo.bar reply=reply.x hdr= data=\n"
               "MSG sid=3 subj=a reply= hdr=NATS/1.0\\x0d\\x0a\\x0d\\x0a data=hello\n"
               "MSG sid=3 subj=a reply=in.box hdr=NATS/1.0\\x0d\\x0a\\x0d\\x0a data=\n"
               "OK\n"
               "ERR text='Unknown\\x20Protocol\\x20Operation'\n"
               "PONG\n"
               "MSG sid=1 subj=lower reply= hdr= data=hi\n"
               "MSG sid=18446744073709551615 subj=foo reply= hdr= data=hi\n"
               "ERR text=\n"
               "MSG sid=7 subj=bin reply= hdr= data=\\x0d\\x0a\\x00\\x0a\n");
}

static void test_zero_copy(void **state)
{
    (void)state;
    static const char in[] = "MSG a 1 3\r\nabc\r\nMSG b 2 r 1\r\nx\r\n";
    char *log;
    int in_place = 0;
    assert_int_equal(run_all((const uint8_t *)in, sizeof(in) - 1, &dflt, &log, &in_place), 0);
    /* Fed whole, both messages come as spans into the input itself. */
    assert_int_equal(in_place, 2);
    free(log);

    /* A message straddling two feeds is assembled; the next one, whole in
     * the second feed, is in place again. */
    struct rec r;
    rec_init(&r, &dflt);
    size_t cut = 13;
    assert_int_equal(feed_parts(&r, (const uint8_t *)in, sizeof(in) - 1, &cut, 1), 0);
    assert_int_equal(r.in_place, 1);
    assert_int_equal(nats_parse_pending(&r.p), 0);
    rec_free(&r);
}

static void test_errors(void **state)
{
    (void)state;
    expect_vec(VEC("FOO\r\n"), &dflt, NATS_PARSE_EPROTO, "");
    expect_vec(VEC("XYZ"), &dflt, NATS_PARSE_EPROTO, "");
    expect_vec(VEC("PINGPONG"), &dflt, NATS_PARSE_EPROTO, "");
    expect_vec(VEC("PING\r\nMSG foo 1 5\r\nhelloX\r\n"), &dflt, NATS_PARSE_ECRLF, "PING\n");
    expect_vec(VEC("MSG foo 1 5\r\nhello\n\r"), &dflt, NATS_PARSE_ECRLF, "");
    expect_vec(VEC("MSG foo 1 5\r\nhello\r\r"), &dflt, NATS_PARSE_ECRLF, "");
    expect_vec(VEC("MSG foo 1\r\n"), &dflt, NATS_PARSE_EPROTO, "");
    expect_vec(VEC("MSG\r\n"), &dflt, NATS_PARSE_EPROTO, "");
    expect_vec(VEC("MSG foo x 5\r\n"), &dflt, NATS_PARSE_EPROTO, "");
    expect_vec(VEC("MSG foo 1 5x\r\n"), &dflt, NATS_PARSE_EPROTO, "");
    expect_vec(VEC("MSG foo 1 -2\r\n"), &dflt, NATS_PARSE_EPROTO, "");
    expect_vec(VEC("MSG foo 18446744073709551616 2\r\nhi\r\n"), &dflt, NATS_PARSE_EPROTO, "");
    expect_vec(VEC("MSG foo 1 99999999999999999999999\r\n"), &dflt, NATS_PARSE_EPROTO, "");
    expect_vec(VEC("MSG foo 1 r 2 3\r\n"), &dflt, NATS_PARSE_EPROTO, "");
    expect_vec(VEC("HMSG foo 1 10 5\r\n"), &dflt, NATS_PARSE_EPROTO, "");
    expect_vec(VEC("HMSG foo 1 5\r\n"), &dflt, NATS_PARSE_EPROTO, "");
    expect_vec(VEC("HMSG foo 1 r 2 5 6\r\n"), &dflt, NATS_PARSE_EPROTO, "");
    expect_vec(VEC("MSG foo 1 2000000\r\n"), &dflt, NATS_PARSE_EPAYLOAD, "");
    expect_vec(VEC("PING\n"), &dflt, NATS_PARSE_EPROTO, "");
    expect_vec(VEC("PING x\r\n"), &dflt, NATS_PARSE_EPROTO, "");
    expect_vec(VEC("PINGX\r\n"), &dflt, NATS_PARSE_EPROTO, "");
    expect_vec(VEC("PI\rNG\r\n"), &dflt, NATS_PARSE_EPROTO, "");
    expect_vec(VEC("MSG fo\x01o 1 2\r\nhi\r\n"), &dflt, NATS_PARSE_EPROTO, "");
    expect_vec(VEC("MSG foo 1 r\x7f 2\r\nhi\r\n"), &dflt, NATS_PARSE_EPROTO, "");
    expect_vec(VEC("\r\n"), &dflt, NATS_PARSE_EPROTO, "");
    expect_vec(VEC(" PING\r\n"), &dflt, NATS_PARSE_EPROTO, "");
    expect_vec(VEC("INFO\r\n"), &dflt, NATS_PARSE_EPROTO, "");
    expect_vec(VEC("INFO   \r\n"), &dflt, NATS_PARSE_EPROTO, "");
    expect_vec(VEC("+OKAY\r\n"), &dflt, NATS_PARSE_EPROTO, "");
    expect_vec(VEC("+OK\r\n-ERR x\r\nMSGX a 1 1\r\n"), &dflt, NATS_PARSE_EPROTO,
               "OK\nERR text=x\n");
}

/* Errors stop everything: later input (even valid) is not looked at. */
static void test_sticky(void **state)
{
    (void)state;
    struct rec r;
    rec_init(&r, &dflt);
    r.in_lo = r.in_hi = NULL;
    assert_int_equal(nats_parse_feed(&r.p, (const uint8_t *)"BAD\r\n", 5), NATS_PARSE_EPROTO);
    assert_int_equal(nats_parse_feed(&r.p, (const uint8_t *)"PING\r\n", 6), NATS_PARSE_EPROTO);
    assert_int_equal(nats_parse_feed(&r.p, NULL, 0), NATS_PARSE_EPROTO);
    assert_int_equal(nats_parse_error(&r.p), NATS_PARSE_EPROTO);
    assert_string_equal(r.log, "");
    rec_free(&r);

    /* A callback asking to stop: the rest of that same input is dropped. */
    struct opts o = {0, 0, 1};
    expect_vec(VEC("PING\r\nPONG\r\nPING\r\n"), &o, NATS_PARSE_ECALLBACK, "PING\nPONG\n");
    rec_init(&r, &o);
    assert_int_equal(nats_parse_feed(&r.p, (const uint8_t *)"PING\r\nPONG\r\n", 12),
                     NATS_PARSE_ECALLBACK);
    assert_int_equal(nats_parse_feed(&r.p, (const uint8_t *)"PING\r\n", 6), NATS_PARSE_ECALLBACK);
    assert_int_equal(r.calls, 2);
    rec_free(&r);
}

static char *repeat_line(const char *prefix, size_t total, const char *suffix)
{
    size_t pl = strlen(prefix), sl = strlen(suffix);
    char *s = malloc(total + 1);
    assert_non_null(s);
    assert_true(total >= pl + sl);
    memcpy(s, prefix, pl);
    memset(s + pl, 'x', total - pl - sl);
    memcpy(s + total - sl, suffix, sl);
    s[total] = '\0';
    return s;
}

static void test_line_limits(void **state)
{
    (void)state;
    char *log;
    /* A MSG control line of exactly NATS_PARSE_LINE_MAX bytes is fine... */
    char *line = repeat_line("MSG ", NATS_PARSE_LINE_MAX, " 1 0\r\n");
    size_t n = strlen(line);
    char *vec = malloc(n + 3);
    memcpy(vec, line, n);
    memcpy(vec + n, "\r\n", 3);
    assert_int_equal(run_all((const uint8_t *)vec, n + 2, &dflt, &log, NULL), 0);
    assert_non_null(strstr(log, "MSG sid=1"));
    free(log);
    free(vec);
    free(line);
    /* ...one more byte is not, whether or not its end ever arrives. */
    line = repeat_line("MSG ", NATS_PARSE_LINE_MAX + 1, " 1 0\r\n");
    assert_int_equal(run_all((const uint8_t *)line, strlen(line), &dflt, &log, NULL),
                     NATS_PARSE_ELINE);
    assert_string_equal(log, "");
    free(log);
    free(line);
    line = repeat_line("-ERR ", NATS_PARSE_LINE_MAX + 1, "");
    assert_int_equal(run_all((const uint8_t *)line, strlen(line), &dflt, &log, NULL),
                     NATS_PARSE_ELINE);
    free(log);
    free(line);

    /* INFO has its own, larger limit. */
    line = repeat_line("INFO {\"a\":\"", NATS_PARSE_INFO_MAX, "\"}\r\n");
    assert_int_equal(run_all((const uint8_t *)line, strlen(line), &dflt, &log, NULL), 0);
    assert_non_null(strstr(log, "INFO len="));
    free(log);
    free(line);
    line = repeat_line("INFO {\"a\":\"", NATS_PARSE_INFO_MAX + 1, "\"}\r\n");
    assert_int_equal(run_all((const uint8_t *)line, strlen(line), &dflt, &log, NULL),
                     NATS_PARSE_ELINE);
    free(log);
    free(line);
    line = repeat_line("INFO ", NATS_PARSE_INFO_MAX + 100, "");
    assert_int_equal(run_all((const uint8_t *)line, strlen(line), &dflt, &log, NULL),
                     NATS_PARSE_ELINE);
    free(log);
    free(line);
}

static void test_max_payload(void **state)
{
    (void)state;
    struct opts o = {10, 0, -1};
    expect_vec(VEC("MSG a 1 10\r\n0123456789\r\n"), &o, 0,
               "MSG sid=1 subj=a reply= hdr= data=0123456789\n");
    expect_vec(VEC("MSG a 1 11\r\n0123456789a\r\n"), &o, NATS_PARSE_EPAYLOAD, "");
    /* Headers count towards the limit. */
    expect_vec(VEC("HMSG a 1 4 10\r\nNATS012345\r\n"), &o, 0,
               "MSG sid=1 subj=a reply= hdr=NATS data=012345\n");
    expect_vec(VEC("HMSG a 1 4 11\r\n"), &o, NATS_PARSE_EPAYLOAD, "");
    /* The limit is checked on the line, before any payload arrives. */
    struct rec r;
    rec_init(&r, &o);
    assert_int_equal(nats_parse_feed(&r.p, (const uint8_t *)"MSG a 1 11\r\n", 12),
                     NATS_PARSE_EPAYLOAD);
    rec_free(&r);
}

static void test_buffer(void **state)
{
    (void)state;
    /* Without a buffer nothing may straddle, but whole input still parses. */
    struct nats_parse p;
    struct rec r;
    rec_init(&r, &dflt);
    nats_parse_init(&p, &rec_ops, &r);
    r.in_lo = (const uint8_t *)"MSG a 1 1\r\nx\r\n";
    r.in_hi = r.in_lo + 14;
    assert_int_equal(nats_parse_feed(&p, r.in_lo, 14), 0);
    assert_int_equal(nats_parse_feed(&p, (const uint8_t *)"PI", 2), NATS_PARSE_EBUF);
    rec_free(&r);

    /* A straddling message larger than the buffer fails at its line. */
    struct opts o = {0, 64, -1};
    rec_init(&r, &o);
    static const char big[] = "MSG a 1 100\r\n";
    assert_int_equal(nats_parse_feed(&r.p, (const uint8_t *)big, sizeof(big) - 1), NATS_PARSE_EBUF);
    rec_free(&r);

    /* Moving to a bigger buffer mid-message keeps what was assembled. */
    rec_init(&r, &o);
    static const char part1[] = "MSG a 1 40\r\n0123456789";
    static const char part2[] = "012345678901234567890123456789\r\n";
    r.in_lo = (const uint8_t *)part1;
    r.in_hi = r.in_lo + sizeof(part1) - 1;
    assert_int_equal(nats_parse_feed(&r.p, r.in_lo, sizeof(part1) - 1), 0);
    assert_int_equal(nats_parse_pending(&r.p), sizeof(part1) - 1);
    uint8_t *small = malloc(20);
    assert_int_equal(nats_parse_set_buffer(&r.p, small, 20), NATS_PARSE_EBUF);
    free(small);
    uint8_t *bigger = malloc(100);
    assert_int_equal(nats_parse_set_buffer(&r.p, bigger, 100), 0);
    free(r.buf);
    r.buf = bigger;
    r.cap = 100;
    r.in_lo = (const uint8_t *)part2;
    r.in_hi = r.in_lo + sizeof(part2) - 1;
    assert_int_equal(nats_parse_feed(&r.p, r.in_lo, sizeof(part2) - 1), 0);
    assert_string_equal(r.log, "MSG sid=1 subj=a reply= hdr= "
                               "data=0123456789012345678901234567890123456789\n");
    rec_free(&r);
}

static void test_strerror(void **state)
{
    (void)state;
    for (int e = NATS_PARSE_ECALLBACK; e <= 0; e++)
        assert_string_not_equal(nats_parse_strerror(e), "unknown error");
    assert_string_equal(nats_parse_strerror(-100), "unknown error");
    for (int e = NATS_INFO_ENONCE; e <= 0; e++)
        assert_string_not_equal(nats_info_strerror(e), "unknown error");
}

/* ------------------------------------------------------------ INFO JSON */

static int info(const char *json, struct nats_info *out)
{
    return nats_info_parse(out, span_cstr(json));
}

static void test_info_fields(void **state)
{
    (void)state;
    struct nats_info *in = malloc(sizeof(*in));
    assert_non_null(in);
    const char *j =
        "{\"server_id\":\"NCX\",\"server_name\":\"n\\u00e9\\ud83d\\ude00\",\"version\":\"2.9.10\","
        "\"proto\":1,\"go\":\"go1.19\",\"host\":\"127.0.0.1\",\"port\":4222,\"headers\":true,"
        "\"auth_required\":true,\"tls_required\":false,\"tls_available\":true,"
        "\"max_payload\":1048576,\"jetstream\":false,\"client_id\":7,\"client_ip\":\"::1\","
        "\"nonce\":\"abc-_\",\"cluster\":\"c\",\"connect_urls\":[\"127.0.0.1:4223\","
        "\"[::1]:4224\"],\"ldm\":true,\"x\":{\"a\":[1,2.5e-3,-0.0,null,true,{}],\"b\":[]},"
        "\"y\":-12}";
    assert_int_equal(info(j, in), 0);
    assert_string_equal(in->server_id, "NCX");
    assert_string_equal(in->server_name, "n\xc3\xa9\xf0\x9f\x98\x80");
    assert_string_equal(in->version, "2.9.10");
    assert_int_equal(in->proto, 1);
    assert_int_equal(in->max_payload, 1048576);
    assert_int_equal(in->client_id, 7);
    assert_true(in->headers && in->auth_required && !in->tls_required && in->tls_available);
    assert_true(in->ldm);
    assert_string_equal(in->nonce, "abc-_");
    assert_int_equal(in->n_connect_urls, 2);
    assert_string_equal(in->connect_urls[0], "127.0.0.1:4223");
    assert_string_equal(in->connect_urls[1], "[::1]:4224");

    /* Defaults, whitespace, repeated keys (last wins), null url list. */
    assert_int_equal(info(" { } ", in), 0);
    assert_int_equal(in->proto, -1);
    assert_int_equal(in->max_payload, 0);
    assert_string_equal(in->server_id, "");
    assert_int_equal(info("{\"proto\":1,\"proto\":2,\"connect_urls\":null}", in), 0);
    assert_int_equal(in->proto, 2);
    assert_int_equal(in->n_connect_urls, 0);
    /* Escaped NUL inside a key never aliases a known key. */
    assert_int_equal(info("{\"proto\\u0000x\":\"s\"}", in), 0);
    assert_int_equal(in->proto, -1);
    free(in);
}

static void test_info_limits(void **state)
{
    (void)state;
    struct nats_info *in = malloc(sizeof(*in));
    char *j = malloc(16384);
    assert_non_null(in);
    assert_non_null(j);

    /* Informational strings are truncated at a character boundary. */
    strcpy(j, "{\"server_name\":\"");
    for (int i = 0; i < 100; i++)
        strcat(j, "\xc3\xa9");
    strcat(j, "\"}");
    assert_int_equal(info(j, in), 0);
    assert_int_equal(strlen(in->server_name), 126);

    /* A nonce that does not fit is an error, never truncated. */
    strcpy(j, "{\"nonce\":\"");
    memset(j + strlen(j), 'n', NATS_INFO_NONCE_MAX);
    strcpy(j + 10 + NATS_INFO_NONCE_MAX, "\"}");
    assert_int_equal(info(j, in), NATS_INFO_ENONCE);
    j[10 + NATS_INFO_NONCE_MAX - 1] = '"';
    j[10 + NATS_INFO_NONCE_MAX] = '}';
    j[10 + NATS_INFO_NONCE_MAX + 1] = '\0';
    assert_int_equal(info(j, in), 0);
    assert_int_equal(strlen(in->nonce), NATS_INFO_NONCE_MAX - 1);

    /* More URLs than kept, and one too long: dropped and counted. */
    strcpy(j, "{\"connect_urls\":[");
    for (int i = 0; i < NATS_INFO_URLS_MAX + 3; i++)
        sprintf(j + strlen(j), "%s\"h%d:4222\"", i ? "," : "", i);
    strcat(j, ",\"");
    size_t at = strlen(j);
    memset(j + at, 'u', NATS_INFO_URL_MAX);
    strcpy(j + at + NATS_INFO_URL_MAX, "\"]}");
    assert_int_equal(info(j, in), 0);
    assert_int_equal(in->n_connect_urls, NATS_INFO_URLS_MAX);
    assert_int_equal(in->connect_urls_dropped, 4);
    assert_string_equal(in->connect_urls[NATS_INFO_URLS_MAX - 1], "h31:4222");

    /* Nesting is bounded. */
    j[0] = '\0';
    strcat(j, "{\"x\":");
    for (int i = 0; i < NATS_INFO_DEPTH_MAX + 5; i++)
        strcat(j, "[");
    assert_int_equal(info(j, in), NATS_INFO_EDEPTH);
    free(j);
    free(in);
}

static void test_info_errors(void **state)
{
    (void)state;
    struct nats_info *in = malloc(sizeof(*in));
    assert_non_null(in);
    static const struct {
        const char *json;
        int err;
    } v[] = {
        {"", NATS_INFO_ESYNTAX},
        {"[]", NATS_INFO_ESYNTAX},
        {"{", NATS_INFO_ESYNTAX},
        {"{}x", NATS_INFO_ESYNTAX},
        {"{}{}", NATS_INFO_ESYNTAX},
        {"{\"a\"}", NATS_INFO_ESYNTAX},
        {"{\"a\":}", NATS_INFO_ESYNTAX},
        {"{\"a\":1,}", NATS_INFO_ESYNTAX},
        {"{,\"a\":1}", NATS_INFO_ESYNTAX},
        {"{\"a\":[1,]}", NATS_INFO_ESYNTAX},
        {"{\"a\":01}", NATS_INFO_ESYNTAX},
        {"{\"a\":1.}", NATS_INFO_ESYNTAX},
        {"{\"a\":1e}", NATS_INFO_ESYNTAX},
        {"{\"a\":-}", NATS_INFO_ESYNTAX},
        {"{\"a\":+1}", NATS_INFO_ESYNTAX},
        {"{\"a\":tru}", NATS_INFO_ESYNTAX},
        {"{\"a\":nul}", NATS_INFO_ESYNTAX},
        {"{\"a\":\"\\x\"}", NATS_INFO_ESYNTAX},
        {"{\"a\":\"\\u12\"}", NATS_INFO_ESYNTAX},
        {"{\"a\":\"\\ud800\"}", NATS_INFO_ESYNTAX},
        {"{\"a\":\"\\udc00\"}", NATS_INFO_ESYNTAX},
        {"{\"a\":\"\\ud800\\u0041\"}", NATS_INFO_ESYNTAX},
        {"{\"a\":\"\x01\"}", NATS_INFO_ESYNTAX},
        {"{\"a\":\"\xc3\"}", NATS_INFO_ESYNTAX},
        {"{\"a\":\"\xc0\xaf\"}", NATS_INFO_ESYNTAX},
        {"{\"a\":\"\xed\xa0\x80\"}", NATS_INFO_ESYNTAX},
        {"{\"a\":\"\xf4\x90\x80\x80\"}", NATS_INFO_ESYNTAX},
        {"{\"a\":\"abc}", NATS_INFO_ESYNTAX},
        {"{'a':1}", NATS_INFO_ESYNTAX},
        {"{\"proto\":\"1\"}", NATS_INFO_ETYPE},
        {"{\"headers\":1}", NATS_INFO_ETYPE},
        {"{\"ldm\":null}", NATS_INFO_ETYPE},
        {"{\"nonce\":5}", NATS_INFO_ETYPE},
        {"{\"connect_urls\":\"a\"}", NATS_INFO_ETYPE},
        {"{\"connect_urls\":[1]}", NATS_INFO_ETYPE},
        {"{\"max_payload\":-1}", NATS_INFO_ERANGE},
        {"{\"max_payload\":1.5}", NATS_INFO_ERANGE},
        {"{\"max_payload\":1e3}", NATS_INFO_ERANGE},
        {"{\"max_payload\":9223372036854775808}", NATS_INFO_ERANGE},
        {"{\"client_id\":18446744073709551616}", NATS_INFO_ERANGE},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        int rc = info(v[i].json, in);
        if (rc != v[i].err)
            print_error("json %s: want %d got %d\n", v[i].json, v[i].err, rc);
        assert_int_equal(rc, v[i].err);
    }
    /* Boundaries that are fine. */
    assert_int_equal(info("{\"max_payload\":9223372036854775807,\"client_id\":"
                          "18446744073709551615,\"a\":-0,\"b\":0.5E+10}",
                          in),
                     0);
    assert_int_equal(in->client_id, UINT64_MAX);
    free(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_ops),     cmocka_unit_test(test_zero_copy),
        cmocka_unit_test(test_errors),      cmocka_unit_test(test_sticky),
        cmocka_unit_test(test_line_limits), cmocka_unit_test(test_max_payload),
        cmocka_unit_test(test_buffer),      cmocka_unit_test(test_strerror),
        cmocka_unit_test(test_info_fields), cmocka_unit_test(test_info_limits),
        cmocka_unit_test(test_info_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
