/* see jwt_issue.h */
#include "tests/support/jwt_issue.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A bounded string builder: overflow is remembered, not truncated away. */
struct sb {
    char *p;
    size_t cap, len;
    int overflow;
};

static void sb_init(struct sb *b, char *p, size_t cap)
{
    b->p = p;
    b->cap = cap;
    b->len = 0;
    b->overflow = cap == 0;
    if (cap)
        p[0] = '\0';
}

static void sb_mem(struct sb *b, const void *s, size_t n)
{
    if (b->overflow || n >= b->cap - b->len) {
        b->overflow = 1;
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(struct sb *b, const char *s)
{
    sb_mem(b, s, strlen(s));
}

static void sb_fmt(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_fmt(struct sb *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (b->overflow)
        return;
    va_start(ap, fmt);
    n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= b->cap - b->len) {
        b->overflow = 1;
        b->p[b->len] = '\0';
        return;
    }
    b->len += (size_t)n;
}

/*
 * A JSON string the way Go's encoding/json writes it (the jti hash covers
 * these bytes): quotes, backslash and control characters escaped, and also
 * <, > and &.
 */
static void sb_json_str(struct sb *b, const char *s)
{
    sb_str(b, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            sb_fmt(b, "\\%c", c);
        else if (c == '\n')
            sb_str(b, "\\n");
        else if (c == '\r')
            sb_str(b, "\\r");
        else if (c == '\t')
            sb_str(b, "\\t");
        else if (c < 0x20 || c == '<' || c == '>' || c == '&')
            sb_fmt(b, "\\u%04x", c);
        else
            sb_mem(b, s, 1);
    }
    sb_str(b, "\"");
}

static void sb_b64url(struct sb *b, const void *p, size_t n)
{
    size_t need = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);

    if (b->overflow || need > b->cap - b->len) {
        b->overflow = 1;
        return;
    }
    sodium_bin2base64(b->p + b->len, need, p, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    b->len += need - 1;
}

void jwt_issue_sha512_256(const void *p, size_t n, uint8_t out[JWT_ISSUE_HASH_LEN])
{
    /* FIPS 180-4 5.3.6.2: SHA-512 with its own initial hash value. */
    static const uint64_t iv[8] = {
        0x22312194fc2bf72cULL, 0x9f555fa3c84c64c2ULL, 0x2393b86b6f53b151ULL, 0x963877195940eabdULL,
        0x96283ee2a88effe3ULL, 0xbe5e1e2553863992ULL, 0x2b0199fc2c85b8aaULL, 0x0eb72ddc81c52ca2ULL,
    };
    crypto_hash_sha512_state st;
    uint8_t full[crypto_hash_sha512_BYTES];

    crypto_hash_sha512_init(&st);
    memcpy(st.state, iv, sizeof(iv));
    crypto_hash_sha512_update(&st, p, n);
    crypto_hash_sha512_final(&st, full);
    memcpy(out, full, JWT_ISSUE_HASH_LEN);
}

int jwt_issue_encode(const struct nkey *issuer, const struct jwt_issue_claims *c, char *out,
                     size_t cap)
{
    static const char header[] = "{\"typ\":\"JWT\",\"alg\":\"ed25519-nkey\"}";
    char iss[NKEY_PUBLIC_LEN + 1], jti[NKEY_BASE32_LEN(JWT_ISSUE_HASH_LEN) + 1];
    char exp[40] = "", rest[512], std[600], claims[JWT_ISSUE_MAX];
    uint8_t hash[JWT_ISSUE_HASH_LEN], sig[NKEY_RAW_SIG_LEN];
    int64_t iat = c->iat ? c->iat : (int64_t)time(NULL);
    struct sb r, s, j, o;
    size_t signed_len;

    if (c->sub == NULL || c->nats == NULL || cap == 0)
        return -EINVAL;
    nkey_public(issuer, iss);
    if (c->exp)
        snprintf(exp, sizeof(exp), "\"exp\":%" PRId64 ",", c->exp);

    /* The standard claims after jti: iat, iss, name (if any), sub. */
    sb_init(&r, rest, sizeof(rest));
    sb_fmt(&r, "\"iat\":%" PRId64 ",\"iss\":", iat);
    sb_json_str(&r, iss);
    if (c->name && *c->name) {
        sb_str(&r, ",\"name\":");
        sb_json_str(&r, c->name);
    }
    sb_str(&r, ",\"sub\":");
    sb_json_str(&r, c->sub);

    /* jti: hash of the standard claims as JSON, without jti itself. */
    sb_init(&s, std, sizeof(std));
    sb_str(&s, "{");
    sb_str(&s, exp);
    sb_str(&s, rest);
    sb_str(&s, "}");
    if (r.overflow || s.overflow)
        return -ENOSPC;
    jwt_issue_sha512_256(std, s.len, hash);
    nkey_base32_encode(hash, sizeof(hash), jti);

    /* All claims, in Go's field order: exp, jti, iat, iss, name, sub, nats. */
    sb_init(&j, claims, sizeof(claims));
    sb_str(&j, "{");
    sb_str(&j, exp);
    sb_str(&j, "\"jti\":");
    sb_json_str(&j, jti);
    sb_str(&j, ",");
    sb_str(&j, rest);
    sb_str(&j, ",\"nats\":");
    sb_str(&j, c->nats);
    sb_str(&j, "}");
    if (j.overflow)
        return -ENOSPC;

    sb_init(&o, out, cap);
    sb_b64url(&o, header, sizeof(header) - 1);
    sb_str(&o, ".");
    sb_b64url(&o, claims, j.len);
    if (o.overflow)
        return -ENOSPC;
    signed_len = o.len;
    nkey_sign(issuer, (const uint8_t *)out, signed_len, sig);
    sb_str(&o, ".");
    sb_b64url(&o, sig, sizeof(sig));
    return o.overflow ? -ENOSPC : 0;
}

static int make_entity(struct jwt_issue_entity *e, enum nkey_type type)
{
    int rc;

    memset(e, 0, sizeof(*e));
    if ((rc = nkey_generate(&e->key, type)) != 0)
        return rc;
    nkey_public(&e->key, e->pub);
    return 0;
}

static int finish(struct jwt_issue_entity *e, const struct nkey *issuer, const char *name,
                  int64_t exp, struct sb *nats)
{
    struct jwt_issue_claims c = {.sub = e->pub, .name = name, .exp = exp, .nats = nats->p};
    int rc;

    rc = nats->overflow ? -ENOSPC : jwt_issue_encode(issuer, &c, e->jwt, sizeof(e->jwt));
    if (rc != 0)
        jwt_issue_entity_wipe(e);
    return rc;
}

int jwt_issue_operator(struct jwt_issue_entity *op, const char *name, const char *system_account)
{
    char nats[256];
    struct sb n;
    int rc;

    if ((rc = make_entity(op, NKEY_TYPE_OPERATOR)) != 0)
        return rc;
    sb_init(&n, nats, sizeof(nats));
    sb_str(&n, "{");
    if (system_account) {
        sb_str(&n, "\"system_account\":");
        sb_json_str(&n, system_account);
        sb_str(&n, ",");
    }
    sb_str(&n, "\"type\":\"operator\",\"version\":2}");
    return finish(op, &op->key, name, 0, &n);
}

/* Signs the JWT of an account whose key e already holds. */
static int sign_account(struct jwt_issue_entity *e, const struct jwt_issue_entity *op,
                        const char *name, const char *extra)
{
    char nats[2048];
    struct sb n;

    sb_init(&n, nats, sizeof(nats));
    /* -1 is "no limit"; an absent limit would read as zero. */
    sb_str(&n, "{\"limits\":{\"subs\":-1,\"data\":-1,\"payload\":-1,\"imports\":-1,"
               "\"exports\":-1,\"wildcards\":true,\"conn\":-1,\"leaf\":-1},");
    if (extra && *extra) {
        sb_str(&n, extra);
        sb_str(&n, ",");
    }
    sb_str(&n, "\"type\":\"account\",\"version\":2}");
    return finish(e, &op->key, name, 0, &n);
}

int jwt_issue_account(struct jwt_issue_entity *acc, const struct jwt_issue_entity *op,
                      const char *name, const char *extra)
{
    int rc = make_entity(acc, NKEY_TYPE_ACCOUNT);
    return rc != 0 ? rc : sign_account(acc, op, name, extra);
}

int jwt_issue_user(struct jwt_issue_entity *user, const struct jwt_issue_entity *acc,
                   const char *name, const char *extra, int64_t exp)
{
    char nats[2048];
    struct sb n;
    int rc;

    if ((rc = make_entity(user, NKEY_TYPE_USER)) != 0)
        return rc;
    sb_init(&n, nats, sizeof(nats));
    sb_str(&n, "{");
    sb_str(&n, extra && *extra ? extra : "\"pub\":{},\"sub\":{}");
    sb_str(&n, ",\"subs\":-1,\"data\":-1,\"payload\":-1,\"type\":\"user\",\"version\":2}");
    return finish(user, &acc->key, name, exp, &n);
}

int jwt_issue_creds(const struct jwt_issue_entity *user, char *out, size_t cap)
{
    char seed[NKEY_SEED_LEN + 1];
    struct sb o;

    nkey_seed(&user->key, seed);
    sb_init(&o, out, cap);
    sb_str(&o, "-----BEGIN NATS USER JWT-----\n");
    sb_str(&o, user->jwt);
    sb_str(&o, "\n------END NATS USER JWT------\n\n"
               "# Test fixture from tests/support/jwt_issue.c: the seed below is\n"
               "# the user's private key.\n\n"
               "-----BEGIN USER NKEY SEED-----\n");
    sb_str(&o, seed);
    sb_str(&o, "\n------END USER NKEY SEED------\n");
    sodium_memzero(seed, sizeof(seed));
    if (o.overflow) {
        sodium_memzero(out, cap);
        return -ENOSPC;
    }
    return 0;
}

int jwt_issue_write_creds(const struct jwt_issue_entity *user, const char *path)
{
    char text[JWT_ISSUE_MAX + 512];
    size_t len, off = 0;
    int fd, rc = 0;

    if ((rc = jwt_issue_creds(user, text, sizeof(text))) != 0)
        return rc;
    len = strlen(text);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            rc = -errno;
            break;
        }
        off += (size_t)w;
    }
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
out:
    sodium_memzero(text, sizeof(text));
    return rc;
}

