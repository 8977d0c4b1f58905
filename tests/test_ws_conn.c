/*
 * tests/test_ws_conn.c — the sans-I/O WebSocket endpoint (proto/ws_conn.c).
 *
 * Receiving: each vector (a byte stream of frames, built here) is fed
 * whole, one byte at a time and split at every offset, with stage buffers
 * of 1, 7 and 4096 bytes, and with an owner that takes whole chunks or
 * only 3 bytes at a time (parking the rest of its input with ws_conn_hold
 * as a paused socket would). Every plan must yield the same transcript of
 * reassembled messages, Close and errors, and the same control frames out
 * (pongs, our Close on errors). Pieces live in exact-size heap blocks.
 *
 * Sending, closing and keep-alive: frames written are parsed back with the
 * frame codec in the other role (so client masking is checked too), and
 * the sink's refusals and the clock are driven by hand.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/rand.h"
#include "proto/ws_conn.h"
#include "proto/ws_frame.h"

/* --------------------------------------------------------------- sink */

struct sink {
    uint8_t *buf;
    size_t len, cap;
    size_t limit; /* refuse a reservation that would pass this */
    size_t reserved;
};

static uint8_t *sink_reserve(void *cookie, size_t n)
{
    struct sink *s = cookie;
    if (s->len + n > s->limit)
        return NULL;
    if (s->len + n > s->cap) {
        s->cap = (s->len + n) * 2;
        s->buf = realloc(s->buf, s->cap);
        assert_non_null(s->buf);
    }
    s->reserved = n;
    return s->buf + s->len;
}

static void sink_commit(void *cookie, size_t used)
{
    struct sink *s = cookie;
    assert_true(used <= s->reserved);
    s->len += used;
    s->reserved = 0;
}

static const struct ws_conn_sink sink_ops = {sink_reserve, sink_commit};

/* ----------------------------------------------------- stream builder */

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

/* Appends a frame; masked with a fixed key when mask is set. */
static void vb_frame(struct vb *v, unsigned op, int fin, const void *pl, size_t n, int mask)
{
    static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    uint8_t h[WS_FRAME_HEADER_MAX], *tmp = malloc(n + 1);
    size_t hl;

    assert_non_null(tmp);
    /* Control frames of bad length are written by hand by the callers. */
    hl = ws_frame_header_encode(h, op, fin, n, mask ? key : NULL);
    assert_true(hl > 0);
    vb_put(v, h, hl);
    if (mask)
        ws_frame_mask(tmp, pl, n, key, 0);
    else if (n)
        memcpy(tmp, pl, n);
    vb_put(v, tmp, n);
    free(tmp);
}

static void vb_close(struct vb *v, unsigned code, const char *reason, int mask)
{
    uint8_t pl[WS_FRAME_CONTROL_MAX];
    int n = ws_frame_close_payload(pl, code, (const uint8_t *)reason, strlen(reason));
    assert_true(n >= 0);
    vb_frame(v, WS_OP_CLOSE, 1, pl, (size_t)n, mask);
}

/* ------------------------------------------------------------- driver */

struct tr {
    char s[8192];
    size_t n;
    int in_msg;
    unsigned op;
    size_t stage_cap;
};

__attribute__((format(printf, 2, 3))) static void tr_put(struct tr *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(t->s + t->n, sizeof(t->s) - t->n, fmt, ap);
    va_end(ap);
    assert_true(k >= 0 && (size_t)k < sizeof(t->s) - t->n);
    t->n += (size_t)k;
}

/* Records a chunk; long messages are summarised by length and checksum. */
struct msgacc {
    uint64_t sum;
    size_t len;
    char text[64];
};

static struct msgacc acc;

static void record_chunk(struct tr *t, const struct ws_conn_event *ev, size_t k)
{
    assert_true(ev->data.n <= t->stage_cap);
    if (ev->first) {
        assert_false(t->in_msg);
        t->in_msg = 1;
        t->op = ev->opcode;
        memset(&acc, 0, sizeof(acc));
    }
    assert_true(t->in_msg);
    assert_int_equal(ev->opcode, t->op);
    for (size_t i = 0; i < k; i++) {
        acc.sum = acc.sum * 131 + ev->data.p[i];
        if (acc.len + i < sizeof(acc.text) - 1)
            acc.text[acc.len + i] = (char)ev->data.p[i];
    }
    acc.len += k;
    if (ev->fin && k == ev->data.n) {
        tr_put(t, "%c%zu:%llx:%.*s|", ev->opcode == WS_OP_TEXT ? 'T' : 'B', acc.len,
               (unsigned long long)acc.sum, acc.len < 16 ? (int)acc.len : 0, acc.text);
        t->in_msg = 0;
    }
}

