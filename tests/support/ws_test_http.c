/*
 * tests/support/ws_test_http.c — see ws_test_http.h.
 */
#include "tests/support/ws_test_http.h"

#include <string.h>

#include "llhttp.h"

struct ws_test_http_ctx {
    struct ws_test_http *h;
    int field_open; /* a field name is being reported in pieces */
    int value_open; /* a field value is being reported in pieces */
    int overflow;
};

/* llhttp may report one field in several pieces; pieces of one field are
 * contiguous here because the whole head is parsed in one call. */
static int ws_test_http_on_field(llhttp_t *p, const char *at, size_t len)
{
    struct ws_test_http_ctx *c = p->data;
    struct ws_test_http *h = c->h;

    if (!c->field_open) {
        if (h->head.nheaders == WS_TEST_HTTP_MAX_HEADERS) {
            c->overflow = 1;
            return -1;
        }
        h->headers[h->head.nheaders].name = span_make(at, len);
        h->headers[h->head.nheaders].value = span_make(at + len, 0);
        h->head.nheaders++;
        c->field_open = 1;
    } else {
        h->headers[h->head.nheaders - 1].name.n += len;
    }
    return 0;
}

static int ws_test_http_on_value(llhttp_t *p, const char *at, size_t len)
{
    struct ws_test_http_ctx *c = p->data;
    struct ws_handshake_header *hd = &c->h->headers[c->h->head.nheaders - 1];

    if (!c->value_open)
        hd->value = span_make(at, len);
    else
        hd->value.n += len;
    c->value_open = 1;
    return 0;
}

static int ws_test_http_on_field_done(llhttp_t *p)
{
    ((struct ws_test_http_ctx *)p->data)->field_open = 0;
    return 0;
}

static int ws_test_http_on_value_done(llhttp_t *p)
{
    ((struct ws_test_http_ctx *)p->data)->value_open = 0;
    return 0;
}

int ws_test_http_parse(struct ws_test_http *h, int is_request, const char *buf, size_t n)
{
    const char *end = memmem(buf, n, "\r\n\r\n", 4);
    struct ws_test_http_ctx ctx = {h, 0, 0, 0};
    llhttp_settings_t settings;
    llhttp_t parser;
    llhttp_errno_t err;

    memset(h, 0, sizeof(*h));
    if (!end)
        return 0;
    h->head_len = (size_t)(end - buf) + 4;
    h->head.headers = h->headers;
    llhttp_settings_init(&settings);
    settings.on_header_field = ws_test_http_on_field;
    settings.on_header_value = ws_test_http_on_value;
    settings.on_header_field_complete = ws_test_http_on_field_done;
    settings.on_header_value_complete = ws_test_http_on_value_done;
    llhttp_init(&parser, is_request ? HTTP_REQUEST : HTTP_RESPONSE, &settings);
    parser.data = &ctx;
    err = llhttp_execute(&parser, buf, h->head_len);
    if ((err != HPE_OK && err != HPE_PAUSED_UPGRADE) || ctx.overflow)
        return -1;
    h->head.version_major = parser.http_major;
    h->head.version_minor = parser.http_minor;
    if (is_request)
        h->head.method = span_cstr(llhttp_method_name((llhttp_method_t)parser.method));
    else
        h->head.status = parser.status_code;
    return 1;
}
