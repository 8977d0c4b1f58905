/*
 * tests/test_tls_pem.c — the PEM/DER loaders: every encoding openssl
 * produces, bundles with noise, every truncation point, bad input of each
 * kind with its error code and message, key/certificate pairing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "proto/tls.h"
#include "proto/tls_pem.h"
#include "tests/support/testcerts.h"

struct fixture {
    struct testcerts tc;
    char path[TESTCERTS_PATH_MAX]; /* scratch file in tc.dir */
};

struct blob {
    uint8_t *p;
    size_t n;
};

static struct blob slurp(const char *path)
{
    struct blob b = {0};
    FILE *f = fopen(path, "rb");
    long size;

    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    size = ftell(f);
    assert_true(size >= 0);
    rewind(f);
    b.p = malloc((size_t)size + 1);
    assert_non_null(b.p);
    b.n = fread(b.p, 1, (size_t)size, f);
    assert_int_equal(b.n, (size_t)size);
    fclose(f);
    return b;
}

static struct blob cat(struct blob a, const char *mid, struct blob b)
{
    struct blob r;
    size_t m = strlen(mid);

    r.n = a.n + m + b.n;
    r.p = malloc(r.n + 1);
    assert_non_null(r.p);
    if (a.n > 0)
        memcpy(r.p, a.p, a.n);
    memcpy(r.p + a.n, mid, m);
    if (b.n > 0)
        memcpy(r.p + a.n + m, b.p, b.n);
    return r;
}

static struct blob text(const char *s)
{
    struct blob b = {(uint8_t *)strdup(s), strlen(s)};

    assert_non_null(b.p);
    return b;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    if (testcerts_create(&f->tc) != 0) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/scratch.pem", f->tc.dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    testcerts_destroy(&f->tc);
    free(f);
    return 0;
}

/* ------------------------------------------------------------- anchors */

static void test_anchors_pem_and_der(void **state)
{
    struct fixture *f = *state;
    struct tls_pem_anchors a, b;
    char err[256];

    assert_int_equal(tls_pem_anchors_load(&a, f->tc.ca, err, sizeof(err)), 0);
    assert_int_equal(a.n, 1);
    assert_int_equal(a.unsupported, 0);
    assert_int_equal(a.ta[0].flags, BR_X509_TA_CA);
    assert_int_equal(a.ta[0].pkey.key_type, BR_KEYTYPE_EC);
    assert_int_equal(a.ta[0].pkey.key.ec.curve, BR_EC_secp256r1);
    assert_int_equal(a.ta[0].pkey.key.ec.qlen, 65);
    assert_true(a.ta[0].dn.len > 10);

    assert_int_equal(tls_pem_anchors_load(&b, f->tc.ca_der, err, sizeof(err)), 0);
    assert_int_equal(b.n, 1);
    assert_int_equal(b.ta[0].dn.len, a.ta[0].dn.len);
    assert_memory_equal(b.ta[0].dn.data, a.ta[0].dn.data, a.ta[0].dn.len);
    assert_memory_equal(b.ta[0].pkey.key.ec.q, a.ta[0].pkey.key.ec.q, 65);
    tls_pem_anchors_free(&a);
    tls_pem_anchors_free(&b);
    tls_pem_anchors_free(&a); /* second free of an emptied set: no-op */
    tls_pem_anchors_free(NULL);
}

