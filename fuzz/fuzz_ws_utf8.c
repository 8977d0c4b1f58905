/*
 * fuzz/fuzz_ws_utf8.c — proto/ws_utf8.c: the incremental validator fed in
 * random pieces agrees with one call on the whole input, and both agree
 * with a plain decode-and-check reference written here.
 */
#include <stdint.h>
#include <stdlib.h>

#include "proto/ws_utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 1 when p[0..n) decodes to complete code points, none overlong, none a
 * surrogate, none above U+10FFFF. */
static int reference_valid(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint32_t cp, min;
        size_t len;
        if (p[i] < 0x80) {
            i++;
            continue;
        } else if ((p[i] & 0xE0) == 0xC0) {
            len = 2, cp = p[i] & 0x1Fu, min = 0x80;
        } else if ((p[i] & 0xF0) == 0xE0) {
            len = 3, cp = p[i] & 0x0Fu, min = 0x800;
        } else if ((p[i] & 0xF8) == 0xF0) {
            len = 4, cp = p[i] & 0x07u, min = 0x10000;
        } else {
            return 0;
        }
        if (n - i < len)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (p[i + k] & 0x3Fu);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += len;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ws_utf8 whole, parts;
    unsigned rng = 0x9e3779b9u ^ (unsigned)size;
    int r_whole, r_parts = WS_UTF8_OK;
    size_t off = 0;

    ws_utf8_init(&whole);
    r_whole = ws_utf8_feed(&whole, data, size);
    ws_utf8_init(&parts);
    do {
        size_t n;
        rng = rng * 1103515245u + 12345u;
        n = (rng >> 16) % 7;
        if (n > size - off)
            n = size - off;
        r_parts = ws_utf8_feed(&parts, data + off, n);
        off += n;
    } while (off < size);
    if (r_parts != r_whole || ws_utf8_status(&parts) != r_whole)
        abort();
    if ((r_whole == WS_UTF8_OK) != reference_valid(data, size))
        abort();
    if (ws_utf8_valid(data, size) != (r_whole == WS_UTF8_OK))
        abort();
    return 0;
}