/* Feeds one piece the way a socket owner does; step 0 takes whole chunks. */
static void pump(struct ws_conn *c, const uint8_t *p, size_t n, struct tr *t, size_t step,
                 uint64_t now)
{
    for (;;) {
        struct ws_conn_event ev;
        size_t used = ws_conn_feed(c, p, n, now, &ev);
        assert_true(used <= n);
        p += used;
        n -= used;
        switch (ev.type) {
        case WS_CONN_EV_NONE:
            assert_int_equal(n, 0);
            assert_false(ws_conn_blocked(c));
            return;
        case WS_CONN_EV_MESSAGE: {
            size_t k = step && step < ev.data.n ? step : ev.data.n;
            record_chunk(t, &ev, k);
            ws_conn_take(c, k);
            if (k < ev.data.n) {
                /* Blocked: park the rest as a paused socket would. */
                assert_true(ws_conn_blocked(c));
                assert_int_equal(ws_conn_hold(c, p, n), 0);
                n = 0;
            }
            break;
        }
        case WS_CONN_EV_CLOSE:
            tr_put(t, "C%u:%.*s|", ev.code, (int)ev.data.n, (const char *)ev.data.p);
            break;
        case WS_CONN_EV_ERROR:
            tr_put(t, "E%u|", ev.code);
            break;
        }
    }
}

/* Control frames the endpoint wrote, as text ("P:<payload>|", "C<code>|"). */
static void render_output(const struct sink *s, enum ws_frame_role role, char *out, size_t cap)
{
    struct ws_frame_parser p;
    struct ws_frame_event ev;
    uint8_t *copy = malloc(s->len + 1);
    size_t off = 0, n = 0;

    assert_non_null(copy);
    if (s->len)
        memcpy(copy, s->buf, s->len);
    /* We parse what the endpoint sent, so take the peer's role. */
    ws_frame_parser_init(&p, role == WS_FRAME_SERVER ? WS_FRAME_CLIENT : WS_FRAME_SERVER,
                         UINT64_MAX >> 1);
    out[0] = '\0';
    for (;;) {
        size_t used = ws_frame_parser_feed(&p, copy + off, s->len - off, &ev);
        off += used;
        if (ev.type == WS_EV_NONE)
            break;
        assert_int_not_equal(ev.type, WS_EV_ERROR);
        if (ev.type == WS_EV_PONG)
            n += (size_t)snprintf(out + n, cap - n, "P:%.*s|", (int)ev.data.n,
                                  (const char *)ev.data.p);
        else if (ev.type == WS_EV_CLOSE)
            n += (size_t)snprintf(out + n, cap - n, "C%u|", ev.code);
        else if (ev.type == WS_EV_PING)
            n += (size_t)snprintf(out + n, cap - n, "I|");
        assert_true(n < cap);
    }
    assert_int_equal(off, s->len);
    free(copy);
}

struct env {
    struct ws_conn c;
    struct sink sink;
    struct rand_pool rand;
    uint8_t *stage, *backlog;
};

static void env_init(struct env *e, enum ws_frame_role role, uint64_t max_message, size_t stage_cap,
                     size_t backlog_cap, size_t frame_max)
{
    struct ws_conn_config cfg;

    memset(e, 0, sizeof(*e));
    e->sink.limit = SIZE_MAX;
    rand_pool_init(&e->rand);
    e->stage = malloc(stage_cap);
    e->backlog = malloc(backlog_cap ? backlog_cap : 1);
    assert_true(e->stage && e->backlog);
    memset(&cfg, 0, sizeof(cfg));
    cfg.role = role;
    cfg.max_message = max_message;
    cfg.frame_max = frame_max;
    cfg.ping_interval_ms = 1000;
    cfg.close_ms = 500;
    cfg.stage = e->stage;
    cfg.stage_cap = stage_cap;
    cfg.backlog = e->backlog;
    cfg.backlog_cap = backlog_cap;
    cfg.rand = &e->rand;
    cfg.sink = &sink_ops;
    cfg.sink_cookie = &e->sink;
    assert_int_equal(ws_conn_init(&e->c, &cfg, 0), 0);
}

