/*
 * tests/test_nkey.c — NKEY seed decoding, public key encoding, signatures.
 *
 * The fixed vectors below were derived independently of proto/nkey.c:
 * raw seed bytes 00 01 .. 1f, Ed25519 public key and signature computed by
 * OpenSSL, base32 by Python's base64.b32encode and the CRC by Python's
 * binascii.crc_hqx (CRC-CCITT, initial value 0 = XMODEM). test_natsd_auth
 * additionally has a real nats-server accept the user vector.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "proto/nkey.h"

static const char seed_u[] = "SUAAAAICAMCAKBQHBAEQUCYMBUHA6EARCIJRIFIWC4MBSGQ3DQOR4H776Y";
static const char pub_u[] = "UAB2CB576PHBBPQ5ODORRZ2LYCMWPZGWGCN2KDK7DXOIMZASKUY3RLKK";
static const char seed_a[] = "SAAAAAICAMCAKBQHBAEQUCYMBUHA6EARCIJRIFIWC4MBSGQ3DQOR4HYMHI";
static const char pub_a[] = "AAB2CB576PHBBPQ5ODORRZ2LYCMWPZGWGCN2KDK7DXOIMZASKUY3QPZV";
static const char seed_o[] = "SOAAAAICAMCAKBQHBAEQUCYMBUHA6EARCIJRIFIWC4MBSGQ3DQOR4H2AJA";
static const char pub_o[] = "OAB2CB576PHBBPQ5ODORRZ2LYCMWPZGWGCN2KDK7DXOIMZASKUY3QZVT";
static const uint8_t raw_pub[32] = {
    0x03, 0xa1, 0x07, 0xbf, 0xf3, 0xce, 0x10, 0xbe, 0x1d, 0x70, 0xdd, 0x18, 0xe7, 0x4b, 0xc0, 0x99,
    0x67, 0xe4, 0xd6, 0x30, 0x9b, 0xa5, 0x0d, 0x5f, 0x1d, 0xdc, 0x86, 0x64, 0x12, 0x55, 0x31, 0xb8,
};
/* Ed25519 signature of "abcdefghijk" by the seed above, base64url. */
static const char sig_msg[] = "abcdefghijk";
static const char sig_b64[] = "iJ9GOo_HWCagqunTVEpGY2PWDPOdHD6fuKWOW5vDYrxFgVw9sGfAbngFJKrI7I5cW"
                              "B5NRsvwcuQGmPN8m4EFCw";

/* Same raw seed, valid CRC, but a role or prefix this module refuses. */
static const char seed_server[] = "SNAAAAICAMCAKBQHBAEQUCYMBUHA6EARCIJRIFIWC4MBSGQ3DQOR4H2D5U";
static const char seed_curve[] = "SXAAAAICAMCAKBQHBAEQUCYMBUHA6EARCIJRIFIWC4MBSGQ3DQOR4H74KM";
static const char seed_lowbits[] = "SUAQAAICAMCAKBQHBAEQUCYMBUHA6EARCIJRIFIWC4MBSGQ3DQOR4HZDPM";
static const char seed_noprefix[] = "RUAAAAICAMCAKBQHBAEQUCYMBUHA6EARCIJRIFIWC4MBSGQ3DQOR4HZKAQ";
static const char pub_server[] = "NAAACAQDAQCQMBYIBEFAWDANBYHRAEISCMKBKFQXDAMRUGY4DUPB6CRG";
static const char pub_private[] = "PAAACAQDAQCQMBYIBEFAWDANBYHRAEISCMKBKFQXDAMRUGY4DUPB7QT2";

static const char b32_alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

static int all_zero(const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0)
            return 0;
    return 1;
}

