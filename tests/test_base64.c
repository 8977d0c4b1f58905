/*
 * tests/test_base64.c — strict base64, both alphabets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/base64.h"

struct vector {
    const char *raw;
    const char *std;
    const char *url;
};

/* RFC 4648 §10 test vectors, plus their unpadded URL forms. */
static const struct vector rfc_vectors[] = {
    {"", "", ""},
    {"f", "Zg==", "Zg"},
    {"fo", "Zm8=", "Zm8"},
    {"foo", "Zm9v", "Zm9v"},
    {"foob", "Zm9vYg==", "Zm9vYg"},
    {"fooba", "Zm9vYmE=", "Zm9vYmE"},
    {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
};

static int decode_str(enum base64_variant v, const char *s, uint8_t *out, size_t cap, size_t *len)
{
    return base64_decode(v, out, cap, (const uint8_t *)s, strlen(s), len);
}

static void test_rfc_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rfc_vectors) / sizeof(rfc_vectors[0]); i++) {
        const struct vector *t = &rfc_vectors[i];
        size_t rn = strlen(t->raw), len = 99;
        char enc[16];
        uint8_t dec[16];

        assert_int_equal(
            base64_encode(BASE64_STD, enc, sizeof(enc), (const uint8_t *)t->raw, rn, &len), 0);
        assert_int_equal(len, strlen(t->std));
        assert_memory_equal(enc, t->std, len);
        assert_int_equal(base64_encoded_len(BASE64_STD, rn), len);
        assert_int_equal(BASE64_STD_ENCODED_LEN(rn), len);

        assert_int_equal(
            base64_encode(BASE64_URL, enc, sizeof(enc), (const uint8_t *)t->raw, rn, &len), 0);
        assert_int_equal(len, strlen(t->url));
        assert_memory_equal(enc, t->url, len);
        assert_int_equal(base64_encoded_len(BASE64_URL, rn), len);
        assert_int_equal(BASE64_URL_ENCODED_LEN(rn), len);

        assert_int_equal(decode_str(BASE64_STD, t->std, dec, sizeof(dec), &len), 0);
        assert_int_equal(len, rn);
        assert_memory_equal(dec, t->raw, rn);
        assert_true(len <= BASE64_DECODED_MAX(strlen(t->std)));
        assert_int_equal(decode_str(BASE64_URL, t->url, dec, sizeof(dec), &len), 0);
        assert_int_equal(len, rn);
        assert_memory_equal(dec, t->raw, rn);
        assert_true(len <= BASE64_DECODED_MAX(strlen(t->url)));
    }
}

static void test_alphabets(void **state)
{
    /* 0xFB 0xFF 0xBF encodes to the two alphabet-specific characters. */
    static const uint8_t raw[] = {0xFB, 0xFF, 0xBF, 0xFB, 0xEF};
    char enc[16];
    uint8_t dec[8];
    size_t len;

    (void)state;
    assert_int_equal(base64_encode(BASE64_STD, enc, sizeof(enc), raw, sizeof(raw), &len), 0);
    assert_int_equal(len, 8);
    assert_memory_equal(enc, "+/+/++8=", 8);
    assert_int_equal(base64_encode(BASE64_URL, enc, sizeof(enc), raw, sizeof(raw), &len), 0);
    assert_int_equal(len, 7);
    assert_memory_equal(enc, "-_-_--8", 7);

    assert_int_equal(decode_str(BASE64_STD, "+/+/++8=", dec, sizeof(dec), &len), 0);
    assert_memory_equal(dec, raw, sizeof(raw));
    assert_int_equal(decode_str(BASE64_URL, "-_-_--8", dec, sizeof(dec), &len), 0);
    assert_memory_equal(dec, raw, sizeof(raw));
    /* Each variant refuses the other's characters. */
    assert_int_equal(decode_str(BASE64_STD, "-_-_--8=", dec, sizeof(dec), &len),
                     BASE64_ERR_INVALID);
    assert_int_equal(decode_str(BASE64_URL, "+/+/++8", dec, sizeof(dec), &len), BASE64_ERR_INVALID);
}

