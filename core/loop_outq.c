/*
 * core/loop_outq.c — bounded per-connection output queues of pooled chunks
 * and the one-sendmsg-in-flight flush. See core/loop.h.
 *
 * Bytes are copied once, into the tail chunk; the kernel reads them from
 * there through an iovec over up to LOOP_SEND_IOV_MAX chunks. A chunk is
 * recycled when the kernel has acknowledged all of it. Nothing in flight is
 * ever modified: writes only append after what a pending sendmsg covers.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/loop_internal.h"

static size_t conn_limit(const struct loop_conn *c)
{
    return c->out_limit ? c->out_limit : c->loop->cfg.out_limit;
}

static int conn_writable(const struct loop_conn *c)
{
    return (c->state == LOOP_CONN_OPEN || c->state == LOOP_CONN_CONNECTING) &&
           c->closing == LOOP_CLOSING_NO;
}

struct loop_chunk *loop_outq_chunk_get(struct loop *l)
{
    struct loop_chunk *ch = l->chunk_free;

    if (ch != NULL) {
        l->chunk_free = ch->next;
        l->nchunk_free--;
    } else {
        ch = malloc(sizeof(*ch) + l->cfg.out_chunk_size);
        if (ch == NULL)
            return NULL;
    }
    ch->next = NULL;
    ch->off = 0;
    ch->len = 0;
    return ch;
}

void loop_outq_chunk_put(struct loop *l, struct loop_chunk *ch)
{
    if (l->nchunk_free >= LOOP_CHUNK_POOL_KEEP) {
        free(ch);
        return;
    }
    ch->next = l->chunk_free;
    l->chunk_free = ch;
    l->nchunk_free++;
}

static struct loop_sendctx *sendctx_get(struct loop *l)
{
    struct loop_sendctx *s = l->sctx_free;

    if (s != NULL) {
        l->sctx_free = s->next;
        return s;
    }
    /* At most one per connection with a send in flight: bounded by
     * max_conns, kept until loop_destroy. */
    return malloc(sizeof(*s));
}

static void sendctx_put(struct loop *l, struct loop_sendctx *s)
{
    s->next = l->sctx_free;
    l->sctx_free = s;
}

void loop_outq_clear(struct loop_conn *c)
{
    struct loop *l = c->loop;

    while (c->out_head != NULL) {
        struct loop_chunk *ch = c->out_head;
        c->out_head = ch->next;
        loop_outq_chunk_put(l, ch);
    }
    c->out_tail = NULL;
    c->out_bytes = 0;
    if (c->resv != NULL && (c->flags & LOOP_CF_RESV_FRESH))
        loop_outq_chunk_put(l, c->resv);
    c->resv = NULL;
    c->flags &= ~LOOP_CF_RESV_FRESH;
    if (c->sctx != NULL) {
        sendctx_put(l, c->sctx);
        c->sctx = NULL;
    }
}

void loop_outq_pool_free(struct loop *l)
{
    while (l->chunk_free != NULL) {
        struct loop_chunk *ch = l->chunk_free;
        l->chunk_free = ch->next;
        free(ch);
    }
    l->nchunk_free = 0;
    while (l->sctx_free != NULL) {
        struct loop_sendctx *s = l->sctx_free;
        l->sctx_free = s->next;
        free(s);
    }
}

int loop_outq_flush(struct loop_conn *c)
{
    struct loop *l = c->loop;
    struct loop_sendctx *s;
    struct io_uring_sqe *sqe;
    struct loop_chunk *ch;
    int n = 0;

    s = sendctx_get(l);
    if (s == NULL) {
        loop_conn_teardown(c, -ENOMEM);
        return 0;
    }
    sqe = loop_sqe(l);
    if (sqe == NULL) {
        sendctx_put(l, s);
        return -EAGAIN;
    }
    for (ch = c->out_head; ch != NULL && n < LOOP_SEND_IOV_MAX; ch = ch->next) {
        if (ch->len == ch->off)
            continue;
        s->iov[n].iov_base = ch->data + ch->off;
        s->iov[n].iov_len = ch->len - ch->off;
        n++;
    }
    memset(&s->msg, 0, sizeof(s->msg));
    s->msg.msg_iov = s->iov;
    s->msg.msg_iovlen = (size_t)n;
    io_uring_prep_sendmsg(sqe, c->fd, &s->msg, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, loop_ud(LOOP_OP_SEND, c->idx, c->gen));
    c->sctx = s;
    c->flags |= LOOP_CF_SEND_INFLIGHT;
    c->inflight++;
    return 0;
}

void loop_outq_sent(struct loop_conn *c, int res)
{
    struct loop *l = c->loop;
    size_t left, limit;

    sendctx_put(l, c->sctx);
    c->sctx = NULL;
    c->flags &= ~LOOP_CF_SEND_INFLIGHT;
    /*
     * The sockets are O_NONBLOCK, so when the kernel falls back to a
     * blocking attempt in its worker pool it can end with -EAGAIN and
     * nothing sent. Not an error: the queue is unchanged and goes out again
     * from loop_prepare.
     */
    if (res == -EAGAIN || res == -EINTR)
        return;
    if (res <= 0) {
        /* A sendmsg of a non-empty queue never legitimately returns 0. */
        loop_conn_teardown(c, res < 0 ? res : -EIO);
        return;
    }
    l->stats.sends++;
    l->stats.bytes_out += (uint64_t)res;
    left = (size_t)res;
    while (left > 0 && c->out_head != NULL) {
        struct loop_chunk *ch = c->out_head;
        size_t take = ch->len - ch->off;

        if (take > left)
            take = left;
        ch->off += take;
        left -= take;
        if (ch->off == ch->len) {
            c->out_head = ch->next;
            if (c->out_head == NULL)
                c->out_tail = NULL;
            loop_outq_chunk_put(l, ch);
        }
    }
    c->out_bytes -= (size_t)res - left;
    if (c->closing == LOOP_CLOSING_TEARDOWN)
        return;
    limit = conn_limit(c);
    if ((c->flags & LOOP_CF_WANT_DRAIN) && c->out_bytes <= limit / 2) {
        c->flags &= ~LOOP_CF_WANT_DRAIN;
        if (c->closing == LOOP_CLOSING_NO && c->ops != NULL && c->ops->on_drain != NULL)
            c->ops->on_drain(c);
    }
}

