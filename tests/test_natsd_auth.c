/*
 * tests/test_natsd_auth.c — a real nats-server accepts what proto/nkey,
 * proto/creds and tests/support/jwt_issue produce.
 *
 * No client library: a raw TCP socket reads INFO, signs its nonce, sends
 * CONNECT + PING and expects PONG, or -ERR 'Authorization Violation' for
 * every way of getting it wrong. First with an nkey listed in the server's
 * authorization block (including the fixed vector of test_nkey, verified
 * here by the server itself), then in operator mode with issued JWTs read
 * back from a .creds file.
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
#include <time.h>
#include <unistd.h>

#include "proto/creds.h"
#include "proto/nkey.h"
#include "tests/support/jwt_issue.h"
#include "tests/support/natsd.h"
#include "tests/support/rawsock.h"

#define T_MS 5000

/* test_nkey's independently derived vector. */
#define SEED_U "SUAAAAICAMCAKBQHBAEQUCYMBUHA6EARCIJRIFIWC4MBSGQ3DQOR4H776Y"
#define PUB_U "UAB2CB576PHBBPQ5ODORRZ2LYCMWPZGWGCN2KDK7DXOIMZASKUY3RLKK"

enum outcome {
    OK_PONG,
    AUTH_VIOLATION,
};

enum sign_what {
    SIGN_NONCE,     /* the right thing */
    SIGN_OTHER,     /* a different message */
    SIGN_NOTHING,   /* no sig member */
    SIGN_TRUNCATED, /* the signature with its last character dropped */
};

/* Copies the INFO nonce (base64url characters) into out. */
static void info_nonce(const char *info, char *out, size_t cap)
{
    const char *p = strstr(info, "\"nonce\":\"");
    size_t n = 0;

    assert_non_null(p);
    p += strlen("\"nonce\":\"");
    while (p[n] && p[n] != '"')
        n++;
    assert_true(n > 0 && n < cap);
    memcpy(out, p, n);
    out[n] = '\0';
}

/*
 * One connection attempt: read INFO, sign per how with k, send CONNECT with
 * the identity member ident ("\"nkey\":\"U…\"" or "\"jwt\":\"…\"") and PING,
 * and check the first reply line.
 */
static void attempt(uint16_t port, const char *ident, const struct nkey *k, enum sign_what how,
                    enum outcome want)
{
    struct rawsock_buf *b = malloc(sizeof(*b));
    char nonce[128], sig[NKEY_SIG_B64_LEN + 1], *cmd;
    size_t cap = strlen(ident) + 512;
    int fd, err;

    assert_non_null(b);
    assert_non_null(cmd = malloc(cap));
    fd = rawsock_connect(port, T_MS);
    assert_true(fd >= 0);
    rawsock_buf_reset(b);
    assert_non_null(rawsock_read_until(fd, b, "\r\n", T_MS, &err));
    assert_memory_equal(b->buf, "INFO {", 6);
    assert_non_null(strstr(b->buf, "\"auth_required\":true"));
    info_nonce(b->buf, nonce, sizeof(nonce));
    rawsock_buf_reset(b);

    if (how == SIGN_OTHER)
        nkey_sign_b64(k, (const uint8_t *)"not the nonce", 13, sig);
    else
        nkey_sign_b64(k, (const uint8_t *)nonce, strlen(nonce), sig);
    if (how == SIGN_TRUNCATED)
        sig[NKEY_SIG_B64_LEN - 1] = '\0';
    if (how == SIGN_NOTHING)
        snprintf(cmd, cap, "CONNECT {%s,\"verbose\":false,\"pedantic\":false,\"protocol\":1}\r\n",
                 ident);
    else
        snprintf(cmd, cap,
                 "CONNECT {%s,\"sig\":\"%s\",\"verbose\":false,\"pedantic\":false,"
                 "\"protocol\":1}\r\n",
                 ident, sig);
    assert_int_equal(rawsock_send_str(fd, cmd), 0);
    assert_int_equal(rawsock_send_str(fd, "PING\r\n"), 0);
    assert_non_null(rawsock_read_until(fd, b, "\r\n", T_MS, &err));
    if (want == OK_PONG) {
        assert_string_equal(b->buf, "PONG\r\n");
        /* And the connection really works: a message to itself. */
        rawsock_buf_reset(b);
        assert_int_equal(rawsock_send_str(fd, "SUB h8s.auth 1\r\nPUB h8s.auth 2\r\nhi\r\n"), 0);
        assert_non_null(rawsock_read_until(fd, b, "MSG h8s.auth 1 2\r\nhi\r\n", T_MS, &err));
    } else {
        assert_string_equal(b->buf, "-ERR 'Authorization Violation'\r\n");
    }
    sodium_memzero(sig, sizeof(sig));
    close(fd);
    free(cmd);
    free(b);
}

