/*
 * proto/http_resp.c — see http_resp.h.
 *
 * The same engine as http_req.c (http_llhttp_internal.h): the head scanner
 * vets each head (and trailer section) before llhttp sees it; llhttp pauses
 * at the end of every message and at the last chunk. A skipped 1xx response
 * restarts the head phase in the same feed.
 */
#include "proto/http_resp.h"
#include "proto/http_llhttp_internal.h"

#include <errno.h>
#include <string.h>

static struct http_resp_parser *from_ll(llhttp_t *ll)
{
    return ll->data;
}

static int fail(struct http_resp_parser *p, const char *reason)
{
    if (!p->reason)
        p->reason = reason;
    if (p->rc == 0)
        p->rc = HTTP_RESP_ERROR;
    return -1;
}

static int abort_cb(struct http_resp_parser *p)
{
    p->rc = HTTP_RESP_ABORTED;
    if (!p->reason)
        p->reason = "stopped by owner";
    return -1;
}

/* ------------------------------------------------------------- callbacks */

static int piece(llhttp_t *ll, int what, const char *at, size_t n)
{
    struct http_resp_parser *p = from_ll(ll);
    int e = http_llhttp_piece(&p->m, what, at, n);
    if (e == HTTP_LLHTTP_E_ORDER)
        return fail(p, "internal: head pieces out of order");
    if (e == HTTP_LLHTTP_E_TOO_MANY)
        return fail(p, "too many header fields");
    return 0;
}

static int on_status(llhttp_t *ll, const char *at, size_t n)
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

static int keep_alive(const llhttp_t *ll)
{
    if (ll->http_minor >= 1)
        return !(ll->flags & F_CONNECTION_CLOSE);
    return (ll->flags & F_CONNECTION_KEEP_ALIVE) != 0;
}

/* Return values as llhttp wants them: 0 body follows, 1 no body, -1 error. */
static int on_headers_complete(llhttp_t *ll)
{
    struct http_resp_parser *p = from_ll(ll);
    struct http_resp *r = &p->resp;
    int status = ll->status_code;

    if (ll->http_major != 1 || ll->http_minor > 1)
        return fail(p, "unsupported HTTP version");
    if (status < 100 || status > 599)
        return fail(p, "invalid status code");
    for (size_t i = 0; i < p->m.head.nfields; i++) {
        if (!http_head_token(p->m.head.fields[i].name))
            return fail(p, "invalid header name");
    }
    if (status < 200 && status != 101) {
        p->interim = 1;
        return 1;
    }
    memset(r, 0, sizeof(*r));
    r->status = status;
    r->reason = p->m.head.line;
    r->version_minor = ll->http_minor;
    r->fields = p->m.head.fields;
    r->nfields = p->m.head.nfields;
    for (int i = http_head_find(r->fields, r->nfields, SPAN_LIT("Transfer-Encoding"), 0); i >= 0;
         i = http_head_find(r->fields, r->nfields, SPAN_LIT("Transfer-Encoding"), (size_t)i + 1)) {
        if (!span_eq_nocase(r->fields[i].value, SPAN_LIT("chunked")))
            return fail(p, "unsupported transfer coding");
    }
    if (ll->flags & F_CONTENT_LENGTH) {
        r->has_content_length = 1;
        r->content_length = ll->content_length;
    }
    int no_body = p->head_request || status == 101 || status == 204 || status == 304;
    if (status == 101)
        r->flags |= HTTP_RESP_F_UPGRADE;
    if (no_body)
        r->flags |= HTTP_RESP_F_NO_BODY;
    else if (ll->flags & F_CHUNKED)
        r->flags |= HTTP_RESP_F_CHUNKED;
    else if (ll->flags & F_CONTENT_LENGTH)
        r->flags |= HTTP_RESP_F_CONTENT_LENGTH;
    else
        r->flags |= HTTP_RESP_F_UNTIL_CLOSE;
    if (keep_alive(ll) && !(r->flags & (HTTP_RESP_F_UNTIL_CLOSE | HTTP_RESP_F_UPGRADE)))
        r->flags |= HTTP_RESP_F_KEEP_ALIVE;
    if (p->ops->on_head(p->cookie, r) != 0)
        return abort_cb(p);
    return no_body;
}

static int on_body(llhttp_t *ll, const char *at, size_t n)
{
    struct http_resp_parser *p = from_ll(ll);
    if (p->ops->on_body && n > 0 && p->ops->on_body(p->cookie, (const uint8_t *)at, n) != 0)
        return abort_cb(p);
    return 0;
}

