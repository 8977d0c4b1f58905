/*
 * core/loop_listen.c — listening sockets with multishot accept.
 * See core/loop.h.
 *
 * A listener has at most one accept op in flight; it is re-armed when the
 * kernel ends the multishot (no IORING_CQE_F_MORE), after a short back-off
 * when the end was an error, so a full fd table cannot spin the loop.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/loop_internal.h"

static void listen_enqueue(struct loop_listener *ls)
{
    struct loop *l = ls->loop;

    if (ls->flags & LOOP_LF_ON_WORK)
        return;
    ls->flags |= LOOP_LF_ON_WORK;
    loop_workq_push(&l->lwork, &ls->work);
}

static void listen_retry_fn(struct loop *l, struct loop_timer *t)
{
    (void)l;
    listen_enqueue(LOOP_CONTAINER_OF(t, struct loop_listener, retry));
}

static int listen_table_slot(struct loop *l, uint32_t *idx)
{
    struct loop_listener **tab;
    uint32_t cap;

    for (uint32_t i = 0; i < l->lsn_cap; i++) {
        if (l->lsn[i] == NULL) {
            *idx = i;
            return 0;
        }
    }
    cap = l->lsn_cap ? l->lsn_cap * 2 : 4;
    if (cap > LOOP_MAX_SLOTS)
        return -ENOMEM;
    tab = realloc(l->lsn, cap * sizeof(*tab));
    if (tab == NULL)
        return -ENOMEM;
    for (uint32_t i = l->lsn_cap; i < cap; i++)
        tab[i] = NULL;
    *idx = l->lsn_cap;
    l->lsn = tab;
    l->lsn_cap = cap;
    return 0;
}

int loop_listen(struct loop *l, const struct sockaddr *sa, socklen_t len, unsigned flags,
                loop_accept_fn fn, void *cookie, struct loop_listener **out)
{
    struct loop_listener *ls;
    uint32_t idx;
    int fd, one = 1, r;

    *out = NULL;
    if (l->destroying)
        return -ECANCELED;
    if (fn == NULL)
        return -EINVAL;
    r = loop_addr_check(sa, len);
    if (r < 0)
        return r;
    r = listen_table_slot(l, &idx);
    if (r < 0)
        return r;
    fd = loop_tcp_socket(sa->sa_family);
    if (fd < 0)
        return fd;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        ((flags & LOOP_LISTEN_REUSEPORT) &&
         setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) ||
        bind(fd, sa, len) < 0 || listen(fd, SOMAXCONN) < 0) {
        r = -errno;
        goto err0;
    }
    ls = calloc(1, sizeof(*ls));
    if (ls == NULL) {
        r = -ENOMEM;
        goto err0;
    }
    ls->loop = l;
    ls->fn = fn;
    ls->cookie = cookie;
    ls->fd = fd;
    ls->idx = idx;
    loop_timer_init(&ls->retry, listen_retry_fn);
    l->lsn[idx] = ls;
    l->lsn_open++;
    listen_enqueue(ls);
    *out = ls;
    return 0;

err0:
    close(fd);
    return r;
}

void *loop_listener_cookie(const struct loop_listener *ls)
{
    return ls->cookie;
}

int loop_listener_addr(const struct loop_listener *ls, struct sockaddr_storage *ss, socklen_t *len)
{
    *len = sizeof(*ss);
    if (getsockname(ls->fd, (struct sockaddr *)ss, len) < 0)
        return -errno;
    return 0;
}

void loop_listener_close(struct loop_listener *ls)
{
    if (ls->flags & LOOP_LF_CLOSING)
        return;
    ls->flags |= LOOP_LF_CLOSING;
    loop_timer_stop(ls->loop, &ls->retry);
    listen_enqueue(ls);
}

int loop_listen_work(struct loop_listener *ls)
{
    struct loop *l = ls->loop;
    struct io_uring_sqe *sqe;

    if (ls->flags & LOOP_LF_CLOSING) {
        if (ls->inflight == 0) {
            close(ls->fd);
            l->lsn[ls->idx] = NULL;
            l->lsn_open--;
            free(ls);
            return 0;
        }
        if (ls->flags & LOOP_LF_CANCEL_SENT)
            return 0;
        sqe = loop_sqe(l);
        if (sqe == NULL)
            return -EAGAIN;
        io_uring_prep_cancel64(sqe, loop_ud(LOOP_OP_ACCEPT, ls->idx, 0), 0);
        io_uring_sqe_set_data64(sqe, loop_ud(LOOP_OP_ACCEPT_CANCEL, ls->idx, 0));
        ls->flags |= LOOP_LF_CANCEL_SENT;
        ls->inflight++;
        return 0;
    }
    if ((ls->flags & LOOP_LF_ARMED) || loop_timer_armed(&ls->retry))
        return 0;
    sqe = loop_sqe(l);
    if (sqe == NULL)
        return -EAGAIN;
    /* No address buffer: every shot of a multishot would share it. The
     * peer comes from getpeername instead. */
    io_uring_prep_multishot_accept(sqe, ls->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, loop_ud(LOOP_OP_ACCEPT, ls->idx, 0));
    ls->flags |= LOOP_LF_ARMED;
    ls->inflight++;
    return 0;
}

static void listen_accepted(struct loop_listener *ls, int fd)
{
    struct loop *l = ls->loop;
    struct loop_conn *c = loop_conn_alloc(l);
    int one = 1;

    if (c == NULL) {
        close(fd);
        ls->fn(ls, NULL, -EMFILE);
        return;
    }
    c->fd = fd;
    c->state = LOOP_CONN_OPEN;
    l->stats.accepts++;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0) {
        loop_conn_teardown(c, -errno);
        return;
    }
    c->peer_len = sizeof(c->peer);
    if (getpeername(fd, (struct sockaddr *)&c->peer, &c->peer_len) < 0) {
        /* Already reset by the peer: nothing to serve. */
        loop_conn_teardown(c, -errno);
        return;
    }
    ls->fn(ls, c, 0);
    if (c->ops == NULL)
        loop_conn_teardown(c, 0);
    loop_conn_enqueue(c);
}

void loop_listen_cqe(struct loop *l, struct loop_listener *ls, unsigned op, int res, unsigned flags)
{
    if (op == LOOP_OP_ACCEPT_CANCEL) {
        ls->inflight--;
        listen_enqueue(ls);
        return;
    }
    if (!(flags & IORING_CQE_F_MORE)) {
        ls->flags &= ~LOOP_LF_ARMED;
        ls->inflight--;
        listen_enqueue(ls);
    }
    if (ls->flags & LOOP_LF_CLOSING) {
        if (res >= 0)
            close(res);
        return;
    }
    if (res >= 0) {
        listen_accepted(ls, res);
        return;
    }
    /* Transient, nothing accepted: re-armed at once by loop_listen_work. */
    if (res == -EAGAIN || res == -EINTR)
        return;
    ls->fn(ls, NULL, res);
    if (!(flags & IORING_CQE_F_MORE) && !(ls->flags & LOOP_LF_CLOSING))
        loop_timer_start(l, &ls->retry, LOOP_ACCEPT_RETRY_MS);
}
