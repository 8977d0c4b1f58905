/*
 * tests/test_ws_frame.c — RFC 6455 frame parser and encoder.
 *
 * Each vector is written byte by byte (a small builder here, independent of
 * the encoder under test) and parsed by every delivery plan: whole, one byte
 * at a time, split at every offset (and at every pair of offsets for short
 * vectors), each with in-place unmasking and with copying into a 3-byte and
 * a large output buffer. Every chunk sits in its own exactly-sized heap
 * block so that ASan flags any read past it. The events are rendered as a
 * transcript (consecutive DATA chunks merged) that must equal the expected
 * one in every plan.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/ws_frame.h"

/* ------------------------------------------------------------ builder */

struct vb {
    uint8_t *p;
    size_t n, cap;
};

static void vb_put(struct vb *v, const void *p, size_t n)
{
    if (v->n + n > v->cap) {
        v->cap = (v->n + n) * 2 + 64;
        v->p = realloc(v->p, v->cap);
        assert_non_null(v->p);
    }
    if (n)
        memcpy(v->p + v->n, p, n);
    v->n += n;
}

static void vb_byte(struct vb *v, unsigned b)
{
    uint8_t c = (uint8_t)b;
    vb_put(v, &c, 1);
}

/* Appends bytes written as hex pairs ("81 05 48"). */
static void vb_hex(struct vb *v, const char *hex)
{
    while (*hex) {
        unsigned b;
        if (*hex == ' ') {
            hex++;
            continue;
        }
        assert_int_equal(sscanf(hex, "%2x", &b), 1);
        vb_byte(v, b);
        hex += 2;
    }
}

static void vb_free(struct vb *v)
{
    free(v->p);
    v->p = NULL;
    v->n = v->cap = 0;
}

static const uint8_t test_key[4] = {0x37, 0xfa, 0x21, 0x3d};

#define FIN 0x80
#define RSV1 0x40
#define RSV2 0x20
#define RSV3 0x10
#define LEN_MIN 0 /* shortest form */
#define LEN_16 16 /* force the 16-bit form */
#define LEN_64 64 /* force the 64-bit form */

/*
 * One frame: b0 (FIN, RSV, opcode), masked with test_key or not, the length
 * field (len, in the chosen form, need not match n so header-only error
 * vectors can be built) and n payload bytes, masked as needed.
 */
static void vb_frame_len(struct vb *v, unsigned b0, int masked, int form, uint64_t len,
                         const void *payload, size_t n)
{
    unsigned m = masked ? 0x80 : 0;
    const uint8_t *pl = payload;

    vb_byte(v, b0);
    if (form == LEN_MIN && len < 126) {
        vb_byte(v, m | (unsigned)len);
    } else if (form == LEN_16 || (form == LEN_MIN && len <= 0xFFFF)) {
        vb_byte(v, m | 126);
        vb_byte(v, (unsigned)(len >> 8) & 0xFF);
        vb_byte(v, (unsigned)len & 0xFF);
    } else {
        vb_byte(v, m | 127);
        for (int i = 7; i >= 0; i--)
            vb_byte(v, (unsigned)(len >> (8 * i)) & 0xFF);
    }
    if (masked)
        vb_put(v, test_key, 4);
    for (size_t i = 0; i < n; i++)
        vb_byte(v, pl[i] ^ (masked ? test_key[i % 4] : 0));
}

static void vb_frame(struct vb *v, unsigned b0, int masked, const void *payload, size_t n)
{
    vb_frame_len(v, b0, masked, LEN_MIN, n, payload, n);
}

/* --------------------------------------------------------- transcript */

struct tr {
    char s[4096];
    size_t len;
    uint8_t pend[65];
    uint64_t ptotal;
    uint32_t phash;
    int pending;
    uint64_t frame_len; /* length announced by the last FRAME event */
    int errored;
    unsigned err_code;
};

static uint32_t fnv1a(uint32_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}
#define FNV_INIT 2166136261u

