/*
 * core/outbuf.h — bounded text building with snprintf semantics.
 *
 * Appends never write past the buffer, but len keeps counting everything
 * appended, so the caller learns the full size the way snprintf reports
 * it. One byte of the buffer is kept for the NUL outbuf_finish writes.
 * Used wherever a module formats into a caller's buffer (redacted URLs,
 * error reasons, formatted units).
 */
#ifndef H8S_CORE_OUTBUF_H
#define H8S_CORE_OUTBUF_H

#include <stddef.h>

struct outbuf {
    char *p;
    size_t room; /* bytes usable for text: the buffer's size minus the NUL */
    size_t len;  /* bytes appended so far, also those that did not fit */
};

/* Starts building into p[0..cap); p may be NULL when cap is 0. */
static inline struct outbuf outbuf_make(char *p, size_t cap)
{
    return (struct outbuf){cap > 0 ? p : NULL, cap > 0 ? cap - 1 : 0, 0};
}

/* Appends s[0..n) (what fits of it). */
void outbuf_put(struct outbuf *o, const void *s, size_t n);

/* Appends a NUL-terminated string. */
void outbuf_puts(struct outbuf *o, const char *s);

/*
 * Appends untrusted bytes so that they are safe inside a quoted one-line
 * message: printable ASCII other than '"' and '\' as is, every other byte
 * as \xNN. At most max input bytes are shown; longer input ends in "...".
 */
void outbuf_put_escaped(struct outbuf *o, const char *s, size_t n, size_t max);

/* NUL-terminates what fitted (when the buffer has any room) and returns
 * the full length, excluding the NUL. */
size_t outbuf_finish(struct outbuf *o);

/*
 * Formats a one-line message into err[0..errlen) as snprintf does (cut
 * short when it does not fit, always NUL-terminated); does nothing when
 * err is NULL or errlen is 0. For the "err, errlen" parameters of set-up
 * functions.
 */
void outbuf_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
