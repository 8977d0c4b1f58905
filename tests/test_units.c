/*
 * tests/test_units.c — Go-compatible durations and byte sizes.
 *
 * The duration vectors follow Go's time.ParseDuration / Duration.String()
 * behaviour (including its test table's edge cases). Every input is placed
 * right before a guard page, without a NUL, so reading past the given
 * length faults.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/units.h"
#include "tests/support/guardpage.h"

#define NS UNITS_NS
#define US UNITS_US
#define MS UNITS_MS
#define SEC UNITS_S
#define MIN UNITS_M
#define HOUR UNITS_H

struct dur_ok {
    const char *in;
    int64_t want;
};

static const struct dur_ok dur_valid[] = {
    /* simple */
    {"0", 0},
    {"5s", 5 * SEC},
    {"30s", 30 * SEC},
    {"1478s", 1478 * SEC},
    /* sign */
    {"-5s", -5 * SEC},
    {"+5s", 5 * SEC},
    {"-0", 0},
    {"+0", 0},
    {"0s", 0},
    {"-0s", 0},
    {"0.0s", 0},
    /* decimal */
    {"5.0s", 5 * SEC},
    {"5.6s", 5 * SEC + 600 * MS},
    {"5.s", 5 * SEC},
    {".5s", 500 * MS},
    {"1.0s", 1 * SEC},
    {"1.00s", 1 * SEC},
    {"1.004s", 1 * SEC + 4 * MS},
    {"1.0040s", 1 * SEC + 4 * MS},
    {"100.00100s", 100 * SEC + 1 * MS},
    {"1.0000000001s", 1 * SEC},
    {"1.9999999999s", 1999999999},
    /* units */
    {"10ns", 10 * NS},
    {"11us", 11 * US},
    {"12\xc2\xb5s", 12 * US}, /* U+00B5 */
    {"12\xce\xbcs", 12 * US}, /* U+03BC */
    {"13ms", 13 * MS},
    {"14s", 14 * SEC},
    {"15m", 15 * MIN},
    {"16h", 16 * HOUR},
    {"250ms", 250 * MS},
    {"300us", 300 * US},
    {"1.5h", 90 * MIN},
    /* composite */
    {"1m30s", 90 * SEC},
    {"3h30m", 3 * HOUR + 30 * MIN},
    {"10.5s4m", 4 * MIN + 10 * SEC + 500 * MS},
    {"-2m3.4s", -(2 * MIN + 3 * SEC + 400 * MS)},
    {"1h2m3s4ms5us6ns", 1 * HOUR + 2 * MIN + 3 * SEC + 4 * MS + 5 * US + 6 * NS},
    {"39h9m14.425s", 39 * HOUR + 9 * MIN + 14 * SEC + 425 * MS},
    {"1h1h", 2 * HOUR},
    {"1s1ms1s", 2 * SEC + 1 * MS},
    /* large and exact */
    {"52763797000ns", 52763797000 * NS},
    {"0.3333333333333333333h", 20 * MIN},
    {"9007199254740993ns", (INT64_C(1) << 53) + 1},
    {"9223372036854775807ns", INT64_MAX},
    {"9223372036854775.807us", INT64_MAX},
    {"9223372036854ms775us807ns", INT64_MAX},
    {"-9223372036854775808ns", INT64_MIN},
    {"-9223372036854775.808us", INT64_MIN},
    {"-9223372036854ms775us808ns", INT64_MIN},
    {"-2562047h47m16.854775808s", INT64_MIN},
    {"2562047h47m16.854775807s", INT64_MAX},
    {"0.100000000000000000000h", 6 * MIN},
    {"0.830103483285477580700h", 49 * MIN + 48 * SEC + 372539827 * NS},
    {"000000000000000000000000000001s", 1 * SEC},
    {"1.000000000000000000000000000000001h", 1 * HOUR},
};

struct dur_bad {
    const char *in;
    int err;
};

