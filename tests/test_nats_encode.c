/*
 * tests/test_nats_encode.c — the client→server NATS encoder
 * (proto/nats_encode): exact bytes, validation before writing, exact
 * buffer sizing (every short buffer refused, no byte written past cap).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/nats_encode.h"
#include "proto/nats_info.h"

#define GUARD 0xa5

enum kind { K_PUB_LINE, K_HPUB_LINE, K_PUB, K_HPUB, K_SUB, K_UNSUB, K_PING, K_PONG, K_CONNECT };

struct call {
    enum kind k;
    struct span subject, reply, queue, hdr, payload;
    size_t hdr_len, payload_len;
    uint64_t sid, max;
    const struct nats_connect_opts *co;
};

static int run(const struct call *c, uint8_t *out, size_t cap)
{
    switch (c->k) {
    case K_PUB_LINE:
        return nats_encode_pub_line(out, cap, c->subject, c->reply, c->payload_len);
    case K_HPUB_LINE:
        return nats_encode_hpub_line(out, cap, c->subject, c->reply, c->hdr_len, c->payload_len);
    case K_PUB:
        return nats_encode_pub(out, cap, c->subject, c->reply, c->payload);
    case K_HPUB:
        return nats_encode_hpub(out, cap, c->subject, c->reply, c->hdr, c->payload);
    case K_SUB:
        return nats_encode_sub(out, cap, c->subject, c->queue, c->sid);
    case K_UNSUB:
        return nats_encode_unsub(out, cap, c->sid, c->max);
    case K_PING:
        return nats_encode_ping(out, cap);
    case K_PONG:
        return nats_encode_pong(out, cap);
    case K_CONNECT:
        return nats_encode_connect(out, cap, c->co);
    }
    return -100;
}

/* Encodes with every capacity from 0 to the exact size: all shorter ones
 * must fail with ENOSPC and leave the guard byte past cap untouched. */
static void expect_bytes(const struct call *c, const char *want, size_t want_len)
{
    uint8_t *buf = malloc(want_len + 1);
    assert_non_null(buf);
    for (size_t cap = 0; cap <= want_len; cap++) {
        memset(buf, GUARD, want_len + 1);
        int rc = run(c, buf, cap);
        if (cap < want_len) {
            assert_int_equal(rc, NATS_ENC_ENOSPC);
        } else {
            assert_int_equal(rc, (int)want_len);
            assert_memory_equal(buf, want, want_len);
        }
        assert_int_equal(buf[cap], GUARD);
    }
    free(buf);
}

static void expect_err(const struct call *c, int err)
{
    uint8_t buf[8192];
    memset(buf, GUARD, sizeof(buf));
    assert_int_equal(run(c, buf, sizeof(buf)), err);
    /* Validation happens before writing: nothing touched. */
    for (size_t i = 0; i < sizeof(buf); i++)
        assert_int_equal(buf[i], GUARD);
}

#define S(x) SPAN_LIT(x)
#define NONE span_make(NULL, 0)
#define BYTES(s) (s), sizeof(s) - 1

static void test_subject_rules(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int pub, sub;
    } v[] = {
        {"foo", 1, 1},
        {"foo.bar", 1, 1},
        {"foo.*", 0, 1},
        {"*", 0, 1},
        {">", 0, 1},
        {"foo.>", 0, 1},
        {"foo.>.bar", 0, 0},
        {"*.*.>", 0, 1},
        {"foo*", 1, 1},
        {"a>b", 1, 1},
        {"foo.*bar", 1, 1},
        {"", 0, 0},
        {".", 0, 0},
        {"foo.", 0, 0},
        {".foo", 0, 0},
        {"foo..bar", 0, 0},
        {"foo bar", 0, 0},
        {"foo\tbar", 0, 0},
        {"foo\r", 0, 0},
        {"foo\n", 0, 0},
        {"a\x01", 0, 0},
        {"a\x7f", 0, 0},
        {"\xc3\xa9t\xc3\xa9", 1, 1},
        {"_INBOX.abc.*", 0, 1},
        {"$SYS.REQ", 1, 1},
        {">.a", 0, 0},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        struct span s = span_cstr(v[i].s);
        if (nats_subject_valid(s, 0) != v[i].pub || nats_subject_valid(s, 1) != v[i].sub)
            print_error("subject '%s'\n", v[i].s);
        assert_int_equal(nats_subject_valid(s, 0), v[i].pub);
        assert_int_equal(nats_subject_valid(s, 1), v[i].sub);
    }
    /* A NUL byte is a control byte too. */
    assert_false(nats_subject_valid(span_make("a\0b", 3), 1));
    assert_false(nats_subject_valid(span_make(NULL, 0), 1));

    assert_true(nats_queue_valid(S("workers")));
    assert_true(nats_queue_valid(S("q.with.dots")));
    assert_false(nats_queue_valid(S("")));
    assert_false(nats_queue_valid(S("a b")));
    assert_false(nats_queue_valid(S("a\x1f")));
}

