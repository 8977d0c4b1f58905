/*
 * core/loop.h — the io_uring completion loop every h8s thread runs.
 *
 * One struct loop per thread, one io_uring ring per loop, no locks, no
 * globals: two loops can live in one process (tests do this). Everything that
 * touches a socket lives here; codecs in proto/ only see bytes.
 *
 * Model
 *   - Connections are slots in a table the loop owns (capacity fixed at
 *     loop_create). Every submission carries (kind, slot, generation) in its
 *     user_data, so a completion that arrives after a slot was reused is
 *     recognised and dropped; it can never reach the new owner.
 *   - Receives are multishot recv into a provided-buffer ring: an idle
 *     connection holds no receive buffer. on_data sees a span inside a
 *     ring buffer, valid only until on_data returns.
 *   - Sends go through a bounded per-connection output queue made of chunks
 *     recycled from a per-loop pool (no malloc per write). Writes made while
 *     handling a batch of completions are flushed together once per loop
 *     iteration: one sendmsg per connection per batch, at most one send in
 *     flight per connection, partial sends resumed without losing a byte.
 *   - Timers are intrusive (embedded in the caller's struct), kept in a
 *     binary heap, and drive one wait timeout per iteration: tens of
 *     thousands of deadlines cost no kernel operation each.
 *   - Teardown: loop_conn_close() cancels every pending operation of the
 *     connection, waits for all of their completions, then closes the fd
 *     and calls on_close exactly once. The slot is reused only after that.
 *
 * Error convention: functions return 0 or a negative errno, like cqe->res.
 */
#ifndef H8S_CORE_LOOP_H
#define H8S_CORE_LOOP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

struct loop;
struct loop_conn;
struct loop_listener;

/* ------------------------------------------------------------------ loop */

struct loop_config {
    unsigned max_conns;      /* connection slots; default 4096 */
    unsigned ring_entries;   /* SQ size; default 1024 */
    unsigned recv_buf_size;  /* bytes per provided buffer; default 16384 */
    unsigned recv_buf_count; /* provided buffers (power of two); default 1024 */
    size_t out_chunk_size;   /* output queue chunk size; default 16384 */
    size_t out_limit;        /* default per-connection output limit; default 1 MiB */
};

/* Fills *cfg with the defaults above. A zero field given to loop_create
 * also means "the default". */
void loop_config_defaults(struct loop_config *cfg);

/*
 * Creates a loop: sets up the ring, registers the provided-buffer ring and
 * checks that every io_uring feature used is present (ring set-up allowed by
 * kernel.io_uring_disabled, opcodes, multishot accept/recv, buffer rings).
 * On failure returns -errno and writes one human-readable line naming what
 * is missing into err (errlen bytes, always NUL-terminated); *out is NULL.
 * cfg may be NULL for defaults.
 *
 * A loop belongs to the thread that creates it (the ring is set up
 * single-issuer where the kernel allows): create, run and destroy it on
 * that thread; only loop_wakeup may be called from others.
 */
int loop_create(struct loop **out, const struct loop_config *cfg, char *err, size_t errlen);

/*
 * Frees the loop. Every connection still open is aborted (on_close called
 * with -ECANCELED) and every listener closed first. Timers still armed are
 * disarmed without firing (their memory must still be valid here).
 * loop_destroy(NULL) is a no-op. Must not be called from inside a callback
 * of the same loop.
 */
void loop_destroy(struct loop *l);

/*
 * Runs completions, timers and flushes until loop_stop() is called.
 * Returns 0 after loop_stop(), or -errno on a fatal ring error.
 */
int loop_run(struct loop *l);

/* Makes loop_run return after the current iteration. Loop thread only. */
void loop_stop(struct loop *l);

/*
 * Runs at most one iteration: submits pending work, waits up to timeout_ms
 * (0 = poll, -1 = until something completes or the next timer is due),
 * dispatches completions, expired timers and flushes. For tests that drive a
 * loop step by step. Returns the number of completions handled or -errno.
 */
int loop_run_once(struct loop *l, int timeout_ms);

/* Monotonic time in milliseconds, cached once per iteration. */
uint64_t loop_now_ms(const struct loop *l);

/*
 * Thread-safe: wakes the loop from another thread; fn(l, arg) then runs on
 * the loop's own thread (coalesced: several wakes before the loop runs call
 * fn once). Set with loop_set_wakeup before loop_run. Used by worker
 * threads to tell each other to drain.
 */
