/*
 * core/loop.c — ring set-up and feature checks, the iteration (prepare,
 * submit and wait, dispatch, timers, prepare), wakeup, signals and
 * teardown. See core/loop.h for the contract, core/loop_internal.h for the
 * shape of the state.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "core/loop_internal.h"
#include "core/outbuf.h"

int loop_addr_check(const struct sockaddr *sa, socklen_t len)
{
    if (sa == NULL || len > sizeof(struct sockaddr_storage))
        return -EINVAL;
    if (sa->sa_family == AF_INET)
        return len < sizeof(struct sockaddr_in) ? -EINVAL : 0;
    if (sa->sa_family == AF_INET6)
        return len < sizeof(struct sockaddr_in6) ? -EINVAL : 0;
    return -EAFNOSUPPORT;
}

int loop_tcp_socket(int family)
{
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
    return fd < 0 ? -errno : fd;
}

static uint64_t clock_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void loop_config_defaults(struct loop_config *cfg)
{
    cfg->max_conns = 4096;
    cfg->ring_entries = 1024;
    cfg->recv_buf_size = 16384;
    cfg->recv_buf_count = 1024;
    cfg->out_chunk_size = 16384;
    cfg->out_limit = 1024 * 1024;
}

static int config_check(struct loop_config *c, const struct loop_config *in, char *err,
                        size_t errlen)
{
    loop_config_defaults(c);
    if (in != NULL) {
        if (in->max_conns)
            c->max_conns = in->max_conns;
        if (in->ring_entries)
            c->ring_entries = in->ring_entries;
        if (in->recv_buf_size)
            c->recv_buf_size = in->recv_buf_size;
        if (in->recv_buf_count)
            c->recv_buf_count = in->recv_buf_count;
        if (in->out_chunk_size)
            c->out_chunk_size = in->out_chunk_size;
        if (in->out_limit)
            c->out_limit = in->out_limit;
    }
    if (c->max_conns > LOOP_MAX_SLOTS) {
        outbuf_errf(err, errlen, "loop: max_conns %u exceeds %u", c->max_conns, LOOP_MAX_SLOTS);
        return -EINVAL;
    }
    if (c->ring_entries > 32768) {
        outbuf_errf(err, errlen, "loop: ring_entries %u exceeds 32768", c->ring_entries);
        return -EINVAL;
    }
    if (c->recv_buf_count > LOOP_MAX_BUFS || (c->recv_buf_count & (c->recv_buf_count - 1))) {
        outbuf_errf(err, errlen, "loop: recv_buf_count %u is not a power of two <= %u",
                    c->recv_buf_count, LOOP_MAX_BUFS);
        return -EINVAL;
    }
    if (c->recv_buf_size > (1u << 30) || (size_t)c->recv_buf_size > SIZE_MAX / c->recv_buf_count) {
        outbuf_errf(err, errlen, "loop: recv_buf_size %u too large", c->recv_buf_size);
        return -EINVAL;
    }
    if (c->out_chunk_size > (1u << 30) ||
        c->out_chunk_size > SIZE_MAX - sizeof(struct loop_chunk)) {
        outbuf_errf(err, errlen, "loop: out_chunk_size %zu too large", c->out_chunk_size);
        return -EINVAL;
    }
    return 0;
}

static int ring_init(struct loop *l, char *err, size_t errlen)
{
    /* Strongest mode first; each fallback drops what an older kernel
     * rejects with EINVAL. */
    static const unsigned modes[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL,
        IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL,
        IORING_SETUP_SUBMIT_ALL,
        0,
    };
    int r = -EINVAL;

    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        struct io_uring_params p;

        memset(&p, 0, sizeof(p));
        p.flags = modes[i] | IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
        p.cq_entries = l->cfg.ring_entries * 4;
        r = io_uring_queue_init_params(l->cfg.ring_entries, &l->ring, &p);
        if (r == 0) {
            l->ring_flags = p.flags;
            break;
        }
        if (r != -EINVAL)
            break;
    }
    if (r == 0)
        return 0;
    if (r == -EPERM) {
        char v[16] = "?";
        int fd = open("/proc/sys/kernel/io_uring_disabled", O_RDONLY | O_CLOEXEC);

        if (fd >= 0) {
            ssize_t n = read(fd, v, sizeof(v) - 1);
            v[n > 0 ? n : 0] = '\0';
            v[strcspn(v, "\n")] = '\0';
            close(fd);
        }
        outbuf_errf(err, errlen, "io_uring is disabled (kernel.io_uring_disabled=%s)", v);
    } else if (r == -ENOSYS) {
        outbuf_errf(err, errlen, "io_uring: kernel built without io_uring (ENOSYS)");
    } else if (r == -ENOMEM) {
        outbuf_errf(err, errlen, "io_uring: cannot map a %u-entry ring (ENOMEM; RLIMIT_MEMLOCK?)",
                    l->cfg.ring_entries);
    } else {
        outbuf_errf(err, errlen, "io_uring: io_uring_queue_init failed: %s", strerror(-r));
    }
    return r;
}