static void tr_add(struct tr *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void tr_add(struct tr *t, const char *fmt, ...)
{
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = vsnprintf(t->s + t->len, sizeof(t->s) - t->len, fmt, ap);
    va_end(ap);
    assert_true(r >= 0 && (size_t)r < sizeof(t->s) - t->len);
    t->len += (size_t)r;
}

static void tr_quote(struct tr *t, const uint8_t *p, size_t n)
{
    tr_add(t, "\"");
    for (size_t i = 0; i < n; i++) {
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' && p[i] != '\\')
            tr_add(t, "%c", p[i]);
        else
            tr_add(t, "\\x%02x", p[i]);
    }
    tr_add(t, "\"");
}

static void tr_flush(struct tr *t)
{
    if (!t->pending)
        return;
    if (t->ptotal <= 64) {
        tr_add(t, "data:");
        tr_quote(t, t->pend, (size_t)t->ptotal);
        tr_add(t, " ");
    } else {
        tr_add(t, "data:<%" PRIu64 ":%08x> ", t->ptotal, t->phash);
    }
    t->pending = 0;
}

static const char *op_name(unsigned op)
{
    return op == WS_OP_TEXT ? "text" : op == WS_OP_BINARY ? "bin" : "?";
}

static void tr_event(struct tr *t, const struct ws_frame_event *ev)
{
    if (ev->type == WS_EV_DATA) {
        if (!t->pending) {
            t->pending = 1;
            t->ptotal = 0;
            t->phash = FNV_INIT;
        }
        if (t->ptotal + ev->data.n <= 64)
            memcpy(t->pend + t->ptotal, ev->data.p, ev->data.n);
        t->ptotal += ev->data.n;
        t->phash = fnv1a(t->phash, ev->data.p, ev->data.n);
        return;
    }
    if (ev->type == WS_EV_ERROR) {
        /* How much of a frame's payload is handed out before an error inside
         * that frame depends on how the input was split; the error itself
         * does not. A fully delivered frame is kept. */
        if (t->pending && t->ptotal == t->frame_len)
            tr_flush(t);
        t->pending = 0;
        t->errored = 1;
        t->err_code = ev->code;
        tr_add(t, "error:%u", ev->code);
        return;
    }
    tr_flush(t);
    switch (ev->type) {
    case WS_EV_FRAME:
        t->frame_len = ev->length;
        tr_add(t, "frame:%s:%s:%s:%" PRIu64 " ", op_name(ev->opcode), ev->first ? "first" : "cont",
               ev->fin ? "fin" : "more", ev->length);
        break;
    case WS_EV_MESSAGE_END:
        tr_add(t, "end:%s:%" PRIu64 " ", op_name(ev->opcode), ev->length);
        break;
    case WS_EV_PING:
    case WS_EV_PONG:
        tr_add(t, ev->type == WS_EV_PING ? "ping:" : "pong:");
        tr_quote(t, ev->data.p, ev->data.n);
        tr_add(t, " ");
        break;
    case WS_EV_CLOSE:
        if (ev->code)
            tr_add(t, "close:%u:", ev->code);
        else
            tr_add(t, "close:none:");
        tr_quote(t, ev->data.p, ev->data.n);
        tr_add(t, " ");
        break;
    default:
        fail_msg("unexpected event type %d", (int)ev->type);
    }
}

static void tr_finish(struct tr *t)
{
    tr_flush(t);
    while (t->len && t->s[t->len - 1] == ' ')
        t->s[--t->len] = '\0';
}

/* ------------------------------------------------------------- driver */

enum mode { MODE_INPLACE, MODE_COPY_SMALL, MODE_COPY_BIG, MODE_COUNT };

#define COPY_SMALL 3
#define COPY_BIG 70000

struct run {
    struct ws_frame_parser p;
    enum mode mode;
    uint8_t *out;
    struct tr t;
};

static void run_init(struct run *r, enum ws_frame_role role, uint64_t max, enum mode mode)
{
    memset(r, 0, sizeof(*r));
    ws_frame_parser_init(&r->p, role, max);
    r->mode = mode;
    r->out = malloc(COPY_BIG);
    assert_non_null(r->out);
}

/* Delivers in[0..n) as one chunk, in its own heap block. */
static void run_chunk(struct run *r, const uint8_t *in, size_t n)
{
    uint8_t *buf = malloc(n ? n : 1);
    size_t off = 0;

    assert_non_null(buf);
    memcpy(buf, in, n);
    for (;;) {
        struct ws_frame_event ev;
        size_t cap = r->mode == MODE_COPY_SMALL ? COPY_SMALL : COPY_BIG;
        size_t used;

        if (r->mode == MODE_INPLACE)
            used = ws_frame_parser_feed(&r->p, buf + off, n - off, &ev);
        else
            used = ws_frame_parser_feed_copy(&r->p, buf + off, n - off, r->out, cap, &ev);
        assert_true(used <= n - off);
        if (r->t.errored) {
            /* Sticky: the same error again, nothing consumed. */
            assert_int_equal(ev.type, WS_EV_ERROR);
            assert_int_equal(ev.code, r->t.err_code);
            assert_int_equal(used, 0);
            assert_int_equal(ws_frame_parser_error(&r->p, NULL), r->t.err_code);
            break;
        }
        if (ev.type == WS_EV_DATA) {
            assert_true(ev.data.n > 0);
            if (r->mode == MODE_INPLACE) {
                assert_ptr_equal(ev.data.p, buf + off);
                assert_int_equal(ev.data.n, used);
            } else {
                assert_ptr_equal(ev.data.p, r->out);
                assert_true(ev.data.n <= cap);
            }
        }
        off += used;
        if (ev.type == WS_EV_NONE) {
            assert_int_equal(off, n);
            break;
        }
        tr_event(&r->t, &ev);
        if (ev.type == WS_EV_ERROR)
            break;
    }
    /* The copying entry point never writes its input. */
    if (r->mode != MODE_INPLACE)
        assert_memory_equal(buf, in, n);
    free(buf);
}

static void run_done(struct run *r)
{
    tr_finish(&r->t);
    free(r->out);
    r->out = NULL;
}

/* Runs in[0..n) cut at the given increasing offsets. */
static void run_plan(struct tr *out, const uint8_t *in, size_t n, enum ws_frame_role role,
                     uint64_t max, enum mode mode, const size_t *cuts, size_t ncuts)
{
    struct run *r = malloc(sizeof(*r));
    size_t at = 0;

    assert_non_null(r);
    run_init(r, role, max, mode);
    for (size_t i = 0; i < ncuts; i++) {
        run_chunk(r, in + at, cuts[i] - at);
        at = cuts[i];
    }
    run_chunk(r, in + at, n - at);
    /* One more empty call: a finished stream stays quiet (or stays failed). */
    run_chunk(r, in, 0);
    run_done(r);
    *out = r->t;
    free(r);
}

static void check_plan(const char *expect, const uint8_t *in, size_t n, enum ws_frame_role role,
                       uint64_t max, enum mode mode, const size_t *cuts, size_t ncuts)
{
    struct tr t;

    run_plan(&t, in, n, role, max, mode, cuts, ncuts);
    if (strcmp(t.s, expect) != 0) {
        char plan[128] = "";
        size_t pl = 0;
        for (size_t i = 0; i < ncuts && i < 8 && pl < sizeof(plan) - 24; i++)
            pl += (size_t)snprintf(plan + pl, sizeof(plan) - pl, " %zu", cuts[i]);
        fail_msg("mode %d, %zu cuts [%s ]:\n  got    %s\n  expect %s", (int)mode, ncuts, plan, t.s,
                 expect);
    }
}

/* Every delivery plan, every mode. Exhaustive splits are limited by size so
 * that a 64 KiB vector does not cost n^2; large ones get the offsets near
 * both ends plus a pseudo-random sample. */
static void expect_all(const char *expect, const struct vb *v, enum ws_frame_role role,
                       uint64_t max)
{
    size_t n = v->n;
    size_t *cuts = malloc((n ? n : 1) * sizeof(*cuts));

    assert_non_null(cuts);
    for (int m = 0; m < MODE_COUNT; m++) {
        check_plan(expect, v->p, n, role, max, (enum mode)m, NULL, 0);
        for (size_t i = 1; i < n; i++)
            cuts[i - 1] = i;
        check_plan(expect, v->p, n, role, max, (enum mode)m, cuts, n ? n - 1 : 0);
        for (size_t k = 0; k <= n; k++) {
            if (n > 2048 && k > 40 && k + 40 < n && k % 997 != 0)
                continue;
            cuts[0] = k;
            check_plan(expect, v->p, n, role, max, (enum mode)m, cuts, 1);
        }
        if (n <= 48) {
            for (size_t a = 0; a <= n; a++)
                for (size_t b = a; b <= n; b++) {
                    cuts[0] = a;
                    cuts[1] = b;
                    check_plan(expect, v->p, n, role, max, (enum mode)m, cuts, 2);
                }
        }
    }
    free(cuts);
}

/* expect_all, then empties the builder for the next vector. */
static void expect_take(const char *expect, struct vb *v, enum ws_frame_role role, uint64_t max)
{
    expect_all(expect, v, role, max);
    vb_free(v);
}

static void expect_hex(const char *expect, const char *hex, enum ws_frame_role role, uint64_t max)
{
    struct vb v = {0};
    vb_hex(&v, hex);
    expect_take(expect, &v, role, max);
}

#define BIG UINT64_MAX

/* -------------------------------------------------------------- tests */

static void test_rfc_examples(void **state)
{
    (void)state;
    /* RFC 6455 §5.7, as a client receives them (unmasked) and as a server
     * receives them (masked). */
    expect_hex("frame:text:first:fin:5 data:\"Hello\" end:text:5", "81 05 48 65 6c 6c 6f",
               WS_FRAME_CLIENT, BIG);
    expect_hex("frame:text:first:fin:5 data:\"Hello\" end:text:5",
               "81 85 37 fa 21 3d 7f 9f 4d 51 58", WS_FRAME_SERVER, BIG);
    expect_hex("frame:text:first:more:3 data:\"Hel\" frame:text:cont:fin:2 data:\"lo\" end:text:5",
               "01 03 48 65 6c 80 02 6c 6f", WS_FRAME_CLIENT, BIG);
    expect_hex("ping:\"Hello\"", "89 05 48 65 6c 6c 6f", WS_FRAME_CLIENT, BIG);
    expect_hex("pong:\"Hello\"", "8a 85 37 fa 21 3d 7f 9f 4d 51 58", WS_FRAME_SERVER, BIG);

    /* 256 bytes in the 16-bit form, 64 KiB in the 64-bit form. */
    for (size_t len = 256; len <= 65536; len += 65536 - 256) {
        struct vb v = {0};
        uint8_t *pl = malloc(len);
        char expect[160];

        assert_non_null(pl);
        for (size_t i = 0; i < len; i++)
            pl[i] = (uint8_t)(i * 7 + 3);
        vb_hex(&v, len == 256 ? "82 7e 01 00" : "82 7f 00 00 00 00 00 01 00 00");
        vb_put(&v, pl, len);
        snprintf(expect, sizeof(expect), "frame:bin:first:fin:%zu data:<%zu:%08x> end:bin:%zu", len,
                 len, fnv1a(FNV_INIT, pl, len), len);
        expect_all(expect, &v, WS_FRAME_CLIENT, BIG);
        free(pl);
        vb_free(&v);
    }
}

/* All length forms at their boundaries, both roles, through the limit. */
static void test_length_boundaries(void **state)
{
    static const size_t lens[] = {0, 1, 125, 126, 127, 65535, 65536, 65537};

    (void)state;
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        size_t len = lens[i];
        uint8_t *pl = malloc(len ? len : 1);
        char expect[200];

        assert_non_null(pl);
        for (size_t j = 0; j < len; j++)
            pl[j] = (uint8_t)('a' + j % 26);
        if (len == 0)
            snprintf(expect, sizeof(expect), "frame:text:first:fin:0 end:text:0");
        else if (len <= 64)
            snprintf(expect, sizeof(expect), "frame:text:first:fin:%zu data:\"%.*s\" end:text:%zu",
                     len, (int)len, (const char *)pl, len);
        else
            snprintf(expect, sizeof(expect),
                     "frame:text:first:fin:%zu data:<%zu:%08x> end:text:%zu", len, len,
                     fnv1a(FNV_INIT, pl, len), len);
        for (int masked = 0; masked <= 1; masked++) {
            struct vb v = {0};
            vb_frame(&v, FIN | WS_OP_TEXT, masked, pl, len);
            /* Exactly at the limit passes... */
            expect_all(expect, &v, masked ? WS_FRAME_SERVER : WS_FRAME_CLIENT, len);
            /* ...one byte under it is refused at the header. */
            if (len > 0)
                check_plan("error:1009", v.p, v.n, masked ? WS_FRAME_SERVER : WS_FRAME_CLIENT,
                           len - 1, MODE_INPLACE, NULL, 0);
            vb_free(&v);
        }
        free(pl);
    }
}