void loop_set_wakeup(struct loop *l, void (*fn)(struct loop *l, void *arg), void *arg);
int loop_wakeup(struct loop *l);

/*
 * Signals: blocks SIGTERM, SIGINT and SIGHUP in the calling thread, ignores
 * SIGPIPE, and reads them from a signalfd on this loop. fn is called on the
 * loop thread with the signal number: SIGTERM/SIGINT mean "begin a graceful
 * drain", SIGHUP means "reload". Call once, on the thread that owns
 * signals, before starting other threads (so they inherit the mask).
 */
int loop_handle_signals(struct loop *l, void (*fn)(struct loop *l, int signo, void *arg),
                        void *arg);

/* ---------------------------------------------------------------- timers */

struct loop_timer;
typedef void (*loop_timer_fn)(struct loop *l, struct loop_timer *t);

/* The struct that embeds member, from a pointer to that member. */
#define LOOP_CONTAINER_OF(ptr, type, member)                                                       \
    ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/*
 * Embed in your own struct and recover it with LOOP_CONTAINER_OF in fn.
 * Zero-initialise (or loop_timer_init) before first use.
 */
struct loop_timer {
    uint64_t deadline_ms;
    uint64_t seq;     /* ties broken in start order */
    size_t heap_idx;  /* 0 = not armed; otherwise position + 1 */
    loop_timer_fn fn;
};

void loop_timer_init(struct loop_timer *t, loop_timer_fn fn);

/*
 * Arms (or re-arms) t to fire once after ms milliseconds, counted from
 * loop_now_ms(). Timers due at the same millisecond fire in the order they
 * were armed. A timer armed from a timer callback fires in a later
 * iteration at the earliest. Returns 0 or -ENOMEM.
 */
int loop_timer_start(struct loop *l, struct loop_timer *t, uint64_t ms);

/* Disarms t; its fn will not be called. No-op when not armed. */
void loop_timer_stop(struct loop *l, struct loop_timer *t);

static inline int loop_timer_armed(const struct loop_timer *t)
{
    return t->heap_idx != 0;
}

/* ----------------------------------------------------------- connections */

struct loop_conn_ops {
    /*
     * Bytes arrived. The span is inside a provided buffer that goes back to
     * the kernel when this returns: consume it or copy what you keep.
     * n == 0 (p == NULL) means the peer closed its side (EOF); receiving has
     * stopped and the owner decides when to close. Return 0 to continue or
     * a negative errno to abort the connection (on_close follows).
     */
    int (*on_data)(struct loop_conn *c, const uint8_t *p, size_t n);

    /* An outbound connect finished: res is 0 or -errno (-ETIMEDOUT when the
     * connect timeout expired). On failure on_close follows. Not called
     * when the owner closed the connection first. Optional. */
    void (*on_connect)(struct loop_conn *c, int res);

    /* The output queue dropped to or below half of the connection's output
     * limit after having been above it. Optional; for flow control. */
    void (*on_drain)(struct loop_conn *c);

    /*
     * The connection is gone: err is 0 after a clean loop_conn_close, or
     * -errno (peer reset, send failure, -ECANCELED at loop_destroy, ...).
     * Called exactly once, after every operation of the connection has
     * completed; the pointer is invalid once it returns.
     */
    void (*on_close)(struct loop_conn *c, int err);
};

/* Attaches the owner's callbacks and cookie. Call from on_accept before it
 * returns, or pass them to loop_connect. */
void loop_conn_set(struct loop_conn *c, const struct loop_conn_ops *ops, void *cookie);
void *loop_conn_cookie(const struct loop_conn *c);
struct loop *loop_conn_loop(const struct loop_conn *c);
int loop_conn_fd(const struct loop_conn *c);

/* Peer address as seen at accept/connect time. */
const struct sockaddr *loop_conn_peer(const struct loop_conn *c, socklen_t *len);

/*
 * Starts a non-blocking TCP connect to sa with a timeout (0 = none). The
 * connection exists at once (you may queue writes; they go out after the
 * connect succeeds); ops->on_connect reports the outcome. Returns the
 * connection in *out, or -errno (-EMFILE when no slot is free).
 */
int loop_connect(struct loop *l, const struct sockaddr *sa, socklen_t len, unsigned timeout_ms,
                 const struct loop_conn_ops *ops, void *cookie, struct loop_conn **out);