/* Noise between objects, CRLF, keys mixed in, a leaf, no final newline. */
static void test_anchors_bundle(void **state)
{
    struct fixture *f = *state;
    struct blob ca = slurp(f->tc.ca), other = slurp(f->tc.other_ca), key = slurp(f->tc.server_key),
                leaf = slurp(f->tc.server_rsa), ed = slurp(f->tc.ed25519_ca);
    struct blob crlf = {malloc(other.n * 2), 0}, b1, b2, b3, b4;
    struct tls_pem_anchors a;
    char err[256];

    assert_non_null(crlf.p);
    for (size_t i = 0; i < other.n; i++) {
        if (other.p[i] == '\n')
            crlf.p[crlf.n++] = '\r';
        crlf.p[crlf.n++] = other.p[i];
    }
    b1 = cat(ca, "# comment between objects\nsubject=whatever\n", crlf);
    b2 = cat(b1, "", key);
    b3 = cat(b2, "\n\n", leaf);
    b4 = cat(b3, "", ed);
    /* drop the final newline */
    assert_int_equal(b4.p[b4.n - 1], '\n');
    b4.n--;
    assert_int_equal(tls_pem_anchors_parse(&a, b4.p, b4.n, err, sizeof(err)), 0);
    assert_int_equal(a.n, 3);
    assert_int_equal(a.unsupported, 1); /* the Ed25519 root */
    assert_int_equal(a.ta[0].flags, BR_X509_TA_CA);
    assert_int_equal(a.ta[1].flags, BR_X509_TA_CA);
    assert_int_equal(a.ta[2].flags, 0); /* leaf: direct trust only */
    assert_int_equal(a.ta[2].pkey.key_type, BR_KEYTYPE_RSA);
    assert_int_equal(a.ta[2].pkey.key.rsa.nlen, 256);
    tls_pem_anchors_free(&a);

    /* only unusable roots: a clear error */
    assert_int_equal(tls_pem_anchors_parse(&a, ed.p, ed.n, err, sizeof(err)), TLS_PEM_E_NO_CERT);
    assert_non_null(strstr(err, "unsupported"));
    assert_null(a.ta);
    /* only a key: says what it skipped */
    assert_int_equal(tls_pem_anchors_parse(&a, key.p, key.n, err, sizeof(err)), TLS_PEM_E_NO_CERT);
    assert_non_null(strstr(err, "no certificate in file"));
    assert_non_null(strstr(err, "PRIVATE KEY"));

    free(ca.p), free(other.p), free(key.p), free(leaf.p), free(ed.p), free(crlf.p);
    free(b1.p), free(b2.p), free(b3.p), free(b4.p);
}

/* The Debian bundle, when the ca-certificates package is installed. */
static void test_anchors_system_bundle(void **state)
{
    static const char bundle[] = "/etc/ssl/certs/ca-certificates.crt";
    struct tls_pem_anchors a;
    char err[256];

    (void)state;
    if (access(bundle, R_OK) != 0) {
        print_message("skip: %s not present (package ca-certificates)\n", bundle);
        skip();
    }
    assert_int_equal(tls_pem_anchors_load(&a, bundle, err, sizeof(err)), 0);
    assert_true(a.n > 50);
    tls_pem_anchors_free(&a);
}

/* --------------------------------------------------------------- chain */

static void test_chain(void **state)
{
    struct fixture *f = *state;
    struct tls_pem_chain c;
    struct tls_pem_key k;
    char err[256];

    assert_int_equal(tls_pem_chain_load(&c, f->tc.server_chain, err, sizeof(err)), 0);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.key_type, BR_KEYTYPE_EC);
    assert_int_equal(c.issuer_key_type, BR_KEYTYPE_EC);
    assert_int_equal(tls_pem_key_load(&k, f->tc.server_chain_key, err, sizeof(err)), 0);
    /* the first certificate is the leaf: its key pairs with the leaf key */
    assert_int_equal(tls_pem_check_pair(&c, &k, err, sizeof(err)), 0);
    tls_pem_key_wipe(&k);
    tls_pem_chain_free(&c);
    tls_pem_chain_free(&c);
    tls_pem_chain_free(NULL);

    assert_int_equal(tls_pem_chain_load(&c, f->tc.server_rsa, err, sizeof(err)), 0);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.key_type, BR_KEYTYPE_RSA);
    assert_int_equal(c.issuer_key_type, BR_KEYTYPE_EC); /* signed by the EC CA */
    tls_pem_chain_free(&c);

    assert_int_equal(tls_pem_chain_load(&c, f->tc.ca_der, err, sizeof(err)), 0);
    assert_int_equal(c.n, 1);
    tls_pem_chain_free(&c);
}