static void check_vector(const char *seed, const char *pub, enum nkey_type type)
{
    struct nkey k;
    char out[NKEY_SEED_LEN + 1];
    char pout[NKEY_PUBLIC_LEN + 1];
    enum nkey_type t;
    uint8_t pk[32];

    assert_int_equal(strlen(seed), NKEY_SEED_LEN);
    assert_int_equal(strlen(pub), NKEY_PUBLIC_LEN);
    assert_int_equal(nkey_from_seed(&k, seed, strlen(seed)), 0);
    assert_int_equal(k.type, type);
    assert_memory_equal(k.pk, raw_pub, 32);
    nkey_public(&k, pout);
    assert_string_equal(pout, pub);
    nkey_seed(&k, out);
    assert_string_equal(out, seed);
    assert_int_equal(nkey_public_decode(pub, strlen(pub), &t, pk), 0);
    assert_int_equal(t, type);
    assert_memory_equal(pk, raw_pub, 32);
    assert_int_equal(pub[0], nkey_type_letter(type));
    assert_int_equal(seed[1], nkey_type_letter(type));
    nkey_wipe(&k);
    assert_true(all_zero(&k, sizeof(k)));
}

static void test_fixed_vectors(void **state)
{
    (void)state;
    check_vector(seed_u, pub_u, NKEY_TYPE_USER);
    check_vector(seed_a, pub_a, NKEY_TYPE_ACCOUNT);
    check_vector(seed_o, pub_o, NKEY_TYPE_OPERATOR);
}

static void test_signature_vector(void **state)
{
    struct nkey k;
    char b64[NKEY_SIG_B64_LEN + 1];
    uint8_t sig[NKEY_RAW_SIG_LEN];
    uint8_t msg[sizeof(sig_msg) - 1];
    (void)state;

    assert_int_equal(nkey_from_seed(&k, seed_u, NKEY_SEED_LEN), 0);
    nkey_sign_b64(&k, (const uint8_t *)sig_msg, strlen(sig_msg), b64);
    assert_int_equal(strlen(b64), NKEY_SIG_B64_LEN);
    assert_string_equal(b64, sig_b64);

    nkey_sign(&k, (const uint8_t *)sig_msg, strlen(sig_msg), sig);
    assert_int_equal(
        crypto_sign_verify_detached(sig, (const uint8_t *)sig_msg, strlen(sig_msg), raw_pub), 0);
    /* A different message, or a flipped signature bit, must not verify. */
    memcpy(msg, sig_msg, sizeof(msg));
    msg[0] ^= 1;
    assert_int_not_equal(crypto_sign_verify_detached(sig, msg, sizeof(msg), raw_pub), 0);
    sig[10] ^= 0x20;
    assert_int_not_equal(
        crypto_sign_verify_detached(sig, (const uint8_t *)sig_msg, strlen(sig_msg), raw_pub), 0);
    nkey_wipe(&k);
}

static void test_generate_round_trip(void **state)
{
    static const enum nkey_type types[] = {NKEY_TYPE_USER, NKEY_TYPE_ACCOUNT, NKEY_TYPE_OPERATOR};
    (void)state;

    for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
        for (int i = 0; i < 50; i++) {
            struct nkey k, k2;
            char seed[NKEY_SEED_LEN + 1], pub[NKEY_PUBLIC_LEN + 1], pub2[NKEY_PUBLIC_LEN + 1];
            char seed2[NKEY_SEED_LEN + 1];
            uint8_t pk[32], sig[64];
            enum nkey_type ty;
            char msg[32];

            assert_int_equal(nkey_generate(&k, types[t]), 0);
            nkey_seed(&k, seed);
            nkey_public(&k, pub);
            assert_int_equal(strlen(seed), NKEY_SEED_LEN);
            assert_int_equal(strlen(pub), NKEY_PUBLIC_LEN);
            assert_int_equal(seed[0], 'S');
            assert_int_equal(seed[1], nkey_type_letter(types[t]));
            assert_int_equal(pub[0], nkey_type_letter(types[t]));

            assert_int_equal(nkey_from_seed(&k2, seed, NKEY_SEED_LEN), 0);
            assert_int_equal(k2.type, types[t]);
            assert_memory_equal(k2.pk, k.pk, 32);
            assert_memory_equal(k2.sk, k.sk, 64);
            nkey_public(&k2, pub2);
            assert_string_equal(pub2, pub);
            nkey_seed(&k2, seed2);
            assert_string_equal(seed2, seed);

            assert_int_equal(nkey_public_decode(pub, NKEY_PUBLIC_LEN, &ty, pk), 0);
            assert_int_equal(ty, types[t]);
            assert_memory_equal(pk, k.pk, 32);

            snprintf(msg, sizeof(msg), "nonce-%d", i);
            nkey_sign(&k2, (const uint8_t *)msg, strlen(msg), sig);
            assert_int_equal(
                crypto_sign_verify_detached(sig, (const uint8_t *)msg, strlen(msg), pk), 0);
            sodium_memzero(seed, sizeof(seed));
            sodium_memzero(seed2, sizeof(seed2));
            nkey_wipe(&k);
            nkey_wipe(&k2);
        }
    }
}