static int on_chunk_header(llhttp_t *ll)
{
    struct http_resp_parser *p = from_ll(ll);
    if (ll->content_length == 0)
        return http_llhttp_pause(&p->m, HTTP_LLHTTP_PAUSE_LAST_CHUNK);
    return 0;
}

static int on_message_complete(llhttp_t *ll)
{
    return http_llhttp_pause(&from_ll(ll)->m, HTTP_LLHTTP_PAUSE_END);
}

static const llhttp_settings_t resp_settings = {
    .on_status = on_status,
    .on_header_field = on_field,
    .on_header_value = on_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
    .on_status_complete = on_span_done,
    .on_header_field_complete = on_span_done,
    .on_header_value_complete = on_span_done,
    .on_chunk_header = on_chunk_header,
};

/* ------------------------------------------------------------------ API */

void http_resp_config_defaults(struct http_resp_config *cfg)
{
    cfg->max_head = HTTP_RESP_DEFAULT_MAX_HEAD;
    cfg->max_fields = HTTP_RESP_DEFAULT_MAX_FIELDS;
}

static void start_message(struct http_resp_parser *p)
{
    http_llhttp_start(&p->m);
    memset(&p->resp, 0, sizeof(p->resp));
    p->interim = 0;
}

int http_resp_init(struct http_resp_parser *p, const struct http_resp_config *cfg, uint8_t *buf,
                   size_t cap, const struct http_resp_ops *ops, void *cookie)
{
    struct http_resp_config def;
    if (!cfg) {
        http_resp_config_defaults(&def);
        cfg = &def;
    }
    if (!ops || !ops->on_head || !buf || cap < cfg->max_head || cfg->max_head == 0)
        return -1;
    memset(p, 0, sizeof(*p));
    http_llhttp_init(&p->m, HTTP_RESPONSE, &resp_settings, p, HTTP_HEAD_SCAN_RESPONSE, buf, cap,
                     cfg->max_fields, cfg->max_head);
    p->ops = ops;
    p->cookie = cookie;
    start_message(p);
    return 0;
}

int http_resp_begin(struct http_resp_parser *p, int head_request)
{
    if (p->rc < 0)
        return -1;
    start_message(p);
    p->head_request = head_request != 0;
    p->interims = 0;
    return 0;
}

static int ll_error(struct http_resp_parser *p, llhttp_errno_t e)
{
    if (p->rc == HTTP_RESP_ABORTED)
        return HTTP_RESP_ABORTED;
    switch (e) {
    case HPE_INVALID_STATUS:
        fail(p, "invalid status line");
        break;
    case HPE_UNEXPECTED_CONTENT_LENGTH:
        fail(p, "Content-Length with Transfer-Encoding, or repeated");
        break;
    case HPE_INVALID_CONTENT_LENGTH:
        fail(p, "invalid Content-Length");
        break;
    case HPE_INVALID_CHUNK_SIZE:
        fail(p, "invalid chunk size");
        break;
    case HPE_INVALID_TRANSFER_ENCODING:
        fail(p, "invalid Transfer-Encoding");
        break;
    default:
        fail(p, "malformed response");
        break;
    }
    return HTTP_RESP_ERROR;
}

/* A message ended: the final response, or a 1xx to skip. */
static int message_end(struct http_resp_parser *p)
{
    if (!p->interim) {
        p->m.phase = HTTP_LLHTTP_PH_DONE;
        return 0;
    }
    if (++p->interims > HTTP_RESP_MAX_INTERIM)
        return fail(p, "too many interim responses");
    start_message(p);
    return 0;
}

int http_resp_feed(struct http_resp_parser *p, const uint8_t *data, size_t len, size_t *used)
{
    size_t off = 0;
    *used = 0;
    if (p->rc < 0)
        return p->rc;
    while (off < len || p->m.phase == HTTP_LLHTTP_PH_DONE) {
        if (p->m.phase == HTTP_LLHTTP_PH_DONE) {
            *used = off;
            return HTTP_RESP_DONE;
        }
        size_t k;
        int err;
        int s = http_llhttp_step(&p->m, data + off, len - off, &k, &err);
        switch (s) {
        case HTTP_LLHTTP_E_SCAN:
            *used = off + k;
            return fail(p, http_head_scan_reason(err));
        case HTTP_LLHTTP_E_PARSE:
            *used = off;
            return ll_error(p, (llhttp_errno_t)err);
        case HTTP_LLHTTP_E_SPILL:
            *used = off + k;
            return fail(p, "header section too large");
        case HTTP_LLHTTP_E_TRAILER:
            *used = off + k;
            return fail(p, "internal: trailer end mismatch");
        case HTTP_LLHTTP_END:
            if (message_end(p) < 0) {
                *used = off + k;
                return HTTP_RESP_ERROR;
            }
            break;
        default:
            break;
        }
        off += k;
    }
    *used = off;
    return HTTP_RESP_OK;
}

