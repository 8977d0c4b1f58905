/*
 * fuzz/fuzz_nats_parse.c — proto/nats_parse (protocol parser) with INFO
 * bodies passed to proto/nats_info and header blocks to proto/nats_hdr.
 *
 * Input: byte 0 picks max_payload, byte 1 seeds the split sizes; the rest
 * is the server stream. It is parsed once whole and once in pieces; both
 * runs must see the same events (hashed) and end with the same error.
 * Every span is checked to lie inside the delivery or the assembly buffer,
 * every byte of it is read, and each payload must be followed by CRLF
 * (its declared length was exact).
 *
 * The client (nats_client, nats_client_io, nats_client_req, nats_client_pool)
 * does no parsing of its own: server bytes go through nats_parse, INFO
 * through nats_info and header blocks through nats_hdr (all driven here),
 * URLs through proto/url (fuzz_url). Fuzzing those codecs covers every
 * byte the client reads from the network. Likewise nats_client_auth reads
 * credential files only through proto/creds and proto/nkey (fuzz_creds,
 * fuzz_nkey) and nats_flags checks URL lists with proto/url.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/nats_hdr.h"
#include "proto/nats_info.h"
#include "proto/nats_parse.h"

struct run {
    uint8_t buf[NATS_PARSE_BUF_MIN];
    const uint8_t *lo, *hi;
    uint64_t hash;
};

static void mix(struct run *r, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        r->hash = (r->hash ^ p[i]) * 0x100000001b3ull;
    r->hash = (r->hash ^ n) * 0x100000001b3ull;
}

static void check(struct run *r, struct span s)
{
    if (s.n == 0)
        return;
    int in_input = s.p >= r->lo && s.p + s.n <= r->hi;
    int in_buf = s.p >= r->buf && s.p + s.n <= r->buf + sizeof(r->buf);
    if (!in_input && !in_buf)
        abort();
    mix(r, s.p, s.n);
}

static int on_msg(void *c, const struct nats_msg *m)
{
    struct run *r = c;
    check(r, m->subject);
    check(r, m->reply);
    check(r, m->hdr);
    check(r, m->payload);
    for (size_t i = 0; i < m->subject.n; i++)
        if (m->subject.p[i] <= ' ' || m->subject.p[i] == 0x7f)
            abort();
    const uint8_t *end = m->payload.p + m->payload.n;
    if (m->subject.n == 0 || end[0] != '\r' || end[1] != '\n')
        abort();
    if (m->hdr.n && m->hdr.p + m->hdr.n != m->payload.p)
        abort();
    struct nats_hdr h;
    if (m->hdr.n && nats_hdr_parse(&h, m->hdr) == 0)
        mix(r, (const uint8_t *)&h.status, sizeof(h.status));
    mix(r, (const uint8_t *)&m->sid, sizeof(m->sid));
    return 0;
}

static int on_info(void *c, struct span json)
{
    struct run *r = c;
    static struct nats_info info;
    check(r, json);
    int rc = nats_info_parse(&info, json);
    if (rc == 0 &&
        (strlen(info.nonce) >= sizeof(info.nonce) || info.n_connect_urls > NATS_INFO_URLS_MAX))
        abort();
    mix(r, (const uint8_t *)&rc, sizeof(rc));
    return 0;
}

static int on_bare(void *c)
{
    mix(c, (const uint8_t *)"*", 1);
    return 0;
}

static int on_err(void *c, struct span text)
{
    check(c, text);
    return 0;
}

static const struct nats_parse_ops ops = {on_msg, on_info, on_bare, on_bare, on_bare, on_err};

static int parse(struct run *r, size_t max_payload, const uint8_t *in, size_t n, unsigned seed)
{
    struct nats_parse p;
    nats_parse_init(&p, &ops, r);
    nats_parse_set_buffer(&p, r->buf, sizeof(r->buf));
    nats_parse_set_max_payload(&p, max_payload);
    r->hash = 0xcbf29ce484222325ull;
    size_t pos = 0;
    int rc = 0;
    while (pos < n && rc == 0) {
        size_t len = seed ? 1 + (seed = seed * 1103515245u + 12345u) % 64u : n;
        if (len > n - pos)
            len = n - pos;
        /* A fresh heap copy so reading past the delivery is caught. */
        uint8_t *copy = malloc(len);
        memcpy(copy, in + pos, len);
        r->lo = copy;
        r->hi = copy + len;
        rc = nats_parse_feed(&p, copy, len);
        free(copy);
        pos += len;
    }
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct run a, b;
    if (size < 2)
        return 0;
    size_t max_payload = (size_t)data[0] * 64;
    unsigned seed = data[1] | 1u;
    int ra = parse(&a, max_payload, data + 2, size - 2, 0);
    int rb = parse(&b, max_payload, data + 2, size - 2, seed);
    if (ra != rb || a.hash != b.hash)
        abort();
    return 0;
}