static void attempt_nkey(uint16_t port, const char *pub, const struct nkey *k, enum sign_what how,
                         enum outcome want)
{
    char ident[128];
    snprintf(ident, sizeof(ident), "\"nkey\":\"%s\"", pub);
    attempt(port, ident, k, how, want);
}

static void attempt_jwt(uint16_t port, const char *jwt, const struct nkey *k, enum sign_what how,
                        enum outcome want)
{
    size_t cap = strlen(jwt) + 16;
    char *ident = malloc(cap);
    assert_non_null(ident);
    snprintf(ident, cap, "\"jwt\":\"%s\"", jwt);
    attempt(port, ident, k, how, want);
    free(ident);
}

static int teardown_server(void **state)
{
    natsd_stop(*state);
    return 0;
}

static void test_nkey_auth(void **state)
{
    struct nkey fixed, gen, other, acct;
    char gen_pub[NKEY_PUBLIC_LEN + 1], other_pub[NKEY_PUBLIC_LEN + 1], conf[512];
    struct natsd_opts o = {.conf = conf};
    struct natsd *d;
    uint16_t port;

    assert_int_equal(nkey_from_seed(&fixed, SEED_U, NKEY_SEED_LEN), 0);
    assert_int_equal(nkey_generate(&gen, NKEY_TYPE_USER), 0);
    assert_int_equal(nkey_generate(&other, NKEY_TYPE_USER), 0);
    assert_int_equal(nkey_generate(&acct, NKEY_TYPE_ACCOUNT), 0);
    nkey_public(&gen, gen_pub);
    nkey_public(&other, other_pub);
    snprintf(conf, sizeof(conf),
             "authorization {\n  users = [\n    { nkey: %s }\n    { nkey: %s }\n  ]\n}\n", PUB_U,
             gen_pub);
    assert_int_equal(natsd_start(&d, &o), 0);
    *state = d;
    port = natsd_port(d);

    /* The fixed vector's public key, as the server derives trust from it. */
    attempt_nkey(port, PUB_U, &fixed, SIGN_NONCE, OK_PONG);
    attempt_nkey(port, gen_pub, &gen, SIGN_NONCE, OK_PONG);

    /* A listed key, but the signature is by another key. */
    attempt_nkey(port, PUB_U, &gen, SIGN_NONCE, AUTH_VIOLATION);
    attempt_nkey(port, gen_pub, &other, SIGN_NONCE, AUTH_VIOLATION);
    /* The right key signing the wrong thing, or nothing. */
    attempt_nkey(port, gen_pub, &gen, SIGN_OTHER, AUTH_VIOLATION);
    attempt_nkey(port, gen_pub, &gen, SIGN_NOTHING, AUTH_VIOLATION);
    attempt_nkey(port, gen_pub, &gen, SIGN_TRUNCATED, AUTH_VIOLATION);
    /* A key the server does not know, correctly signed. */
    attempt_nkey(port, other_pub, &other, SIGN_NONCE, AUTH_VIOLATION);

    nkey_wipe(&fixed);
    nkey_wipe(&gen);
    nkey_wipe(&other);
    nkey_wipe(&acct);
}

struct op_fixture {
    struct natsd *d;
    struct jwt_issue_chain c;
    char dir[64];
    char creds_path[128];
};

