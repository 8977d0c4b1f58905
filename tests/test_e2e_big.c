/*
 * tests/test_e2e_big.c — bodies far larger than a NATS message, through
 * the whole tunnel and a nats-server with the default 1 MiB max_payload.
 *
 * 10 MiB up and 100 MiB down arrive intact (sha256 at both ends), and a
 * client that reads slowly gets the whole 100 MiB too, while neither h8sd
 * nor h8srd ever holds more than a bounded amount of it: their peak
 * resident memory (VmHWM) stays under a fixed bound far below the body
 * size. Flow control is what makes that work: without it, a fast app and
 * a slow client would pile the body up in one of the daemons (or the
 * gateway would have to abort).
 */
#include "tests/e2e.h"

#define MIB (1024u * 1024u)
#define UP_SIZE (10u * MIB)
#define DOWN_SIZE (100u * MIB)
/* Peak resident memory allowed per daemon (the sanitized builds too). */
#define HWM_MAX_KIB (64 * 1024L)
/* The slow client's pace: 100 MiB at 25 MB/s is about 4 s. */
#define SLOW_RATE "25M"

static int group_setup(void **state)
{
    static const char *const gw_args[] = {"--max-body-size=16M", NULL};
    const struct tunnel_opts o = {.agents = 1, .gw_args = gw_args};
    return e2e_group_start(state, &o);
}

static void assert_bounded(struct tunnel *t, const char *what)
{
    long gw = tunnel_hwm_kib(t->gw.pid), ag = tunnel_hwm_kib(t->agent[0].pid);
    fprintf(stderr, "%s: peak resident memory h8sd %ld KiB, h8srd %ld KiB (bound %ld KiB)\n",
            what, gw, ag, HWM_MAX_KIB);
    assert_true(gw > 0 && ag > 0);
    assert_true(gw < HWM_MAX_KIB);
    assert_true(ag < HWM_MAX_KIB);
}

static void test_upload_10mib(void **state)
{
    struct tunnel *t = *state;
    char file[TUNNEL_PATH_MAX], at[TUNNEL_PATH_MAX + 1], want[65];
    struct tunnel_run r;
    assert_int_equal(tunnel_pattern_file(t, UP_SIZE, file), 0);
    snprintf(at, sizeof(at), "@%s", file);
    const char *args[] = {"--data-binary", at, NULL};
    e2e_curl_ok(t, &r, NULL, "/echo/big", args);
    assert_int_equal(r.code, 200);
    char len[32];
    snprintf(len, sizeof(len), "\"body_len\": %u,", UP_SIZE);
    assert_non_null(strstr(r.out, len));
    tunnel_pattern_sha(UP_SIZE, want);
    char sha[100];
    snprintf(sha, sizeof(sha), "\"body_sha256\": \"%s\"", want);
    assert_non_null(strstr(r.out, sha));
    tunnel_run_free(&r);
    unlink(file);
    assert_bounded(t, "10 MiB up");
    e2e_pass(t);
}

static void download(struct tunnel *t, const char *const *args, const char *what)
{
    char path[64], want[65];
    struct tunnel_run r;
    snprintf(path, sizeof(path), "/bytes/%u", DOWN_SIZE);
    e2e_curl_ok(t, &r, NULL, path, args);
    assert_int_equal(r.code, 200);
    assert_int_equal(r.total, DOWN_SIZE);
    tunnel_pattern_sha(DOWN_SIZE, want);
    assert_string_equal(r.sha, want);
    tunnel_run_free(&r);
    assert_bounded(t, what);
}

static void test_download_100mib(void **state)
{
    struct tunnel *t = *state;
    download(t, NULL, "100 MiB down");
    e2e_pass(t);
}

static void test_slow_client_100mib(void **state)
{
    struct tunnel *t = *state;
    const char *args[] = {"--limit-rate", SLOW_RATE, NULL};
    download(t, args, "100 MiB down, slow client");
    /* Nothing was aborted on the way. */
    assert_false(tunnel_log_has(&t->gw, "overflow"));
    e2e_pass(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        E2E_TEST(test_upload_10mib),
        E2E_TEST(test_download_100mib),
        E2E_TEST(test_slow_client_100mib),
    };
    return cmocka_run_group_tests(tests, group_setup, e2e_group_stop);
}
