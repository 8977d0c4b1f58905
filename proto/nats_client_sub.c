/*
 * proto/nats_client_sub.c — subscriptions: the sid table, SUB/UNSUB lines,
 * restoring everything after a reconnect, and message dispatch.
 *
 * The table is a chained hash on the sid. Sids are handed out
 * sequentially, so masking the low bits spreads them evenly and a lookup
 * per message is one or two pointer hops. The table doubles when it is
 * fuller than one entry per bucket; nothing is allocated per message.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/nats_client_internal.h"
#include "proto/nats_encode.h"
#include "proto/nats_hdr.h"

#define SUBS_INITIAL 64

int nats_client_sub_init(struct nats_client *c)
{
    c->subs = calloc(SUBS_INITIAL, sizeof(*c->subs));
    if (c->subs == NULL)
        return -ENOMEM;
    c->subs_mask = SUBS_INITIAL - 1;
    return 0;
}

static struct nats_sub *lookup(const struct nats_client *c, uint64_t sid)
{
    struct nats_sub *s = c->subs[sid & c->subs_mask];
    while (s && s->sid != sid)
        s = s->next;
    return s;
}

static void grow(struct nats_client *c)
{
    size_t n = (c->subs_mask + 1) * 2;
    struct nats_sub **nb = calloc(n, sizeof(*nb));
    if (nb == NULL)
        return; /* stays correct, only slower */
    for (size_t i = 0; i <= c->subs_mask; i++) {
        struct nats_sub *s = c->subs[i];
        while (s) {
            struct nats_sub *next = s->next;
            s->next = nb[s->sid & (n - 1)];
            nb[s->sid & (n - 1)] = s;
            s = next;
        }
    }
    free(c->subs);
    c->subs = nb;
    c->subs_mask = n - 1;
}

static void unlink_sub(struct nats_client *c, struct nats_sub *s)
{
    struct nats_sub **pp = &c->subs[s->sid & c->subs_mask];
    while (*pp && *pp != s)
        pp = &(*pp)->next;
    if (*pp) {
        *pp = s->next;
        c->nsubs--;
    }
    s->next = NULL;
}

/* Removes s from the table; frees it unless its callback is running. */
static void drop(struct nats_client *c, struct nats_sub *s)
{
    unlink_sub(c, s);
    if (c->inbox_sub == s)
        c->inbox_sub = NULL;
    if (c->dispatching == s)
        s->dead = true;
    else
        free(s);
}

static int send_sub(struct nats_client *c, const struct nats_sub *s)
{
    uint8_t line[NATS_ENC_LINE_MAX + NATS_ENC_SMALL_MAX];
    int n = nats_encode_sub(line, NATS_ENC_LINE_MAX, s->subject, s->queue, s->sid);
    if (n < 0)
        return NATS_E_SUBJECT;
    size_t len = (size_t)n;
    if (s->max > s->delivered) {
        /* Restore the remaining auto-unsubscribe budget too. */
        int m = nats_encode_unsub(line + len, NATS_ENC_SMALL_MAX, s->sid, s->max - s->delivered);
        if (m > 0)
            len += (size_t)m;
    }
    struct iovec v = {line, len};
    return nats_client_io_write(c, &v, 1);
}

static int send_unsub(struct nats_client *c, uint64_t sid, uint64_t max)
{
    uint8_t line[NATS_ENC_SMALL_MAX];
    int n = nats_encode_unsub(line, sizeof(line), sid, max);
    if (n < 0)
        return -EINVAL;
    struct iovec v = {line, (size_t)n};
    return nats_client_io_write(c, &v, 1);
}

