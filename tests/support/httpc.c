/*
 * tests/support/httpc.c — see httpc.h.
 */
#include "tests/support/httpc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tests/support/rawsock.h"

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int httpc_connect(struct httpc *h, uint16_t port)
{
    h->in_off = h->in_len = 0;
    h->read_max = 0;
    h->eof = 0;
    h->fd = rawsock_connect(port, 5000);
    return h->fd < 0 ? h->fd : 0;
}

void httpc_close(struct httpc *h)
{
    if (h->fd >= 0)
        close(h->fd);
    h->fd = -1;
}

int httpc_send(struct httpc *h, const void *s, size_t n)
{
    return rawsock_send(h->fd, s, n);
}

int httpc_send_str(struct httpc *h, const char *s)
{
    return httpc_send(h, s, strlen(s));
}

static int on_head(void *cookie, const struct http_resp *resp)
{
    struct httpc_resp *r = cookie;
    r->status = resp->status;
    r->keep_alive = (resp->flags & HTTP_RESP_F_KEEP_ALIVE) != 0;
    r->chunked = (resp->flags & HTTP_RESP_F_CHUNKED) != 0;
    r->head_done = 1;
    r->head_len = 0;
    for (size_t i = 0; i < resp->nfields; i++) {
        int n = snprintf(r->head + r->head_len, sizeof(r->head) - r->head_len, "%.*s: %.*s\n",
                         (int)resp->fields[i].name.n, (const char *)resp->fields[i].name.p,
                         (int)resp->fields[i].value.n, (const char *)resp->fields[i].value.p);
        if (n < 0 || (size_t)n >= sizeof(r->head) - r->head_len)
            break;
        r->head_len += (size_t)n;
    }
    return 0;
}

static int on_body(void *cookie, const uint8_t *p, size_t n)
{
    struct httpc_resp *r = cookie;
    if (r->body_len + n + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 4096;
        while (cap < r->body_len + n + 1)
            cap *= 2;
        uint8_t *b = realloc(r->body, cap);
        if (!b)
            return -1;
        r->body = b;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, p, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return 0;
}

static const struct http_resp_ops ops = {on_head, on_body};

void httpc_resp_init(struct httpc_resp *r, int head_request)
{
    r->status = r->keep_alive = r->chunked = r->head_done = r->complete = 0;
    r->head_len = 0;
    r->head[0] = '\0';
    r->body = NULL;
    r->body_len = r->body_cap = 0;
    http_resp_init(&r->p, NULL, r->hb, sizeof(r->hb), &ops, r);
    http_resp_begin(&r->p, head_request);
}

void httpc_resp_free(struct httpc_resp *r)
{
    free(r->body);
    r->body = NULL;
    r->body_len = r->body_cap = 0;
}

static int satisfied(const struct httpc_resp *r, int until_head, const char *needle)
{
    if (r->complete)
        return 1;
    if (until_head && r->head_done)
        return 1;
    if (needle && r->body && strstr((const char *)r->body, needle))
        return 1;
    return 0;
}

int httpc_read(struct httpc *h, struct httpc_resp *r, int until_head, const char *body_needle,
               int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    int once = timeout_ms == 0, reads = 0;
    for (;;) {
        /* Parse what is buffered first. */
        while (h->in_off < h->in_len && !r->complete) {
            size_t used = 0;
            int rc = http_resp_feed(&r->p, h->in + h->in_off, h->in_len - h->in_off, &used);
            h->in_off += used;
            if (rc == HTTP_RESP_DONE)
                r->complete = 1;
            else if (rc < 0)
                return -EPROTO;
            else if (used == 0)
                break;
        }
        if (h->in_off == h->in_len)
            h->in_off = h->in_len = 0;
        if (satisfied(r, until_head, body_needle))
            return r->complete ? 1 : 0;
        if (h->eof) {
            int rc = http_resp_finish(&r->p);
            if (rc == HTTP_RESP_DONE) {
                r->complete = 1;
                return 1;
            }
            return -ECONNRESET;
        }
        if (once && reads++)
            return -EAGAIN;
        int64_t left = deadline - now_ms();
        if (left <= 0 && !once)
            return -ETIMEDOUT;
        struct pollfd pf = {.fd = h->fd, .events = POLLIN};
        int pr = poll(&pf, 1, once ? 0 : (int)left);
        if (pr < 0 && errno != EINTR)
            return -errno;
        if (pr <= 0)
            continue;
        if (h->in_len == sizeof(h->in))
            return -ENOBUFS;
        size_t room = sizeof(h->in) - h->in_len;
        if (h->read_max && room > h->read_max)
            room = h->read_max;
        ssize_t k = read(h->fd, h->in + h->in_len, room);
        if (k < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (k <= 0)
            h->eof = 1;
        else
            h->in_len += (size_t)k;
    }
}

int httpc_once(uint16_t port, const char *req, struct httpc_resp *r, int head_request,
               int timeout_ms)
{
    struct httpc *h = malloc(sizeof(*h));
    if (!h)
        return -ENOMEM;
    int rc = httpc_connect(h, port);
    httpc_resp_init(r, head_request);
    if (rc == 0)
        rc = httpc_send_str(h, req);
    if (rc == 0)
        rc = httpc_read(h, r, 0, NULL, timeout_ms);
    httpc_close(h);
    free(h);
    return rc;
}

int httpc_wait_closed(struct httpc *h, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    if (h->in_len > h->in_off)
        return -EPROTO;
    while (!h->eof) {
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return 0;
        struct pollfd pf = {.fd = h->fd, .events = POLLIN};
        int pr = poll(&pf, 1, (int)left);
        if (pr <= 0)
            continue;
        uint8_t b[4096];
        ssize_t k = read(h->fd, b, sizeof(b));
        if (k < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (k > 0)
            return -EPROTO;
        h->eof = 1;
    }
    return 1;
}

int httpc_header_count(const struct httpc_resp *r, const char *name)
{
    int count = 0;
    size_t nl = strlen(name);
    const char *p = r->head;
    while (*p) {
        const char *e = strchr(p, '\n');
        if (!e)
            break;
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':')
            count++;
        p = e + 1;
    }
    return count;
}

int httpc_header(const struct httpc_resp *r, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    const char *p = r->head;
    while (*p) {
        const char *e = strchr(p, '\n');
        if (!e)
            break;
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 2;
            size_t n = (size_t)(e - v);
            if (n >= cap)
                n = cap - 1;
            memcpy(out, v, n);
            out[n] = '\0';
            return 1;
        }
        p = e + 1;
    }
    return 0;
}