/*
 * Queues n bytes for sending (copied into the output queue). Returns 0, or
 * -ENOBUFS when the queue would exceed the connection's output limit (then
 * nothing is queued and on_drain follows once the queue is at or below
 * half the limit; a single write larger than the limit always fails), or
 * -EPIPE when the connection is closing, or -ENOMEM.
 */
int loop_conn_write(struct loop_conn *c, const void *p, size_t n);
int loop_conn_writev(struct loop_conn *c, const struct iovec *iov, int iovcnt);

/*
 * Zero-copy encoding into the queue: returns a pointer to at least n
 * contiguous writable bytes at the queue's tail (n <= out_chunk_size), or
 * NULL when that would exceed the limit (on_drain will follow, as for
 * -ENOBUFS), the connection is closing, or memory ran out.
 * Nothing is queued until loop_conn_commit(c, used) with used <= n, which
 * MUST come before any other write on c and before the current callback
 * returns. A new reserve without commit forgets the previous one.
 */
uint8_t *loop_conn_reserve(struct loop_conn *c, size_t n);
void loop_conn_commit(struct loop_conn *c, size_t used);

/* Bytes queued and not yet acknowledged by the kernel. */
size_t loop_conn_pending(const struct loop_conn *c);

/* Sets this connection's output limit (bytes); 0 restores the default. */
void loop_conn_set_out_limit(struct loop_conn *c, size_t limit);

/*
 * Back-pressure on input: pause stops receiving (the multishot recv is
 * cancelled; data waits in the kernel socket buffer), resume re-arms it.
 * No on_data call is made while paused: data the kernel had already
 * handed over (and an EOF) is held, in order, and delivered after resume.
 * Idempotent.
 */
void loop_conn_pause(struct loop_conn *c);
void loop_conn_resume(struct loop_conn *c);

#define LOOP_CLOSE_ABORT 0 /* drop queued output, close now */
#define LOOP_CLOSE_FLUSH 1 /* send what is queued first (bounded by linger_ms) */

/*
 * Closes the connection. With LOOP_CLOSE_FLUSH queued output is sent first,
 * then a FIN, then input is read and dropped until the peer's FIN (so the
 * final close cannot reset data the peer has not read yet); all of it for
 * no longer than linger_ms (0 = no bound). Further writes fail with
 * -EPIPE and no more on_data calls are made. on_close(c, 0) follows once
 * all operations have completed, or on_close(c, -ETIMEDOUT) when linger_ms
 * expired before the queue was flushed. LOOP_CLOSE_ABORT after FLUSH cuts
 * the flush short. Idempotent; safe from any callback of c.
 */
void loop_conn_close(struct loop_conn *c, int how, unsigned linger_ms);

/* ------------------------------------------------------------- listeners */

#define LOOP_LISTEN_REUSEPORT 1u /* SO_REUSEPORT: several loops, one port */

/*
 * Called for every accepted connection. Attach ops with loop_conn_set
 * before returning; a connection left without ops is closed. err is
 * non-zero (and c NULL) when accepting failed, e.g. -EMFILE with every
 * slot in use: the loop keeps listening.
 */
typedef void (*loop_accept_fn)(struct loop_listener *ls, struct loop_conn *c, int err);

/*
 * Binds and listens on sa (TCP, IPv4 or IPv6) with multishot accept.
 * Returns 0 and the listener in *out, or -errno.
 */
int loop_listen(struct loop *l, const struct sockaddr *sa, socklen_t len, unsigned flags,
                loop_accept_fn fn, void *cookie, struct loop_listener **out);

void *loop_listener_cookie(const struct loop_listener *ls);

/* The bound address (useful after binding port 0). */
int loop_listener_addr(const struct loop_listener *ls, struct sockaddr_storage *ss,
                       socklen_t *len);

/* Stops accepting and closes the listening socket; connections it accepted
 * are unaffected. The listener is freed once its accept op has completed. */
void loop_listener_close(struct loop_listener *ls);

/* Counters, for logs and benchmarks. */
struct loop_stats {
    uint64_t iterations, completions, submits;
    uint64_t accepts, connects, closes;
    uint64_t bytes_in, bytes_out, sends;
    uint64_t recv_nobufs; /* multishot recv stopped by an empty buffer ring */
    uint64_t stale;       /* completions dropped for a stale slot generation */
    unsigned conns_open;
};
void loop_get_stats(const struct loop *l, struct loop_stats *st);

#endif
