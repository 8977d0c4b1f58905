/*
 * proto/http_head.c — see http_head.h and http_head_internal.h.
 */
#include "proto/http_head.h"
#include "proto/http_head_internal.h"

#include <errno.h>
#include <string.h>

/* ------------------------------------------------------------- helpers */

int http_head_tchar(uint8_t c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

int http_head_token(struct span s)
{
    if (s.n == 0)
        return 0;
    for (size_t i = 0; i < s.n; i++) {
        if (!http_head_tchar(s.p[i]))
            return 0;
    }
    return 1;
}

int http_head_canonical(uint8_t *out, struct span name)
{
    if (!http_head_token(name)) {
        memmove(out, name.p, name.n);
        return 0;
    }
    int upper = 1;
    for (size_t i = 0; i < name.n; i++) {
        uint8_t c = name.p[i];
        if (upper && c >= 'a' && c <= 'z')
            c = (uint8_t)(c - 32);
        else if (!upper && c >= 'A' && c <= 'Z')
            c = (uint8_t)(c + 32);
        out[i] = c;
        upper = c == '-';
    }
    return 1;
}

int http_head_find(const struct http_head_field *fields, size_t n, struct span name, size_t from)
{
    for (size_t i = from; i < n; i++) {
        if (span_eq_nocase(fields[i].name, name))
            return (int)i;
    }
    return -1;
}

static int ows(uint8_t c)
{
    return c == ' ' || c == '\t';
}

int http_head_list_has(struct span value, struct span token)
{
    size_t i = 0;
    while (i < value.n) {
        size_t a = i;
        while (i < value.n && value.p[i] != ',')
            i++;
        size_t b = i++;
        while (a < b && ows(value.p[a]))
            a++;
        while (b > a && ows(value.p[b - 1]))
            b--;
        if (span_eq_nocase(span_make(value.p + a, b - a), token))
            return 1;
    }
    return 0;
}

int http_head_hop_by_hop(struct span name, const struct http_head_field *fields, size_t n)
{
    static const char *const fixed[] = {
        "Connection",
        "Keep-Alive",
        "Proxy-Connection",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "Te",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
    };
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        if (span_eq_nocase(name, span_cstr(fixed[i])))
            return 1;
    }
    for (size_t i = 0; i < n; i++) {
        if (span_eq_nocase(fields[i].name, SPAN_LIT("Connection")) &&
            http_head_list_has(fields[i].value, name))
            return 1;
    }
    return 0;
}

/* -------------------------------------------------------------- writer */

void http_head_writer_init(struct http_head_writer *w, uint8_t *buf, size_t cap)
{
    w->p = buf;
    w->cap = cap;
    w->len = 0;
    w->err = 0;
}

void http_head_write_raw(struct http_head_writer *w, const void *p, size_t n)
{
    if (w->err)
        return;
    if (n > w->cap - w->len) {
        w->err = -ENOSPC;
        return;
    }
    if (n == 0) /* p may be NULL then, and memcpy from NULL is undefined */
        return;
    memcpy(w->p + w->len, p, n);
    w->len += n;
}

void http_head_write_u64(struct http_head_writer *w, uint64_t v)
{
    uint8_t tmp[20];
    size_t n = 0;
    do {
        tmp[sizeof(tmp) - ++n] = (uint8_t)('0' + v % 10);
        v /= 10;
    } while (v);
    http_head_write_raw(w, tmp + sizeof(tmp) - n, n);
}

void http_head_write_field(struct http_head_writer *w, struct span name, struct span value)
{
    if (w->err)
        return;
    if (!http_head_token(name)) {
        w->err = -EINVAL;
        return;
    }
    for (size_t i = 0; i < value.n; i++) {
        uint8_t c = value.p[i];
        if ((c < ' ' && c != '\t') || c == 0x7f) {
            w->err = -EINVAL;
            return;
        }
    }
    http_head_write_raw(w, name.p, name.n);
    http_head_write_raw(w, ": ", 2);
    http_head_write_raw(w, value.p, value.n);
    http_head_write_raw(w, "\r\n", 2);
}

