/*
 * fuzz/fuzz_size.c — core/units byte sizes (units_parse_size).
 *
 * Invariants: parsing never reads past the input; a failed parse leaves the
 * output untouched; a parsed value formats to text that parses back to the
 * same value; a value read with a suffix is a multiple of that unit.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "core/units.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t v = 77, back = 0;
    char why[128], buf[UNITS_SIZE_BUFSZ];
    int rc = units_parse_size((const char *)data, size, &v, why, sizeof(why));

    if (rc != 0) {
        assert(rc == UNITS_EINVAL || rc == UNITS_EUNIT || rc == UNITS_ERANGE);
        assert(v == 77);
        assert(strlen(why) < sizeof(why) && strchr(why, '\n') == NULL);
        return 0;
    }
    size_t i = 0;
    while (i < size && data[i] >= '0' && data[i] <= '9')
        i++;
    assert(i > 0);
    if (i < size) {
        const char *units = "kmgt", *u = strchr(units, data[i] | 0x20);
        if (u != NULL && *u != '\0')
            assert(v % ((uint64_t)1 << (10 * (u - units + 1))) == 0);
    }
    size_t n = units_format_size(v, buf, sizeof(buf));
    assert(n < sizeof(buf) && n == strlen(buf));
    assert(units_parse_size(buf, n, &back, NULL, 0) == 0);
    assert(back == v);
    return 0;
}
