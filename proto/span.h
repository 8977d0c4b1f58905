/*
 * proto/span.h — a borrowed byte range.
 *
 * Codecs hand out spans into the caller's buffers instead of copies. A span
 * never owns memory; its lifetime is the buffer it points into, which each
 * producing function documents.
 */
#ifndef H8S_PROTO_SPAN_H
#define H8S_PROTO_SPAN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct span {
    const uint8_t *p;
    size_t n;
};

#define SPAN_LIT(s) ((struct span){(const uint8_t *)(s), sizeof(s) - 1})

static inline struct span span_make(const void *p, size_t n)
{
    return (struct span){(const uint8_t *)p, n};
}

static inline struct span span_cstr(const char *s)
{
    return span_make(s, s ? strlen(s) : 0);
}

static inline int span_eq(struct span a, struct span b)
{
    return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

/* ASCII case-insensitive comparison (protocol tokens, header names). */
static inline int span_eq_nocase(struct span a, struct span b)
{
    if (a.n != b.n)
        return 0;
    for (size_t i = 0; i < a.n; i++) {
        uint8_t x = a.p[i], y = b.p[i];
        if (x >= 'A' && x <= 'Z')
            x = (uint8_t)(x + 32);
        if (y >= 'A' && y <= 'Z')
            y = (uint8_t)(y + 32);
        if (x != y)
            return 0;
    }
    return 1;
}

#endif