static int ring_check(struct loop *l, char *err, size_t errlen)
{
    static const struct {
        unsigned bit;
        const char *name;
    } feats[] = {
        {IORING_FEAT_NODROP, "NODROP"},
        {IORING_FEAT_EXT_ARG, "EXT_ARG"},
        {IORING_FEAT_FAST_POLL, "FAST_POLL"},
        {IORING_FEAT_SUBMIT_STABLE, "SUBMIT_STABLE"},
    };
    static const struct {
        int op;
        const char *name;
    } ops[] = {
        {IORING_OP_ACCEPT, "ACCEPT"},
        {IORING_OP_RECV, "RECV"},
        {IORING_OP_SENDMSG, "SENDMSG"},
        {IORING_OP_CONNECT, "CONNECT"},
        {IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL"},
        {IORING_OP_LINK_TIMEOUT, "LINK_TIMEOUT"},
        {IORING_OP_READ, "READ"},
        {IORING_OP_POLL_ADD, "POLL_ADD"},
    };
    struct io_uring_probe *probe;

    for (size_t i = 0; i < sizeof(feats) / sizeof(feats[0]); i++) {
        if (!(l->ring.features & feats[i].bit)) {
            outbuf_errf(err, errlen, "io_uring: kernel lacks IORING_FEAT_%s (need Linux >= 6.0)",
                        feats[i].name);
            return -EOPNOTSUPP;
        }
    }
    probe = io_uring_get_probe_ring(&l->ring);
    if (probe == NULL) {
        outbuf_errf(err, errlen, "io_uring: opcode probe failed (need Linux >= 6.0)");
        return -EOPNOTSUPP;
    }
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        if (!io_uring_opcode_supported(probe, ops[i].op)) {
            outbuf_errf(err, errlen, "io_uring: opcode IORING_OP_%s not supported by this kernel",
                        ops[i].name);
            io_uring_free_probe(probe);
            return -EOPNOTSUPP;
        }
    }
    io_uring_free_probe(probe);
    return 0;
}

uint8_t *loop_buf_addr(const struct loop *l, uint32_t bid)
{
    return l->bufs + (size_t)bid * l->cfg.recv_buf_size;
}

void loop_buf_return(struct loop *l, uint16_t bid)
{
    io_uring_buf_ring_add(l->br, loop_buf_addr(l, bid), l->cfg.recv_buf_size, bid,
                          io_uring_buf_ring_mask(l->cfg.recv_buf_count), 0);
    io_uring_buf_ring_advance(l->br, 1);
    l->bufs_avail++;
}

