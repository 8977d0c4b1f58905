/*
 * fuzz/fuzz_nats_hdr.c — proto/nats_hdr: parse a header block; when it is
 * valid, rebuild it with the builder and parse the result again: status,
 * description and every entry (order, key case, value) must be equal.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/nats_hdr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t out[NATS_HDR_MAX];
    struct nats_hdr h, h2;
    struct nats_hdr_iter it, it2;
    struct nats_hdr_builder b;
    struct span k, v, k2, v2, block;

    /* Exact-size copy: any read past the block faults under ASan. */
    uint8_t *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    if (nats_hdr_parse(&h, span_make(copy, size)) != 0) {
        free(copy);
        return 0;
    }
    nats_hdr_build_init(&b, out, sizeof(out), h.status, h.desc);
    nats_hdr_iter_init(&it, &h);
    size_t count = 0;
    while (nats_hdr_next(&it, &k, &v)) {
        for (size_t i = 0; i < k.n; i++)
            if (k.p[i] <= ' ' || k.p[i] == ':')
                abort();
        nats_hdr_build_add(&b, k, v);
        count++;
    }
    if (count != h.count)
        abort();
    /* The rebuilt block is never larger than the original, so it fits. */
    if (nats_hdr_build_finish(&b, &block) != 0 || nats_hdr_parse(&h2, block) != 0)
        abort();
    if (h2.status != h.status || !span_eq(h2.desc, h.desc) || h2.count != h.count)
        abort();
    nats_hdr_iter_init(&it, &h);
    nats_hdr_iter_init(&it2, &h2);
    while (nats_hdr_next(&it, &k, &v)) {
        if (!nats_hdr_next(&it2, &k2, &v2) || !span_eq(k, k2) || !span_eq(v, v2))
            abort();
    }
    free(copy);
    return 0;
}
