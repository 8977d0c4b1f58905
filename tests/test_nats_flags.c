/*
 * tests/test_nats_flags.c — the shared NATS flag group (proto/nats_flags):
 * defaults, environment variables, command line precedence, validation
 * with redacted messages, and the resulting client configuration.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proto/nats_flags.h"

static int parse(struct nats_flags *f, int argc, char **argv, char **envp, char *msg, size_t msglen)
{
    nats_flags_init(f);
    struct flags_group g = nats_flags_group(f);
    struct flags_spec spec = {.prog = "h8s-test", .version = "0", .groups = &g, .ngroups = 1};
    return flags_parse(&spec, argc, argv, envp, msg, msglen);
}

static void test_defaults(void **state)
{
    (void)state;
    struct nats_flags f;
    char msg[FLAGS_MSG_MAX];
    char *argv[] = {"prog", NULL};
    assert_int_equal(parse(&f, 1, argv, NULL, msg, sizeof(msg)), FLAGS_OK);
    struct nats_client_config cfg;
    nats_client_config_defaults(&cfg);
    assert_int_equal(nats_flags_config(&f, &cfg), 0);
    assert_string_equal(cfg.urls, "nats://127.0.0.1:4222");
    assert_null(cfg.creds_path);
    assert_null(cfg.nkey_path);
    assert_null(cfg.ca_path);
    assert_null(cfg.name);
    assert_int_equal(cfg.reconnect_buffer, 8u << 20);
}

static void test_env_and_argv(void **state)
{
    (void)state;
    struct nats_flags f;
    char msg[FLAGS_MSG_MAX];
    char *envp[] = {"NATS_URL=nats://a:4222,tls://[::1]:4443", "NATS_CREDS_PATH=/etc/u.creds",
                    NULL};
    char *argv[] = {"prog", NULL};
    assert_int_equal(parse(&f, 1, argv, envp, msg, sizeof(msg)), FLAGS_OK);
    struct nats_client_config cfg;
    nats_client_config_defaults(&cfg);
    assert_int_equal(nats_flags_config(&f, &cfg), 0);
    assert_string_equal(cfg.urls, "nats://a:4222,tls://[::1]:4443");
    assert_string_equal(cfg.creds_path, "/etc/u.creds");

    /* The command line wins over the environment. */
    char *argv2[] = {"prog",
                     "--nats-url=nats://b:4222",
                     "--nats-nkey",
                     "/k.nk",
                     "--nats-ca=/ca.pem",
                     "--nats-cert=/c.pem",
                     "--nats-key=/c.key",
                     "--nats-name=gw-1",
                     "--nats-reconnect-buffer=64KiB",
                     NULL};
    assert_int_equal(parse(&f, 9, argv2, envp, msg, sizeof(msg)), FLAGS_OK);
    nats_client_config_defaults(&cfg);
    assert_int_equal(nats_flags_config(&f, &cfg), 0);
    assert_string_equal(cfg.urls, "nats://b:4222");
    assert_string_equal(cfg.creds_path, "/etc/u.creds");
    assert_string_equal(cfg.nkey_path, "/k.nk");
    assert_string_equal(cfg.ca_path, "/ca.pem");
    assert_string_equal(cfg.cert_path, "/c.pem");
    assert_string_equal(cfg.key_path, "/c.key");
    assert_string_equal(cfg.name, "gw-1");
    assert_int_equal(cfg.reconnect_buffer, 65536);
}

static void test_invalid(void **state)
{
    (void)state;
    struct nats_flags f;
    char msg[FLAGS_MSG_MAX];
    /* A bad list is refused at start-up; its password is never echoed. */
    char *argv[] = {"prog", "--nats-url=nats://u:hunter2@h:4222,http://x", NULL};
    assert_int_equal(parse(&f, 2, argv, NULL, msg, sizeof(msg)), FLAGS_EUSAGE);
    assert_non_null(strstr(msg, "--nats-url"));
    assert_null(strstr(msg, "hunter2"));
    char *argv2[] = {"prog", "--nats-reconnect-buffer=0", NULL};
    assert_int_equal(parse(&f, 2, argv2, NULL, msg, sizeof(msg)), FLAGS_EUSAGE);
    assert_non_null(strstr(msg, "--nats-reconnect-buffer"));
    char *argv3[] = {"prog", "--nats-reconnect-buffer=12x", NULL};
    assert_int_equal(parse(&f, 2, argv3, NULL, msg, sizeof(msg)), FLAGS_EUSAGE);
    /* Certificate without key. */
    char *argv4[] = {"prog", "--nats-cert=/c.pem", NULL};
    assert_int_equal(parse(&f, 2, argv4, NULL, msg, sizeof(msg)), FLAGS_OK);
    struct nats_client_config cfg;
    nats_client_config_defaults(&cfg);
    assert_int_equal(nats_flags_config(&f, &cfg), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_env_and_argv),
        cmocka_unit_test(test_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