int nats_client_sub_add(struct nats_client *c, struct span subject, struct span queue,
                        nats_client_msg_fn fn, void *cookie, bool internal, struct nats_sub **out)
{
    uint8_t probe[NATS_ENC_LINE_MAX];
    /* Validate (and check the line fits) before anything changes. */
    if (nats_encode_sub(probe, sizeof(probe), subject, queue, c->next_sid) < 0)
        return NATS_E_SUBJECT;
    struct nats_sub *s = calloc(1, sizeof(*s) + subject.n + queue.n);
    if (s == NULL)
        return -ENOMEM;
    uint8_t *mem = (uint8_t *)(s + 1);
    memcpy(mem, subject.p, subject.n);
    if (queue.n)
        memcpy(mem + subject.n, queue.p, queue.n);
    s->subject = span_make(mem, subject.n);
    s->queue = span_make(queue.n ? mem + subject.n : NULL, queue.n);
    s->c = c;
    s->sid = c->next_sid++;
    s->fn = fn;
    s->cookie = cookie;
    s->internal = internal;
    if (c->nsubs > c->subs_mask)
        grow(c);
    s->next = c->subs[s->sid & c->subs_mask];
    c->subs[s->sid & c->subs_mask] = s;
    c->nsubs++;
    /* Not connected: the SUB goes out with all others on connect. */
    if (c->phase == NATS_PH_UP)
        send_sub(c, s);
    if (out)
        *out = s;
    return 0;
}

int nats_client_subscribe(struct nats_client *c, struct span subject, struct span queue,
                          nats_client_msg_fn fn, void *cookie, struct nats_sub **out)
{
    if (c->close_requested || c->state == NATS_CLIENT_CLOSED || c->state == NATS_CLIENT_DRAINING)
        return NATS_E_CLOSED;
    if (fn == NULL)
        return -EINVAL;
    return nats_client_sub_add(c, subject, queue, fn, cookie, false, out);
}

int nats_client_unsubscribe(struct nats_client *c, struct nats_sub *s, uint64_t max)
{
    if (s->dead)
        return 0;
    if (max > 0 && max > s->delivered) {
        s->max = max;
        if (c->phase == NATS_PH_UP)
            send_unsub(c, s->sid, max);
        return 0;
    }
    if (c->phase == NATS_PH_UP)
        send_unsub(c, s->sid, 0);
    drop(c, s);
    return 0;
}

uint64_t nats_client_sub_sid(const struct nats_sub *s)
{
    return s->sid;
}

int nats_client_sub_resend_all(struct nats_client *c)
{
    for (size_t i = 0; i <= c->subs_mask; i++) {
        for (struct nats_sub *s = c->subs[i]; s; s = s->next) {
            int rc = send_sub(c, s);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

void nats_client_sub_drain_all(struct nats_client *c)
{
    for (size_t i = 0; i <= c->subs_mask && c->phase == NATS_PH_UP; i++)
        for (struct nats_sub *s = c->subs[i]; s; s = s->next)
            if (!s->internal && send_unsub(c, s->sid, 0) < 0)
                return;
}

void nats_client_sub_remove_all(struct nats_client *c, bool user_only)
{
    for (size_t i = 0; i <= c->subs_mask; i++) {
        struct nats_sub *s = c->subs[i];
        while (s) {
            struct nats_sub *next = s->next;
            if (!user_only || !s->internal)
                drop(c, s);
            s = next;
        }
    }
}

void nats_client_sub_free_all(struct nats_client *c)
{
    if (c->subs == NULL)
        return;
    c->dispatching = NULL;
    nats_client_sub_remove_all(c, false);
    free(c->subs);
    c->subs = NULL;
}

int nats_client_sub_dispatch(struct nats_client *c, const struct nats_msg *m)
{
    struct nats_sub *s = lookup(c, m->sid);
    c->stats.msgs_in++;
    c->stats.bytes_in += m->hdr.n + m->payload.n;
    if (s == NULL || s->dead || (s->max && s->delivered >= s->max))
        return 0; /* unsubscribed while the message was on its way */
    s->delivered++;
    c->dispatching = s;
    s->fn(c, s, m, s->cookie);
    c->dispatching = NULL;
    if (s->dead)
        free(s);
    else if (s->max && s->delivered >= s->max)
        drop(c, s); /* the server forgot it at the same count */
    return 0;
}