static void test_non_minimal_lengths(void **state)
{
    struct vb v = {0};
    uint8_t pl[126] = {0};

    (void)state;
    /* 16-bit form carrying a length that fits in 7 bits. */
    vb_frame_len(&v, FIN | WS_OP_BINARY, 0, LEN_16, 125, pl, 125);
    expect_take("error:1002", &v, WS_FRAME_CLIENT, BIG);
    vb_frame_len(&v, FIN | WS_OP_BINARY, 1, LEN_16, 0, NULL, 0);
    expect_take("error:1002", &v, WS_FRAME_SERVER, BIG);
    /* 126 is the smallest the 16-bit form may carry. */
    vb_frame_len(&v, FIN | WS_OP_BINARY, 0, LEN_16, 126, pl, 126);
    {
        char expect[80];
        snprintf(expect, sizeof(expect), "frame:bin:first:fin:126 data:<126:%08x> end:bin:126",
                 fnv1a(FNV_INIT, pl, 126));
        expect_all(expect, &v, WS_FRAME_CLIENT, BIG);
    }
    vb_free(&v);
    /* 64-bit form carrying a 16-bit length (header only: refused before
     * any payload is needed). */
    vb_frame_len(&v, FIN | WS_OP_BINARY, 0, LEN_64, 65535, NULL, 0);
    expect_take("error:1002", &v, WS_FRAME_CLIENT, BIG);
    vb_frame_len(&v, FIN | WS_OP_BINARY, 0, LEN_64, 5, NULL, 0);
    expect_take("error:1002", &v, WS_FRAME_CLIENT, BIG);
    /* The most significant bit of the 64-bit length must be 0, whatever the
     * limit. */
    vb_frame_len(&v, FIN | WS_OP_BINARY, 1, LEN_64, UINT64_C(1) << 63, NULL, 0);
    expect_take("error:1002", &v, WS_FRAME_SERVER, BIG);
    vb_frame_len(&v, FIN | WS_OP_BINARY, 0, LEN_64, UINT64_MAX, NULL, 0);
    expect_take("error:1002", &v, WS_FRAME_CLIENT, BIG);
    /* The largest legal length: the header alone is accepted. */
    vb_frame_len(&v, FIN | WS_OP_BINARY, 0, LEN_64, WS_FRAME_LEN_MAX, NULL, 0);
    expect_take("frame:bin:first:fin:9223372036854775807", &v, WS_FRAME_CLIENT, BIG);
    vb_frame_len(&v, FIN | WS_OP_BINARY, 0, LEN_64, 65536, NULL, 0);
    expect_take("frame:bin:first:fin:65536", &v, WS_FRAME_CLIENT, BIG);
}

static void test_masking_rules(void **state)
{
    struct vb v = {0};

    (void)state;
    /* A server refuses unmasked frames, a client masked ones: data and
     * control frames alike, decided by the second header byte. */
    vb_frame(&v, FIN | WS_OP_TEXT, 0, "hi", 2);
    expect_all("error:1002", &v, WS_FRAME_SERVER, BIG);
    expect_take("frame:text:first:fin:2 data:\"hi\" end:text:2", &v, WS_FRAME_CLIENT, BIG);
    vb_frame(&v, FIN | WS_OP_TEXT, 1, "hi", 2);
    expect_all("error:1002", &v, WS_FRAME_CLIENT, BIG);
    expect_take("frame:text:first:fin:2 data:\"hi\" end:text:2", &v, WS_FRAME_SERVER, BIG);
    vb_frame(&v, FIN | WS_OP_PING, 0, "", 0);
    expect_take("error:1002", &v, WS_FRAME_SERVER, BIG);
    vb_frame(&v, FIN | WS_OP_CLOSE, 1, "", 0);
    expect_take("error:1002", &v, WS_FRAME_CLIENT, BIG);
    vb_hex(&v, "82");
    vb_byte(&v, 0x05); /* only two header bytes needed to decide */
    expect_take("error:1002", &v, WS_FRAME_SERVER, BIG);
}

