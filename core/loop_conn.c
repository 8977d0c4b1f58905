/*
 * core/loop_conn.c — connection slots: connect, receive, pause/resume,
 * close and the cancel-count-close teardown. See core/loop.h.
 *
 * A connection's life: alloc (slot popped, generation kept) -> CONNECTING
 * or OPEN -> closing FLUSH (optional) -> closing TEARDOWN (one cancel of
 * every op on the fd, then wait until inflight reaches 0) -> DEAD (fd
 * closed, on_close running) -> FREE (generation bumped, slot pushed).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <unistd.h>

#include "core/loop_internal.h"

static void conn_linger_fn(struct loop *l, struct loop_timer *t);

struct loop_conn *loop_conn_alloc(struct loop *l)
{
    struct loop_conn *c;
    uint32_t idx, gen;

    if (l->nfree == 0)
        return NULL;
    idx = l->free_slots[--l->nfree];
    c = &l->conns[idx];
    gen = c->gen;
    memset(c, 0, sizeof(*c));
    c->loop = l;
    c->idx = idx;
    c->gen = gen;
    c->fd = -1;
    c->held_head = c->held_tail = LOOP_BUF_NONE;
    loop_timer_init(&c->linger, conn_linger_fn);
    return c;
}

static void conn_free(struct loop_conn *c)
{
    struct loop *l = c->loop;

    /* The generation changes only here, after the last CQE was counted. */
    c->gen++;
    c->state = LOOP_CONN_FREE;
    c->ops = NULL;
    c->cookie = NULL;
    l->free_slots[l->nfree++] = c->idx;
}

void loop_conn_enqueue(struct loop_conn *c)
{
    struct loop *l = c->loop;

    if ((c->flags & LOOP_CF_ON_WORK) || c->state == LOOP_CONN_FREE || c->state == LOOP_CONN_DEAD)
        return;
    c->flags |= LOOP_CF_ON_WORK;
    loop_workq_push(&l->work, &c->work);
}

static void starve_add(struct loop_conn *c)
{
    struct loop *l = c->loop;

    if (c->flags & LOOP_CF_STARVED)
        return;
    c->flags |= LOOP_CF_STARVED;
    c->starve_next = NULL;
    c->starve_prev = l->starved_tail;
    if (l->starved_tail != NULL)
        l->starved_tail->starve_next = c;
    else
        l->starved_head = c;
    l->starved_tail = c;
}

static void starve_remove(struct loop_conn *c)
{
    struct loop *l = c->loop;

    if (!(c->flags & LOOP_CF_STARVED))
        return;
    c->flags &= ~LOOP_CF_STARVED;
    if (c->starve_prev != NULL)
        c->starve_prev->starve_next = c->starve_next;
    else
        l->starved_head = c->starve_next;
    if (c->starve_next != NULL)
        c->starve_next->starve_prev = c->starve_prev;
    else
        l->starved_tail = c->starve_prev;
    c->starve_next = c->starve_prev = NULL;
}

void loop_conn_unstarve(struct loop *l)
{
    /* Wake about as many starved receivers as there are free buffers, in
     * the order they starved; the rest wait for the next returns. */
    unsigned budget = l->bufs_avail;

    while (l->starved_head != NULL && budget > 0) {
        struct loop_conn *c = l->starved_head;

        starve_remove(c);
        loop_conn_enqueue(c);
        budget--;
    }
}

static void held_drop(struct loop_conn *c)
{
    struct loop *l = c->loop;

    while (c->held_head != LOOP_BUF_NONE) {
        uint32_t bid = c->held_head;

        c->held_head = l->buf_next[bid];
        loop_buf_return(l, (uint16_t)bid);
    }
    c->held_tail = LOOP_BUF_NONE;
    c->flags &= ~LOOP_CF_EOF_HELD;
}

