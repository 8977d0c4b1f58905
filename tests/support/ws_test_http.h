/*
 * tests/support/ws_test_http.h — an HTTP/1.1 head parsed with llhttp into
 * the struct ws_handshake_http the handshake code takes, the way the daemons'
 * HTTP layer will hand it over. For WebSocket tests only.
 */
#ifndef H8S_TESTS_WS_TEST_HTTP_H
#define H8S_TESTS_WS_TEST_HTTP_H

#include <stddef.h>

#include "proto/ws_handshake.h"

#define WS_TEST_HTTP_MAX_HEADERS 64

struct ws_test_http {
    struct ws_handshake_http head;
    struct ws_handshake_header headers[WS_TEST_HTTP_MAX_HEADERS];
    size_t head_len; /* bytes up to and including the blank line */
};

/*
 * Parses the head at the start of buf[0..n) (a request when is_request,
 * else a response). Returns 1 when a whole head was parsed (spans point
 * into buf; bytes after head_len belong to the next protocol), 0 when the
 * blank line has not arrived yet, -1 when llhttp rejects the head or it has
 * more than WS_TEST_HTTP_MAX_HEADERS fields.
 */
int ws_test_http_parse(struct ws_test_http *h, int is_request, const char *buf, size_t n);

#endif