static void test_chain_too_long(void **state)
{
    struct fixture *f = *state;
    struct blob one = slurp(f->tc.server), all = {NULL, 0};
    struct tls_pem_chain c;
    char err[256];

    for (unsigned i = 0; i <= TLS_PEM_MAX_CHAIN; i++) {
        struct blob next = cat(all, "", one);

        free(all.p);
        all = next;
        if (i + 1 == TLS_PEM_MAX_CHAIN) {
            assert_int_equal(tls_pem_chain_parse(&c, all.p, all.n, err, sizeof(err)), 0);
            assert_int_equal(c.n, TLS_PEM_MAX_CHAIN);
            tls_pem_chain_free(&c);
        }
    }
    assert_int_equal(tls_pem_chain_parse(&c, all.p, all.n, err, sizeof(err)), TLS_PEM_E_TOO_MANY);
    assert_int_equal(c.n, 0);
    assert_null(c.certs);
    free(one.p);
    free(all.p);
}

/* ----------------------------------------------------------------- keys */

static void key_loads(const char *path, int type, const struct tls_pem_chain *c)
{
    struct tls_pem_key k;
    char err[256];

    assert_int_equal(tls_pem_key_load(&k, path, err, sizeof(err)), 0);
    assert_int_equal(k.type, type);
    assert_int_equal(tls_pem_check_pair(c, &k, err, sizeof(err)), 0);
    tls_pem_key_wipe(&k);
    assert_int_equal(k.type, 0);
}

static void test_key_encodings(void **state)
{
    struct fixture *f = *state;
    struct tls_pem_chain ec, rsa;
    struct tls_pem_key a, b;
    char err[256];

    assert_int_equal(tls_pem_chain_load(&ec, f->tc.server, err, sizeof(err)), 0);
    assert_int_equal(tls_pem_chain_load(&rsa, f->tc.server_rsa, err, sizeof(err)), 0);
    key_loads(f->tc.server_key, BR_KEYTYPE_EC, &ec);      /* PKCS#8 PEM */
    key_loads(f->tc.server_key_sec1, BR_KEYTYPE_EC, &ec); /* SEC1 PEM */
    key_loads(f->tc.server_key_der, BR_KEYTYPE_EC, &ec);  /* PKCS#8 DER */
    key_loads(f->tc.server_rsa_key, BR_KEYTYPE_RSA, &rsa);
    key_loads(f->tc.server_rsa_key_pkcs1, BR_KEYTYPE_RSA, &rsa);

    /* same secret whatever the wrapping */
    assert_int_equal(tls_pem_key_load(&a, f->tc.server_key, err, sizeof(err)), 0);
    assert_int_equal(tls_pem_key_load(&b, f->tc.server_key_sec1, err, sizeof(err)), 0);
    assert_int_equal(a.u.ec.curve, BR_EC_secp256r1);
    assert_int_equal(a.u.ec.xlen, b.u.ec.xlen);
    assert_memory_equal(a.u.ec.x, b.u.ec.x, a.u.ec.xlen);
    tls_pem_key_wipe(&a);
    tls_pem_key_wipe(&b);
    tls_pem_key_wipe(NULL);

    /* a key file may carry certificates and EC PARAMETERS around the key */
    {
        struct blob cert = slurp(f->tc.server), key = slurp(f->tc.server_key_sec1);
        struct blob params = text("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n"
                                  "-----END EC PARAMETERS-----\n");
        struct blob b1 = cat(params, "", key), b2 = cat(cert, "", b1);

        assert_int_equal(tls_pem_key_parse(&a, b2.p, b2.n, err, sizeof(err)), 0);
        assert_int_equal(tls_pem_check_pair(&ec, &a, err, sizeof(err)), 0);
        tls_pem_key_wipe(&a);
        free(cert.p), free(key.p), free(params.p), free(b1.p), free(b2.p);
    }
    tls_pem_chain_free(&ec);
    tls_pem_chain_free(&rsa);
}

