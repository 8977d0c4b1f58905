/*
 * tests/test_h8s_ctl.c — flow-control headers and the sequenced receiver
 * (proto/h8s_ctl). Header blocks arrive whole (the NATS parser assembles
 * them), so each is parsed from a guard-page placement of exactly its size:
 * an over-read faults at once. Every truncation of a valid block is tried.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/h8s_ctl.h"
#include "proto/nats_hdr.h"
#include "tests/support/guardpage.h"

static struct guardpage gp;

static int setup(void **state)
{
    (void)state;
    return guardpage_init(&gp, 1 << 16) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    guardpage_free(&gp);
    return 0;
}

static int parse_str(struct h8s_ctl *c, const char *s)
{
    size_t n = strlen(s);
    return h8s_ctl_parse(c, span_make(guardpage_place(&gp, s, n), n));
}

static void test_numbers(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int ok;
        uint64_t v;
    } v[] = {
        {"0", 1, 0},
        {"1", 1, 1},
        {"1048576", 1, 1048576},
        {"18446744073709551615", 1, UINT64_MAX},
        {"18446744073709551616", 0, 0},
        {"99999999999999999999", 0, 0},
        {"000000000000000000001", 0, 0},
        {"01", 0, 0},
        {"", 0, 0},
        {"+1", 0, 0},
        {"-1", 0, 0},
        {"1 ", 0, 0},
        {" 1", 0, 0},
        {"1e3", 0, 0},
        {"0x10", 0, 0},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        uint64_t got = 7;
        size_t n = strlen(v[i].s);
        int rc = h8s_ctl_number(span_make(guardpage_place(&gp, v[i].s, n), n), &got);
        if (v[i].ok) {
            assert_int_equal(rc, 0);
            assert_true(got == v[i].v);
        } else {
            assert_int_equal(rc, H8S_CTL_E_FORMAT);
            assert_true(got == 7);
        }
    }
}

static void test_subject_ok(void **state)
{
    (void)state;
    const char *good[] = {
        "a",      "_INBOX.h8s.abc.def", "h8s.control.connection.closed.x.y", "a.b*.c", "a.>b",
        "x-y_z.0"};
    const char *bad[] = {"",  ".",   "a.",  ".a",   "a..b",  "a.*",         "*",
                         ">", "a.>", "a b", "a\tb", "a\x01", "caf\xc3\xa9", "a\x7f"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_true(h8s_ctl_subject_ok(span_cstr(good[i])));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(h8s_ctl_subject_ok(span_cstr(bad[i])));
    char big[H8S_CTL_SUBJECT_MAX + 2];
    memset(big, 'a', sizeof(big));
    assert_true(h8s_ctl_subject_ok(span_make(big, H8S_CTL_SUBJECT_MAX)));
    assert_false(h8s_ctl_subject_ok(span_make(big, H8S_CTL_SUBJECT_MAX + 1)));
}

static void test_parse_kinds(void **state)
{
    (void)state;
    struct h8s_ctl c;

    assert_int_equal(h8s_ctl_parse(&c, span_make(NULL, 0)), 0);
    assert_int_equal(c.kind, H8S_CTL_DATA);
    assert_int_equal(c.has, 0);

    assert_int_equal(parse_str(&c, "NATS/1.0\r\nX-H8s-Seq: 42\r\n\r\n"), 0);
    assert_int_equal(c.kind, H8S_CTL_DATA);
    assert_int_equal(c.has, H8S_CTL_HAS_SEQ);
    assert_true(c.seq == 42);

    assert_int_equal(parse_str(&c, "NATS/1.0\r\nx-h8s-control: Ready\r\nX-H8S-CREDIT: 262144\r\n"
                                   "X-H8s-Agent-Subject: _INBOX.h8s.a.b\r\nOther: x\r\n\r\n"),
                     0);
    assert_int_equal(c.kind, H8S_CTL_READY);
    assert_int_equal(c.has, H8S_CTL_HAS_CREDIT | H8S_CTL_HAS_AGENT);
    assert_true(c.credit == 262144);
    assert_true(span_eq(c.agent_subject, SPAN_LIT("_INBOX.h8s.a.b")));

    assert_int_equal(parse_str(&c, "NATS/1.0\r\nX-H8s-Control: credit\r\nX-H8s-Credit: 5\r\n"
                                   "X-H8s-Credit: 5\r\n\r\n"),
                     0);
    assert_int_equal(c.kind, H8S_CTL_CREDIT);
    assert_true(c.credit == 5);

    assert_int_equal(
        parse_str(&c, "NATS/1.0\r\nX-H8s-Control: abort\r\nX-H8s-Reason: client_closed\r\n\r\n"),
        0);
    assert_int_equal(c.kind, H8S_CTL_ABORT);
    assert_true(span_eq(c.reason, SPAN_LIT("client_closed")));

    assert_int_equal(parse_str(&c, "NATS/1.0\r\nX-H8s-Control: pause\r\n\r\n"), 0);
    assert_int_equal(c.kind, H8S_CTL_OTHER);

    assert_int_equal(parse_str(&c, "NATS/1.0 503\r\n\r\n"), 0);
    assert_int_equal(c.kind, H8S_CTL_DATA);
    assert_int_equal(c.has, H8S_CTL_HAS_STATUS);
    assert_int_equal(c.status, 503);
}

static void test_parse_bad(void **state)
{
    (void)state;
    struct h8s_ctl c;
    const char *bad[] = {
        "NATS/1.0\r\nX-H8s-Seq: 1\r\nX-H8s-Seq: 2\r\n\r\n",
        "NATS/1.0\r\nX-H8s-Seq: x\r\n\r\n",
        "NATS/1.0\r\nX-H8s-Seq: \r\n\r\n",
        "NATS/1.0\r\nX-H8s-Credit: -5\r\n\r\n",
        "NATS/1.0\r\nX-H8s-Credit: 18446744073709551616\r\n\r\n",
        "NATS/1.0\r\nX-H8s-Control: ready\r\nX-H8s-Control: abort\r\n\r\n",
        "NATS/1.0\r\nX-H8s-Agent-Subject: a b\r\n\r\n",
        "NATS/1.0\r\nX-H8s-Agent-Subject: a.*\r\n\r\n",
        "NATS/1.0\r\nX-H8s-Reason: two words\r\n\r\n",
        "NATS/1.0\r\nX-H8s-Seq: 1\r\n",
        "NATS/1.0\r\nX-H8s-Seq 1\r\n\r\n",
        "HTTP/1.1\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(parse_str(&c, bad[i]), H8S_CTL_E_FORMAT);
    /* Every proper prefix of a valid block is malformed, never a crash. */
    const char *ok = "NATS/1.0\r\nX-H8s-Control: credit\r\nX-H8s-Credit: 123\r\n\r\n";
    for (size_t n = 1; n < strlen(ok); n++) {
        assert_int_equal(h8s_ctl_parse(&c, span_make(guardpage_place(&gp, ok, n), n)),
                         H8S_CTL_E_FORMAT);
    }
}

