/*
 * tests/test_nats_tls.c — the NATS client over TLS (BearSSL) against
 * nats-server with certificates generated at test time (openssl CLI):
 * upgrade after INFO for nats:// and tls:// URLs (IP and DNS names),
 * large messages across records, mutual TLS, and the failures that must
 * be reported clearly (untrusted server, missing client certificate, TLS
 * asked of a server without it).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/nats_client.h"
#include "tests/support/natsd.h"
#include "tests/support/natstest.h"
#include "tests/support/testcerts.h"

struct fixture {
    struct testcerts tc;
    struct natsd *tls;   /* TLS required, no client certificates */
    struct natsd *mtls;  /* TLS required, client certificate verified */
    struct natsd *plain; /* no TLS at all */
};

static int setup(void **state)
{
    static struct fixture f;
    char conf[4096];
    if (testcerts_create(&f.tc) != 0)
        return -1;
    snprintf(conf, sizeof(conf),
             "tls {\n  cert_file: \"%s\"\n  key_file: \"%s\"\n  timeout: 2\n}\n", f.tc.server,
             f.tc.server_key);
    struct natsd_opts o = {.conf = conf};
    if (natsd_start(&f.tls, &o) != 0)
        return -1;
    snprintf(conf, sizeof(conf),
             "tls {\n  cert_file: \"%s\"\n  key_file: \"%s\"\n  ca_file: \"%s\"\n"
             "  verify: true\n  timeout: 2\n}\n",
             f.tc.server, f.tc.server_key, f.tc.ca);
    if (natsd_start(&f.mtls, &o) != 0)
        return -1;
    if (natsd_start(&f.plain, NULL) != 0)
        return -1;
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    natsd_stop(f->tls);
    natsd_stop(f->mtls);
    natsd_stop(f->plain);
    testcerts_destroy(&f->tc);
    return 0;
}

static struct span none(void)
{
    return span_make(NULL, 0);
}

/* Subscribes, publishes a small and a 200 KB message, checks both. */
static void roundtrip(struct loop *l, struct nats_client *c)
{
    struct natstest_msgs *got = calloc(1, sizeof(*got));
    struct nats_sub *s;
    assert_int_equal(nats_client_subscribe(c, SPAN_LIT("tls.x"), none(), natstest_on_msg, got, &s),
                     0);
    assert_int_equal(natstest_flush(l, c), 0);
    size_t big = 200000;
    uint8_t *data = malloc(big);
    for (size_t i = 0; i < big; i++)
        data[i] = (uint8_t)(i % 251);
    assert_int_equal(nats_client_publish(c, SPAN_LIT("tls.x"), none(), none(), SPAN_LIT("hi")), 0);
    assert_int_equal(
        nats_client_publish(c, SPAN_LIT("tls.x"), none(), none(), span_make(data, big)), 0);
    for (int i = 0; i < 500; i++)
        assert_int_equal(
            nats_client_publish(c, SPAN_LIT("tls.x"), none(), none(), SPAN_LIT("burst")), 0);
    assert_true(natstest_wait_msgs(l, got, 502, NATSTEST_WAIT_MS));
    assert_memory_equal(got->m[0].payload, "hi", 2);
    assert_int_equal(got->m[1].payload_len, big);
    assert_memory_equal(got->m[1].payload, data, NATSTEST_KEEP);
    assert_int_equal(natstest_flush(l, c), 0);
    assert_int_equal(nats_client_unsubscribe(c, s, 0), 0);
    free(data);
    free(got);
}

static struct nats_client *client(struct loop *l, struct natstest_events *ev, const char *url,
                                  const char *ca, const char *cert, const char *key)
{
    struct nats_client_config cfg;
    natstest_config(&cfg, url, ev);
    cfg.ca_path = ca;
    cfg.cert_path = cert;
    cfg.key_path = key;
    return natstest_client(l, &cfg);
}