static void env_free(struct env *e)
{
    free(e->stage);
    free(e->backlog);
    free(e->sink.buf);
}

/*
 * Runs every plan over the stream and checks each transcript (and the
 * control frames written) against the expected ones.
 */
static void check_vector(const char *name, enum ws_frame_role role, uint64_t max_message,
                         const struct vb *v, const char *want, const char *want_out)
{
    static const size_t caps[] = {1, 7, 4096};
    static const size_t steps[] = {0, 3};

    for (size_t ci = 0; ci < 3; ci++) {
        for (size_t si = 0; si < 2; si++) {
            /* plan 0: whole; 1: byte by byte; 2 + i: split at offset i. */
            size_t nplans = 2 + (v->n <= 600 ? v->n : 0);
            for (size_t plan = 0; plan < nplans; plan++) {
                struct env e;
                struct tr t;
                char out[1024];
                size_t off = 0;

                memset(&t, 0, sizeof(t));
                t.stage_cap = caps[ci];
                env_init(&e, role, max_message, caps[ci], v->n + 1, 4096);
                while (off < v->n) {
                    size_t len = plan == 0   ? v->n
                                 : plan == 1 ? 1
                                 : off == 0  ? plan - 2
                                             : v->n - off;
                    if (len == 0)
                        len = v->n; /* split at 0: one piece */
                    if (len > v->n - off)
                        len = v->n - off;
                    uint8_t *piece = malloc(len);
                    assert_non_null(piece);
                    memcpy(piece, v->p + off, len);
                    pump(&e.c, piece, len, &t, steps[si], 1);
                    free(piece);
                    off += len;
                }
                render_output(&e.sink, role, out, sizeof(out));
                if (strcmp(t.s, want) != 0 || strcmp(out, want_out) != 0)
                    fail_msg("%s: stage %zu, step %zu, plan %zu:\n got  %s / %s\n want %s / %s",
                             name, caps[ci], steps[si], plan, t.s, out, want, want_out);
                assert_false(t.in_msg && strchr(want, 'E') == NULL && strchr(want, 'C') == NULL);
                env_free(&e);
            }
        }
    }
}

/* The expected transcript entry of a message (as record_chunk renders it). */
static void want_msg(char *w, size_t cap, unsigned op, const uint8_t *p, size_t n)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum = sum * 131 + p[i];
    snprintf(w + strlen(w), cap - strlen(w), "%c%zu:%llx:%.*s|", op == WS_OP_TEXT ? 'T' : 'B', n,
             (unsigned long long)sum, n < 16 ? (int)n : 0, (const char *)p);
}

/* ------------------------------------------------------------- tests */