static void test_rsv_and_opcodes(void **state)
{
    static const unsigned rsv[] = {RSV1, RSV2, RSV3, RSV1 | RSV2 | RSV3};
    struct vb v = {0};

    (void)state;
    for (size_t i = 0; i < 4; i++) {
        vb_frame(&v, FIN | rsv[i] | WS_OP_TEXT, 1, "x", 1);
        expect_take("error:1002", &v, WS_FRAME_SERVER, BIG);
        vb_frame(&v, FIN | rsv[i] | WS_OP_PING, 0, "x", 1);
        expect_take("error:1002", &v, WS_FRAME_CLIENT, BIG);
    }
    for (unsigned op = 0; op < 16; op++) {
        int known = op == WS_OP_TEXT || op == WS_OP_BINARY || op == WS_OP_PING ||
                    op == WS_OP_PONG || op == WS_OP_CLOSE;
        if (known || op == WS_OP_CONT)
            continue;
        vb_frame(&v, FIN | op, 0, "", 0);
        expect_take("error:1002", &v, WS_FRAME_CLIENT, BIG);
        /* Also in the middle of a fragmented message. */
        vb_frame(&v, WS_OP_BINARY, 1, "ab", 2);
        vb_frame(&v, op, 1, "", 0);
        expect_take("frame:bin:first:more:2 data:\"ab\" error:1002", &v, WS_FRAME_SERVER, BIG);
    }
}

static void test_control_rules(void **state)
{
    uint8_t big[126];
    uint8_t reason[125];
    struct vb v = {0};

    (void)state;
    memset(big, 'p', sizeof(big));
    /* 125 bytes is the most a control frame may carry. */
    vb_frame(&v, FIN | WS_OP_PING, 1, big, 125);
    {
        char expect[160];
        snprintf(expect, sizeof(expect), "ping:\"%.*s\"", 125, (const char *)big);
        expect_all(expect, &v, WS_FRAME_SERVER, BIG);
    }
    vb_free(&v);
    /* 126, in any length form, is refused at the header. */
    vb_frame_len(&v, FIN | WS_OP_PING, 1, LEN_16, 126, NULL, 0);
    expect_take("error:1002", &v, WS_FRAME_SERVER, BIG);
    vb_frame_len(&v, FIN | WS_OP_PONG, 0, LEN_64, 70000, NULL, 0);
    expect_take("error:1002", &v, WS_FRAME_CLIENT, BIG);
    /* Control frames are never fragmented. */
    vb_frame(&v, WS_OP_PING, 0, "a", 1);
    expect_take("error:1002", &v, WS_FRAME_CLIENT, BIG);
    vb_frame(&v, WS_OP_CLOSE, 0, "", 0);
    expect_take("error:1002", &v, WS_FRAME_CLIENT, BIG);
    /* Empty pings and pongs; control frames do not count toward the
     * message limit. */
    vb_frame(&v, FIN | WS_OP_PING, 0, "", 0);
    vb_frame(&v, FIN | WS_OP_PONG, 0, "xyz", 3);
    expect_take("ping:\"\" pong:\"xyz\"", &v, WS_FRAME_CLIENT, 0);

    /* Close payloads. */
    vb_frame(&v, FIN | WS_OP_CLOSE, 1, "", 0);
    expect_take("close:none:\"\"", &v, WS_FRAME_SERVER, BIG);
    vb_frame(&v, FIN | WS_OP_CLOSE, 1, "\x03", 1);
    expect_take("error:1002", &v, WS_FRAME_SERVER, BIG);
    vb_frame(&v, FIN | WS_OP_CLOSE, 0, "\x03\xe8", 2);
    expect_take("close:1000:\"\"", &v, WS_FRAME_CLIENT, BIG);
    vb_frame(&v, FIN | WS_OP_CLOSE, 1, "\x0f\xa1gone \xe2\x9c\x93", 10);
    expect_take("close:4001:\"gone \\xe2\\x9c\\x93\"", &v, WS_FRAME_SERVER, BIG);
    /* Reason that is not UTF-8 -> 1007; cut inside a code point too. */
    vb_frame(&v, FIN | WS_OP_CLOSE, 1, "\x03\xe8\xc0\xaf", 4);
    expect_take("error:1007", &v, WS_FRAME_SERVER, BIG);
    vb_frame(&v, FIN | WS_OP_CLOSE, 1, "\x03\xe8\xe2\x9c", 4);
    expect_take("error:1007", &v, WS_FRAME_SERVER, BIG);
    /* A 123-byte reason fills the frame exactly. */
    reason[0] = 0x03;
    reason[1] = 0xe9;
    memset(reason + 2, 'r', 123);
    vb_frame(&v, FIN | WS_OP_CLOSE, 0, reason, 125);
    {
        char expect[180];
        snprintf(expect, sizeof(expect), "close:1001:\"%.*s\"", 123, (const char *)reason + 2);
        expect_all(expect, &v, WS_FRAME_CLIENT, BIG);
    }
    vb_free(&v);
}

static void test_close_codes_on_wire(void **state)
{
    static const unsigned bad[] = {0,    1,    999,  1004, 1005, 1006,
                                   1015, 1016, 2000, 2999, 5000, 65535};
    static const unsigned good[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010,
                                    1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999};
    struct vb v = {0};

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t pl[2] = {(uint8_t)(bad[i] >> 8), (uint8_t)bad[i]};
        vb_frame(&v, FIN | WS_OP_CLOSE, 1, pl, 2);
        check_plan("error:1002", v.p, v.n, WS_FRAME_SERVER, BIG, MODE_INPLACE, NULL, 0);
        vb_free(&v);
    }
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        uint8_t pl[3] = {(uint8_t)(good[i] >> 8), (uint8_t)good[i], 'x'};
        char expect[40];
        vb_frame(&v, FIN | WS_OP_CLOSE, 1, pl, 3);
        snprintf(expect, sizeof(expect), "close:%u:\"x\"", good[i]);
        check_plan(expect, v.p, v.n, WS_FRAME_SERVER, BIG, MODE_COPY_SMALL, NULL, 0);
        vb_free(&v);
    }
}

static void test_fragmentation(void **state)
{
    struct vb v = {0};

    (void)state;
    /* Three fragments with a ping and a pong in between. */
    vb_frame(&v, WS_OP_TEXT, 1, "frag", 4);
    vb_frame(&v, FIN | WS_OP_PING, 1, "p1", 2);
    vb_frame(&v, WS_OP_CONT, 1, "men", 3);
    vb_frame(&v, FIN | WS_OP_PONG, 1, "", 0);
    vb_frame(&v, FIN | WS_OP_CONT, 1, "ted", 3);
    vb_frame(&v, FIN | WS_OP_BINARY, 1, "\x00\xff", 2);
    expect_take("frame:text:first:more:4 data:\"frag\" ping:\"p1\" frame:text:cont:more:3 "
                "data:\"men\" pong:\"\" frame:text:cont:fin:3 data:\"ted\" end:text:10 "
                "frame:bin:first:fin:2 data:\"\\x00\\xff\" end:bin:2",
                &v, WS_FRAME_SERVER, 10);
    /* Empty fragments, including the first and the last. */
    vb_frame(&v, WS_OP_BINARY, 0, "", 0);
    vb_frame(&v, WS_OP_CONT, 0, "z", 1);
    vb_frame(&v, FIN | WS_OP_CONT, 0, "", 0);
    expect_take("frame:bin:first:more:0 frame:bin:cont:more:1 data:\"z\" frame:bin:cont:fin:0 "
                "end:bin:1",
                &v, WS_FRAME_CLIENT, 1);
    /* A close in the middle of a fragmented message ends the stream. */
    vb_frame(&v, WS_OP_TEXT, 0, "ab", 2);
    vb_frame(&v, FIN | WS_OP_CLOSE, 0, "\x03\xe8", 2);
    vb_frame(&v, FIN | WS_OP_CONT, 0, "cd", 2);
    expect_take("frame:text:first:more:2 data:\"ab\" close:1000:\"\"", &v, WS_FRAME_CLIENT, BIG);
    /* Continuation with nothing to continue. */
    vb_frame(&v, FIN | WS_OP_CONT, 1, "x", 1);
    expect_take("error:1002", &v, WS_FRAME_SERVER, BIG);
    vb_frame(&v, FIN | WS_OP_TEXT, 1, "a", 1);
    vb_frame(&v, FIN | WS_OP_CONT, 1, "b", 1);
    expect_take("frame:text:first:fin:1 data:\"a\" end:text:1 error:1002", &v, WS_FRAME_SERVER,
                BIG);
    /* A new message while one is in progress. */
    vb_frame(&v, WS_OP_TEXT, 1, "a", 1);
    vb_frame(&v, FIN | WS_OP_BINARY, 1, "b", 1);
    expect_take("frame:text:first:more:1 data:\"a\" error:1002", &v, WS_FRAME_SERVER, BIG);
}

