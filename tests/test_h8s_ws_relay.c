/*
 * tests/test_h8s_ws_relay.c — proto/h8s_ws_relay.c against a real
 * nats-server: two relays (a gateway's and an agent's) on one loop, each
 * with its own NATS client, registry and inbox subscription, and fake
 * local sides that record what the relay asks of them.
 *
 * Covered: the open/accept exchange; data both ways under a small window
 * (senders blocked and resumed by credits, boundaries and bytes kept); a
 * congested receiver withholding credit until it drains; the close
 * handshake relayed both ways, and the close wait answering the local
 * peer itself; an open nobody answers (timeout); a peer whose
 * subscription vanished (no responders -> 1011); a silent peer (1011
 * after dead_ms); a message for an id the other side does not know
 * (abort -> 1011) and an accept arriving after the gateway gave up
 * (abort 1001 to the agent); shutdown detaching every relay.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/loop.h"
#include "core/rand.h"
#include "proto/h8s_ws.h"
#include "proto/h8s_ws_relay.h"
#include "proto/nats_client.h"
#include "proto/nats_hdr.h"
#include "proto/subject.h"
#include "proto/ws_frame.h"
#include "tests/support/loop_harness.h"
#include "tests/support/natsd.h"
#include "tests/support/natstest.h"

#define WAIT_MS 10000
#define NB 64

/* A fake local side: records what the relay asks of it. */
struct side {
    struct h8s_ws_relay r;
    uint8_t got[1 << 20];
    size_t got_n;
    unsigned msgs, chunks, bad_op;
    unsigned cur_op;
    unsigned closes, close_code;
    char close_reason[128];
    unsigned resumes;
    int congested;
    unsigned open_replies;
    enum h8s_ws_event_type open_ev;
    int open_null;
    enum h8s_ws_kind open_kind;
};

static struct side *side_of(struct h8s_ws_relay *r)
{
    return LOOP_CONTAINER_OF(r, struct side, r);
}

static int s_send(struct h8s_ws_relay *r, unsigned opcode, const uint8_t *p, size_t n, int fin)
{
    struct side *s = side_of(r);
    if (s->cur_op && s->cur_op != opcode)
        s->bad_op++;
    s->cur_op = fin ? 0 : opcode;
    assert_true(s->got_n + n <= sizeof(s->got));
    if (n)
        memcpy(s->got + s->got_n, p, n);
    s->got_n += n;
    s->chunks++;
    s->msgs += fin;
    return 0;
}

static int s_close(struct h8s_ws_relay *r, unsigned code, struct span reason)
{
    struct side *s = side_of(r);
    s->closes++;
    s->close_code = code;
    snprintf(s->close_reason, sizeof(s->close_reason), "%.*s", (int)reason.n,
             (const char *)reason.p);
    return 0;
}

static void s_resume(struct h8s_ws_relay *r)
{
    side_of(r)->resumes++;
}

static int s_congested(struct h8s_ws_relay *r)
{
    return side_of(r)->congested;
}

static void s_open_reply(struct h8s_ws_relay *r, enum h8s_ws_event_type ev,
                         const struct h8s_ws_msg *m)
{
    struct side *s = side_of(r);
    s->open_replies++;
    s->open_ev = ev;
    s->open_null = m == NULL;
    s->open_kind = m ? m->kind : H8S_WS_HTTP;
}

static const struct h8s_ws_relay_ops side_ops = {s_send, s_close, s_resume, s_congested,
                                                 s_open_reply};

/* One daemon: a NATS client, a registry, an inbox. */
struct hop {
    struct nats_client *nc;
    struct natstest_events ev;
    struct h8s_ws_relays set;
    struct h8s_ws_relay *buckets[NB];
    char id[RAND_ID_LEN + 1];
    struct nats_sub *inbox;
    unsigned unknown;
};

struct fx {
    struct natsd *d;
    struct loop *l;
    struct rand_pool rp;
    struct hop gw, ag;
    struct side *g, *a;
    struct h8s_ws_relay_config cfg;
};

static struct span last_token(struct span s)
{
    size_t i = s.n;
    while (i > 0 && s.p[i - 1] != '.')
        i--;
    return span_make(s.p + i, s.n - i);
}

