/*
 * proto/nkey.h — NATS NKEYs: Ed25519 keys in their text encodings.
 *
 * An NKEY is an Ed25519 key written as base32 (RFC 4648 alphabet, upper
 * case, no padding) of prefix bytes, the raw key, and a CRC-16/XMODEM of
 * everything before it stored little-endian:
 *
 *   public key  "U…" / "A…" / "O…"   [type][32-byte key][crc16]   56 chars
 *   seed        "SU…"/ "SA…" / "SO…" [0x90|type>>5][(type&31)<<3]
 *                                    [32-byte Ed25519 seed][crc16] 58 chars
 *
 * The seed is the secret: the Ed25519 keypair is derived from it. NATS
 * servers authenticate a client by sending a nonce in INFO; the client
 * signs the nonce bytes with its key and sends the signature, base64url
 * without padding, as the CONNECT "sig" field.
 *
 * Memory: struct nkey is caller-owned and holds secret material; call
 * nkey_wipe() when done (every function that fails also leaves it wiped).
 * Nothing here allocates. Key derivation, signing and randomness come from
 * libsodium; functions that need it call sodium_init() themselves (it is
 * idempotent and thread-safe).
 *
 * Errors: functions return 0 or one of the negative NKEY_ERR_* codes;
 * nkey_strerror() names them. No error message ever includes key text.
 */
#ifndef H8S_PROTO_NKEY_H
#define H8S_PROTO_NKEY_H

#include <stddef.h>
#include <stdint.h>

/* Encoded lengths, in characters, excluding the terminating NUL. */
#define NKEY_SEED_LEN 58
#define NKEY_PUBLIC_LEN 56
/* base64url (no padding) of a 64-byte Ed25519 signature. */
#define NKEY_SIG_B64_LEN 86

/* Raw sizes, in bytes. */
#define NKEY_RAW_SEED_LEN 32
#define NKEY_RAW_PUBLIC_LEN 32
#define NKEY_RAW_SECRET_LEN 64 /* libsodium's secret key: seed || public */
#define NKEY_RAW_SIG_LEN 64

/* Characters of unpadded base32 for n bytes (n well below SIZE_MAX / 8). */
#define NKEY_BASE32_LEN(n) (((n)*8 + 4) / 5)

/*
 * Key roles this module handles, valued as their prefix byte (the top five
 * bits select the base32 letter the encoded key starts with).
 */
enum nkey_type {
    NKEY_TYPE_ACCOUNT = 0 << 3,   /* 'A' */
    NKEY_TYPE_OPERATOR = 14 << 3, /* 'O' */
    NKEY_TYPE_USER = 20 << 3,     /* 'U' */
};

enum {
    NKEY_ERR_LENGTH = -1101, /* encoded key has the wrong length */
    NKEY_ERR_BASE32 = -1102, /* character outside the base32 alphabet, or
                                non-zero trailing bits */
    NKEY_ERR_CRC = -1103,    /* checksum mismatch */
    NKEY_ERR_PREFIX = -1104, /* not a seed / public key, or unknown role */
    NKEY_ERR_TYPE = -1105,   /* role not accepted by the caller */
    NKEY_ERR_CRYPTO = -1106, /* libsodium failed to initialise or derive */
};

struct nkey {
    enum nkey_type type;
    uint8_t pk[NKEY_RAW_PUBLIC_LEN];
    uint8_t sk[NKEY_RAW_SECRET_LEN]; /* secret: wipe with nkey_wipe() */
};

/*
 * Decodes an encoded seed (len bytes at seed, not NUL-terminated; exactly
 * NKEY_SEED_LEN) and derives its keypair into *k. The decoding is strict:
 * upper-case alphabet only, trailing bits zero, seed prefix byte present,
 * a known role, matching CRC. The input is not modified; the caller owns
 * and wipes it. Intermediate secrets are wiped before returning.
 * Returns 0, or NKEY_ERR_LENGTH / _BASE32 / _CRC / _PREFIX / _CRYPTO with
 * *k wiped.
 */
int nkey_from_seed(struct nkey *k, const char *seed, size_t len);

/*
 * Generates a fresh keypair of the given role from libsodium's CSPRNG
 * (tests, fixtures). Returns 0, NKEY_ERR_TYPE for an unknown role, or
 * NKEY_ERR_CRYPTO with *k wiped.
 */
int nkey_generate(struct nkey *k, enum nkey_type type);

/* Zeroes *k (secret included) in a way the compiler cannot elide. */
void nkey_wipe(struct nkey *k);

/*
 * Writes the encoded public key ("U…", "A…", "O…") of k into out,
 * NUL-terminated (NKEY_PUBLIC_LEN + 1 bytes).
 */
void nkey_public(const struct nkey *k, char out[NKEY_PUBLIC_LEN + 1]);

/*
 * Writes the encoded seed of k into out, NUL-terminated (NKEY_SEED_LEN + 1
 * bytes). The result is secret: the caller wipes it (sodium_memzero) and
 * never logs it.
 */
void nkey_seed(const struct nkey *k, char out[NKEY_SEED_LEN + 1]);

/*
 * Signs len bytes at msg with k (Ed25519, detached) into sig.
 */
void nkey_sign(const struct nkey *k, const uint8_t *msg, size_t len, uint8_t sig[NKEY_RAW_SIG_LEN]);

/*
 * Signs len bytes at msg with k and writes the signature as base64url
 * without padding, NUL-terminated (NKEY_SIG_B64_LEN + 1 bytes): the value
 * of the CONNECT "sig" field when msg is the INFO nonce.
 */
void nkey_sign_b64(const struct nkey *k, const uint8_t *msg, size_t len,
                   char out[NKEY_SIG_B64_LEN + 1]);

/*
 * Decodes an encoded public key (len bytes at s; exactly NKEY_PUBLIC_LEN)
 * with the same strictness as nkey_from_seed. On success stores the role
 * in *type and the raw Ed25519 public key in pk, and returns 0; otherwise
 * returns NKEY_ERR_LENGTH / _BASE32 / _CRC / _PREFIX and leaves the
 * outputs unspecified.
 */
int nkey_public_decode(const char *s, size_t len, enum nkey_type *type,
                       uint8_t pk[NKEY_RAW_PUBLIC_LEN]);

/*
 * Encodes n bytes as unpadded RFC 4648 base32 into out, which must hold
 * NKEY_BASE32_LEN(n) + 1 bytes; NUL-terminates and returns the length.
 * Final partial groups are zero-filled on the right, as base32 specifies.
 */
size_t nkey_base32_encode(const uint8_t *in, size_t n, char *out);

/* Returns the first letter of keys of this role ('U', 'A', 'O'), or '?'. */
char nkey_type_letter(enum nkey_type type);

/* Returns a static, human-readable description of an NKEY_ERR_* code. */
const char *nkey_strerror(int err);

#endif
