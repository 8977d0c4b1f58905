/*
 * proto/nats_client_req.c — request/reply over one wildcard inbox.
 *
 * The first request subscribes to "_INBOX.<random id>.*" and every request
 * then uses "_INBOX.<id>.<token>" as its reply subject, so a request costs
 * one PUB and no SUB/UNSUB. A token is the request's slot index in hex
 * followed by NATS_CLIENT_TOKEN_RND random characters from getrandom:
 * lookup is an index, and a stale or forged reply never matches because
 * the random part changes with every request.
 *
 * Slots live in fixed-size chunks that never move (their deadline timers
 * are linked into the loop's timer heap), allocated as the number of
 * requests in flight grows, up to max_requests.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/nats_client_internal.h"
#include "proto/nats_hdr.h"

static struct nats_req *slot(const struct nats_client *c, uint32_t idx)
{
    return &c->req_chunks[idx / NATS_CLIENT_REQ_CHUNK][idx % NATS_CLIENT_REQ_CHUNK];
}

static void release(struct nats_client *c, struct nats_req *r)
{
    loop_timer_stop(c->loop, &r->timer);
    r->active = false;
    r->fn = NULL;
    r->next_free = c->req_free;
    c->req_free = r->idx;
    c->req_active--;
}

/* Completes r: frees the slot first, so the callback may issue requests. */
static void complete(struct nats_client *c, struct nats_req *r, int err, const struct nats_msg *m)
{
    nats_client_reply_fn fn = r->fn;
    void *cookie = r->cookie;
    release(c, r);
    fn(c, err, m, cookie);
    nats_client_req_done_hook(c);
}

static void on_timeout(struct loop *l, struct loop_timer *t)
{
    struct nats_req *r = LOOP_CONTAINER_OF(t, struct nats_req, timer);
    (void)l;
    complete(r->c, r, NATS_E_TIMEOUT, NULL);
}

