/*
 * tests/support/rawsock.h — blocking loopback sockets with deadlines.
 *
 * Tests use these to talk to servers byte by byte without any client
 * library: a NATS server (INFO / CONNECT / PING) or its HTTP monitoring
 * port. Only 127.0.0.1 is ever dialled. Every call is bounded in time.
 * Sends never raise SIGPIPE (a peer that went away gives -EPIPE).
 *
 * Errors: negative errno values; -ETIMEDOUT when a deadline passes.
 */
#ifndef H8S_TESTS_SUPPORT_RAWSOCK_H
#define H8S_TESTS_SUPPORT_RAWSOCK_H

#include <stddef.h>
#include <stdint.h>

/*
 * Connects a TCP socket to 127.0.0.1:port within timeout_ms. Returns the
 * file descriptor (caller closes it) or -errno (-ECONNREFUSED when nothing
 * listens).
 */
int rawsock_connect(uint16_t port, int timeout_ms);

/* Sends all n bytes at p. Returns 0 or -errno. */
int rawsock_send(int fd, const void *p, size_t n);

/* Sends the NUL-terminated string s. Returns 0 or -errno. */
int rawsock_send_str(int fd, const char *s);

/*
 * A receive buffer: bytes read so far are buf[0 .. len), always followed
 * by a NUL so string functions can be used on it.
 */
struct rawsock_buf {
    char buf[16384];
    size_t len;
};

/* Empties b. */
void rawsock_buf_reset(struct rawsock_buf *b);

/*
 * Reads from fd, appending to b, until b holds needle (searching from
 * the start of the buffer). Returns a pointer to the first match inside
 * b->buf, or NULL with *err set to -ETIMEDOUT (deadline passed),
 * -ECONNRESET (peer closed), -ENOBUFS (buffer full) or another -errno.
 */
const char *rawsock_read_until(int fd, struct rawsock_buf *b, const char *needle, int timeout_ms,
                               int *err);

/*
 * Drops the first n bytes of b (n <= b->len), keeping the rest: lets a
 * caller consume one protocol line and keep reading after it.
 */
void rawsock_buf_consume(struct rawsock_buf *b, size_t n);

/*
 * Reads whatever arrives within timeout_ms into b (appending). Returns the
 * number of bytes added (0 if none arrived in time), or -errno; -ECONNRESET
 * when the peer closed and nothing was read.
 */
int rawsock_read_some(int fd, struct rawsock_buf *b, int timeout_ms);

/*
 * HTTP/1.0 GET of path from 127.0.0.1:port; the whole response (status
 * line, headers and body) is stored in b. Returns the HTTP status code, or
 * -errno.
 */
int rawsock_http_get(uint16_t port, const char *path, struct rawsock_buf *b, int timeout_ms);

#endif
