/*
 * proto/tls_pem.h — loading TLS key material (PEM or DER) for BearSSL.
 *
 * Three loaders, each with a file variant (*_load) and a memory variant
 * (*_parse, same rules, used by the fuzzer):
 *
 *   - trust anchors: a CA bundle (one or more certificates) becomes an
 *     array of br_x509_trust_anchor, DNs and public keys deep-copied;
 *   - a certificate chain (end-entity first, then intermediates) becomes
 *     an array of br_x509_certificate, DER bytes copied;
 *   - a private key (RSA or EC; PKCS#1 "RSA PRIVATE KEY", SEC1
 *     "EC PRIVATE KEY" or unencrypted PKCS#8 "PRIVATE KEY") is copied
 *     into a fixed buffer inside struct tls_pem_key (no allocation).
 *
 * Input is PEM (several objects, unrelated objects between them skipped)
 * or a single raw DER object. Loading happens once, at start-up or
 * reload: anchors and chains are heap-allocated then and only then, and
 * released with the matching *_free. Nothing here runs per connection.
 *
 * Errors: every function returns 0, a negative errno (file access,
 * -ENOMEM), or one of the TLS_PEM_E_* codes below. When err is not NULL,
 * a one-line human-readable explanation naming the file (for *_load), the
 * problem and where it is ("PEM decode error at line 12") is written into
 * err (errlen bytes, always NUL-terminated). On failure the output
 * structure is left empty (safe to free, nothing to free).
 */
#ifndef H8S_PROTO_TLS_PEM_H
#define H8S_PROTO_TLS_PEM_H

#include <stddef.h>
#include <stdint.h>

#include <bearssl.h>

/* Input caps: a file larger than this is refused before it is read. */
#define TLS_PEM_MAX_FILE (4u << 20) /* 4 MiB: Debian's bundle is ~220 KiB */
#define TLS_PEM_MAX_ANCHORS 4096u   /* certificates in one CA bundle */
#define TLS_PEM_MAX_CHAIN 16u       /* certificates in one chain */

/* Room for every component of the largest key BearSSL decodes (RSA-4096). */
#define TLS_PEM_KEY_BUFSIZE (3 * BR_X509_BUFSIZE_SIG)

#define TLS_PEM_E_TOO_LARGE (-2001)       /* input larger than TLS_PEM_MAX_FILE */
#define TLS_PEM_E_PEM (-2002)             /* malformed PEM (bad Base64, unterminated) */
#define TLS_PEM_E_NO_CERT (-2003)         /* no certificate in the input */
#define TLS_PEM_E_BAD_CERT (-2004)        /* a certificate failed to decode */
#define TLS_PEM_E_TOO_MANY (-2005)        /* more certificates than the cap */
#define TLS_PEM_E_NO_KEY (-2006)          /* no private key in the input */
#define TLS_PEM_E_BAD_KEY (-2007)         /* the private key failed to decode */
#define TLS_PEM_E_UNSUPPORTED_KEY (-2008) /* not RSA, or EC on an unsupported curve */
#define TLS_PEM_E_ENCRYPTED_KEY (-2009)   /* password-protected key */
#define TLS_PEM_E_MULTIPLE_KEYS (-2010)   /* more than one private key in the input */
#define TLS_PEM_E_KEY_MISMATCH (-2011)    /* key does not belong to the certificate */
#define TLS_PEM_E_NOT_FILE (-2012)        /* path is not a regular file */

/* A set of trust anchors. Zero-initialise (or = {0}) before loading. */
struct tls_pem_anchors {
    br_x509_trust_anchor *ta; /* n entries, each owning its DN and key bytes */
    size_t n;
    size_t unsupported; /* certificates skipped: key type BearSSL lacks */
};

/* A certificate chain, end-entity first. Zero-initialise before loading. */
struct tls_pem_chain {
    br_x509_certificate *certs; /* n entries, each owning its DER bytes */
    size_t n;
    int key_type;        /* BR_KEYTYPE_RSA or BR_KEYTYPE_EC: the EE public key */
    int issuer_key_type; /* key type of the CA that signed the EE certificate */
    br_x509_pkey pkey;   /* EE public key; points into pkey_buf */
    uint8_t pkey_buf[BR_X509_BUFSIZE_KEY];
};

