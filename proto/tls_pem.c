/*
 * proto/tls_pem.c — see tls_pem.h.
 *
 * One walker (pem_walk) splits the input into DER objects, PEM or raw, and
 * hands each to a per-loader callback; the loaders only decide what an
 * object means. Memory only: reading files is in tls_pem_file.c.
 */
#include "proto/tls_pem.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/outbuf.h"
#include "proto/tls.h"

/* --------------------------------------------------------------- errors */

const char *tls_pem_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case TLS_PEM_E_TOO_LARGE:
        return "file too large";
    case TLS_PEM_E_PEM:
        return "PEM decode error";
    case TLS_PEM_E_NO_CERT:
        return "no certificate in file";
    case TLS_PEM_E_BAD_CERT:
        return "certificate decode error";
    case TLS_PEM_E_TOO_MANY:
        return "too many certificates";
    case TLS_PEM_E_NO_KEY:
        return "no private key in file";
    case TLS_PEM_E_BAD_KEY:
        return "private key decode error";
    case TLS_PEM_E_UNSUPPORTED_KEY:
        return "unsupported key type";
    case TLS_PEM_E_ENCRYPTED_KEY:
        return "encrypted private keys are not supported";
    case TLS_PEM_E_MULTIPLE_KEYS:
        return "more than one private key in file";
    case TLS_PEM_E_KEY_MISMATCH:
        return "private key does not match certificate";
    case TLS_PEM_E_NOT_FILE:
        return "not a regular file";
    default:
        if (err < 0 && err > -4096)
            return strerror(-err);
        return "unknown error";
    }
}

/* --------------------------------------------------------------- walker */

/*
 * Per-object callback: name is the PEM label ("" for raw DER), der/len
 * the decoded object, line the line of its BEGIN banner (0 for raw DER).
 * Returns 0 or a negative code (walk stops and returns it).
 */
typedef int (*pem_object_fn)(void *cookie, const char *name, const uint8_t *der, size_t len,
                             unsigned line);

struct pem_sink {
    uint8_t *buf;
    size_t len, cap;
    int overflow;
};

static void pem_sink_append(void *ctx, const void *p, size_t n)
{
    struct pem_sink *s = ctx;

    if (n > s->cap - s->len) {
        s->overflow = 1;
        return;
    }
    memcpy(s->buf + s->len, p, n);
    s->len += n;
}

/* Reads one DER TLV header; returns total length (header + content) or 0. */
static size_t der_total_len(const uint8_t *p, size_t n)
{
    size_t len, hdr, k;

    if (n < 2 || (p[0] & 0x1f) == 0x1f)
        return 0;
    if (p[1] < 0x80) {
        len = p[1];
        hdr = 2;
    } else {
        k = p[1] & 0x7f;
        if (k == 0 || k > 4 || n < 2 + k)
            return 0;
        len = 0;
        for (size_t i = 0; i < k; i++)
            len = (len << 8) | p[2 + i];
        hdr = 2 + k;
    }
    if (len > n - hdr)
        return 0;
    return hdr + len;
}

static unsigned count_lines(const uint8_t *p, size_t n)
{
    unsigned c = 0;

    for (size_t i = 0; i < n; i++)
        c += p[i] == '\n';
    return c;
}

/*
 * Copies a BEGIN label without its trailing dashes, CR and blanks: with
 * CRLF line ends the decoder hands over "CERTIFICATE-----".
 */
