/*
 * fuzz/fuzz_base64.c — proto/base64.c, both variants (byte 0 picks one).
 * Strict decoding makes the encoding canonical: whatever decodes must
 * re-encode to exactly the input, and any input encodes then decodes back
 * to itself.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/base64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    enum base64_variant v;
    size_t n, dlen, elen, cap;
    uint8_t *dec;
    char *enc;
    int r;

    if (size < 1)
        return 0;
    v = data[0] & 1 ? BASE64_URL : BASE64_STD;
    data++;
    size--;
    /* Room for decoding the input and for decoding its encoding. */
    cap = size + 2;
    if (cap < BASE64_DECODED_MAX(size))
        abort();
    dec = malloc(cap + 1);
    enc = malloc(base64_encoded_len(v, size) + 1);
    if (!dec || !enc)
        abort();

    r = base64_decode(v, dec, cap, data, size, &dlen);
    if (r == 0) {
        if (dlen > cap || base64_encode(v, enc, size, dec, dlen, &elen) != 0 || elen != size ||
            memcmp(enc, data, size) != 0)
            abort();
        /* One byte less room is always too little (unless empty). */
        if (dlen && base64_decode(v, dec, dlen - 1, data, size, &n) != BASE64_ERR_SPACE)
            abort();
    } else if (r != BASE64_ERR_INVALID) {
        abort();
    }

    if (base64_encode(v, enc, base64_encoded_len(v, size), data, size, &elen) != 0 ||
        elen != base64_encoded_len(v, size))
        abort();
    if (base64_decode(v, dec, cap, (const uint8_t *)enc, elen, &dlen) != 0 || dlen != size ||
        memcmp(dec, data, size) != 0)
        abort();
    free(dec);
    free(enc);
    return 0;
}
