/*
 * core/loop_internal.h — private state of the io_uring loop.
 *
 * Shared by core/loop*.c only (and by white-box tests that need to inject a
 * completion). Nothing here is part of the contract in core/loop.h.
 *
 * Threading of work: callbacks never touch the submission queue. They only
 * change a connection's state and put it on the loop's work list; the loop
 * turns that state into SQEs in one place (loop_prepare), once per
 * iteration. That is what makes every public call re-entrant from any
 * callback, and what batches all writes of an iteration into one sendmsg
 * per connection.
 */
#ifndef H8S_CORE_LOOP_INTERNAL_H
#define H8S_CORE_LOOP_INTERNAL_H

#include <liburing.h>
#include <stdint.h>
#include <sys/signalfd.h>

#include "core/loop.h"

/* iovecs per sendmsg: 64 chunks of 16 KiB is 1 MiB per system call. */
#define LOOP_SEND_IOV_MAX 64
/* Free output chunks kept for reuse; beyond this they go back to malloc. */
#define LOOP_CHUNK_POOL_KEEP 1024
/* Back-off before re-arming an accept that failed (EMFILE, ENFILE...). */
#define LOOP_ACCEPT_RETRY_MS 100
/* Slot indexes travel in 24 bits of user_data. */
#define LOOP_MAX_SLOTS ((1u << 24) - 1)
#define LOOP_MAX_BUFS 32768u
#define LOOP_BUF_NONE UINT32_MAX
#define LOOP_BGID 0
/* loop_destroy gives up waiting for the kernel after this long. */
#define LOOP_DESTROY_WAIT_MS 10000

/*
 * user_data layout: op kind (8 bits) | slot or listener index (24 bits) |
 * generation (32 bits). Kind 0 is never issued and kind 0xff is liburing's
 * internal timeout marker, so both are ignored.
 */
enum loop_op {
    LOOP_OP_NONE = 0,
    LOOP_OP_RECV,
    LOOP_OP_SEND,
    LOOP_OP_CONNECT,
    LOOP_OP_CONNECT_TIMEOUT,
    LOOP_OP_CONN_CANCEL,
    LOOP_OP_ACCEPT,
    LOOP_OP_ACCEPT_CANCEL,
    LOOP_OP_SIGNAL,
    LOOP_OP_WAKEUP,
    LOOP_OP_SYS_CANCEL,
    LOOP_OP_PROBE,
};

static inline uint64_t loop_ud(enum loop_op op, uint32_t idx, uint32_t gen)
{
    return (uint64_t)op << 56 | (uint64_t)(idx & 0xffffffu) << 32 | gen;
}

static inline unsigned loop_ud_op(uint64_t ud)
{
    return (unsigned)(ud >> 56);
}

static inline uint32_t loop_ud_idx(uint64_t ud)
{
    return (uint32_t)(ud >> 32) & 0xffffffu;
}

static inline uint32_t loop_ud_gen(uint64_t ud)
{
    return (uint32_t)ud;
}

/* An output queue chunk; data[] holds cfg.out_chunk_size bytes. */
struct loop_chunk {
    struct loop_chunk *next;
    size_t off; /* bytes already acknowledged by the kernel */
    size_t len; /* bytes written by the owner */
    uint8_t data[];
};

/* The msghdr of one in-flight sendmsg; recycled through a per-loop list. */
struct loop_sendctx {
    struct loop_sendctx *next;
    struct msghdr msg;
    struct iovec iov[LOOP_SEND_IOV_MAX];
};

enum loop_conn_state {
    LOOP_CONN_FREE = 0,
    LOOP_CONN_CONNECTING,
    LOOP_CONN_OPEN,
    LOOP_CONN_DEAD, /* on_close running: every call is a no-op */
};

enum loop_conn_closing {
    LOOP_CLOSING_NO = 0,
    LOOP_CLOSING_FLUSH,    /* sending what is queued, then FIN */
    LOOP_CLOSING_TEARDOWN, /* cancelling, counting, then close */
};

/*
 * A FIFO of objects with submissions to make (connections, listeners),
 * linked through a node they embed. The owner keeps its own "queued" flag,
 * so pushing twice is its concern.
 */