void loop_conn_teardown(struct loop_conn *c, int err)
{
    if (c->state != LOOP_CONN_CONNECTING && c->state != LOOP_CONN_OPEN)
        return;
    if (c->closing == LOOP_CLOSING_TEARDOWN)
        return;
    if (c->close_err == 0)
        c->close_err = err;
    c->closing = LOOP_CLOSING_TEARDOWN;
    loop_timer_stop(c->loop, &c->linger);
    starve_remove(c);
    held_drop(c);
    loop_conn_enqueue(c);
}

static void conn_reap(struct loop_conn *c)
{
    struct loop *l = c->loop;

    c->state = LOOP_CONN_DEAD;
    starve_remove(c);
    held_drop(c);
    loop_timer_stop(l, &c->linger);
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    l->stats.closes++;
    if (c->ops != NULL && c->ops->on_close != NULL)
        c->ops->on_close(c, c->close_err);
    loop_outq_clear(c);
    conn_free(c);
}

static void conn_deliver(struct loop_conn *c, uint32_t bid, size_t n)
{
    struct loop *l = c->loop;
    int r = 0;

    if (c->ops != NULL && c->ops->on_data != NULL)
        r = c->ops->on_data(c, loop_buf_addr(l, bid), n);
    loop_buf_return(l, (uint16_t)bid);
    if (r < 0)
        loop_conn_teardown(c, r);
}

static void conn_eof(struct loop_conn *c)
{
    int r = 0;

    if (c->ops != NULL && c->ops->on_data != NULL)
        r = c->ops->on_data(c, NULL, 0);
    if (r < 0)
        loop_conn_teardown(c, r);
}

static int conn_receiving(const struct loop_conn *c)
{
    return c->state == LOOP_CONN_OPEN && c->closing == LOOP_CLOSING_NO &&
           !(c->flags & LOOP_CF_PAUSED);
}

static void held_deliver(struct loop_conn *c)
{
    struct loop *l = c->loop;

    while (c->held_head != LOOP_BUF_NONE && conn_receiving(c)) {
        uint32_t bid = c->held_head;

        c->held_head = l->buf_next[bid];
        if (c->held_head == LOOP_BUF_NONE)
            c->held_tail = LOOP_BUF_NONE;
        conn_deliver(c, bid, l->buf_len[bid]);
    }
    if (c->held_head == LOOP_BUF_NONE && (c->flags & LOOP_CF_EOF_HELD) && conn_receiving(c)) {
        c->flags &= ~LOOP_CF_EOF_HELD;
        conn_eof(c);
    }
}

static void conn_recv_cqe(struct loop_conn *c, int res, unsigned flags)
{
    struct loop *l = c->loop;
    uint32_t bid = LOOP_BUF_NONE;

    if (!(flags & IORING_CQE_F_MORE)) {
        c->flags &= ~(LOOP_CF_RECV_ARMED | LOOP_CF_RECV_CANCEL);
        c->inflight--;
    }
    if (flags & IORING_CQE_F_BUFFER) {
        bid = flags >> IORING_CQE_BUFFER_SHIFT;
        l->bufs_avail--;
    }
    if (res > 0) {
        l->stats.bytes_in += (uint64_t)res;
        if (bid == LOOP_BUF_NONE) {
            loop_conn_teardown(c, -EIO);
        } else if (c->closing != LOOP_CLOSING_NO) {
            /* Closing: nobody may see more data, but keep draining so the
             * final close does not turn into a reset. */
            loop_buf_return(l, (uint16_t)bid);
        } else if ((c->flags & LOOP_CF_PAUSED) || c->held_head != LOOP_BUF_NONE) {
            /* Paused, or older data still waits: keep order, hold it. */
            l->buf_len[bid] = (uint32_t)res;
            l->buf_next[bid] = LOOP_BUF_NONE;
            if (c->held_tail != LOOP_BUF_NONE)
                l->buf_next[c->held_tail] = bid;
            else
                c->held_head = bid;
            c->held_tail = bid;
        } else {
            conn_deliver(c, bid, (size_t)res);
        }
        return;
    }
    if (bid != LOOP_BUF_NONE)
        loop_buf_return(l, (uint16_t)bid);
    if (res == 0) {
        c->flags |= LOOP_CF_EOF;
        if (c->closing != LOOP_CLOSING_NO)
            return;
        if ((c->flags & LOOP_CF_PAUSED) || c->held_head != LOOP_BUF_NONE)
            c->flags |= LOOP_CF_EOF_HELD;
        else
            conn_eof(c);
        return;
    }
    if (res == -ENOBUFS) {
        l->stats.recv_nobufs++;
        if (c->closing == LOOP_CLOSING_FLUSH ||
            (c->closing == LOOP_CLOSING_NO && !(c->flags & LOOP_CF_PAUSED)))
            starve_add(c);
        return;
    }
    /* -EAGAIN/-EINTR: nothing received (see loop_outq_sent); re-armed
     * by loop_conn_work like any ended multishot. */
    if (res == -ECANCELED || res == -EAGAIN || res == -EINTR)
        return; /* -ECANCELED: pause or teardown asked for it */
    loop_conn_teardown(c, res);
}

