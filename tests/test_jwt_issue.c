/*
 * tests/test_jwt_issue.c — the JWT fixtures, checked without nats-server.
 *
 * The two full-token vectors were produced independently of this code
 * (Python's json, hashlib sha512_256, base64 and base32; OpenSSL Ed25519)
 * from the raw seed 00 01 .. 1f. test_natsd_auth then shows a real
 * nats-server accepting what these helpers issue.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>
#include <sodium.h>
#include <unistd.h>

#include "proto/creds.h"
#include "proto/nkey.h"
#include "tests/support/jwt_issue.h"

#define SEED_O "SOAAAAICAMCAKBQHBAEQUCYMBUHA6EARCIJRIFIWC4MBSGQ3DQOR4H2AJA"
#define PUB_O "OAB2CB576PHBBPQ5ODORRZ2LYCMWPZGWGCN2KDK7DXOIMZASKUY3QZVT"
#define PUB_U "UAB2CB576PHBBPQ5ODORRZ2LYCMWPZGWGCN2KDK7DXOIMZASKUY3RLKK"

/* iat 1700000000, name "op <&>" (Go escapes <, & and >), operator claims. */
static const char jwt_op[] =
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ."
    "eyJqdGkiOiJFTVdZVEJDQlpLVTVCMkRSTUoyVkM1VFozUU5OSVMyVURTVU5QSVpWRTJQMjRFSTJDUVNBIiwiaWF0Ij"
    "oxNzAwMDAwMDAwLCJpc3MiOiJPQUIyQ0I1NzZQSEJCUFE1T0RPUlJaMkxZQ01XUFpHV0dDTjJLREs3RFhPSU1aQVNL"
    "VVkzUVpWVCIsIm5hbWUiOiJvcCBcdTAwM2NcdTAwMjZcdTAwM2UiLCJzdWIiOiJPQUIyQ0I1NzZQSEJCUFE1T0RPUl"
    "JaMkxZQ01XUFpHV0dDTjJLREs3RFhPSU1aQVNLVVkzUVpWVCIsIm5hdHMiOnsidHlwZSI6Im9wZXJhdG9yIiwidmVy"
    "c2lvbiI6Mn19."
    "G1FjWsdv7Z5SGEea09BA1T2aEyOSfdZVp-2-ncfGJgmclsoKP-KOPgV7gr8-EC8DQp-X99_9Yxz4m1kPGKKqBw";

/* exp 1800000000, iat 1700000000, no name, user claims, signed by the O key. */
static const char jwt_user_exp[] =
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ."
    "eyJleHAiOjE4MDAwMDAwMDAsImp0aSI6IkVUTE9ERkVHNlVMWDJCTFM3NVZJQlA2QUY2UjZGV0NUM1BJVFNCSzVDWF"
    "pDVFFKWk40NkEiLCJpYXQiOjE3MDAwMDAwMDAsImlzcyI6Ik9BQjJDQjU3NlBIQkJQUTVPRE9SUloyTFlDTVdQWkdX"
    "R0NOMktESzdEWE9JTVpBU0tVWTNRWlZUIiwic3ViIjoiVUFCMkNCNTc2UEhCQlBRNU9ET1JSWjJMWUNNV1BaR1dHQ0"
    "4yS0RLN0RYT0lNWkFTS1VZM1JMS0siLCJuYXRzIjp7InB1YiI6e30sInN1YiI6e30sInR5cGUiOiJ1c2VyIiwidmVy"
    "c2lvbiI6Mn19."
    "7B9E9Z8m_c4fkDxQo-QvecK6YMoay2_QfnGc7u3gKGf96aXVBy8SkXcWQaokW-813-zlPiUW-iB5YOhVrkOcBA";