int http_head_writer_end(struct http_head_writer *w)
{
    http_head_write_raw(w, "\r\n", 2);
    if (w->err)
        return w->err;
    return (int)w->len;
}

/* ------------------------------------------------------------- scanner */

void http_head_scan_init(struct http_head_scan *s, int kind, size_t limit)
{
    memset(s, 0, sizeof(*s));
    s->kind = (uint8_t)kind;
    s->limit = limit;
    s->started = kind == HTTP_HEAD_SCAN_TRAILER;
}

const char *http_head_scan_reason(int err)
{
    switch (err) {
    case HTTP_HEAD_E_BARE_CR:
        return "bare CR";
    case HTTP_HEAD_E_BARE_LF:
        return "bare LF";
    case HTTP_HEAD_E_CTL:
        return "control byte in head";
    case HTTP_HEAD_E_FOLD:
        return "obs-fold or leading whitespace";
    case HTTP_HEAD_E_EMPTY_NAME:
        return "empty header name";
    case HTTP_HEAD_E_START:
        return "malformed request line";
    case HTTP_HEAD_E_TOO_BIG:
        return "header section too large";
    case HTTP_HEAD_E_LINE_BIG:
        return "start line too large";
    default:
        return "bad head";
    }
}

/* End of a line (its CRLF just seen). Returns 1 when the head is over. */
static int scan_eol(struct http_head_scan *s, int *err)
{
    size_t len = s->line_len;
    s->line_len = 0;
    if (!s->started) {
        /* RFC 9112 2.2: empty lines before a request-line are ignored; a
         * stray CRLF after a response body is treated alike. Both count
         * against the limit. */
        if (len == 0)
            return 0;
        if (s->kind == HTTP_HEAD_SCAN_REQUEST && (s->spaces != 2 || s->prev_sp))
            *err = HTTP_HEAD_E_START;
        s->started = 1;
        return 0;
    }
    return len == 0;
}

int http_head_scan(struct http_head_scan *s, const uint8_t *p, size_t len, size_t *used)
{
    for (size_t i = 0; i < len; i++) {
        uint8_t c = p[i];
        int err = 0;
        *used = i;
        if (++s->total > s->limit)
            return s->started ? HTTP_HEAD_E_TOO_BIG : HTTP_HEAD_E_LINE_BIG;
        if (s->prev_cr) {
            if (c != '\n')
                return HTTP_HEAD_E_BARE_CR;
            s->prev_cr = 0;
            int done = scan_eol(s, &err);
            if (err)
                return err;
            if (done) {
                *used = i + 1;
                return 1;
            }
            s->prev_sp = 0;
            s->spaces = 0;
            continue;
        }
        if (c == '\r') {
            s->prev_cr = 1;
            continue;
        }
        if (c == '\n')
            return HTTP_HEAD_E_BARE_LF;
        if (!s->started && s->kind == HTTP_HEAD_SCAN_REQUEST) {
            /* method SP target SP version: one space each, no tabs. */
            if (c == '\t' || (c == ' ' && (s->line_len == 0 || s->prev_sp)))
                return HTTP_HEAD_E_START;
            if (c == ' ')
                s->spaces++;
            s->prev_sp = c == ' ';
        }
        if ((c < ' ' && c != '\t') || c == 0x7f)
            return HTTP_HEAD_E_CTL;
        if (s->started && s->line_len == 0) {
            if (c == ' ' || c == '\t')
                return HTTP_HEAD_E_FOLD;
            if (c == ':')
                return HTTP_HEAD_E_EMPTY_NAME;
        }
        s->line_len++;
    }
    *used = len;
    return 0;
}

/* ----------------------------------------------------------- collector */

void http_head_init(struct http_head *h, uint8_t *buf, size_t cap, size_t max_fields)
{
    h->buf = buf;
    h->cap = cap;
    h->max_fields = max_fields < HTTP_HEAD_MAX_FIELDS ? max_fields : HTTP_HEAD_MAX_FIELDS;
    http_head_reset(h);
}

