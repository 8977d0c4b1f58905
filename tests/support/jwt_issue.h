/*
 * tests/support/jwt_issue.h — NATS decentralized-auth fixtures for tests.
 *
 * Creates operator, account and user NKEYs and issues the JWTs that tie them
 * together (JWT v2 as nats-server 2.9 checks it):
 *
 *   header   {"typ":"JWT","alg":"ed25519-nkey"}
 *   claims   {"exp"?,"jti","iat","iss","name","sub","nats":{...,"type","version":2}}
 *   token    base64url(header) "." base64url(claims) "." base64url(Ed25519
 *            signature of the first two parts by the issuer's key)
 *
 * The jti is computed as the NATS tools do: SHA-512/256 of the JSON of the
 * standard claims without jti (keys in the order aud, exp, iat, iss, name,
 * nbf, sub; empty ones left out), base32 without padding. The operator JWT
 * is self-signed, an account JWT is signed by the operator, a user JWT by
 * its account.
 *
 * Also writes .creds files and the nats-server config fragment for operator
 * mode with the in-memory resolver:
 *
 *   operator: <operator JWT>
 *   system_account: <system account public key>
 *   resolver: MEMORY
 *   resolver_preload: { <account public key>: <account JWT>, ... }
 *
 * nats-server 2.9.10 runs operator mode without a system account, but the
 * fragment names one when given (monitoring and account events need it).
 *
 * Everything is caller-owned memory; entities hold secret keys, so wipe
 * them with jwt_issue_entity_wipe(). Errors: 0, -ENOSPC (output too small),
 * -EINVAL (bad argument), -errno from file I/O, or an NKEY_ERR_* code.
 */
#ifndef H8S_TESTS_SUPPORT_JWT_ISSUE_H
#define H8S_TESTS_SUPPORT_JWT_ISSUE_H

#include <stddef.h>
#include <stdint.h>

#include "proto/nkey.h"

/* Longest JWT these helpers produce, NUL included. */
#define JWT_ISSUE_MAX 4096
/* SHA-512/256 digest size. */
#define JWT_ISSUE_HASH_LEN 32

struct jwt_issue_entity {
    struct nkey key;               /* secret: wipe when done */
    char pub[NKEY_PUBLIC_LEN + 1]; /* encoded public key */
    char jwt[JWT_ISSUE_MAX];       /* the entity's JWT */
};

/* The claims of one JWT. Strings are NUL-terminated and only read. */
struct jwt_issue_claims {
    const char *sub;  /* subject: encoded public key */
    const char *name; /* may be NULL or "" (left out) */
    int64_t iat;      /* issued-at, Unix seconds; 0 for now */
    int64_t exp;      /* expiry, Unix seconds; 0 for none */
    const char *nats; /* the "nats" object as JSON text, braces included */
};

/*
 * Encodes claims c, signed by issuer, into out (cap bytes, NUL-terminated).
 * Returns 0, -EINVAL (sub or nats missing) or -ENOSPC.
 */
int jwt_issue_encode(const struct nkey *issuer, const struct jwt_issue_claims *c, char *out,
                     size_t cap);

/*
 * Generates an operator key and its self-signed JWT. system_account is the
 * public key of the system account, or NULL for none.
 */
int jwt_issue_operator(struct jwt_issue_entity *op, const char *name, const char *system_account);

/*
 * Generates an account key and its JWT signed by op, with unlimited account
 * limits. extra is JSON text of further members of the "nats" object (for
 * example "\"exports\":[...]"), or NULL.
 */
int jwt_issue_account(struct jwt_issue_entity *acc, const struct jwt_issue_entity *op,
                      const char *name, const char *extra);

/*
 * Generates a user key and its JWT signed by acc, with unlimited limits and
 * no permission restrictions unless extra (JSON members of the "nats"
 * object, e.g. "\"pub\":{\"allow\":[\"a.>\"]}") replaces the defaults: when
 * extra is given, it is used instead of the default "pub"/"sub" members.
 * exp is the expiry (Unix seconds) or 0.
 */
int jwt_issue_user(struct jwt_issue_entity *user, const struct jwt_issue_entity *acc,
                   const char *name, const char *extra, int64_t exp);

/*
 * Writes the .creds text of user (its JWT and seed blocks) into out, cap
 * bytes, NUL-terminated. The result contains the seed: wipe it after use.
 */
int jwt_issue_creds(const struct jwt_issue_entity *user, char *out, size_t cap);

/* Writes the .creds text of user to path (created with mode 0600). */
int jwt_issue_write_creds(const struct jwt_issue_entity *user, const char *path);

/*
 * Writes the nats-server config fragment for operator mode into out: the
 * operator JWT, the system account (if sys is not NULL) and a memory
 * resolver preloaded with sys and the n accounts in accts.
 */
int jwt_issue_server_conf(const struct jwt_issue_entity *op, const struct jwt_issue_entity *sys,
                          const struct jwt_issue_entity *const *accts, size_t n, char *out,
                          size_t cap);

/* An operator, its system account, one account and one user in it. */
struct jwt_issue_chain {
    struct jwt_issue_entity op, sys, acc, user;
};

/* Generates and signs a whole chain (names "op", "SYS", "acc", "user"). */
int jwt_issue_chain(struct jwt_issue_chain *c);

/* jwt_issue_server_conf() for the chain's operator, sys and acc. */
int jwt_issue_chain_conf(const struct jwt_issue_chain *c, char *out, size_t cap);

/* Wipes the secret key (and everything else) of e / of every chain member. */
void jwt_issue_entity_wipe(struct jwt_issue_entity *e);
void jwt_issue_chain_wipe(struct jwt_issue_chain *c);

/* SHA-512/256 (FIPS 180-4) of n bytes at p: the jti hash. */
void jwt_issue_sha512_256(const void *p, size_t n, uint8_t out[JWT_ISSUE_HASH_LEN]);

#endif
