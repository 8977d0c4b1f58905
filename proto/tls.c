/*
 * proto/tls.c — see tls.h. Thin: BearSSL does the protocol; this file
 * chooses the profile, wires the validator and keys in, and turns the
 * engine's four buffer/ack pairs into bounded copy loops with sticky
 * errors.
 */
#include "proto/tls.h"

#include <string.h>
#include <sys/random.h>

#include "proto/tls_internal.h"

/*
 * Forward-secret AEAD suites only, client preference order (AES-GCM first:
 * BearSSL uses AES-NI/PCLMUL where present). Excludes static RSA/ECDH key
 * exchange, CBC and 3DES, all of which the "full" profiles enable.
 */
static const uint16_t tls_suites[] = {
    BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    BR_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    BR_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
};

static br_ssl_engine_context *eng(struct tls_conn *c)
{
    return c->is_server ? &c->u.server.eng : &c->u.client.eng;
}

static const br_ssl_engine_context *ceng(const struct tls_conn *c)
{
    return c->is_server ? &c->u.server.eng : &c->u.client.eng;
}

/* Latches "handshake done": SENDAPP/RECVAPP only exist after it. */
static void sync_state(struct tls_conn *c)
{
    unsigned st = br_ssl_engine_current_state(eng(c));

    if (st & (BR_SSL_SENDAPP | BR_SSL_RECVAPP))
        c->hs_done = 1;
}

static void fail(struct tls_conn *c, int err)
{
    if (c->err == 0 && br_ssl_engine_last_error(eng(c)) == 0)
        c->err = err;
}

static void conn_reset_fields(struct tls_conn *c, int is_server)
{
    c->is_server = (uint8_t)is_server;
    c->hs_done = 0;
    c->closing = 0;
    c->eof = 0;
    c->err = 0;
}

/* Common profile and start-up, after the role-specific init. */
static void conn_setup(struct tls_conn *c)
{
    br_ssl_engine_context *e = eng(c);
    uint8_t seed[32];

    br_ssl_engine_set_versions(e, BR_TLS12, BR_TLS12);
    br_ssl_engine_set_suites(e, tls_suites, sizeof(tls_suites) / sizeof(tls_suites[0]));
    br_ssl_engine_add_flags(e, BR_OPT_NO_RENEGOTIATION);
    br_ssl_engine_set_buffer(e, c->buf, sizeof(c->buf), 1);
    /* Extra to the engine's own system seeding, never instead of it: a
     * failed getrandom only means less mixing. */
    if (getrandom(seed, sizeof(seed), 0) == (ssize_t)sizeof(seed))
        br_ssl_engine_inject_entropy(e, seed, sizeof(seed));
    explicit_bzero(seed, sizeof(seed));
}

int tls_conn_client_init(struct tls_conn *c, const struct tls_client_config *cfg)
{
    br_ssl_client_context *cc = &c->u.client;
    const struct tls_pem_chain *ch = cfg->chain;
    const struct tls_pem_key *k = cfg->key;
    int rc;

    conn_reset_fields(c, 0);
    if (cfg->anchors == NULL || cfg->anchors->n == 0 || (ch == NULL) != (k == NULL) ||
        (ch != NULL && (ch->n == 0 || k->type == 0 || ch->key_type != k->type)))
        return c->err = TLS_E_CONFIG;
    br_ssl_client_init_full(cc, &c->x509.minimal, cfg->anchors->ta, cfg->anchors->n);
    tls_x509_init(&c->x509, cfg->anchors->ta, cfg->anchors->n);
    rc = tls_x509_set_name(&c->x509, cfg->server_name);
    if (rc != 0)
        return c->err = rc;
    br_ssl_engine_set_x509(&cc->eng, &c->x509.vtable);
    if (ch != NULL && k->type == BR_KEYTYPE_RSA)
        br_ssl_client_set_single_rsa(cc, ch->certs, ch->n, &k->u.rsa,
                                     br_rsa_pkcs1_sign_get_default());
    else if (ch != NULL)
        br_ssl_client_set_single_ec(cc, ch->certs, ch->n, &k->u.ec, BR_KEYTYPE_SIGN,
                                    ch->issuer_key_type ? (unsigned)ch->issuer_key_type
                                                        : BR_KEYTYPE_EC,
                                    br_ec_get_default(), br_ecdsa_sign_asn1_get_default());
    conn_setup(c);
    /* No SNI for IP literals (RFC 6066 3); the validator has its copy. */
    if (!br_ssl_client_reset(cc, c->x509.ip_len ? NULL : c->x509.name, 0))
        return tls_conn_error(c) ? tls_conn_error(c) : -BR_ERR_BAD_STATE;
    return 0;
}

