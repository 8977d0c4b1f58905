/*
 * tests/support/guardpage.h — place test input right before an
 * inaccessible page, so a parser that reads even one byte past the length
 * it was given faults at once (ASan or not).
 */
#ifndef H8S_TESTS_GUARDPAGE_H
#define H8S_TESTS_GUARDPAGE_H

#include <stddef.h>

struct guardpage {
    unsigned char *base; /* mapping: data pages, then one PROT_NONE page */
    size_t data_size;    /* bytes usable before the guard */
};

/* Maps room for inputs of up to max bytes plus the guard page. Returns 0 or
 * -errno. */
int guardpage_init(struct guardpage *g, size_t max);

/* Copies p[0..n) so that its last byte is the last one before the guard
 * page and returns the copy (valid until the next call or guardpage_free).
 * n must be <= the max given to guardpage_init. */
void *guardpage_place(struct guardpage *g, const void *p, size_t n);

/* Unmaps. Safe on a zeroed struct. */
void guardpage_free(struct guardpage *g);

#endif
