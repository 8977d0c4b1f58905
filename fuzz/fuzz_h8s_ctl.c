/*
 * fuzz/fuzz_h8s_ctl.c — proto/h8s_ctl: flow-control headers (X-H8s-Seq,
 * X-H8s-Credit, X-H8s-Control, ...) from any peer, and the sequenced
 * receiver fed by them.
 *
 * Input: records of [len:1][data-len:1][block:len]. Each block is parsed
 * (every span must lie inside it and is read); data messages go to a
 * receiver with an initial credit from the first byte, and credit is
 * granted as if the consumer took everything. Invariants: accepted bytes
 * never exceed the credit granted or the declared length; once failed the
 * receiver stays failed; every builder's output parses back to the same
 * values.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/h8s_ctl.h"

static volatile uint64_t sum;

static void touch(struct span s, const uint8_t *p, size_t n)
{
    if (s.n && (s.p < p || s.p + s.n > p + n))
        abort();
    for (size_t i = 0; i < s.n; i++)
        sum += s.p[i];
}

static void roundtrip(const struct h8s_ctl *c)
{
    uint8_t buf[H8S_CTL_HDR_MAX];
    struct span out;
    struct h8s_ctl back;
    if (c->has & H8S_CTL_HAS_AGENT) {
        if (h8s_ctl_build_ready(buf, sizeof(buf), c->agent_subject, c->credit, &out) != 0 ||
            h8s_ctl_parse(&back, out) != 0 || back.kind != H8S_CTL_READY ||
            back.credit != c->credit || !span_eq(back.agent_subject, c->agent_subject))
            abort();
    }
    if (c->has & H8S_CTL_HAS_REASON) {
        if (h8s_ctl_build_abort(buf, sizeof(buf), c->reason, &out) != 0 ||
            h8s_ctl_parse(&back, out) != 0 || back.kind != H8S_CTL_ABORT ||
            !span_eq(back.reason, c->reason))
            abort();
    }
    if (h8s_ctl_build_seq(buf, sizeof(buf), c->seq, &out) != 0 || h8s_ctl_parse(&back, out) != 0 ||
        back.seq != c->seq || back.kind != H8S_CTL_DATA)
        abort();
    if (h8s_ctl_build_credit(buf, sizeof(buf), c->credit, &out) != 0 ||
        h8s_ctl_parse(&back, out) != 0 || back.credit != c->credit || back.kind != H8S_CTL_CREDIT)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    struct h8s_ctl_rx rx;
    uint64_t window = (uint64_t)data[0] * 16 + 1;
    uint64_t declared = (data[1] & 1) ? UINT64_MAX : (uint64_t)data[1] * 8;
    int failed = 0;
    h8s_ctl_rx_init(&rx, window, declared);
    size_t off = 2;
    while (off + 2 <= size) {
        size_t len = data[off], dlen = data[off + 1];
        off += 2;
        if (len > size - off)
            len = size - off;
        /* A private copy of exactly len bytes: over-reads hit the redzone. */
        uint8_t *blk = malloc(len ? len : 1);
        memcpy(blk, data + off, len);
        off += len;
        struct h8s_ctl c;
        int rc = h8s_ctl_parse(&c, span_make(blk, len));
        if (rc == 0) {
            touch(c.agent_subject, blk, len);
            touch(c.reason, blk, len);
            if ((c.has & H8S_CTL_HAS_AGENT) && !h8s_ctl_subject_ok(c.agent_subject))
                abort();
            roundtrip(&c);
            if (c.kind == H8S_CTL_DATA) {
                int r = h8s_ctl_rx_msg(&rx, &c, dlen);
                if (failed && r != rx.err)
                    abort();
                if (r < 0)
                    failed = 1;
                if (rx.received > rx.granted || (declared != UINT64_MAX && rx.received > declared))
                    abort();
                uint64_t credit;
                if (h8s_ctl_rx_grant(&rx, rx.received, window, &credit) &&
                    (credit != rx.received + window || failed))
                    abort();
            }
        } else if (rc != H8S_CTL_E_FORMAT) {
            abort();
        }
        free(blk);
    }
    return 0;
}