static void conn_connect_cqe(struct loop_conn *c, int res)
{
    if (c->closing == LOOP_CLOSING_TEARDOWN)
        return; /* closed by its owner while connecting: no on_connect */
    /* With a linked timeout, a connect cut short by it ends -ECANCELED. */
    if (res == -ECANCELED && (c->flags & LOOP_CF_CONNECT_TMO))
        res = -ETIMEDOUT;
    if (res < 0) {
        loop_conn_teardown(c, res);
        if (c->ops != NULL && c->ops->on_connect != NULL)
            c->ops->on_connect(c, res);
        return;
    }
    c->state = LOOP_CONN_OPEN;
    c->loop->stats.connects++;
    if (c->ops != NULL && c->ops->on_connect != NULL)
        c->ops->on_connect(c, 0);
}

void loop_conn_cqe(struct loop *l, struct loop_conn *c, unsigned op, int res, unsigned flags)
{
    (void)l;
    switch (op) {
    case LOOP_OP_RECV:
        conn_recv_cqe(c, res, flags);
        break;
    case LOOP_OP_SEND:
        c->inflight--;
        loop_outq_sent(c, res);
        break;
    case LOOP_OP_CONNECT:
        c->inflight--;
        conn_connect_cqe(c, res);
        break;
    default: /* link timeout, cancels: only counted */
        c->inflight--;
        break;
    }
    loop_conn_enqueue(c);
}

static int conn_wants_recv(const struct loop_conn *c)
{
    if (c->state != LOOP_CONN_OPEN ||
        (c->flags & (LOOP_CF_RECV_ARMED | LOOP_CF_EOF | LOOP_CF_STARVED)))
        return 0;
    /* While flushing a close, keep reading (and dropping) until the peer's
     * FIN, whatever pause said. */
    if (c->closing == LOOP_CLOSING_FLUSH)
        return 1;
    return c->closing == LOOP_CLOSING_NO && !(c->flags & LOOP_CF_PAUSED) &&
           c->held_head == LOOP_BUF_NONE;
}

static int conn_prep_connect(struct loop_conn *c)
{
    struct loop *l = c->loop;
    unsigned need = (c->flags & LOOP_CF_CONNECT_TMO) ? 2 : 1;
    struct io_uring_sqe *sqe;

    /* The linked pair must be adjacent in the SQ. */
    if (io_uring_sq_space_left(&l->ring) < need) {
        int r = io_uring_submit(&l->ring);
        if (r > 0)
            l->stats.submits += (uint64_t)r;
        if (io_uring_sq_space_left(&l->ring) < need)
            return -EAGAIN;
    }
    sqe = io_uring_get_sqe(&l->ring);
    io_uring_prep_connect(sqe, c->fd, (const struct sockaddr *)&c->peer, c->peer_len);
    io_uring_sqe_set_data64(sqe, loop_ud(LOOP_OP_CONNECT, c->idx, c->gen));
    if (need == 2) {
        sqe->flags |= IOSQE_IO_LINK;
        sqe = io_uring_get_sqe(&l->ring);
        io_uring_prep_link_timeout(sqe, &c->connect_ts, 0);
        io_uring_sqe_set_data64(sqe, loop_ud(LOOP_OP_CONNECT_TIMEOUT, c->idx, c->gen));
    }
    c->inflight += need;
    c->flags |= LOOP_CF_CONNECT_SENT;
    return 0;
}