static const struct dur_bad dur_invalid[] = {
    {"", UNITS_EINVAL},
    {"+", UNITS_EINVAL},
    {"-", UNITS_EINVAL},
    {"3", UNITS_ENOUNIT},
    {"-5", UNITS_ENOUNIT},
    {"00", UNITS_ENOUNIT},
    {"0.0", UNITS_ENOUNIT},
    {"1.5.5s", UNITS_ENOUNIT},
    {"s", UNITS_EINVAL},
    {".", UNITS_EINVAL},
    {"-.", UNITS_EINVAL},
    {".s", UNITS_EINVAL},
    {"+.s", UNITS_EINVAL},
    {"+-5s", UNITS_EINVAL},
    {" 5s", UNITS_EINVAL},
    {"1d", UNITS_EUNIT},
    {"5x", UNITS_EUNIT},
    {"5 s", UNITS_EUNIT},
    {"5s ", UNITS_EUNIT},
    {"1h-5m", UNITS_EUNIT},
    {"1e3s", UNITS_EUNIT},
    {"5S", UNITS_EUNIT},
    {"5Ms", UNITS_EUNIT},
    {"5sec", UNITS_EUNIT},
    {"5\xc2s", UNITS_EUNIT},
    {"\x85\x85", UNITS_EINVAL},
    {"\xff\xff", UNITS_EINVAL},
    {"hello \xff\xff world", UNITS_EINVAL},
    {"9223372036854775810ns", UNITS_ERANGE},
    {"9223372036854775808ns", UNITS_ERANGE},
    {"-9223372036854775809ns", UNITS_ERANGE},
    {"9223372036854775.808us", UNITS_ERANGE},
    {"9223372036854ms775.808us", UNITS_ERANGE},
    {"2562047h47m16.854775808s", UNITS_ERANGE},
    {"2562048h", UNITS_ERANGE},
    {"2562047h48m", UNITS_ERANGE},
    {"99999999999999999999s", UNITS_ERANGE},
    {"-99999999999999999999h", UNITS_ERANGE},
};

static struct guardpage guard;

static int setup(void **state)
{
    (void)state;
    return guardpage_init(&guard, 4096) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    guardpage_free(&guard);
    return 0;
}

static int parse_dur(const char *s, int64_t *out, char *why, size_t whylen)
{
    size_t n = strlen(s);
    return units_parse_duration(guardpage_place(&guard, s, n), n, out, why, whylen);
}

static void test_duration_valid(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(dur_valid) / sizeof(dur_valid[0]); i++) {
        int64_t got = 12345;
        int rc = parse_dur(dur_valid[i].in, &got, NULL, 0);
        if (rc != 0 || got != dur_valid[i].want)
            fail_msg("\"%s\": rc=%d got %lld want %lld", dur_valid[i].in, rc, (long long)got,
                     (long long)dur_valid[i].want);
    }
}

static void test_duration_invalid(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(dur_invalid) / sizeof(dur_invalid[0]); i++) {
        int64_t got = 12345;
        char why[128] = "";
        int rc = parse_dur(dur_invalid[i].in, &got, why, sizeof(why));
        if (rc != dur_invalid[i].err)
            fail_msg("\"%s\": rc=%d want %d", dur_invalid[i].in, rc, dur_invalid[i].err);
        assert_int_equal(got, 12345); /* untouched on error */
        assert_true(why[0] != '\0');
        assert_null(strchr(why, '\n'));
    }
}

