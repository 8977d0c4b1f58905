/*
 * tests/test_rand.c — random ids: length, alphabet, uniqueness, a
 * chi-square check of uniformity (no timing), the rejection sampling on
 * known bytes, and byte requests of every size around the pool boundary.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/rand.h"

#define IDS 100000

static void test_id_shape(void **state)
{
    struct rand_pool p;
    char id[RAND_ID_LEN + 2];
    (void)state;

    rand_pool_init(&p);
    assert_int_equal(strlen(RAND_ID_ALPHABET), 62);
    for (int i = 0; i < 1000; i++) {
        memset(id, '#', sizeof(id));
        assert_int_equal(rand_id(&p, id, RAND_ID_LEN), 0);
        assert_int_equal(strlen(id), RAND_ID_LEN);
        assert_int_equal(strspn(id, RAND_ID_ALPHABET), RAND_ID_LEN);
        assert_int_equal(id[RAND_ID_LEN + 1], '#'); /* nothing past the NUL */
    }
    /* Other lengths, including zero. */
    for (size_t len = 0; len < 80; len++) {
        char buf[81];
        assert_int_equal(rand_id(&p, buf, len), 0);
        assert_int_equal(strlen(buf), len);
        assert_int_equal(strspn(buf, RAND_ID_ALPHABET), len);
    }
}

static int cmp_ids(const void *a, const void *b)
{
    return memcmp(a, b, RAND_ID_LEN);
}

static void test_unique_and_uniform(void **state)
{
    struct rand_pool p;
    char(*ids)[RAND_ID_LEN + 1] = calloc(IDS, RAND_ID_LEN + 1);
    size_t count[256] = {0};
    (void)state;

    assert_non_null(ids);
    rand_pool_init(&p);
    for (size_t i = 0; i < IDS; i++) {
        assert_int_equal(rand_id(&p, ids[i], RAND_ID_LEN), 0);
        for (size_t k = 0; k < RAND_ID_LEN; k++)
            count[(unsigned char)ids[i][k]]++;
    }
    qsort(ids, IDS, RAND_ID_LEN + 1, cmp_ids);
    for (size_t i = 1; i < IDS; i++)
        assert_true(memcmp(ids[i - 1], ids[i], RAND_ID_LEN) != 0);
    free(ids);

    /*
     * Chi-square over the 62 symbols (61 degrees of freedom: mean 61,
     * standard deviation 11). 150 is about 6 sigma out, a false alarm
     * roughly once in 10^9 runs; a modulo-biased mapping (256 % 62 leaves
     * 8 symbols 25% likelier) scores in the thousands.
     */
    double expect = (double)IDS * RAND_ID_LEN / 62, chi2 = 0;
    size_t total = 0;
    for (const char *c = RAND_ID_ALPHABET; *c; c++) {
        double d = (double)count[(unsigned char)*c] - expect;
        chi2 += d * d / expect;
        total += count[(unsigned char)*c];
    }
    assert_int_equal(total, (size_t)IDS * RAND_ID_LEN);
    if (chi2 > 150)
        fail_msg("chi-square %.1f over 61 degrees of freedom", chi2);
}

static void test_rejection_on_known_bytes(void **state)
{
    struct rand_pool p;
    char id[8];
    (void)state;

    /* Feed the pool bytes we choose: 248..255 must be skipped, the rest
     * map to alphabet[b % 62]. */
    memset(p.buf, 0, sizeof(p.buf));
    const uint8_t bytes[] = {255, 248, 0, 61, 62, 249, 247, 123, 250, 25};
    memcpy(p.buf + RAND_POOL_SIZE - sizeof(bytes), bytes, sizeof(bytes));
    p.pos = RAND_POOL_SIZE - sizeof(bytes);
    assert_int_equal(rand_id(&p, id, 6), 0);
    /* 0->A, 61->9, 62->A, 247->9 (247 % 62 = 61), 123->9 (123 % 62 = 61), 25->Z */
    assert_string_equal(id, "A9A99Z");
    assert_int_equal(p.pos, RAND_POOL_SIZE); /* pool used up exactly */

    /* Only rejected bytes left: the pool refills from the kernel. */
    memset(p.buf, 0xff, sizeof(p.buf));
    p.pos = 0;
    assert_int_equal(rand_id(&p, id, 4), 0);
    assert_int_equal(strspn(id, RAND_ID_ALPHABET), 4);
    assert_true(p.pos < RAND_POOL_SIZE);
}

static void test_bytes_sizes(void **state)
{
    struct rand_pool p;
    static uint8_t buf[3 * RAND_POOL_SIZE + 8];
    size_t hist[256] = {0};
    (void)state;

    rand_pool_init(&p);
    /* Sizes up to three pools, from shifting pool positions. */
    for (size_t n = 0; n < sizeof(buf) - 8; n += 1 + n / 16) {
        memset(buf, 0xa5, sizeof(buf));
        assert_int_equal(rand_bytes(&p, buf, n), 0);
        for (size_t i = n; i < sizeof(buf); i++)
            assert_int_equal(buf[i], 0xa5); /* no write past n */
    }
    /* 1 MiB of bytes: every value appears, roughly evenly. */
    for (int r = 0; r < 4096; r++) {
        assert_int_equal(rand_bytes(&p, buf, RAND_POOL_SIZE), 0);
        for (size_t i = 0; i < RAND_POOL_SIZE; i++)
            hist[buf[i]]++;
    }
    double expect = 4096.0 * RAND_POOL_SIZE / 256, chi2 = 0;
    for (int v = 0; v < 256; v++)
        chi2 += (hist[v] - expect) * (hist[v] - expect) / expect;
    /* 255 degrees of freedom: mean 255, sd 22.6; 450 is > 8 sigma. */
    if (chi2 > 450)
        fail_msg("byte chi-square %.1f", chi2);
}

static void test_u64(void **state)
{
    struct rand_pool p;
    uint64_t seen_or = 0, seen_and = UINT64_MAX, prev = 0;
    (void)state;
    rand_pool_init(&p);
    for (int i = 0; i < 1000; i++) {
        uint64_t v;
        assert_int_equal(rand_u64(&p, &v), 0);
        assert_true(i == 0 || v != prev);
        seen_or |= v;
        seen_and &= v;
        prev = v;
    }
    /* Every bit was seen both set and clear. */
    assert_true(seen_or == UINT64_MAX);
    assert_true(seen_and == 0);
}

static void test_two_pools_differ(void **state)
{
    struct rand_pool a, b;
    char x[RAND_ID_LEN + 1], y[RAND_ID_LEN + 1];
    (void)state;
    rand_pool_init(&a);
    rand_pool_init(&b);
    assert_int_equal(rand_id(&a, x, RAND_ID_LEN), 0);
    assert_int_equal(rand_id(&b, y, RAND_ID_LEN), 0);
    assert_string_not_equal(x, y);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id_shape),
        cmocka_unit_test(test_unique_and_uniform),
        cmocka_unit_test(test_rejection_on_known_bytes),
        cmocka_unit_test(test_bytes_sizes),
        cmocka_unit_test(test_u64),
        cmocka_unit_test(test_two_pools_differ),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