int jwt_issue_server_conf(const struct jwt_issue_entity *op, const struct jwt_issue_entity *sys,
                          const struct jwt_issue_entity *const *accts, size_t n, char *out,
                          size_t cap)
{
    struct sb o;

    sb_init(&o, out, cap);
    sb_fmt(&o, "operator: \"%s\"\n", op->jwt);
    if (sys)
        sb_fmt(&o, "system_account: \"%s\"\n", sys->pub);
    sb_str(&o, "resolver: MEMORY\nresolver_preload: {\n");
    if (sys)
        sb_fmt(&o, "  \"%s\": \"%s\"\n", sys->pub, sys->jwt);
    for (size_t i = 0; i < n; i++)
        sb_fmt(&o, "  \"%s\": \"%s\"\n", accts[i]->pub, accts[i]->jwt);
    sb_str(&o, "}\n");
    return o.overflow ? -ENOSPC : 0;
}

int jwt_issue_chain(struct jwt_issue_chain *c)
{
    int rc;

    memset(c, 0, sizeof(*c));
    /* The operator names the system account, so its key comes first. */
    if ((rc = make_entity(&c->sys, NKEY_TYPE_ACCOUNT)) != 0 ||
        (rc = jwt_issue_operator(&c->op, "op", c->sys.pub)) != 0 ||
        (rc = sign_account(&c->sys, &c->op, "SYS", NULL)) != 0 ||
        (rc = jwt_issue_account(&c->acc, &c->op, "acc", NULL)) != 0 ||
        (rc = jwt_issue_user(&c->user, &c->acc, "user", NULL, 0)) != 0) {
        jwt_issue_chain_wipe(c);
        return rc;
    }
    return 0;
}

int jwt_issue_chain_conf(const struct jwt_issue_chain *c, char *out, size_t cap)
{
    const struct jwt_issue_entity *accts[] = {&c->acc};
    return jwt_issue_server_conf(&c->op, &c->sys, accts, 1, out, cap);
}

void jwt_issue_entity_wipe(struct jwt_issue_entity *e)
{
    sodium_memzero(e, sizeof(*e));
}

void jwt_issue_chain_wipe(struct jwt_issue_chain *c)
{
    sodium_memzero(c, sizeof(*c));
}
