/*
 * proto/http_llhttp.c — see http_llhttp_internal.h.
 */
#include "proto/http_llhttp_internal.h"

void http_llhttp_init(struct http_llhttp *m, llhttp_type_t type, const llhttp_settings_t *settings,
                      void *owner, int scan_kind, uint8_t *buf, size_t cap, size_t max_fields,
                      size_t max_head)
{
    llhttp_init(&m->ll, type, settings);
    m->ll.data = owner;
    http_head_init(&m->head, buf, cap, max_fields);
    m->scan_kind = (uint8_t)scan_kind;
    m->max_head = max_head;
    http_llhttp_start(m);
}

void http_llhttp_start(struct http_llhttp *m)
{
    llhttp_reset(&m->ll);
    http_head_reset(&m->head);
    http_head_scan_init(&m->scan, m->scan_kind, m->max_head);
    m->phase = HTTP_LLHTTP_PH_HEAD;
    m->pause = HTTP_LLHTTP_PAUSE_NONE;
}

int http_llhttp_piece(struct http_llhttp *m, int what, const char *at, size_t n)
{
    if (m->phase == HTTP_LLHTTP_PH_TRAILER)
        return 0;
    if (http_head_piece(&m->head, what, (const uint8_t *)at, n) < 0)
        return HTTP_LLHTTP_E_ORDER;
    if (m->head.too_many)
        return HTTP_LLHTTP_E_TOO_MANY;
    return 0;
}

void http_llhttp_span_done(struct http_llhttp *m)
{
    if (m->phase != HTTP_LLHTTP_PH_TRAILER)
        http_head_done(&m->head);
}

int http_llhttp_pause(struct http_llhttp *m, int why)
{
    m->pause = (uint8_t)why;
    return HPE_PAUSED;
}

int http_llhttp_step(struct http_llhttp *m, const uint8_t *data, size_t len, size_t *used, int *err)
{
    size_t k = len;
    int complete = 1;

    *used = 0;
    if (m->phase != HTTP_LLHTTP_PH_BODY) {
        complete = http_head_scan(&m->scan, data, len, &k);
        if (complete < 0) {
            *used = k;
            *err = complete;
            return HTTP_LLHTTP_E_SCAN;
        }
    }
    if (m->phase == HTTP_LLHTTP_PH_HEAD)
        http_head_feed_begin(&m->head, data, k);
    llhttp_errno_t e = llhttp_execute(&m->ll, (const char *)data, k);
    if (e == HPE_OK) {
        *used = k;
    } else if (e == HPE_PAUSED && m->pause != HTTP_LLHTTP_PAUSE_NONE) {
        *used = (size_t)((const uint8_t *)llhttp_get_error_pos(&m->ll) - data);
    } else {
        *err = (int)e;
        return HTTP_LLHTTP_E_PARSE;
    }
    if (!complete) {
        if (m->phase == HTTP_LLHTTP_PH_HEAD && http_head_feed_end(&m->head) < 0)
            return HTTP_LLHTTP_E_SPILL;
        return HTTP_LLHTTP_MORE;
    }
    if (m->phase == HTTP_LLHTTP_PH_HEAD)
        m->phase = HTTP_LLHTTP_PH_BODY;
    if (m->pause == HTTP_LLHTTP_PAUSE_END)
        return HTTP_LLHTTP_END;
    if (m->pause == HTTP_LLHTTP_PAUSE_LAST_CHUNK) {
        m->pause = HTTP_LLHTTP_PAUSE_NONE;
        m->phase = HTTP_LLHTTP_PH_TRAILER;
        http_head_scan_init(&m->scan, HTTP_HEAD_SCAN_TRAILER, m->max_head);
        llhttp_resume(&m->ll);
        return HTTP_LLHTTP_MORE;
    }
    if (m->phase == HTTP_LLHTTP_PH_TRAILER)
        return HTTP_LLHTTP_E_TRAILER;
    return HTTP_LLHTTP_MORE;
}