static void on_inbox(struct nats_client *c, struct nats_sub *sub, const struct nats_msg *m,
                     void *cookie)
{
    struct hop *h = cookie;
    struct span id = last_token(m->subject);
    (void)c;
    (void)sub;
    if (h8s_ws_relays_find(&h->set, id) == NULL)
        h->unknown++;
    h8s_ws_relays_dispatch(&h->set, id, m);
}

static void hop_start(struct fx *f, struct hop *h)
{
    struct nats_client_config cfg;
    uint8_t inbox[SUBJECT_REPLY_MAX];
    int n;

    assert_int_equal(rand_id(&f->rp, h->id, RAND_ID_LEN), 0);
    natstest_config(&cfg, natsd_url(f->d), &h->ev);
    h->nc = natstest_client(f->l, &cfg);
    assert_true(natstest_wait_up(f->l, &h->ev, 1));
    h8s_ws_relays_init(&h->set, h->buckets, NB, h->nc);
    n = subject_reply_wildcard(inbox, sizeof(inbox), span_cstr(h->id));
    assert_true(n > 0);
    assert_int_equal(nats_client_subscribe(h->nc, span_make(inbox, (size_t)n), span_make(NULL, 0),
                                           on_inbox, h, &h->inbox),
                     0);
    assert_int_equal(natstest_flush(f->l, h->nc), 0);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    *state = f;
    if (natsd_start(&f->d, NULL) != 0)
        return -1;
    f->l = natstest_loop();
    rand_pool_init(&f->rp);
    hop_start(f, &f->gw);
    hop_start(f, &f->ag);
    f->g = calloc(1, sizeof(*f->g));
    f->a = calloc(1, sizeof(*f->a));
    h8s_ws_config_defaults(&f->cfg.tunnel);
    f->cfg.tunnel.window = 4096;
    f->cfg.tunnel.max_message = 1 << 20;
    f->cfg.tunnel.heartbeat_ms = 100;
    f->cfg.tunnel.dead_ms = 400;
    f->cfg.tunnel.close_ms = 300;
    f->cfg.chunk_max = 1000;
    f->cfg.open_timeout_ms = 300;
    return f->g && f->a ? 0 : -1;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (f->gw.nc) {
        h8s_ws_relays_shutdown(&f->gw.set);
        h8s_ws_relays_shutdown(&f->ag.set);
        nats_client_destroy(f->gw.nc);
        nats_client_destroy(f->ag.nc);
    }
    loop_destroy(f->l);
    natsd_stop(f->d);
    free(f->g);
    free(f->a);
    free(f);
    return 0;
}

static void run_until(struct fx *f, const unsigned *counter, unsigned want)
{
    uint64_t end = lh_mono_ms() + WAIT_MS;
    while (*counter < want && lh_mono_ms() < end)
        loop_run_once(f->l, 5);
    assert_true(*counter >= want);
}

static void run_for(struct fx *f, unsigned ms)
{
    uint64_t end = lh_mono_ms() + ms;
    while (lh_mono_ms() < end)
        loop_run_once(f->l, 5);
}

/* The gateway's relay opens; the agent's accepts, as the daemons do. */
static void open_pair(struct fx *f)
{
    char gid[RAND_ID_LEN + 1], aid[RAND_ID_LEN + 1];
    uint8_t buf[1024];
    struct nats_hdr_builder b;
    struct span hdr;

    assert_int_equal(rand_id(&f->rp, gid, RAND_ID_LEN), 0);
    assert_int_equal(rand_id(&f->rp, aid, RAND_ID_LEN), 0);
    assert_int_equal(h8s_ws_relay_init(&f->g->r, f->l, f->gw.nc, &f->gw.set, &f->cfg, &side_ops,
                                       span_cstr(f->gw.id), span_cstr(gid)),
                     0);
    struct side *dup = calloc(1, sizeof(*dup));
    assert_non_null(dup);
    assert_int_equal(h8s_ws_relay_init(&dup->r, f->l, f->gw.nc, &f->gw.set, &f->cfg, &side_ops,
                                       span_cstr(f->gw.id), span_cstr(gid)),
                     -EEXIST);
    free(dup);
    h8s_ws_relay_opening(&f->g->r);
    /* The agent took the open (credit: the gateway's window). */
    assert_int_equal(h8s_ws_relay_init(&f->a->r, f->l, f->ag.nc, &f->ag.set, &f->cfg, &side_ops,
                                       span_cstr(f->ag.id), span_cstr(aid)),
                     0);
    assert_int_equal(h8s_ws_relay_start(&f->a->r, span_make(f->g->r.own, f->g->r.own_len),
                                        h8s_ws_tunnel_granted(&f->g->r.t)),
                     0);
    nats_hdr_build_init(&b, buf, sizeof(buf), 0, span_make(NULL, 0));
    assert_int_equal(h8s_ws_add_accept(&b, span_make(f->a->r.own, f->a->r.own_len),
                                       span_make(NULL, 0), h8s_ws_tunnel_granted(&f->a->r.t)),
                     0);
    assert_int_equal(nats_hdr_build_finish(&b, &hdr), 0);
    assert_int_equal(nats_client_publish(f->ag.nc, span_make(f->g->r.own, f->g->r.own_len),
                                         span_make(f->a->r.own, f->a->r.own_len), hdr,
                                         span_make(NULL, 0)),
                     0);
    run_until(f, &f->g->open_replies, 1);
    assert_int_equal(f->g->open_ev, H8S_WS_EV_ACCEPTED);
    assert_int_equal(f->g->r.t.state, H8S_WS_ST_OPEN);
}