static void test_duration_messages(void **state)
{
    char why[128];
    int64_t v;
    (void)state;

    assert_int_equal(parse_dur("5x", &v, why, sizeof(why)), UNITS_EUNIT);
    assert_string_equal(why, "unknown unit \"x\" (use ns, us, ms, s, m, h)");
    assert_int_equal(parse_dur("5", &v, why, sizeof(why)), UNITS_ENOUNIT);
    assert_string_equal(why, "missing unit (use ns, us, ms, s, m, h)");
    assert_int_equal(parse_dur("", &v, why, sizeof(why)), UNITS_EINVAL);
    assert_string_equal(why, "empty duration (use ns, us, ms, s, m, h)");
    assert_int_equal(parse_dur("99999999999h", &v, why, sizeof(why)), UNITS_ERANGE);
    assert_non_null(strstr(why, "out of range"));
    /* Hostile bytes in the unit are escaped, never copied raw. */
    assert_int_equal(parse_dur("5\n\"\x01\xff", &v, why, sizeof(why)), UNITS_EUNIT);
    assert_string_equal(why, "unknown unit \"\\x0a\\x22\\x01\\xff\" (use ns, us, ms, s, m, h)");
    /* A long unit is cut; a small buffer is NUL-terminated and truncated. */
    char longin[300];
    memset(longin, 'z', sizeof(longin) - 1);
    longin[0] = '1';
    longin[sizeof(longin) - 1] = '\0';
    assert_int_equal(parse_dur(longin, &v, why, sizeof(why)), UNITS_EUNIT);
    assert_non_null(strstr(why, "...\""));
    assert_true(strlen(why) < sizeof(why));
    char tiny[8];
    assert_int_equal(parse_dur("5x", &v, tiny, sizeof(tiny)), UNITS_EUNIT);
    assert_string_equal(tiny, "unknown");
    /* why may be NULL. */
    assert_int_equal(parse_dur("5x", &v, NULL, 0), UNITS_EUNIT);
}

static void test_duration_no_overread(void **state)
{
    int64_t v = 0;
    (void)state;
    /* The length is the contract: "5sX" with n = 2 is "5s". */
    assert_int_equal(units_parse_duration("5sX", 2, &v, NULL, 0), 0);
    assert_int_equal(v, 5 * SEC);
    assert_int_equal(units_parse_duration("15m", 1, &v, NULL, 0), UNITS_ENOUNIT);
    assert_int_equal(units_parse_duration("0s", 1, &v, NULL, 0), 0);
    assert_int_equal(v, 0);
    assert_int_equal(units_parse_duration(NULL, 0, &v, NULL, 0), UNITS_EINVAL);
}

struct dur_fmt {
    int64_t in;
    const char *want;
};

static const struct dur_fmt dur_format[] = {
    {0, "0s"},
    {1 * NS, "1ns"},
    {1100 * NS, "1.1\xc2\xb5s"},
    {2200 * US, "2.2ms"},
    {3300 * MS, "3.3s"},
    {4 * MIN + 5 * SEC, "4m5s"},
    {4 * MIN + 5001 * MS, "4m5.001s"},
    {5 * HOUR + 6 * MIN + 7001 * MS, "5h6m7.001s"},
    {8 * MIN + 1 * NS, "8m0.000000001s"},
    {INT64_MAX, "2562047h47m16.854775807s"},
    {INT64_MIN, "-2562047h47m16.854775808s"},
    {1 * HOUR, "1h0m0s"},
    {1 * MIN, "1m0s"},
    {90 * SEC, "1m30s"},
    {-1 * NS, "-1ns"},
    {-1500 * US, "-1.5ms"},
    {999 * NS, "999ns"},
    {1000 * NS, "1\xc2\xb5s"},
    {999999 * NS, "999.999\xc2\xb5s"},
    {1 * MS, "1ms"},
    {999999999 * NS, "999.999999ms"},
    {1 * SEC, "1s"},
    {30 * SEC, "30s"},
    {25 * HOUR, "25h0m0s"},
};

