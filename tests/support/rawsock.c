/* see rawsock.h */
#include "tests/support/rawsock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until fd is ready for events or the deadline passes. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        struct pollfd p = {.fd = fd, .events = events};
        int64_t left = deadline - now_ms();
        int n;

        if (left <= 0)
            return -ETIMEDOUT;
        n = poll(&p, 1, (int)left);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return -errno;
    }
}

int rawsock_connect(uint16_t port, int timeout_ms)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    int64_t deadline = now_ms() + timeout_ms;
    socklen_t elen = sizeof(int);
    int fd, rc, soerr = 0;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        if (errno != EINPROGRESS) {
            rc = -errno;
            goto err;
        }
        if ((rc = wait_fd(fd, POLLOUT, deadline)) != 0)
            goto err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &elen) != 0) {
            rc = -errno;
            goto err;
        }
        if (soerr != 0) {
            rc = -soerr;
            goto err;
        }
    }
    return fd;
err:
    close(fd);
    return rc;
}

int rawsock_send(int fd, const void *p, size_t n)
{
    const char *c = p;
    int64_t deadline = now_ms() + 10000;

    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0) {
            int rc;
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                return -errno;
            if ((rc = wait_fd(fd, POLLOUT, deadline)) != 0)
                return rc;
            continue;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

int rawsock_send_str(int fd, const char *s)
{
    return rawsock_send(fd, s, strlen(s));
}

void rawsock_buf_reset(struct rawsock_buf *b)
{
    b->len = 0;
    b->buf[0] = '\0';
}

void rawsock_buf_consume(struct rawsock_buf *b, size_t n)
{
    if (n > b->len)
        n = b->len;
    memmove(b->buf, b->buf + n, b->len - n);
    b->len -= n;
    b->buf[b->len] = '\0';
}

/* One read of whatever is available, after waiting until the deadline. */
static int read_once(int fd, struct rawsock_buf *b, int64_t deadline)
{
    size_t room = sizeof(b->buf) - 1 - b->len;

    if (room == 0)
        return -ENOBUFS;
    for (;;) {
        ssize_t n;
        int rc;

        if ((rc = wait_fd(fd, POLLIN, deadline)) != 0)
            return rc;
        n = recv(fd, b->buf + b->len, room, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -ECONNRESET;
        b->len += (size_t)n;
        b->buf[b->len] = '\0';
        return (int)n;
    }
}

const char *rawsock_read_until(int fd, struct rawsock_buf *b, const char *needle, int timeout_ms,
                               int *err)
{
    int64_t deadline = now_ms() + timeout_ms;

    *err = 0;
    b->buf[b->len] = '\0';
    for (;;) {
        const char *m = memmem(b->buf, b->len, needle, strlen(needle));
        int rc;
        if (m != NULL)
            return m;
        if ((rc = read_once(fd, b, deadline)) < 0) {
            *err = rc;
            return NULL;
        }
    }
}

int rawsock_read_some(int fd, struct rawsock_buf *b, int timeout_ms)
{
    int rc = read_once(fd, b, now_ms() + timeout_ms);
    return rc == -ETIMEDOUT ? 0 : rc;
}

int rawsock_http_get(uint16_t port, const char *path, struct rawsock_buf *b, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    char req[512];
    int fd, rc, status;

    rawsock_buf_reset(b);
    if (snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1:%u\r\n\r\n", path,
                 (unsigned)port) >= (int)sizeof(req))
        return -ENAMETOOLONG;
    if ((fd = rawsock_connect(port, timeout_ms)) < 0)
        return fd;
    if ((rc = rawsock_send_str(fd, req)) != 0)
        goto out;
    /* HTTP/1.0: the server closes the connection after the body. */
    while ((rc = read_once(fd, b, deadline)) > 0)
        ;
    if (rc != -ECONNRESET)
        goto out;
    if (sscanf(b->buf, "HTTP/1.%*d %d", &status) != 1) {
        rc = -EPROTO;
        goto out;
    }
    rc = status;
out:
    close(fd);
    return rc;
}
