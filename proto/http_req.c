/*
 * proto/http_req.c — see http_req.h. The phases of a feed (head, body,
 * trailer) are driven by the engine in http_llhttp_internal.h.
 */
#include "proto/http_req.h"
#include "proto/http_llhttp_internal.h"

#include <errno.h>
#include <string.h>

static struct http_req_parser *from_ll(llhttp_t *ll)
{
    return ll->data;
}

/* Records the first error; returns -1 so llhttp stops (HPE_USER). */
static int fail(struct http_req_parser *p, int status, const char *reason)
{
    if (p->status == 0) {
        p->status = status;
        p->reason = reason;
    }
    return -1;
}

static int abort_cb(struct http_req_parser *p)
{
    p->rc = HTTP_REQ_ABORTED;
    if (!p->reason)
        p->reason = "stopped by owner";
    return -1;
}

/* ------------------------------------------------------------- callbacks */

static int piece(llhttp_t *ll, int what, const char *at, size_t n)
{
    struct http_req_parser *p = from_ll(ll);
    int e = http_llhttp_piece(&p->m, what, at, n);
    if (e == HTTP_LLHTTP_E_ORDER)
        return fail(p, 400, "internal: head pieces out of order");
    if (e == HTTP_LLHTTP_E_TOO_MANY)
        return fail(p, 431, "too many header fields");
    return 0;
}

static int on_url(llhttp_t *ll, const char *at, size_t n)
{
    return piece(ll, HTTP_HEAD_CUR_LINE, at, n);
}

static int on_field(llhttp_t *ll, const char *at, size_t n)
{
    return piece(ll, HTTP_HEAD_CUR_NAME, at, n);
}

static int on_value(llhttp_t *ll, const char *at, size_t n)
{
    return piece(ll, HTTP_HEAD_CUR_VALUE, at, n);
}

static int on_span_done(llhttp_t *ll)
{
    http_llhttp_span_done(&from_ll(ll)->m);
    return 0;
}

static int prefix_nocase(struct span s, const char *pre)
{
    size_t n = strlen(pre);
    return s.n >= n && span_eq_nocase(span_make(s.p, n), span_make(pre, n));
}

static void split_query(struct http_req *r, struct span rest)
{
    const uint8_t *q = rest.n ? memchr(rest.p, '?', rest.n) : NULL;
    if (!q) {
        r->path = rest;
        r->query = span_make(rest.p + rest.n, 0);
        return;
    }
    r->path = span_make(rest.p, (size_t)(q - rest.p));
    r->query = span_make(q + 1, rest.n - r->path.n - 1);
    r->flags |= HTTP_REQ_F_HAS_QUERY;
}

/* origin-form, absolute-form (http/https) or "*"; RFC 9112 3.2. */
static int parse_target(struct http_req_parser *p)
{
    struct http_req *r = &p->req;
    struct span t = r->target;
    if (t.n == 0)
        return fail(p, 400, "empty request target");
    if (memchr(t.p, '#', t.n))
        return fail(p, 400, "fragment in request target");
    if (t.n == 1 && t.p[0] == '*') {
        if (r->method != HTTP_OPTIONS)
            return fail(p, 400, "asterisk target outside OPTIONS");
        r->path = t;
        r->query = span_make(t.p + 1, 0);
        return 0;
    }
    if (t.p[0] == '/') {
        split_query(r, t);
        return 0;
    }
    size_t skip = prefix_nocase(t, "http://") ? 7 : prefix_nocase(t, "https://") ? 8 : 0;
    if (skip == 0)
        return fail(p, 400, "invalid request target");
    size_t a = skip, b = skip;
    while (b < t.n && t.p[b] != '/' && t.p[b] != '?')
        b++;
    if (b == a)
        return fail(p, 400, "empty authority in request target");
    if (memchr(t.p + a, '@', b - a))
        return fail(p, 400, "userinfo in request target");
    r->host = span_make(t.p + a, b - a);
    r->flags |= HTTP_REQ_F_ABSOLUTE;
    split_query(r, span_make(t.p + b, t.n - b));
    return 0;
}