static void test_builders(void **state)
{
    (void)state;
    uint8_t buf[H8S_CTL_HDR_MAX];
    struct span out;
    struct h8s_ctl c;
    char subj[H8S_CTL_SUBJECT_MAX];

    memset(subj, 'x', sizeof(subj));
    assert_int_equal(
        h8s_ctl_build_ready(buf, sizeof(buf), span_make(subj, sizeof(subj)), UINT64_MAX, &out), 0);
    assert_int_equal(h8s_ctl_parse(&c, out), 0);
    assert_int_equal(c.kind, H8S_CTL_READY);
    assert_true(c.credit == UINT64_MAX);
    assert_int_equal(c.agent_subject.n, sizeof(subj));

    assert_int_equal(h8s_ctl_build_credit(buf, sizeof(buf), 0, &out), 0);
    assert_int_equal(h8s_ctl_parse(&c, out), 0);
    assert_int_equal(c.kind, H8S_CTL_CREDIT);
    assert_true(c.credit == 0 && (c.has & H8S_CTL_HAS_CREDIT));

    assert_int_equal(h8s_ctl_build_abort(buf, sizeof(buf), SPAN_LIT("timeout"), &out), 0);
    assert_int_equal(h8s_ctl_parse(&c, out), 0);
    assert_int_equal(c.kind, H8S_CTL_ABORT);
    assert_true(span_eq(c.reason, SPAN_LIT("timeout")));

    assert_int_equal(h8s_ctl_build_seq(buf, sizeof(buf), 77, &out), 0);
    assert_memory_equal(out.p, "NATS/1.0\r\nX-H8s-Seq: 77\r\n\r\n", out.n);

    assert_int_equal(h8s_ctl_build_ready(buf, sizeof(buf), SPAN_LIT("a.*"), 1, &out),
                     H8S_CTL_E_ARG);
    assert_int_equal(h8s_ctl_build_abort(buf, sizeof(buf), SPAN_LIT("a b"), &out), H8S_CTL_E_ARG);
    assert_int_equal(h8s_ctl_build_abort(buf, sizeof(buf), SPAN_LIT(""), &out), H8S_CTL_E_ARG);
    for (size_t cap = 0; cap < 27; cap++)
        assert_int_equal(h8s_ctl_build_seq(buf, cap, 77, &out), H8S_CTL_E_NOSPC);
    assert_int_equal(h8s_ctl_build_seq(buf, 27, 77, &out), 0);
}