/* Two generated keys of the same role differ (the CSPRNG is really used). */
static void test_generate_distinct(void **state)
{
    struct nkey a, b;
    (void)state;
    assert_int_equal(nkey_generate(&a, NKEY_TYPE_USER), 0);
    assert_int_equal(nkey_generate(&b, NKEY_TYPE_USER), 0);
    assert_memory_not_equal(a.pk, b.pk, 32);
    nkey_wipe(&a);
    nkey_wipe(&b);
    assert_int_equal(nkey_generate(&a, (enum nkey_type)(13 << 3)), NKEY_ERR_TYPE);
    assert_true(all_zero(&a, sizeof(a)));
}

static void expect_seed_err(const char *s, size_t n, int err)
{
    struct nkey k;
    memset(&k, 0xa5, sizeof(k));
    assert_int_equal(nkey_from_seed(&k, s, n), err);
    /* A failed decode leaves no secret behind. */
    assert_true(all_zero(&k, sizeof(k)));
}

/*
 * Every single-character substitution anywhere in a seed is rejected:
 * a base32 character covers at most 5 bits of at most two adjacent bytes,
 * a burst CRC-16 always detects, and changes in the final character's
 * padding bits are non-canonical.
 */
static void test_seed_single_char_errors(void **state)
{
    char buf[NKEY_SEED_LEN + 1];
    (void)state;

    for (size_t pos = 0; pos < NKEY_SEED_LEN; pos++) {
        for (size_t a = 0; a < 32; a++) {
            struct nkey k;
            int rc;
            memcpy(buf, seed_u, sizeof(buf));
            if (buf[pos] == b32_alpha[a])
                continue;
            buf[pos] = b32_alpha[a];
            rc = nkey_from_seed(&k, buf, NKEY_SEED_LEN);
            if (pos == NKEY_SEED_LEN - 1 && (a & 3) != 0)
                assert_int_equal(rc, NKEY_ERR_BASE32);
            else
                assert_int_equal(rc, NKEY_ERR_CRC);
        }
    }
}

static void test_seed_errors(void **state)
{
    char buf[NKEY_SEED_LEN + 2];
    static const char bad_chars[] = "abz0189=-_ \n\r\t.+/";
    (void)state;

    /* Every shorter and one longer length. */
    for (size_t n = 0; n < NKEY_SEED_LEN; n++)
        expect_seed_err(seed_u, n, NKEY_ERR_LENGTH);
    memcpy(buf, seed_u, NKEY_SEED_LEN);
    buf[NKEY_SEED_LEN] = 'A';
    expect_seed_err(buf, NKEY_SEED_LEN + 1, NKEY_ERR_LENGTH);

    /* Characters outside the upper-case RFC 4648 alphabet, at every place. */
    for (size_t pos = 0; pos < NKEY_SEED_LEN; pos++) {
        for (size_t c = 0; c < sizeof(bad_chars) - 1; c++) {
            memcpy(buf, seed_u, NKEY_SEED_LEN);
            buf[pos] = bad_chars[c];
            expect_seed_err(buf, NKEY_SEED_LEN, NKEY_ERR_BASE32);
        }
        memcpy(buf, seed_u, NKEY_SEED_LEN);
        buf[pos] = '\0';
        expect_seed_err(buf, NKEY_SEED_LEN, NKEY_ERR_BASE32);
        buf[pos] = (char)0xc3;
        expect_seed_err(buf, NKEY_SEED_LEN, NKEY_ERR_BASE32);
    }

    /* Valid CRC, refused prefix or role. */
    expect_seed_err(seed_server, NKEY_SEED_LEN, NKEY_ERR_PREFIX);
    expect_seed_err(seed_curve, NKEY_SEED_LEN, NKEY_ERR_PREFIX);
    expect_seed_err(seed_lowbits, NKEY_SEED_LEN, NKEY_ERR_PREFIX);
    expect_seed_err(seed_noprefix, NKEY_SEED_LEN, NKEY_ERR_PREFIX);

    /* A public key is not a seed. */
    expect_seed_err(pub_u, NKEY_PUBLIC_LEN, NKEY_ERR_LENGTH);
}