static int bufs_init(struct loop *l, char *err, size_t errlen)
{
    unsigned n = l->cfg.recv_buf_count;
    struct io_uring_buf_reg reg;
    int r;

    l->bufs = malloc((size_t)n * l->cfg.recv_buf_size);
    l->buf_next = calloc(n, sizeof(*l->buf_next));
    l->buf_len = calloc(n, sizeof(*l->buf_len));
    if (l->bufs == NULL || l->buf_next == NULL || l->buf_len == NULL) {
        outbuf_errf(err, errlen, "loop: cannot allocate %u receive buffers of %u bytes", n,
                    l->cfg.recv_buf_size);
        return -ENOMEM;
    }
    /* The kernel wants the ring page-aligned. */
    l->br_bytes = (size_t)n * sizeof(struct io_uring_buf);
    l->br = mmap(NULL, l->br_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (l->br == MAP_FAILED) {
        l->br = NULL;
        outbuf_errf(err, errlen, "loop: cannot map the buffer ring: %s", strerror(errno));
        return -ENOMEM;
    }
    io_uring_buf_ring_init(l->br);
    memset(&reg, 0, sizeof(reg));
    reg.ring_addr = (uint64_t)(uintptr_t)l->br;
    reg.ring_entries = n;
    reg.bgid = LOOP_BGID;
    r = io_uring_register_buf_ring(&l->ring, &reg, 0);
    if (r < 0) {
        if (r == -EINVAL || r == -EOPNOTSUPP)
            outbuf_errf(err, errlen,
                        "io_uring: provided-buffer rings unsupported (need Linux >= 5.19)");
        else
            outbuf_errf(err, errlen, "io_uring: io_uring_register_buf_ring failed: %s",
                        strerror(-r));
        return r;
    }
    l->br_registered = 1;
    for (unsigned i = 0; i < n; i++)
        loop_buf_return(l, (uint16_t)i);
    return 0;
}

/* Waits for one CQE of the start-up probe, at most a second. */
static int probe_wait(struct loop *l, int *res, unsigned *flags)
{
    struct __kernel_timespec ts = {.tv_sec = 1, .tv_nsec = 0};
    struct io_uring_cqe *cqe;
    int r = io_uring_submit_and_wait_timeout(&l->ring, &cqe, 1, &ts, NULL);

    if (r < 0 && r != -ETIME)
        return r;
    if (io_uring_peek_cqe(&l->ring, &cqe) != 0)
        return -ETIMEDOUT;
    *res = cqe->res;
    *flags = cqe->flags;
    io_uring_cqe_seen(&l->ring, cqe);
    return 0;
}

/*
 * Multishot recv (Linux 6.0) cannot be probed by opcode: arm one on a
 * socketpair and see whether the kernel keeps it alive (IORING_CQE_F_MORE).
 * Multishot accept (5.19) is implied.
 */
static int probe_multishot(struct loop *l, char *err, size_t errlen)
{
    struct io_uring_sqe *sqe;
    int sv[2], res = 0, r, ok;
    unsigned flags = 0;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        r = -errno;
        outbuf_errf(err, errlen, "loop: socketpair for the multishot probe: %s", strerror(errno));
        return r;
    }
    sqe = io_uring_get_sqe(&l->ring);
    io_uring_prep_recv_multishot(sqe, sv[0], NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = LOOP_BGID;
    io_uring_sqe_set_data64(sqe, loop_ud(LOOP_OP_PROBE, 0, 0));
    if (write(sv[1], "x", 1) != 1) {
        r = -errno;
        outbuf_errf(err, errlen, "loop: multishot probe write: %s", strerror(errno));
        goto out;
    }
    r = probe_wait(l, &res, &flags);
    if (r < 0) {
        outbuf_errf(err, errlen, "io_uring: multishot recv probe failed: %s", strerror(-r));
        goto out;
    }
    if (flags & IORING_CQE_F_BUFFER) {
        l->bufs_avail--;
        loop_buf_return(l, (uint16_t)(flags >> IORING_CQE_BUFFER_SHIFT));
    }
    ok = res == 1 && (flags & IORING_CQE_F_MORE);
    if (flags & IORING_CQE_F_MORE) {
        /* EOF ends the multishot; wait for that final CQE. */
        close(sv[1]);
        sv[1] = -1;
        do {
            r = probe_wait(l, &res, &flags);
            if (r == 0 && (flags & IORING_CQE_F_BUFFER)) {
                l->bufs_avail--;
                loop_buf_return(l, (uint16_t)(flags >> IORING_CQE_BUFFER_SHIFT));
            }
        } while (r == 0 && (flags & IORING_CQE_F_MORE));
        if (r < 0) {
            outbuf_errf(err, errlen, "io_uring: multishot recv probe did not finish: %s",
                        strerror(-r));
            goto out;
        }
    }
    if (!ok) {
        r = -EOPNOTSUPP;
        outbuf_errf(err, errlen, "io_uring: multishot recv unsupported (need Linux >= 6.0)");
    }
out:
    close(sv[0]);
    if (sv[1] >= 0)
        close(sv[1]);
    return r;
}

int loop_create(struct loop **out, const struct loop_config *cfg, char *err, size_t errlen)
{
    struct loop *l;
    int r;

    *out = NULL;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    l = calloc(1, sizeof(*l));
    if (l == NULL) {
        outbuf_errf(err, errlen, "loop: out of memory");
        return -ENOMEM;
    }
    l->wake_fd = -1;
    l->sig_fd = -1;
    r = config_check(&l->cfg, cfg, err, errlen);
    if (r < 0)
        goto err0;
    r = ring_init(l, err, errlen);
    if (r < 0)
        goto err0;
    r = ring_check(l, err, errlen);
    if (r < 0)
        goto err1;
    r = bufs_init(l, err, errlen);
    if (r < 0)
        goto err1;
    r = probe_multishot(l, err, errlen);
    if (r < 0)
        goto err1;

    l->conns = calloc(l->cfg.max_conns, sizeof(*l->conns));
    l->free_slots = calloc(l->cfg.max_conns, sizeof(*l->free_slots));
    if (l->conns == NULL || l->free_slots == NULL) {
        r = -ENOMEM;
        outbuf_errf(err, errlen, "loop: cannot allocate %u connection slots", l->cfg.max_conns);
        goto err1;
    }
    /* Stack of free slots, lowest index on top. */
    for (uint32_t i = 0; i < l->cfg.max_conns; i++) {
        l->conns[i].idx = i;
        l->conns[i].fd = -1;
        l->free_slots[l->cfg.max_conns - 1 - i] = i;
    }
    l->nfree = l->cfg.max_conns;

    l->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (l->wake_fd < 0) {
        r = -errno;
        outbuf_errf(err, errlen, "loop: eventfd: %s", strerror(errno));
        goto err1;
    }
    l->wake_state = LOOP_SYS_WANTED;
    l->now_ms = clock_ms();
    *out = l;
    return 0;

err1:
    if (l->br_registered)
        io_uring_unregister_buf_ring(&l->ring, LOOP_BGID);
    io_uring_queue_exit(&l->ring);
err0:
    if (l->br != NULL)
        munmap(l->br, l->br_bytes);
    free(l->bufs);
    free(l->buf_next);
    free(l->buf_len);
    free(l->conns);
    free(l->free_slots);
    free(l);
    return r;
}

struct io_uring_sqe *loop_sqe(struct loop *l)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);

    if (sqe == NULL) {
        int r = io_uring_submit(&l->ring);
        if (r > 0)
            l->stats.submits += (uint64_t)r;
        sqe = io_uring_get_sqe(&l->ring);
    }
    return sqe;
}

