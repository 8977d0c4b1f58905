/*
 * tests/support/h8s_ws_rx.h — received tunnel messages for the tests of
 * proto/h8s_ws.c and proto/h8s_ws_tunnel.c: a NATS header block (built
 * from key/value pairs, given as text, or copied from a sender's output)
 * and its data, each in an exact-size heap block so that ASan sees any
 * read past them, decoded with h8s_ws_decode.
 *
 * No cmocka in here: an allocation or builder failure (a bug of the test
 * itself) aborts; decode results are returned for the test to assert.
 */
#ifndef H8S_TESTS_SUPPORT_H8S_WS_RX_H
#define H8S_TESTS_SUPPORT_H8S_WS_RX_H

#include <stddef.h>
#include <stdint.h>

#include "proto/h8s_ws.h"
#include "proto/span.h"

struct rx {
    uint8_t *hdr;
    size_t hdr_n;
    uint8_t *data;
    size_t data_n;
    struct h8s_ws_msg m; /* spans into hdr and data */
};

/* Frees both copies; r may then be reused. rx_free of a zeroed r is a no-op. */
void rx_free(struct rx *r);

/*
 * Builds a block with NATS status (0 for none) and the NULL-terminated
 * key, value, key, value, ... list (a NULL key ends it early, so a pair
 * can be left out by passing NULL), copies it and data, and decodes them
 * into r->m. Returns h8s_ws_decode's result.
 */
int rx_build(struct rx *r, int status, const void *data, size_t data_n, ...);

/* The same for a block given as text. */
int rx_raw(struct rx *r, const char *block, const void *data, size_t data_n);

/* The same for a block produced by an encoder (span into its buffer). */
int rx_copy(struct rx *r, struct span hdr, const void *data, size_t data_n);

#endif