static void test_receive_vectors(void **state)
{
    uint8_t bin[300], big[70000];
    char want[1024];
    (void)state;

    for (size_t i = 0; i < sizeof(bin); i++)
        bin[i] = (uint8_t)(i * 7);
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 13 + 1);

    for (int r = 0; r < 2; r++) {
        enum ws_frame_role role = r ? WS_FRAME_CLIENT : WS_FRAME_SERVER;
        int mask = role == WS_FRAME_SERVER; /* what the peer must send */
        struct vb v = {0};

        /* Text, 16-bit binary, empty messages. */
        vb_frame(&v, WS_OP_TEXT, 1, "hello", 5, mask);
        vb_frame(&v, WS_OP_BINARY, 1, bin, sizeof(bin), mask);
        vb_frame(&v, WS_OP_TEXT, 1, "", 0, mask);
        vb_frame(&v, WS_OP_BINARY, 1, "", 0, mask);
        want[0] = '\0';
        want_msg(want, sizeof(want), WS_OP_TEXT, (const uint8_t *)"hello", 5);
        want_msg(want, sizeof(want), WS_OP_BINARY, bin, sizeof(bin));
        want_msg(want, sizeof(want), WS_OP_TEXT, (const uint8_t *)"", 0);
        want_msg(want, sizeof(want), WS_OP_BINARY, (const uint8_t *)"", 0);
        check_vector("messages", role, 1000, &v, want, "");
        v.n = 0;

        /* Fragments with a ping in between, split inside a code point, a
         * pong swallowed, then a Close with trailing bytes ignored. */
        vb_frame(&v, WS_OP_TEXT, 0, "frag", 4, mask);
        vb_frame(&v, WS_OP_PING, 1, "are you there", 13, mask);
        vb_frame(&v, WS_OP_CONT, 0, "men", 3, mask);
        vb_frame(&v, WS_OP_CONT, 0, "t\xc3", 2, mask);
        vb_frame(&v, WS_OP_PONG, 1, "x", 1, mask);
        vb_frame(&v, WS_OP_CONT, 1,
                 "\xa9"
                 "d",
                 2, mask);
        vb_close(&v, 4001, "bye \xe2\x9c\x93", mask);
        vb_frame(&v, WS_OP_TEXT, 1, "ignored", 7, mask);
        want[0] = '\0';
        want_msg(want, sizeof(want), WS_OP_TEXT,
                 (const uint8_t *)"fragment\xc3\xa9"
                                  "d",
                 11);
        strcat(want, "C4001:bye \xe2\x9c\x93|");
        check_vector("fragments", role, 1000, &v, want, "P:are you there|");
        v.n = 0;

        /* Data staged when the Close comes goes out first. */
        vb_frame(&v, WS_OP_BINARY, 0, "abc", 3, mask);
        vb_close(&v, 1001, "", mask);
        {
            /* The message never ends: its chunks are delivered, no fin. */
            struct env e;
            struct tr t;
            memset(&t, 0, sizeof(t));
            t.stage_cap = 4096;
            env_init(&e, role, 1000, 4096, 64, 4096);
            pump(&e.c, v.p, v.n, &t, 0, 1);
            assert_string_equal(t.s, "C1001:|");
            assert_true(t.in_msg && acc.len == 3);
            assert_true(ws_conn_close_rcvd(&e.c));
            env_free(&e);
        }
        v.n = 0;

        /* 64-bit length: whole and byte-wise only (too long for all splits). */
        vb_frame(&v, WS_OP_BINARY, 1, big, sizeof(big), mask);
        want[0] = '\0';
        want_msg(want, sizeof(want), WS_OP_BINARY, big, sizeof(big));
        check_vector("big", role, sizeof(big), &v, want, "");
        /* One byte over the limit: 1009 before any payload. */
        check_vector("too big", role, sizeof(big) - 1, &v, "E1009|", "C1009|");
        v.n = 0;

        /* Bad UTF-8 across fragments: 1007, our Close says so. */
        vb_frame(&v, WS_OP_TEXT, 0, "ok\xed", 3, mask);
        vb_frame(&v, WS_OP_CONT, 1, "\xa0\x80", 2, mask);
        check_vector("utf8", role, 1000, &v, "E1007|", "C1007|");
        v.n = 0;

        /* Wrong masking for the role: 1002. */
        vb_frame(&v, WS_OP_TEXT, 1, "hi", 2, !mask);
        check_vector("masking", role, 1000, &v, "E1002|", "C1002|");
        v.n = 0;

        /* Oversized control frame (hand-made header: 126-byte ping). */
        {
            uint8_t h[2] = {0x89, (uint8_t)((mask ? 0x80 : 0) | 126)};
            vb_put(&v, h, 2);
            check_vector("control", role, 1000, &v, "E1002|", "C1002|");
        }
        free(v.p);
    }
}