/*
 * Arms (or cancels, when destroying) the loop's own operations: a read of
 * len bytes into buf, or with buf NULL a multishot poll for POLLIN.
 */
static int sys_work(struct loop *l, unsigned *state, int fd, enum loop_op op, void *buf,
                    unsigned len)
{
    struct io_uring_sqe *sqe;

    if (l->destroying) {
        if ((*state & LOOP_SYS_ARMED) && !(*state & LOOP_SYS_CANCEL_SENT)) {
            sqe = loop_sqe(l);
            if (sqe == NULL)
                return -EAGAIN;
            io_uring_prep_cancel64(sqe, loop_ud(op, 0, 0), 0);
            io_uring_sqe_set_data64(sqe, loop_ud(LOOP_OP_SYS_CANCEL, 0, 0));
            *state |= LOOP_SYS_CANCEL_SENT;
            l->sys_inflight++;
        }
        return 0;
    }
    if (fd < 0 || !(*state & LOOP_SYS_WANTED) || (*state & LOOP_SYS_ARMED))
        return 0;
    sqe = loop_sqe(l);
    if (sqe == NULL)
        return -EAGAIN;
    if (buf != NULL)
        io_uring_prep_read(sqe, fd, buf, len, 0);
    else
        io_uring_prep_poll_multishot(sqe, fd, POLLIN);
    io_uring_sqe_set_data64(sqe, loop_ud(op, 0, 0));
    *state |= LOOP_SYS_ARMED;
    l->sys_inflight++;
    return 0;
}