int tls_conn_server_init(struct tls_conn *c, const struct tls_server_config *cfg)
{
    br_ssl_server_context *sc = &c->u.server;
    const struct tls_pem_chain *ch = cfg->chain;
    const struct tls_pem_key *k = cfg->key;
    const struct tls_pem_anchors *ca = cfg->client_anchors;

    conn_reset_fields(c, 1);
    if (ch == NULL || k == NULL || ch->n == 0 || k->type == 0 || ch->key_type != k->type)
        return c->err = TLS_E_CONFIG;
    if (cfg->client_auth != TLS_CLIENT_AUTH_NONE && cfg->client_auth != TLS_CLIENT_AUTH_OPTIONAL &&
        cfg->client_auth != TLS_CLIENT_AUTH_REQUIRE)
        return c->err = TLS_E_CONFIG;
    if (cfg->client_auth != TLS_CLIENT_AUTH_NONE && (ca == NULL || ca->n == 0))
        return c->err = TLS_E_CONFIG;
    if (k->type == BR_KEYTYPE_RSA)
        br_ssl_server_init_full_rsa(sc, ch->certs, ch->n, &k->u.rsa);
    else
        br_ssl_server_init_full_ec(
            sc, ch->certs, ch->n,
            ch->issuer_key_type ? (unsigned)ch->issuer_key_type : BR_KEYTYPE_EC, &k->u.ec);
    if (cfg->client_auth != TLS_CLIENT_AUTH_NONE) {
        tls_x509_init(&c->x509, ca->ta, ca->n);
        br_ssl_engine_set_x509(&sc->eng, &c->x509.vtable);
        /* The server profiles leave out what checks the client's
         * CertificateVerify; without it no certificate type is offered. */
        br_ssl_engine_set_default_rsavrfy(&sc->eng);
        br_ssl_engine_set_default_ecdsa(&sc->eng);
        br_ssl_server_set_trust_anchor_names_alt(sc, ca->ta, ca->n);
        if (cfg->client_auth == TLS_CLIENT_AUTH_OPTIONAL)
            br_ssl_engine_add_flags(&sc->eng, BR_OPT_TOLERATE_NO_CLIENT_AUTH);
    } else {
        /* Keeps peer_verified at 0: no chain will be seen. */
        c->x509.chain_seen = 0;
        c->x509.result = BR_ERR_X509_EMPTY_CHAIN;
    }
    conn_setup(c);
    if (!br_ssl_server_reset(sc))
        return tls_conn_error(c) ? tls_conn_error(c) : -BR_ERR_BAD_STATE;
    return 0;
}

int tls_conn_feed(struct tls_conn *c, const uint8_t *cipher, size_t n, size_t *consumed)
{
    br_ssl_engine_context *e = eng(c);
    size_t done = 0;
    int rc;

    *consumed = 0;
    if (c->err != 0)
        return c->err;
    while (done < n) {
        size_t room;
        unsigned char *buf = br_ssl_engine_recvrec_buf(e, &room);

        if (buf == NULL)
            break;
        if (room > n - done)
            room = n - done;
        memcpy(buf, cipher + done, room);
        br_ssl_engine_recvrec_ack(e, room);
        done += room;
    }
    *consumed = done;
    sync_state(c);
    rc = tls_conn_error(c);
    if (rc != 0)
        return rc;
    if (done < n && tls_conn_is_closed(c))
        return TLS_E_CLOSED;
    return 0;
}

