/*
 * fuzz/fuzz_duration.c — core/units durations (units_parse_duration).
 *
 * Invariants: parsing never reads past the input; a failed parse leaves the
 * output untouched and gives a one-line reason; a parsed value formats in
 * Go's form and that text parses back to the same value.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "core/units.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const int64_t sentinel = 0x5a5a5a5a5a5a5a5a;
    int64_t v = sentinel, back = 0;
    char why[96], buf[UNITS_DURATION_BUFSZ];
    int rc = units_parse_duration((const char *)data, size, &v, why, sizeof(why));

    if (rc != 0) {
        assert(rc == UNITS_EINVAL || rc == UNITS_ENOUNIT || rc == UNITS_EUNIT ||
               rc == UNITS_ERANGE);
        assert(v == sentinel);
        assert(strlen(why) < sizeof(why) && strchr(why, '\n') == NULL);
        return 0;
    }
    size_t n = units_format_duration(v, buf, sizeof(buf));
    assert(n < sizeof(buf) && n == strlen(buf));
    assert(units_parse_duration(buf, n, &back, NULL, 0) == 0);
    assert(back == v);
    return 0;
}