static int check_fields(struct http_req_parser *p)
{
    struct http_req *r = &p->req;
    const struct http_head_field *f = r->fields;
    size_t n = r->nfields;

    int hosts = 0, at = -1;
    for (int i = http_head_find(f, n, SPAN_LIT("Host"), 0); i >= 0;
         i = http_head_find(f, n, SPAN_LIT("Host"), (size_t)i + 1)) {
        hosts++;
        at = i;
    }
    if (hosts > 1)
        return fail(p, 400, "duplicate Host");
    if (hosts == 0 && r->version_minor == 1)
        return fail(p, 400, "missing Host");
    if (!(r->flags & HTTP_REQ_F_ABSOLUTE) && at >= 0)
        r->host = f[at].value;

    for (int i = http_head_find(f, n, SPAN_LIT("Transfer-Encoding"), 0); i >= 0;
         i = http_head_find(f, n, SPAN_LIT("Transfer-Encoding"), (size_t)i + 1)) {
        /* llhttp already refused "chunked" that is not last; anything else
         * in the list is a coding we cannot undo. */
        struct span v = f[i].value;
        if (!span_eq_nocase(v, SPAN_LIT("chunked")))
            return fail(p, 501, "unsupported transfer coding");
    }

    for (int i = http_head_find(f, n, SPAN_LIT("Expect"), 0); i >= 0;
         i = http_head_find(f, n, SPAN_LIT("Expect"), (size_t)i + 1)) {
        if (!span_eq_nocase(f[i].value, SPAN_LIT("100-continue")))
            return fail(p, 417, "unsupported expectation");
        r->flags |= HTTP_REQ_F_EXPECT_CONTINUE;
    }
    return 0;
}

static int on_headers_complete(llhttp_t *ll)
{
    struct http_req_parser *p = from_ll(ll);
    struct http_req *r = &p->req;

    if (ll->http_major != 1 || ll->http_minor > 1)
        return fail(p, 505, "HTTP version not supported");
    r->method = ll->method;
    r->method_name = span_cstr(llhttp_method_name((llhttp_method_t)ll->method));
    if (ll->method == HTTP_CONNECT)
        return fail(p, 501, "CONNECT not supported");
    r->version_minor = ll->http_minor;
    r->target = p->m.head.line;
    r->fields = p->m.head.fields;
    r->nfields = p->m.head.nfields;
    r->flags = 0;
    /* Lenient llhttp lets spaces into names ("X Y: b"). */
    for (size_t i = 0; i < r->nfields; i++) {
        if (!http_head_token(r->fields[i].name))
            return fail(p, 400, "invalid header name");
    }
    if (parse_target(p) < 0 || check_fields(p) < 0)
        return -1;
    if (ll->flags & F_CONTENT_LENGTH) {
        r->flags |= HTTP_REQ_F_CONTENT_LENGTH;
        r->content_length = ll->content_length;
        if (r->content_length > p->max_body)
            return fail(p, 413, "Content-Length over the body limit");
    }
    if (ll->flags & F_CHUNKED)
        r->flags |= HTTP_REQ_F_CHUNKED;
    if (llhttp_should_keep_alive(ll))
        r->flags |= HTTP_REQ_F_KEEP_ALIVE;
    if (ll->upgrade)
        r->flags |= HTTP_REQ_F_UPGRADE;
    if (p->ops->on_head(p->cookie, r) != 0)
        return abort_cb(p);
    return 0;
}

static int on_body(llhttp_t *ll, const char *at, size_t n)
{
    struct http_req_parser *p = from_ll(ll);
    p->body_seen += n;
    if (p->body_seen > p->max_body)
        return fail(p, 413, "body over the limit");
    if (p->ops->on_body && n > 0 && p->ops->on_body(p->cookie, (const uint8_t *)at, n) != 0)
        return abort_cb(p);
    return 0;
}