static void test_sha512_256(void **state)
{
    /* FIPS 180-4 examples, also what `openssl dgst -sha512-256` prints. */
    static const uint8_t abc[32] = {
        0x53, 0x04, 0x8e, 0x26, 0x81, 0x94, 0x1e, 0xf9, 0x9b, 0x2e, 0x29,
        0xb7, 0x6b, 0x4c, 0x7d, 0xab, 0xe4, 0xc2, 0xd0, 0xc6, 0x34, 0xfc,
        0x6d, 0x46, 0xe0, 0xe2, 0xf1, 0x31, 0x07, 0xe7, 0xaf, 0x23,
    };
    static const uint8_t empty[32] = {
        0xc6, 0x72, 0xb8, 0xd1, 0xef, 0x56, 0xed, 0x28, 0xab, 0x87, 0xc3,
        0x62, 0x2c, 0x51, 0x14, 0x06, 0x9b, 0xdd, 0x3a, 0xd7, 0xb8, 0xf9,
        0x73, 0x74, 0x98, 0xd0, 0xc0, 0x1e, 0xce, 0xf0, 0x96, 0x7a,
    };
    uint8_t h[JWT_ISSUE_HASH_LEN];
    (void)state;

    jwt_issue_sha512_256("abc", 3, h);
    assert_memory_equal(h, abc, 32);
    jwt_issue_sha512_256("", 0, h);
    assert_memory_equal(h, empty, 32);
}

static void test_encode_vectors(void **state)
{
    struct jwt_issue_claims op = {.sub = PUB_O,
                                  .name = "op <&>",
                                  .iat = 1700000000,
                                  .nats = "{\"type\":\"operator\",\"version\":2}"};
    struct jwt_issue_claims user = {.sub = PUB_U,
                                    .iat = 1700000000,
                                    .exp = 1800000000,
                                    .nats =
                                        "{\"pub\":{},\"sub\":{},\"type\":\"user\",\"version\":2}"};
    struct nkey k;
    char out[JWT_ISSUE_MAX];
    (void)state;

    assert_int_equal(nkey_from_seed(&k, SEED_O, NKEY_SEED_LEN), 0);
    assert_int_equal(jwt_issue_encode(&k, &op, out, sizeof(out)), 0);
    assert_string_equal(out, jwt_op);
    assert_int_equal(jwt_issue_encode(&k, &user, out, sizeof(out)), 0);
    assert_string_equal(out, jwt_user_exp);

    /* Exactly enough room, and one byte less. */
    assert_int_equal(jwt_issue_encode(&k, &op, out, sizeof(jwt_op)), 0);
    assert_int_equal(jwt_issue_encode(&k, &op, out, sizeof(jwt_op) - 1), -ENOSPC);
    assert_int_equal(jwt_issue_encode(&k, &op, out, 0), -EINVAL);
    op.nats = NULL;
    assert_int_equal(jwt_issue_encode(&k, &op, out, sizeof(out)), -EINVAL);
    nkey_wipe(&k);
}

