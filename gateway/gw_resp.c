/*
 * gateway/gw_resp.c — what the client receives: response heads built from
 * a responder's headers, body framing (Content-Length, chunked, or until
 * close for HTTP/1.0), the gateway's own short answers, and the numbers
 * flow control runs on.
 *
 * Memory per exchange: the client's output queue is limited to
 * w->out_limit (2 * window + 256 KiB). A responder with flow control is
 * granted credit up to credit_target() bytes queued, which is
 * out_limit / 2 + window / 4; credit comes in steps of window / 4, so it is
 * due exactly when the queue is at or below out_limit / 2, which is also
 * when the loop's on_drain fires after the queue was above it. A stream
 * can thus never stall with credit due and no event to grant it, and never
 * queue more than about out_limit / 2 + window / 4 bytes.
 */
#include "gw_internal.h"

#include "proto/http_head.h"
#include "proto/http_resp.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#define HEAD_RESERVE (NATS_HDR_MAX + 1024) /* a response head at its largest */

static void date_line(struct gw_worker *w)
{
    time_t now = time(NULL);
    if (now == w->date_sec && w->date_len)
        return;
    struct tm tm;
    gmtime_r(&now, &tm);
    w->date_len = strftime(w->date, sizeof(w->date), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
    w->date_sec = now;
}

static void connection_field(struct gw_conn *c, struct http_head_writer *hw)
{
    struct gw_xchg *x = &c->x;
    /* A request body still unread (and not to be discarded) leaves the
     * byte stream unframed for a next request. */
    if ((!x->req_done && x->body != GW_BODY_DISCARD) || c->w->draining)
        x->close = true;
    if (x->close)
        http_head_write_raw(hw, "Connection: close\r\n", 19);
    else if (x->http10)
        http_head_write_raw(hw, "Connection: keep-alive\r\n", 24);
}

void gw_resp_simple(struct gw_conn *c, int status, const char *text)
{
    struct gw_worker *w = c->w;
    struct gw_xchg *x = &c->x;
    struct http_head_writer hw;
    size_t tn = strlen(text);
    date_line(w);
    http_head_writer_init(&hw, w->scratch, w->scratch_cap);
    http_resp_write_status(&hw, status);
    http_head_write_raw(&hw, "Content-Type: text/plain; charset=utf-8\r\n", 41);
    http_resp_write_length(&hw, tn + 1);
    http_head_write_raw(&hw, w->date, w->date_len);
    connection_field(c, &hw);
    int n = http_head_writer_end(&hw);
    x->status = status;
    if (n < 0 || c->closing)
        return;
    struct iovec iov[3] = {
        {w->scratch, (size_t)n},
        {(void *)(uintptr_t)text, tn},
        {(void *)(uintptr_t)"\n", 1},
    };
    if (loop_conn_writev(c->lc, iov, x->head_req ? 1 : 3) == 0 && !x->head_req)
        x->bytes_out += tn + 1;
}

void gw_resp_continue(struct gw_conn *c)
{
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    if (!c->closing)
        loop_conn_write(c->lc, cont, sizeof(cont) - 1);
}

int gw_resp_head(struct gw_conn *c, const struct h8s_reply_event *ev)
{
    struct gw_worker *w = c->w;
    struct gw_xchg *x = &c->x;
    struct http_head_writer hw;
    struct h8s_reply_fwd f;
    struct span k, v;
    bool has_date = false;

    if (c->closing)
        return -EPIPE;
    http_head_writer_init(&hw, w->scratch, w->scratch_cap);
    http_resp_write_status(&hw, ev->status);
    h8s_reply_fwd_init(&f, &ev->hdr);
    while (h8s_reply_fwd_next(&f, &k, &v)) {
        /* Names as Go's http.Header writes them. */
        size_t at = hw.len;
        http_head_write_field(&hw, k, v);
        if (!hw.err)
            http_head_canonical(hw.p + at, span_make(hw.p + at, k.n));
        if (span_eq_nocase(k, SPAN_LIT("Date")))
            has_date = true;
    }
    if (!has_date) {
        date_line(w);
        http_head_write_raw(&hw, w->date, w->date_len);
    }
    x->no_body_out = (ev->flags & H8S_REPLY_F_NO_BODY) != 0;
    if (ev->kind == H8S_REPLY_EV_RESPONSE) {
        if (ev->flags & H8S_REPLY_F_LENGTH)
            http_resp_write_length(&hw, ev->content_length);
    } else if (!x->no_body_out) {
        if (x->http10) {
            x->until_close = true;
            x->close = true;
        } else {
            x->chunked_out = true;
            http_resp_write_chunked(&hw);
        }
    }
    connection_field(c, &hw);
    int n = http_head_writer_end(&hw);
    if (n < 0)
        return -ENOBUFS; /* a head larger than the scratch buffer */
    x->status = ev->status;
    struct iovec iov[4];
    int cnt = 0;
    uint8_t ch[HTTP_RESP_CHUNK_HEAD_MAX];
    iov[cnt++] = (struct iovec){w->scratch, (size_t)n};
    if (ev->body.n) {
        if (x->chunked_out) {
            size_t hn = http_resp_chunk_head(ch, ev->body.n);
            iov[cnt++] = (struct iovec){ch, hn};
        }
        iov[cnt++] = (struct iovec){(void *)(uintptr_t)ev->body.p, ev->body.n};
        if (x->chunked_out)
            iov[cnt++] = (struct iovec){(void *)(uintptr_t)HTTP_RESP_CHUNK_TAIL, 2};
    }
    int rc = loop_conn_writev(c->lc, iov, cnt);
    if (rc < 0)
        return rc;
    x->bytes_out += ev->body.n;
    return 0;
}

int gw_resp_body(struct gw_conn *c, struct span body)
{
    struct gw_xchg *x = &c->x;
    if (body.n == 0 || x->no_body_out)
        return 0;
    if (c->closing)
        return -EPIPE;
    int rc;
    if (x->chunked_out) {
        uint8_t ch[HTTP_RESP_CHUNK_HEAD_MAX];
        size_t hn = http_resp_chunk_head(ch, body.n);
        struct iovec iov[3] = {
            {ch, hn},
            {(void *)(uintptr_t)body.p, body.n},
            {(void *)(uintptr_t)HTTP_RESP_CHUNK_TAIL, 2},
        };
        rc = loop_conn_writev(c->lc, iov, 3);
    } else {
        rc = loop_conn_write(c->lc, body.p, body.n);
    }
    if (rc < 0)
        return rc;
    x->bytes_out += body.n;
    return 0;
}

int gw_resp_end(struct gw_conn *c)
{
    if (c->closing)
        return -EPIPE;
    if (c->x.chunked_out)
        return loop_conn_write(c->lc, HTTP_RESP_LAST_CHUNK, sizeof(HTTP_RESP_LAST_CHUNK) - 1) < 0
                   ? -1
                   : 0;
    return 0;
}

uint64_t gw_resp_room(const struct gw_conn *c)
{
    if (c->closing)
        return 0;
    size_t pending = loop_conn_pending(c->lc);
    size_t reserve = c->x.resp == GW_RESP_WAIT ? HEAD_RESERVE : 64;
    size_t limit = c->w->out_limit;
    return pending + reserve < limit ? limit - pending - reserve : 0;
}

static size_t credit_target(const struct gw_worker *w)
{
    return w->out_limit / 2 + w->window / 4;
}

uint64_t gw_resp_credit_room(const struct gw_conn *c)
{
    if (c->closing)
        return 0;
    size_t pending = loop_conn_pending(c->lc);
    size_t target = credit_target(c->w);
    return pending < target ? target - pending : 0;
}
