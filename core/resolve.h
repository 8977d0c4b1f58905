/*
 * core/resolve.h — host names to addresses without blocking the loop.
 *
 * getaddrinfo(3) blocks, so resolve_start runs it on a short-lived detached
 * helper thread and hands the answers back on the loop thread.
 *
 * How the answer reaches the loop thread: the owner's loop polls the job
 * with a timer (first at once, then after 1, 2, 4, ... ms, capped at
 * RESOLVE_POLL_MAX_MS) and reads a release/acquire "done" flag; fn then runs
 * from that timer. The helper thread never touches the loop or the owner,
 * only the job, which is reference-counted between the two sides: the
 * owner may cancel (or destroy its loop) while the thread is still inside
 * getaddrinfo, and whichever side lets go last frees the job. That is why
 * this does not use loop_wakeup: a thread that outlives its loop must not
 * write to that loop's eventfd.
 *
 * Memory: one allocation per resolve_start (the job), none on the loop's
 * hot paths. Not for per-request use.
 */
#ifndef H8S_CORE_RESOLVE_H
#define H8S_CORE_RESOLVE_H

#include <stddef.h>
#include <sys/socket.h>

#include "core/loop.h"

#define RESOLVE_HOST_MAX 256   /* host name bytes, NUL included */
#define RESOLVE_PORT_MAX 8     /* decimal port, NUL included */
#define RESOLVE_ADDRS_MAX 8    /* addresses kept per name, in getaddrinfo order */
#define RESOLVE_NAMES_MAX 1024 /* names per resolve_start */
#define RESOLVE_POLL_MAX_MS 50

/* A name to resolve; the strings are copied by resolve_start. */
struct resolve_query {
    const char *host; /* name or literal, shorter than RESOLVE_HOST_MAX */
    const char *port; /* decimal, shorter than RESOLVE_PORT_MAX */
    size_t tag;       /* the owner's, carried through untouched */
};

/* One name and its answer. */
struct resolve_name {
    char host[RESOLVE_HOST_MAX]; /* in: name or literal */
    char port[RESOLVE_PORT_MAX]; /* in: decimal port */
    size_t tag;                  /* in: the owner's, carried through untouched */
    int gai;                     /* out: 0 or getaddrinfo's EAI_* code */
    size_t n;                    /* out: addresses (0..RESOLVE_ADDRS_MAX) */
    struct sockaddr_storage addrs[RESOLVE_ADDRS_MAX];
    socklen_t lens[RESOLVE_ADDRS_MAX];
};

struct resolve;

/*
 * Called on the loop thread with the answers, in the order they were given
 * (names[0..n) is the job's copy: valid only during the call). Not called
 * after resolve_cancel. r is idle again when fn runs, so fn may call
 * resolve_start on it.
 */
typedef void (*resolve_fn)(struct resolve *r, const struct resolve_name *names, size_t n);

struct resolve_job; /* shared with the helper thread; see resolve.c */

/* Embed in the owner; recover it in fn with LOOP_CONTAINER_OF. */
struct resolve {
    struct loop *l;
    resolve_fn fn;
    struct resolve_job *job; /* NULL when idle */
    struct loop_timer t;
    unsigned polls;
};

/* Prepares r for loop l (no allocation). fn is required. */
void resolve_init(struct resolve *r, struct loop *l, resolve_fn fn);

/*
 * Fills one name's answer on the calling thread, blocking (for start-up,
 * before the loop runs). Keeps up to RESOLVE_ADDRS_MAX addresses. Returns
 * q->gai: 0, or an EAI_* code (gai_strerror names it); on 0, q->n may still
 * be 0 when no address fitted.
 */
int resolve_name_now(struct resolve_name *q);

/*
 * Starts resolving q[0..n) (copied; the caller's array and strings may go
 * at once) on a helper thread; fn follows on the loop thread with one
 * struct resolve_name per query, in order. Returns 0, -EBUSY when a job is
 * already running on r, -EINVAL when n is 0 or over RESOLVE_NAMES_MAX,
 * -ENAMETOOLONG when a host or port does not fit, -ENOMEM, or -errno from
 * pthread_create (on any error fn will not be called).
 */
int resolve_start(struct resolve *r, const struct resolve_query *q, size_t n);

/* 1 while a job started on r has not been delivered or cancelled. */
static inline int resolve_busy(const struct resolve *r)
{
    return r->job != NULL;
}

/*
 * Abandons the running job, if any: fn will not be called. The helper
 * thread finishes on its own and frees the job. Safe on an idle (or
 * zero-initialised) r.
 */
void resolve_cancel(struct resolve *r);

#endif