static void test_pub(void **state)
{
    (void)state;
    struct call c = {.k = K_PUB_LINE, .subject = S("foo.bar"), .payload_len = 5};
    expect_bytes(&c, BYTES("PUB foo.bar 5\r\n"));
    c.reply = S("_INBOX.x.1");
    c.payload_len = 0;
    expect_bytes(&c, BYTES("PUB foo.bar _INBOX.x.1 0\r\n"));

    c = (struct call){.k = K_PUB, .subject = S("a"), .payload = S("hello")};
    expect_bytes(&c, BYTES("PUB a 5\r\nhello\r\n"));
    c.payload = span_make("\r\n\0x", 4);
    expect_bytes(&c, BYTES("PUB a 4\r\n\r\n\0x\r\n"));
    c.payload = NONE;
    c.reply = S("r");
    expect_bytes(&c, BYTES("PUB a r 0\r\n\r\n"));

    static const char hdr[] = "NATS/1.0\r\nA: b\r\n\r\n";
    c = (struct call){.k = K_HPUB_LINE, .subject = S("a"), .hdr_len = 18, .payload_len = 2};
    expect_bytes(&c, BYTES("HPUB a 18 20\r\n"));
    c = (struct call){.k = K_HPUB,
                      .subject = S("a"),
                      .reply = S("b"),
                      .hdr = span_make(hdr, sizeof(hdr) - 1),
                      .payload = S("hi")};
    expect_bytes(&c, BYTES("HPUB a b 18 20\r\nNATS/1.0\r\nA: b\r\n\r\nhi\r\n"));
    c.payload = NONE;
    expect_bytes(&c, BYTES("HPUB a b 18 18\r\nNATS/1.0\r\nA: b\r\n\r\n\r\n"));
}

static void test_pub_errors(void **state)
{
    (void)state;
    struct call c = {.k = K_PUB, .subject = S("foo.*"), .payload = S("x")};
    expect_err(&c, NATS_ENC_ESUBJECT);
    c.subject = S("foo bar");
    expect_err(&c, NATS_ENC_ESUBJECT);
    c.subject = NONE;
    expect_err(&c, NATS_ENC_ESUBJECT);
    c.subject = S("ok");
    c.reply = S("in.>");
    expect_err(&c, NATS_ENC_EREPLY);
    c.reply = S("in..x");
    expect_err(&c, NATS_ENC_EREPLY);
    c.k = K_HPUB;
    c.reply = NONE;
    c.hdr = NONE;
    expect_err(&c, NATS_ENC_ESIZE);
    c.k = K_PUB_LINE;
    c.payload_len = (size_t)NATS_ENC_PAYLOAD_MAX + 1;
    expect_err(&c, NATS_ENC_ESIZE);
    c.payload_len = NATS_ENC_PAYLOAD_MAX;
    expect_bytes(&c, BYTES("PUB ok 67108864\r\n"));
    c.k = K_HPUB_LINE;
    c.hdr_len = 12;
    c.payload_len = (size_t)NATS_ENC_PAYLOAD_MAX - 11;
    expect_err(&c, NATS_ENC_ESIZE);
    c.hdr_len = SIZE_MAX;
    c.payload_len = 2;
    expect_err(&c, NATS_ENC_ESIZE);

    /* A control line longer than the server accepts is refused. */
    static char subj[NATS_ENC_LINE_MAX];
    memset(subj, 'x', sizeof(subj));
    c = (struct call){
        .k = K_PUB_LINE, .subject = span_make(subj, NATS_ENC_LINE_MAX - 8), .payload_len = 0};
    uint8_t buf[NATS_ENC_LINE_MAX + 16];
    assert_int_equal(run(&c, buf, sizeof(buf)), NATS_ENC_LINE_MAX); /* "PUB " x " 0\r\n" */
    c.subject.n++;
    assert_int_equal(run(&c, buf, sizeof(buf)), NATS_ENC_ELINE);
    c.k = K_PUB;
    assert_int_equal(run(&c, buf, sizeof(buf)), NATS_ENC_ELINE);
}

