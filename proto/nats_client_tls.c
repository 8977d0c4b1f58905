/*
 * proto/nats_client_tls.c — the client's TLS material (CA anchors,
 * optional client certificate and key) and its one TLS engine, reused by
 * every connection attempt.
 *
 * Material is loaded once, at nats_client_create, so a wrong path or a
 * key that does not match its certificate is a start-up error, not a
 * retry loop. Without a CA file the system bundle is used, loaded on the
 * first connection that needs TLS.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "proto/nats_client_internal.h"
#include "proto/tls.h"
#include "proto/tls_pem.h"

#define SYSTEM_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"

struct nats_client_tls {
    struct tls_pem_anchors anchors;
    struct tls_pem_chain chain;
    struct tls_pem_key key;
    bool have_cert;
    struct tls_conn engine;
};

static int fail(char *err, size_t errlen, int rc, const char *what, const char *detail)
{
    snprintf(err, errlen, "%s: %s", what, detail);
    return rc < 0 ? rc : NATS_E_CONFIG;
}

static int ensure(struct nats_client *c)
{
    if (c->tls == NULL)
        c->tls = calloc(1, sizeof(*c->tls));
    return c->tls ? 0 : -ENOMEM;
}

int nats_client_tls_load(struct nats_client *c, char *err, size_t errlen)
{
    const struct nats_client_config *cfg = &c->cfg;
    char msg[256];
    int rc;
    bool cert = cfg->cert_path && *cfg->cert_path, key = cfg->key_path && *cfg->key_path;
    bool ca = cfg->ca_path && *cfg->ca_path;
    if (cert != key)
        return fail(err, errlen, NATS_E_CONFIG, "TLS client certificate",
                    "--nats-cert and --nats-key go together");
    if (!ca && !cert)
        return 0;
    if (ensure(c) != 0)
        return fail(err, errlen, -ENOMEM, "TLS", "out of memory");
    if (ca && (rc = tls_pem_anchors_load(&c->tls->anchors, cfg->ca_path, msg, sizeof(msg))) != 0)
        return fail(err, errlen, NATS_E_CONFIG, "TLS CA", msg);
    if (cert) {
        if ((rc = tls_pem_chain_load(&c->tls->chain, cfg->cert_path, msg, sizeof(msg))) != 0 ||
            (rc = tls_pem_key_load(&c->tls->key, cfg->key_path, msg, sizeof(msg))) != 0 ||
            (rc = tls_pem_check_pair(&c->tls->chain, &c->tls->key, msg, sizeof(msg))) != 0)
            return fail(err, errlen, NATS_E_CONFIG, "TLS client certificate", msg);
        c->tls->have_cert = true;
    }
    return 0;
}

struct tls_conn *nats_client_tls_engine(struct nats_client *c)
{
    return &c->tls->engine;
}

int nats_client_tls_begin(struct nats_client *c, const char *server_name)
{
    char msg[256];
    if (ensure(c) != 0)
        return -ENOMEM;
    if (c->tls->anchors.n == 0 &&
        tls_pem_anchors_load(&c->tls->anchors, SYSTEM_CA_BUNDLE, msg, sizeof(msg)) != 0)
        return NATS_E_CONFIG;
    struct tls_client_config tc = {
        .anchors = &c->tls->anchors,
        .server_name = server_name,
        .chain = c->tls->have_cert ? &c->tls->chain : NULL,
        .key = c->tls->have_cert ? &c->tls->key : NULL,
    };
    return tls_conn_client_init(&c->tls->engine, &tc) == 0 ? 0 : NATS_E_TLS;
}

void nats_client_tls_free(struct nats_client *c)
{
    if (c->tls == NULL)
        return;
    tls_pem_anchors_free(&c->tls->anchors);
    tls_pem_chain_free(&c->tls->chain);
    tls_pem_key_wipe(&c->tls->key);
    /* The engine holds session keys. */
    sodium_memzero(c->tls, sizeof(*c->tls));
    free(c->tls);
    c->tls = NULL;
}