/* Sends len bytes of stream seed from one side through its relay as one
 * message, resuming whenever the relay blocks. */
static void send_message(struct fx *f, struct side *s, unsigned op, uint64_t seed, size_t len)
{
    uint8_t *buf = malloc(len + 1);
    size_t off = 0;
    uint64_t end = lh_mono_ms() + WAIT_MS;

    assert_non_null(buf);
    lh_stream_fill(seed, 0, buf, len);
    for (;;) {
        unsigned resumes = s->resumes;
        size_t k = h8s_ws_relay_local_message(&s->r, op, span_make(buf + off, len - off), 1);
        if (k != H8S_WS_RELAY_WAIT)
            off += k;
        if (off == len && k != H8S_WS_RELAY_WAIT)
            break;
        /* Blocked: wait for ops->resume. */
        while (s->resumes == resumes && lh_mono_ms() < end)
            loop_run_once(f->l, 5);
        assert_true(s->resumes > resumes);
    }
    free(buf);
}

/* --------------------------------------------------------------- tests */

static void test_flow(void **state)
{
    struct fx *f = *state;

    open_pair(f);
    /* 200 KiB each way under a 4 KiB window: many blocks and resumes. */
    send_message(f, f->g, WS_OP_BINARY, 1, 200000);
    send_message(f, f->a, WS_OP_TEXT, 2, 0); /* an empty message */
    send_message(f, f->a, WS_OP_BINARY, 3, 150000);
    run_until(f, &f->a->msgs, 1);
    run_until(f, &f->g->msgs, 2);
    assert_int_equal(f->a->got_n, 200000);
    assert_int_equal(lh_stream_check(1, 0, f->a->got, 200000), 0);
    assert_int_equal(f->g->got_n, 150000);
    assert_int_equal(lh_stream_check(3, 0, f->g->got, 150000), 0);
    assert_true(f->g->resumes > 10 && f->a->resumes > 10);
    assert_int_equal(f->a->bad_op + f->g->bad_op, 0);
    /* Chunks never exceed chunk_max. */
    assert_true(f->a->chunks >= 200);

    /* A congested receiver grants nothing: the sender stays blocked, the
     * heartbeats keep the same credit; drained, it grants again. */
    f->a->congested = 1;
    uint8_t blob[3000];
    memset(blob, 'c', sizeof(blob));
    for (int i = 0; i < 10; i++) {
        size_t k = h8s_ws_relay_local_message(&f->g->r, WS_OP_BINARY, span_make(blob, 3000), 1);
        if (k == H8S_WS_RELAY_WAIT || k < 3000)
            break;
        run_for(f, 20);
    }
    unsigned resumes = f->g->resumes;
    run_for(f, 500); /* several heartbeats */
    assert_int_equal(f->g->resumes, resumes);
    assert_true(f->g->r.blocked);
    assert_int_equal(f->a->r.t.rx_credit - f->a->r.t.rx_cost <= 4096, 1);
    f->a->congested = 0;
    h8s_ws_relay_local_drained(&f->a->r);
    run_until(f, &f->g->resumes, resumes + 1);
    assert_int_equal(f->gw.unknown + f->ag.unknown, 0);
    h8s_ws_relay_release(&f->g->r, WS_CLOSE_GOING_AWAY, "client gone");
    run_until(f, &f->a->closes, 1);
    assert_int_equal(f->a->close_code, WS_CLOSE_GOING_AWAY);
    assert_string_equal(f->a->close_reason, "client gone");
}

