/*
 * tests/test_tls_san.c — the streaming iPAddress SAN matcher, on real
 * certificates (whole, byte by byte, split at every offset, every prefix)
 * and on hand-built DER for the edge cases.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include <cmocka.h>

#include "proto/tls_pem.h"
#include "proto/tls_san.h"
#include "tests/support/testcerts.h"

struct fixture {
    struct testcerts tc;
    struct tls_pem_chain server, ca, client;
};

static int teardown(void **state);

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    *state = f;
    if (testcerts_create(&f->tc) != 0 ||
        tls_pem_chain_load(&f->server, f->tc.server, NULL, 0) != 0 ||
        tls_pem_chain_load(&f->ca, f->tc.ca, NULL, 0) != 0 ||
        tls_pem_chain_load(&f->client, f->tc.client, NULL, 0) != 0) {
        teardown(state);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    tls_pem_chain_free(&f->server);
    tls_pem_chain_free(&f->ca);
    tls_pem_chain_free(&f->client);
    testcerts_destroy(&f->tc);
    free(f);
    return 0;
}

/* Parses an address literal into 4 or 16 bytes. */
static size_t addr(const char *s, uint8_t *out)
{
    if (inet_pton(AF_INET, s, out) == 1)
        return 4;
    assert_int_equal(inet_pton(AF_INET6, s, out), 1);
    return 16;
}

/* Feeds der in pieces of `step` bytes (0 = whole) after a first piece of `first`. */
static int check_split(const uint8_t *der, size_t n, const char *ip, size_t first, size_t step)
{
    struct tls_san s;
    uint8_t a[16];
    size_t alen = addr(ip, a), off;
    /* each piece in its own exact-size copy: any over-read is caught */
    uint8_t *piece;

    assert_int_equal(tls_san_init(&s, a, alen, (uint32_t)n), 0);
    for (off = 0; off < n;) {
        size_t k = off == 0 && first ? first : (step ? step : n - off);

        if (k > n - off)
            k = n - off;
        piece = malloc(k);
        assert_non_null(piece);
        memcpy(piece, der + off, k);
        tls_san_feed(&s, piece, k);
        free(piece);
        off += k;
    }
    return tls_san_result(&s);
}

static int check(const uint8_t *der, size_t n, const char *ip)
{
    int whole = check_split(der, n, ip, 0, 0);

    assert_int_equal(check_split(der, n, ip, 0, 1), whole);
    for (size_t cut = 1; cut < n; cut++)
        assert_int_equal(check_split(der, n, ip, cut, 0), whole);
    return whole;
}

static void test_real_certificates(void **state)
{
    struct fixture *f = *state;
    const br_x509_certificate *srv = &f->server.certs[0];

    assert_int_equal(check(srv->data, srv->data_len, "127.0.0.1"), TLS_SAN_MATCH);
    assert_int_equal(check(srv->data, srv->data_len, "::1"), TLS_SAN_MATCH);
    assert_int_equal(check(srv->data, srv->data_len, "127.0.0.2"), TLS_SAN_NO_MATCH);
    assert_int_equal(check(srv->data, srv->data_len, "::2"), TLS_SAN_NO_MATCH);
    /* ::ffff:127.0.0.1 is a different (16-byte) entry than 127.0.0.1 */
    assert_int_equal(check(srv->data, srv->data_len, "::ffff:127.0.0.1"), TLS_SAN_NO_MATCH);
    /* certificates without a SAN extension */
    assert_int_equal(check(f->ca.certs[0].data, f->ca.certs[0].data_len, "127.0.0.1"),
                     TLS_SAN_NO_MATCH);
    assert_int_equal(check(f->client.certs[0].data, f->client.certs[0].data_len, "127.0.0.1"),
                     TLS_SAN_NO_MATCH);
}

/* A prefix never yields a verdict before tbsCertificate is complete. */
static void test_every_prefix(void **state)
{
    struct fixture *f = *state;
    const br_x509_certificate *srv = &f->server.certs[0];
    /* tbsCertificate ends after its header and length, inside the cert */
    const uint8_t *d = srv->data;
    size_t hdr = (d[1] & 0x80) ? 2 + (d[1] & 0x7f) : 2;
    size_t tbs_len_bytes = (d[hdr + 1] & 0x80) ? (d[hdr + 1] & 0x7f) : 0;
    size_t tbs_len = 0, tbs_end;

    for (size_t i = 0; i < tbs_len_bytes; i++)
        tbs_len = (tbs_len << 8) | d[hdr + 2 + i];
    tbs_end = hdr + 2 + tbs_len_bytes + tbs_len;
    assert_true(tbs_end < srv->data_len);
    for (size_t cut = 0; cut <= srv->data_len; cut++) {
        struct tls_san s;
        uint8_t a[4] = {127, 0, 0, 1};

        assert_int_equal(tls_san_init(&s, a, 4, (uint32_t)srv->data_len), 0);
        tls_san_feed(&s, srv->data, cut);
        assert_int_equal(tls_san_result(&s), cut < tbs_end ? TLS_SAN_ERROR : TLS_SAN_MATCH);
    }
}

/*
 * A skeleton certificate: SEQUENCE { tbs SEQUENCE { INTEGER 1, [3] {
 * SEQUENCE { Extension } } }, sigalg, signature }, with the extension's
 * bytes supplied by the test.
 */