int http_resp_finish(struct http_resp_parser *p)
{
    if (p->rc < 0)
        return p->rc;
    if (p->m.phase == HTTP_LLHTTP_PH_DONE)
        return HTTP_RESP_DONE;
    if (p->m.phase == HTTP_LLHTTP_PH_HEAD && p->m.scan.total == 0 && p->interims == 0)
        return 0;
    if (p->m.phase == HTTP_LLHTTP_PH_BODY && (p->resp.flags & HTTP_RESP_F_UNTIL_CLOSE)) {
        llhttp_errno_t e = llhttp_finish(&p->m.ll);
        if ((e == HPE_OK || e == HPE_PAUSED) && p->m.pause == HTTP_LLHTTP_PAUSE_END) {
            p->m.phase = HTTP_LLHTTP_PH_DONE;
            return HTTP_RESP_DONE;
        }
        if (p->rc < 0)
            return p->rc;
    }
    return fail(p, "connection closed inside a response");
}

const char *http_resp_reason(const struct http_resp_parser *p)
{
    return p->reason ? p->reason : "";
}

/* ---------------------------------------------------------------- writer */

static const struct {
    int status;
    const char *text;
} reasons[] = {
    {100, "Continue"},
    {101, "Switching Protocols"},
    {102, "Processing"},
    {103, "Early Hints"},
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {203, "Non-Authoritative Information"},
    {204, "No Content"},
    {205, "Reset Content"},
    {206, "Partial Content"},
    {207, "Multi-Status"},
    {208, "Already Reported"},
    {226, "IM Used"},
    {300, "Multiple Choices"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {303, "See Other"},
    {304, "Not Modified"},
    {305, "Use Proxy"},
    {307, "Temporary Redirect"},
    {308, "Permanent Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {402, "Payment Required"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {406, "Not Acceptable"},
    {407, "Proxy Authentication Required"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {410, "Gone"},
    {411, "Length Required"},
    {412, "Precondition Failed"},
    {413, "Request Entity Too Large"},
    {414, "Request URI Too Long"},
    {415, "Unsupported Media Type"},
    {416, "Requested Range Not Satisfiable"},
    {417, "Expectation Failed"},
    {418, "I'm a teapot"},
    {421, "Misdirected Request"},
    {422, "Unprocessable Entity"},
    {423, "Locked"},
    {424, "Failed Dependency"},
    {425, "Too Early"},
    {426, "Upgrade Required"},
    {428, "Precondition Required"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {451, "Unavailable For Legal Reasons"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {505, "HTTP Version Not Supported"},
    {506, "Variant Also Negotiates"},
    {507, "Insufficient Storage"},
    {508, "Loop Detected"},
    {510, "Not Extended"},
    {511, "Network Authentication Required"},
};

const char *http_status_reason(int status)
{
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        if (reasons[i].status == status)
            return reasons[i].text;
    }
    return "";
}

void http_resp_write_status(struct http_head_writer *w, int status)
{
    if (w->err)
        return;
    if (status < 100 || status > 999) {
        w->err = -EINVAL;
        return;
    }
    const char *reason = http_status_reason(status);
    http_head_write_raw(w, "HTTP/1.1 ", 9);
    http_head_write_u64(w, (uint64_t)status);
    http_head_write_raw(w, " ", 1);
    http_head_write_raw(w, reason, strlen(reason));
    http_head_write_raw(w, "\r\n", 2);
}

void http_resp_write_length(struct http_head_writer *w, uint64_t n)
{
    http_head_write_raw(w, "Content-Length: ", 16);
    http_head_write_u64(w, n);
    http_head_write_raw(w, "\r\n", 2);
}

void http_resp_write_chunked(struct http_head_writer *w)
{
    http_head_write_raw(w, "Transfer-Encoding: chunked\r\n", 28);
}

size_t http_resp_chunk_head(uint8_t *out, uint64_t n)
{
    static const char hex[] = "0123456789abcdef";
    uint8_t tmp[16];
    size_t k = 0;
    if (n == 0)
        return 0;
    while (n) {
        tmp[sizeof(tmp) - ++k] = (uint8_t)hex[n & 15];
        n >>= 4;
    }
    memcpy(out, tmp + sizeof(tmp) - k, k);
    out[k] = '\r';
    out[k + 1] = '\n';
    return k + 2;
}