static void test_utf8_across_fragments(void **state)
{
    struct vb v = {0};

    (void)state;
    /* U+03BA and U+1F600 cut across fragment boundaries: fine. */
    vb_frame(&v, WS_OP_TEXT, 1, "\xce", 1);
    vb_frame(&v, WS_OP_CONT, 1, "\xba\xf0\x9f", 3);
    vb_frame(&v, FIN | WS_OP_CONT, 1, "\x98\x80", 2);
    expect_take("frame:text:first:more:1 data:\"\\xce\" frame:text:cont:more:3 "
                "data:\"\\xba\\xf0\\x9f\" frame:text:cont:fin:2 data:\"\\x98\\x80\" end:text:6",
                &v, WS_FRAME_SERVER, BIG);
    /* A lead byte whose continuation, in the next fragment, is wrong. */
    vb_frame(&v, WS_OP_TEXT, 1, "ok\xce", 3);
    vb_frame(&v, FIN | WS_OP_CONT, 1, "A", 1);
    expect_take("frame:text:first:more:3 data:\"ok\\xce\" frame:text:cont:fin:1 error:1007", &v,
                WS_FRAME_SERVER, BIG);
    /* A message that ends inside a code point. */
    vb_frame(&v, WS_OP_TEXT, 0, "x\xe2\x82", 3);
    vb_frame(&v, FIN | WS_OP_CONT, 0, "", 0);
    expect_take("frame:text:first:more:3 data:\"x\\xe2\\x82\" frame:text:cont:fin:0 error:1007", &v,
                WS_FRAME_CLIENT, BIG);
    vb_frame(&v, FIN | WS_OP_TEXT, 0, "\xf0\x9f\x98", 3);
    expect_take("frame:text:first:fin:3 data:\"\\xf0\\x9f\\x98\" error:1007", &v, WS_FRAME_CLIENT,
                BIG);
    /* Binary messages are not UTF-8 checked. */
    vb_frame(&v, FIN | WS_OP_BINARY, 1, "\xc0\xff", 2);
    expect_take("frame:bin:first:fin:2 data:\"\\xc0\\xff\" end:bin:2", &v, WS_FRAME_SERVER, BIG);
    /* A ping between fragments does not disturb the UTF-8 state. */
    vb_frame(&v, WS_OP_TEXT, 1, "\xe2", 1);
    vb_frame(&v, FIN | WS_OP_PING, 1, "\xff", 1);
    vb_frame(&v, FIN | WS_OP_CONT, 1, "\x9c\x93", 2);
    expect_take("frame:text:first:more:1 data:\"\\xe2\" ping:\"\\xff\" frame:text:cont:fin:2 "
                "data:\"\\x9c\\x93\" end:text:3",
                &v, WS_FRAME_SERVER, BIG);
}

/* Fail fast: the error comes with the first bad byte, before the rest of
 * the frame has arrived. */
static void test_utf8_fail_fast(void **state)
{
    struct ws_frame_parser p;
    struct ws_frame_event ev;
    struct vb v = {0};
    size_t used, hdr = 2;

    (void)state;
    vb_frame_len(&v, FIN | WS_OP_TEXT, 0, LEN_MIN, 100, "abc\xed\xa0", 5);
    ws_frame_parser_init(&p, WS_FRAME_CLIENT, BIG);
    used = ws_frame_parser_feed(&p, v.p, hdr, &ev);
    assert_int_equal(used, hdr);
    assert_int_equal(ev.type, WS_EV_FRAME);
    used = ws_frame_parser_feed(&p, v.p + hdr, 4, &ev);
    assert_int_equal(ev.type, WS_EV_DATA);
    assert_int_equal(used, 4);
    used = ws_frame_parser_feed(&p, v.p + hdr + 4, 1, &ev);
    assert_int_equal(ev.type, WS_EV_ERROR);
    assert_int_equal(ev.code, WS_CLOSE_INVALID_DATA);
    vb_free(&v);
}

static void test_max_message(void **state)
{
    struct ws_frame_parser p;
    struct ws_frame_event ev;
    struct vb v = {0};
    const char *reason = NULL;

    (void)state;
    /* Decided at the header: the payload never has to arrive. */
    vb_frame_len(&v, FIN | WS_OP_TEXT, 1, LEN_MIN, 11, NULL, 0);
    expect_all("error:1009", &v, WS_FRAME_SERVER, 10);
    ws_frame_parser_init(&p, WS_FRAME_SERVER, 10);
    assert_int_equal(ws_frame_parser_feed(&p, v.p, v.n, &ev), v.n);
    assert_int_equal(ev.type, WS_EV_ERROR);
    assert_int_equal(ev.code, WS_CLOSE_TOO_BIG);
    assert_int_equal(ws_frame_parser_error(&p, &reason), WS_CLOSE_TOO_BIG);
    assert_non_null(reason);
    assert_true(span_eq(ev.data, span_cstr(reason)));
    assert_true(ev.data.n <= WS_FRAME_CLOSE_REASON_MAX);
    vb_free(&v);
    /* The sum of the fragments counts. */
    vb_frame(&v, WS_OP_BINARY, 1, "123456", 6);
    vb_frame(&v, FIN | WS_OP_CONT, 1, "7890", 4);
    vb_frame(&v, FIN | WS_OP_BINARY, 1, "1234567890", 10);
    expect_take("frame:bin:first:more:6 data:\"123456\" frame:bin:cont:fin:4 data:\"7890\" "
                "end:bin:10 frame:bin:first:fin:10 data:\"1234567890\" end:bin:10",
                &v, WS_FRAME_SERVER, 10);
    vb_frame(&v, WS_OP_BINARY, 1, "123456", 6);
    vb_frame_len(&v, FIN | WS_OP_CONT, 1, LEN_MIN, 5, NULL, 0);
    expect_take("frame:bin:first:more:6 data:\"123456\" error:1009", &v, WS_FRAME_SERVER, 10);
    /* A huge 64-bit length against a small limit: no overflow on the way. */
    vb_frame(&v, WS_OP_BINARY, 0, "1", 1);
    vb_frame_len(&v, FIN | WS_OP_CONT, 0, LEN_64, WS_FRAME_LEN_MAX, NULL, 0);
    expect_take("frame:bin:first:more:1 data:\"1\" error:1009", &v, WS_FRAME_CLIENT, 10);
    /* Limit 0: only empty messages. */
    vb_frame(&v, FIN | WS_OP_TEXT, 0, "", 0);
    vb_frame(&v, FIN | WS_OP_TEXT, 0, "a", 1);
    expect_take("frame:text:first:fin:0 end:text:0 error:1009", &v, WS_FRAME_CLIENT, 0);
}

