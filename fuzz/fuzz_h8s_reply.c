/*
 * fuzz/fuzz_h8s_reply.c — proto/h8s_reply: random message sequences on one
 * exchange's reply subject.
 *
 * Input: one byte of set-up (HEAD, window), then records. Each record
 * either carries raw header bytes and data from the input, or picks a
 * template (a response head, a numbered chunk with the right or a wrong
 * sequence number, a control message) so deep states are reached quickly.
 * Invariants: no internal or hop-by-hop header is ever forwarded; body
 * bytes handed out lie in the message and fit the room; in a stream they
 * add up to what the machine says it accepted; events come in a legal
 * order; a wrong sequence number never yields data or an end; once failed
 * it stays failed with the same error; credit only grows.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/h8s_reply.h"

struct in {
    const uint8_t *p;
    size_t n;
};

static unsigned byte(struct in *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

static struct span take(struct in *in, size_t max)
{
    size_t k = byte(in) % (max + 1);
    if (k > in->n)
        k = in->n;
    struct span s = span_make(in->p, k);
    in->p += k;
    in->n -= k;
    return s;
}

static void touch(struct span s, uint64_t *sum)
{
    for (size_t i = 0; i < s.n; i++)
        *sum += s.p[i];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct in in = {data, size};
    unsigned setup = byte(&in);
    uint64_t window = (setup & 0x0e) ? (uint64_t)1 << (setup & 0x0e) : 0;
    struct h8s_reply r;
    h8s_reply_init(&r, window, (setup & 1) ? H8S_REPLY_HEAD : 0);

    int started = 0, ended = 0, err = 0, no_body = 0;
    uint64_t streamed = 0, sum = 0, last_credit = 0, seq = 1;
    char hbuf[512], dbuf[64];
    while (in.n) {
        unsigned sel = byte(&in);
        uint64_t room = (sel & 0x80) ? UINT64_MAX : byte(&in) * 16u;
        struct span hdr, payload;
        int bad_seq = 0, named_x_a = 0; /* the template's Connection names X-A */
        switch (sel & 7) {
        case 0: /* raw bytes */
        case 1:
            hdr = take(&in, 255);
            payload = take(&in, 255);
            break;
        case 2: { /* a response head */
            unsigned v = byte(&in);
            int n = snprintf(hbuf, sizeof(hbuf),
                             "NATS/1.0\r\nStatus-Code: %u\r\n%s%sSet-Cookie: a\r\n"
                             "X-H8s-Seq: 9\r\nConnection: X-A\r\nX-A: 1\r\n\r\n",
                             v & 1 ? 200 + v : 204 + (v & 0x7f),
                             v & 2 ? "Content-Length: 3\r\n" : "",
                             v & 4 ? "X-H8s-Agent-Subject: _INBOX.h8s.a.b\r\n" : "");
            hdr = span_make(hbuf, (size_t)n);
            payload = take(&in, 8);
            named_x_a = 1;
            break;
        }
        case 3: /* a numbered chunk, mostly with the right number */
        case 4: {
            unsigned v = byte(&in);
            uint64_t s = seq + ((v & 3) == 3 ? (v >> 2) % 3 + 1 : 0);
            bad_seq = s != seq;
            int n = snprintf(hbuf, sizeof(hbuf), "NATS/1.0\r\nX-H8s-Seq: %llu\r\n\r\n",
                             (unsigned long long)s);
            hdr = span_make(hbuf, (size_t)n);
            payload = take(&in, 63);
            break;
        }
        case 5: { /* control */
            unsigned v = byte(&in);
            static const char *const kind[] = {"ready", "credit", "abort", "other"};
            int n = snprintf(hbuf, sizeof(hbuf),
                             "NATS/1.0\r\nX-H8s-Control: %s\r\nX-H8s-Credit: %u\r\n"
                             "X-H8s-Agent-Subject: _INBOX.h8s.x.y\r\n\r\n",
                             kind[v & 3], v * 1000);
            hdr = span_make(hbuf, (size_t)n);
            payload = span_make(dbuf, 0);
            break;
        }
        case 6: /* no headers */
            hdr = span_make(hbuf, 0);
            payload = take(&in, 63);
            break;
        default: { /* flow control from the caller's side */
            uint64_t c;
            if (h8s_reply_credit(&r, byte(&in) * 8u, &c)) {
                if (c <= last_credit || err || !started || ended)
                    abort();
                last_credit = c;
            }
            continue;
        }
        }
        int was_streaming = h8s_reply_streaming(&r);
        struct h8s_reply_event ev;
        int rc = h8s_reply_feed(&r, hdr, payload, room, &ev);
        if (err) {
            if (rc != err)
                abort();
            continue;
        }
        if (rc < 0) {
            err = rc;
            if (h8s_reply_done(&r) || h8s_reply_streaming(&r))
                abort();
            continue;
        }
        /* Spans lie inside what was fed. */
        if (ev.body.n && (ev.body.p < payload.p || ev.body.p + ev.body.n > payload.p + payload.n))
            abort();
        if (ev.body.n > room)
            abort();
        touch(ev.body, &sum);
        if (ended && rc != H8S_REPLY_EV_NONE && rc != H8S_REPLY_EV_READY &&
            rc != H8S_REPLY_EV_CREDIT)
            abort();
        switch (rc) {
        case H8S_REPLY_EV_RESPONSE:
        case H8S_REPLY_EV_STREAM_START: {
            if (started)
                abort();
            started = 1;
            if (ev.status < 200 || ev.status > 999)
                abort();
            if ((ev.flags & H8S_REPLY_F_NO_BODY) && ev.body.n)
                abort();
            struct h8s_reply_fwd f;
            struct span k, v;
            h8s_reply_fwd_init(&f, &ev.hdr);
            while (h8s_reply_fwd_next(&f, &k, &v)) {
                if (h8s_reply_internal(k) || (named_x_a && k.n == 3 && memcmp(k.p, "X-A", 3) == 0))
                    abort();
                touch(k, &sum);
                touch(v, &sum);
            }
            if (rc == H8S_REPLY_EV_RESPONSE) {
                ended = 1;
            } else {
                no_body = (ev.flags & H8S_REPLY_F_NO_BODY) != 0;
                streamed = ev.body.n;
                seq = 1;
            }
            break;
        }
        case H8S_REPLY_EV_STREAM_DATA:
        case H8S_REPLY_EV_STREAM_END:
            if (!was_streaming || bad_seq)
                abort();
            seq++;
            streamed += ev.body.n;
            if (rc == H8S_REPLY_EV_STREAM_END) {
                ended = 1;
                if (payload.n)
                    abort();
            }
            if (!no_body && streamed != h8s_reply_delivered(&r))
                abort();
            break;
        case H8S_REPLY_EV_NO_RESPONDERS:
            if (started)
                abort();
            started = ended = 1;
            break;
        default:
            break;
        }
        if (h8s_reply_done(&r) != ended)
            abort();
    }
    return sum == 0x7fffffffffffffffull; /* keeps the touches */
}
