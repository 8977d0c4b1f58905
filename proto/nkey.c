/* see nkey.h */
#include "proto/nkey.h"

#include <sodium.h>
#include <string.h>

_Static_assert(NKEY_RAW_SEED_LEN == crypto_sign_SEEDBYTES, "seed size");
_Static_assert(NKEY_RAW_PUBLIC_LEN == crypto_sign_PUBLICKEYBYTES, "public key size");
_Static_assert(NKEY_RAW_SECRET_LEN == crypto_sign_SECRETKEYBYTES, "secret key size");
_Static_assert(NKEY_RAW_SIG_LEN == crypto_sign_BYTES, "signature size");
_Static_assert(NKEY_SIG_B64_LEN + 1 ==
                   sodium_base64_ENCODED_LEN(NKEY_RAW_SIG_LEN,
                                             sodium_base64_VARIANT_URLSAFE_NO_PADDING),
               "signature text size");

/* Raw layouts: prefix byte(s), key, CRC-16 little-endian. */
#define NKEY_SEED_PREFIX 0x90 /* 18 << 3: base32 'S' */
#define RAW_PUBLIC_LEN (1 + NKEY_RAW_PUBLIC_LEN + 2)
#define RAW_SEED_LEN (2 + NKEY_RAW_SEED_LEN + 2)

_Static_assert(NKEY_BASE32_LEN(RAW_PUBLIC_LEN) == NKEY_PUBLIC_LEN, "public text size");
_Static_assert(NKEY_BASE32_LEN(RAW_SEED_LEN) == NKEY_SEED_LEN, "seed text size");

static const char b32_alphabet[32] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/* CRC-16/XMODEM: polynomial 0x1021, initial value 0, no reflection. */
static uint16_t crc16(const uint8_t *p, size_t n)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint16_t)(p[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

static int known_type(unsigned t)
{
    return t == NKEY_TYPE_ACCOUNT || t == NKEY_TYPE_OPERATOR || t == NKEY_TYPE_USER;
}

/*
 * Value of one base32 character, or -1. Seeds are secret, so this avoids
 * branches and table lookups indexed by the character: the time taken does
 * not depend on which character it is.
 */
static int b32_value(uint8_t ch)
{
    int c = ch;
    int upper = ((('A' - 1) - c) & (c - ('Z' + 1))) >> 8; /* -1 if A..Z */
    int digit = ((('2' - 1) - c) & (c - ('7' + 1))) >> 8; /* -1 if 2..7 */
    int v = (upper & (c - 'A')) | (digit & (c - '2' + 26));
    int ok = upper | digit;
    return (v & ok) | ~ok;
}

/*
 * Decodes exactly n = NKEY_BASE32_LEN(outlen) characters into outlen bytes.
 * Rejects (after looking at every character) anything outside the
 * alphabet and non-zero leftover bits, so every accepted text is the one
 * canonical encoding of its bytes.
 */
static int b32_decode(const char *s, size_t n, uint8_t *out, size_t outlen)
{
    uint32_t acc = 0;
    unsigned bits = 0;
    int bad = 0;
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        int v = b32_value((uint8_t)s[i]);
        bad |= v >> 8; /* -1 for an invalid character, else 0 */
        acc = (acc << 5) | ((uint32_t)v & 31);
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            if (o < outlen)
                out[o++] = (uint8_t)(acc >> bits);
        }
    }
    /* Leftover bits must be zero padding. */
    bad |= -(int)((acc & ((1u << bits) - 1)) != 0);
    if (bad < 0 || o != outlen)
        return NKEY_ERR_BASE32;
    return 0;
}

size_t nkey_base32_encode(const uint8_t *in, size_t n, char *out)
{
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            out[o++] = b32_alphabet[(acc >> bits) & 31];
        }
    }
    if (bits > 0)
        out[o++] = b32_alphabet[(acc << (5 - bits)) & 31];
    out[o] = '\0';
    return o;
}

static void put_crc(uint8_t *raw, size_t body)
{
    uint16_t crc = crc16(raw, body);
    raw[body] = (uint8_t)(crc & 0xff);
    raw[body + 1] = (uint8_t)(crc >> 8);
}

static int check_crc(const uint8_t *raw, size_t body)
{
    uint16_t want = (uint16_t)(raw[body] | (raw[body + 1] << 8));
    return crc16(raw, body) == want ? 0 : NKEY_ERR_CRC;
}

