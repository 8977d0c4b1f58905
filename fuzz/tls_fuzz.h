/*
 * fuzz/tls_fuzz.h — shared by fuzz_tls_server.c and fuzz_tls_client.c.
 *
 * THROWAWAY TEST KEY: the EC P-256 key and self-signed certificate below
 * were generated for these harnesses only. They protect nothing, are
 * public in this repository, and must never be used outside fuzzing.
 */
#ifndef H8S_FUZZ_TLS_FUZZ_H
#define H8S_FUZZ_TLS_FUZZ_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/tls.h"

static const char tls_fuzz_key_pem[] =
    "-----BEGIN EC PRIVATE KEY-----\n"
    "MHcCAQEEIHVjwTNaHxEAwQQ61lje8yIVrJPXz9rxaQZgsJLc9PNBoAoGCCqGSM49\n"
    "AwEHoUQDQgAElnLIR5pFXarPQxB8IcgEfH/NL3JxUlwdepQDH+piPZkeYcAZLloO\n"
    "eur0v28nDnIfbRW4M6VBUELK6AsE1BBEMg==\n"
    "-----END EC PRIVATE KEY-----\n";

static const char tls_fuzz_cert_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBljCCATugAwIBAgIUQ2wn61//bNtvdsYIWl39arQRYZcwCgYIKoZIzj0EAwIw\n"
    "FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyNjIwMDgxNloYDzIxMjYxMTAy\n"
    "MjAwODE2WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO\n"
    "PQMBBwNCAASWcshHmkVdqs9DEHwhyAR8f80vcnFSXB16lAMf6mI9mR5hwBkuWg56\n"
    "6vS/bycOch9tFbgzpUFQQsroCwTUEEQyo2kwZzAdBgNVHQ4EFgQUZdUJKJ+VMcMk\n"
    "U5M0lpS5P7Fm2nwwHwYDVR0jBBgwFoAUZdUJKJ+VMcMkU5M0lpS5P7Fm2nwwDwYD\n"
    "VR0TAQH/BAUwAwEB/zAUBgNVHREEDTALgglsb2NhbGhvc3QwCgYIKoZIzj0EAwID\n"
    "SQAwRgIhAIW9jrqr2gyg6FaiXHYm6E3Yw/3mYgpw0bqT3ede6AjJAiEA4IdJMjO+\n"
    "scoPJMlX+qwfoK4HDq17hv1VNFccdMj6KmY=\n"
    "-----END CERTIFICATE-----\n";

struct tls_fuzz_material {
    struct tls_pem_anchors anchors; /* the certificate, as its own CA */
    struct tls_pem_chain chain;
    struct tls_pem_key key;
};

/* Loads the material once per process (libFuzzer runs many inputs). */
static struct tls_fuzz_material *tls_fuzz_material(void)
{
    static struct tls_fuzz_material m;
    static int loaded;

    if (!loaded) {
        if (tls_pem_anchors_parse(&m.anchors, (const uint8_t *)tls_fuzz_cert_pem,
                                  sizeof(tls_fuzz_cert_pem) - 1, NULL, 0) != 0 ||
            tls_pem_chain_parse(&m.chain, (const uint8_t *)tls_fuzz_cert_pem,
                                sizeof(tls_fuzz_cert_pem) - 1, NULL, 0) != 0 ||
            tls_pem_key_parse(&m.key, (const uint8_t *)tls_fuzz_key_pem,
                              sizeof(tls_fuzz_key_pem) - 1, NULL, 0) != 0)
            abort();
        loaded = 1;
    }
    return &m;
}

static volatile uint8_t tls_fuzz_sink;

/* Takes every plaintext and ciphertext byte out of c, reading each. */
static void tls_fuzz_drain(struct tls_conn *c)
{
    struct span s;

    while (tls_conn_read(c, &s) > 0) {
        for (size_t i = 0; i < s.n; i++)
            tls_fuzz_sink ^= s.p[i];
        tls_conn_read_ack(c, s.n);
    }
    while (tls_conn_pending_out(c, &s) > 0) {
        for (size_t i = 0; i < s.n; i++)
            tls_fuzz_sink ^= s.p[i];
        tls_conn_out_ack(c, s.n);
    }
}

/*
 * Feeds data to c in pieces whose sizes come from seed, draining c
 * between pieces like an owner would. Aborts on a broken invariant:
 * consumed beyond the piece, an error that is not sticky, an unnamed
 * error, or a feed that neither progresses nor fails.
 */
static void tls_fuzz_drive(struct tls_conn *c, const uint8_t *data, size_t size, uint32_t seed)
{
    size_t off = 0;
    int rc = 0, stalls = 0;

    tls_fuzz_drain(c);
    while (off < size) {
        size_t k, used;

        seed = seed * 1103515245u + 12345u;
        k = 1 + (seed >> 8) % ((seed & 0x10000) ? 7 : 600);
        if (k > size - off)
            k = size - off;
        rc = tls_conn_feed(c, data + off, k, &used);
        if (used > k)
            abort();
        off += used;
        if (rc != 0)
            break;
        /* Taking nothing is fine once (output or plaintext must go
         * first); after a drain the engine must take more or fail. */
        stalls = used == 0 ? stalls + 1 : 0;
        if (stalls > 1)
            abort();
        tls_fuzz_drain(c);
    }
    if (rc != 0) {
        size_t used;

        if (tls_conn_error(c) != rc && rc != TLS_E_CLOSED)
            abort();
        if (tls_strerror(rc)[0] == '\0' || !tls_conn_is_closed(c))
            abort();
        if (tls_conn_feed(c, data, size, &used) != rc || used != 0)
            abort();
        tls_fuzz_drain(c);
    }
    if (tls_conn_feed_eof(c) > 0)
        abort();
}

#endif
