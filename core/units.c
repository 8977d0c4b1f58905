/* see units.h */
#include "core/units.h"

#include "core/outbuf.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define TWO63 ((uint64_t)1 << 63)

#define DURATION_UNITS_HINT "(use ns, us, ms, s, m, h)"
#define SIZE_SUFFIX_HINT "(use K, M, G or T, optionally followed by B or iB)"

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/*
 * Writes `reason "part" tail` into why. The part comes from untrusted input
 * and ends up in a one-line message, so it is escaped and cut.
 */
static void set_why(char *why, size_t whylen, const char *reason, const char *part, size_t n,
                    const char *tail)
{
    struct outbuf o = outbuf_make(why, whylen);

    if (why == NULL)
        return;
    outbuf_puts(&o, reason);
    if (part != NULL) {
        outbuf_puts(&o, " \"");
        outbuf_put_escaped(&o, part, n, 24);
        outbuf_puts(&o, "\"");
    }
    if (tail[0] != '\0') {
        outbuf_puts(&o, " ");
        outbuf_puts(&o, tail);
    }
    outbuf_finish(&o);
}

/* ------------------------------------------------------------ durations */

struct duration_unit {
    const char *name;
    size_t len;
    uint64_t ns;
};

static const struct duration_unit duration_units[] = {
    {"ns", 2, 1},           {"us", 2, 1000},      {"\xc2\xb5s", 3, 1000}, /* U+00B5 MICRO SIGN */
    {"\xce\xbcs", 3, 1000}, /* U+03BC GREEK SMALL LETTER MU */
    {"ms", 2, 1000000},     {"s", 1, 1000000000}, {"m", 1, 60000000000},  {"h", 1, 3600000000000},
};

static uint64_t duration_unit_lookup(const char *p, size_t n)
{
    for (size_t i = 0; i < sizeof(duration_units) / sizeof(duration_units[0]); i++) {
        if (duration_units[i].len == n && memcmp(duration_units[i].name, p, n) == 0)
            return duration_units[i].ns;
    }
    return 0;
}

int units_parse_duration(const char *s, size_t n, int64_t *ns, char *why, size_t whylen)
{
    size_t i = 0;
    bool neg = false;
    uint64_t total = 0;

    if (n > 0 && (s[0] == '-' || s[0] == '+')) {
        neg = s[0] == '-';
        i = 1;
    }
    if (n - i == 1 && s[i] == '0') {
        *ns = 0;
        return 0;
    }
    if (i == n) {
        set_why(why, whylen, "empty duration", NULL, 0, DURATION_UNITS_HINT);
        return UNITS_EINVAL;
    }
    while (i < n) {
        uint64_t v = 0, f = 0, unit;
        double scale = 1;
        size_t start = i, ustart;
        bool frac_digits = false;

        if (s[i] != '.' && !is_digit(s[i])) {
            set_why(why, whylen, "expected a number at", s + i, n - i, "");
            return UNITS_EINVAL;
        }
        for (; i < n && is_digit(s[i]); i++) {
            /* Bounded by 2^63 (the magnitude of INT64_MIN), as in Go, so
             * neither this nor the sums below can wrap. */
            if (v > TWO63 / 10)
                goto range;
            v = v * 10 + (uint64_t)(s[i] - '0');
            if (v > TWO63)
                goto range;
        }
        bool int_digits = i > start;
        if (i < n && s[i] == '.') {
            bool saturated = false;
            size_t fstart = ++i;
            /* Digits past what fits are still consumed but add no
             * precision; that is what Go does, and it cannot overflow. */
            for (; i < n && is_digit(s[i]); i++) {
                if (saturated)
                    continue;
                if (f > (TWO63 - 1) / 10) {
                    saturated = true;
                    continue;
                }
                uint64_t g = f * 10 + (uint64_t)(s[i] - '0');
                if (g > TWO63) {
                    saturated = true;
                    continue;
                }
                f = g;
                scale *= 10;
            }
            frac_digits = i > fstart;
        }
        if (!int_digits && !frac_digits) {
            set_why(why, whylen, "expected digits in", s + start, i - start, "");
            return UNITS_EINVAL;
        }
        ustart = i;
        while (i < n && s[i] != '.' && !is_digit(s[i]))
            i++;
        if (i == ustart) {
            set_why(why, whylen, "missing unit", NULL, 0, DURATION_UNITS_HINT);
            return UNITS_ENOUNIT;
        }
        unit = duration_unit_lookup(s + ustart, i - ustart);
        if (unit == 0) {
            set_why(why, whylen, "unknown unit", s + ustart, i - ustart, DURATION_UNITS_HINT);
            return UNITS_EUNIT;
        }
        if (v > TWO63 / unit)
            goto range;
        v *= unit;
        if (f > 0) {
            /* Same double arithmetic as Go so that fractions of hours give
             * the same nanosecond value; the product is below 3.6e12. */
            v += (uint64_t)((double)f * ((double)unit / scale));
            if (v > TWO63)
                goto range;
        }
        total += v;
        if (total > TWO63)
            goto range;
    }
    if (neg)
        *ns = total == TWO63 ? INT64_MIN : -(int64_t)total;
    else if (total > (uint64_t)INT64_MAX)
        goto range;
    else
        *ns = (int64_t)total;
    return 0;

range:
    set_why(why, whylen, "out of range", NULL, 0, "(at most 2562047h47m16.854775807s)");
    return UNITS_ERANGE;
}