/* Splits a token, checks the signature against issuer, returns the claims. */
static void decode_claims(const char *jwt, const char *issuer_pub, char *claims, size_t cap)
{
    const char *d1 = strchr(jwt, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    uint8_t pk[32], sig[64];
    enum nkey_type t;
    size_t n, sn;

    assert_non_null(d2);
    assert_null(strchr(d2 + 1, '.'));
    assert_int_equal(nkey_public_decode(issuer_pub, strlen(issuer_pub), &t, pk), 0);
    assert_int_equal(sodium_base642bin(sig, sizeof(sig), d2 + 1, strlen(d2 + 1), NULL, &sn, NULL,
                                       sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                     0);
    assert_int_equal(sn, 64);
    assert_int_equal(crypto_sign_verify_detached(sig, (const uint8_t *)jwt, (size_t)(d2 - jwt), pk),
                     0);
    assert_int_equal(sodium_base642bin((uint8_t *)claims, cap - 1, d1 + 1, (size_t)(d2 - d1 - 1),
                                       NULL, &n, NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                     0);
    claims[n] = '\0';
}

static void expect_member(const char *claims, const char *key, const char *value)
{
    char want[256];
    snprintf(want, sizeof(want), "\"%s\":\"%s\"", key, value);
    assert_non_null(strstr(claims, want));
}

static void test_chain(void **state)
{
    struct jwt_issue_chain c;
    char claims[JWT_ISSUE_MAX], conf[4 * JWT_ISSUE_MAX];
    (void)state;

    assert_int_equal(jwt_issue_chain(&c), 0);
    assert_int_equal(c.op.pub[0], 'O');
    assert_int_equal(c.sys.pub[0], 'A');
    assert_int_equal(c.acc.pub[0], 'A');
    assert_int_equal(c.user.pub[0], 'U');

    decode_claims(c.op.jwt, c.op.pub, claims, sizeof(claims));
    expect_member(claims, "iss", c.op.pub);
    expect_member(claims, "sub", c.op.pub);
    expect_member(claims, "system_account", c.sys.pub);
    assert_non_null(strstr(claims, "\"type\":\"operator\",\"version\":2"));

    decode_claims(c.sys.jwt, c.op.pub, claims, sizeof(claims));
    expect_member(claims, "sub", c.sys.pub);
    expect_member(claims, "name", "SYS");

    decode_claims(c.acc.jwt, c.op.pub, claims, sizeof(claims));
    expect_member(claims, "iss", c.op.pub);
    expect_member(claims, "sub", c.acc.pub);
    assert_non_null(strstr(claims, "\"conn\":-1"));
    assert_non_null(strstr(claims, "\"type\":\"account\",\"version\":2"));

    decode_claims(c.user.jwt, c.acc.pub, claims, sizeof(claims));
    expect_member(claims, "iss", c.acc.pub);
    expect_member(claims, "sub", c.user.pub);
    assert_non_null(strstr(claims, "\"type\":\"user\",\"version\":2"));
    assert_null(strstr(claims, "\"exp\""));

    assert_int_equal(jwt_issue_chain_conf(&c, conf, sizeof(conf)), 0);
    assert_non_null(strstr(conf, "resolver: MEMORY\n"));
    assert_non_null(strstr(conf, c.op.jwt));
    assert_non_null(strstr(conf, c.acc.jwt));
    assert_non_null(strstr(conf, c.sys.jwt));
    assert_int_equal(jwt_issue_chain_conf(&c, conf, 100), -ENOSPC);
    jwt_issue_chain_wipe(&c);
}

static void test_user_options(void **state)
{
    struct jwt_issue_entity op, acc, user;
    char claims[JWT_ISSUE_MAX];
    (void)state;

    assert_int_equal(jwt_issue_operator(&op, "o", NULL), 0);
    assert_int_equal(jwt_issue_account(&acc, &op, "a", "\"exports\":[]"), 0);
    assert_int_equal(jwt_issue_user(&user, &acc, "u", "\"pub\":{\"allow\":[\"a.>\"]}", 2000000000),
                     0);
    decode_claims(op.jwt, op.pub, claims, sizeof(claims));
    assert_null(strstr(claims, "system_account"));
    decode_claims(acc.jwt, op.pub, claims, sizeof(claims));
    assert_non_null(strstr(claims, "\"exports\":[],\"type\":\"account\""));
    decode_claims(user.jwt, acc.pub, claims, sizeof(claims));
    assert_non_null(strstr(claims, "{\"exp\":2000000000,\"jti\":"));
    assert_non_null(strstr(claims, "\"nats\":{\"pub\":{\"allow\":[\"a.>\"]},\"subs\":-1"));
    jwt_issue_entity_wipe(&op);
    jwt_issue_entity_wipe(&acc);
    jwt_issue_entity_wipe(&user);
}

/* The .creds writer and proto/creds agree, and the seed survives. */
static void test_creds_round_trip(void **state)
{
    struct jwt_issue_chain c;
    struct creds_file f;
    struct creds cr;
    struct nkey k;
    char text[JWT_ISSUE_MAX + 512], path[] = "/tmp/h8s-jwt-issue-XXXXXX";
    int fd;
    (void)state;

    assert_int_equal(jwt_issue_chain(&c), 0);
    assert_int_equal(jwt_issue_creds(&c.user, text, sizeof(text)), 0);
    assert_int_equal(creds_parse(&cr, (const uint8_t *)text, strlen(text)), 0);
    assert_int_equal(cr.kind, CREDS_KIND_USER);
    assert_true(span_eq(cr.jwt, span_cstr(c.user.jwt)));
    assert_int_equal(nkey_from_seed(&k, (const char *)cr.seed.p, cr.seed.n), 0);
    assert_memory_equal(k.sk, c.user.key.sk, sizeof(k.sk));
    assert_int_equal(jwt_issue_creds(&c.user, text, 200), -ENOSPC);

    fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(jwt_issue_write_creds(&c.user, path), 0);
    assert_int_equal(creds_file_load(&f, path), 0);
    assert_true(span_eq(f.creds.jwt, span_cstr(c.user.jwt)));
    creds_file_free(&f);
    unlink(path);
    nkey_wipe(&k);
    jwt_issue_chain_wipe(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha512_256),
        cmocka_unit_test(test_encode_vectors),
        cmocka_unit_test(test_chain),
        cmocka_unit_test(test_user_options),
        cmocka_unit_test(test_creds_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