/*
 * The one place where state becomes SQEs: deferred closes, re-armed
 * receives, flushed output queues, listener re-arms and the loop's reads.
 */
static void loop_prepare(struct loop *l)
{
    struct loop_work *w;
    int r;

    l->stalled = 0;
    r = sys_work(l, &l->wake_state, l->wake_fd, LOOP_OP_WAKEUP, NULL, 0);
    if (r == 0)
        r = sys_work(l, &l->sig_state, l->sig_fd, LOOP_OP_SIGNAL, &l->sig_info,
                     sizeof(l->sig_info));
    if (r < 0) {
        l->stalled = 1;
        return;
    }
    while ((w = loop_workq_pop(&l->lwork)) != NULL) {
        struct loop_listener *ls = LOOP_CONTAINER_OF(w, struct loop_listener, work);

        ls->flags &= ~LOOP_LF_ON_WORK;
        if (loop_listen_work(ls) < 0) {
            /* Out of SQEs: put it back at the front, retry next time. */
            ls->flags |= LOOP_LF_ON_WORK;
            loop_workq_push_front(&l->lwork, w);
            l->stalled = 1;
            return;
        }
    }
    loop_conn_unstarve(l);
    while ((w = loop_workq_pop(&l->work)) != NULL) {
        struct loop_conn *c = LOOP_CONTAINER_OF(w, struct loop_conn, work);

        c->flags &= ~LOOP_CF_ON_WORK;
        if (loop_conn_work(c) < 0) {
            c->flags |= LOOP_CF_ON_WORK;
            loop_workq_push_front(&l->work, w);
            l->stalled = 1;
            return;
        }
    }
}

static void wake_cqe(struct loop *l, int res, unsigned flags)
{
    uint64_t v;

    if (!(flags & IORING_CQE_F_MORE)) {
        l->sys_inflight--;
        l->wake_state &= ~LOOP_SYS_ARMED;
    }
    /*
     * Drain the counter here, on the loop thread, rather than with a read
     * op the kernel may complete early: every wake made before this point
     * is covered by this one call, and later poll events that find the
     * counter already drained call nothing.
     */
    if (res > 0 && (res & POLLIN) && !l->destroying &&
        read(l->wake_fd, &v, sizeof(v)) == (ssize_t)sizeof(v) && l->wake_fn != NULL)
        l->wake_fn(l, l->wake_arg);
    /* Anything but a transient failure would spin: stop polling. */
    if (res < 0 && res != -EINTR && res != -EAGAIN)
        l->wake_state &= ~LOOP_SYS_WANTED;
}

static void sig_cqe(struct loop *l, int res)
{
    l->sys_inflight--;
    l->sig_state &= ~LOOP_SYS_ARMED;
    if (res == (int)sizeof(l->sig_info) && l->sig_fn != NULL && !l->destroying)
        l->sig_fn(l, (int)l->sig_info.ssi_signo, l->sig_arg);
    if (res < 0 && res != -EINTR && res != -EAGAIN)
        l->sig_state &= ~LOOP_SYS_WANTED;
}