static void test_key_mismatch(void **state)
{
    struct fixture *f = *state;
    struct tls_pem_chain ec, rsa, empty = {0};
    struct tls_pem_key client, client_rsa, server_rsa;
    char err[256];

    assert_int_equal(tls_pem_chain_load(&ec, f->tc.server, err, sizeof(err)), 0);
    assert_int_equal(tls_pem_chain_load(&rsa, f->tc.server_rsa, err, sizeof(err)), 0);
    assert_int_equal(tls_pem_key_load(&client, f->tc.client_key, err, sizeof(err)), 0);
    assert_int_equal(tls_pem_key_load(&client_rsa, f->tc.client_rsa_key, err, sizeof(err)), 0);
    assert_int_equal(tls_pem_key_load(&server_rsa, f->tc.server_rsa_key, err, sizeof(err)), 0);

    assert_int_equal(tls_pem_check_pair(&ec, &client, err, sizeof(err)), TLS_PEM_E_KEY_MISMATCH);
    assert_non_null(strstr(err, "does not match"));
    assert_int_equal(tls_pem_check_pair(&rsa, &client_rsa, err, sizeof(err)),
                     TLS_PEM_E_KEY_MISMATCH);
    assert_int_equal(tls_pem_check_pair(&ec, &server_rsa, err, sizeof(err)),
                     TLS_PEM_E_KEY_MISMATCH);
    assert_non_null(strstr(err, "RSA"));
    assert_int_equal(tls_pem_check_pair(&empty, &client, err, sizeof(err)), -EINVAL);
    assert_int_equal(tls_pem_check_pair(&rsa, &server_rsa, NULL, 0), 0);

    tls_pem_key_wipe(&client);
    tls_pem_key_wipe(&client_rsa);
    tls_pem_key_wipe(&server_rsa);
    tls_pem_chain_free(&ec);
    tls_pem_chain_free(&rsa);
}

static void key_fails(const struct blob *b, int code, const char *needle)
{
    struct tls_pem_key k;
    char err[256] = "";

    assert_int_equal(tls_pem_key_parse(&k, b->p, b->n, err, sizeof(err)), code);
    assert_int_equal(k.type, 0);
    if (needle != NULL && strstr(err, needle) == NULL)
        fail_msg("error '%s' lacks '%s'", err, needle);
}

static void test_key_errors(void **state)
{
    struct fixture *f = *state;
    struct blob enc = slurp(f->tc.server_key_encrypted), ed = slurp(f->tc.ed25519_key),
                k1 = slurp(f->tc.secp256k1_key), cert = slurp(f->tc.server),
                a = slurp(f->tc.server_key), b = slurp(f->tc.client_rsa_key), two = cat(a, "", b);
    struct blob legacy = text("-----BEGIN RSA PRIVATE KEY-----\n"
                              "Proc-Type: 4,ENCRYPTED\n"
                              "DEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\n"
                              "AAAA\n-----END RSA PRIVATE KEY-----\n");
    struct blob junk_der = {(uint8_t *)"\x30\x03\x02\x01\x00", 5};
    struct blob junk_pem =
        text("-----BEGIN PRIVATE KEY-----\nMAMCAQA=\n-----END PRIVATE KEY-----\n");

    key_fails(&enc, TLS_PEM_E_ENCRYPTED_KEY, "encrypted");
    key_fails(&legacy, TLS_PEM_E_ENCRYPTED_KEY, "encrypted");
    key_fails(&ed, TLS_PEM_E_UNSUPPORTED_KEY, "unsupported");
    key_fails(&k1, TLS_PEM_E_UNSUPPORTED_KEY, "unsupported");
    key_fails(&cert, TLS_PEM_E_NO_KEY, "no private key");
    key_fails(&two, TLS_PEM_E_MULTIPLE_KEYS, "second private key at line");
    key_fails(&junk_der, TLS_PEM_E_BAD_KEY, "key (DER)");
    key_fails(&junk_pem, TLS_PEM_E_BAD_KEY, "key at line 1");
    free(enc.p), free(ed.p), free(k1.p), free(cert.p), free(a.p), free(b.p), free(two.p);
    free(legacy.p), free(junk_pem.p);
}