static void test_duration_format(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(dur_format) / sizeof(dur_format[0]); i++) {
        char buf[UNITS_DURATION_BUFSZ];
        size_t n = units_format_duration(dur_format[i].in, buf, sizeof(buf));
        assert_string_equal(buf, dur_format[i].want);
        assert_int_equal(n, strlen(dur_format[i].want));
    }
    /* snprintf-like truncation. */
    char small[5];
    assert_int_equal(units_format_duration(90 * SEC, small, sizeof(small)), 5);
    assert_string_equal(small, "1m30");
    assert_int_equal(units_format_duration(90 * SEC, NULL, 0), 5);
}

/* A deterministic generator, so a failure reproduces. */
static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void test_duration_roundtrip(void **state)
{
    uint64_t seed = 0x9e3779b97f4a7c15u;
    (void)state;
    for (int i = 0; i < 200000; i++) {
        uint64_t r = next_rand(&seed);
        /* Spread values over every magnitude, both signs. */
        int64_t v = (int64_t)(r >> (r % 64));
        if (i & 1)
            v = -v;
        if (i == 0)
            v = INT64_MIN;
        if (i == 1)
            v = INT64_MAX;
        char buf[UNITS_DURATION_BUFSZ];
        size_t n = units_format_duration(v, buf, sizeof(buf));
        assert_true(n < sizeof(buf));
        int64_t back = 0;
        int rc = units_parse_duration(buf, n, &back, NULL, 0);
        if (rc != 0 || back != v)
            fail_msg("%lld -> \"%s\" -> rc=%d %lld", (long long)v, buf, rc, (long long)back);
    }
}

struct size_ok {
    const char *in;
    uint64_t want;
};

static const struct size_ok size_valid[] = {
    {"0", 0},
    {"1", 1},
    {"1024", 1024},
    {"16384", 16384},
    {"512B", 512},
    {"512b", 512},
    {"1K", 1024},
    {"1k", 1024},
    {"1KB", 1024},
    {"1kb", 1024},
    {"1KiB", 1024},
    {"1kib", 1024},
    {"1KIB", 1024},
    {"16KiB", 16384},
    {"1M", 1048576},
    {"1MB", 1048576},
    {"1MiB", 1048576},
    {"2M", 2097152},
    {"2G", UINT64_C(2) << 30},
    {"3g", UINT64_C(3) << 30},
    {"1T", UINT64_C(1) << 40},
    {"1TiB", UINT64_C(1) << 40},
    {"0K", 0},
    {"007M", UINT64_C(7) << 20},
    {"18446744073709551615", UINT64_MAX},
    {"16777215T", UINT64_MAX - ((UINT64_C(1) << 40) - 1)},
    {"17179869183G", UINT64_MAX - ((UINT64_C(1) << 30) - 1)},
};

static const struct dur_bad size_invalid[] = {
    {"", UNITS_EINVAL},
    {"K", UNITS_EINVAL},
    {"-1", UNITS_EINVAL},
    {"+1", UNITS_EINVAL},
    {" 1", UNITS_EINVAL},
    {"1.5M", UNITS_EINVAL},
    {"1.", UNITS_EINVAL},
    {"1 ", UNITS_EUNIT},
    {"1 M", UNITS_EUNIT},
    {"1MM", UNITS_EUNIT},
    {"1Mi", UNITS_EUNIT},
    {"1iB", UNITS_EUNIT},
    {"1X", UNITS_EUNIT},
    {"1KBB", UNITS_EUNIT},
    {"1KiBs", UNITS_EUNIT},
    {"1P", UNITS_EUNIT},
    {"0x10", UNITS_EUNIT},
    {"1e3", UNITS_EUNIT},
    {"18446744073709551616", UNITS_ERANGE},
    {"99999999999999999999999", UNITS_ERANGE},
    {"16777216T", UNITS_ERANGE},
    {"17179869184G", UNITS_ERANGE},
    {"18014398509481984K", UNITS_ERANGE},
};

static int parse_size_n(const char *s, size_t n, uint64_t *out, char *why, size_t whylen)
{
    return units_parse_size(guardpage_place(&guard, s, n), n, out, why, whylen);
}