static void test_after_close(void **state)
{
    struct ws_frame_parser p;
    struct ws_frame_event ev;
    struct vb v = {0};

    (void)state;
    vb_frame(&v, FIN | WS_OP_CLOSE, 0, "\x03\xe8", 2);
    vb_frame(&v, FIN | WS_OP_TEXT, 0, "ignored", 7);
    vb_hex(&v, "ff ff ff");
    expect_all("close:1000:\"\"", &v, WS_FRAME_CLIENT, BIG);
    ws_frame_parser_init(&p, WS_FRAME_CLIENT, BIG);
    assert_int_equal(ws_frame_parser_feed(&p, v.p, v.n, &ev), 4);
    assert_int_equal(ev.type, WS_EV_CLOSE);
    assert_int_equal(ws_frame_parser_feed(&p, v.p + 4, v.n - 4, &ev), v.n - 4);
    assert_int_equal(ev.type, WS_EV_NONE);
    assert_int_equal(ws_frame_parser_error(&p, NULL), 0);
    vb_free(&v);
}

static void test_error_sticky(void **state)
{
    struct ws_frame_parser p;
    struct ws_frame_event ev;
    uint8_t bad[] = {0xC1, 0x80, 1, 2, 3, 4};
    uint8_t good[] = {0x81, 0x80, 1, 2, 3, 4};
    const char *reason = NULL;

    (void)state;
    ws_frame_parser_init(&p, WS_FRAME_SERVER, BIG);
    assert_int_equal(ws_frame_parser_error(&p, &reason), 0);
    assert_null(reason);
    ws_frame_parser_feed(&p, bad, sizeof(bad), &ev);
    assert_int_equal(ev.type, WS_EV_ERROR);
    assert_int_equal(ev.code, WS_CLOSE_PROTOCOL_ERROR);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ws_frame_parser_feed(&p, good, sizeof(good), &ev), 0);
        assert_int_equal(ev.type, WS_EV_ERROR);
        assert_int_equal(ev.code, WS_CLOSE_PROTOCOL_ERROR);
        assert_int_equal(ws_frame_parser_feed_copy(&p, good, sizeof(good), bad, 6, &ev), 0);
        assert_int_equal(ev.type, WS_EV_ERROR);
    }
    assert_int_equal(ws_frame_parser_error(&p, &reason), WS_CLOSE_PROTOCOL_ERROR);
    assert_string_equal(reason, "reserved bits set without a negotiated extension");
    /* A fresh init revives it. */
    ws_frame_parser_init(&p, WS_FRAME_SERVER, BIG);
    assert_int_equal(ws_frame_parser_feed(&p, good, sizeof(good), &ev), sizeof(good));
    assert_int_equal(ev.type, WS_EV_FRAME);
}

/* feed_copy with no room: nothing consumed past the header, resumes later. */
static void test_copy_backpressure(void **state)
{
    struct ws_frame_parser p;
    struct ws_frame_event ev;
    struct vb v = {0};
    uint8_t out[8];
    size_t used, off = 0;

    (void)state;
    vb_frame(&v, FIN | WS_OP_BINARY, 1, "abcdef", 6);
    ws_frame_parser_init(&p, WS_FRAME_SERVER, BIG);
    used = ws_frame_parser_feed_copy(&p, v.p, v.n, out, 0, &ev);
    assert_int_equal(ev.type, WS_EV_FRAME);
    off += used;
    used = ws_frame_parser_feed_copy(&p, v.p + off, v.n - off, out, 0, &ev);
    assert_int_equal(ev.type, WS_EV_NONE);
    assert_int_equal(used, 0);
    used = ws_frame_parser_feed_copy(&p, v.p + off, v.n - off, out, 4, &ev);
    assert_int_equal(ev.type, WS_EV_DATA);
    assert_int_equal(used, 4);
    assert_memory_equal(ev.data.p, "abcd", 4);
    off += used;
    used = ws_frame_parser_feed_copy(&p, v.p + off, v.n - off, out + 4, 4, &ev);
    assert_int_equal(ev.type, WS_EV_DATA);
    assert_int_equal(used, 2);
    assert_ptr_equal(ev.data.p, out + 4);
    assert_memory_equal(out, "abcdef", 6);
    off += used;
    used = ws_frame_parser_feed_copy(&p, v.p + off, v.n - off, out, 0, &ev);
    assert_int_equal(ev.type, WS_EV_MESSAGE_END);
    assert_int_equal(ev.length, 6);
    vb_free(&v);
}

/* ------------------------------------------------------------ encoder */

