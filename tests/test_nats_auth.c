/*
 * tests/test_nats_auth.c — NATS client authentication against real
 * nats-server configurations: user/password and token in the URL, an
 * NKEY seed file, and a .creds file (user JWT + seed) in operator mode
 * with a memory resolver. Keys, JWTs and .creds files are generated at
 * test time by the project's own code (proto/nkey, tests/support/jwt_issue).
 *
 * Wrong credentials must give a clear error (NATS_E_AUTH, one log line
 * per attempt) and be retried with back-off, not in a busy loop. Every
 * log line the client writes is captured, and no secret may appear in it.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/log.h"
#include "proto/nats_client.h"
#include "proto/nkey.h"
#include "tests/support/jwt_issue.h"
#include "tests/support/natsd.h"
#include "tests/support/natstest.h"

#define PASSWORD "s3cr3t-pw"
#define TOKEN "tok-123456789"

struct fixture {
    char dir[64];
    char logpath[128];
    int logfd;
};

static int setup(void **state)
{
    static struct fixture f;
    snprintf(f.dir, sizeof(f.dir), "/tmp/h8s-auth-XXXXXX");
    if (mkdtemp(f.dir) == NULL)
        return -1;
    snprintf(f.logpath, sizeof(f.logpath), "%s/client.log", f.dir);
    f.logfd = open(f.logpath, O_RDWR | O_CREAT | O_TRUNC | O_APPEND, 0600);
    if (f.logfd < 0)
        return -1;
    struct log_config lc;
    log_config_defaults(&lc);
    lc.level = LOG_DEBUG;
    lc.fd = f.logfd;
    log_configure(&lc);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    struct log_config lc;
    log_config_defaults(&lc);
    log_configure(&lc);
    close(f->logfd);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "%s/client.log", f->dir);
    unlink(cmd);
    snprintf(cmd, sizeof(cmd), "%s/seed.nk", f->dir);
    unlink(cmd);
    snprintf(cmd, sizeof(cmd), "%s/user.creds", f->dir);
    unlink(cmd);
    snprintf(cmd, sizeof(cmd), "%s/other.creds", f->dir);
    unlink(cmd);
    snprintf(cmd, sizeof(cmd), "%s/junk.creds", f->dir);
    unlink(cmd);
    rmdir(f->dir);
    return 0;
}

/* The captured log must contain none of the secrets. */
static void assert_log_clean(struct fixture *f, const char *const *secrets, size_t n)
{
    static char buf[1 << 20];
    int fd = open(f->logpath, O_RDONLY);
    assert_true(fd >= 0);
    ssize_t len = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    assert_true(len >= 0);
    buf[len] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (strstr(buf, secrets[i]) != NULL)
            fail_msg("secret %zu leaked into the log", i);
    }
}

static size_t log_count(struct fixture *f, const char *needle)
{
    static char buf[1 << 20];
    int fd = open(f->logpath, O_RDONLY);
    ssize_t len = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    buf[len > 0 ? len : 0] = '\0';
    size_t count = 0;
    for (const char *p = buf; (p = strstr(p, needle)) != NULL; p++)
        count++;
    return count;
}

static struct span none(void)
{
    return span_make(NULL, 0);
}

static void pubsub_works(struct loop *l, struct nats_client *c)
{
    struct natstest_msgs *got = calloc(1, sizeof(*got));
    assert_int_equal(
        nats_client_subscribe(c, SPAN_LIT("auth.x"), none(), natstest_on_msg, got, NULL), 0);
    assert_int_equal(natstest_flush(l, c), 0);
    assert_int_equal(nats_client_publish(c, SPAN_LIT("auth.x"), none(), none(), SPAN_LIT("ok")), 0);
    assert_true(natstest_wait_msgs(l, got, 1, NATSTEST_WAIT_MS));
    free(got);
}

struct run {
    struct loop *l;
    struct natstest_events ev;
    struct nats_client *c;
};

static void run_open(struct run *r, const char *url, const char *creds, const char *nkey)
{
    memset(r, 0, sizeof(*r));
    r->l = natstest_loop();
    struct nats_client_config cfg;
    natstest_config(&cfg, url, &r->ev);
    cfg.creds_path = creds;
    cfg.nkey_path = nkey;
    r->c = natstest_client(r->l, &cfg);
}