static void pem_label(char *dst, const char *src, size_t cap)
{
    size_t n = strnlen(src, cap - 1);

    while (n > 0 &&
           (src[n - 1] == '-' || src[n - 1] == '\r' || src[n - 1] == ' ' || src[n - 1] == '\t'))
        n--;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/*
 * Feeds buf to BearSSL's streaming PEM decoder. The decoder pauses at each
 * event; we count newlines in what it consumed so errors can name a line.
 * A raw DER input (one SEQUENCE spanning the whole buffer) is passed on as
 * a single nameless object.
 */
static int pem_walk(const uint8_t *buf, size_t n, pem_object_fn fn, void *cookie, char *err,
                    size_t errlen)
{
    br_pem_decoder_context pc;
    struct pem_sink sink = {0};
    size_t pos = 0;
    unsigned line = 1, at = 1, obj_line = 0;
    int in_obj = 0, rc = 0, tail = 0;
    char name[sizeof(pc.name)];

    if (n > 0 && buf[0] == 0x30 && der_total_len(buf, n) == n)
        return fn(cookie, "", buf, n, 0);

    /* Base64 shrinks data: no object decodes to more than the input. */
    sink.cap = n;
    sink.buf = malloc(n > 0 ? n : 1);
    if (sink.buf == NULL)
        return -ENOMEM;
    br_pem_decoder_init(&pc);
    /* One newline is pushed after the input: the decoder only
     * recognises an END banner once its line is complete. */
    while (!tail) {
        const uint8_t *p = pos < n ? buf + pos : (const uint8_t *)"\n";
        size_t avail = pos < n ? n - pos : 1;
        size_t k = br_pem_decoder_push(&pc, p, avail);
        int ev;

        /* Events fire on the newline that ends a banner or a bad line:
         * report the line that newline belongs to. */
        if (pos < n) {
            line += count_lines(p, k);
            pos += k;
            at = k > 0 && p[k - 1] == '\n' ? line - 1 : line;
        } else {
            tail = 1;
            at = line;
        }
        ev = br_pem_decoder_event(&pc);
        /* The decoder only stops short at an event: anything else
         * would never terminate. */
        if (k == 0 && ev == 0) {
            outbuf_errf(err, errlen, "PEM decoder stalled at line %u", at);
            rc = TLS_PEM_E_PEM;
            goto out;
        }
        switch (ev) {
        case BR_PEM_BEGIN_OBJ:
            pem_label(name, br_pem_decoder_name(&pc), sizeof(name));
            sink.len = 0;
            sink.overflow = 0;
            br_pem_decoder_setdest(&pc, pem_sink_append, &sink);
            in_obj = 1;
            obj_line = at;
            break;
        case BR_PEM_END_OBJ:
            in_obj = 0;
            if (sink.overflow) {
                outbuf_errf(err, errlen, "PEM object '%s' at line %u too large", name, obj_line);
                rc = TLS_PEM_E_PEM;
                goto out;
            }
            rc = fn(cookie, name, sink.buf, sink.len, obj_line);
            if (rc != 0)
                goto out;
            break;
        case BR_PEM_ERROR:
            outbuf_errf(err, errlen, "PEM decode error at line %u", at);
            rc = TLS_PEM_E_PEM;
            goto out;
        default:
            break;
        }
    }
    if (in_obj) {
        outbuf_errf(err, errlen, "PEM decode error at line %u: object '%s' has no END line",
                    obj_line, name);
        rc = TLS_PEM_E_PEM;
    }
out:
    explicit_bzero(sink.buf, sink.cap);
    free(sink.buf);
    explicit_bzero(&pc, sizeof(pc));
    return rc;
}

/* " at line N" for PEM objects, " (DER)" for a raw DER input. */
struct where {
    char text[32];
};

static struct where where(unsigned line)
{
    struct where w;

    if (line == 0)
        snprintf(w.text, sizeof(w.text), " (DER)");
    else
        snprintf(w.text, sizeof(w.text), " at line %u", line);
    return w;
}

static int is_cert_name(const char *name)
{
    return name[0] == '\0' || strcmp(name, "CERTIFICATE") == 0 ||
           strcmp(name, "X509 CERTIFICATE") == 0;
}

/* ------------------------------------------------------------ X.509 DER */

static void dn_append(void *ctx, const void *p, size_t n)
{
    pem_sink_append(ctx, p, n);
}

static size_t pkey_size(const br_x509_pkey *pk)
{
    if (pk->key_type == BR_KEYTYPE_RSA)
        return pk->key.rsa.nlen + pk->key.rsa.elen;
    return pk->key.ec.qlen;
}

/* Deep-copies src's key bytes into dst_buf (pkey_size(src) bytes). */
static void pkey_copy(br_x509_pkey *dst, uint8_t *dst_buf, const br_x509_pkey *src)
{
    *dst = *src;
    if (src->key_type == BR_KEYTYPE_RSA) {
        memcpy(dst_buf, src->key.rsa.n, src->key.rsa.nlen);
        memcpy(dst_buf + src->key.rsa.nlen, src->key.rsa.e, src->key.rsa.elen);
        dst->key.rsa.n = dst_buf;
        dst->key.rsa.e = dst_buf + src->key.rsa.nlen;
    } else {
        memcpy(dst_buf, src->key.ec.q, src->key.ec.qlen);
        dst->key.ec.q = dst_buf;
    }
}

/*
 * Decodes one certificate. With dn != NULL the subject DN is collected
 * there (its buffer must hold len bytes: a DN is inside the certificate).
 * Returns 0 with *pk pointing into *xd, or a BearSSL error code (positive).
 */
static int cert_decode(br_x509_decoder_context *xd, struct pem_sink *dn, const uint8_t *der,
                       size_t len, const br_x509_pkey **pk)
{
    br_x509_decoder_init(xd, dn ? dn_append : NULL, dn);
    br_x509_decoder_push(xd, der, len);
    *pk = br_x509_decoder_get_pkey(xd);
    if (*pk == NULL)
        return br_x509_decoder_last_error(xd);
    if (dn != NULL && dn->overflow)
        return BR_ERR_X509_LIMIT_EXCEEDED;
    return 0;
}

/* -------------------------------------------------------------- anchors */

struct anchors_walk {
    struct tls_pem_anchors *a;
    size_t cap;
    size_t skipped;
    char skipped_name[64];
    char *err;
    size_t errlen;
};

static int anchors_object(void *cookie, const char *name, const uint8_t *der, size_t len,
                          unsigned line)
{
    struct anchors_walk *w = cookie;
    struct tls_pem_anchors *a = w->a;
    br_x509_decoder_context xd;
    struct pem_sink dn = {0};
    const br_x509_pkey *pk;
    br_x509_trust_anchor *ta;
    uint8_t *block;
    size_t ksz;
    int e;

    if (!is_cert_name(name)) {
        if (w->skipped++ == 0)
            snprintf(w->skipped_name, sizeof(w->skipped_name), "%s", name);
        return 0;
    }
    if (a->n == TLS_PEM_MAX_ANCHORS) {
        outbuf_errf(w->err, w->errlen, "more than %u certificates", TLS_PEM_MAX_ANCHORS);
        return TLS_PEM_E_TOO_MANY;
    }
    dn.cap = len;
    dn.buf = malloc(len > 0 ? len : 1);
    if (dn.buf == NULL)
        return -ENOMEM;
    e = cert_decode(&xd, &dn, der, len, &pk);
    if (e == BR_ERR_X509_UNSUPPORTED) {
        /* A root BearSSL cannot use (Ed25519, exotic curve) can verify
         * nothing here; skipping it keeps a growing system bundle usable. */
        a->unsupported++;
        free(dn.buf);
        return 0;
    }
    if (e != 0) {
        outbuf_errf(w->err, w->errlen, "certificate%s: %s", where(line).text, tls_strerror(-e));
        free(dn.buf);
        return TLS_PEM_E_BAD_CERT;
    }
    ksz = pkey_size(pk);
    /* One block per anchor: DN bytes, then key bytes. */
    block = malloc(dn.len + ksz > 0 ? dn.len + ksz : 1);
    if (block == NULL) {
        free(dn.buf);
        return -ENOMEM;
    }
    if (a->n == w->cap) {
        size_t ncap = w->cap ? w->cap * 2 : 8;
        br_x509_trust_anchor *nta = realloc(a->ta, ncap * sizeof(*nta));

        if (nta == NULL) {
            free(block);
            free(dn.buf);
            return -ENOMEM;
        }
        a->ta = nta;
        w->cap = ncap;
    }
    ta = &a->ta[a->n];
    memcpy(block, dn.buf, dn.len);
    ta->dn.data = block;
    ta->dn.len = dn.len;
    ta->flags = br_x509_decoder_isCA(&xd) ? BR_X509_TA_CA : 0;
    pkey_copy(&ta->pkey, block + dn.len, pk);
    a->n++;
    free(dn.buf);
    return 0;
}

void tls_pem_anchors_free(struct tls_pem_anchors *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->n; i++)
        free(a->ta[i].dn.data);
    free(a->ta);
    memset(a, 0, sizeof(*a));
}

