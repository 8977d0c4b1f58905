/*
 * proto/h8s_req_encode.c — see h8s_req_encode.h.
 *
 * The block is written with a small local writer rather than nats_hdr's
 * builder because two values (X-Forwarded-For, and canonical names) are
 * assembled from pieces in place; every byte is still checked against the
 * same rules nats_hdr_parse applies, so whatever is built parses.
 */
#include "proto/h8s_req_encode.h"

#include "proto/h8s_wire.h"
#include "proto/http_head.h"

#include <string.h>

struct w {
    uint8_t *p;
    size_t cap; /* min(buffer left, NATS_HDR_MAX) */
    size_t len;
    int err;
};

static void put(struct w *w, const void *p, size_t n)
{
    if (w->err)
        return;
    if (n > w->cap - w->len) {
        w->err = H8S_REQ_E_SPACE;
        return;
    }
    if (n)
        memcpy(w->p + w->len, p, n);
    w->len += n;
}

static int vchar(uint8_t c)
{
    return (c >= 0x20 && c != 0x7f) || c == '\t';
}

/* Value bytes are checked as they go in: a client value reaching the block
 * can never hold CR or LF, so it can never add a line. */
static void put_value(struct w *w, struct span v)
{
    for (size_t i = 0; i < v.n; i++) {
        if (!vchar(v.p[i])) {
            if (!w->err)
                w->err = H8S_REQ_E_VALUE;
            return;
        }
    }
    put(w, v.p, v.n);
}

/* Client names are written in canonical MIME form, as Go's http.Header
 * keeps them; ours go out exactly as h8s_wire.h spells them, because Go's
 * NATS headers are read case-sensitively. */
static void put_name(struct w *w, struct span name, int canon)
{
    if (!http_head_token(name)) {
        if (!w->err)
            w->err = H8S_REQ_E_VALUE;
        return;
    }
    size_t at = w->len;
    put(w, name.p, name.n);
    if (canon && !w->err)
        http_head_canonical(w->p + at, span_make(w->p + at, name.n));
}

static void field_as(struct w *w, struct span name, struct span value, int canon)
{
    put_name(w, name, canon);
    put(w, ": ", 2);
    put_value(w, value);
    put(w, "\r\n", 2);
}

static void field(struct w *w, struct span name, struct span value)
{
    field_as(w, name, value, 0);
}

