/*
 * tests/support/testcerts.h — throwaway TLS material for tests.
 *
 * testcerts_create() runs the openssl CLI (no shell) in a fresh temporary
 * directory and fills in the paths below; testcerts_destroy() deletes it.
 * Every openssl run is bounded (killed after TESTCERTS_CMD_TIMEOUT_MS).
 * Names and structure are fixed; keys are fresh each run.
 *
 * Every server certificate carries SANs DNS:localhost, IP:127.0.0.1 and
 * IP:::1, CN=localhost, EKU serverAuth+clientAuth. Client certificates
 * carry CN=h8s-test-client and EKU clientAuth. All are signed with
 * SHA-256; validity is about ten years from now unless stated.
 */
#ifndef H8S_TESTS_SUPPORT_TESTCERTS_H
#define H8S_TESTS_SUPPORT_TESTCERTS_H

#define TESTCERTS_PATH_MAX 512
#define TESTCERTS_CMD_TIMEOUT_MS 60000

struct testcerts {
    char dir[TESTCERTS_PATH_MAX];

    /* The test CA: EC P-256, self-signed, CA:TRUE. */
    char ca[TESTCERTS_PATH_MAX], ca_key[TESTCERTS_PATH_MAX];
    /* Server, EC P-256, signed by ca. Key in PKCS#8 PEM. */
    char server[TESTCERTS_PATH_MAX], server_key[TESTCERTS_PATH_MAX];
    /* Server, RSA-2048, signed by ca. Key in PKCS#8 PEM. */
    char server_rsa[TESTCERTS_PATH_MAX], server_rsa_key[TESTCERTS_PATH_MAX];
    /* Server signed by an intermediate CA (itself signed by ca): the file
     * holds the leaf then the intermediate, as a server presents them. */
    char server_chain[TESTCERTS_PATH_MAX], server_chain_key[TESTCERTS_PATH_MAX];
    char intermediate[TESTCERTS_PATH_MAX]; /* that intermediate CA alone */
    /* mTLS client certificates signed by ca: EC P-256 and RSA-2048. */
    char client[TESTCERTS_PATH_MAX], client_key[TESTCERTS_PATH_MAX];
    char client_rsa[TESTCERTS_PATH_MAX], client_rsa_key[TESTCERTS_PATH_MAX];
    /* A second, unrelated CA and a leaf it signed (server SANs, usable as
     * server or client certificate): "not trusted" cases. */
    char other_ca[TESTCERTS_PATH_MAX];
    char other_leaf[TESTCERTS_PATH_MAX], other_leaf_key[TESTCERTS_PATH_MAX];
    /* Server certificate signed by ca, valid 2020-01-01 to 2021-01-01. */
    char expired[TESTCERTS_PATH_MAX], expired_key[TESTCERTS_PATH_MAX];

    /* The same material in other encodings, for loader tests. */
    char ca_der[TESTCERTS_PATH_MAX];               /* ca, DER */
    char server_key_sec1[TESTCERTS_PATH_MAX];      /* server_key as "EC PRIVATE KEY" */
    char server_key_der[TESTCERTS_PATH_MAX];       /* server_key, PKCS#8 DER */
    char server_rsa_key_pkcs1[TESTCERTS_PATH_MAX]; /* "RSA PRIVATE KEY" */
    char server_key_encrypted[TESTCERTS_PATH_MAX]; /* "ENCRYPTED PRIVATE KEY" */
    char ed25519_key[TESTCERTS_PATH_MAX];          /* unsupported key type */
    char ed25519_ca[TESTCERTS_PATH_MAX];           /* self-signed CA with that key */
    char secp256k1_key[TESTCERTS_PATH_MAX];        /* unsupported EC curve */
};

/*
 * Creates the directory (under $TMPDIR, else /tmp) and every file above.
 * Returns 0, or -1 after printing to stderr which step failed and the
 * tail of openssl's output (nothing is left behind then).
 */
int testcerts_create(struct testcerts *tc);

/* Deletes every file and the directory. Safe on a zeroed struct. */
void testcerts_destroy(struct testcerts *tc);

#endif