static int conn_teardown_work(struct loop_conn *c)
{
    struct io_uring_sqe *sqe;

    if (c->inflight == 0) {
        conn_reap(c);
        return 0;
    }
    if (c->flags & LOOP_CF_CANCEL_SENT)
        return 0;
    sqe = loop_sqe(c->loop);
    if (sqe == NULL)
        return -EAGAIN;
    io_uring_prep_cancel_fd(sqe, c->fd, IORING_ASYNC_CANCEL_ALL);
    io_uring_sqe_set_data64(sqe, loop_ud(LOOP_OP_CONN_CANCEL, c->idx, c->gen));
    c->flags |= LOOP_CF_CANCEL_SENT;
    c->inflight++;
    return 0;
}

int loop_conn_work(struct loop_conn *c)
{
    struct loop *l = c->loop;
    struct io_uring_sqe *sqe;
    int r;

again:
    if (c->state == LOOP_CONN_FREE || c->state == LOOP_CONN_DEAD)
        return 0;
    if (c->closing == LOOP_CLOSING_TEARDOWN)
        return conn_teardown_work(c);
    if (conn_receiving(c) && (c->held_head != LOOP_BUF_NONE || (c->flags & LOOP_CF_EOF_HELD))) {
        /* Resumed: give held data first; callbacks may change anything. */
        held_deliver(c);
        goto again;
    }
    if (c->state == LOOP_CONN_CONNECTING) {
        if (!(c->flags & LOOP_CF_CONNECT_SENT))
            return conn_prep_connect(c);
        return 0;
    }
    if ((c->flags & (LOOP_CF_PAUSED | LOOP_CF_RECV_ARMED | LOOP_CF_RECV_CANCEL)) ==
            (LOOP_CF_PAUSED | LOOP_CF_RECV_ARMED) &&
        c->closing == LOOP_CLOSING_NO) {
        sqe = loop_sqe(l);
        if (sqe == NULL)
            return -EAGAIN;
        io_uring_prep_cancel64(sqe, loop_ud(LOOP_OP_RECV, c->idx, c->gen), 0);
        io_uring_sqe_set_data64(sqe, loop_ud(LOOP_OP_CONN_CANCEL, c->idx, c->gen));
        c->flags |= LOOP_CF_RECV_CANCEL;
        c->inflight++;
    }
    if (conn_wants_recv(c)) {
        sqe = loop_sqe(l);
        if (sqe == NULL)
            return -EAGAIN;
        io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = LOOP_BGID;
        io_uring_sqe_set_data64(sqe, loop_ud(LOOP_OP_RECV, c->idx, c->gen));
        c->flags |= LOOP_CF_RECV_ARMED;
        c->inflight++;
    }
    if (c->out_bytes > 0 && !(c->flags & LOOP_CF_SEND_INFLIGHT)) {
        r = loop_outq_flush(c);
        if (r < 0)
            return r;
    }
    if (c->closing == LOOP_CLOSING_FLUSH && c->out_bytes == 0 &&
        !(c->flags & LOOP_CF_SEND_INFLIGHT)) {
        /* Everything is with the kernel: FIN after it, then wait for the
         * peer's FIN so close() cannot reset data still in flight. */
        if (!(c->flags & LOOP_CF_SHUT_WR)) {
            shutdown(c->fd, SHUT_WR);
            c->flags |= LOOP_CF_SHUT_WR;
        }
        if (c->flags & LOOP_CF_EOF) {
            loop_conn_teardown(c, 0);
            goto again;
        }
    }
    return 0;
}