static void dispatch(struct loop *l, uint64_t ud, int res, unsigned flags)
{
    unsigned op = loop_ud_op(ud);
    uint32_t idx = loop_ud_idx(ud);

    switch (op) {
    case LOOP_OP_RECV:
    case LOOP_OP_SEND:
    case LOOP_OP_CONNECT:
    case LOOP_OP_CONNECT_TIMEOUT:
    case LOOP_OP_CONN_CANCEL: {
        struct loop_conn *c = idx < l->cfg.max_conns ? &l->conns[idx] : NULL;

        if (c == NULL || c->state == LOOP_CONN_FREE || c->gen != loop_ud_gen(ud)) {
            /* Cannot happen while every op is counted before a slot is
             * reused; if it ever does, the buffer must still go back. */
            if (flags & IORING_CQE_F_BUFFER) {
                l->bufs_avail--;
                loop_buf_return(l, (uint16_t)(flags >> IORING_CQE_BUFFER_SHIFT));
            }
            l->stats.stale++;
            return;
        }
        loop_conn_cqe(l, c, op, res, flags);
        return;
    }
    case LOOP_OP_ACCEPT:
    case LOOP_OP_ACCEPT_CANCEL:
        if (idx < l->lsn_cap && l->lsn[idx] != NULL) {
            loop_listen_cqe(l, l->lsn[idx], op, res, flags);
            return;
        }
        l->stats.stale++;
        return;
    case LOOP_OP_WAKEUP:
        wake_cqe(l, res, flags);
        return;
    case LOOP_OP_SIGNAL:
        sig_cqe(l, res);
        return;
    case LOOP_OP_SYS_CANCEL:
        l->sys_inflight--;
        return;
    default:
        /* liburing's own timeout (if the kernel lacked EXT_ARG), or
         * anything foreign: nothing of ours to account. */
        if (flags & IORING_CQE_F_BUFFER) {
            l->bufs_avail--;
            loop_buf_return(l, (uint16_t)(flags >> IORING_CQE_BUFFER_SHIFT));
        }
        return;
    }
}

/* Submits, waits up to timeout_ms (-1: no bound) and dispatches what came. */
static int loop_step(struct loop *l, int timeout_ms)
{
    struct io_uring_cqe *cqe;
    unsigned head, ready, n = 0, pending = io_uring_sq_ready(&l->ring);
    int r;

    if (l->stalled)
        timeout_ms = 0;
    if (timeout_ms == 0) {
        r = io_uring_submit_and_get_events(&l->ring);
    } else if (timeout_ms < 0) {
        r = io_uring_submit_and_wait_timeout(&l->ring, &cqe, 1, NULL, NULL);
    } else {
        struct __kernel_timespec ts = {.tv_sec = timeout_ms / 1000,
                                       .tv_nsec = (long long)(timeout_ms % 1000) * 1000000};
        r = io_uring_submit_and_wait_timeout(&l->ring, &cqe, 1, &ts, NULL);
    }
    if (r < 0 && r != -ETIME && r != -EINTR && r != -EAGAIN && r != -EBUSY)
        return r;
    /* Entering the kernel with SQEs ready submits them all (SUBMIT_ALL). */
    l->stats.submits += pending - io_uring_sq_ready(&l->ring);
    l->stats.iterations++;
    l->now_ms = clock_ms();
    /*
     * Callbacks only queue work (see loop_internal.h), so walking the CQ in
     * place and advancing once for the batch is safe. The batch is what was
     * ready now: without DEFER_TASKRUN the kernel may keep posting while we
     * walk, and timers and flushes must get their turn.
     */
    ready = io_uring_cq_ready(&l->ring);
    io_uring_for_each_cqe(&l->ring, head, cqe)
    {
        if (n == ready)
            break;
        dispatch(l, cqe->user_data, cqe->res, cqe->flags);
        n++;
    }
    io_uring_cq_advance(&l->ring, n);
    l->stats.completions += n;
    return (int)n;
}

int loop_run_once(struct loop *l, int timeout_ms)
{
    int64_t next;
    int r;

    l->now_ms = clock_ms();
    loop_prepare(l);
    next = loop_timer_next(l);
    if (next >= 0 && (timeout_ms < 0 || next < timeout_ms))
        timeout_ms = next > INT_MAX ? INT_MAX : (int)next;
    r = loop_step(l, timeout_ms);
    if (r < 0)
        return r;
    loop_timer_run(l);
    loop_prepare(l);
    return r;
}