int nkey_from_seed(struct nkey *k, const char *seed, size_t len)
{
    uint8_t raw[RAW_SEED_LEN];
    unsigned type;
    int rc;

    nkey_wipe(k);
    if (len != NKEY_SEED_LEN)
        return NKEY_ERR_LENGTH;
    if ((rc = b32_decode(seed, len, raw, sizeof(raw))) != 0)
        goto done;
    if ((rc = check_crc(raw, RAW_SEED_LEN - 2)) != 0)
        goto done;
    /*
     * The role byte is split across the two prefix bytes; the low three
     * bits of the second byte are always zero in a canonical seed.
     */
    type = ((unsigned)(raw[0] & 0x07) << 5) | ((unsigned)raw[1] >> 3);
    if ((raw[0] & 0xf8) != NKEY_SEED_PREFIX || (raw[1] & 0x07) != 0 || !known_type(type)) {
        rc = NKEY_ERR_PREFIX;
        goto done;
    }
    if (sodium_init() < 0 || crypto_sign_seed_keypair(k->pk, k->sk, raw + 2) != 0) {
        rc = NKEY_ERR_CRYPTO;
        goto done;
    }
    k->type = (enum nkey_type)type;
    rc = 0;
done:
    sodium_memzero(raw, sizeof(raw));
    if (rc != 0)
        nkey_wipe(k);
    return rc;
}

int nkey_generate(struct nkey *k, enum nkey_type type)
{
    nkey_wipe(k);
    if (!known_type(type))
        return NKEY_ERR_TYPE;
    if (sodium_init() < 0 || crypto_sign_keypair(k->pk, k->sk) != 0) {
        nkey_wipe(k);
        return NKEY_ERR_CRYPTO;
    }
    k->type = type;
    return 0;
}

void nkey_wipe(struct nkey *k)
{
    sodium_memzero(k, sizeof(*k));
}

void nkey_public(const struct nkey *k, char out[NKEY_PUBLIC_LEN + 1])
{
    uint8_t raw[RAW_PUBLIC_LEN];

    raw[0] = (uint8_t)k->type;
    memcpy(raw + 1, k->pk, NKEY_RAW_PUBLIC_LEN);
    put_crc(raw, RAW_PUBLIC_LEN - 2);
    nkey_base32_encode(raw, sizeof(raw), out);
}

void nkey_seed(const struct nkey *k, char out[NKEY_SEED_LEN + 1])
{
    uint8_t raw[RAW_SEED_LEN];

    raw[0] = (uint8_t)(NKEY_SEED_PREFIX | ((unsigned)k->type >> 5));
    raw[1] = (uint8_t)(((unsigned)k->type & 31) << 3);
    /* libsodium's secret key begins with the 32-byte seed. */
    memcpy(raw + 2, k->sk, NKEY_RAW_SEED_LEN);
    put_crc(raw, RAW_SEED_LEN - 2);
    nkey_base32_encode(raw, sizeof(raw), out);
    sodium_memzero(raw, sizeof(raw));
}

void nkey_sign(const struct nkey *k, const uint8_t *msg, size_t len, uint8_t sig[NKEY_RAW_SIG_LEN])
{
    crypto_sign_detached(sig, NULL, msg, len, k->sk);
}

void nkey_sign_b64(const struct nkey *k, const uint8_t *msg, size_t len,
                   char out[NKEY_SIG_B64_LEN + 1])
{
    uint8_t sig[NKEY_RAW_SIG_LEN];

    nkey_sign(k, msg, len, sig);
    sodium_bin2base64(out, NKEY_SIG_B64_LEN + 1, sig, sizeof(sig),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

int nkey_public_decode(const char *s, size_t len, enum nkey_type *type,
                       uint8_t pk[NKEY_RAW_PUBLIC_LEN])
{
    uint8_t raw[RAW_PUBLIC_LEN];
    int rc;

    if (len != NKEY_PUBLIC_LEN)
        return NKEY_ERR_LENGTH;
    if ((rc = b32_decode(s, len, raw, sizeof(raw))) != 0)
        return rc;
    if ((rc = check_crc(raw, RAW_PUBLIC_LEN - 2)) != 0)
        return rc;
    if (!known_type(raw[0]))
        return NKEY_ERR_PREFIX;
    *type = (enum nkey_type)raw[0];
    memcpy(pk, raw + 1, NKEY_RAW_PUBLIC_LEN);
    return 0;
}

char nkey_type_letter(enum nkey_type type)
{
    switch (type) {
    case NKEY_TYPE_ACCOUNT:
        return 'A';
    case NKEY_TYPE_OPERATOR:
        return 'O';
    case NKEY_TYPE_USER:
        return 'U';
    }
    return '?';
}

const char *nkey_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case NKEY_ERR_LENGTH:
        return "nkey: wrong length";
    case NKEY_ERR_BASE32:
        return "nkey: invalid base32 text";
    case NKEY_ERR_CRC:
        return "nkey: checksum mismatch";
    case NKEY_ERR_PREFIX:
        return "nkey: unknown or unexpected key prefix";
    case NKEY_ERR_TYPE:
        return "nkey: key role not accepted here";
    case NKEY_ERR_CRYPTO:
        return "nkey: libsodium failure";
    }
    return "nkey: unknown error";
}