static struct h8s_ctl seq(uint64_t n)
{
    struct h8s_ctl c = {.kind = H8S_CTL_DATA, .has = H8S_CTL_HAS_SEQ, .seq = n};
    return c;
}

static void test_rx_order(void **state)
{
    (void)state;
    struct h8s_ctl_rx rx;
    struct h8s_ctl c;

    h8s_ctl_rx_init(&rx, 100, UINT64_MAX);
    c = seq(1);
    assert_int_equal(h8s_ctl_rx_msg(&rx, &c, 60), H8S_CTL_RX_DATA);
    c = seq(2);
    assert_int_equal(h8s_ctl_rx_msg(&rx, &c, 40), H8S_CTL_RX_DATA);
    c = seq(3);
    assert_int_equal(h8s_ctl_rx_msg(&rx, &c, 0), H8S_CTL_RX_END);
    c = seq(4);
    assert_int_equal(h8s_ctl_rx_msg(&rx, &c, 0), H8S_CTL_E_AFTER_END);
    assert_int_equal(h8s_ctl_rx_msg(&rx, &c, 0), H8S_CTL_E_AFTER_END);

    /* gap, repeat, missing seq */
    h8s_ctl_rx_init(&rx, 100, UINT64_MAX);
    c = seq(2);
    assert_int_equal(h8s_ctl_rx_msg(&rx, &c, 1), H8S_CTL_E_SEQ);
    c = seq(1);
    assert_int_equal(h8s_ctl_rx_msg(&rx, &c, 1), H8S_CTL_E_SEQ); /* sticky */

    h8s_ctl_rx_init(&rx, 100, UINT64_MAX);
    c = seq(1);
    assert_int_equal(h8s_ctl_rx_msg(&rx, &c, 1), H8S_CTL_RX_DATA);
    assert_int_equal(h8s_ctl_rx_msg(&rx, &c, 1), H8S_CTL_E_SEQ);

    h8s_ctl_rx_init(&rx, 100, UINT64_MAX);
    c = seq(1);
    c.has = 0;
    assert_int_equal(h8s_ctl_rx_msg(&rx, &c, 1), H8S_CTL_E_SEQ);
}