static void test_header_encode(void **state)
{
    uint8_t h[WS_FRAME_HEADER_MAX];
    const uint8_t key[4] = {1, 2, 3, 4};

    (void)state;
    assert_int_equal(ws_frame_header_encode(h, WS_OP_TEXT, 1, 5, NULL), 2);
    assert_memory_equal(h, "\x81\x05", 2);
    assert_int_equal(ws_frame_header_encode(h, WS_OP_TEXT, 1, 5, test_key), 6);
    assert_memory_equal(h, "\x81\x85\x37\xfa\x21\x3d", 6);
    assert_int_equal(ws_frame_header_encode(h, WS_OP_BINARY, 0, 0, NULL), 2);
    assert_memory_equal(h, "\x02\x00", 2);
    assert_int_equal(ws_frame_header_encode(h, WS_OP_CONT, 1, 125, NULL), 2);
    assert_memory_equal(h, "\x80\x7d", 2);
    assert_int_equal(ws_frame_header_encode(h, WS_OP_BINARY, 1, 126, NULL), 4);
    assert_memory_equal(h, "\x82\x7e\x00\x7e", 4);
    assert_int_equal(ws_frame_header_encode(h, WS_OP_BINARY, 1, 256, NULL), 4);
    assert_memory_equal(h, "\x82\x7e\x01\x00", 4);
    assert_int_equal(ws_frame_header_encode(h, WS_OP_BINARY, 1, 65535, key), 8);
    assert_memory_equal(h, "\x82\xfe\xff\xff\x01\x02\x03\x04", 8);
    assert_int_equal(ws_frame_header_encode(h, WS_OP_BINARY, 1, 65536, NULL), 10);
    assert_memory_equal(h, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
    assert_int_equal(ws_frame_header_encode(h, WS_OP_TEXT, 0, WS_FRAME_LEN_MAX, key), 14);
    assert_memory_equal(h, "\x01\xff\x7f\xff\xff\xff\xff\xff\xff\xff\x01\x02\x03\x04", 14);
    assert_int_equal(ws_frame_header_encode(h, WS_OP_PING, 1, 125, key), 6);
    assert_memory_equal(h, "\x89\xfd", 2);
    assert_int_equal(ws_frame_header_encode(h, WS_OP_CLOSE, 1, 0, NULL), 2);
    assert_memory_equal(h, "\x88\x00", 2);

    /* Frames the encoder refuses to produce. */
    memset(h, 0xAA, sizeof(h));
    assert_int_equal(ws_frame_header_encode(h, WS_OP_PING, 1, 126, NULL), 0);
    assert_int_equal(ws_frame_header_encode(h, WS_OP_PONG, 0, 1, NULL), 0);
    assert_int_equal(ws_frame_header_encode(h, WS_OP_BINARY, 1, WS_FRAME_LEN_MAX + 1, NULL), 0);
    for (unsigned op = 3; op < 8; op++)
        assert_int_equal(ws_frame_header_encode(h, op, 1, 0, NULL), 0);
    for (unsigned op = 0xB; op < 0x20; op++)
        assert_int_equal(ws_frame_header_encode(h, op, 1, 0, NULL), 0);
    for (size_t i = 0; i < sizeof(h); i++)
        assert_int_equal(h[i], 0xAA);
}

static void test_mask(void **state)
{
    uint8_t src[160], dst[160], ref[160], key[4] = {0xde, 0xad, 0xbe, 0xef};

    (void)state;
    for (size_t i = 0; i < sizeof(src); i++)
        src[i] = (uint8_t)(i * 31 + 7);
    for (size_t n = 0; n <= 100; n++) {
        for (size_t off = 0; off < 9; off++) {
            for (size_t sa = 0; sa < 8; sa++) {
                size_t da = (sa * 3 + n) % 8, next;
                for (size_t i = 0; i < n; i++)
                    ref[i] = src[sa + i] ^ key[(off + i) % 4];
                memset(dst, 0, sizeof(dst));
                next = ws_frame_mask(dst + da, src + sa, n, key, off);
                assert_int_equal(next, (off + n) % 4);
                assert_memory_equal(dst + da, ref, n);
                for (size_t i = 0; i < da; i++)
                    assert_int_equal(dst[i], 0);
                for (size_t i = da + n; i < sizeof(dst); i++)
                    assert_int_equal(dst[i], 0);
                /* In place, then masking twice is the identity. */
                memcpy(dst + sa, src + sa, n);
                ws_frame_mask(dst + sa, dst + sa, n, key, off);
                assert_memory_equal(dst + sa, ref, n);
                ws_frame_mask(dst + sa, dst + sa, n, key, off);
                assert_memory_equal(dst + sa, src + sa, n);
            }
        }
    }
    /* Masking in pieces equals masking at once. */
    {
        size_t pos = 0, k = 0;
        size_t pieces[] = {3, 1, 17, 0, 40, 5, 94};
        for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
            k = ws_frame_mask(dst + pos, src + pos, pieces[i], key, k);
            pos += pieces[i];
        }
        ws_frame_mask(ref, src, pos, key, 0);
        assert_memory_equal(dst, ref, pos);
    }
}