struct loop_work {
    struct loop_work *next;
};

struct loop_workq {
    struct loop_work *head, *tail;
};

static inline void loop_workq_push(struct loop_workq *q, struct loop_work *w)
{
    w->next = NULL;
    if (q->tail != NULL)
        q->tail->next = w;
    else
        q->head = w;
    q->tail = w;
}

/* Puts w back at the head (it was just popped and could not be served). */
static inline void loop_workq_push_front(struct loop_workq *q, struct loop_work *w)
{
    w->next = q->head;
    q->head = w;
    if (q->tail == NULL)
        q->tail = w;
}

static inline struct loop_work *loop_workq_pop(struct loop_workq *q)
{
    struct loop_work *w = q->head;

    if (w != NULL) {
        q->head = w->next;
        if (q->head == NULL)
            q->tail = NULL;
        w->next = NULL;
    }
    return w;
}

#define LOOP_CF_RECV_ARMED (1u << 0)
#define LOOP_CF_RECV_CANCEL (1u << 1) /* pause's cancel submitted */
#define LOOP_CF_SEND_INFLIGHT (1u << 2)
#define LOOP_CF_PAUSED (1u << 3)
#define LOOP_CF_EOF (1u << 4)      /* peer closed; recv not re-armed */
#define LOOP_CF_EOF_HELD (1u << 5) /* EOF not yet given to on_data */
#define LOOP_CF_CANCEL_SENT (1u << 6)
#define LOOP_CF_WANT_DRAIN (1u << 7)
#define LOOP_CF_ON_WORK (1u << 8)
#define LOOP_CF_STARVED (1u << 9)
#define LOOP_CF_CONNECT_SENT (1u << 10)
#define LOOP_CF_CONNECT_TMO (1u << 11) /* connect carries a link timeout */
#define LOOP_CF_RESV_FRESH (1u << 12)  /* reserved chunk not yet queued */
#define LOOP_CF_SHUT_WR (1u << 13)

struct loop_conn {
    struct loop *loop;
    const struct loop_conn_ops *ops;
    void *cookie;
    int fd;
    uint32_t idx;
    uint32_t gen;
    unsigned state;    /* enum loop_conn_state */
    unsigned closing;  /* enum loop_conn_closing */
    unsigned flags;    /* LOOP_CF_* */
    unsigned inflight; /* submitted operations whose last CQE is pending */
    int close_err;
    struct loop_work work; /* on l->work while LOOP_CF_ON_WORK */
    struct loop_conn *starve_next, *starve_prev;
    /* receive buffers held while paused, FIFO linked through buf_next[] */
    uint32_t held_head, held_tail;
    /* output queue */
    struct loop_chunk *out_head, *out_tail, *resv;
    size_t out_bytes, out_limit, resv_n;
    struct loop_sendctx *sctx;
    struct loop_timer linger;
    struct __kernel_timespec connect_ts;
    struct sockaddr_storage peer;
    socklen_t peer_len;
};

#define LOOP_LF_ARMED (1u << 0)
#define LOOP_LF_CLOSING (1u << 1)
#define LOOP_LF_CANCEL_SENT (1u << 2)
#define LOOP_LF_ON_WORK (1u << 3)

struct loop_listener {
    struct loop *loop;
    loop_accept_fn fn;
    void *cookie;
    int fd;
    uint32_t idx;
    unsigned flags;
    unsigned inflight;
    struct loop_timer retry;
    struct loop_work work; /* on l->lwork while LOOP_LF_ON_WORK */
};

/* State of the loop's own reads (signalfd, eventfd). */
#define LOOP_SYS_ARMED (1u << 0)
#define LOOP_SYS_WANTED (1u << 1)
#define LOOP_SYS_CANCEL_SENT (1u << 2)

struct loop {
    struct io_uring ring;
    struct loop_config cfg;
    unsigned ring_flags; /* IORING_SETUP_* the ring was created with */
    uint64_t now_ms;
    int stop;
    int destroying;
    int stalled; /* loop_prepare ran out of SQEs; poll next time */