static void test_strict_rejections(void **state)
{
    static const char *const bad_std[] = {
        "Z",     "Zg",      "Zg=",      "Zm9", /* length not a multiple of 4 */
        "Zg=a",  "Z===",    "====",     "=Zg=",   "Zm=v",     "Zg==Zg==", /* misplaced padding */
        "Zh==",  "Zm9=",    "Zm8/Zh==",                                   /* non-zero unused bits */
        "Zm9v ", " Zm9v",   "Zm 9v",    "Zm9v\n", "Zm9v\r\n",             /* whitespace */
        "Zm9*",  "Zm9\x80", "Zm9.",                                       /* outside the alphabet */
    };
    static const char *const bad_url[] = {
        "Z",     "Zm9vY",           /* impossible lengths (4k + 1) */
        "Zg==",  "Zm8=",  "Zg=",    /* padding */
        "Zh",    "Zm9",   "Zm8_Zh", /* non-zero unused bits */
        "Zm9v ", "Zm+v",  "Zm/v",
    };
    uint8_t dec[16];
    size_t len;

    (void)state;
    for (size_t i = 0; i < sizeof(bad_std) / sizeof(bad_std[0]); i++)
        assert_int_equal(decode_str(BASE64_STD, bad_std[i], dec, sizeof(dec), &len),
                         BASE64_ERR_INVALID);
    {
        /* An embedded NUL is just another character outside the alphabet. */
        static const uint8_t with_nul[] = {'Z', 'm', '9', 0};
        assert_int_equal(base64_decode(BASE64_STD, dec, sizeof(dec), with_nul, 4, &len),
                         BASE64_ERR_INVALID);
    }
    for (size_t i = 0; i < sizeof(bad_url) / sizeof(bad_url[0]); i++)
        assert_int_equal(decode_str(BASE64_URL, bad_url[i], dec, sizeof(dec), &len),
                         BASE64_ERR_INVALID);
}

static void test_space(void **state)
{
    char enc[8];
    uint8_t dec[8];
    size_t len;

    (void)state;
    /* "foob" needs 8 characters padded, 6 unpadded. */
    assert_int_equal(base64_encode(BASE64_STD, enc, 7, (const uint8_t *)"foob", 4, &len),
                     BASE64_ERR_SPACE);
    assert_int_equal(base64_encode(BASE64_STD, enc, 8, (const uint8_t *)"foob", 4, &len), 0);
    assert_int_equal(base64_encode(BASE64_URL, enc, 5, (const uint8_t *)"foob", 4, &len),
                     BASE64_ERR_SPACE);
    assert_int_equal(base64_encode(BASE64_URL, enc, 6, (const uint8_t *)"foob", 4, &len), 0);
    /* Decoding reports invalid input before lack of space. */
    assert_int_equal(decode_str(BASE64_STD, "Zm9vYg==", dec, 3, &len), BASE64_ERR_SPACE);
    assert_int_equal(decode_str(BASE64_STD, "Zm9vYg==", dec, 4, &len), 0);
    assert_int_equal(len, 4);
    assert_int_equal(decode_str(BASE64_STD, "Zm9vYh==", dec, 3, &len), BASE64_ERR_INVALID);
    assert_int_equal(decode_str(BASE64_URL, "Zm9vYg", dec, 3, &len), BASE64_ERR_SPACE);
    assert_int_equal(decode_str(BASE64_URL, "Zm9vYg", dec, 0, &len), BASE64_ERR_SPACE);
    /* Sizes that do not fit in a size_t are refused, not wrapped. */
    assert_int_equal(base64_encoded_len(BASE64_STD, SIZE_MAX), 0);
    assert_int_equal(base64_encoded_len(BASE64_URL, SIZE_MAX - 1), 0);
    assert_int_equal(base64_encoded_len(BASE64_STD, 0), 0);
}

/* Random round trips: encode then decode, and the decode of every
 * one-character change of a valid encoding either fails or re-encodes to
 * exactly that string (canonical form). */
static void test_round_trip(void **state)
{
    uint8_t raw[64], dec[64];
    char enc[96];
    size_t len, dlen;
    unsigned seed = 12345;

    (void)state;
    for (int iter = 0; iter < 2000; iter++) {
        size_t n = (size_t)(iter % 64);
        enum base64_variant v = (iter & 1) ? BASE64_URL : BASE64_STD;

        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            raw[i] = (uint8_t)(seed >> 16);
        }
        assert_int_equal(base64_encode(v, enc, sizeof(enc), raw, n, &len), 0);
        assert_int_equal(base64_decode(v, dec, sizeof(dec), (const uint8_t *)enc, len, &dlen), 0);
        assert_int_equal(dlen, n);
        assert_memory_equal(dec, raw, n);

        for (size_t pos = 0; pos < len; pos++) {
            char saved = enc[pos];
            seed = seed * 1103515245u + 12345u;
            enc[pos] = (char)(seed >> 16);
            if (base64_decode(v, dec, sizeof(dec), (const uint8_t *)enc, len, &dlen) == 0) {
                char again[96];
                size_t alen;
                assert_int_equal(base64_encode(v, again, sizeof(again), dec, dlen, &alen), 0);
                assert_int_equal(alen, len);
                assert_memory_equal(again, enc, len);
            }
            enc[pos] = saved;
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc_vectors),       cmocka_unit_test(test_alphabets),
        cmocka_unit_test(test_strict_rejections), cmocka_unit_test(test_space),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