void http_head_reset(struct http_head *h)
{
    h->len = 0;
    h->feed = NULL;
    h->feed_len = 0;
    h->feed_copied = 0;
    h->line = span_make(NULL, 0);
    h->nfields = 0;
    h->cur = HTTP_HEAD_CUR_NONE;
    h->cur_in_buf = 0;
    h->too_many = 0;
}

void http_head_feed_begin(struct http_head *h, const uint8_t *p, size_t n)
{
    h->feed = p;
    h->feed_len = n;
    h->feed_copied = 0;
}

static struct span *cur_span(struct http_head *h, int what)
{
    if (what == HTTP_HEAD_CUR_LINE)
        return &h->line;
    if (h->nfields == 0)
        return NULL;
    struct http_head_field *f = &h->fields[h->nfields - 1];
    return what == HTTP_HEAD_CUR_NAME ? &f->name : &f->value;
}

int http_head_piece(struct http_head *h, int what, const uint8_t *at, size_t n)
{
    if (h->too_many)
        return 0;
    if (what != h->cur) {
        if (what == HTTP_HEAD_CUR_NAME) {
            if (h->nfields == h->max_fields) {
                h->too_many = 1;
                return 0;
            }
            h->fields[h->nfields].name = span_make(NULL, 0);
            h->fields[h->nfields].value = span_make(NULL, 0);
            h->nfields++;
        }
        struct span *s = cur_span(h, what);
        if (!s)
            return -1;
        h->cur = (uint8_t)what;
        h->cur_in_buf = 0;
        *s = span_make(at, n);
        return 0;
    }
    struct span *s = cur_span(h, what);
    if (!s)
        return -1;
    if (n == 0)
        return 0;
    if (s->n == 0) {
        *s = span_make(at, n);
        h->cur_in_buf = 0;
        return 0;
    }
    if (!h->cur_in_buf) {
        if (s->p + s->n != at)
            return -1;
        s->n += n;
        return 0;
    }
    /* Continuation of a spilled span: it arrives first in the new feed and
     * lands right behind the span's earlier part. */
    if (at != h->feed + h->feed_copied || n > h->feed_len - h->feed_copied ||
        s->p + s->n != h->buf + h->len || n > h->cap - h->len)
        return -1;
    memcpy(h->buf + h->len, at, n);
    h->len += n;
    h->feed_copied += n;
    s->n += n;
    return 0;
}

void http_head_done(struct http_head *h)
{
    struct span *s = cur_span(h, HTTP_HEAD_CUR_VALUE);
    if (h->cur == HTTP_HEAD_CUR_VALUE && s && !h->too_many) {
        while (s->n > 0 && ows(s->p[s->n - 1]))
            s->n--;
    }
    h->cur = HTTP_HEAD_CUR_NONE;
    h->cur_in_buf = 0;
}

static void rebase(struct http_head *h, struct span *s, uint8_t *base)
{
    uintptr_t off = (uintptr_t)s->p - (uintptr_t)h->feed;
    if (s->n == 0 || off >= h->feed_len)
        return;
    s->p = base + (off - h->feed_copied);
}

int http_head_feed_end(struct http_head *h)
{
    if (!h->feed)
        return 0;
    size_t rest = h->feed_len - h->feed_copied;
    if (rest > h->cap - h->len)
        return -1;
    memcpy(h->buf + h->len, h->feed + h->feed_copied, rest);
    uint8_t *base = h->buf + h->len;
    rebase(h, &h->line, base);
    for (size_t i = 0; i < h->nfields; i++) {
        rebase(h, &h->fields[i].name, base);
        rebase(h, &h->fields[i].value, base);
    }
    h->len += rest;
    h->cur_in_buf = h->cur != HTTP_HEAD_CUR_NONE;
    h->feed = NULL;
    h->feed_len = 0;
    h->feed_copied = 0;
    return 0;
}