    /* provided-buffer ring */
    struct io_uring_buf_ring *br;
    size_t br_bytes;
    uint8_t *bufs;
    uint32_t *buf_next; /* held-buffer FIFO links, by buffer id */
    uint32_t *buf_len;
    unsigned bufs_avail; /* buffers the kernel can pick from */
    int br_registered;

    /* connection slots */
    struct loop_conn *conns;
    uint32_t *free_slots;
    uint32_t nfree;
    struct loop_workq work; /* connections with submissions to make */
    struct loop_conn *starved_head, *starved_tail;

    /* listeners, indexed for user_data */
    struct loop_listener **lsn;
    uint32_t lsn_cap;
    unsigned lsn_open;
    struct loop_workq lwork; /* listeners with submissions to make */

    /* recycled output memory */
    struct loop_chunk *chunk_free;
    unsigned nchunk_free;
    struct loop_sendctx *sctx_free;

    /* timers: binary min-heap on (deadline_ms, seq) */
    struct loop_timer **theap;
    size_t tn, tcap;
    uint64_t tseq;

    /* eventfd wakeup, watched by a multishot poll */
    int wake_fd;
    unsigned wake_state;
    void (*wake_fn)(struct loop *l, void *arg);
    void *wake_arg;

    /* signalfd */
    int sig_fd;
    unsigned sig_state;
    struct signalfd_siginfo sig_info;
    void (*sig_fn)(struct loop *l, int signo, void *arg);
    void *sig_arg;

    unsigned sys_inflight;
    struct loop_stats stats;
};

/* ---- core/loop.c */

/* An SQE, submitting the queue first when it is full; NULL if still none. */
struct io_uring_sqe *loop_sqe(struct loop *l);
/* Hands buffer bid back to the kernel's ring. */
void loop_buf_return(struct loop *l, uint16_t bid);
uint8_t *loop_buf_addr(const struct loop *l, uint32_t bid);
/* 0 when sa (len bytes) is a whole IPv4 or IPv6 address; -EINVAL (NULL, too
 * short or too long) or -EAFNOSUPPORT otherwise. */
int loop_addr_check(const struct sockaddr *sa, socklen_t len);
/* A non-blocking, close-on-exec TCP socket of family; fd or -errno. */
int loop_tcp_socket(int family);

/* ---- core/loop_conn.c */

struct loop_conn *loop_conn_alloc(struct loop *l);
/* Queues c for loop_prepare (idempotent). */
void loop_conn_enqueue(struct loop_conn *c);
/* Starts cancel-count-close; err is reported to on_close (first one wins). */
void loop_conn_teardown(struct loop_conn *c, int err);
void loop_conn_cqe(struct loop *l, struct loop_conn *c, unsigned op, int res, unsigned flags);
/* Turns c's state into SQEs; returns -EAGAIN when out of SQEs. */
int loop_conn_work(struct loop_conn *c);
/* Moves starved connections back to the work list while buffers exist. */
void loop_conn_unstarve(struct loop *l);

/* ---- core/loop_outq.c */

struct loop_chunk *loop_outq_chunk_get(struct loop *l);
void loop_outq_chunk_put(struct loop *l, struct loop_chunk *ch);
/* Frees c's queue and reservation (no send may be in flight). */
void loop_outq_clear(struct loop_conn *c);
/* Preps one sendmsg over the queue head; -EAGAIN when out of SQEs. */
int loop_outq_flush(struct loop_conn *c);
void loop_outq_sent(struct loop_conn *c, int res);
void loop_outq_pool_free(struct loop *l);

/* ---- core/loop_listen.c */

void loop_listen_cqe(struct loop *l, struct loop_listener *ls, unsigned op, int res,
                     unsigned flags);
int loop_listen_work(struct loop_listener *ls);

/* ---- core/loop_timer.c */

/* Fires every timer due at l->now_ms that was armed before this call. */
void loop_timer_run(struct loop *l);
/* Milliseconds until the earliest deadline, or -1 without timers. */
int64_t loop_timer_next(const struct loop *l);
/* Disarms every timer and frees the heap. */
void loop_timer_clear(struct loop *l);

#endif