int tls_pem_anchors_parse(struct tls_pem_anchors *a, const uint8_t *buf, size_t n, char *err,
                          size_t errlen)
{
    struct anchors_walk w = {.a = a, .err = err, .errlen = errlen};
    int rc;

    memset(a, 0, sizeof(*a));
    if (n > TLS_PEM_MAX_FILE) {
        outbuf_errf(err, errlen, "input larger than %u bytes", TLS_PEM_MAX_FILE);
        return TLS_PEM_E_TOO_LARGE;
    }
    rc = pem_walk(buf, n, anchors_object, &w, err, errlen);
    if (rc == 0 && a->n == 0) {
        if (a->unsupported > 0)
            outbuf_errf(err, errlen,
                        "no usable certificate in file (%zu with unsupported key types)",
                        a->unsupported);
        else if (w.skipped > 0)
            outbuf_errf(err, errlen,
                        "no certificate in file (skipped %zu other object(s), e.g. '%s')",
                        w.skipped, w.skipped_name);
        else
            outbuf_errf(err, errlen, "no certificate in file");
        rc = TLS_PEM_E_NO_CERT;
    }
    if (rc != 0)
        tls_pem_anchors_free(a);
    return rc;
}

/* ---------------------------------------------------------------- chain */

struct chain_walk {
    struct tls_pem_chain *c;
    br_x509_certificate certs[TLS_PEM_MAX_CHAIN];
    char *err;
    size_t errlen;
};