static void run_close(struct run *r)
{
    nats_client_destroy(r->c);
    loop_destroy(r->l);
}

/* Connects and works. */
static void expect_ok(const char *url, const char *creds, const char *nkey)
{
    struct run r;
    run_open(&r, url, creds, nkey);
    assert_true(natstest_wait_up(r.l, &r.ev, 1));
    pubsub_works(r.l, r.c);
    assert_int_equal(r.ev.errors, 0);
    run_close(&r);
}

/* Refused: NATS_E_AUTH reported, retried with back-off for a second. */
static void expect_refused(struct fixture *f, const char *url, const char *creds, const char *nkey)
{
    struct run r;
    size_t lines0 = log_count(f, "event=nats_auth_failed");
    run_open(&r, url, creds, nkey);
    natstest_run_for(r.l, 1000);
    assert_int_equal(r.ev.connected, 0);
    assert_int_equal(r.ev.last_error, NATS_E_AUTH);
    /* Test back-off: 20 ms doubling to 200 ms. A busy loop would make
     * hundreds of attempts in this second. */
    assert_true(r.ev.errors >= 2);
    assert_true(r.ev.errors <= 20);
    /* One log line per refused attempt. */
    assert_int_equal(log_count(f, "event=nats_auth_failed") - lines0, (size_t)r.ev.errors);
    run_close(&r);
}

static void test_user_password(void **state)
{
    struct fixture *f = *state;
    struct natsd *d;
    struct natsd_opts o = {.conf =
                               "authorization { user: \"alice\", password: \"" PASSWORD "\" }\n"};
    assert_int_equal(natsd_start(&d, &o), 0);
    char url[160];
    snprintf(url, sizeof(url), "nats://alice:%s@127.0.0.1:%u", PASSWORD, (unsigned)natsd_port(d));
    expect_ok(url, NULL, NULL);
    snprintf(url, sizeof(url), "nats://alice:wrong-%s@127.0.0.1:%u", PASSWORD,
             (unsigned)natsd_port(d));
    expect_refused(f, url, NULL, NULL);
    /* No credentials at all. */
    expect_refused(f, natsd_url(d), NULL, NULL);
    natsd_stop(d);
    const char *secrets[] = {PASSWORD};
    assert_log_clean(f, secrets, 1);
}

static void test_token(void **state)
{
    struct fixture *f = *state;
    struct natsd *d;
    struct natsd_opts o = {.conf = "authorization { token: \"" TOKEN "\" }\n"};
    assert_int_equal(natsd_start(&d, &o), 0);
    char url[160];
    snprintf(url, sizeof(url), "nats://%s@127.0.0.1:%u", TOKEN, (unsigned)natsd_port(d));
    expect_ok(url, NULL, NULL);
    snprintf(url, sizeof(url), "nats://x%s@127.0.0.1:%u", TOKEN, (unsigned)natsd_port(d));
    expect_refused(f, url, NULL, NULL);
    natsd_stop(d);
    const char *secrets[] = {TOKEN};
    assert_log_clean(f, secrets, 1);
}

static void write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void test_nkey(void **state)
{
    struct fixture *f = *state;
    struct nkey k, other;
    char pub[NKEY_PUBLIC_LEN + 1], seed[NKEY_SEED_LEN + 2], other_seed[NKEY_SEED_LEN + 2];
    assert_int_equal(nkey_generate(&k, NKEY_TYPE_USER), 0);
    assert_int_equal(nkey_generate(&other, NKEY_TYPE_USER), 0);
    nkey_public(&k, pub);
    nkey_seed(&k, seed);
    nkey_seed(&other, other_seed);
    nkey_wipe(&k);
    nkey_wipe(&other);
    char conf[256];
    snprintf(conf, sizeof(conf), "authorization { users: [ { nkey: \"%s\" } ] }\n", pub);
    struct natsd *d;
    struct natsd_opts o = {.conf = conf};
    assert_int_equal(natsd_start(&d, &o), 0);

    char path[128];
    snprintf(path, sizeof(path), "%s/seed.nk", f->dir);
    strcat(seed, "\n");
    write_file(path, seed);
    expect_ok(natsd_url(d), NULL, path);
    /* A valid seed the server does not know. */
    write_file(path, other_seed);
    expect_refused(f, natsd_url(d), NULL, path);
    natsd_stop(d);
    seed[NKEY_SEED_LEN] = '\0';
    const char *secrets[] = {seed, other_seed};
    assert_log_clean(f, secrets, 2);
}

