/*
 * proto/h8s_req_decode.c — see h8s_req_decode.h.
 *
 * Two passes over the header block: the first collects the singular
 * headers (and the field table the hop-by-hop rule needs), so every
 * decision is made before a byte of the head is written; the second
 * copies the forwarded fields in wire order.
 */
#include "proto/h8s_req_decode.h"

#include <errno.h>
#include <string.h>

#include "proto/h8s_ctl.h"
#include "proto/h8s_wire.h"
#include "proto/http_head.h"
#include "proto/nats_hdr.h"
#include "proto/subject.h"

/* Subjects longer than this cannot come from a gateway (see subject.h). */
#define SUBJECT_IN_MAX (SUBJECT_MAX + 256)

struct singular {
    struct span host, path, query, window, body, length, close;
    unsigned seen;
    int xfh; /* the message has an X-Forwarded-Host */
};

enum {
    S_HOST = 1u << 0,
    S_PATH = 1u << 1,
    S_QUERY = 1u << 2,
    S_WINDOW = 1u << 3,
    S_BODY = 1u << 4,
    S_LENGTH = 1u << 5,
    S_CLOSE = 1u << 6,
};

static int is_internal(struct span name)
{
    static const char prefix[] = H8S_HDR_INTERNAL_PREFIX;
    const size_t pn = sizeof(prefix) - 1;
    return name.n >= pn && span_eq_nocase(span_make(name.p, pn), SPAN_LIT(prefix));
}

/* A singular header: a repeat must carry the same value. */
static int keep(struct singular *s, unsigned bit, struct span *dst, struct span v)
{
    if ((s->seen & bit) && !span_eq(*dst, v))
        return H8S_REQ_DECODE_E_HEADERS;
    s->seen |= bit;
    *dst = v;
    return 0;
}

static int collect(struct singular *s, struct span k, struct span v)
{
    if (span_eq_nocase(k, SPAN_LIT("Host")))
        return keep(s, S_HOST, &s->host, v);
    if (span_eq_nocase(k, SPAN_LIT("Content-Length")))
        return keep(s, S_LENGTH, &s->length, v);
    if (span_eq_nocase(k, SPAN_LIT("X-Forwarded-Host")))
        s->xfh = 1;
    if (!is_internal(k))
        return 0;
    if (span_eq_nocase(k, SPAN_LIT(H8S_HDR_ORIGINAL_PATH)))
        return keep(s, S_PATH, &s->path, v);
    if (span_eq_nocase(k, SPAN_LIT(H8S_HDR_ORIGINAL_QUERY)))
        return keep(s, S_QUERY, &s->query, v);
    if (span_eq_nocase(k, SPAN_LIT(H8S_HDR_WINDOW)))
        return keep(s, S_WINDOW, &s->window, v);
    if (span_eq_nocase(k, SPAN_LIT(H8S_HDR_BODY)))
        return keep(s, S_BODY, &s->body, v);
    if (span_eq_nocase(k, SPAN_LIT(H8S_HDR_CLOSE_SUBJECT)))
        return keep(s, S_CLOSE, &s->close, v);
    return 0;
}

/* Bytes that cannot stand in a request target as they are. */
static int escape_byte(uint8_t c, int in_path)
{
    return c <= ' ' || c >= 0x7f || c == '#' || (in_path && c == '?');
}

/* Appends s, percent-encoding what escape_byte selects; runs of plain
 * bytes go in one copy. */
static void put_target(struct http_head_writer *w, struct span s, int in_path)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t run = 0;
    if (s.n == 0)
        return;
    for (size_t i = 0; i < s.n; i++) {
        uint8_t c = s.p[i];
        if (!escape_byte(c, in_path))
            continue;
        http_head_write_raw(w, s.p + run, i - run);
        uint8_t e[3] = {'%', (uint8_t)hex[c >> 4], (uint8_t)hex[c & 15]};
        http_head_write_raw(w, e, 3);
        run = i + 1;
    }
    if (run < s.n)
        http_head_write_raw(w, s.p + run, s.n - run);
}

static int method_body_expected(struct span m)
{
    return span_eq(m, SPAN_LIT("POST")) || span_eq(m, SPAN_LIT("PUT")) ||
           span_eq(m, SPAN_LIT("PATCH"));
}