/* ----------------------------------------------------------- bad input */

static void test_pem_errors(void **state)
{
    struct tls_pem_anchors a;
    struct tls_pem_chain c;
    char err[256];
    struct blob ca = slurp(((struct fixture *)*state)->tc.ca);
    struct blob bad64, unterminated, garbage_cert, nothing = text("just some text\n");
    uint8_t *p;

    /* a character outside Base64 on line 4 */
    bad64 = cat(ca, "", (struct blob){NULL, 0});
    p = bad64.p;
    for (int line = 1; line < 4; p++)
        line += *p == '\n';
    p[5] = '!';
    assert_int_equal(tls_pem_anchors_parse(&a, bad64.p, bad64.n, err, sizeof(err)), TLS_PEM_E_PEM);
    assert_non_null(strstr(err, "PEM decode error at line 4"));

    /* END line missing */
    unterminated = cat(ca, "", (struct blob){NULL, 0});
    unterminated.n -= strlen("-----END CERTIFICATE-----\n");
    assert_int_equal(tls_pem_chain_parse(&c, unterminated.p, unterminated.n, err, sizeof(err)),
                     TLS_PEM_E_PEM);
    assert_non_null(strstr(err, "no END line"));

    /* valid PEM, not a certificate inside */
    garbage_cert = text("\n\n-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END CERTIFICATE-----\n");
    assert_int_equal(tls_pem_anchors_parse(&a, garbage_cert.p, garbage_cert.n, err, sizeof(err)),
                     TLS_PEM_E_BAD_CERT);
    assert_non_null(strstr(err, "certificate at line 3"));
    assert_int_equal(tls_pem_chain_parse(&c, garbage_cert.p, garbage_cert.n, err, sizeof(err)),
                     TLS_PEM_E_BAD_CERT);

    assert_int_equal(tls_pem_anchors_parse(&a, nothing.p, nothing.n, err, sizeof(err)),
                     TLS_PEM_E_NO_CERT);
    assert_int_equal(tls_pem_chain_parse(&c, nothing.p, 0, err, sizeof(err)), TLS_PEM_E_NO_CERT);
    assert_int_equal(tls_pem_anchors_parse(&a, nothing.p, 0, NULL, 0), TLS_PEM_E_NO_CERT);
    free(ca.p), free(bad64.p), free(unterminated.p), free(garbage_cert.p), free(nothing.p);
}

/* Every prefix of each file: a result or an error, never more. */
static void test_truncated_everywhere(void **state)
{
    struct fixture *f = *state;
    const char *files[] = {f->tc.server_chain, f->tc.ca_der, f->tc.server_key,
                           f->tc.server_rsa_key_pkcs1, f->tc.server_key_der};

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        struct blob b = slurp(files[i]);

        for (size_t cut = 0; cut <= b.n; cut++) {
            /* a private copy of exactly cut bytes: ASan catches any over-read */
            uint8_t *p = malloc(cut ? cut : 1);
            struct tls_pem_anchors a;
            struct tls_pem_chain c;
            struct tls_pem_key k;
            int ra, rc, rk;

            assert_non_null(p);
            memcpy(p, b.p, cut);
            ra = tls_pem_anchors_parse(&a, p, cut, NULL, 0);
            rc = tls_pem_chain_parse(&c, p, cut, NULL, 0);
            rk = tls_pem_key_parse(&k, p, cut, NULL, 0);
            assert_true(ra <= 0 && rc <= 0 && rk <= 0);
            if (cut == b.n)
                assert_true(i < 2 ? ra == 0 && rc == 0 : rk == 0);
            if (cut < b.n / 2)
                assert_true(ra < 0 && rc < 0 && rk < 0);
            assert_int_equal(ra == 0, a.n > 0);
            assert_int_equal(rk == 0, k.type != 0);
            tls_pem_anchors_free(&a);
            tls_pem_chain_free(&c);
            tls_pem_key_wipe(&k);
            free(p);
        }
        free(b.p);
    }
}

