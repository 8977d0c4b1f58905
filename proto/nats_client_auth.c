/*
 * proto/nats_client_auth.c — credentials and the CONNECT line.
 *
 * A .creds file (user JWT + seed) or an NKEY seed file is read once at
 * creation into wiped-on-free memory (proto/creds.h) and checked: the
 * seed must decode and be a user key. The key itself is derived again for
 * each CONNECT and wiped right after signing the server's nonce, so the
 * expanded secret never outlives the handshake. user:pass@ and token@ come
 * from the URL being connected to. The CONNECT text (which holds secrets)
 * is built in a temporary buffer that is wiped before it is freed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "proto/nats_client_internal.h"
#include "proto/nats_encode.h"
#include "proto/nkey.h"

int nats_client_auth_load(struct nats_client *c, char *err, size_t errlen)
{
    const char *creds = c->cfg.creds_path, *nkey = c->cfg.nkey_path;
    bool has_creds = creds && *creds, has_nkey = nkey && *nkey;
    if (has_creds && has_nkey) {
        snprintf(err, errlen, "--nats-creds and --nats-nkey cannot be used together");
        return NATS_E_CONFIG;
    }
    if (!has_creds && !has_nkey)
        return 0;
    const char *path = has_creds ? creds : nkey;
    const char *what = has_creds ? "NATS credentials file" : "NKEY seed file";
    int rc = creds_file_load(&c->creds, path);
    if (rc != 0) {
        snprintf(err, errlen, "%s %s: %s", what, path, creds_strerror(rc));
        return NATS_E_CONFIG;
    }
    if (has_creds && c->creds.creds.kind != CREDS_KIND_USER) {
        snprintf(err, errlen, "%s %s: no user JWT in it", what, path);
        creds_file_free(&c->creds);
        return NATS_E_CONFIG;
    }
    struct nkey k;
    rc = nkey_from_seed(&k, (const char *)c->creds.creds.seed.p, c->creds.creds.seed.n);
    enum nkey_type type = k.type;
    nkey_wipe(&k);
    if (rc != 0 || type != NKEY_TYPE_USER) {
        snprintf(err, errlen, "%s %s: %s", what, path,
                 rc != 0 ? nkey_strerror(rc) : "the seed is not a user key");
        creds_file_free(&c->creds);
        return NATS_E_CONFIG;
    }
    c->have_creds = true;
    return 0;
}

void nats_client_auth_free(struct nats_client *c)
{
    creds_file_free(&c->creds);
    c->have_creds = false;
}

int nats_client_auth_connect(struct nats_client *c, const struct nats_server *s)
{
    struct nats_connect_opts o = {
        .name = c->name,
        .version = NATS_CLIENT_VERSION,
        .echo = c->cfg.echo,
        .tls_required = c->tls_active,
    };
    char pub[NKEY_PUBLIC_LEN + 1];
    char sig[NKEY_SIG_B64_LEN + 1];
    char *jwt = NULL;
    int rc;

    if (c->have_creds) {
        struct nkey k;
        const struct creds *cr = &c->creds.creds;
        if (nkey_from_seed(&k, (const char *)cr->seed.p, cr->seed.n) != 0) {
            nats_client_lose(c, NATS_E_AUTH, LOOP_CLOSE_ABORT);
            return NATS_E_AUTH;
        }
        if (c->info.nonce[0]) {
            nkey_sign_b64(&k, (const uint8_t *)c->info.nonce, strlen(c->info.nonce), sig);
            o.sig = sig;
        }
        if (cr->kind == CREDS_KIND_USER) {
            jwt = malloc(cr->jwt.n + 1);
            if (jwt == NULL) {
                nkey_wipe(&k);
                nats_client_lose(c, -ENOMEM, LOOP_CLOSE_ABORT);
                return -ENOMEM;
            }
            memcpy(jwt, cr->jwt.p, cr->jwt.n);
            jwt[cr->jwt.n] = '\0';
            o.jwt = jwt;
        } else {
            nkey_public(&k, pub);
            o.nkey = pub;
        }
        nkey_wipe(&k);
    } else if (s->user) {
        o.user = s->user;
        o.pass = s->pass;
    } else if (s->token) {
        o.auth_token = s->token;
    }

    int size = nats_encode_connect_size(&o);
    uint8_t *buf = size > 0 ? malloc((size_t)size) : NULL;
    if (buf == NULL) {
        free(jwt);
        nats_client_lose(c, -ENOMEM, LOOP_CLOSE_ABORT);
        return -ENOMEM;
    }
    int n = nats_encode_connect(buf, (size_t)size, &o);
    struct iovec v = {buf, n > 0 ? (size_t)n : 0};
    rc = n > 0 ? nats_client_io_write(c, &v, 1) : NATS_E_CONFIG;
    sodium_memzero(buf, (size_t)size);
    free(buf);
    sodium_memzero(sig, sizeof(sig));
    free(jwt);
    if (n <= 0)
        nats_client_lose(c, NATS_E_CONFIG, LOOP_CLOSE_ABORT);
    return rc;
}