static int dropped(struct span k, const struct http_head_field *f, size_t nf)
{
    return is_internal(k) || span_eq_nocase(k, SPAN_LIT("Host")) ||
           span_eq_nocase(k, SPAN_LIT("Content-Length")) || span_eq_nocase(k, SPAN_LIT("Expect")) ||
           http_head_hop_by_hop(k, f, nf);
}

/* Reads the header block into s and the field table. */
static int read_headers(const struct nats_msg *m, struct nats_hdr *h, struct singular *s,
                        struct http_head_field *f, size_t *nf)
{
    struct nats_hdr_iter it;
    struct span k, v;
    *nf = 0;
    memset(s, 0, sizeof(*s));
    if (m->hdr.n == 0) {
        memset(h, 0, sizeof(*h));
        return 0;
    }
    if (nats_hdr_parse(h, m->hdr) != 0 || h->status != 0)
        return H8S_REQ_DECODE_E_HEADERS;
    nats_hdr_iter_init(&it, h);
    while (nats_hdr_next(&it, &k, &v)) {
        if (*nf == H8S_REQ_DECODE_MAX_FIELDS)
            return H8S_REQ_DECODE_E_TOO_BIG;
        f[*nf].name = k;
        f[*nf].value = v;
        ++*nf;
        int rc = collect(s, k, v);
        if (rc)
            return rc;
    }
    return 0;
}

/* Everything but the head: numbers, body mode, host, close subject. */
static int interpret(struct h8s_req_decode *out, const struct h8s_req_decode_route *rt,
                     const struct nats_msg *m, const struct singular *s)
{
    if (s->seen & S_WINDOW) {
        if (h8s_ctl_number(s->window, &out->window) != 0)
            return H8S_REQ_DECODE_E_NUMBER;
        out->flags |= H8S_REQ_DECODE_F_WINDOW;
    }
    if (s->seen & S_LENGTH) {
        if (h8s_ctl_number(s->length, &out->content_length) != 0)
            return H8S_REQ_DECODE_E_NUMBER;
    }
    if (s->seen & S_BODY) {
        if (!span_eq_nocase(s->body, SPAN_LIT(H8S_BODY_STREAM)) || m->payload.n != 0 ||
            out->reply.n == 0)
            return H8S_REQ_DECODE_E_BODY;
        out->flags |= H8S_REQ_DECODE_F_STREAM;
    }
    out->host = rt->host;
    if (s->seen & S_HOST) {
        uint8_t tmp[SUBJECT_HOST_MAX];
        if (subject_host(tmp, sizeof(tmp), s->host) < 0)
            return H8S_REQ_DECODE_E_HOST;
        out->host = s->host;
    }
    /* A close subject is a courtesy: an unusable one is ignored, not fatal. */
    const size_t cp = sizeof(SUBJECT_CONN_CLOSED_PREFIX) - 1;
    if ((s->seen & S_CLOSE) && h8s_ctl_subject_ok(s->close) && s->close.n > cp &&
        memcmp(s->close.p, SUBJECT_CONN_CLOSED_PREFIX, cp) == 0) {
        out->close_subject = s->close;
        out->flags |= H8S_REQ_DECODE_F_CLOSE;
    }
    return 0;
}

static void write_target(struct http_head_writer *w, const struct h8s_req_decode_route *rt,
                         struct span path, struct span query)
{
    if (path.n == 1 && path.p[0] == '*') {
        if (rt->base_path.n)
            http_head_write_raw(w, rt->base_path.p, rt->base_path.n);
        else
            http_head_write_raw(w, "*", 1);
    } else {
        if (rt->base_path.n)
            http_head_write_raw(w, rt->base_path.p, rt->base_path.n);
        put_target(w, path, 1);
    }
    if (query.n) {
        http_head_write_raw(w, "?", 1);
        put_target(w, query, 0);
    }
}