static void test_file_errors(void **state)
{
    struct fixture *f = *state;
    struct tls_pem_anchors a;
    struct tls_pem_chain c;
    struct tls_pem_key k;
    char err[512], missing[TESTCERTS_PATH_MAX + 16];
    uint8_t *big;
    int fd;

    snprintf(missing, sizeof(missing), "%s/missing.pem", f->tc.dir);
    assert_int_equal(tls_pem_anchors_load(&a, missing, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, missing));
    assert_int_equal(tls_pem_key_load(&k, missing, err, sizeof(err)), -ENOENT);
    assert_int_equal(tls_pem_chain_load(&c, f->tc.dir, err, sizeof(err)), TLS_PEM_E_NOT_FILE);
    assert_non_null(strstr(err, "not a regular file"));

    /* one byte over the cap, refused before reading */
    fd = open(f->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)TLS_PEM_MAX_FILE + 1), 0);
    close(fd);
    assert_int_equal(tls_pem_anchors_load(&a, f->path, err, sizeof(err)), TLS_PEM_E_TOO_LARGE);
    assert_non_null(strstr(err, "larger than"));
    big = calloc(1, TLS_PEM_MAX_FILE + 1);
    assert_non_null(big);
    assert_int_equal(tls_pem_key_parse(&k, big, TLS_PEM_MAX_FILE + 1, NULL, 0),
                     TLS_PEM_E_TOO_LARGE);
    assert_int_equal(tls_pem_chain_parse(&c, big, TLS_PEM_MAX_FILE + 1, NULL, 0),
                     TLS_PEM_E_TOO_LARGE);
    free(big);
    unlink(f->path);

    /* the path prefixes every error coming from a file */
    fd = open(f->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "hello\n", 6), 6);
    close(fd);
    assert_int_equal(tls_pem_chain_load(&c, f->path, err, sizeof(err)), TLS_PEM_E_NO_CERT);
    assert_true(strncmp(err, f->path, strlen(f->path)) == 0);
    unlink(f->path);
}

static void test_strerror(void **state)
{
    static const int codes[] = {TLS_PEM_E_TOO_LARGE,     TLS_PEM_E_PEM,
                                TLS_PEM_E_NO_CERT,       TLS_PEM_E_BAD_CERT,
                                TLS_PEM_E_TOO_MANY,      TLS_PEM_E_NO_KEY,
                                TLS_PEM_E_BAD_KEY,       TLS_PEM_E_UNSUPPORTED_KEY,
                                TLS_PEM_E_ENCRYPTED_KEY, TLS_PEM_E_MULTIPLE_KEYS,
                                TLS_PEM_E_KEY_MISMATCH,  TLS_PEM_E_NOT_FILE};

    (void)state;
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        assert_string_not_equal(tls_pem_strerror(codes[i]), "unknown error");
    assert_string_equal(tls_pem_strerror(TLS_PEM_E_NO_CERT), "no certificate in file");
    assert_string_equal(tls_pem_strerror(-ENOENT), strerror(ENOENT));
    assert_string_equal(tls_pem_strerror(-99999), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_anchors_pem_and_der),
        cmocka_unit_test(test_anchors_bundle),
        cmocka_unit_test(test_anchors_system_bundle),
        cmocka_unit_test(test_chain),
        cmocka_unit_test(test_chain_too_long),
        cmocka_unit_test(test_key_encodings),
        cmocka_unit_test(test_key_mismatch),
        cmocka_unit_test(test_key_errors),
        cmocka_unit_test(test_pem_errors),
        cmocka_unit_test(test_truncated_everywhere),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_strerror),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