static void test_close_relayed(void **state)
{
    struct fx *f = *state;

    /* The client closes; the app answers: both see the other's Close. */
    open_pair(f);
    h8s_ws_relay_local_close(&f->g->r, 4000, SPAN_LIT("bye"));
    run_until(f, &f->a->closes, 1);
    assert_int_equal(f->a->close_code, 4000);
    assert_string_equal(f->a->close_reason, "bye");
    h8s_ws_relay_local_close(&f->a->r, 4000, SPAN_LIT("see you"));
    assert_true(h8s_ws_tunnel_done(&f->a->r.t));
    run_until(f, &f->g->closes, 1);
    assert_int_equal(f->g->close_code, 4000);
    assert_string_equal(f->g->close_reason, "see you");
    assert_true(h8s_ws_tunnel_done(&f->g->r.t));
    h8s_ws_relay_release(&f->g->r, WS_CLOSE_GOING_AWAY, "client gone");
    h8s_ws_relay_release(&f->a->r, WS_CLOSE_INTERNAL, "backend gone");
    run_for(f, 100);
    assert_int_equal(f->a->closes, 1); /* nothing after the handshake */
    assert_int_equal(f->gw.set.count + f->ag.set.count, 0);

    /* The app never answers: after close_ms the gateway answers its client
     * with the client's own code. */
    memset(f->g, 0, sizeof(*f->g));
    memset(f->a, 0, sizeof(*f->a));
    open_pair(f);
    h8s_ws_relay_local_close(&f->g->r, 4001, SPAN_LIT("hello?"));
    run_until(f, &f->a->closes, 1);
    uint64_t t0 = lh_mono_ms();
    run_until(f, &f->g->closes, 1);
    assert_true(lh_mono_ms() - t0 >= 200);
    assert_int_equal(f->g->close_code, 4001);
    assert_string_equal(f->g->close_reason, "hello?");
    assert_true(h8s_ws_tunnel_done(&f->g->r.t));
}

static void test_open_timeout(void **state)
{
    struct fx *f = *state;
    uint64_t t0 = lh_mono_ms();

    assert_int_equal(h8s_ws_relay_init(&f->g->r, f->l, f->gw.nc, &f->gw.set, &f->cfg, &side_ops,
                                       span_cstr(f->gw.id), SPAN_LIT("nobodyAnswers0123456789")),
                     -EINVAL); /* 23 characters: not an id we make */
    assert_int_equal(h8s_ws_relay_init(&f->g->r, f->l, f->gw.nc, &f->gw.set, &f->cfg, &side_ops,
                                       span_cstr(f->gw.id), SPAN_LIT("nobodyAnswers012345678")),
                     0);
    h8s_ws_relay_opening(&f->g->r);
    run_until(f, &f->g->open_replies, 1);
    assert_int_equal(f->g->open_ev, H8S_WS_EV_REFUSED);
    assert_true(f->g->open_null);
    assert_true(lh_mono_ms() - t0 >= 250);
}

static void test_peer_gone(void **state)
{
    struct fx *f = *state;
    uint64_t t0;

    /* The agent's subscription vanishes: the next heartbeat gets no
     * responders and the gateway ends the tunnel with 1011 at once. */
    open_pair(f);
    nats_client_unsubscribe(f->ag.nc, f->ag.inbox, 0);
    assert_int_equal(natstest_flush(f->l, f->ag.nc), 0);
    t0 = lh_mono_ms();
    run_until(f, &f->g->closes, 1);
    assert_int_equal(f->g->close_code, WS_CLOSE_INTERNAL);
    assert_non_null(strstr(f->g->close_reason, "no responders"));
    assert_true(lh_mono_ms() - t0 < 400); /* before dead_ms: it was the 503 */
    h8s_ws_relays_shutdown(&f->ag.set);
}