static void test_rx_credit_and_length(void **state)
{
    (void)state;
    struct h8s_ctl_rx rx;
    struct h8s_ctl c;
    uint64_t credit;

    h8s_ctl_rx_init(&rx, 10, UINT64_MAX);
    c = seq(1);
    assert_int_equal(h8s_ctl_rx_msg(&rx, &c, 10), H8S_CTL_RX_DATA);
    c = seq(2);
    assert_int_equal(h8s_ctl_rx_msg(&rx, &c, 1), H8S_CTL_E_OVERFLOW);

    h8s_ctl_rx_init(&rx, 10, UINT64_MAX);
    c = seq(1);
    assert_int_equal(h8s_ctl_rx_msg(&rx, &c, 10), H8S_CTL_RX_DATA);
    assert_int_equal(h8s_ctl_rx_grant(&rx, 4, 10, &credit), 0); /* 14: +4 < 5 */
    assert_int_equal(h8s_ctl_rx_grant(&rx, 5, 10, &credit), 1);
    assert_true(credit == 15);
    assert_int_equal(h8s_ctl_rx_grant(&rx, 5, 10, &credit), 0);
    c = seq(2);
    assert_int_equal(h8s_ctl_rx_msg(&rx, &c, 5), H8S_CTL_RX_DATA);
    c = seq(3);
    assert_int_equal(h8s_ctl_rx_msg(&rx, &c, 1), H8S_CTL_E_OVERFLOW);

    /* declared length: short, long, exact */
    h8s_ctl_rx_init(&rx, 100, 10);
    c = seq(1);
    assert_int_equal(h8s_ctl_rx_msg(&rx, &c, 9), H8S_CTL_RX_DATA);
    c = seq(2);
    assert_int_equal(h8s_ctl_rx_msg(&rx, &c, 0), H8S_CTL_E_LENGTH);
    h8s_ctl_rx_init(&rx, 100, 10);
    c = seq(1);
    assert_int_equal(h8s_ctl_rx_msg(&rx, &c, 11), H8S_CTL_E_LENGTH);
    h8s_ctl_rx_init(&rx, 100, 10);
    c = seq(1);
    assert_int_equal(h8s_ctl_rx_msg(&rx, &c, 10), H8S_CTL_RX_DATA);
    c = seq(2);
    assert_int_equal(h8s_ctl_rx_msg(&rx, &c, 0), H8S_CTL_RX_END);
    assert_int_equal(h8s_ctl_rx_grant(&rx, 10, 10, &credit), 0); /* done: nothing to grant */
}

/*
 * The grant policy never stalls: a sender that always sends everything its
 * credit allows, in chunks of every size, against a receiver that consumes
 * at every pace, always finishes, and never has more than window bytes
 * unconsumed.
 */
static void test_rx_no_stall(void **state)
{
    (void)state;
    const uint64_t window = 1000, total = 20000;
    for (uint64_t chunk = 1; chunk <= 1500; chunk = chunk * 3 + 1) {
        for (uint64_t pace = 1; pace <= 1200; pace = pace * 5 + 3) {
            struct h8s_ctl_rx rx;
            uint64_t granted = window, sent = 0, consumed = 0, s = 1, credit;
            h8s_ctl_rx_init(&rx, window, total);
            for (int steps = 0; consumed < total; steps++) {
                assert_true(steps < 100000);
                while (sent < total && sent < granted) {
                    uint64_t n = granted - sent;
                    n = n < chunk ? n : chunk;
                    n = n < total - sent ? n : total - sent;
                    struct h8s_ctl c = seq(s++);
                    assert_int_equal(h8s_ctl_rx_msg(&rx, &c, (size_t)n), H8S_CTL_RX_DATA);
                    sent += n;
                }
                assert_true(rx.received - consumed <= window);
                uint64_t k = rx.received - consumed < pace ? rx.received - consumed : pace;
                consumed += k;
                if (h8s_ctl_rx_grant(&rx, consumed, window, &credit))
                    granted = credit;
                /* Progress is always possible: data to consume, or credit. */
                assert_true(consumed == total || rx.received > consumed || granted > sent);
            }
            struct h8s_ctl c = seq(s);
            assert_int_equal(h8s_ctl_rx_msg(&rx, &c, 0), H8S_CTL_RX_END);
        }
    }
}

static void test_strerror(void **state)
{
    (void)state;
    for (int e = 0; e >= -7; e--)
        assert_string_not_equal(h8s_ctl_strerror(e), "unknown error");
    assert_string_equal(h8s_ctl_strerror(-99), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_subject_ok),
        cmocka_unit_test(test_parse_kinds),
        cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_builders),
        cmocka_unit_test(test_rx_order),
        cmocka_unit_test(test_rx_credit_and_length),
        cmocka_unit_test(test_rx_no_stall),
        cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
