/*
 * tests/support/http_feed.c — see http_feed.h.
 */
#include "tests/support/http_feed.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint8_t *http_feed_copy(const void *p, size_t n)
{
    uint8_t *b = malloc(n ? n : 1);
    if (!b)
        abort();
    if (n)
        memcpy(b, p, n);
    return b;
}

void http_feed_release(uint8_t *p, size_t n)
{
    memset(p, 0xA5, n ? n : 1);
    free(p);
}

void http_transcript_reset(struct http_transcript *t)
{
    t->len = 0;
    t->buf[0] = '\0';
}

void http_transcript_add(struct http_transcript *t, const char *fmt, ...)
{
    va_list ap;
    size_t room = sizeof(t->buf) - t->len;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->len, room, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= room)
        abort(); /* a test transcript never gets this big */
    t->len += (size_t)n;
}

void http_transcript_bytes(struct http_transcript *t, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
            http_transcript_add(t, "%c", p[i]);
        else
            http_transcript_add(t, "\\x%02x", p[i]);
    }
}