static void test_chunks_and_backlog(void **state)
{
    struct env e;
    struct ws_conn_event ev;
    struct vb v = {0};
    uint8_t msg[20];
    (void)state;

    for (size_t i = 0; i < sizeof(msg); i++)
        msg[i] = (uint8_t)('a' + i);
    vb_frame(&v, WS_OP_BINARY, 1, msg, sizeof(msg), 1);
    vb_frame(&v, WS_OP_TEXT, 1, "x", 1, 1);

    env_init(&e, WS_FRAME_SERVER, 100, 8, 16, 4096);
    /* Half of the first frame: a partial chunk (input ran out). */
    size_t used = ws_conn_feed(&e.c, v.p, 10, 1, &ev);
    assert_int_equal(used, 10);
    assert_int_equal(ev.type, WS_CONN_EV_MESSAGE);
    assert_true(ev.first && !ev.fin && ev.opcode == WS_OP_BINARY);
    assert_int_equal(ev.data.n, 4); /* 6 header bytes */
    assert_memory_equal(ev.data.p, "abcd", 4);
    /* Take nothing: the same chunk comes back, input untouched. */
    ws_conn_take(&e.c, 0);
    used = ws_conn_feed(&e.c, v.p + 10, v.n - 10, 1, &ev);
    assert_int_equal(used, 0);
    assert_int_equal(ev.type, WS_CONN_EV_MESSAGE);
    assert_int_equal(ev.data.n, 4);
    assert_true(ws_conn_blocked(&e.c));
    /* Park the rest; the backlog is 16 bytes, the rest is 19. */
    assert_int_equal(ws_conn_hold(&e.c, v.p + 10, 17), -ENOBUFS);
    assert_int_equal(ws_conn_hold(&e.c, v.p + 10, 16), 0);
    ws_conn_take(&e.c, 1);
    used = ws_conn_feed(&e.c, NULL, 0, 1, &ev);
    assert_int_equal(ev.type, WS_CONN_EV_MESSAGE);
    assert_false(ev.first);
    assert_memory_equal(ev.data.p, "bcd", 3);
    ws_conn_take(&e.c, 3);
    /* From the backlog: 8 bytes fill the stage. */
    used = ws_conn_feed(&e.c, NULL, 0, 1, &ev);
    assert_int_equal(ev.type, WS_CONN_EV_MESSAGE);
    assert_true(!ev.first && !ev.fin);
    assert_memory_equal(ev.data.p, "efghijkl", 8);
    /* Half the backlog is used: parking more moves the rest to the front. */
    assert_int_equal(ws_conn_hold(&e.c, v.p + 26, 4), 0);
    assert_int_equal(e.c.backlog_off, 0);
    assert_int_equal(e.c.backlog_len, 12);
    ws_conn_take(&e.c, 8);
    used = ws_conn_feed(&e.c, NULL, 0, 1, &ev);
    assert_int_equal(ev.type, WS_CONN_EV_MESSAGE);
    assert_true(!ev.first && ev.fin);
    assert_memory_equal(ev.data.p, "mnopqrst", 8);
    assert_int_equal(ws_conn_hold(&e.c, v.p + 30, 3), 0);
    ws_conn_take(&e.c, 8);
    used = ws_conn_feed(&e.c, NULL, 0, 1, &ev);
    assert_int_equal(ev.type, WS_CONN_EV_MESSAGE);
    assert_true(ev.first && ev.fin && ev.opcode == WS_OP_TEXT);
    assert_memory_equal(ev.data.p, "x", 1);
    ws_conn_take(&e.c, 1);
    used = ws_conn_feed(&e.c, NULL, 0, 1, &ev);
    assert_int_equal(ev.type, WS_CONN_EV_NONE);
    assert_false(ws_conn_blocked(&e.c));
    env_free(&e);
    free(v.p);
}

/* Parses the frames written to the sink (in the peer's role) as a list. */
struct frames {
    unsigned op[64];
    int fin[64];
    size_t len[64];
    uint8_t data[1 << 17];
    size_t n, total;
};