int h8s_req_decode(struct h8s_req_decode *out, const struct h8s_req_decode_route *rt,
                   const struct nats_msg *m, uint8_t *buf, size_t cap)
{
    struct nats_hdr h;
    struct singular s;
    struct http_head_field f[H8S_REQ_DECODE_MAX_FIELDS];
    size_t nf;
    uint8_t fb[SUBJECT_IN_MAX + 1];
    struct span path, query = span_make(NULL, 0);
    int rc;

    memset(out, 0, sizeof(*out));
    if (m->reply.n && h8s_ctl_subject_ok(m->reply))
        out->reply = m->reply;
    if (m->subject.n > SUBJECT_IN_MAX)
        return H8S_REQ_DECODE_E_SUBJECT;
    rc = subject_fallback_path(fb, sizeof(fb), m->subject, rt->rhost, &out->method);
    if (rc < 0 || !subject_method_ok(out->method) || !http_head_token(out->method) ||
        span_eq(out->method, SPAN_LIT("CONNECT")))
        return H8S_REQ_DECODE_E_SUBJECT;
    path = span_make(fb, (size_t)rc);
    if (span_eq(out->method, SPAN_LIT("HEAD")))
        out->flags |= H8S_REQ_DECODE_F_HEAD;

    if ((rc = read_headers(m, &h, &s, f, &nf)) != 0)
        return rc;
    if ((rc = interpret(out, rt, m, &s)) != 0)
        return rc;
    if (s.seen & S_PATH) {
        int star = s.path.n == 1 && s.path.p[0] == '*';
        if (s.path.n == 0 || (!star && s.path.p[0] != '/') ||
            (star && !span_eq(out->method, SPAN_LIT("OPTIONS"))))
            return H8S_REQ_DECODE_E_PATH;
        path = s.path;
    } else {
        out->flags |= H8S_REQ_DECODE_F_FALLBACK;
    }
    if (s.seen & S_QUERY)
        query = s.query;

    struct http_head_writer w;
    http_head_writer_init(&w, buf, cap);
    http_head_write_raw(&w, out->method.p, out->method.n);
    http_head_write_raw(&w, " ", 1);
    size_t t0 = w.len;
    write_target(&w, rt, path, query);
    size_t t1 = w.len;
    http_head_write_raw(&w, " HTTP/1.1\r\n", 11);
    http_head_write_field(&w, SPAN_LIT("Host"), rt->rewrite_host ? rt->authority : out->host);
    for (size_t i = 0; i < nf; i++) {
        if (!dropped(f[i].name, f, nf))
            http_head_write_field(&w, f[i].name, f[i].value);
    }
    if (rt->rewrite_host && !s.xfh)
        http_head_write_field(&w, SPAN_LIT("X-Forwarded-Host"), out->host);
    if (out->flags & H8S_REQ_DECODE_F_STREAM) {
        if (s.seen & S_LENGTH) {
            out->flags |= H8S_REQ_DECODE_F_LENGTH;
        } else {
            out->flags |= H8S_REQ_DECODE_F_CHUNKED;
            http_head_write_raw(&w, "Transfer-Encoding: chunked\r\n", 28);
        }
    } else {
        out->body = m->payload;
        out->content_length = m->payload.n;
        if (m->payload.n || (s.seen & S_LENGTH) || method_body_expected(out->method))
            out->flags |= H8S_REQ_DECODE_F_LENGTH;
    }
    if (out->flags & H8S_REQ_DECODE_F_LENGTH) {
        http_head_write_raw(&w, "Content-Length: ", 16);
        http_head_write_u64(&w, out->content_length);
        http_head_write_raw(&w, "\r\n", 2);
    }
    rc = http_head_writer_end(&w);
    if (rc == -ENOSPC)
        return H8S_REQ_DECODE_E_TOO_BIG;
    if (rc < 0)
        return H8S_REQ_DECODE_E_FIELD;
    out->head = span_make(buf, (size_t)rc);
    out->target = span_make(buf + t0, t1 - t0);
    return 0;
}

int h8s_req_decode_status(int err)
{
    return err == H8S_REQ_DECODE_E_TOO_BIG ? 431 : 400;
}

const char *h8s_req_decode_strerror(int err)
{
    switch (err) {
    case 0:
        return "no error";
    case H8S_REQ_DECODE_E_SUBJECT:
        return "not a request subject of this host";
    case H8S_REQ_DECODE_E_HEADERS:
        return "malformed or ambiguous header block";
    case H8S_REQ_DECODE_E_PATH:
        return "invalid X-H8s-Original-Path";
    case H8S_REQ_DECODE_E_HOST:
        return "invalid Host";
    case H8S_REQ_DECODE_E_NUMBER:
        return "invalid Content-Length or X-H8s-Window";
    case H8S_REQ_DECODE_E_BODY:
        return "invalid body framing";
    case H8S_REQ_DECODE_E_FIELD:
        return "header not representable in HTTP";
    case H8S_REQ_DECODE_E_TOO_BIG:
        return "request head too large";
    }
    return "unknown error";
}
