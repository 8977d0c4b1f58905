/*
 * proto/nats_hdr.c — see nats_hdr.h.
 *
 * nats_hdr_parse validates every byte once, so the iterator can then walk
 * the lines without re-checking anything.
 */
#include "proto/nats_hdr.h"

#include <string.h>

#define VERSION "NATS/1.0"
#define VERSION_LEN 8

/* RFC 9110 token characters. */
static int is_tchar(uint8_t c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Value and description bytes: anything but controls (HTAB allowed). */
static int is_vchar(uint8_t c)
{
    return (c >= 0x20 && c != 0x7f) || c == '\t';
}

static struct span trim(struct span s)
{
    while (s.n && (s.p[0] == ' ' || s.p[0] == '\t'))
        s.p++, s.n--;
    while (s.n && (s.p[s.n - 1] == ' ' || s.p[s.n - 1] == '\t'))
        s.n--;
    return s;
}

/* Length of the line at p (up to, excluding, its CRLF), or -1 when no
 * CRLF ends it or a bare CR/LF appears first. */
static long line_len(const uint8_t *p, size_t n)
{
    const uint8_t *cr = memchr(p, '\r', n);
    if (cr == NULL || (size_t)(cr - p) + 1 >= n || cr[1] != '\n')
        return -1;
    if (memchr(p, '\n', (size_t)(cr - p)) != NULL)
        return -1;
    return (long)(cr - p);
}

static int parse_status(struct nats_hdr *h, struct span rest)
{
    h->status = 0;
    h->desc = span_make(NULL, 0);
    if (rest.n == 0)
        return 0;
    if (rest.p[0] != ' ' && rest.p[0] != '\t')
        return NATS_HDR_EFORMAT;
    rest = trim(rest);
    if (rest.n < 3 || rest.p[0] < '1' || rest.p[0] > '9')
        return NATS_HDR_EFORMAT;
    for (size_t i = 0; i < 3; i++) {
        if (rest.p[i] < '0' || rest.p[i] > '9')
            return NATS_HDR_EFORMAT;
        h->status = h->status * 10 + (rest.p[i] - '0');
    }
    if (rest.n == 3)
        return 0;
    if (rest.p[3] != ' ' && rest.p[3] != '\t')
        return NATS_HDR_EFORMAT;
    for (size_t i = 4; i < rest.n; i++)
        if (!is_vchar(rest.p[i]))
            return NATS_HDR_EFORMAT;
    h->desc = trim(span_make(rest.p + 4, rest.n - 4));
    return 0;
}

/* Splits a validated entry line into key and trimmed value. */
static void split_entry(const uint8_t *p, size_t n, struct span *key, struct span *val)
{
    const uint8_t *colon = memchr(p, ':', n);
    size_t k = (size_t)(colon - p);
    *key = span_make(p, k);
    *val = trim(span_make(p + k + 1, n - k - 1));
}

static int check_entry(const uint8_t *p, size_t n)
{
    size_t k = 0;
    while (k < n && p[k] != ':') {
        if (!is_tchar(p[k]))
            return NATS_HDR_EFORMAT;
        k++;
    }
    if (k == 0 || k == n)
        return NATS_HDR_EFORMAT;
    for (size_t i = k + 1; i < n; i++)
        if (!is_vchar(p[i]))
            return NATS_HDR_EFORMAT;
    return 0;
}

int nats_hdr_parse(struct nats_hdr *h, struct span block)
{
    memset(h, 0, sizeof(*h));
    if (block.n > NATS_HDR_MAX)
        return NATS_HDR_ETOOBIG;
    if (block.n < VERSION_LEN + 4 || memcmp(block.p, VERSION, VERSION_LEN) != 0)
        return NATS_HDR_EFORMAT;
    long len = line_len(block.p, block.n);
    if (len < 0)
        return NATS_HDR_EFORMAT;
    int rc = parse_status(h, span_make(block.p + VERSION_LEN, (size_t)len - VERSION_LEN));
    if (rc != 0)
        return rc;
    size_t off = (size_t)len + 2;
    h->first = off;
    for (;;) {
        len = line_len(block.p + off, block.n - off);
        if (len < 0)
            return NATS_HDR_EFORMAT;
        if (len == 0)
            break;
        if ((rc = check_entry(block.p + off, (size_t)len)) != 0)
            return rc;
        h->count++;
        off += (size_t)len + 2;
    }
    /* The empty line must end the block exactly. */
    if (off + 2 != block.n)
        return NATS_HDR_EFORMAT;
    h->block = block;
    return 0;
}

void nats_hdr_iter_init(struct nats_hdr_iter *it, const struct nats_hdr *h)
{
    it->h = h;
    it->off = h->first;
}

int nats_hdr_next(struct nats_hdr_iter *it, struct span *key, struct span *val)
{
    const struct span b = it->h->block;
    if (b.n == 0 || it->off + 2 >= b.n)
        return 0;
    const uint8_t *p = b.p + it->off;
    size_t n = (size_t)((const uint8_t *)memchr(p, '\r', b.n - it->off) - p);
    split_entry(p, n, key, val);
    it->off += n + 2;
    return 1;
}

int nats_hdr_get(const struct nats_hdr *h, struct span key, size_t idx, struct span *val)
{
    struct nats_hdr_iter it;
    struct span k, v;
    nats_hdr_iter_init(&it, h);
    while (nats_hdr_next(&it, &k, &v)) {
        if (span_eq(k, key) && idx-- == 0) {
            *val = v;
            return 1;
        }
    }
    return 0;
}

static int build_put(struct nats_hdr_builder *b, const void *p, size_t n)
{
    size_t cap = b->cap < NATS_HDR_MAX ? b->cap : NATS_HDR_MAX;
    if (n > cap - b->len) {
        b->err = NATS_HDR_ENOSPC;
        return b->err;
    }
    if (n)
        memcpy(b->buf + b->len, p, n);
    b->len += n;
    return 0;
}

void nats_hdr_build_init(struct nats_hdr_builder *b, uint8_t *buf, size_t cap, int status,
                         struct span desc)
{
    b->buf = buf;
    b->cap = cap;
    b->len = 0;
    b->err = 0;
    if (status != 0 && (status < 100 || status > 999)) {
        b->err = NATS_HDR_ESTATUS;
        return;
    }
    for (size_t i = 0; i < desc.n; i++) {
        if (!is_vchar(desc.p[i]) || status == 0) {
            b->err = NATS_HDR_ESTATUS;
            return;
        }
    }
    if (build_put(b, VERSION, VERSION_LEN) != 0)
        return;
    if (status) {
        char st[4] = {' ', (char)('0' + status / 100), (char)('0' + status / 10 % 10),
                      (char)('0' + status % 10)};
        if (build_put(b, st, 4) != 0)
            return;
        if (desc.n && (build_put(b, " ", 1) != 0 || build_put(b, desc.p, desc.n) != 0))
            return;
    }
    build_put(b, "\r\n", 2);
}

int nats_hdr_build_add(struct nats_hdr_builder *b, struct span key, struct span val)
{
    if (b->err)
        return b->err;
    if (key.n == 0)
        return b->err = NATS_HDR_EKEY;
    for (size_t i = 0; i < key.n; i++)
        if (!is_tchar(key.p[i]))
            return b->err = NATS_HDR_EKEY;
    for (size_t i = 0; i < val.n; i++)
        if (!is_vchar(val.p[i]))
            return b->err = NATS_HDR_EVALUE;
    if (build_put(b, key.p, key.n) == 0 && build_put(b, ": ", 2) == 0 &&
        build_put(b, val.p, val.n) == 0)
        build_put(b, "\r\n", 2);
    return b->err;
}

int nats_hdr_build_finish(struct nats_hdr_builder *b, struct span *out)
{
    if (b->err == 0)
        build_put(b, "\r\n", 2);
    if (b->err)
        return b->err;
    *out = span_make(b->buf, b->len);
    return 0;
}

const char *nats_hdr_strerror(int err)
{
    switch (err) {
    case 0:
        return "no error";
    case NATS_HDR_EFORMAT:
        return "malformed header block";
    case NATS_HDR_ETOOBIG:
        return "header block too large";
    case NATS_HDR_ENOSPC:
        return "header buffer too small";
    case NATS_HDR_EKEY:
        return "invalid header key";
    case NATS_HDR_EVALUE:
        return "invalid header value";
    case NATS_HDR_ESTATUS:
        return "invalid header status or description";
    }
    return "unknown error";
}