static void parse_frames(const struct sink *s, enum ws_frame_role our_role, struct frames *f)
{
    struct ws_frame_parser p;
    struct ws_frame_event ev;
    uint8_t *copy = malloc(s->len + 1);
    size_t off = 0;

    assert_non_null(copy);
    memcpy(copy, s->buf, s->len);
    memset(f, 0, sizeof(*f));
    ws_frame_parser_init(&p, our_role == WS_FRAME_SERVER ? WS_FRAME_CLIENT : WS_FRAME_SERVER,
                         sizeof(f->data));
    for (;;) {
        off += ws_frame_parser_feed(&p, copy + off, s->len - off, &ev);
        if (ev.type == WS_EV_NONE)
            break;
        assert_int_not_equal(ev.type, WS_EV_ERROR);
        if (ev.type == WS_EV_FRAME) {
            assert_true(f->n < 64);
            f->op[f->n] = ev.first ? ev.opcode : WS_OP_CONT;
            f->fin[f->n] = ev.fin;
            f->len[f->n] = (size_t)ev.length;
            f->n++;
        } else if (ev.type == WS_EV_DATA) {
            memcpy(f->data + f->total, ev.data.p, ev.data.n);
            f->total += ev.data.n;
        } else if (ev.type == WS_EV_CLOSE || ev.type == WS_EV_PING || ev.type == WS_EV_PONG) {
            assert_true(f->n < 64);
            f->op[f->n] = ev.type == WS_EV_CLOSE  ? WS_OP_CLOSE
                          : ev.type == WS_EV_PING ? WS_OP_PING
                                                  : WS_OP_PONG;
            f->fin[f->n] = 1;
            f->len[f->n] = ev.type == WS_EV_CLOSE ? ev.code : ev.data.n;
            f->n++;
        }
    }
    free(copy);
}

static void test_send(void **state)
{
    static struct frames f;
    uint8_t big[1000];
    (void)state;

    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 3);
    for (int r = 0; r < 2; r++) {
        enum ws_frame_role role = r ? WS_FRAME_CLIENT : WS_FRAME_SERVER;
        struct env e;

        /* frame_max 256: 242 bytes of payload per frame at most. */
        env_init(&e, role, 100, 16, 16, 256);
        assert_int_equal(ws_conn_send(&e.c, WS_OP_TEXT, (const uint8_t *)"hi", 2, 1), 0);
        assert_int_equal(ws_conn_send(&e.c, WS_OP_BINARY, big, 500, 0), 0);
        assert_int_equal(ws_conn_send(&e.c, WS_OP_TEXT, big, 1, 1), -EINVAL);
        assert_int_equal(ws_conn_send(&e.c, WS_OP_BINARY, NULL, 0, 0), 0); /* no frame */
        assert_int_equal(ws_conn_send(&e.c, WS_OP_BINARY, big + 500, 500, 1), 0);
        assert_int_equal(ws_conn_send(&e.c, WS_OP_BINARY, NULL, 0, 1), 0); /* empty message */
        assert_int_equal(ws_conn_send(&e.c, WS_OP_CLOSE, big, 1, 1), -EINVAL);
        /* A message that starts empty: its first real frame is not CONT. */
        assert_int_equal(ws_conn_send(&e.c, WS_OP_TEXT, NULL, 0, 0), 0);
        assert_int_equal(ws_conn_send(&e.c, WS_OP_TEXT, (const uint8_t *)"z", 1, 1), 0);
        parse_frames(&e.sink, role, &f);
        /* hi | 242 242 16 | 242 242 16 | empty | z */
        static const unsigned ops[] = {WS_OP_TEXT, WS_OP_BINARY, WS_OP_CONT,
                                       WS_OP_CONT, WS_OP_CONT,   WS_OP_CONT,
                                       WS_OP_CONT, WS_OP_BINARY, WS_OP_TEXT};
        static const size_t lens[] = {2, 242, 242, 16, 242, 242, 16, 0, 1};
        static const int fins[] = {1, 0, 0, 0, 0, 0, 1, 1, 1};
        assert_int_equal(f.n, 9);
        for (size_t i = 0; i < 9; i++) {
            assert_int_equal(f.op[i], ops[i]);
            assert_int_equal(f.len[i], lens[i]);
            assert_int_equal(f.fin[i], fins[i]);
        }
        assert_int_equal(f.total, 2 + 1000 + 1);
        assert_memory_equal(f.data + 2, big, 1000);

        /* Close: frame out, no data afterwards, no second Close. */
        assert_int_equal(ws_conn_close(&e.c, 1005, span_make(NULL, 0), 10), -EINVAL);
        assert_int_equal(ws_conn_close(&e.c, 0, SPAN_LIT("x"), 10), -EINVAL);
        assert_int_equal(ws_conn_close(&e.c, 4000, SPAN_LIT("done"), 10), 0);
        assert_true(ws_conn_close_sent(&e.c));
        assert_int_equal(ws_conn_close(&e.c, 4000, SPAN_LIT("done"), 10), -EPIPE);
        assert_int_equal(ws_conn_send(&e.c, WS_OP_TEXT, (const uint8_t *)"x", 1, 1), -EPIPE);
        parse_frames(&e.sink, role, &f);
        assert_int_equal(f.op[f.n - 1], WS_OP_CLOSE);
        assert_int_equal(f.len[f.n - 1], 4000);
        /* Close wait. */
        assert_int_equal(ws_conn_deadline(&e.c), 510);
        assert_int_equal(ws_conn_tick(&e.c, 509), WS_CONN_TICK_NONE);
        assert_int_equal(ws_conn_tick(&e.c, 510), WS_CONN_TICK_CLOSED);
        assert_false(ws_conn_closed(&e.c));
        env_free(&e);
    }
}

