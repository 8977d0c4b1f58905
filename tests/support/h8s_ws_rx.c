/*
 * tests/support/h8s_ws_rx.c — see h8s_ws_rx.h.
 */
#include "tests/support/h8s_ws_rx.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "proto/nats_hdr.h"

void rx_free(struct rx *r)
{
    free(r->hdr);
    free(r->data);
    memset(r, 0, sizeof(*r));
}

static uint8_t *dup_exact(const void *p, size_t n)
{
    uint8_t *c = malloc(n ? n : 1);
    if (c == NULL)
        abort();
    if (n)
        memcpy(c, p, n);
    return c;
}

int rx_copy(struct rx *r, struct span hdr, const void *data, size_t data_n)
{
    r->hdr = dup_exact(hdr.p, hdr.n);
    r->hdr_n = hdr.n;
    r->data = dup_exact(data, data_n);
    r->data_n = data_n;
    return h8s_ws_decode(&r->m, span_make(r->hdr, r->hdr_n), span_make(r->data, r->data_n));
}

int rx_build(struct rx *r, int status, const void *data, size_t data_n, ...)
{
    uint8_t buf[1024];
    struct nats_hdr_builder b;
    struct span blk;
    const char *k;
    va_list ap;

    nats_hdr_build_init(&b, buf, sizeof(buf), status, span_make(NULL, 0));
    va_start(ap, data_n);
    while ((k = va_arg(ap, const char *)) != NULL) {
        const char *v = va_arg(ap, const char *);
        nats_hdr_build_add(&b, span_cstr(k), span_cstr(v));
    }
    va_end(ap);
    if (nats_hdr_build_finish(&b, &blk) != 0)
        abort();
    return rx_copy(r, blk, data, data_n);
}

int rx_raw(struct rx *r, const char *block, const void *data, size_t data_n)
{
    return rx_copy(r, span_cstr(block), data, data_n);
}
