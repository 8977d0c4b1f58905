/*
 * proto/http_llhttp.h — the llhttp driver http_req and http_resp share.
 *
 * struct http_llhttp is complete here only so those parsers can embed it by
 * value; its functions are in proto/http_llhttp_internal.h and nothing else
 * should call them.
 */
#ifndef H8S_PROTO_HTTP_LLHTTP_H
#define H8S_PROTO_HTTP_LLHTTP_H

#include <stddef.h>
#include <stdint.h>

#include <llhttp.h>

#include "proto/http_head.h"

/* llhttp plus the head scanner and field collector in front of it. */
struct http_llhttp {
    llhttp_t ll;
    struct http_head head;
    struct http_head_scan scan;
    size_t max_head;
    uint8_t scan_kind; /* HTTP_HEAD_SCAN_REQUEST or _RESPONSE */
    uint8_t phase;     /* HTTP_LLHTTP_PH_* */
    uint8_t pause;     /* why llhttp paused: HTTP_LLHTTP_PAUSE_* */
};

#endif
