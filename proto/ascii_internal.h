/*
 * proto/ascii_internal.h — byte-class helpers the text codecs share
 * (subject.c, url.c). Not part of any public API.
 */
#ifndef H8S_PROTO_ASCII_INTERNAL_H
#define H8S_PROTO_ASCII_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

static inline int ascii_is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

/* The value of a hexadecimal digit (either case), or -1. */
static inline int ascii_hex_val(uint8_t c)
{
    if (ascii_is_digit(c))
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * 1 when p[0..n) is exactly a dotted quad: four parts of one to three
 * digits, each at most 255, none with a leading zero (inet_aton would read
 * it as octal). The parts go to out[4] when out is not NULL (out is
 * unspecified on 0).
 */
static inline int ascii_ipv4(const uint8_t *p, size_t n, uint8_t *out)
{
    size_t i = 0;

    for (int part = 0; part < 4; part++) {
        unsigned v = 0;
        size_t start = i;
        if (part > 0) {
            if (i >= n || p[i] != '.')
                return 0;
            start = ++i;
        }
        while (i < n && ascii_is_digit(p[i]) && i - start < 3)
            v = v * 10 + (unsigned)(p[i++] - '0');
        if (i == start || (p[start] == '0' && i - start > 1) || v > 255)
            return 0;
        if (out)
            out[part] = (uint8_t)v;
    }
    return i == n;
}

#endif
