/*
 * tests/support/http_feed.h — hostile feeding helpers for codec tests.
 *
 * Every piece handed to a codec is a fresh heap copy of exactly its size,
 * filled with 0xA5 and freed as soon as the codec returns: a span that
 * outlives its feed reads garbage (and is a use-after-free under ASan), and
 * an over-read past a piece hits the heap redzone.
 */
#ifndef H8S_TESTS_SUPPORT_HTTP_FEED_H
#define H8S_TESTS_SUPPORT_HTTP_FEED_H

#include <stddef.h>
#include <stdint.h>

/* Returns a heap copy of n bytes (malloc(1) for n == 0); never NULL. */
uint8_t *http_feed_copy(const void *p, size_t n);

/* Poisons and frees a buffer from http_feed_copy. */
void http_feed_release(uint8_t *p, size_t n);

/* A growing text transcript (test output to compare). */
struct http_transcript {
    char buf[1 << 16];
    size_t len;
};

void http_transcript_reset(struct http_transcript *t);
void http_transcript_add(struct http_transcript *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends bytes, escaping non-printable ones as \xNN. */
void http_transcript_bytes(struct http_transcript *t, const uint8_t *p, size_t n);

#endif