static void test_size_valid(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(size_valid) / sizeof(size_valid[0]); i++) {
        uint64_t got = 12345;
        int rc = parse_size_n(size_valid[i].in, strlen(size_valid[i].in), &got, NULL, 0);
        if (rc != 0 || got != size_valid[i].want)
            fail_msg("\"%s\": rc=%d got %llu", size_valid[i].in, rc, (unsigned long long)got);
    }
}

static void test_size_invalid(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(size_invalid) / sizeof(size_invalid[0]); i++) {
        uint64_t got = 12345;
        char why[128] = "";
        const char *in = size_invalid[i].in;
        size_t n = strlen(in);
        int rc = parse_size_n(in, n, &got, why, sizeof(why));
        if (rc != size_invalid[i].err)
            fail_msg("\"%s\": rc=%d want %d", in, rc, size_invalid[i].err);
        assert_int_equal(got, 12345);
        assert_true(why[0] != '\0');
    }
    char why[160];
    uint64_t v;
    /* An embedded NUL is a byte like any other, not a terminator. */
    assert_int_equal(parse_size_n("1\0", 2, &v, why, sizeof(why)), UNITS_EUNIT);
    assert_string_equal(
        why, "unknown suffix \"\\x00\" (use K, M, G or T, optionally followed by B or iB)");
    assert_int_equal(parse_size_n("5x", 2, &v, why, sizeof(why)), UNITS_EUNIT);
    assert_string_equal(why,
                        "unknown suffix \"x\" (use K, M, G or T, optionally followed by B or iB)");
}

static void test_size_format(void **state)
{
    static const struct size_ok fmt[] = {
        {"0", 0},
        {"1", 1},
        {"1000", 1000},
        {"1KiB", 1024},
        {"1025", 1025},
        {"16KiB", 16384},
        {"2MiB", 2097152},
        {"1536KiB", 1536 * 1024},
        {"8GiB", UINT64_C(8) << 30},
        {"3TiB", UINT64_C(3) << 40},
        {"16777215TiB", UINT64_MAX - ((UINT64_C(1) << 40) - 1)},
        {"18446744073709551615", UINT64_MAX},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(fmt) / sizeof(fmt[0]); i++) {
        char buf[UNITS_SIZE_BUFSZ];
        uint64_t back = 0;
        size_t n = units_format_size(fmt[i].want, buf, sizeof(buf));
        assert_string_equal(buf, fmt[i].in);
        assert_int_equal(n, strlen(fmt[i].in));
        assert_int_equal(units_parse_size(buf, n, &back, NULL, 0), 0);
        assert_true(back == fmt[i].want);
    }
    uint64_t seed = 12345;
    for (int i = 0; i < 100000; i++) {
        uint64_t r = next_rand(&seed);
        uint64_t v = r >> (r % 64);
        if (i % 3 == 0)
            v <<= 10 * (r % 5);
        char buf[UNITS_SIZE_BUFSZ];
        uint64_t back = 0;
        size_t n = units_format_size(v, buf, sizeof(buf));
        assert_int_equal(units_parse_size(buf, n, &back, NULL, 0), 0);
        assert_true(back == v);
    }
}

static void test_strerror(void **state)
{
    (void)state;
    assert_string_equal(units_strerror(UNITS_EUNIT), "unknown unit");
    assert_string_equal(units_strerror(UNITS_ERANGE), "out of range");
    assert_string_equal(units_strerror(-99), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration_valid),    cmocka_unit_test(test_duration_invalid),
        cmocka_unit_test(test_duration_messages), cmocka_unit_test(test_duration_no_overread),
        cmocka_unit_test(test_duration_format),   cmocka_unit_test(test_duration_roundtrip),
        cmocka_unit_test(test_size_valid),        cmocka_unit_test(test_size_invalid),
        cmocka_unit_test(test_size_format),       cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