static void test_sink_refusals(void **state)
{
    struct env e;
    struct vb v = {0};
    struct tr t;
    (void)state;

    /* A pong that does not fit waits; flush sends the latest one. */
    env_init(&e, WS_FRAME_SERVER, 100, 16, 64, 256);
    memset(&t, 0, sizeof(t));
    t.stage_cap = 16;
    e.sink.limit = 0;
    vb_frame(&v, WS_OP_PING, 1, "one", 3, 1);
    vb_frame(&v, WS_OP_PING, 1, "two", 3, 1);
    pump(&e.c, v.p, v.n, &t, 0, 1);
    assert_int_equal(e.sink.len, 0);
    assert_int_equal(ws_conn_flush(&e.c), -ENOBUFS);
    e.sink.limit = SIZE_MAX;
    assert_int_equal(ws_conn_flush(&e.c), 0);
    assert_int_equal(ws_conn_flush(&e.c), 0); /* nothing more */
    {
        char out[256];
        render_output(&e.sink, WS_FRAME_SERVER, out, sizeof(out));
        assert_string_equal(out, "P:two|");
    }

    /* A frame refused in the middle of a message breaks the stream. */
    uint8_t big[600] = {0};
    e.sink.limit = e.sink.len + 300;
    assert_int_equal(ws_conn_send(&e.c, WS_OP_BINARY, big, sizeof(big), 1), -ENOBUFS);
    assert_true(ws_conn_failed(&e.c));
    assert_int_equal(ws_conn_send(&e.c, WS_OP_BINARY, big, 1, 1), -EPIPE);
    assert_int_equal(ws_conn_close(&e.c, 1000, span_make(NULL, 0), 1), -EPIPE);
    env_free(&e);

    /* A refused Close is not sent (and may be retried). */
    env_init(&e, WS_FRAME_CLIENT, 100, 16, 64, 256);
    e.sink.limit = 0;
    assert_int_equal(ws_conn_close(&e.c, 1000, span_make(NULL, 0), 1), -ENOBUFS);
    assert_false(ws_conn_close_sent(&e.c));
    e.sink.limit = SIZE_MAX;
    assert_int_equal(ws_conn_close(&e.c, 1000, span_make(NULL, 0), 1), 0);
    env_free(&e);
    free(v.p);
}

