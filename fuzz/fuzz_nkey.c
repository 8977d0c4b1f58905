/*
 * fuzz/fuzz_nkey.c — proto/nkey decoders on arbitrary text.
 *
 * The input is tried as a seed and as a public key. Invariants: decoding
 * is canonical (anything accepted re-encodes to exactly the input), the
 * public key derived from a seed decodes back to the same role and key,
 * signatures made with a decoded seed verify, and a failed decode leaves
 * the key struct wiped.
 */
#include <assert.h>
#include <sodium.h>
#include <stdint.h>
#include <string.h>

#include "proto/nkey.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int all_zero(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= b[i];
    return acc == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    struct nkey k;
    enum nkey_type type;
    uint8_t pk[NKEY_RAW_PUBLIC_LEN], sig[NKEY_RAW_SIG_LEN];
    char out[NKEY_SEED_LEN + 1], pub[NKEY_PUBLIC_LEN + 1];
    int rc;

    rc = nkey_from_seed(&k, text, size);
    assert(nkey_strerror(rc) != NULL);
    if (rc == 0) {
        assert(size == NKEY_SEED_LEN);
        nkey_seed(&k, out);
        assert(memcmp(out, data, size) == 0);
        nkey_public(&k, pub);
        assert(pub[0] == nkey_type_letter(k.type) && text[1] == pub[0]);
        assert(nkey_public_decode(pub, NKEY_PUBLIC_LEN, &type, pk) == 0);
        assert(type == k.type && memcmp(pk, k.pk, sizeof(pk)) == 0);
        nkey_sign(&k, data, size, sig);
        assert(crypto_sign_verify_detached(sig, data, size, pk) == 0);
        nkey_wipe(&k);
    } else {
        assert(all_zero(&k, sizeof(k)));
    }

    if (nkey_public_decode(text, size, &type, pk) == 0) {
        assert(size == NKEY_PUBLIC_LEN);
        memset(&k, 0, sizeof(k));
        k.type = type;
        memcpy(k.pk, pk, sizeof(pk));
        nkey_public(&k, pub);
        assert(memcmp(pub, data, size) == 0);
    }
    return 0;
}
