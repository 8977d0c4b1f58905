/*
 * proto/base64.c — see base64.h.
 */
#include "proto/base64.h"

#include <stdint.h>

static const char base64_std_alphabet[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char base64_url_alphabet[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Branches instead of a 256-entry table: the inputs are short (handshake
 * keys, tokens) and the two alphabets differ in two characters only. */
static int base64_value(enum base64_variant v, uint8_t c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (v == BASE64_URL ? '-' : '+'))
        return 62;
    if (c == (v == BASE64_URL ? '_' : '/'))
        return 63;
    return -1;
}

size_t base64_encoded_len(enum base64_variant v, size_t n)
{
    size_t groups = n / 3, rem = n % 3;

    if (groups > (SIZE_MAX - 4) / 4)
        return 0;
    if (rem == 0)
        return groups * 4;
    return groups * 4 + (v == BASE64_URL ? rem + 1 : 4);
}

int base64_encode(enum base64_variant v, char *out, size_t cap, const uint8_t *in, size_t n,
                  size_t *outlen)
{
    const char *alpha = v == BASE64_URL ? base64_url_alphabet : base64_std_alphabet;
    size_t need = base64_encoded_len(v, n);
    size_t i = 0, o = 0;

    if ((need == 0 && n != 0) || need > cap)
        return BASE64_ERR_SPACE;
    for (; n - i >= 3; i += 3) {
        uint32_t w = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = alpha[w >> 18];
        out[o++] = alpha[(w >> 12) & 63];
        out[o++] = alpha[(w >> 6) & 63];
        out[o++] = alpha[w & 63];
    }
    if (n - i == 1) {
        out[o++] = alpha[in[i] >> 2];
        out[o++] = alpha[(in[i] & 3) << 4];
        if (v == BASE64_STD) {
            out[o++] = '=';
            out[o++] = '=';
        }
    } else if (n - i == 2) {
        out[o++] = alpha[in[i] >> 2];
        out[o++] = alpha[(in[i] & 3) << 4 | in[i + 1] >> 4];
        out[o++] = alpha[(in[i + 1] & 15) << 2];
        if (v == BASE64_STD)
            out[o++] = '=';
    }
    *outlen = o;
    return 0;
}

/*
 * Validates and, when out is not NULL, decodes. quads full groups of four
 * characters are followed by tail (0, 2 or 3) characters that carry 1 or 2
 * bytes and whose unused low bits must be zero (canonical form).
 */
static int base64_run(enum base64_variant v, uint8_t *out, const uint8_t *in, size_t quads,
                      size_t tail)
{
    size_t o = 0;

    for (size_t q = 0; q < quads; q++, in += 4) {
        int a = base64_value(v, in[0]), b = base64_value(v, in[1]);
        int c = base64_value(v, in[2]), d = base64_value(v, in[3]);
        if ((a | b | c | d) < 0)
            return BASE64_ERR_INVALID;
        if (out) {
            out[o++] = (uint8_t)(a << 2 | b >> 4);
            out[o++] = (uint8_t)((b & 15) << 4 | c >> 2);
            out[o++] = (uint8_t)((c & 3) << 6 | d);
        }
    }
    if (tail == 2) {
        int a = base64_value(v, in[0]), b = base64_value(v, in[1]);
        if ((a | b) < 0 || (b & 15) != 0)
            return BASE64_ERR_INVALID;
        if (out)
            out[o] = (uint8_t)(a << 2 | b >> 4);
    } else if (tail == 3) {
        int a = base64_value(v, in[0]), b = base64_value(v, in[1]);
        int c = base64_value(v, in[2]);
        if ((a | b | c) < 0 || (c & 3) != 0)
            return BASE64_ERR_INVALID;
        if (out) {
            out[o++] = (uint8_t)(a << 2 | b >> 4);
            out[o] = (uint8_t)((b & 15) << 4 | c >> 2);
        }
    }
    return 0;
}

int base64_decode(enum base64_variant v, uint8_t *out, size_t cap, const uint8_t *in, size_t n,
                  size_t *outlen)
{
    size_t quads = n / 4, tail = n % 4, len;
    int r;

    if (v == BASE64_STD) {
        if (tail != 0)
            return BASE64_ERR_INVALID;
        /* Padding turns the last quad into a 2- or 3-character tail. */
        if (n >= 4 && in[n - 1] == '=') {
            quads--;
            tail = in[n - 2] == '=' ? 2 : 3;
        }
    } else if (tail == 1) {
        return BASE64_ERR_INVALID;
    }
    len = quads * 3 + (tail ? tail - 1 : 0);
    r = base64_run(v, len <= cap ? out : NULL, in, quads, tail);
    if (r < 0)
        return r;
    if (len > cap)
        return BASE64_ERR_SPACE;
    *outlen = len;
    return 0;
}