static int hex_digit(uint8_t ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

static void on_reply(struct nats_client *c, struct nats_sub *sub, const struct nats_msg *m,
                     void *cookie)
{
    (void)sub;
    (void)cookie;
    size_t plen = strlen(c->inbox);
    if (m->subject.n != plen + NATS_CLIENT_TOKEN_LEN)
        return;
    const uint8_t *tok = m->subject.p + plen;
    uint32_t idx = 0;
    for (int i = 0; i < 8; i++) {
        int d = hex_digit(tok[i]);
        if (d < 0)
            return;
        idx = idx << 4 | (uint32_t)d;
    }
    if (idx >= c->req_nchunks * NATS_CLIENT_REQ_CHUNK)
        return;
    struct nats_req *r = slot(c, idx);
    if (!r->active || memcmp(r->rnd, tok + 8, NATS_CLIENT_TOKEN_RND) != 0)
        return; /* late reply to a request that already completed */
    struct nats_hdr h;
    if (m->hdr.n && m->payload.n == 0 && nats_hdr_parse(&h, m->hdr) == 0 &&
        h.status == NATS_HDR_STATUS_NO_RESPONDERS) {
        complete(c, r, NATS_E_NO_RESPONDERS, NULL);
        return;
    }
    complete(c, r, 0, m);
}

static int ensure_inbox(struct nats_client *c)
{
    if (c->inbox_sub)
        return 0;
    if (c->inbox[0] == '\0') {
        char id[RAND_ID_LEN + 1];
        int rc = rand_id(&c->rnd, id, RAND_ID_LEN);
        if (rc < 0)
            return rc;
        snprintf(c->inbox, sizeof(c->inbox), "_INBOX.%s.", id);
    }
    char subj[NATS_CLIENT_INBOX_MAX + 1];
    snprintf(subj, sizeof(subj), "%s*", c->inbox);
    return nats_client_sub_add(c, span_cstr(subj), span_make(NULL, 0), on_reply, NULL, true,
                               &c->inbox_sub);
}

static int alloc_slot(struct nats_client *c, struct nats_req **out)
{
    if (c->req_free == UINT32_MAX) {
        size_t have = c->req_nchunks * NATS_CLIENT_REQ_CHUNK;
        if (have >= c->cfg.max_requests || have >= UINT32_MAX - NATS_CLIENT_REQ_CHUNK)
            return NATS_E_LIMIT;
        struct nats_req **chunks = realloc(c->req_chunks, (c->req_nchunks + 1) * sizeof(*chunks));
        if (chunks == NULL)
            return -ENOMEM;
        c->req_chunks = chunks;
        struct nats_req *ch = calloc(NATS_CLIENT_REQ_CHUNK, sizeof(*ch));
        if (ch == NULL)
            return -ENOMEM;
        chunks[c->req_nchunks++] = ch;
        for (size_t i = NATS_CLIENT_REQ_CHUNK; i-- > 0;) {
            ch[i].c = c;
            ch[i].idx = (uint32_t)(have + i);
            loop_timer_init(&ch[i].timer, on_timeout);
            ch[i].next_free = c->req_free;
            c->req_free = ch[i].idx;
        }
    }
    struct nats_req *r = slot(c, c->req_free);
    c->req_free = r->next_free;
    c->req_active++;
    *out = r;
    return 0;
}

int nats_client_request(struct nats_client *c, struct span subject, struct span hdr,
                        struct span payload, unsigned timeout_ms, nats_client_reply_fn fn,
                        void *cookie, uint64_t *id)
{
    if (c->close_requested || c->state == NATS_CLIENT_CLOSED || c->state == NATS_CLIENT_DRAINING)
        return NATS_E_CLOSED;
    if (timeout_ms == 0 || fn == NULL)
        return -EINVAL;
    int rc = ensure_inbox(c);
    if (rc != 0)
        return rc;
    struct nats_req *r;
    if ((rc = alloc_slot(c, &r)) != 0)
        return rc;
    if ((rc = rand_id(&c->rnd, r->rnd, NATS_CLIENT_TOKEN_RND)) != 0) {
        r->fn = NULL;
        release(c, r);
        return rc;
    }
    char reply[NATS_CLIENT_INBOX_MAX + NATS_CLIENT_TOKEN_LEN + 1];
    int n = snprintf(reply, sizeof(reply), "%s%08x%s", c->inbox, (unsigned)r->idx, r->rnd);
    rc = nats_client_publish(c, subject, span_make(reply, (size_t)n), hdr, payload);
    if (rc != 0) {
        release(c, r);
        return rc;
    }
    r->gen++;
    r->active = true;
    r->fn = fn;
    r->cookie = cookie;
    loop_timer_start(c->loop, &r->timer, timeout_ms);
    if (id)
        *id = (uint64_t)r->gen << 32 | r->idx;
    return 0;
}

int nats_client_request_cancel(struct nats_client *c, uint64_t id)
{
    uint32_t idx = (uint32_t)id, gen = (uint32_t)(id >> 32);
    if (idx >= c->req_nchunks * NATS_CLIENT_REQ_CHUNK)
        return -ENOENT;
    struct nats_req *r = slot(c, idx);
    if (!r->active || r->gen != gen)
        return -ENOENT;
    release(c, r);
    nats_client_req_done_hook(c);
    return 0;
}

void nats_client_req_fail_all(struct nats_client *c, int err)
{
    for (size_t i = 0; i < c->req_nchunks * NATS_CLIENT_REQ_CHUNK; i++) {
        struct nats_req *r = slot(c, (uint32_t)i);
        if (r->active)
            complete(c, r, err, NULL);
    }
}

void nats_client_req_free_all(struct nats_client *c)
{
    for (size_t k = 0; k < c->req_nchunks; k++) {
        for (size_t i = 0; i < NATS_CLIENT_REQ_CHUNK; i++)
            loop_timer_stop(c->loop, &c->req_chunks[k][i].timer);
        free(c->req_chunks[k]);
    }
    free(c->req_chunks);
    c->req_chunks = NULL;
    c->req_nchunks = 0;
    c->req_active = 0;
}
