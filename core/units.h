/*
 * core/units.h — durations and byte sizes as operators write them.
 *
 * Durations follow Go's time.ParseDuration and time.Duration.String()
 * exactly, so a value that works with the Go h8s works here: a sequence of
 * decimal numbers, each with an optional fraction and a mandatory unit
 * ("300ms", "1.5h", "2h45m", "-1m30s"), units ns, us, µs (U+00B5), μs
 * (U+03BC), ms, s, m, h; an optional leading sign; "0" is the only value
 * allowed without a unit. The result is a signed count of nanoseconds.
 *
 * Sizes are plain byte counts ("1048576") or a count with a binary suffix
 * K, M, G or T (case-insensitive), optionally followed by "B" or "iB":
 * "1M" = "1MB" = "1MiB" = 1048576. A lone "B" suffix means bytes. No sign, no
 * fraction, no spaces.
 *
 * Pure functions: no allocation, no global state, thread-safe.
 */
#ifndef H8S_CORE_UNITS_H
#define H8S_CORE_UNITS_H

#include <stddef.h>
#include <stdint.h>

#define UNITS_NS ((int64_t)1)
#define UNITS_US ((int64_t)1000)
#define UNITS_MS ((int64_t)1000000)
#define UNITS_S ((int64_t)1000000000)
#define UNITS_M (60 * UNITS_S)
#define UNITS_H (60 * UNITS_M)

#define UNITS_KIB ((uint64_t)1 << 10)
#define UNITS_MIB ((uint64_t)1 << 20)
#define UNITS_GIB ((uint64_t)1 << 30)
#define UNITS_TIB ((uint64_t)1 << 40)

/* Buffer sizes (including the NUL) that always fit a formatted value. */
#define UNITS_DURATION_BUFSZ 32
#define UNITS_SIZE_BUFSZ 32

/* Error codes (negative). */
#define UNITS_EINVAL (-1)  /* malformed: empty, stray character, no digits */
#define UNITS_ENOUNIT (-2) /* a duration number without a unit ("5") */
#define UNITS_EUNIT (-3)   /* unknown duration unit or size suffix */
#define UNITS_ERANGE (-4)  /* does not fit int64 nanoseconds / uint64 bytes */

/*
 * Parses the duration s[0..n) (not necessarily NUL-terminated) into *ns.
 * Accepts exactly what Go's time.ParseDuration accepts and yields the same
 * value (fractions are computed the way Go computes them). Returns 0, or a
 * negative UNITS_E* code with *ns untouched. When why is not NULL and the
 * parse fails, a short one-line reason naming the offending part (e.g.
 * `unknown unit "x" (use ns, us, ms, s, m, h)`) is written there, always
 * NUL-terminated and truncated to whylen bytes.
 */
int units_parse_duration(const char *s, size_t n, int64_t *ns, char *why, size_t whylen);

/*
 * Formats ns the way Go's Duration.String() does ("1h2m3.5s", "1.5ms",
 * "0s", "-250µs"; micro is written as U+00B5, which the parser accepts).
 * Writes at most cap bytes including the NUL; with cap >=
 * UNITS_DURATION_BUFSZ the result is never truncated. Returns the length
 * of the full formatted value (excluding the NUL), like snprintf.
 */
size_t units_format_duration(int64_t ns, char *buf, size_t cap);

/*
 * Parses the size s[0..n) into *bytes. Returns 0, or a negative UNITS_E*
 * code with *bytes untouched; why as for units_parse_duration.
 */
int units_parse_size(const char *s, size_t n, uint64_t *bytes, char *why, size_t whylen);

/*
 * Formats a size with the largest binary unit that divides it exactly
 * ("2MiB", "16KiB", "1000"), a form units_parse_size reads back to the same
 * value. Same buffer contract and return value as units_format_duration.
 */
size_t units_format_size(uint64_t bytes, char *buf, size_t cap);

/* A static description of a UNITS_E* code ("unknown unit", ...). */
const char *units_strerror(int err);

#endif