int loop_run(struct loop *l)
{
    l->stop = 0;
    while (!l->stop) {
        int r = loop_run_once(l, -1);
        if (r < 0)
            return r;
    }
    l->stop = 0;
    return 0;
}

void loop_stop(struct loop *l)
{
    l->stop = 1;
}

uint64_t loop_now_ms(const struct loop *l)
{
    return l->now_ms;
}

void loop_set_wakeup(struct loop *l, void (*fn)(struct loop *l, void *arg), void *arg)
{
    l->wake_fn = fn;
    l->wake_arg = arg;
}

int loop_wakeup(struct loop *l)
{
    uint64_t one = 1;

    /* The eventfd counter sums concurrent wakes; wake_cqe drains it. */
    if (write(l->wake_fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
        return -errno;
    return 0;
}

int loop_handle_signals(struct loop *l, void (*fn)(struct loop *l, int signo, void *arg), void *arg)
{
    struct sigaction sa;
    sigset_t set;
    int r;

    if (l->sig_fd >= 0)
        return -EBUSY;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    r = pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (r != 0)
        return -r;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGPIPE, &sa, NULL) < 0)
        return -errno;
    /* Blocking on purpose: io_uring then polls it instead of failing the
     * read with EAGAIN. */
    l->sig_fd = signalfd(-1, &set, SFD_CLOEXEC);
    if (l->sig_fd < 0)
        return -errno;
    l->sig_fn = fn;
    l->sig_arg = arg;
    l->sig_state = LOOP_SYS_WANTED;
    return 0;
}

void loop_get_stats(const struct loop *l, struct loop_stats *st)
{
    *st = l->stats;
    st->conns_open = l->cfg.max_conns - l->nfree;
}

static int destroy_done(const struct loop *l)
{
    return l->nfree == l->cfg.max_conns && l->lsn_open == 0 && l->sys_inflight == 0;
}

void loop_destroy(struct loop *l)
{
    uint64_t deadline;

    if (l == NULL)
        return;
    l->destroying = 1;
    for (uint32_t i = 0; i < l->lsn_cap; i++) {
        if (l->lsn[i] != NULL)
            loop_listener_close(l->lsn[i]);
    }
    for (uint32_t i = 0; i < l->cfg.max_conns; i++) {
        struct loop_conn *c = &l->conns[i];
        if (c->state == LOOP_CONN_CONNECTING || c->state == LOOP_CONN_OPEN)
            loop_conn_teardown(c, -ECANCELED);
    }
    /* Cancel, count, close: the same teardown as at run time, with no
     * timers and no new work accepted. */
    deadline = clock_ms() + LOOP_DESTROY_WAIT_MS;
    for (;;) {
        loop_prepare(l);
        if (destroy_done(l) || clock_ms() > deadline)
            break;
        if (loop_step(l, 100) < 0)
            break;
    }
    loop_timer_clear(l);
    if (l->br_registered)
        io_uring_unregister_buf_ring(&l->ring, LOOP_BGID);
    io_uring_queue_exit(&l->ring);
    for (uint32_t i = 0; i < l->cfg.max_conns; i++) {
        /* Only reached when the kernel never answered: do not leak. */
        if (l->conns[i].state != LOOP_CONN_FREE) {
            if (l->conns[i].fd >= 0)
                close(l->conns[i].fd);
            loop_outq_clear(&l->conns[i]);
        }
    }
    for (uint32_t i = 0; i < l->lsn_cap; i++) {
        if (l->lsn[i] != NULL) {
            close(l->lsn[i]->fd);
            free(l->lsn[i]);
        }
    }
    free(l->lsn);
    loop_outq_pool_free(l);
    if (l->wake_fd >= 0)
        close(l->wake_fd);
    if (l->sig_fd >= 0)
        close(l->sig_fd);
    munmap(l->br, l->br_bytes);
    free(l->bufs);
    free(l->buf_next);
    free(l->buf_len);
    free(l->conns);
    free(l->free_slots);
    free(l);
}
