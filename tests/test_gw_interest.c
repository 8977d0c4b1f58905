/*
 * tests/test_gw_interest.c — h8sd's --track-interest table: registrations
 * and their JSON, matching (whole hosts, exact Go-style entries), expiry
 * after H8S_INTEREST_TTL_MS, unregistering, a full table.
 *
 * The table lives in gateway/ (h8sd's own code, not in libh8s.a), and takes
 * the clock as an argument; the test compiles that one file in so expiry
 * can be checked without waiting a minute.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gateway/gw_interest.c"

#define REG "h8s.control.interest.register.x"
#define UNREG "h8s.control.interest.unregister.x"

static int reg(struct gw_interest *t, uint64_t now, const char *subject, const char *json)
{
    return gw_interest_msg(t, now, span_cstr(subject), span_cstr(json));
}

static int match(struct gw_interest *t, uint64_t now, const char *host, const char *method,
                 const char *path)
{
    uint8_t rh[SUBJECT_HOST_MAX];
    int n = subject_host(rh, sizeof(rh), span_cstr(host));
    assert_true(n > 0);
    return gw_interest_match(t, now, span_make(rh, (size_t)n), span_cstr(method),
                             span_cstr(path));
}

static void test_whole_host_and_expiry(void **state)
{
    (void)state;
    struct gw_interest t;
    assert_int_equal(gw_interest_init(&t), 0);
    assert_false(match(&t, 1000, "app.example.com", "GET", "/"));
    assert_int_equal(reg(&t, 1000, REG, "{\"host\":\"App.Example.com:8080\",\"path\":\"*\","
                                        "\"method\":\"*\"}"),
                     0);
    assert_true(match(&t, 1000, "app.example.com", "GET", "/a/b"));
    assert_true(match(&t, 1000, "APP.example.com", "DELETE", "/"));
    assert_false(match(&t, 1000, "other.example.com", "GET", "/"));
    /* Live until 60 s after the last registration. */
    assert_true(match(&t, 1000 + H8S_INTEREST_TTL_MS - 1, "app.example.com", "GET", "/"));
    assert_int_equal(reg(&t, 30000, REG, "{\"host\":\"app.example.com\"}"), 0);
    assert_int_equal(t.used, 1); /* refreshed, not added: absent path and method are "*" */
    assert_true(match(&t, 30000 + H8S_INTEREST_TTL_MS - 1, "app.example.com", "GET", "/"));
    assert_false(match(&t, 30000 + H8S_INTEREST_TTL_MS, "app.example.com", "GET", "/"));
    assert_int_equal(t.used, 0); /* reclaimed on lookup */
    gw_interest_free(&t);
}

static void test_exact_entries(void **state)
{
    (void)state;
    struct gw_interest t;
    assert_int_equal(gw_interest_init(&t), 0);
    assert_int_equal(reg(&t, 0, REG, " { \"method\" : \"GET\", \"path\":\"/caf\\u00e9 x\","
                                     "\"host\":\"svc.test\", \"n\": 1, \"b\": true, \"z\": null,"
                                     " \"s\": \"\\\"q\\\"\" } "),
                     0);
    assert_true(match(&t, 0, "svc.test", "GET", "/caf%C3%A9%20x"));
    assert_true(match(&t, 0, "svc.test", "GET", "/caf\xc3\xa9%20x"));
    assert_false(match(&t, 0, "svc.test", "POST", "/caf%C3%A9%20x"));
    assert_false(match(&t, 0, "svc.test", "GET", "/caf%C3%A9"));
    assert_false(match(&t, 0, "svc.test", "GET", "/caf%C3%A9%20xy"));
    assert_false(match(&t, 0, "svc.test", "GET", "/caf%C3%A9%2"));
    /* Unregister the exact entry; another entry of the host stays. */
    assert_int_equal(reg(&t, 0, REG, "{\"host\":\"svc.test\",\"path\":\"/b\",\"method\":\"PUT\"}"), 0);
    assert_int_equal(reg(&t, 0, UNREG, "{\"host\":\"svc.test\",\"path\":\"/caf\\u00e9 x\","
                                       "\"method\":\"GET\"}"),
                     0);
    assert_false(match(&t, 0, "svc.test", "GET", "/caf%C3%A9%20x"));
    assert_true(match(&t, 0, "svc.test", "PUT", "/b"));
    /* Unregistering what is not there is fine. */
    assert_int_equal(reg(&t, 0, UNREG, "{\"host\":\"none.test\"}"), 0);
    gw_interest_free(&t);
}

static void test_bad_messages(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "[]", "{", "{}", "{\"host\":\"\"}", "{\"host\":\"bad host\"}", "{\"host\":1}",
        "{\"host\":\"a.b\",}", "{\"host\":\"a.b\"} x", "{\"host\":\"a.b\",\"o\":{}}",
        "{\"host\":\"a.b\",\"path\":\"\\ud800\"}", "{\"host\":\"a.b\",\"path\":\"\\x\"}",
        "{\"host\":\"a.b\" \"path\":\"/\"}", "{\"host\":\"a\x01.b\"}",
        "{\"host\":\"a.b\",\"method\":\"0123456789012345678901234567890123456789\"}",
    };
    struct gw_interest t;
    assert_int_equal(gw_interest_init(&t), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (reg(&t, 0, REG, bad[i]) != -EINVAL)
            fail_msg("accepted: %s", bad[i]);
    }
    assert_int_equal(reg(&t, 0, "h8s.control.other", "{\"host\":\"a.b\"}"), -EINVAL);
    assert_int_equal(t.used, 0);
    gw_interest_free(&t);
}

static void test_full_table(void **state)
{
    (void)state;
    struct gw_interest t;
    char json[128];
    assert_int_equal(gw_interest_init(&t), 0);
    for (int i = 0; i < GW_INTEREST_MAX; i++) {
        snprintf(json, sizeof(json), "{\"host\":\"h%d.test\"}", i);
        assert_int_equal(reg(&t, 0, REG, json), 0);
    }
    assert_int_equal(reg(&t, 0, REG, "{\"host\":\"one.more\"}"), -ENOSPC);
    assert_true(match(&t, 0, "h4095.test", "GET", "/"));
    /* Once they expire, the table makes room by itself. */
    assert_int_equal(reg(&t, H8S_INTEREST_TTL_MS, REG, "{\"host\":\"one.more\"}"), 0);
    assert_int_equal(t.used, 1);
    assert_true(match(&t, H8S_INTEREST_TTL_MS, "one.more", "GET", "/"));
    gw_interest_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_host_and_expiry),
        cmocka_unit_test(test_exact_entries),
        cmocka_unit_test(test_bad_messages),
        cmocka_unit_test(test_full_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