static void test_public_errors(void **state)
{
    char buf[NKEY_PUBLIC_LEN + 1];
    enum nkey_type t;
    uint8_t pk[32];
    (void)state;

    for (size_t n = 0; n < NKEY_PUBLIC_LEN; n++)
        assert_int_equal(nkey_public_decode(pub_u, n, &t, pk), NKEY_ERR_LENGTH);
    assert_int_equal(nkey_public_decode(seed_u, NKEY_SEED_LEN, &t, pk), NKEY_ERR_LENGTH);
    assert_int_equal(nkey_public_decode(pub_server, NKEY_PUBLIC_LEN, &t, pk), NKEY_ERR_PREFIX);
    assert_int_equal(nkey_public_decode(pub_private, NKEY_PUBLIC_LEN, &t, pk), NKEY_ERR_PREFIX);

    for (size_t pos = 0; pos < NKEY_PUBLIC_LEN; pos++) {
        for (size_t a = 0; a < 32; a++) {
            int rc;
            memcpy(buf, pub_u, sizeof(buf));
            if (buf[pos] == b32_alpha[a])
                continue;
            buf[pos] = b32_alpha[a];
            rc = nkey_public_decode(buf, NKEY_PUBLIC_LEN, &t, pk);
            /* 56 characters hold exactly 35 bytes: no padding bits. */
            assert_int_equal(rc, NKEY_ERR_CRC);
        }
        memcpy(buf, pub_u, sizeof(buf));
        buf[pos] = 'u';
        assert_int_equal(nkey_public_decode(buf, NKEY_PUBLIC_LEN, &t, pk), NKEY_ERR_BASE32);
    }
}

/* RFC 4648 section 10 test vectors, without the padding. */
static void test_base32_rfc4648(void **state)
{
    static const struct {
        const char *in, *out;
    } v[] = {
        {"", ""},
        {"f", "MY"},
        {"fo", "MZXQ"},
        {"foo", "MZXW6"},
        {"foob", "MZXW6YQ"},
        {"fooba", "MZXW6YTB"},
        {"foobar", "MZXW6YTBOI"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char out[32];
        size_t n = strlen(v[i].in);
        memset(out, 'x', sizeof(out));
        assert_int_equal(nkey_base32_encode((const uint8_t *)v[i].in, n, out), strlen(v[i].out));
        assert_int_equal(NKEY_BASE32_LEN(n), strlen(v[i].out));
        assert_string_equal(out, v[i].out);
    }
}

static void test_strerror(void **state)
{
    static const int codes[] = {NKEY_ERR_LENGTH, NKEY_ERR_BASE32, NKEY_ERR_CRC,
                                NKEY_ERR_PREFIX, NKEY_ERR_TYPE,   NKEY_ERR_CRYPTO};
    (void)state;
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        const char *s = nkey_strerror(codes[i]);
        assert_non_null(s);
        assert_non_null(strstr(s, "nkey"));
        assert_null(strstr(s, "unknown error"));
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(s, nkey_strerror(codes[j]));
    }
    assert_non_null(strstr(nkey_strerror(-1), "unknown"));
    assert_int_equal(nkey_type_letter((enum nkey_type)8), '?');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed_vectors),
        cmocka_unit_test(test_signature_vector),
        cmocka_unit_test(test_generate_round_trip),
        cmocka_unit_test(test_generate_distinct),
        cmocka_unit_test(test_seed_single_char_errors),
        cmocka_unit_test(test_seed_errors),
        cmocka_unit_test(test_public_errors),
        cmocka_unit_test(test_base32_rfc4648),
        cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