static int chain_object(void *cookie, const char *name, const uint8_t *der, size_t len,
                        unsigned line)
{
    struct chain_walk *w = cookie;
    struct tls_pem_chain *c = w->c;
    br_x509_decoder_context xd;
    const br_x509_pkey *pk;
    uint8_t *copy;
    int e;

    if (!is_cert_name(name))
        return 0;
    if (c->n == TLS_PEM_MAX_CHAIN) {
        outbuf_errf(w->err, w->errlen, "more than %u certificates in chain", TLS_PEM_MAX_CHAIN);
        return TLS_PEM_E_TOO_MANY;
    }
    e = cert_decode(&xd, NULL, der, len, &pk);
    if (e != 0) {
        outbuf_errf(w->err, w->errlen, "certificate%s: %s", where(line).text, tls_strerror(-e));
        return TLS_PEM_E_BAD_CERT;
    }
    if (c->n == 0) {
        if (pkey_size(pk) > sizeof(c->pkey_buf)) {
            outbuf_errf(w->err, w->errlen, "certificate%s: public key too large", where(line).text);
            return TLS_PEM_E_BAD_CERT;
        }
        pkey_copy(&c->pkey, c->pkey_buf, pk);
        c->key_type = pk->key_type;
        c->issuer_key_type = br_x509_decoder_get_signer_key_type(&xd);
    }
    copy = malloc(len);
    if (copy == NULL)
        return -ENOMEM;
    memcpy(copy, der, len);
    w->certs[c->n].data = copy;
    w->certs[c->n].data_len = len;
    c->n++;
    return 0;
}

void tls_pem_chain_free(struct tls_pem_chain *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n; i++)
        free(c->certs[i].data);
    free(c->certs);
    memset(c, 0, sizeof(*c));
}

int tls_pem_chain_parse(struct tls_pem_chain *c, const uint8_t *buf, size_t n, char *err,
                        size_t errlen)
{
    struct chain_walk w = {.c = c, .err = err, .errlen = errlen};
    int rc;

    memset(c, 0, sizeof(*c));
    if (n > TLS_PEM_MAX_FILE) {
        outbuf_errf(err, errlen, "input larger than %u bytes", TLS_PEM_MAX_FILE);
        return TLS_PEM_E_TOO_LARGE;
    }
    rc = pem_walk(buf, n, chain_object, &w, err, errlen);
    if (rc == 0 && c->n == 0) {
        outbuf_errf(err, errlen, "no certificate in file");
        rc = TLS_PEM_E_NO_CERT;
    }
    if (rc == 0) {
        c->certs = malloc(c->n * sizeof(*c->certs));
        if (c->certs == NULL)
            rc = -ENOMEM;
        else
            memcpy(c->certs, w.certs, c->n * sizeof(*c->certs));
    }
    if (rc != 0) {
        for (size_t i = 0; i < c->n; i++)
            free(w.certs[i].data);
        memset(c, 0, sizeof(*c));
    }
    return rc;
}

