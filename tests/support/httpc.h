/*
 * tests/support/httpc.h — a tiny blocking HTTP/1.1 client for gateway
 * tests: raw requests over a loopback socket, responses read with the
 * project's own response parser (proto/http_resp.h), step by step when a
 * test must see a stream while it is still open.
 *
 * Pipelining: bytes after one response stay in the client for the next
 * httpc_read. Everything is bounded in time; errors are -errno
 * (-ETIMEDOUT, -ECONNRESET when the server closed mid-response, -EPROTO
 * when the response did not parse).
 */
#ifndef H8S_TESTS_SUPPORT_HTTPC_H
#define H8S_TESTS_SUPPORT_HTTPC_H

#include <stddef.h>
#include <stdint.h>

#include "proto/http_resp.h"

struct httpc {
    int fd;
    uint8_t in[1 << 16];
    size_t in_off, in_len;
    size_t read_max; /* most bytes per read(2); 0: as many as fit */
    int eof;
};

struct httpc_resp {
    int status;
    int keep_alive;
    int chunked;
    int head_done;
    int complete;
    char head[16384]; /* "Name: value\n" per field, as received */
    size_t head_len;
    uint8_t *body; /* malloc'd, NUL-terminated */
    size_t body_len, body_cap;
    /* private */
    struct http_resp_parser p;
    uint8_t hb[HTTP_RESP_DEFAULT_MAX_HEAD];
};

/* Connects to 127.0.0.1:port. */
int httpc_connect(struct httpc *h, uint16_t port);
void httpc_close(struct httpc *h);

/* Sends s (n bytes; httpc_send_str: a C string). */
int httpc_send(struct httpc *h, const void *s, size_t n);
int httpc_send_str(struct httpc *h, const char *s);

/* Prepares r for the response to the next request (head_request: it was HEAD). */
void httpc_resp_init(struct httpc_resp *r, int head_request);
void httpc_resp_free(struct httpc_resp *r);

/*
 * Reads and parses until r is complete (returns 1), or, with until_head,
 * until its head has arrived (returns 0), or until body_needle (not NULL)
 * appears in the body received so far (returns 0). A response delimited by
 * the connection's end completes at EOF. With timeout_ms 0 it makes at
 * most one read (waiting for nothing) and returns -EAGAIN when that did
 * not complete what was asked for: a slow reader calls it in a loop.
 */
int httpc_read(struct httpc *h, struct httpc_resp *r, int until_head, const char *body_needle,
               int timeout_ms);

/* One whole exchange on a fresh connection: send req, read one response. */
int httpc_once(uint16_t port, const char *req, struct httpc_resp *r, int head_request,
               int timeout_ms);

/* 1 when the server closed the connection (EOF or reset) within timeout_ms
 * without sending more bytes, 0 when it stayed open, -EPROTO when more
 * bytes came. */
int httpc_wait_closed(struct httpc *h, int timeout_ms);

/* Value of the first header name (case-insensitive) in r, copied into out;
 * returns 1 when present. */
int httpc_header(const struct httpc_resp *r, const char *name, char *out, size_t cap);
int httpc_header_count(const struct httpc_resp *r, const char *name);

#endif