static void test_sub_unsub_ping(void **state)
{
    (void)state;
    struct call c = {.k = K_SUB, .subject = S("foo.*.>"), .sid = 1};
    expect_bytes(&c, BYTES("SUB foo.*.> 1\r\n"));
    c.queue = S("workers");
    c.sid = UINT64_MAX;
    expect_bytes(&c, BYTES("SUB foo.*.> workers 18446744073709551615\r\n"));
    c.queue = S("bad queue");
    expect_err(&c, NATS_ENC_EQUEUE);
    c.queue = NONE;
    c.subject = S("foo.>.x");
    expect_err(&c, NATS_ENC_ESUBJECT);

    c = (struct call){.k = K_UNSUB, .sid = 42};
    expect_bytes(&c, BYTES("UNSUB 42\r\n"));
    c.max = 10;
    expect_bytes(&c, BYTES("UNSUB 42 10\r\n"));
    c.sid = 0;
    c.max = UINT64_MAX;
    expect_bytes(&c, BYTES("UNSUB 0 18446744073709551615\r\n"));
    assert_true(sizeof("UNSUB 18446744073709551615 18446744073709551615\r\n") <=
                NATS_ENC_SMALL_MAX);

    c = (struct call){.k = K_PING};
    expect_bytes(&c, BYTES("PING\r\n"));
    c.k = K_PONG;
    expect_bytes(&c, BYTES("PONG\r\n"));
}

static void test_connect(void **state)
{
    (void)state;
    struct nats_connect_opts o = {0};
    struct call c = {.k = K_CONNECT, .co = &o};
    static const char base[] =
        "CONNECT {\"verbose\":false,\"pedantic\":false,\"tls_required\":false,\"lang\":\"c\","
        "\"protocol\":1,\"headers\":true,\"no_responders\":true,\"echo\":false}\r\n";
    expect_bytes(&c, BYTES(base));
    assert_int_equal(nats_encode_connect_size(&o), sizeof(base) - 1);

    o = (struct nats_connect_opts){.name = "gw \"1\"",
                                   .version = "0.1",
                                   .user = "u\\ser",
                                   .pass = "p\x01\n\t\r\x1f\xc3\xa9",
                                   .auth_token = "",
                                   .echo = true,
                                   .tls_required = true};
    static const char full[] =
        "CONNECT {\"verbose\":false,\"pedantic\":false,\"tls_required\":true,\"lang\":\"c\","
        "\"protocol\":1,\"headers\":true,\"no_responders\":true,\"echo\":true,"
        "\"name\":\"gw \\\"1\\\"\",\"version\":\"0.1\",\"user\":\"u\\\\ser\","
        "\"pass\":\"p\\u0001\\n\\t\\r\\u001f\xc3\xa9\"}\r\n";
    expect_bytes(&c, BYTES(full));
    assert_int_equal(nats_encode_connect_size(&o), sizeof(full) - 1);

    o = (struct nats_connect_opts){.nkey = "UABC", .jwt = "eyJ.x.y", .sig = "c2ln"};
    uint8_t buf[4096];
    int n = nats_encode_connect(buf, sizeof(buf), &o);
    assert_true(n > 0);
    assert_non_null(
        memmem(buf, (size_t)n, "\"nkey\":\"UABC\",\"jwt\":\"eyJ.x.y\",\"sig\":\"c2ln\"}", 43));

    /* Whatever the strings hold, the object is valid JSON (checked with the
     * strict reader). */
    char weird[256];
    for (int i = 0; i < 255; i++)
        weird[i] = (char)(i + 1 < 0x80 ? i + 1 : 'z');
    weird[255] = '\0';
    o = (struct nats_connect_opts){.name = weird, .user = weird, .pass = weird};
    n = nats_encode_connect(buf, sizeof(buf), &o);
    assert_true(n > 0);
    assert_memory_equal(buf + n - 2, "\r\n", 2);
    struct nats_info *info = malloc(sizeof(*info));
    assert_int_equal(nats_info_parse(info, span_make(buf + 8, (size_t)n - 10)), 0);
    free(info);
}

static void test_strerror(void **state)
{
    (void)state;
    for (int e = NATS_ENC_ESIZE; e < 0; e++)
        assert_string_not_equal(nats_encode_strerror(e), "unknown error");
    assert_string_equal(nats_encode_strerror(-99), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_subject_rules), cmocka_unit_test(test_pub),
        cmocka_unit_test(test_pub_errors),    cmocka_unit_test(test_sub_unsub_ping),
        cmocka_unit_test(test_connect),       cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
