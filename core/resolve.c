/*
 * core/resolve.c — see resolve.h.
 */
#include "core/resolve.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct resolve_job {
    atomic_int refs; /* the owner's and the thread's */
    atomic_int done;
    size_t n;
    struct resolve_name names[];
};

static void job_unref(struct resolve_job *j)
{
    if (atomic_fetch_sub(&j->refs, 1) == 1)
        free(j);
}

int resolve_name_now(struct resolve_name *q)
{
    struct addrinfo hints;
    struct addrinfo *res = NULL;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    q->n = 0;
    q->gai = getaddrinfo(q->host, q->port, &hints, &res);
    for (struct addrinfo *a = res; a && q->n < RESOLVE_ADDRS_MAX; a = a->ai_next) {
        if (a->ai_addrlen > sizeof(q->addrs[0]))
            continue;
        memcpy(&q->addrs[q->n], a->ai_addr, a->ai_addrlen);
        q->lens[q->n++] = a->ai_addrlen;
    }
    if (res)
        freeaddrinfo(res);
    return q->gai;
}

static void *resolve_thread(void *arg)
{
    struct resolve_job *j = arg;
    for (size_t i = 0; i < j->n; i++)
        resolve_name_now(&j->names[i]);
    atomic_store_explicit(&j->done, 1, memory_order_release);
    job_unref(j);
    return NULL;
}

static void resolve_poll(struct loop *l, struct loop_timer *t)
{
    struct resolve *r = LOOP_CONTAINER_OF(t, struct resolve, t);
    struct resolve_job *j = r->job;
    if (j == NULL)
        return;
    if (!atomic_load_explicit(&j->done, memory_order_acquire)) {
        unsigned ms = 1u << (r->polls < 6 ? r->polls : 6);
        r->polls++;
        loop_timer_start(l, t, ms < RESOLVE_POLL_MAX_MS ? ms : RESOLVE_POLL_MAX_MS);
        return;
    }
    r->job = NULL;
    r->fn(r, j->names, j->n);
    job_unref(j);
}

void resolve_init(struct resolve *r, struct loop *l, resolve_fn fn)
{
    memset(r, 0, sizeof(*r));
    r->l = l;
    r->fn = fn;
    loop_timer_init(&r->t, resolve_poll);
}

/* Copies a NUL-terminated string into out[cap]; -ENAMETOOLONG when it does not fit. */
static int copy_str(char *out, size_t cap, const char *s)
{
    size_t n = strnlen(s, cap);
    if (n == cap)
        return -ENAMETOOLONG;
    memcpy(out, s, n + 1);
    return 0;
}

int resolve_start(struct resolve *r, const struct resolve_query *q, size_t n)
{
    if (r->job)
        return -EBUSY;
    if (n == 0 || n > RESOLVE_NAMES_MAX)
        return -EINVAL;
    struct resolve_job *j = calloc(1, sizeof(*j) + n * sizeof(j->names[0]));
    if (j == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        struct resolve_name *e = &j->names[i];
        if (copy_str(e->host, sizeof(e->host), q[i].host) < 0 ||
            copy_str(e->port, sizeof(e->port), q[i].port) < 0) {
            free(j);
            return -ENAMETOOLONG;
        }
        e->tag = q[i].tag;
    }
    j->n = n;
    atomic_init(&j->refs, 2);
    atomic_init(&j->done, 0);

    pthread_attr_t attr;
    pthread_t tid;
    int rc = pthread_attr_init(&attr);
    if (rc == 0) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        rc = pthread_create(&tid, &attr, resolve_thread, j);
        pthread_attr_destroy(&attr);
    }
    if (rc != 0) {
        free(j);
        return -rc;
    }
    r->job = j;
    r->polls = 0;
    int trc = loop_timer_start(r->l, &r->t, 0);
    if (trc < 0) {
        /* The thread runs on; it frees the job once we let go. */
        resolve_cancel(r);
        return trc;
    }
    return 0;
}

void resolve_cancel(struct resolve *r)
{
    if (r->job == NULL)
        return;
    loop_timer_stop(r->l, &r->t);
    job_unref(r->job);
    r->job = NULL;
}