static void conn_linger_fn(struct loop *l, struct loop_timer *t)
{
    struct loop_conn *c = LOOP_CONTAINER_OF(t, struct loop_conn, linger);

    (void)l;
    /* Queue flushed and FIN sent: the peer just never closed. */
    loop_conn_teardown(c, (c->flags & LOOP_CF_SHUT_WR) ? 0 : -ETIMEDOUT);
}

/* ------------------------------------------------------------ public API */

void loop_conn_set(struct loop_conn *c, const struct loop_conn_ops *ops, void *cookie)
{
    c->ops = ops;
    c->cookie = cookie;
}

void *loop_conn_cookie(const struct loop_conn *c)
{
    return c->cookie;
}

struct loop *loop_conn_loop(const struct loop_conn *c)
{
    return c->loop;
}

int loop_conn_fd(const struct loop_conn *c)
{
    return c->fd;
}

const struct sockaddr *loop_conn_peer(const struct loop_conn *c, socklen_t *len)
{
    if (len != NULL)
        *len = c->peer_len;
    return (const struct sockaddr *)&c->peer;
}

int loop_connect(struct loop *l, const struct sockaddr *sa, socklen_t len, unsigned timeout_ms,
                 const struct loop_conn_ops *ops, void *cookie, struct loop_conn **out)
{
    struct loop_conn *c;
    int fd, one = 1;

    *out = NULL;
    if (l->destroying)
        return -ECANCELED;
    fd = loop_addr_check(sa, len);
    if (fd < 0)
        return fd;
    if (l->nfree == 0)
        return -EMFILE;
    fd = loop_tcp_socket(sa->sa_family);
    if (fd < 0)
        return fd;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0) {
        int r = -errno;
        close(fd);
        return r;
    }
    c = loop_conn_alloc(l);
    c->fd = fd;
    c->state = LOOP_CONN_CONNECTING;
    c->ops = ops;
    c->cookie = cookie;
    memcpy(&c->peer, sa, len);
    c->peer_len = len;
    if (timeout_ms != 0) {
        c->connect_ts.tv_sec = timeout_ms / 1000;
        c->connect_ts.tv_nsec = (long long)(timeout_ms % 1000) * 1000000;
        c->flags |= LOOP_CF_CONNECT_TMO;
    }
    loop_conn_enqueue(c);
    *out = c;
    return 0;
}

void loop_conn_pause(struct loop_conn *c)
{
    if ((c->state != LOOP_CONN_OPEN && c->state != LOOP_CONN_CONNECTING) ||
        (c->flags & LOOP_CF_PAUSED))
        return;
    c->flags |= LOOP_CF_PAUSED;
    if (c->closing == LOOP_CLOSING_NO)
        starve_remove(c);
    loop_conn_enqueue(c);
}

void loop_conn_resume(struct loop_conn *c)
{
    if ((c->state != LOOP_CONN_OPEN && c->state != LOOP_CONN_CONNECTING) ||
        !(c->flags & LOOP_CF_PAUSED))
        return;
    c->flags &= ~LOOP_CF_PAUSED;
    loop_conn_enqueue(c);
}

void loop_conn_close(struct loop_conn *c, int how, unsigned linger_ms)
{
    int r;

    if ((c->state != LOOP_CONN_OPEN && c->state != LOOP_CONN_CONNECTING) ||
        c->closing == LOOP_CLOSING_TEARDOWN)
        return;
    if (how != LOOP_CLOSE_FLUSH) {
        loop_conn_teardown(c, 0);
        return;
    }
    if (c->closing == LOOP_CLOSING_FLUSH)
        return;
    c->closing = LOOP_CLOSING_FLUSH;
    held_drop(c);
    if (linger_ms != 0) {
        r = loop_timer_start(c->loop, &c->linger, linger_ms);
        if (r < 0) {
            loop_conn_teardown(c, r);
            return;
        }
    }
    loop_conn_enqueue(c);
}