static int on_chunk_header(llhttp_t *ll)
{
    struct http_req_parser *p = from_ll(ll);
    p->ext_bytes = 0;
    if (ll->content_length > p->max_body - p->body_seen)
        return fail(p, 413, "chunk over the body limit");
    if (ll->content_length == 0)
        return http_llhttp_pause(&p->m, HTTP_LLHTTP_PAUSE_LAST_CHUNK);
    return 0;
}

static int on_chunk_ext(llhttp_t *ll, const char *at, size_t n)
{
    struct http_req_parser *p = from_ll(ll);
    (void)at;
    p->ext_bytes += n;
    if (p->ext_bytes > HTTP_REQ_CHUNK_EXT_MAX)
        return fail(p, 400, "chunk extensions too long");
    return 0;
}

static int on_message_complete(llhttp_t *ll)
{
    return http_llhttp_pause(&from_ll(ll)->m, HTTP_LLHTTP_PAUSE_END);
}

static const llhttp_settings_t req_settings = {
    .on_url = on_url,
    .on_header_field = on_field,
    .on_header_value = on_value,
    .on_chunk_extension_name = on_chunk_ext,
    .on_chunk_extension_value = on_chunk_ext,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
    .on_url_complete = on_span_done,
    .on_header_field_complete = on_span_done,
    .on_header_value_complete = on_span_done,
    .on_chunk_header = on_chunk_header,
};

/* ------------------------------------------------------------------ API */

void http_req_config_defaults(struct http_req_config *cfg)
{
    cfg->max_head = HTTP_REQ_DEFAULT_MAX_HEAD;
    cfg->max_fields = HTTP_REQ_DEFAULT_MAX_FIELDS;
    cfg->max_body = HTTP_REQ_DEFAULT_MAX_BODY;
}

static void start_message(struct http_req_parser *p)
{
    http_llhttp_start(&p->m);
    memset(&p->req, 0, sizeof(p->req));
    p->body_seen = 0;
    p->ext_bytes = 0;
}

int http_req_init(struct http_req_parser *p, const struct http_req_config *cfg, uint8_t *buf,
                  size_t cap, const struct http_req_ops *ops, void *cookie)
{
    struct http_req_config def;
    if (!cfg) {
        http_req_config_defaults(&def);
        cfg = &def;
    }
    if (!ops || !ops->on_head || !buf || cap < cfg->max_head || cfg->max_head == 0)
        return -1;
    memset(p, 0, sizeof(*p));
    http_llhttp_init(&p->m, HTTP_REQUEST, &req_settings, p, HTTP_HEAD_SCAN_REQUEST, buf, cap,
                     cfg->max_fields, cfg->max_head);
    p->ops = ops;
    p->cookie = cookie;
    p->max_body = cfg->max_body;
    start_message(p);
    return 0;
}

/* Turns an llhttp result into ours, keeping a callback's own verdict. */
static int ll_error(struct http_req_parser *p, llhttp_errno_t e)
{
    if (p->rc == HTTP_REQ_ABORTED)
        return HTTP_REQ_ABORTED;
    switch (e) {
    case HPE_INVALID_METHOD:
        fail(p, 501, "unknown method");
        break;
    case HPE_PAUSED_H2_UPGRADE:
        fail(p, 505, "HTTP/2 preface");
        break;
    case HPE_UNEXPECTED_CONTENT_LENGTH:
        fail(p, 400, "Content-Length with Transfer-Encoding, or repeated");
        break;
    case HPE_INVALID_CONTENT_LENGTH:
        fail(p, 400, "invalid Content-Length");
        break;
    case HPE_INVALID_CHUNK_SIZE:
        fail(p, 400, "invalid chunk size");
        break;
    case HPE_INVALID_TRANSFER_ENCODING:
        fail(p, 400, "invalid Transfer-Encoding");
        break;
    case HPE_STRICT:
        fail(p, 400, "invalid chunk extension");
        break;
    default:
        fail(p, 400, "malformed request");
        break;
    }
    p->rc = HTTP_REQ_ERROR;
    return HTTP_REQ_ERROR;
}

