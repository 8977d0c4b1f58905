/*
 * tests/test_tls.c — tls_conn client and server engines talking to each
 * other in memory: ciphertext is moved between them in random (and
 * one-byte, and whole) pieces. Certificates come from testcerts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/tls.h"
#include "tests/support/testcerts.h"

/* ------------------------------------------------------------- fixture */

struct material {
    struct testcerts tc;
    struct tls_pem_anchors ca, other_ca;
    struct tls_pem_chain server, server_rsa, server_chain, client, client_rsa, other_leaf, expired;
    struct tls_pem_key server_key, server_rsa_key, server_chain_key, client_key, client_rsa_key,
        other_leaf_key, expired_key;
};

static int load_all(struct material *m)
{
    char err[512];
    struct {
        struct tls_pem_chain *chain;
        const char *cert;
        struct tls_pem_key *key;
        const char *keyfile;
    } pairs[] = {
        {&m->server, m->tc.server, &m->server_key, m->tc.server_key},
        {&m->server_rsa, m->tc.server_rsa, &m->server_rsa_key, m->tc.server_rsa_key},
        {&m->server_chain, m->tc.server_chain, &m->server_chain_key, m->tc.server_chain_key},
        {&m->client, m->tc.client, &m->client_key, m->tc.client_key},
        {&m->client_rsa, m->tc.client_rsa, &m->client_rsa_key, m->tc.client_rsa_key},
        {&m->other_leaf, m->tc.other_leaf, &m->other_leaf_key, m->tc.other_leaf_key},
        {&m->expired, m->tc.expired, &m->expired_key, m->tc.expired_key},
    };

    if (tls_pem_anchors_load(&m->ca, m->tc.ca, err, sizeof(err)) != 0 ||
        tls_pem_anchors_load(&m->other_ca, m->tc.other_ca, err, sizeof(err)) != 0) {
        fprintf(stderr, "load: %s\n", err);
        return -1;
    }
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        if (tls_pem_chain_load(pairs[i].chain, pairs[i].cert, err, sizeof(err)) != 0 ||
            tls_pem_key_load(pairs[i].key, pairs[i].keyfile, err, sizeof(err)) != 0 ||
            tls_pem_check_pair(pairs[i].chain, pairs[i].key, err, sizeof(err)) != 0) {
            fprintf(stderr, "load: %s\n", err);
            return -1;
        }
    }
    return 0;
}

static int group_teardown(void **state);