static void test_keepalive_and_close(void **state)
{
    struct env e;
    struct ws_conn_event ev;
    struct vb v = {0};
    static struct frames f;
    (void)state;

    env_init(&e, WS_FRAME_CLIENT, 100, 16, 64, 256); /* ping every 1000 */
    assert_int_equal(ws_conn_deadline(&e.c), 1000);
    assert_int_equal(ws_conn_tick(&e.c, 999), WS_CONN_TICK_NONE);
    assert_int_equal(ws_conn_tick(&e.c, 1000), WS_CONN_TICK_PING);
    assert_int_equal(ws_conn_deadline(&e.c), 2000);
    assert_int_equal(ws_conn_tick(&e.c, 1500), WS_CONN_TICK_NONE);
    /* Any byte (here a pong) resets the clock. */
    vb_frame(&v, WS_OP_PONG, 1, "", 0, 0);
    assert_int_equal(ws_conn_feed(&e.c, v.p, v.n, 1800, &ev), v.n);
    assert_int_equal(ev.type, WS_CONN_EV_NONE);
    assert_int_equal(ws_conn_deadline(&e.c), 2800);
    assert_int_equal(ws_conn_tick(&e.c, 2800), WS_CONN_TICK_PING);
    assert_int_equal(ws_conn_tick(&e.c, 3799), WS_CONN_TICK_NONE);
    assert_int_equal(ws_conn_tick(&e.c, 3800), WS_CONN_TICK_DEAD);
    parse_frames(&e.sink, WS_FRAME_CLIENT, &f);
    assert_int_equal(f.n, 2);
    assert_int_equal(f.op[0], WS_OP_PING);
    assert_int_equal(f.op[1], WS_OP_PING);
    env_free(&e);

    /* The peer closes first; we answer; both Close frames exchanged. */
    env_init(&e, WS_FRAME_SERVER, 100, 16, 64, 256);
    v.n = 0;
    vb_close(&v, 1000, "ok", 1);
    assert_int_equal(ws_conn_feed(&e.c, v.p, v.n, 5, &ev), v.n);
    assert_int_equal(ev.type, WS_CONN_EV_CLOSE);
    assert_int_equal(ev.code, 1000);
    assert_true(span_eq(ev.data, SPAN_LIT("ok")));
    assert_true(ws_conn_deadline(&e.c) == UINT64_MAX); /* no keep-alive now */
    assert_int_equal(ws_conn_tick(&e.c, 100000), WS_CONN_TICK_NONE);
    /* A ping after the peer's Close is not answered (the stream is over). */
    assert_int_equal(ws_conn_feed(&e.c, v.p, v.n, 6, &ev), v.n);
    assert_int_equal(ev.type, WS_CONN_EV_NONE);
    assert_int_equal(ws_conn_close(&e.c, 1000, SPAN_LIT("ok"), 7), 0);
    assert_true(ws_conn_closed(&e.c));
    assert_true(ws_conn_deadline(&e.c) == UINT64_MAX);
    env_free(&e);

    /* We close first; the peer's answer completes it. */
    env_init(&e, WS_FRAME_SERVER, 100, 16, 64, 256);
    assert_int_equal(ws_conn_close(&e.c, 1001, span_make(NULL, 0), 5), 0);
    v.n = 0;
    vb_frame(&v, WS_OP_PING, 1, "p", 1, 1); /* not answered after our Close */
    vb_close(&v, 1001, "", 1);
    assert_int_equal(ws_conn_feed(&e.c, v.p, v.n, 6, &ev), v.n);
    assert_int_equal(ev.type, WS_CONN_EV_CLOSE);
    assert_true(ws_conn_closed(&e.c));
    parse_frames(&e.sink, WS_FRAME_SERVER, &f);
    assert_int_equal(f.n, 1);
    env_free(&e);

    /* Bad configurations. */
    struct ws_conn c;
    struct ws_conn_config cfg;
    uint8_t stage[4];
    memset(&cfg, 0, sizeof(cfg));
    cfg.role = WS_FRAME_SERVER;
    cfg.frame_max = WS_CONN_FRAME_MIN;
    cfg.stage = stage;
    cfg.stage_cap = sizeof(stage);
    cfg.sink = &sink_ops;
    assert_int_equal(ws_conn_init(&c, &cfg, 0), 0);
    cfg.frame_max = WS_CONN_FRAME_MIN - 1;
    assert_int_equal(ws_conn_init(&c, &cfg, 0), -EINVAL);
    cfg.frame_max = WS_CONN_FRAME_MIN;
    cfg.role = WS_FRAME_CLIENT;
    assert_int_equal(ws_conn_init(&c, &cfg, 0), -EINVAL); /* no rand */
    cfg.role = WS_FRAME_SERVER;
    cfg.stage_cap = 0;
    assert_int_equal(ws_conn_init(&c, &cfg, 0), -EINVAL);
    free(v.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_receive_vectors),
        cmocka_unit_test(test_chunks_and_backlog),
        cmocka_unit_test(test_send),
        cmocka_unit_test(test_sink_refusals),
        cmocka_unit_test(test_keepalive_and_close),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