static size_t build(uint8_t *out, const uint8_t *ext, size_t ext_len)
{
    uint8_t tbs[256];
    size_t t = 0, o = 0;

    tbs[t++] = 0x02, tbs[t++] = 0x01, tbs[t++] = 0x01;
    tbs[t++] = 0xa3, tbs[t++] = (uint8_t)(ext_len + 2);
    tbs[t++] = 0x30, tbs[t++] = (uint8_t)ext_len;
    memcpy(tbs + t, ext, ext_len);
    t += ext_len;
    out[o++] = 0x30, out[o++] = (uint8_t)(t + 2 + 5);
    out[o++] = 0x30, out[o++] = (uint8_t)t;
    memcpy(out + o, tbs, t);
    o += t;
    out[o++] = 0x30, out[o++] = 0x00;                  /* signatureAlgorithm */
    out[o++] = 0x03, out[o++] = 0x01, out[o++] = 0x00; /* signature */
    return o;
}

static void test_handmade(void **state)
{
    /* SAN { iPAddress 10.1.2.3, dNSName "a", iPAddress 2001:db8::1 } */
    static const uint8_t san[] = {0x30, 0x27, 0x06, 0x03, 0x55, 0x1d, 0x11, 0x04, 0x1d, 0x30, 0x1b,
                                  0x87, 0x04, 0x0a, 0x01, 0x02, 0x03, 0x82, 0x01, 0x61, 0x87, 0x10,
                                  0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                  0x00, 0x00, 0x00, 0x00, 0x01, 0x01, 0x01, 0x00};
    /* the same with critical=TRUE and long-form lengths */
    static const uint8_t san_crit[] = {0x30, 0x81, 0x15, 0x06, 0x03, 0x55, 0x1d, 0x11,
                                       0x01, 0x01, 0xff, 0x04, 0x81, 0x0a, 0x30, 0x82,
                                       0x00, 0x06, 0x87, 0x04, 0x0a, 0x01, 0x02, 0x03};
    /* iPAddress inside issuerAltName (2.5.29.18): not ours */
    static const uint8_t ian[] = {0x30, 0x0f, 0x06, 0x03, 0x55, 0x1d, 0x12, 0x04, 0x08,
                                  0x30, 0x06, 0x87, 0x04, 0x0a, 0x01, 0x02, 0x03};
    uint8_t der[300];
    size_t n;

    (void)state;
    /* the trailing 01 01 00 in san[] is a BOOLEAN after the OCTET STRING: skipped */
    n = build(der, san, sizeof(san));
    assert_int_equal(check(der, n, "10.1.2.3"), TLS_SAN_MATCH);
    assert_int_equal(check(der, n, "2001:db8::1"), TLS_SAN_MATCH);
    assert_int_equal(check(der, n, "10.1.2.4"), TLS_SAN_NO_MATCH);
    n = build(der, san_crit, sizeof(san_crit));
    assert_int_equal(check(der, n, "10.1.2.3"), TLS_SAN_MATCH);
    n = build(der, ian, sizeof(ian));
    assert_int_equal(check(der, n, "10.1.2.3"), TLS_SAN_NO_MATCH);
}

static void test_malformed(void **state)
{
    static const uint8_t san[] = {0x30, 0x0f, 0x06, 0x03, 0x55, 0x1d, 0x11, 0x04, 0x08,
                                  0x30, 0x06, 0x87, 0x04, 0x0a, 0x01, 0x02, 0x03};
    uint8_t der[300], bad[300];
    size_t n;
    struct tls_san s;
    uint8_t a[4] = {10, 1, 2, 3};

    (void)state;
    n = build(der, san, sizeof(san));
    assert_int_equal(check(der, n, "10.1.2.3"), TLS_SAN_MATCH);

    /* indefinite length on the tbsCertificate */
    memcpy(bad, der, n);
    bad[3] = 0x80;
    assert_int_equal(check(bad, n, "10.1.2.3"), TLS_SAN_ERROR);
    /* a child longer than its parent */
    memcpy(bad, der, n);
    bad[3] = (uint8_t)(der[1] + 1);
    assert_int_equal(check(bad, n, "10.1.2.3"), TLS_SAN_ERROR);
    /* high tag number form */
    memcpy(bad, der, n);
    bad[4] = 0x1f;
    assert_int_equal(check(bad, n, "10.1.2.3"), TLS_SAN_ERROR);
    /* five length bytes */
    memcpy(bad, der, n);
    bad[1] = 0x85;
    assert_int_equal(check(bad, n, "10.1.2.3"), TLS_SAN_ERROR);
    /* not a SEQUENCE at the top */
    memcpy(bad, der, n);
    bad[0] = 0x31;
    assert_int_equal(check(bad, n, "10.1.2.3"), TLS_SAN_ERROR);
    /* extensions wrapper holding something else than a SEQUENCE */
    memcpy(bad, der, n);
    bad[9] = 0x04;
    assert_int_equal(check(bad, n, "10.1.2.3"), TLS_SAN_ERROR);
    /* certificate longer than announced */
    assert_int_equal(tls_san_init(&s, a, 4, (uint32_t)(n - 1)), 0);
    tls_san_feed(&s, der, n);
    assert_int_equal(tls_san_result(&s), TLS_SAN_ERROR);
    /* sticky: more input does not clear it */
    tls_san_feed(&s, der, n);
    assert_int_equal(tls_san_result(&s), TLS_SAN_ERROR);
    /* nothing fed */
    assert_int_equal(tls_san_init(&s, a, 4, 100), 0);
    assert_int_equal(tls_san_result(&s), TLS_SAN_ERROR);
    /* bad address length */
    assert_int_equal(tls_san_init(&s, a, 5, 100), -1);
    assert_int_equal(tls_san_result(&s), TLS_SAN_ERROR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_certificates),
        cmocka_unit_test(test_every_prefix),
        cmocka_unit_test(test_handmade),
        cmocka_unit_test(test_malformed),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
