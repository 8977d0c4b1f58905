/*
 * fuzz/fuzz_tls_pem.c — the tls_pem loaders (proto/tls_pem.c) on
 * arbitrary bytes, PEM or DER, through their memory variants (the file
 * variants in proto/tls_pem_file.c read a file and call these same
 * parsers; tests/test_tls_pem.c covers their own checks).
 *
 * Invariants: a result is 0 or negative; success means a non-empty set
 * (every anchor, certificate and key byte is read so ASan sees it);
 * failure leaves the output empty; a key that loads alongside a chain
 * goes through the pairing check. Nothing leaks.
 *
 * The seeds in fuzz/corpus/tls_pem are THROWAWAY keys and certificates
 * made by tests/support/testcerts for this harness: they protect nothing.
 */
#include <stdint.h>
#include <stdlib.h>

#include "proto/tls_pem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint8_t sink;

static void touch(const void *p, size_t n)
{
    const uint8_t *b = p;

    for (size_t i = 0; i < n; i++)
        sink ^= b[i];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tls_pem_anchors a;
    struct tls_pem_chain c;
    struct tls_pem_key k;
    char err[256];
    int ra, rc, rk;

    ra = tls_pem_anchors_parse(&a, data, size, err, sizeof(err));
    rc = tls_pem_chain_parse(&c, data, size, err, sizeof(err));
    rk = tls_pem_key_parse(&k, data, size, NULL, 0);
    if (ra > 0 || rc > 0 || rk > 0 || (ra == 0) != (a.n > 0) || (rc == 0) != (c.n > 0) ||
        (rk == 0) != (k.type != 0) || (rc != 0 && c.certs != NULL) || (ra != 0 && a.ta != NULL))
        abort();
    for (size_t i = 0; i < a.n; i++) {
        const br_x509_pkey *pk = &a.ta[i].pkey;

        touch(a.ta[i].dn.data, a.ta[i].dn.len);
        if (pk->key_type == BR_KEYTYPE_RSA) {
            touch(pk->key.rsa.n, pk->key.rsa.nlen);
            touch(pk->key.rsa.e, pk->key.rsa.elen);
        } else {
            touch(pk->key.ec.q, pk->key.ec.qlen);
        }
    }
    for (size_t i = 0; i < c.n; i++)
        touch(c.certs[i].data, c.certs[i].data_len);
    if (rk == 0) {
        if (k.type == BR_KEYTYPE_EC)
            touch(k.u.ec.x, k.u.ec.xlen);
        else
            touch(k.u.rsa.p, k.u.rsa.plen);
    }
    if (rc == 0 && rk == 0 && tls_pem_check_pair(&c, &k, err, sizeof(err)) > 0)
        abort();
    touch(tls_pem_strerror(ra), 1);
    tls_pem_anchors_free(&a);
    tls_pem_chain_free(&c);
    tls_pem_key_wipe(&k);
    return 0;
}
