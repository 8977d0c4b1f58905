/*
 * agent/ag_backend.c — connections to the apps, with a bounded keep-alive
 * pool per backend.
 *
 * A connection belongs to at most one exchange at a time (HTTP/1.1, no
 * pipelining towards the app: a slow response never holds up another
 * exchange). When an exchange ends cleanly the connection goes back to its
 * backend's idle list (most recently used first, so the list's tail ages
 * out) and is closed after AG_IDLE_CONN_MS unused, when the app closes it,
 * or when the list is full. Connection structs are allocated per
 * connection, not per request.
 */
#include "agent/ag_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

static void idle_unlink(struct ag_bconn *bc)
{
    struct ag_backend *be = bc->be;
    for (struct ag_bconn **pp = &be->idle; *pp; pp = &(*pp)->next) {
        if (*pp == bc) {
            *pp = bc->next;
            bc->next = NULL;
            be->nidle--;
            return;
        }
    }
}

static void bconn_close(struct ag_bconn *bc)
{
    if (bc->closing)
        return;
    bc->closing = true;
    loop_timer_stop(bc->be->ag->loop, &bc->t_idle);
    /* Abort, not flush: either nothing is queued (clean end of a
     * non-reusable exchange) or the exchange was abandoned and the app
     * must see the connection go at once. */
    loop_conn_close(bc->c, LOOP_CLOSE_ABORT, 0);
}

static void idle_expired(struct loop *l, struct loop_timer *t)
{
    struct ag_bconn *bc = LOOP_CONTAINER_OF(t, struct ag_bconn, t_idle);
    (void)l;
    idle_unlink(bc);
    bconn_close(bc);
}

static int bconn_data(struct loop_conn *c, const uint8_t *p, size_t n)
{
    struct ag_bconn *bc = loop_conn_cookie(c);
    if (bc->x) {
        ag_xchg_backend_data(bc->x, p, n);
        return 0;
    }
    if (!bc->closing) {
        /* An idle connection spoke or closed: it cannot be reused. */
        idle_unlink(bc);
        bconn_close(bc);
    }
    return 0;
}

static void bconn_connect(struct loop_conn *c, int res)
{
    struct ag_bconn *bc = loop_conn_cookie(c);
    if (res == 0)
        bc->connected = true;
}

static void bconn_drain(struct loop_conn *c)
{
    struct ag_bconn *bc = loop_conn_cookie(c);
    if (bc->x)
        ag_xchg_backend_drain(bc->x);
}

static void bconn_closed(struct loop_conn *c, int err)
{
    struct ag_bconn *bc = loop_conn_cookie(c);
    struct ag_backend *be = bc->be;
    struct ag_xchg *x = bc->x;
    if (!bc->closing)
        idle_unlink(bc);
    loop_timer_stop(be->ag->loop, &bc->t_idle);
    be->nconns--;
    bc->x = NULL;
    if (x) {
        x->bc = NULL;
        if (err == 0)
            err = -ECONNRESET; /* the app went away under an exchange */
        ag_xchg_backend_closed(x, err);
    }
    free(bc);
}

static const struct loop_conn_ops bconn_ops = {
    .on_data = bconn_data,
    .on_connect = bconn_connect,
    .on_drain = bconn_drain,
    .on_close = bconn_closed,
};

struct ag_bconn *ag_backend_acquire(struct ag_backend *be, struct ag_xchg *x, bool fresh, int *err)
{
    struct agent *ag = be->ag;
    struct ag_bconn *bc = fresh ? NULL : be->idle;
    if (bc) {
        be->idle = bc->next;
        be->nidle--;
        bc->next = NULL;
        loop_timer_stop(ag->loop, &bc->t_idle);
        bc->x = x;
        bc->uses++;
        bc->extra = false;
        ag->st.backend_reuses++;
        return bc;
    }
    if (be->addrlen == 0) {
        *err = -EHOSTUNREACH;
        return NULL;
    }
    bc = malloc(sizeof(*bc));
    if (!bc) {
        *err = -ENOMEM;
        return NULL;
    }
    memset(bc, 0, offsetof(struct ag_bconn, head));
    bc->be = be;
    bc->x = x;
    bc->uses = 1;
    loop_timer_init(&bc->t_idle, idle_expired);
    const struct http_resp_config rc = {AG_RESP_HEAD_MAX, HTTP_RESP_DEFAULT_MAX_FIELDS};
    if (http_resp_init(&bc->rp, &rc, bc->head, sizeof(bc->head), &ag_stream_resp_ops, bc) != 0) {
        free(bc);
        *err = -EINVAL;
        return NULL;
    }
    int r = loop_connect(ag->loop, (const struct sockaddr *)&be->addr, be->addrlen,
                         ag->backend_timeout_ms, &bconn_ops, bc, &bc->c);
    if (r < 0) {
        free(bc);
        *err = r;
        return NULL;
    }
    be->nconns++;
    ag->st.backend_connects++;
    return bc;
}

void ag_backend_release(struct ag_bconn *bc, bool reusable)
{
    struct ag_backend *be = bc->be;
    struct agent *ag = be->ag;
    bc->x = NULL;
    if (bc->closing)
        return;
    if (reusable && bc->connected && !bc->extra && !ag->draining &&
        be->nidle < (unsigned)ag->cfg->max_idle) {
        loop_conn_set_out_limit(bc->c, 0);
        loop_conn_resume(bc->c);
        bc->next = be->idle;
        be->idle = bc;
        be->nidle++;
        loop_timer_start(ag->loop, &bc->t_idle, AG_IDLE_CONN_MS);
        return;
    }
    bconn_close(bc);
}

void ag_backend_close_idle(struct ag_backend *be)
{
    while (be->idle) {
        struct ag_bconn *bc = be->idle;
        be->idle = bc->next;
        be->nidle--;
        bc->next = NULL;
        bconn_close(bc);
    }
}

void ag_backend_set_addr(struct ag_backend *be, const struct sockaddr *sa, socklen_t len)
{
    if (len > sizeof(be->addr))
        return;
    memcpy(&be->addr, sa, len);
    be->addrlen = len;
}