static int setup_operator(void **state)
{
    struct op_fixture *f = calloc(1, sizeof(*f));
    char *conf = malloc(8 * JWT_ISSUE_MAX);
    struct natsd_opts o = {.conf = conf};

    if (f == NULL || conf == NULL || jwt_issue_chain(&f->c) != 0 ||
        jwt_issue_chain_conf(&f->c, conf, 8 * JWT_ISSUE_MAX) != 0)
        goto err;
    snprintf(f->dir, sizeof(f->dir), "/tmp/h8s-auth-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        goto err;
    snprintf(f->creds_path, sizeof(f->creds_path), "%s/user.creds", f->dir);
    if (jwt_issue_write_creds(&f->c.user, f->creds_path) != 0 || natsd_start(&f->d, &o) != 0)
        goto err;
    free(conf);
    *state = f;
    return 0;
err:
    if (f && f->creds_path[0])
        unlink(f->creds_path);
    if (f && f->dir[0])
        rmdir(f->dir);
    free(conf);
    free(f);
    return -1;
}

static int teardown_operator(void **state)
{
    struct op_fixture *f = *state;

    natsd_stop(f->d);
    unlink(f->creds_path);
    rmdir(f->dir);
    jwt_issue_chain_wipe(&f->c);
    free(f);
    return 0;
}

/* Credentials exactly as a client gets them: from the .creds file. */
static void test_operator_creds(void **state)
{
    struct op_fixture *f = *state;
    struct creds_file cf;
    struct nkey k;
    char *jwt;

    assert_int_equal(creds_file_load(&cf, f->creds_path), 0);
    assert_int_equal(cf.creds.kind, CREDS_KIND_USER);
    assert_int_equal(nkey_from_seed(&k, (const char *)cf.creds.seed.p, cf.creds.seed.n), 0);
    assert_int_equal(k.type, NKEY_TYPE_USER);
    assert_non_null(jwt = strndup((const char *)cf.creds.jwt.p, cf.creds.jwt.n));
    creds_file_free(&cf);

    attempt_jwt(natsd_port(f->d), jwt, &k, SIGN_NONCE, OK_PONG);
    attempt_jwt(natsd_port(f->d), jwt, &k, SIGN_OTHER, AUTH_VIOLATION);
    attempt_jwt(natsd_port(f->d), jwt, &k, SIGN_NOTHING, AUTH_VIOLATION);
    /* The JWT of one user with the key of another. */
    attempt_jwt(natsd_port(f->d), jwt, &f->c.acc.key, SIGN_NONCE, AUTH_VIOLATION);
    free(jwt);
    nkey_wipe(&k);
}

static void test_operator_rejections(void **state)
{
    struct op_fixture *f = *state;
    struct jwt_issue_entity stranger, u2, expired, forged;
    uint16_t port = natsd_port(f->d);
    char *dot;

    /* A second user of the same account works without any server change. */
    assert_int_equal(jwt_issue_user(&u2, &f->c.acc, "u2", NULL, 0), 0);
    attempt_jwt(port, u2.jwt, &u2.key, SIGN_NONCE, OK_PONG);

    /* A user of an account the resolver does not know. */
    assert_int_equal(jwt_issue_account(&stranger, &f->c.op, "stranger", NULL), 0);
    assert_int_equal(jwt_issue_user(&forged, &stranger, "u", NULL, 0), 0);
    attempt_jwt(port, forged.jwt, &forged.key, SIGN_NONCE, AUTH_VIOLATION);

    /* Expired a minute ago. */
    assert_int_equal(jwt_issue_user(&expired, &f->c.acc, "old", NULL, (int64_t)time(NULL) - 60), 0);
    attempt_jwt(port, expired.jwt, &expired.key, SIGN_NONCE, AUTH_VIOLATION);

    /* A tampered JWT: flip one character of the signature. */
    dot = strrchr(u2.jwt, '.');
    assert_non_null(dot);
    dot[5] = dot[5] == 'A' ? 'B' : 'A';
    attempt_jwt(port, u2.jwt, &u2.key, SIGN_NONCE, AUTH_VIOLATION);

    /* The account key itself is not a user. */
    attempt_jwt(port, f->c.acc.jwt, &f->c.acc.key, SIGN_NONCE, AUTH_VIOLATION);

    jwt_issue_entity_wipe(&stranger);
    jwt_issue_entity_wipe(&u2);
    jwt_issue_entity_wipe(&expired);
    jwt_issue_entity_wipe(&forged);
}

/* The system account from the chain is usable: $SYS requests answer. */
static void test_operator_system_account(void **state)
{
    struct op_fixture *f = *state;
    struct jwt_issue_entity sysuser;
    struct rawsock_buf *b = malloc(sizeof(*b));
    char nonce[128], sig[NKEY_SIG_B64_LEN + 1], *cmd;
    size_t cap = JWT_ISSUE_MAX + 512;
    int fd, err;

    assert_non_null(b);
    assert_non_null(cmd = malloc(cap));
    assert_int_equal(jwt_issue_user(&sysuser, &f->c.sys, "sysuser", NULL, 0), 0);
    fd = rawsock_connect(natsd_port(f->d), T_MS);
    assert_true(fd >= 0);
    rawsock_buf_reset(b);
    assert_non_null(rawsock_read_until(fd, b, "\r\n", T_MS, &err));
    info_nonce(b->buf, nonce, sizeof(nonce));
    nkey_sign_b64(&sysuser.key, (const uint8_t *)nonce, strlen(nonce), sig);
    snprintf(cmd, cap,
             "CONNECT {\"jwt\":\"%s\",\"sig\":\"%s\",\"verbose\":false,\"pedantic\":false,"
             "\"protocol\":1}\r\nSUB _INBOX.h8s 1\r\nPUB $SYS.REQ.SERVER.PING _INBOX.h8s 0\r\n"
             "\r\nPING\r\n",
             sysuser.jwt, sig);
    rawsock_buf_reset(b);
    assert_int_equal(rawsock_send_str(fd, cmd), 0);
    assert_non_null(rawsock_read_until(fd, b, "MSG _INBOX.h8s 1 ", T_MS, &err));
    assert_null(strstr(b->buf, "-ERR"));
    close(fd);
    jwt_issue_entity_wipe(&sysuser);
    free(cmd);
    free(b);
}

/* nats-server 2.9.10 also runs operator mode with no system account. */
static void test_operator_without_system_account(void **state)
{
    struct jwt_issue_entity op, acc, user;
    const struct jwt_issue_entity *accts[1] = {&acc};
    char *conf = malloc(4 * JWT_ISSUE_MAX);
    struct natsd_opts o = {.conf = conf};
    struct natsd *d;

    assert_non_null(conf);
    assert_int_equal(jwt_issue_operator(&op, "op", NULL), 0);
    assert_int_equal(jwt_issue_account(&acc, &op, "acc", NULL), 0);
    assert_int_equal(jwt_issue_user(&user, &acc, "user", NULL, 0), 0);
    assert_int_equal(jwt_issue_server_conf(&op, NULL, accts, 1, conf, 4 * JWT_ISSUE_MAX), 0);
    assert_null(strstr(conf, "system_account"));
    assert_int_equal(natsd_start(&d, &o), 0);
    *state = d;
    free(conf);
    attempt_jwt(natsd_port(d), user.jwt, &user.key, SIGN_NONCE, OK_PONG);
    attempt_jwt(natsd_port(d), user.jwt, &acc.key, SIGN_NONCE, AUTH_VIOLATION);
    jwt_issue_entity_wipe(&op);
    jwt_issue_entity_wipe(&acc);
    jwt_issue_entity_wipe(&user);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_nkey_auth, teardown_server),
        cmocka_unit_test_setup_teardown(test_operator_creds, setup_operator, teardown_operator),
        cmocka_unit_test_setup_teardown(test_operator_rejections, setup_operator,
                                        teardown_operator),
        cmocka_unit_test_setup_teardown(test_operator_system_account, setup_operator,
                                        teardown_operator),
        cmocka_unit_test_teardown(test_operator_without_system_account, teardown_server),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