/* ------------------------------------------------------------------ key */

struct key_walk {
    struct tls_pem_key *k;
    int encrypted;
    char *err;
    size_t errlen;
};

static int ec_curve_supported(int curve)
{
    return curve == BR_EC_secp256r1 || curve == BR_EC_secp384r1 || curve == BR_EC_secp521r1;
}

/* Copies a decoded key into k->buf; the decoder context is wiped by the caller. */
static void key_store(struct tls_pem_key *k, const br_skey_decoder_context *sd)
{
    uint8_t *p = k->buf;

    if (br_skey_decoder_key_type(sd) == BR_KEYTYPE_RSA) {
        const br_rsa_private_key *s = br_skey_decoder_get_rsa(sd);
        br_rsa_private_key *d = &k->u.rsa;

        d->n_bitlen = s->n_bitlen;
#define KEY_PART(f, l)                                                                             \
    do {                                                                                           \
        memcpy(p, s->f, s->l);                                                                     \
        d->f = p;                                                                                  \
        d->l = s->l;                                                                               \
        p += s->l;                                                                                 \
    } while (0)
        KEY_PART(p, plen);
        KEY_PART(q, qlen);
        KEY_PART(dp, dplen);
        KEY_PART(dq, dqlen);
        KEY_PART(iq, iqlen);
#undef KEY_PART
        k->type = BR_KEYTYPE_RSA;
    } else {
        const br_ec_private_key *s = br_skey_decoder_get_ec(sd);

        memcpy(p, s->x, s->xlen);
        k->u.ec.curve = s->curve;
        k->u.ec.x = p;
        k->u.ec.xlen = s->xlen;
        k->type = BR_KEYTYPE_EC;
    }
}

static int key_object(void *cookie, const char *name, const uint8_t *der, size_t len, unsigned line)
{
    struct key_walk *w = cookie;
    br_skey_decoder_context sd;
    int e, rc = 0;

    if (strcmp(name, "ENCRYPTED PRIVATE KEY") == 0) {
        w->encrypted = 1;
        outbuf_errf(w->err, w->errlen, "key%s is encrypted (decrypt it first)", where(line).text);
        return TLS_PEM_E_ENCRYPTED_KEY;
    }
    if (name[0] != '\0' && strcmp(name, "PRIVATE KEY") != 0 &&
        strcmp(name, "RSA PRIVATE KEY") != 0 && strcmp(name, "EC PRIVATE KEY") != 0)
        return 0;
    if (w->k->type != 0) {
        outbuf_errf(w->err, w->errlen, "second private key%s", where(line).text);
        return TLS_PEM_E_MULTIPLE_KEYS;
    }
    br_skey_decoder_init(&sd);
    br_skey_decoder_push(&sd, der, len);
    e = br_skey_decoder_last_error(&sd);
    if (e == BR_ERR_X509_UNSUPPORTED) {
        outbuf_errf(w->err, w->errlen,
                    "key%s: unsupported key type or curve (RSA, or EC P-256/P-384/P-521)",
                    where(line).text);
        rc = TLS_PEM_E_UNSUPPORTED_KEY;
    } else if (e != 0) {
        outbuf_errf(w->err, w->errlen, "key%s: %s", where(line).text, tls_strerror(-e));
        rc = TLS_PEM_E_BAD_KEY;
    } else if (br_skey_decoder_key_type(&sd) == BR_KEYTYPE_EC &&
               !ec_curve_supported(br_skey_decoder_get_ec(&sd)->curve)) {
        outbuf_errf(w->err, w->errlen, "key%s: unsupported EC curve (P-256, P-384, P-521 only)",
                    where(line).text);
        rc = TLS_PEM_E_UNSUPPORTED_KEY;
    } else {
        key_store(w->k, &sd);
    }
    explicit_bzero(&sd, sizeof(sd));
    return rc;
}