/*
 * Writes the low prec decimal digits of v as a fraction ending at
 * buf[end-1] (trailing zeros dropped, no '.' when all are zero). Returns
 * the new start and leaves v / 10^prec in *v.
 */
static size_t put_frac(char *buf, size_t end, uint64_t *v, int prec)
{
    bool any = false;

    for (int k = 0; k < prec; k++) {
        unsigned d = (unsigned)(*v % 10);
        any = any || d != 0;
        if (any)
            buf[--end] = (char)('0' + d);
        *v /= 10;
    }
    if (any)
        buf[--end] = '.';
    return end;
}

static size_t put_uint(char *buf, size_t end, uint64_t v)
{
    do {
        buf[--end] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    return end;
}

static size_t copy_out(const char *s, size_t n, char *buf, size_t cap)
{
    struct outbuf o = outbuf_make(buf, cap);
    outbuf_put(&o, s, n);
    return outbuf_finish(&o);
}

size_t units_format_duration(int64_t ns, char *buf, size_t cap)
{
    char tmp[UNITS_DURATION_BUFSZ];
    size_t w = sizeof(tmp);
    /* Two's complement negation in uint64_t covers INT64_MIN. */
    uint64_t u = ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;

    tmp[--w] = 's';
    if (u < (uint64_t)UNITS_S) {
        if (u == 0) {
            tmp[--w] = '0';
        } else if (u < (uint64_t)UNITS_US) {
            tmp[--w] = 'n';
            w = put_uint(tmp, w, u);
        } else if (u < (uint64_t)UNITS_MS) {
            tmp[--w] = '\xb5';
            tmp[--w] = '\xc2';
            w = put_frac(tmp, w, &u, 3);
            w = put_uint(tmp, w, u);
        } else {
            tmp[--w] = 'm';
            w = put_frac(tmp, w, &u, 6);
            w = put_uint(tmp, w, u);
        }
    } else {
        w = put_frac(tmp, w, &u, 9);
        w = put_uint(tmp, w, u % 60);
        u /= 60;
        if (u > 0) {
            tmp[--w] = 'm';
            w = put_uint(tmp, w, u % 60);
            u /= 60;
            if (u > 0) {
                tmp[--w] = 'h';
                w = put_uint(tmp, w, u);
            }
        }
    }
    if (ns < 0)
        tmp[--w] = '-';
    return copy_out(tmp + w, sizeof(tmp) - w, buf, cap);
}

/* ---------------------------------------------------------------- sizes */

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

/* Multiplier for a size suffix, 0 when the suffix is not one we accept. */
static uint64_t size_suffix(const char *p, size_t n)
{
    static const char letters[] = "kmgt";
    const char *l;

    if (n == 0)
        return 1;
    if (n == 1 && lower(p[0]) == 'b')
        return 1;
    l = memchr(letters, lower(p[0]), 4);
    if (l == NULL)
        return 0;
    if (n == 1 || (n == 2 && lower(p[1]) == 'b') ||
        (n == 3 && lower(p[1]) == 'i' && lower(p[2]) == 'b'))
        return (uint64_t)1 << (10 * (l - letters + 1));
    return 0;
}

int units_parse_size(const char *s, size_t n, uint64_t *bytes, char *why, size_t whylen)
{
    uint64_t v = 0, mult;
    size_t i = 0;

    for (; i < n && is_digit(s[i]); i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            goto range;
        v = v * 10 + d;
    }
    if (i == 0) {
        if (n == 0)
            set_why(why, whylen, "empty size", NULL, 0, "");
        else
            set_why(why, whylen, "expected a number at", s, n, "");
        return UNITS_EINVAL;
    }
    if (i < n && s[i] == '.') {
        set_why(why, whylen, "fractional sizes are not supported", NULL, 0, "");
        return UNITS_EINVAL;
    }
    mult = size_suffix(s + i, n - i);
    if (mult == 0) {
        set_why(why, whylen, "unknown suffix", s + i, n - i, SIZE_SUFFIX_HINT);
        return UNITS_EUNIT;
    }
    if (v > UINT64_MAX / mult)
        goto range;
    *bytes = v * mult;
    return 0;

range:
    set_why(why, whylen, "out of range", NULL, 0, "(at most 18446744073709551615 bytes)");
    return UNITS_ERANGE;
}

size_t units_format_size(uint64_t bytes, char *buf, size_t cap)
{
    static const char *const suffix[] = {"TiB", "GiB", "MiB", "KiB"};
    char tmp[UNITS_SIZE_BUFSZ];
    int shift = 40;

    for (size_t k = 0; k < 4; k++, shift -= 10) {
        uint64_t unit = (uint64_t)1 << shift;
        if (bytes != 0 && bytes % unit == 0) {
            int len =
                snprintf(tmp, sizeof(tmp), "%llu%s", (unsigned long long)(bytes / unit), suffix[k]);
            return copy_out(tmp, (size_t)len, buf, cap);
        }
    }
    int len = snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)bytes);
    return copy_out(tmp, (size_t)len, buf, cap);
}

const char *units_strerror(int err)
{
    switch (err) {
    case 0:
        return "ok";
    case UNITS_EINVAL:
        return "malformed value";
    case UNITS_ENOUNIT:
        return "missing unit";
    case UNITS_EUNIT:
        return "unknown unit";
    case UNITS_ERANGE:
        return "out of range";
    default:
        return "unknown error";
    }
}
