/* see outbuf.h */
#include "core/outbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void outbuf_errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

void outbuf_put(struct outbuf *o, const void *s, size_t n)
{
    if (n == 0)
        return;
    if (o->len < o->room) {
        size_t fit = o->room - o->len;
        memcpy(o->p + o->len, s, n < fit ? n : fit);
    }
    o->len += n;
}

void outbuf_puts(struct outbuf *o, const char *s)
{
    outbuf_put(o, s, strlen(s));
}

void outbuf_put_escaped(struct outbuf *o, const char *s, size_t n, size_t max)
{
    static const char hex[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i == max) {
            outbuf_put(o, "...", 3);
            return;
        }
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
            char esc[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
            outbuf_put(o, esc, 4);
        } else {
            outbuf_put(o, &s[i], 1);
        }
    }
}

size_t outbuf_finish(struct outbuf *o)
{
    if (o->p != NULL)
        o->p[o->len < o->room ? o->len : o->room] = '\0';
    return o->len;
}