void tls_pem_key_wipe(struct tls_pem_key *k)
{
    if (k != NULL)
        explicit_bzero(k, sizeof(*k));
}

int tls_pem_key_parse(struct tls_pem_key *k, const uint8_t *buf, size_t n, char *err, size_t errlen)
{
    static const char legacy_enc[] = "Proc-Type: 4,ENCRYPTED";
    struct key_walk w = {.k = k, .err = err, .errlen = errlen};
    int rc;

    memset(k, 0, sizeof(*k));
    if (n > TLS_PEM_MAX_FILE) {
        outbuf_errf(err, errlen, "input larger than %u bytes", TLS_PEM_MAX_FILE);
        return TLS_PEM_E_TOO_LARGE;
    }
    /* Legacy OpenSSL encryption puts headers inside the PEM body, which
     * the decoder would only report as bad Base64. */
    if (memmem(buf, n, legacy_enc, sizeof(legacy_enc) - 1) != NULL) {
        outbuf_errf(err, errlen, "key is encrypted (decrypt it first)");
        return TLS_PEM_E_ENCRYPTED_KEY;
    }
    rc = pem_walk(buf, n, key_object, &w, err, errlen);
    if (rc == 0 && k->type == 0) {
        outbuf_errf(err, errlen, "no private key in file");
        rc = TLS_PEM_E_NO_KEY;
    }
    if (rc != 0)
        tls_pem_key_wipe(k);
    return rc;
}

/* --------------------------------------------------------- pair check */

/* Compares two big-endian unsigned integers, ignoring leading zeros. */
static int be_int_eq(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    while (an > 0 && *a == 0) {
        a++;
        an--;
    }
    while (bn > 0 && *b == 0) {
        b++;
        bn--;
    }
    return an == bn && memcmp(a, b, an) == 0;
}

int tls_pem_check_pair(const struct tls_pem_chain *c, const struct tls_pem_key *k, char *err,
                       size_t errlen)
{
    uint8_t buf[BR_X509_BUFSIZE_KEY];

    if (c == NULL || k == NULL || c->n == 0 || k->type == 0) {
        outbuf_errf(err, errlen, "certificate chain or key not loaded");
        return -EINVAL;
    }
    if (c->key_type != k->type) {
        outbuf_errf(err, errlen, "private key is %s but the certificate key is %s",
                    k->type == BR_KEYTYPE_RSA ? "RSA" : "EC",
                    c->key_type == BR_KEYTYPE_RSA ? "RSA" : "EC");
        return TLS_PEM_E_KEY_MISMATCH;
    }
    if (k->type == BR_KEYTYPE_RSA) {
        br_rsa_compute_modulus modulus = br_rsa_compute_modulus_get_default();
        size_t len = modulus(NULL, &k->u.rsa);

        if (len == 0 || len > sizeof(buf) || modulus(buf, &k->u.rsa) != len ||
            !be_int_eq(buf, len, c->pkey.key.rsa.n, c->pkey.key.rsa.nlen)) {
            outbuf_errf(err, errlen, "RSA private key does not match the certificate");
            return TLS_PEM_E_KEY_MISMATCH;
        }
    } else {
        br_ec_public_key pub;
        size_t len;

        if (k->u.ec.curve != c->pkey.key.ec.curve) {
            outbuf_errf(err, errlen, "EC private key is on another curve than the certificate");
            return TLS_PEM_E_KEY_MISMATCH;
        }
        len = br_ec_compute_pub(br_ec_get_default(), &pub, buf, &k->u.ec);
        if (len == 0 || len != c->pkey.key.ec.qlen || memcmp(buf, c->pkey.key.ec.q, len) != 0) {
            outbuf_errf(err, errlen, "EC private key does not match the certificate");
            return TLS_PEM_E_KEY_MISMATCH;
        }
    }
    return 0;
}