/*
 * A private key. The BearSSL key structure points into buf, so a
 * tls_pem_key must not be copied by value: load it where it will live.
 */
struct tls_pem_key {
    int type; /* BR_KEYTYPE_RSA or BR_KEYTYPE_EC; 0 when empty */
    union {
        br_rsa_private_key rsa;
        br_ec_private_key ec;
    } u;
    uint8_t buf[TLS_PEM_KEY_BUFSIZE];
};

/*
 * Loads every certificate of a CA bundle as a trust anchor. Certificates
 * whose Basic Constraints say CA become CA anchors (BR_X509_TA_CA); others
 * are kept as direct-trust anchors (that exact server certificate is
 * trusted). PEM objects that are not certificates are skipped, and so are
 * well-formed certificates whose key BearSSL cannot use (Ed25519, curves
 * other than P-256/384/521; counted in a->unsupported) so that a system
 * bundle growing such roots stays loadable; any other decoding failure
 * fails the load. *a is overwritten (free an earlier load first); on
 * success it owns heap memory until tls_pem_anchors_free. Returns 0,
 * -errno, TLS_PEM_E_NO_CERT (also when no certificate was usable),
 * TLS_PEM_E_BAD_CERT, TLS_PEM_E_TOO_MANY, TLS_PEM_E_PEM,
 * TLS_PEM_E_TOO_LARGE, TLS_PEM_E_NOT_FILE.
 */
int tls_pem_anchors_load(struct tls_pem_anchors *a, const char *path, char *err, size_t errlen);
int tls_pem_anchors_parse(struct tls_pem_anchors *a, const uint8_t *buf, size_t n, char *err,
                          size_t errlen);

/* Frees what a loader allocated and empties *a. NULL or empty: no-op. */
void tls_pem_anchors_free(struct tls_pem_anchors *a);

/*
 * Loads a certificate chain (end-entity first, as sent on the wire). Each
 * certificate must decode; the EE's public key, its type and its issuer's
 * key type are recorded for tls_pem_check_pair and the TLS engines. *c is
 * overwritten (free an earlier load first); on success it owns heap memory
 * until tls_pem_chain_free.
 * Returns as tls_pem_anchors_load.
 */
int tls_pem_chain_load(struct tls_pem_chain *c, const char *path, char *err, size_t errlen);
int tls_pem_chain_parse(struct tls_pem_chain *c, const uint8_t *buf, size_t n, char *err,
                        size_t errlen);

/* Frees what a loader allocated and empties *c. NULL or empty: no-op. */
void tls_pem_chain_free(struct tls_pem_chain *c);

/*
 * Loads the single private key of a file into *k (no allocation). Other
 * PEM objects (certificates, "EC PARAMETERS") are skipped. Transient
 * copies of the key made while decoding are wiped before returning.
 * Returns 0, -errno, TLS_PEM_E_NO_KEY, TLS_PEM_E_BAD_KEY,
 * TLS_PEM_E_UNSUPPORTED_KEY, TLS_PEM_E_ENCRYPTED_KEY,
 * TLS_PEM_E_MULTIPLE_KEYS, TLS_PEM_E_PEM, TLS_PEM_E_TOO_LARGE,
 * TLS_PEM_E_NOT_FILE.
 */
int tls_pem_key_load(struct tls_pem_key *k, const char *path, char *err, size_t errlen);
int tls_pem_key_parse(struct tls_pem_key *k, const uint8_t *buf, size_t n, char *err,
                      size_t errlen);

/* Overwrites the secret with zeroes and empties *k. NULL: no-op. */
void tls_pem_key_wipe(struct tls_pem_key *k);

/*
 * Checks that k is the private half of the chain's end-entity public key
 * (same type, same RSA modulus or same EC curve and point). Costs one
 * scalar multiplication for EC: call it once after loading, not per
 * connection. Returns 0 or TLS_PEM_E_KEY_MISMATCH (-EINVAL when either
 * is empty).
 */
int tls_pem_check_pair(const struct tls_pem_chain *c, const struct tls_pem_key *k, char *err,
                       size_t errlen);

/* A static English description of any code returned above (errno too). */
const char *tls_pem_strerror(int err);

#endif