static void test_creds(void **state)
{
    struct fixture *f = *state;
    struct jwt_issue_chain *ch = calloc(1, sizeof(*ch));
    struct jwt_issue_chain *stranger = calloc(1, sizeof(*stranger));
    assert_int_equal(jwt_issue_chain(ch), 0);
    assert_int_equal(jwt_issue_chain(stranger), 0);
    static char conf[32768];
    assert_int_equal(jwt_issue_chain_conf(ch, conf, sizeof(conf)), 0);
    struct natsd *d;
    struct natsd_opts o = {.conf = conf};
    assert_int_equal(natsd_start(&d, &o), 0);

    char path[128], other[128];
    snprintf(path, sizeof(path), "%s/user.creds", f->dir);
    snprintf(other, sizeof(other), "%s/other.creds", f->dir);
    assert_int_equal(jwt_issue_write_creds(&ch->user, path), 0);
    assert_int_equal(jwt_issue_write_creds(&stranger->user, other), 0);
    expect_ok(natsd_url(d), path, NULL);
    /* A user of an account this operator never signed. */
    expect_refused(f, natsd_url(d), other, NULL);
    natsd_stop(d);

    char seed[NKEY_SEED_LEN + 1], seed2[NKEY_SEED_LEN + 1];
    nkey_seed(&ch->user.key, seed);
    nkey_seed(&stranger->user.key, seed2);
    const char *secrets[] = {seed, seed2, ch->user.jwt, stranger->user.jwt};
    assert_log_clean(f, secrets, 4);
    jwt_issue_chain_wipe(ch);
    jwt_issue_chain_wipe(stranger);
    free(ch);
    free(stranger);
}

static void test_bad_files(void **state)
{
    struct fixture *f = *state;
    struct loop *l = natstest_loop();
    struct nats_client_config cfg;
    struct nats_client *c = NULL;
    char err[256], path[128];
    nats_client_config_defaults(&cfg);
    cfg.creds_path = "/nonexistent/user.creds";
    assert_int_equal(nats_client_create(&c, l, &cfg, err, sizeof(err)), NATS_E_CONFIG);
    assert_null(c);
    assert_non_null(strstr(err, "/nonexistent/user.creds"));

    /* Contents are never echoed, even when they look like a secret. */
    snprintf(path, sizeof(path), "%s/junk.creds", f->dir);
    write_file(path, "SUAJUNKJUNKJUNK-not-a-seed\n");
    cfg.creds_path = NULL;
    cfg.nkey_path = path;
    assert_int_equal(nats_client_create(&c, l, &cfg, err, sizeof(err)), NATS_E_CONFIG);
    assert_null(strstr(err, "JUNK"));

    cfg.creds_path = path;
    assert_int_equal(nats_client_create(&c, l, &cfg, err, sizeof(err)), NATS_E_CONFIG);
    assert_non_null(strstr(err, "together"));

    /* Bad URLs are reported by position, never echoed (they may hold a password). */
    cfg.creds_path = cfg.nkey_path = NULL;
    cfg.urls = "nats://u:" PASSWORD "@127.0.0.1:4222, http://x";
    assert_int_equal(nats_client_create(&c, l, &cfg, err, sizeof(err)), NATS_E_CONFIG);
    assert_null(strstr(err, PASSWORD));
    assert_non_null(strstr(err, "item 2"));
    loop_destroy(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_user_password), cmocka_unit_test(test_token),
        cmocka_unit_test(test_nkey),          cmocka_unit_test(test_creds),
        cmocka_unit_test(test_bad_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