static int group_setup(void **state)
{
    struct material *m = calloc(1, sizeof(*m));

    if (m == NULL)
        return -1;
    *state = m;
    /* On failure the teardown removes the directory and what loaded. */
    if (testcerts_create(&m->tc) != 0 || load_all(m) != 0) {
        group_teardown(state);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    struct material *m = *state;

    tls_pem_anchors_free(&m->ca);
    tls_pem_anchors_free(&m->other_ca);
    tls_pem_chain_free(&m->server);
    tls_pem_chain_free(&m->server_rsa);
    tls_pem_chain_free(&m->server_chain);
    tls_pem_chain_free(&m->client);
    tls_pem_chain_free(&m->client_rsa);
    tls_pem_chain_free(&m->other_leaf);
    tls_pem_chain_free(&m->expired);
    tls_pem_key_wipe(&m->server_key);
    tls_pem_key_wipe(&m->server_rsa_key);
    tls_pem_key_wipe(&m->server_chain_key);
    tls_pem_key_wipe(&m->client_key);
    tls_pem_key_wipe(&m->client_rsa_key);
    tls_pem_key_wipe(&m->other_leaf_key);
    tls_pem_key_wipe(&m->expired_key);
    testcerts_destroy(&m->tc);
    free(m);
    return 0;
}

/* ---------------------------------------------------------------- pump */

#define SPLIT_WHOLE 0  /* move everything pending */
#define SPLIT_ONE 1    /* one byte per feed */
#define SPLIT_RANDOM 2 /* random sizes, often tiny */

struct pair {
    struct tls_conn *cli, *srv;
    uint64_t rng;
    int split;
    /* plaintext received, kept when a test wants to look at it */
    uint8_t cli_rx[4096], srv_rx[4096];
    size_t cli_rx_n, srv_rx_n;
};

static uint64_t rnd(uint64_t *s)
{
    /* xorshift64*: deterministic per seed, good enough to pick sizes */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

static size_t chunk(struct pair *p, size_t n)
{
    if (p->split == SPLIT_WHOLE || n == 0)
        return n;
    if (p->split == SPLIT_ONE)
        return 1;
    switch (rnd(&p->rng) % 4) {
    case 0:
        return 1;
    case 1:
        return 1 + rnd(&p->rng) % (n < 7 ? n : 7);
    default:
        return 1 + rnd(&p->rng) % n;
    }
}

/* Moves one piece of from's pending ciphertext into to. Returns bytes moved. */
static size_t move(struct pair *p, struct tls_conn *from, struct tls_conn *to)
{
    struct span out;
    size_t consumed = 0, k;

    if (tls_conn_pending_out(from, &out) == 0)
        return 0;
    k = chunk(p, out.n);
    if (tls_conn_feed(to, out.p, k, &consumed) != 0)
        return 0;
    tls_conn_out_ack(from, consumed);
    return consumed;
}

/* Reads all ready plaintext of c into rx (truncated to its size). */
static size_t drain(struct tls_conn *c, uint8_t *rx, size_t cap, size_t *rx_n)
{
    struct span in;
    size_t total = 0;

    while (tls_conn_read(c, &in) > 0) {
        size_t room = cap - *rx_n;

        memcpy(rx + *rx_n, in.p, in.n < room ? in.n : room);
        *rx_n += in.n < room ? in.n : room;
        tls_conn_read_ack(c, in.n);
        total += in.n;
    }
    return total;
}

/* Moves bytes both ways until nothing moves any more (bounded). */
static void pump(struct pair *p)
{
    for (int i = 0; i < 200000; i++) {
        size_t moved = move(p, p->cli, p->srv) + move(p, p->srv, p->cli);

        moved += drain(p->cli, p->cli_rx, sizeof(p->cli_rx), &p->cli_rx_n);
        moved += drain(p->srv, p->srv_rx, sizeof(p->srv_rx), &p->srv_rx_n);
        if (moved == 0)
            return;
    }
    fail_msg("pump did not settle");
}

static struct pair *pair_new(int split, uint64_t seed)
{
    struct pair *p = calloc(1, sizeof(*p));

    assert_non_null(p);
    p->cli = malloc(sizeof(*p->cli));
    p->srv = malloc(sizeof(*p->srv));
    assert_non_null(p->cli);
    assert_non_null(p->srv);
    p->split = split;
    p->rng = seed | 1;
    return p;
}

static void pair_free(struct pair *p)
{
    free(p->cli);
    free(p->srv);
    free(p);
}

static struct tls_client_config client_cfg(const struct tls_pem_anchors *ca, const char *name)
{
    return (struct tls_client_config){.anchors = ca, .server_name = name};
}

static struct tls_server_config server_cfg(const struct tls_pem_chain *chain,
                                           const struct tls_pem_key *key)
{
    return (struct tls_server_config){.chain = chain, .key = key};
}

/* Inits both ends, pumps the handshake to its end. */
static void start(struct pair *p, const struct tls_client_config *cc,
                  const struct tls_server_config *sc)
{
    struct span out;

    assert_int_equal(tls_conn_client_init(p->cli, cc), 0);
    assert_int_equal(tls_conn_server_init(p->srv, sc), 0);
    /* The ClientHello is ready at once; the server says nothing first. */
    assert_true(tls_conn_pending_out(p->cli, &out) > 0);
    assert_int_equal(tls_conn_pending_out(p->srv, &out), 0);
    assert_int_equal(tls_conn_write(p->cli, (const uint8_t *)"x", 1), 0);
    pump(p);
}

static void send_all(struct pair *p, struct tls_conn *c, const char *msg)
{
    size_t n = strlen(msg), off = 0;

    while (off < n) {
        size_t k = tls_conn_write(c, (const uint8_t *)msg + off, n - off);

        off += k;
        if (k == 0)
            pump(p);
        assert_int_equal(tls_conn_error(c), 0);
    }
    tls_conn_flush(c);
    pump(p);
}

static void assert_exchange(struct pair *p)
{
    assert_true(tls_conn_handshake_done(p->cli));
    assert_true(tls_conn_handshake_done(p->srv));
    send_all(p, p->cli, "PING\r\n");
    send_all(p, p->srv, "PONG\r\n");
    assert_int_equal(p->srv_rx_n, 6);
    assert_memory_equal(p->srv_rx, "PING\r\n", 6);
    assert_int_equal(p->cli_rx_n, 6);
    assert_memory_equal(p->cli_rx, "PONG\r\n", 6);
    assert_int_equal(tls_conn_error(p->cli), 0);
    assert_int_equal(tls_conn_error(p->srv), 0);
}

/* -------------------------------------------------------------- tests */

static void handshake_ok(struct material *m, const struct tls_pem_chain *chain,
                         const struct tls_pem_key *key, const char *name, int split, uint64_t seed)
{
    struct pair *p = pair_new(split, seed);
    struct tls_client_config cc = client_cfg(&m->ca, name);
    struct tls_server_config sc = server_cfg(chain, key);

    start(p, &cc, &sc);
    assert_exchange(p);
    assert_true(tls_conn_peer_verified(p->cli));
    assert_false(tls_conn_peer_verified(p->srv)); /* no client auth asked */
    pair_free(p);
}

static void test_handshake_ec(void **state)
{
    struct material *m = *state;

    handshake_ok(m, &m->server, &m->server_key, "localhost", SPLIT_WHOLE, 1);
    handshake_ok(m, &m->server, &m->server_key, "localhost", SPLIT_ONE, 1);
    for (uint64_t seed = 1; seed <= 8; seed++)
        handshake_ok(m, &m->server, &m->server_key, "localhost", SPLIT_RANDOM, seed);
}

static void test_handshake_rsa(void **state)
{
    struct material *m = *state;

    handshake_ok(m, &m->server_rsa, &m->server_rsa_key, "localhost", SPLIT_WHOLE, 1);
    handshake_ok(m, &m->server_rsa, &m->server_rsa_key, "localhost", SPLIT_ONE, 1);
    for (uint64_t seed = 1; seed <= 4; seed++)
        handshake_ok(m, &m->server_rsa, &m->server_rsa_key, "localhost", SPLIT_RANDOM, seed);
}

/* Server presents leaf + intermediate; the client only knows the root. */
static void test_handshake_intermediate(void **state)
{
    struct material *m = *state;

    assert_int_equal(m->server_chain.n, 2);
    handshake_ok(m, &m->server_chain, &m->server_chain_key, "localhost", SPLIT_RANDOM, 7);
}

/* Names: DNS (case-insensitive, trailing dot) and both IP literals. */
static void test_server_names_ok(void **state)
{
    struct material *m = *state;
    const char *names[] = {"localhost", "LocalHost", "localhost.",
                           "127.0.0.1", "::1",       "0:0:0:0:0:0:0:1"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        handshake_ok(m, &m->server, &m->server_key, names[i], SPLIT_RANDOM, i + 1);
}

/* SNI carries DNS names only: RFC 6066 forbids IP literals there. */
static void test_sni(void **state)
{
    struct material *m = *state;
    struct tls_server_config sc = server_cfg(&m->server, &m->server_key);
    const char *names[][2] = {
        {"localhost", "localhost"}, {"localhost.", "localhost"}, {"127.0.0.1", ""}, {"::1", ""}};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        struct pair *p = pair_new(SPLIT_WHOLE, 1);
        struct tls_client_config cc = client_cfg(&m->ca, names[i][0]);

        start(p, &cc, &sc);
        assert_true(tls_conn_handshake_done(p->srv));
        assert_string_equal(br_ssl_engine_get_server_name(&p->srv->u.server.eng), names[i][1]);
        pair_free(p);
    }
}

/* Every split point of the ClientHello, into a fresh server each time. */
static void test_clienthello_every_split(void **state)
{
    struct material *m = *state;
    struct tls_conn *cli = malloc(sizeof(*cli)), *srv = malloc(sizeof(*srv));
    struct tls_client_config cc = client_cfg(&m->ca, "localhost");
    struct tls_server_config sc = server_cfg(&m->server, &m->server_key);
    struct span hello, out;
    uint8_t copy[2048];
    size_t n, used;

    assert_non_null(cli);
    assert_non_null(srv);
    assert_int_equal(tls_conn_client_init(cli, &cc), 0);
    n = tls_conn_pending_out(cli, &hello);
    assert_true(n > 0 && n <= sizeof(copy));
    memcpy(copy, hello.p, n);
    for (size_t cut = 0; cut <= n; cut++) {
        assert_int_equal(tls_conn_server_init(srv, &sc), 0);
        assert_int_equal(tls_conn_feed(srv, copy, cut, &used), 0);
        assert_int_equal(used, cut);
        /* Nothing to answer before the whole hello is in. */
        if (cut < n)
            assert_int_equal(tls_conn_pending_out(srv, &out), 0);
        assert_int_equal(tls_conn_feed(srv, copy + cut, n - cut, &used), 0);
        assert_int_equal(used, n - cut);
        assert_true(tls_conn_pending_out(srv, &out) > 0);
        assert_int_equal(tls_conn_error(srv), 0);
    }
    free(cli);
    free(srv);
}

static void handshake_fails(struct material *m, const struct tls_client_config *cc,
                            const struct tls_server_config *sc, int cli_err, int srv_err)
{
    struct pair *p = pair_new(SPLIT_RANDOM, 99);

    (void)m;
    start(p, cc, sc);
    assert_false(tls_conn_handshake_done(p->cli));
    assert_false(tls_conn_handshake_done(p->srv));
    if (cli_err != 0)
        assert_int_equal(tls_conn_error(p->cli), cli_err);
    if (srv_err != 0)
        assert_int_equal(tls_conn_error(p->srv), srv_err);
    /* BearSSL fails without an alert on some errors (certificate
     * rejected by the client): the peer learns it from the transport. */
    if (!tls_conn_is_closed(p->srv))
        assert_int_equal(tls_conn_feed_eof(p->srv), TLS_E_TRUNCATED);
    if (!tls_conn_is_closed(p->cli))
        assert_int_equal(tls_conn_feed_eof(p->cli), TLS_E_TRUNCATED);
    assert_true(tls_conn_is_closed(p->srv));
    assert_false(tls_conn_peer_verified(p->cli));
    assert_false(tls_conn_peer_verified(p->srv));
    pair_free(p);
}

static void test_untrusted(void **state)
{
    struct material *m = *state;
    struct tls_client_config cc = client_cfg(&m->other_ca, "localhost");
    struct tls_server_config sc = server_cfg(&m->server, &m->server_key);

    handshake_fails(m, &cc, &sc, -BR_ERR_X509_NOT_TRUSTED, 0);
    assert_non_null(strstr(tls_strerror(-BR_ERR_X509_NOT_TRUSTED), "not trusted"));

    /* and the other way round: a server whose CA we do not know */
    cc = client_cfg(&m->ca, "localhost");
    sc = server_cfg(&m->other_leaf, &m->other_leaf_key);
    handshake_fails(m, &cc, &sc, -BR_ERR_X509_NOT_TRUSTED, 0);
}

static void test_wrong_name(void **state)
{
    struct material *m = *state;
    struct tls_server_config sc = server_cfg(&m->server, &m->server_key);
    const char *names[] = {"example.com", "localhost.localdomain", "127.0.0.2", "::2", "10.0.0.1"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        struct tls_client_config cc = client_cfg(&m->ca, names[i]);

        handshake_fails(m, &cc, &sc, -BR_ERR_X509_BAD_SERVER_NAME, 0);
    }
    assert_non_null(strstr(tls_strerror(-BR_ERR_X509_BAD_SERVER_NAME), "server name mismatch"));
}

static void test_expired(void **state)
{
    struct material *m = *state;
    struct tls_client_config cc = client_cfg(&m->ca, "localhost");
    struct tls_server_config sc = server_cfg(&m->expired, &m->expired_key);

    handshake_fails(m, &cc, &sc, -BR_ERR_X509_EXPIRED, 0);
    assert_non_null(strstr(tls_strerror(-BR_ERR_X509_EXPIRED), "expired"));
}

static void mtls_ok(struct material *m, const struct tls_pem_chain *chain,
                    const struct tls_pem_key *key, int mode)
{
    struct pair *p = pair_new(SPLIT_RANDOM, 5);
    struct tls_client_config cc = client_cfg(&m->ca, "localhost");
    struct tls_server_config sc = server_cfg(&m->server, &m->server_key);

    cc.chain = chain;
    cc.key = key;
    sc.client_auth = mode;
    sc.client_anchors = &m->ca;
    start(p, &cc, &sc);
    assert_exchange(p);
    assert_true(tls_conn_peer_verified(p->srv));
    assert_true(tls_conn_peer_verified(p->cli));
    pair_free(p);
}

static void test_mtls_required(void **state)
{
    struct material *m = *state;
    struct tls_client_config cc = client_cfg(&m->ca, "localhost");
    struct tls_server_config sc = server_cfg(&m->server, &m->server_key);

    mtls_ok(m, &m->client, &m->client_key, TLS_CLIENT_AUTH_REQUIRE);
    mtls_ok(m, &m->client_rsa, &m->client_rsa_key, TLS_CLIENT_AUTH_REQUIRE);

    /* no certificate: the server refuses */
    sc.client_auth = TLS_CLIENT_AUTH_REQUIRE;
    sc.client_anchors = &m->ca;
    handshake_fails(m, &cc, &sc, 0, -BR_ERR_NO_CLIENT_AUTH);

    /* a certificate from a CA the server does not accept */
    cc.chain = &m->other_leaf;
    cc.key = &m->other_leaf_key;
    handshake_fails(m, &cc, &sc, 0, -BR_ERR_X509_NOT_TRUSTED);
    /* an expired one */
    cc.chain = &m->expired;
    cc.key = &m->expired_key;
    handshake_fails(m, &cc, &sc, 0, -BR_ERR_X509_EXPIRED);
}

static void test_mtls_optional(void **state)
{
    struct material *m = *state;
    struct pair *p = pair_new(SPLIT_RANDOM, 11);
    struct tls_client_config cc = client_cfg(&m->ca, "localhost");
    struct tls_server_config sc = server_cfg(&m->server_rsa, &m->server_rsa_key);

    mtls_ok(m, &m->client, &m->client_key, TLS_CLIENT_AUTH_OPTIONAL);

    /* without a certificate the handshake goes on, unauthenticated */
    sc.client_auth = TLS_CLIENT_AUTH_OPTIONAL;
    sc.client_anchors = &m->ca;
    start(p, &cc, &sc);
    assert_exchange(p);
    assert_false(tls_conn_peer_verified(p->srv));
    pair_free(p);

    /* with an untrusted one too, still unauthenticated */
    p = pair_new(SPLIT_RANDOM, 12);
    cc.chain = &m->other_leaf;
    cc.key = &m->other_leaf_key;
    start(p, &cc, &sc);
    assert_exchange(p);
    assert_false(tls_conn_peer_verified(p->srv));
    pair_free(p);
}

/* Several MiB each way at once, byte-exact, random record splits. */

/* Byte i of a test stream: stateless (splitmix64 of the 8-byte block). */
static uint8_t stream_at(uint64_t seed, size_t i)
{
    uint64_t z = seed + (uint64_t)(i / 8 + 1) * 0x9e3779b97f4a7c15ull;

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (uint8_t)(z >> (8 * (i % 8)));
}

static void transfer(struct pair *p, size_t total)
{
    static uint8_t buf[40000];
    const uint64_t seed[2] = {0x1234567, 0x7654321};
    struct tls_conn *tx[2] = {p->cli, p->srv}, *rx[2] = {p->srv, p->cli};
    size_t sent[2] = {0, 0}, recvd[2] = {0, 0};
    int idle = 0;

    while (recvd[0] < total || recvd[1] < total) {
        size_t progress = 0;

        assert_true(idle < 1000);
        for (int d = 0; d < 2; d++) {
            size_t want = total - sent[d], k;
            struct span in;

            if (want > 0) {
                size_t cap = 1 + rnd(&p->rng) % sizeof(buf);

                if (want > cap)
                    want = cap;
                for (size_t i = 0; i < want; i++)
                    buf[i] = stream_at(seed[d], sent[d] + i);
                k = tls_conn_write(tx[d], buf, want);
                sent[d] += k;
                progress += k;
                if (sent[d] == total || rnd(&p->rng) % 4 == 0)
                    tls_conn_flush(tx[d]);
            }
            for (int i = 0; i < 8; i++)
                progress += move(p, tx[d], rx[d]) + move(p, rx[d], tx[d]);
            /* read back in random, often partial, acknowledgements */
            while (tls_conn_read(rx[d], &in) > 0) {
                size_t ack = 1 + rnd(&p->rng) % in.n;

                for (size_t i = 0; i < ack; i++)
                    if (in.p[i] != stream_at(seed[d], recvd[d] + i))
                        fail_msg("direction %d: byte %zu differs", d, recvd[d] + i);
                tls_conn_read_ack(rx[d], ack);
                recvd[d] += ack;
                progress += ack;
            }
            assert_int_equal(tls_conn_error(tx[d]), 0);
            assert_int_equal(tls_conn_error(rx[d]), 0);
        }
        idle = progress ? 0 : idle + 1;
    }
    assert_int_equal(sent[0], total);
    assert_int_equal(sent[1], total);
    assert_int_equal(recvd[0], total);
    assert_int_equal(recvd[1], total);
}

static void test_large_transfer(void **state)
{
    struct material *m = *state;
    struct tls_client_config cc = client_cfg(&m->ca, "localhost");
    struct tls_server_config sc = server_cfg(&m->server, &m->server_key);
    struct pair *p = pair_new(SPLIT_RANDOM, 21);

    start(p, &cc, &sc);
    transfer(p, (size_t)4 << 20);
    pair_free(p);

    sc = server_cfg(&m->server_rsa, &m->server_rsa_key);
    p = pair_new(SPLIT_WHOLE, 22);
    start(p, &cc, &sc);
    transfer(p, (size_t)3 << 20);
    pair_free(p);
}

/* Orderly closure in both directions and truncation detection. */
static void test_close_notify(void **state)
{
    struct material *m = *state;
    struct pair *p = pair_new(SPLIT_RANDOM, 3);
    struct tls_client_config cc = client_cfg(&m->ca, "localhost");
    struct tls_server_config sc = server_cfg(&m->server, &m->server_key);
    size_t used;

    start(p, &cc, &sc);
    assert_exchange(p);
    /* data written just before close is still delivered */
    assert_int_equal(tls_conn_write(p->cli, (const uint8_t *)"bye", 3), 3);
    tls_conn_close(p->cli);
    tls_conn_close(p->cli); /* idempotent */
    assert_int_equal(tls_conn_write(p->cli, (const uint8_t *)"late", 4), 0);
    p->srv_rx_n = 0;
    pump(p);
    assert_int_equal(p->srv_rx_n, 3);
    assert_memory_equal(p->srv_rx, "bye", 3);
    assert_true(tls_conn_is_closed(p->srv));
    assert_true(tls_conn_is_closed(p->cli));
    assert_int_equal(tls_conn_error(p->srv), 0);
    assert_int_equal(tls_conn_error(p->cli), 0);
    assert_int_equal(tls_conn_feed_eof(p->srv), 0);
    assert_int_equal(tls_conn_feed_eof(p->cli), 0);
    /* bytes after closure are refused */
    assert_int_equal(tls_conn_feed(p->srv, (const uint8_t *)"\x17\x03\x03", 3, &used),
                     TLS_E_CLOSED);
    pair_free(p);

    /* EOF without close_notify is a truncation, and it sticks */
    p = pair_new(SPLIT_RANDOM, 4);
    start(p, &cc, &sc);
    assert_exchange(p);
    assert_int_equal(tls_conn_feed_eof(p->cli), TLS_E_TRUNCATED);
    assert_true(tls_conn_is_closed(p->cli));
    assert_int_equal(tls_conn_error(p->cli), TLS_E_TRUNCATED);
    assert_int_equal(tls_conn_feed(p->cli, (const uint8_t *)"x", 1, &used), TLS_E_TRUNCATED);
    assert_non_null(strstr(tls_strerror(TLS_E_TRUNCATED), "close_notify"));
    /* but after our own close, the peer hanging up is fine */
    tls_conn_close(p->srv);
    assert_int_equal(tls_conn_feed_eof(p->srv), 0);
    pair_free(p);
}

/* A flipped ciphertext bit is caught and the failure is sticky. */
static void test_tampered_record(void **state)
{
    struct material *m = *state;
    struct pair *p = pair_new(SPLIT_WHOLE, 1);
    struct tls_client_config cc = client_cfg(&m->ca, "localhost");
    struct tls_server_config sc = server_cfg(&m->server, &m->server_key);
    struct span out;
    uint8_t copy[64];
    size_t n, used;

    start(p, &cc, &sc);
    assert_exchange(p);
    assert_int_equal(tls_conn_write(p->cli, (const uint8_t *)"secret", 6), 6);
    tls_conn_flush(p->cli);
    n = tls_conn_pending_out(p->cli, &out);
    assert_true(n > 10 && n <= sizeof(copy));
    memcpy(copy, out.p, n);
    tls_conn_out_ack(p->cli, n);
    copy[n - 1] ^= 0x01;
    tls_conn_feed(p->srv, copy, n, &used);
    assert_int_equal(tls_conn_error(p->srv), -BR_ERR_BAD_MAC);
    assert_true(tls_conn_is_closed(p->srv));
    assert_int_equal(tls_conn_read(p->srv, &out), 0);
    assert_int_equal(tls_conn_feed(p->srv, copy, n, &used), -BR_ERR_BAD_MAC);
    assert_int_equal(used, 0);
    pair_free(p);
}

/* Plain text where a ClientHello should be: a clean error, sticky. */
static void test_not_tls(void **state)
{
    struct material *m = *state;
    struct tls_conn *srv = malloc(sizeof(*srv));
    struct tls_server_config sc = server_cfg(&m->server, &m->server_key);
    static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    size_t used;
    int rc;

    assert_non_null(srv);
    assert_int_equal(tls_conn_server_init(srv, &sc), 0);
    rc = tls_conn_feed(srv, (const uint8_t *)req, sizeof(req) - 1, &used);
    assert_true(rc < 0);
    assert_int_equal(tls_conn_error(srv), rc);
    assert_true(tls_conn_is_closed(srv));
    assert_false(tls_conn_handshake_done(srv));
    assert_int_equal(tls_conn_feed(srv, (const uint8_t *)req, 4, &used), rc);
    assert_string_not_equal(tls_strerror(rc), "unknown TLS error");
    free(srv);
}

/* Acknowledging more than available is caught, not passed to BearSSL. */
static void test_usage_errors(void **state)
{
    struct material *m = *state;
    struct pair *p = pair_new(SPLIT_WHOLE, 1);
    struct tls_client_config cc = client_cfg(&m->ca, "localhost");
    struct tls_server_config sc = server_cfg(&m->server, &m->server_key);
    struct span out;
    size_t n;

    start(p, &cc, &sc);
    assert_exchange(p);
    tls_conn_read_ack(p->cli, 0); /* no-op */
    tls_conn_out_ack(p->cli, 0);
    assert_int_equal(tls_conn_error(p->cli), 0);
    tls_conn_read_ack(p->cli, 1); /* nothing to read */
    assert_int_equal(tls_conn_error(p->cli), TLS_E_USAGE);
    assert_true(tls_conn_is_closed(p->cli));
    assert_int_equal(tls_conn_write(p->cli, (const uint8_t *)"x", 1), 0);

    assert_int_equal(tls_conn_write(p->srv, (const uint8_t *)"hello", 5), 5);
    tls_conn_flush(p->srv);
    n = tls_conn_pending_out(p->srv, &out);
    assert_true(n > 0);
    tls_conn_out_ack(p->srv, n + 1);
    assert_int_equal(tls_conn_error(p->srv), TLS_E_USAGE);
    pair_free(p);
}

static void test_config_errors(void **state)
{
    struct material *m = *state;
    struct tls_conn *c = malloc(sizeof(*c));
    struct tls_pem_anchors empty = {0};
    struct tls_client_config cc;
    struct tls_server_config sc;
    char long_name[300];
    const char *bad_names[] = {
        "",           ".",     "a..b", "-a.com", "a-.com",        "127.1", "1.2.3.4.5",
        "fe80::1%lo", "[::1]", "a b",  "a/b",    "*.example.com", "x.123", long_name};

    assert_non_null(c);
    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';

    cc = client_cfg(NULL, "localhost");
    assert_int_equal(tls_conn_client_init(c, &cc), TLS_E_CONFIG);
    assert_int_equal(tls_conn_error(c), TLS_E_CONFIG);
    assert_true(tls_conn_is_closed(c));
    cc = client_cfg(&empty, "localhost");
    assert_int_equal(tls_conn_client_init(c, &cc), TLS_E_CONFIG);
    cc = client_cfg(&m->ca, NULL);
    assert_int_equal(tls_conn_client_init(c, &cc), TLS_E_SERVER_NAME);
    for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
        cc = client_cfg(&m->ca, bad_names[i]);
        assert_int_equal(tls_conn_client_init(c, &cc), TLS_E_SERVER_NAME);
    }
    /* chain without key, key of another type */
    cc = client_cfg(&m->ca, "localhost");
    cc.chain = &m->client;
    assert_int_equal(tls_conn_client_init(c, &cc), TLS_E_CONFIG);
    cc.key = &m->client_rsa_key;
    assert_int_equal(tls_conn_client_init(c, &cc), TLS_E_CONFIG);

    sc = server_cfg(&m->server, &m->server_rsa_key);
    assert_int_equal(tls_conn_server_init(c, &sc), TLS_E_CONFIG);
    sc = server_cfg(NULL, &m->server_key);
    assert_int_equal(tls_conn_server_init(c, &sc), TLS_E_CONFIG);
    sc = server_cfg(&m->server, &m->server_key);
    sc.client_auth = TLS_CLIENT_AUTH_REQUIRE;
    assert_int_equal(tls_conn_server_init(c, &sc), TLS_E_CONFIG);
    sc.client_auth = 7;
    sc.client_anchors = &m->ca;
    assert_int_equal(tls_conn_server_init(c, &sc), TLS_E_CONFIG);
    /* a failed init leaves a closed connection that refuses everything */
    assert_int_equal(tls_conn_write(c, (const uint8_t *)"x", 1), 0);
    free(c);
}

/* The engine is seeded: two ClientHellos never share their random. */
static void test_randomness(void **state)
{
    struct material *m = *state;
    struct tls_conn *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
    struct tls_client_config cc = client_cfg(&m->ca, "localhost");
    struct span ha, hb;
    const char *name = NULL;

    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(br_prng_seeder_system(&name));
    assert_non_null(name);
    assert_int_equal(tls_conn_client_init(a, &cc), 0);
    assert_int_equal(tls_conn_client_init(b, &cc), 0);
    assert_true(tls_conn_pending_out(a, &ha) > 43);
    assert_true(tls_conn_pending_out(b, &hb) > 43);
    /* record header 5 + handshake header 4 + version 2, then 32 random bytes */
    assert_memory_not_equal(ha.p + 11, hb.p + 11, 32);
    free(a);
    free(b);
}

static void test_strerror(void **state)
{
    static const int codes[] = {0,
                                TLS_E_CONFIG,
                                TLS_E_SERVER_NAME,
                                TLS_E_CLOSED,
                                TLS_E_TRUNCATED,
                                TLS_E_USAGE,
                                -BR_ERR_BAD_MAC,
                                -BR_ERR_NO_CLIENT_AUTH,
                                -BR_ERR_X509_NOT_TRUSTED,
                                -BR_ERR_X509_EXPIRED,
                                -BR_ERR_X509_BAD_SERVER_NAME};

    (void)state;
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        assert_string_not_equal(tls_strerror(codes[i]), "unknown TLS error");
    assert_string_equal(tls_strerror(-(BR_ERR_RECV_FATAL_ALERT + 40)),
                        "received fatal alert: handshake_failure");
    assert_string_equal(tls_strerror(-(BR_ERR_SEND_FATAL_ALERT + 42)),
                        "sent fatal alert: bad_certificate");
    assert_non_null(strstr(tls_strerror(-(BR_ERR_RECV_FATAL_ALERT + 255)), "unknown"));
    assert_string_equal(tls_strerror(-99999), "unknown TLS error");
    assert_string_equal(tls_strerror(12), "unknown TLS error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_ec),
        cmocka_unit_test(test_handshake_rsa),
        cmocka_unit_test(test_handshake_intermediate),
        cmocka_unit_test(test_server_names_ok),
        cmocka_unit_test(test_sni),
        cmocka_unit_test(test_clienthello_every_split),
        cmocka_unit_test(test_untrusted),
        cmocka_unit_test(test_wrong_name),
        cmocka_unit_test(test_expired),
        cmocka_unit_test(test_mtls_required),
        cmocka_unit_test(test_mtls_optional),
        cmocka_unit_test(test_large_transfer),
        cmocka_unit_test(test_close_notify),
        cmocka_unit_test(test_tampered_record),
        cmocka_unit_test(test_not_tls),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_randomness),
        cmocka_unit_test(test_strerror),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