static void test_peer_silent(void **state)
{
    struct fx *f = *state;

    /* The agent stops talking but stays subscribed: dead_ms later, 1011. */
    open_pair(f);
    loop_timer_stop(f->l, &f->a->r.timer);
    f->a->r.released = 1; /* frozen: no heartbeat, ignores everything */
    uint64_t t0 = lh_mono_ms();
    run_until(f, &f->g->closes, 1);
    assert_int_equal(f->g->close_code, WS_CLOSE_INTERNAL);
    assert_string_equal(f->g->close_reason, "the other hop is silent");
    assert_true(lh_mono_ms() - t0 >= 300);
    f->a->r.released = 0;
}

static void test_unknown_ids(void **state)
{
    struct fx *f = *state;
    uint8_t buf[1024];
    struct nats_hdr_builder b;
    struct span hdr;
    char late[SUBJECT_REPLY_MAX];

    /* The gateway talks to an agent subject nobody there knows: the agent
     * answers an abort, the gateway ends with 1011. */
    assert_int_equal(h8s_ws_relay_init(&f->g->r, f->l, f->gw.nc, &f->gw.set, &f->cfg, &side_ops,
                                       span_cstr(f->gw.id), SPAN_LIT("gatewayConnection00001")),
                     0);
    h8s_ws_relay_opening(&f->g->r);
    snprintf(late, sizeof(late), "_INBOX.h8s.%s.forgottenConnection000", f->ag.id);
    nats_hdr_build_init(&b, buf, sizeof(buf), 0, span_make(NULL, 0));
    assert_int_equal(h8s_ws_add_accept(&b, span_cstr(late), span_make(NULL, 0), 4096), 0);
    assert_int_equal(nats_hdr_build_finish(&b, &hdr), 0);
    assert_int_equal(nats_client_publish(f->ag.nc, span_make(f->g->r.own, f->g->r.own_len),
                                         span_cstr(late), hdr, span_make(NULL, 0)),
                     0);
    run_until(f, &f->g->open_replies, 1);
    assert_int_equal(h8s_ws_relay_local_message(&f->g->r, WS_OP_TEXT, SPAN_LIT("anyone?"), 1), 7);
    run_until(f, &f->g->closes, 1);
    assert_int_equal(f->g->close_code, WS_CLOSE_INTERNAL);
    assert_string_equal(f->g->close_reason, "the other hop dropped the connection");
    assert_int_equal(f->ag.unknown, 1);
    h8s_ws_relay_release(&f->g->r, WS_CLOSE_GOING_AWAY, "client gone");

    /* An accept after the gateway gave up (client gone while opening): the
     * agent gets an abort 1001 and closes its app connection with it. */
    memset(f->g, 0, sizeof(*f->g));
    assert_int_equal(h8s_ws_relay_init(&f->g->r, f->l, f->gw.nc, &f->gw.set, &f->cfg, &side_ops,
                                       span_cstr(f->gw.id), SPAN_LIT("gatewayConnection00002")),
                     0);
    h8s_ws_relay_opening(&f->g->r);
    h8s_ws_relay_release(&f->g->r, WS_CLOSE_GOING_AWAY, "client gone");
    assert_int_equal(h8s_ws_relay_init(&f->a->r, f->l, f->ag.nc, &f->ag.set, &f->cfg, &side_ops,
                                       span_cstr(f->ag.id), SPAN_LIT("agentConnection0000001")),
                     0);
    assert_int_equal(h8s_ws_relay_start(&f->a->r, span_make(f->g->r.own, f->g->r.own_len), 4096),
                     0);
    nats_hdr_build_init(&b, buf, sizeof(buf), 0, span_make(NULL, 0));
    assert_int_equal(
        h8s_ws_add_accept(&b, span_make(f->a->r.own, f->a->r.own_len), span_make(NULL, 0), 4096),
        0);
    assert_int_equal(nats_hdr_build_finish(&b, &hdr), 0);
    assert_int_equal(nats_client_publish(f->ag.nc, span_make(f->g->r.own, f->g->r.own_len),
                                         span_make(f->a->r.own, f->a->r.own_len), hdr,
                                         span_make(NULL, 0)),
                     0);
    run_until(f, &f->a->closes, 1);
    assert_int_equal(f->a->close_code, WS_CLOSE_GOING_AWAY);
    assert_int_equal(f->gw.unknown, 1);
    assert_int_equal(f->g->open_replies, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_flow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_relayed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_peer_gone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_peer_silent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_ids, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