int tls_conn_feed_eof(struct tls_conn *c)
{
    int rc = tls_conn_error(c);

    c->eof = 1;
    if (rc != 0)
        return rc;
    if ((br_ssl_engine_current_state(eng(c)) & BR_SSL_CLOSED) || c->closing)
        return 0;
    c->err = TLS_E_TRUNCATED;
    return c->err;
}

size_t tls_conn_read(struct tls_conn *c, struct span *plain)
{
    size_t len = 0;
    unsigned char *buf = NULL;

    if (c->err == 0)
        buf = br_ssl_engine_recvapp_buf(eng(c), &len);
    *plain = span_make(buf, buf ? len : 0);
    return plain->n;
}

void tls_conn_read_ack(struct tls_conn *c, size_t n)
{
    size_t len = 0;

    if (n == 0 || c->err != 0)
        return;
    if (br_ssl_engine_recvapp_buf(eng(c), &len) == NULL || n > len) {
        fail(c, TLS_E_USAGE);
        return;
    }
    br_ssl_engine_recvapp_ack(eng(c), n);
    sync_state(c);
}

size_t tls_conn_write(struct tls_conn *c, const uint8_t *plain, size_t n)
{
    br_ssl_engine_context *e = eng(c);
    size_t done = 0;

    if (c->closing || c->err != 0)
        return 0;
    while (done < n) {
        size_t room;
        unsigned char *buf = br_ssl_engine_sendapp_buf(e, &room);

        if (buf == NULL)
            break;
        if (room > n - done)
            room = n - done;
        memcpy(buf, plain + done, room);
        br_ssl_engine_sendapp_ack(e, room);
        done += room;
    }
    sync_state(c);
    return done;
}

void tls_conn_flush(struct tls_conn *c)
{
    if (c->err == 0)
        br_ssl_engine_flush(eng(c), 0);
}

size_t tls_conn_pending_out(struct tls_conn *c, struct span *cipher)
{
    size_t len = 0;
    unsigned char *buf = NULL;

    if (c->err == 0)
        buf = br_ssl_engine_sendrec_buf(eng(c), &len);
    *cipher = span_make(buf, buf ? len : 0);
    return cipher->n;
}

void tls_conn_out_ack(struct tls_conn *c, size_t n)
{
    size_t len = 0;

    if (n == 0 || c->err != 0)
        return;
    if (br_ssl_engine_sendrec_buf(eng(c), &len) == NULL || n > len) {
        fail(c, TLS_E_USAGE);
        return;
    }
    br_ssl_engine_sendrec_ack(eng(c), n);
    sync_state(c);
}

void tls_conn_close(struct tls_conn *c)
{
    if (c->closing || c->err != 0)
        return;
    c->closing = 1;
    br_ssl_engine_flush(eng(c), 0);
    br_ssl_engine_close(eng(c));
}

int tls_conn_handshake_done(const struct tls_conn *c)
{
    return c->hs_done;
}

int tls_conn_is_closed(const struct tls_conn *c)
{
    return c->eof || c->err != 0 || (br_ssl_engine_current_state(ceng(c)) & BR_SSL_CLOSED);
}

int tls_conn_error(const struct tls_conn *c)
{
    int e;

    if (c->err != 0)
        return c->err;
    e = br_ssl_engine_last_error(ceng(c));
    return e != 0 ? -e : 0;
}

int tls_conn_peer_verified(const struct tls_conn *c)
{
    if (!c->hs_done || tls_conn_error(c) != 0)
        return 0;
    if (!c->is_server)
        return 1;
    return c->x509.chain_seen && c->x509.result == 0;
}