/* Accepts n more bytes against the limit, or records that the owner wants
 * to hear when the queue drains. */
static int outq_room(struct loop_conn *c, size_t n)
{
    size_t limit = conn_limit(c);
    size_t room = c->out_bytes < limit ? limit - c->out_bytes : 0;

    if (n > room) {
        c->flags |= LOOP_CF_WANT_DRAIN;
        return -ENOBUFS;
    }
    return 0;
}

static void outq_queued(struct loop_conn *c, size_t n)
{
    c->out_bytes += n;
    if (c->out_bytes > conn_limit(c) / 2)
        c->flags |= LOOP_CF_WANT_DRAIN;
    loop_conn_enqueue(c);
}

int loop_conn_write(struct loop_conn *c, const void *p, size_t n)
{
    struct iovec v;

    v.iov_base = (void *)(uintptr_t)p;
    v.iov_len = n;
    return loop_conn_writev(c, &v, 1);
}

int loop_conn_writev(struct loop_conn *c, const struct iovec *iov, int iovcnt)
{
    struct loop *l = c->loop;
    size_t cs = l->cfg.out_chunk_size, total = 0, space, over, need;
    struct loop_chunk *fresh = NULL, *cur;
    int r;

    if (!conn_writable(c))
        return -EPIPE;
    if (iovcnt < 0 || (iovcnt > 0 && iov == NULL))
        return -EINVAL;
    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len > SIZE_MAX - total)
            return -ENOBUFS;
        total += iov[i].iov_len;
    }
    if (total == 0)
        return 0;
    r = outq_room(c, total);
    if (r < 0)
        return r;

    /* Take every chunk needed before copying a byte: all or nothing. */
    space = c->out_tail != NULL ? cs - c->out_tail->len : 0;
    over = total > space ? total - space : 0;
    need = over / cs + (over % cs != 0);
    for (size_t i = 0; i < need; i++) {
        struct loop_chunk *ch = loop_outq_chunk_get(l);

        if (ch == NULL) {
            while (fresh != NULL) {
                ch = fresh;
                fresh = ch->next;
                loop_outq_chunk_put(l, ch);
            }
            return -ENOMEM;
        }
        ch->next = fresh;
        fresh = ch;
    }
    cur = space > 0 ? c->out_tail : fresh;
    if (fresh != NULL) {
        if (c->out_tail != NULL)
            c->out_tail->next = fresh;
        else
            c->out_head = fresh;
        while (fresh->next != NULL)
            fresh = fresh->next;
        c->out_tail = fresh;
    }
    for (int i = 0; i < iovcnt; i++) {
        const uint8_t *p = iov[i].iov_base;
        size_t n = iov[i].iov_len;

        while (n > 0) {
            size_t k;

            if (cur->len == cs)
                cur = cur->next;
            k = cs - cur->len < n ? cs - cur->len : n;
            memcpy(cur->data + cur->len, p, k);
            cur->len += k;
            p += k;
            n -= k;
        }
    }
    outq_queued(c, total);
    return 0;
}

uint8_t *loop_conn_reserve(struct loop_conn *c, size_t n)
{
    struct loop *l = c->loop;
    size_t cs = l->cfg.out_chunk_size;
    struct loop_chunk *ch;

    if (!conn_writable(c) || n > cs || outq_room(c, n) < 0)
        return NULL;
    /* A reservation never committed is simply forgotten. */
    if (c->resv != NULL && (c->flags & LOOP_CF_RESV_FRESH))
        loop_outq_chunk_put(l, c->resv);
    c->resv = NULL;
    c->flags &= ~LOOP_CF_RESV_FRESH;
    if (c->out_tail != NULL && cs - c->out_tail->len >= n) {
        c->resv = c->out_tail;
        c->resv_n = n;
        return c->out_tail->data + c->out_tail->len;
    }
    ch = loop_outq_chunk_get(l);
    if (ch == NULL)
        return NULL;
    c->resv = ch;
    c->resv_n = n;
    c->flags |= LOOP_CF_RESV_FRESH;
    return ch->data;
}

void loop_conn_commit(struct loop_conn *c, size_t used)
{
    struct loop_chunk *ch = c->resv;
    int fresh = (c->flags & LOOP_CF_RESV_FRESH) != 0;

    if (ch == NULL)
        return;
    c->resv = NULL;
    c->flags &= ~LOOP_CF_RESV_FRESH;
    if (used > c->resv_n)
        used = c->resv_n;
    if (!conn_writable(c) || used == 0) {
        if (fresh)
            loop_outq_chunk_put(c->loop, ch);
        return;
    }
    if (fresh) {
        ch->len = used;
        if (c->out_tail != NULL)
            c->out_tail->next = ch;
        else
            c->out_head = ch;
        c->out_tail = ch;
    } else {
        ch->len += used;
    }
    outq_queued(c, used);
}

size_t loop_conn_pending(const struct loop_conn *c)
{
    return c->out_bytes;
}

void loop_conn_set_out_limit(struct loop_conn *c, size_t limit)
{
    c->out_limit = limit;
}
