/*
 * fuzz/fuzz_tls_san.c — the streaming iPAddress SAN walker
 * (proto/tls_san.c) on arbitrary DER.
 *
 * Input: byte 0 picks the address length (IPv4 or IPv6) and a split
 * seed; the next 4 or 16 bytes are the address; the rest is the
 * certificate. Invariants: the verdict is one of the three results and
 * is the same whether the certificate is fed whole, byte by byte, or in
 * pseudo-random pieces.
 */
#include <stdint.h>
#include <stdlib.h>

#include "proto/tls_san.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run(const uint8_t *addr, size_t alen, const uint8_t *der, size_t n, int mode,
               uint32_t seed)
{
    struct tls_san s;
    size_t off = 0;

    tls_san_init(&s, addr, alen, (uint32_t)n);
    while (off < n) {
        size_t k = n - off; /* mode 0: whole */

        if (mode == 1) {
            k = 1;
        } else if (mode == 2) {
            seed = seed * 1103515245u + 12345u;
            k = 1 + (seed >> 8) % 61;
        }

        if (k > n - off)
            k = n - off;
        tls_san_feed(&s, der + off, k);
        off += k;
    }
    return tls_san_result(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t alen;
    int whole;

    if (size < 1)
        return 0;
    alen = (data[0] & 1) ? 16 : 4;
    if (size < 1 + alen)
        return 0;
    whole = run(data + 1, alen, data + 1 + alen, size - 1 - alen, 0, 0);
    if (whole != TLS_SAN_MATCH && whole != TLS_SAN_NO_MATCH && whole != TLS_SAN_ERROR)
        abort();
    if (run(data + 1, alen, data + 1 + alen, size - 1 - alen, 1, 0) != whole ||
        run(data + 1, alen, data + 1 + alen, size - 1 - alen, 2, data[0]) != whole)
        abort();
    return 0;
}