static void test_close_code_valid(void **state)
{
    (void)state;
    for (unsigned c = 0; c < 70000; c++) {
        int expect =
            (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
        assert_int_equal(ws_frame_close_code_valid(c), expect);
    }
}

static void test_close_payload(void **state)
{
    uint8_t out[WS_FRAME_CONTROL_MAX];
    uint8_t reason[130];

    (void)state;
    memset(reason, 'q', sizeof(reason));
    assert_int_equal(ws_frame_close_payload(out, 1000, NULL, 0), 2);
    assert_memory_equal(out, "\x03\xe8", 2);
    assert_int_equal(ws_frame_close_payload(out, 4001, (const uint8_t *)"bye \xe2\x9c\x93", 7), 9);
    assert_memory_equal(out,
                        "\x0f\xa1"
                        "bye \xe2\x9c\x93",
                        9);
    assert_int_equal(ws_frame_close_payload(out, 0, NULL, 0), 0);
    assert_int_equal(ws_frame_close_payload(out, 0, reason, 1), WS_FRAME_ERR_REASON);
    assert_int_equal(ws_frame_close_payload(out, 1005, NULL, 0), WS_FRAME_ERR_CODE);
    assert_int_equal(ws_frame_close_payload(out, 1006, NULL, 0), WS_FRAME_ERR_CODE);
    assert_int_equal(ws_frame_close_payload(out, 1015, NULL, 0), WS_FRAME_ERR_CODE);
    assert_int_equal(ws_frame_close_payload(out, 5000, NULL, 0), WS_FRAME_ERR_CODE);
    assert_int_equal(ws_frame_close_payload(out, 1002, reason, 123), 125);
    assert_memory_equal(out + 2, reason, 123);
    assert_int_equal(ws_frame_close_payload(out, 1002, reason, 124), WS_FRAME_ERR_REASON);
    assert_int_equal(ws_frame_close_payload(out, 1002, (const uint8_t *)"\xed\xa0\x80", 3),
                     WS_FRAME_ERR_REASON);
    assert_int_equal(ws_frame_close_payload(out, 1002, (const uint8_t *)"\xe2\x9c", 2),
                     WS_FRAME_ERR_REASON);
}

/* ---------------------------------------------------------- round trip */

struct rng {
    uint64_t s;
};

static uint32_t rng_next(struct rng *r)
{
    r->s = r->s * 6364136223846793005u + 1442695040888963407u;
    return (uint32_t)(r->s >> 33);
}

static size_t rng_len(struct rng *r)
{
    static const size_t edges[] = {0, 1, 125, 126, 127, 65535, 65536, 65537};
    uint32_t x = rng_next(r) % 10;
    if (x < 3)
        return edges[rng_next(r) % 8];
    if (x < 8)
        return rng_next(r) % 300;
    return rng_next(r) % 5000;
}

/* Valid UTF-8 of about n bytes: a mix of 1- to 4-byte code points. */
static size_t rng_utf8(struct rng *r, uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint32_t kind = rng_next(r) % 4;
        if (kind == 0 || n - i < 4) {
            p[i++] = (uint8_t)(0x20 + rng_next(r) % 0x5f);
        } else if (kind == 1) {
            uint32_t cp = 0x80 + rng_next(r) % (0x800 - 0x80);
            p[i++] = (uint8_t)(0xC0 | cp >> 6);
            p[i++] = (uint8_t)(0x80 | (cp & 0x3F));
        } else if (kind == 2) {
            uint32_t cp = 0x800 + rng_next(r) % (0x10000 - 0x800);
            if (cp >= 0xD800 && cp <= 0xDFFF)
                cp -= 0x1000;
            p[i++] = (uint8_t)(0xE0 | cp >> 12);
            p[i++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
            p[i++] = (uint8_t)(0x80 | (cp & 0x3F));
        } else {
            uint32_t cp = 0x10000 + rng_next(r) % (0x110000 - 0x10000);
            p[i++] = (uint8_t)(0xF0 | cp >> 18);
            p[i++] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
            p[i++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
            p[i++] = (uint8_t)(0x80 | (cp & 0x3F));
        }
    }
    return i;
}

/* Appends one frame made with the encoder under test. */
static void enc_frame(struct vb *v, struct rng *r, unsigned op, int fin, const uint8_t *pl,
                      size_t n, int masked)
{
    uint8_t h[WS_FRAME_HEADER_MAX], key[4];
    size_t hl, at;

    for (int i = 0; i < 4; i++)
        key[i] = (uint8_t)rng_next(r);
    hl = ws_frame_header_encode(h, op, fin, n, masked ? key : NULL);
    assert_true(hl >= 2);
    vb_put(v, h, hl);
    at = v->n;
    vb_put(v, pl, n);
    if (masked) {
        /* Mask in two pieces to exercise the offset. */
        size_t cut = n ? rng_next(r) % (n + 1) : 0;
        size_t k = ws_frame_mask(v->p + at, v->p + at, cut, key, 0);
        ws_frame_mask(v->p + at + cut, v->p + at + cut, n - cut, key, k);
    }
}

/* Random messages, fragmented at random with control frames between
 * fragments, encoded, then parsed under random splits and modes; what comes
 * out must be what went in. */
static void test_round_trip(void **state)
{
    struct rng r = {0x5eed};

    (void)state;
    for (int iter = 0; iter < 60; iter++) {
        int masked = iter & 1;
        enum ws_frame_role role = masked ? WS_FRAME_SERVER : WS_FRAME_CLIENT;
        struct vb wire = {0}, expect = {0};
        uint32_t hash = FNV_INIT, phash = FNV_INIT;
        size_t nmsg = 1 + rng_next(&r) % 6;

        for (size_t m = 0; m < nmsg; m++) {
            size_t len = rng_len(&r);
            unsigned op = rng_next(&r) % 2 ? WS_OP_TEXT : WS_OP_BINARY;
            uint8_t *pl = malloc(len + 4);
            size_t at = 0, nfrag = 1 + rng_next(&r) % 4;
            int ended = 0;
            char line[64];

            assert_non_null(pl);
            if (op == WS_OP_TEXT)
                len = rng_utf8(&r, pl, len);
            else
                for (size_t i = 0; i < len; i++)
                    pl[i] = (uint8_t)rng_next(&r);
            for (size_t f = 0; f < nfrag; f++) {
                size_t fl = f + 1 == nfrag ? len - at : rng_next(&r) % (len - at + 1);
                enc_frame(&wire, &r, f ? WS_OP_CONT : op, f + 1 == nfrag, pl + at, fl, masked);
                at += fl;
                /* A ping between fragments, or after the message. */
                if (rng_next(&r) % 3 == 0) {
                    uint8_t ping[WS_FRAME_CONTROL_MAX];
                    size_t pn = rng_next(&r) % (WS_FRAME_CONTROL_MAX + 1);
                    for (size_t i = 0; i < pn; i++)
                        ping[i] = (uint8_t)rng_next(&r);
                    if (f + 1 == nfrag) {
                        snprintf(line, sizeof(line), "msg:%s:%zu ", op_name(op), len);
                        vb_put(&expect, line, strlen(line));
                        ended = 1;
                    }
                    enc_frame(&wire, &r, WS_OP_PING, 1, ping, pn, masked);
                    snprintf(line, sizeof(line), "ping:%zu ", pn);
                    vb_put(&expect, line, strlen(line));
                    phash = fnv1a(phash, ping, pn);
                }
            }
            hash = fnv1a(hash, pl, len);
            if (!ended) {
                snprintf(line, sizeof(line), "msg:%s:%zu ", op_name(op), len);
                vb_put(&expect, line, strlen(line));
            }
            free(pl);
        }
        {
            uint8_t cp[WS_FRAME_CONTROL_MAX];
            int cl =
                ws_frame_close_payload(cp, 1000 + rng_next(&r) % 4, (const uint8_t *)"done", 4);
            assert_true(cl == 6);
            enc_frame(&wire, &r, WS_OP_CLOSE, 1, cp, (size_t)cl, masked);
            vb_put(&expect, "close", 5);
        }

        for (int trial = 0; trial < 4; trial++) {
            struct ws_frame_parser p;
            struct vb got = {0};
            uint32_t ghash = FNV_INIT, gphash = FNV_INIT;
            enum mode mode = (enum mode)(rng_next(&r) % MODE_COUNT);
            uint8_t *buf = malloc(wire.n), *out = malloc(COPY_BIG);
            size_t off = 0, msg = 0;
            int closed = 0;

            assert_non_null(buf);
            assert_non_null(out);
            memcpy(buf, wire.p, wire.n);
            ws_frame_parser_init(&p, role, 65537 + 5000);
            while (!closed) {
                size_t chunk = 1 + rng_next(&r) % (trial == 0 ? 3 : 9000);
                size_t end = off + chunk < wire.n ? off + chunk : wire.n;
                for (;;) {
                    struct ws_frame_event ev;
                    size_t used;
                    char line[64];
                    if (mode == MODE_INPLACE)
                        used = ws_frame_parser_feed(&p, buf + off, end - off, &ev);
                    else
                        used =
                            ws_frame_parser_feed_copy(&p, buf + off, end - off, out,
                                                      mode == MODE_COPY_SMALL ? 7 : COPY_BIG, &ev);
                    off += used;
                    if (ev.type == WS_EV_NONE)
                        break;
                    assert_int_not_equal(ev.type, WS_EV_ERROR);
                    if (ev.type == WS_EV_FRAME && ev.first)
                        msg = 0;
                    if (ev.type == WS_EV_DATA) {
                        ghash = fnv1a(ghash, ev.data.p, ev.data.n);
                        msg += ev.data.n;
                    } else if (ev.type == WS_EV_MESSAGE_END) {
                        assert_int_equal(ev.length, msg);
                        snprintf(line, sizeof(line), "msg:%s:%zu ", op_name(ev.opcode), msg);
                        vb_put(&got, line, strlen(line));
                    } else if (ev.type == WS_EV_PING) {
                        gphash = fnv1a(gphash, ev.data.p, ev.data.n);
                        snprintf(line, sizeof(line), "ping:%zu ", ev.data.n);
                        vb_put(&got, line, strlen(line));
                    } else if (ev.type == WS_EV_CLOSE) {
                        assert_true(span_eq(ev.data, SPAN_LIT("done")));
                        vb_put(&got, "close", 5);
                        closed = 1;
                    }
                }
                assert_true(closed || off < wire.n);
            }
            assert_int_equal(got.n, expect.n);
            assert_memory_equal(got.p, expect.p, got.n);
            assert_int_equal(ghash, hash);
            assert_int_equal(gphash, phash);
            vb_free(&got);
            free(buf);
            free(out);
        }
        vb_free(&wire);
        vb_free(&expect);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc_examples),
        cmocka_unit_test(test_length_boundaries),
        cmocka_unit_test(test_non_minimal_lengths),
        cmocka_unit_test(test_masking_rules),
        cmocka_unit_test(test_rsv_and_opcodes),
        cmocka_unit_test(test_control_rules),
        cmocka_unit_test(test_close_codes_on_wire),
        cmocka_unit_test(test_fragmentation),
        cmocka_unit_test(test_utf8_across_fragments),
        cmocka_unit_test(test_utf8_fail_fast),
        cmocka_unit_test(test_max_message),
        cmocka_unit_test(test_after_close),
        cmocka_unit_test(test_error_sticky),
        cmocka_unit_test(test_copy_backpressure),
        cmocka_unit_test(test_header_encode),
        cmocka_unit_test(test_mask),
        cmocka_unit_test(test_close_code_valid),
        cmocka_unit_test(test_close_payload),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