static int scan_error(struct http_req_parser *p, int err)
{
    int status = err == HTTP_HEAD_E_TOO_BIG ? 431 : err == HTTP_HEAD_E_LINE_BIG ? 414 : 400;
    if (p->m.phase == HTTP_LLHTTP_PH_TRAILER && status != 400)
        status = 431;
    fail(p, status, http_head_scan_reason(err));
    p->rc = HTTP_REQ_ERROR;
    return HTTP_REQ_ERROR;
}

int http_req_feed(struct http_req_parser *p, const uint8_t *data, size_t len, size_t *used)
{
    size_t off = 0;
    *used = 0;
    if (p->rc < 0)
        return p->rc;
    if (p->m.phase == HTTP_LLHTTP_PH_DONE)
        return HTTP_REQ_DONE;
    while (off < len || p->m.phase == HTTP_LLHTTP_PH_DONE) {
        if (p->m.phase == HTTP_LLHTTP_PH_DONE) {
            *used = off;
            return HTTP_REQ_DONE;
        }
        size_t k;
        int err;
        int s = http_llhttp_step(&p->m, data + off, len - off, &k, &err);
        switch (s) {
        case HTTP_LLHTTP_E_SCAN:
            *used = off + k;
            return scan_error(p, err);
        case HTTP_LLHTTP_E_PARSE:
            *used = off;
            return ll_error(p, (llhttp_errno_t)err);
        case HTTP_LLHTTP_E_SPILL:
            return scan_error(p, HTTP_HEAD_E_TOO_BIG);
        case HTTP_LLHTTP_E_TRAILER:
            fail(p, 400, "internal: trailer end mismatch");
            p->rc = HTTP_REQ_ERROR;
            return HTTP_REQ_ERROR;
        case HTTP_LLHTTP_END:
            p->m.phase = HTTP_LLHTTP_PH_DONE;
            break;
        default:
            break;
        }
        off += k;
    }
    *used = off;
    return HTTP_REQ_OK;
}

int http_req_next(struct http_req_parser *p)
{
    if (p->rc < 0 || p->m.phase != HTTP_LLHTTP_PH_DONE)
        return -1;
    if (!(p->req.flags & HTTP_REQ_F_KEEP_ALIVE) || (p->req.flags & HTTP_REQ_F_UPGRADE))
        return -1;
    start_message(p);
    return 0;
}

int http_req_finish(struct http_req_parser *p)
{
    if (p->rc < 0)
        return p->rc;
    if (p->m.phase == HTTP_LLHTTP_PH_DONE || http_req_idle(p))
        return 0;
    fail(p, 400, "connection closed inside a request");
    p->rc = HTTP_REQ_ERROR;
    return HTTP_REQ_ERROR;
}

int http_req_idle(const struct http_req_parser *p)
{
    return p->rc == 0 && p->m.phase == HTTP_LLHTTP_PH_HEAD && p->m.scan.total == 0;
}

int http_req_status(const struct http_req_parser *p)
{
    return p->rc == HTTP_REQ_ERROR ? p->status : 0;
}

const char *http_req_reason(const struct http_req_parser *p)
{
    return p->reason ? p->reason : "";
}

void http_req_write_line(struct http_head_writer *w, struct span method, struct span target)
{
    if (w->err)
        return;
    int ok = http_head_token(method) && target.n > 0;
    for (size_t i = 0; ok && i < target.n; i++) {
        if (target.p[i] <= ' ' || target.p[i] == 0x7f)
            ok = 0;
    }
    if (!ok) {
        w->err = -EINVAL;
        return;
    }
    http_head_write_raw(w, method.p, method.n);
    http_head_write_raw(w, " ", 1);
    http_head_write_raw(w, target.p, target.n);
    http_head_write_raw(w, " HTTP/1.1\r\n", 11);
}