static void field_u64(struct w *w, const char *name, uint64_t v)
{
    char d[20];
    size_t n = 0;
    do {
        d[sizeof(d) - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    field(w, span_cstr(name), span_make(d + sizeof(d) - n, n));
}

static int has_prefix_nocase(struct span s, const char *pre)
{
    size_t n = strlen(pre);
    return s.n >= n && span_eq_nocase(span_make(s.p, n), span_make(pre, n));
}

static struct span trim(struct span s)
{
    while (s.n && (s.p[0] == ' ' || s.p[0] == '\t'))
        s.p++, s.n--;
    while (s.n && (s.p[s.n - 1] == ' ' || s.p[s.n - 1] == '\t'))
        s.n--;
    return s;
}

/* First comma-separated element of the first field called name. */
static int first_value(const struct http_req *r, const char *name, struct span *out)
{
    int i = http_head_find(r->fields, r->nfields, span_cstr(name), 0);
    if (i < 0)
        return 0;
    struct span v = r->fields[i].value;
    const uint8_t *c = v.n ? memchr(v.p, ',', v.n) : NULL;
    if (c)
        v.n = (size_t)(c - v.p);
    *out = trim(v);
    return out->n > 0;
}

struct span h8s_req_encode_route(const struct http_req *req, unsigned flags)
{
    struct span h;
    if ((flags & H8S_REQ_ENC_TRUST_FORWARDED) && first_value(req, "X-Forwarded-Host", &h))
        return h;
    return req->host;
}

/* Fields the gateway drops or writes itself. has_conn: the request has a
 * Connection field, whose list may name more hop-by-hop fields (checked
 * only then: most requests have none, and the check scans every field). */
static int skipped(const struct http_req *r, struct span name, unsigned flags, int has_conn)
{
    static const char *const own[] = {
        "Host",          "Content-Length",    "Expect",           "X-Forwarded-For",
        "X-Forwarded-Host", "X-Forwarded-Proto",
    };
    if (has_prefix_nocase(name, H8S_HDR_INTERNAL_PREFIX))
        return 1;
    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
        if (span_eq_nocase(name, span_cstr(own[i])))
            return 1;
    if ((flags & H8S_REQ_ENC_STRIP_AUTH) && span_eq_nocase(name, SPAN_LIT("Authorization")))
        return 1;
    return http_head_hop_by_hop(name, r->fields, has_conn ? r->nfields : 0);
}

static void forwarded_for(struct w *w, const struct http_req *r, struct span addr)
{
    put_name(w, SPAN_LIT("X-Forwarded-For"), 0);
    put(w, ": ", 2);
    for (int i = http_head_find(r->fields, r->nfields, SPAN_LIT("X-Forwarded-For"), 0); i >= 0;
         i = http_head_find(r->fields, r->nfields, SPAN_LIT("X-Forwarded-For"), (size_t)i + 1)) {
        struct span v = trim(r->fields[i].value);
        if (v.n == 0)
            continue;
        put_value(w, v);
        put(w, ", ", 2);
    }
    put_value(w, addr);
    put(w, "\r\n", 2);
}

static int subject_err(int rc)
{
    switch (rc) {
    case SUBJECT_E_HOST:
        return H8S_REQ_E_HOST;
    case SUBJECT_E_PATH:
        return H8S_REQ_E_PATH;
    case SUBJECT_E_METHOD:
        return H8S_REQ_E_METHOD;
    case SUBJECT_E_TOO_LONG:
        return H8S_REQ_E_TOO_LONG;
    case SUBJECT_E_ID:
        return H8S_REQ_E_ID;
    default:
        return H8S_REQ_E_SPACE;
    }
}

/* The three subjects, back to back at the start of buf; returns the bytes
 * used or an error. */
static long subjects(struct h8s_req_encode_out *out, uint8_t *buf, size_t cap,
                     const struct h8s_req_encode_in *in)
{
    const struct http_req *r = in->req;
    struct span route = h8s_req_encode_route(r, in->flags);
    int n = subject_request(buf, cap, r->method_name, route, r->path);
    if (n < 0)
        return subject_err(n);
    out->subject = span_make(buf, (size_t)n);
    size_t off = (size_t)n;

    n = subject_reply(buf + off, cap - off, in->gw_id, in->req_id);
    if (n < 0)
        return subject_err(n);
    out->reply = span_make(buf + off, (size_t)n);
    off += (size_t)n;

    /* subject_conn_closed takes one token; the request id follows it. */
    n = subject_conn_closed(buf + off, cap - off, in->gw_id);
    if (n < 0)
        return subject_err(n);
    size_t m = (size_t)n;
    if (!subject_id_ok(in->req_id))
        return H8S_REQ_E_ID;
    if (in->req_id.n + 1 > cap - off - m)
        return H8S_REQ_E_SPACE;
    buf[off + m] = '.';
    memcpy(buf + off + m + 1, in->req_id.p, in->req_id.n);
    m += 1 + in->req_id.n;
    out->close_subject = span_make(buf + off, m);
    off += m;
    return (long)off;
}

static void body_fields(struct w *w, const struct h8s_req_encode_in *in)
{
    const struct http_req *r = in->req;
    switch (in->body) {
    case H8S_REQ_BODY_NONE:
        if (r->flags & HTTP_REQ_F_CONTENT_LENGTH)
            field_u64(w, "Content-Length", 0);
        break;
    case H8S_REQ_BODY_INLINE:
        field_u64(w, "Content-Length", in->body_len);
        break;
    case H8S_REQ_BODY_STREAM:
        field(w, SPAN_LIT(H8S_HDR_BODY), SPAN_LIT(H8S_BODY_STREAM));
        if (r->flags & HTTP_REQ_F_CONTENT_LENGTH)
            field_u64(w, "Content-Length", r->content_length);
        break;
    default:
        break;
    }
}

int h8s_req_encode(struct h8s_req_encode_out *out, uint8_t *buf, size_t cap,
                   const struct h8s_req_encode_in *in)
{
    if (!in || !in->req || in->body < H8S_REQ_BODY_NONE || in->body > H8S_REQ_BODY_LATER)
        return H8S_REQ_E_ARG;
    const struct http_req *r = in->req;
    long used = subjects(out, buf, cap, in);
    if (used < 0)
        return (int)used;

    struct w w = {buf + used, cap - (size_t)used, 0, 0};
    if (w.cap > NATS_HDR_MAX)
        w.cap = NATS_HDR_MAX;
    put(&w, "NATS/1.0\r\n", 10);
    int has_conn = http_head_find(r->fields, r->nfields, SPAN_LIT("Connection"), 0) >= 0;
    for (size_t i = 0; i < r->nfields; i++) {
        if (!skipped(r, r->fields[i].name, in->flags, has_conn))
            field_as(&w, r->fields[i].name, r->fields[i].value, 1);
    }
    field(&w, SPAN_LIT("Host"), r->host);
    forwarded_for(&w, r, in->client_addr);

    struct span v;
    int trust = (in->flags & H8S_REQ_ENC_TRUST_FORWARDED) != 0;
    if (!(trust && first_value(r, "X-Forwarded-Proto", &v)))
        v = (in->flags & H8S_REQ_ENC_TLS) ? SPAN_LIT("https") : SPAN_LIT("http");
    field(&w, SPAN_LIT("X-Forwarded-Proto"), v);
    field(&w, SPAN_LIT("X-Forwarded-Host"), h8s_req_encode_route(r, in->flags));

    body_fields(&w, in);
    field(&w, SPAN_LIT(H8S_HDR_PUBLISH_SUBJECT), out->subject);
    field(&w, SPAN_LIT(H8S_HDR_REPLY_SUBJECT), out->reply);
    field(&w, SPAN_LIT(H8S_HDR_ORIGINAL_PATH), r->path.n ? r->path : SPAN_LIT("/"));
    field(&w, SPAN_LIT(H8S_HDR_ORIGINAL_QUERY), r->query);
    field(&w, SPAN_LIT(H8S_HDR_CLOSE_SUBJECT), out->close_subject);
    if (in->window > 0)
        field_u64(&w, H8S_HDR_WINDOW, in->window);
    put(&w, "\r\n", 2);
    if (w.err)
        return w.err;
    out->hdr = span_make(w.p, w.len);
    return 0;
}

int h8s_req_encode_append(uint8_t *block, size_t cap, size_t *len, struct span key,
                          struct span val)
{
    size_t n = *len;
    if (n < 4 || memcmp(block + n - 4, "\r\n\r\n", 4) != 0)
        return H8S_REQ_E_ARG;
    if (cap > NATS_HDR_MAX)
        cap = NATS_HDR_MAX;
    if (cap < n)
        return H8S_REQ_E_SPACE;
    /* Write after the last field's CRLF, where the closing one was. */
    struct w w = {block + n - 2, cap - (n - 2), 0, 0};
    field_as(&w, key, val, 1);
    put(&w, "\r\n", 2);
    if (w.err) {
        /* Restore the closing CRLF a partial write may have covered. */
        memcpy(block + n - 2, "\r\n", 2);
        return w.err;
    }
    *len = n - 2 + w.len;
    return 0;
}

int h8s_req_encode_status(int err)
{
    switch (err) {
    case H8S_REQ_E_HOST:
    case H8S_REQ_E_PATH:
    case H8S_REQ_E_METHOD:
    case H8S_REQ_E_VALUE:
        return 400;
    case H8S_REQ_E_TOO_LONG:
        return 414;
    case H8S_REQ_E_SPACE:
        return 431;
    default:
        return 500;
    }
}

const char *h8s_req_encode_strerror(int err)
{
    switch (err) {
    case 0:
        return "no error";
    case H8S_REQ_E_HOST:
        return "invalid host";
    case H8S_REQ_E_PATH:
        return "invalid percent-encoding in the path";
    case H8S_REQ_E_METHOD:
        return "method cannot be carried in a subject";
    case H8S_REQ_E_TOO_LONG:
        return "subject too long";
    case H8S_REQ_E_SPACE:
        return "request headers too large for a NATS message";
    case H8S_REQ_E_ID:
        return "invalid gateway or request id";
    case H8S_REQ_E_VALUE:
        return "header field cannot be carried over NATS";
    case H8S_REQ_E_ARG:
        return "invalid argument";
    }
    return "unknown error";
}
