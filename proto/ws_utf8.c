/*
 * proto/ws_utf8.c — see ws_utf8.h.
 */
#include "proto/ws_utf8.h"

#include <string.h>

#define WS_UTF8_HIGH_BITS UINT64_C(0x8080808080808080)

void ws_utf8_init(struct ws_utf8 *u)
{
    u->need = 0;
    u->lo = 0x80;
    u->hi = 0xBF;
    u->invalid = 0;
}

int ws_utf8_status(const struct ws_utf8 *u)
{
    if (u->invalid)
        return WS_UTF8_INVALID;
    return u->need ? WS_UTF8_INCOMPLETE : WS_UTF8_OK;
}

int ws_utf8_feed(struct ws_utf8 *u, const uint8_t *p, size_t n)
{
    unsigned need = u->need, lo = u->lo, hi = u->hi;
    size_t i = 0;

    if (u->invalid)
        return WS_UTF8_INVALID;
    while (i < n) {
        uint8_t c;

        if (need) {
            c = p[i++];
            if (c < lo || c > hi)
                goto invalid;
            need--;
            lo = 0x80;
            hi = 0xBF;
            continue;
        }
        /* Text is mostly ASCII: skip eight bytes at a time while no byte has
         * its high bit set. memcpy keeps the load alignment-agnostic. */
        while (n - i >= 8) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            if (w & WS_UTF8_HIGH_BITS)
                break;
            i += 8;
        }
        if (i == n)
            break;
        c = p[i++];
        if (c < 0x80)
            continue;
        /* The lead byte fixes the length and, for E0/ED/F0/F4, narrows the
         * first continuation byte: that is where overlongs, surrogates and
         * values above U+10FFFF are excluded. */
        if (c < 0xC2) {
            goto invalid;
        } else if (c < 0xE0) {
            need = 1;
        } else if (c < 0xF0) {
            need = 2;
            lo = c == 0xE0 ? 0xA0 : 0x80;
            hi = c == 0xED ? 0x9F : 0xBF;
        } else if (c < 0xF5) {
            need = 3;
            lo = c == 0xF0 ? 0x90 : 0x80;
            hi = c == 0xF4 ? 0x8F : 0xBF;
        } else {
            goto invalid;
        }
    }
    u->need = (uint8_t)need;
    u->lo = (uint8_t)lo;
    u->hi = (uint8_t)hi;
    return need ? WS_UTF8_INCOMPLETE : WS_UTF8_OK;

invalid:
    u->invalid = 1;
    return WS_UTF8_INVALID;
}

int ws_utf8_valid(const uint8_t *p, size_t n)
{
    struct ws_utf8 u;

    ws_utf8_init(&u);
    return ws_utf8_feed(&u, p, n) == WS_UTF8_OK;
}