static void test_tls_upgrade(void **state)
{
    struct fixture *f = *state;
    struct loop *l = natstest_loop();
    struct natstest_events ev = {0}, ev2 = {0};
    /* nats:// URL, the server's INFO demands TLS; verified against the IP SAN. */
    struct nats_client *c = client(l, &ev, natsd_url(f->tls), f->tc.ca, NULL, NULL);
    assert_true(natstest_wait_up(l, &ev, 1));
    const struct nats_info *info = nats_client_server_info(c);
    assert_true(info->tls_required);
    roundtrip(l, c);

    /* tls:// URL with a host name: resolved off the loop, DNS SAN checked. */
    char url[128];
    snprintf(url, sizeof(url), "tls://localhost:%u", (unsigned)natsd_port(f->tls));
    struct nats_client *c2 = client(l, &ev2, url, f->tc.ca, NULL, NULL);
    assert_true(natstest_wait_up(l, &ev2, 1));
    roundtrip(l, c2);
    assert_int_equal(ev.errors + ev2.errors, 0);
    nats_client_destroy(c);
    nats_client_destroy(c2);
    loop_destroy(l);
}

static void test_mtls(void **state)
{
    struct fixture *f = *state;
    struct loop *l = natstest_loop();
    struct natstest_events ev = {0}, bad = {0};
    struct nats_client *c =
        client(l, &ev, natsd_url(f->mtls), f->tc.ca, f->tc.client, f->tc.client_key);
    assert_true(natstest_wait_up(l, &ev, 1));
    roundtrip(l, c);

    /* Without a client certificate the server refuses the handshake. */
    struct nats_client *c2 = client(l, &bad, natsd_url(f->mtls), f->tc.ca, NULL, NULL);
    natstest_run_for(l, 600);
    assert_int_equal(bad.connected, 0);
    assert_int_equal(nats_client_state(c2), NATS_CLIENT_CONNECTING);
    nats_client_destroy(c);
    nats_client_destroy(c2);
    loop_destroy(l);
}

static bool got_error(void *arg)
{
    return ((struct natstest_events *)arg)->errors > 0;
}

static void test_untrusted(void **state)
{
    struct fixture *f = *state;
    struct loop *l = natstest_loop();
    struct natstest_events ev = {0};
    struct nats_client *c = client(l, &ev, natsd_url(f->tls), f->tc.other_ca, NULL, NULL);
    assert_true(natstest_run_until(l, got_error, &ev, NATSTEST_WAIT_MS));
    assert_int_equal(ev.last_error, NATS_E_TLS);
    assert_true(strlen(ev.last_error_text) > 0);
    assert_int_equal(ev.connected, 0);
    nats_client_destroy(c);
    loop_destroy(l);
}

static void test_tls_url_plain_server(void **state)
{
    struct fixture *f = *state;
    struct loop *l = natstest_loop();
    struct natstest_events ev = {0};
    char url[128];
    snprintf(url, sizeof(url), "tls://127.0.0.1:%u", (unsigned)natsd_port(f->plain));
    struct nats_client *c = client(l, &ev, url, f->tc.ca, NULL, NULL);
    natstest_run_for(l, 300);
    assert_int_equal(ev.connected, 0);
    nats_client_destroy(c);
    loop_destroy(l);
}

static void test_bad_material(void **state)
{
    struct fixture *f = *state;
    struct loop *l = natstest_loop();
    struct nats_client_config cfg;
    struct nats_client *c = NULL;
    char err[256];
    nats_client_config_defaults(&cfg);
    cfg.ca_path = "/nonexistent/ca.pem";
    assert_int_equal(nats_client_create(&c, l, &cfg, err, sizeof(err)), NATS_E_CONFIG);
    assert_null(c);
    assert_non_null(strstr(err, "/nonexistent/ca.pem"));
    cfg.ca_path = f->tc.ca;
    cfg.cert_path = f->tc.client;
    assert_int_equal(nats_client_create(&c, l, &cfg, err, sizeof(err)), NATS_E_CONFIG);
    cfg.key_path = f->tc.server_key; /* not the certificate's key */
    assert_int_equal(nats_client_create(&c, l, &cfg, err, sizeof(err)), NATS_E_CONFIG);
    assert_null(c);
    loop_destroy(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_upgrade),  cmocka_unit_test(test_mtls),
        cmocka_unit_test(test_untrusted),    cmocka_unit_test(test_tls_url_plain_server),
        cmocka_unit_test(test_bad_material),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
