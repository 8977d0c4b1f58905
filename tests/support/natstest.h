/*
 * tests/support/natstest.h — helpers for tests of the NATS client
 * (proto/nats_client.h) against real nats-server instances.
 *
 * Everything is bounded in time: natstest_run_until drives the loop until
 * a condition holds or the deadline passes, and every helper that waits
 * goes through it. Event and message recorders count what the client
 * reported so tests can assert on exact numbers.
 */
#ifndef H8S_TESTS_SUPPORT_NATSTEST_H
#define H8S_TESTS_SUPPORT_NATSTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/loop.h"
#include "proto/nats_client.h"

/* Default deadline of a wait, in milliseconds. */
#define NATSTEST_WAIT_MS 10000
/* Messages a recorder keeps (payload prefix and subject). */
#define NATSTEST_MSGS_MAX 4096
#define NATSTEST_KEEP 64

/* Counts of connection events, filled by natstest_events_ops. */
struct natstest_events {
    int connected, disconnected, reconnected, closed, drained, errors;
    int last_disconnect_err;
    int last_error;
    char last_error_text[256];
};

/* Callbacks recording into the struct natstest_events given as cookie. */
extern const struct nats_client_events natstest_events_ops;

/* A subscription callback's record: cookie must be a struct natstest_msgs. */
struct natstest_msgs {
    size_t count;
    uint64_t bytes;
    size_t kept; /* min(count, NATSTEST_MSGS_MAX) */
    struct {
        char subject[NATSTEST_KEEP];
        char reply[NATSTEST_KEEP];
        uint8_t payload[NATSTEST_KEEP];
        size_t payload_len;
        size_t hdr_len;
        uint8_t hdr[256];
    } m[NATSTEST_MSGS_MAX];
};

/* nats_client_msg_fn recording into the natstest_msgs given as cookie. */
void natstest_on_msg(struct nats_client *c, struct nats_sub *sub, const struct nats_msg *m,
                     void *cookie);

/* Creates a loop with defaults; fails the test on error. */
struct loop *natstest_loop(void);

/*
 * Runs l until done(arg) returns true (checked after every iteration) or
 * timeout_ms passes. done may be NULL (just run for timeout_ms). Returns
 * true when done held.
 */
bool natstest_run_until(struct loop *l, bool (*done)(void *arg), void *arg, int timeout_ms);

/* Runs l for ms milliseconds. */
void natstest_run_for(struct loop *l, int ms);

/*
 * Fills *cfg with test defaults: urls, the given events recorder, quick
 * reconnects (20 ms steps, 200 ms cap, 10 ms jitter), 1 s connect timeout.
 */
void natstest_config(struct nats_client_config *cfg, const char *urls, struct natstest_events *ev);

/* Creates and connects a client with cfg; fails the test on error. */
struct nats_client *natstest_client(struct loop *l, const struct nats_client_config *cfg);

/* Waits until ev->connected + ev->reconnected reaches n. */
bool natstest_wait_up(struct loop *l, struct natstest_events *ev, int n);

/* Flushes c and waits for the PONG; returns the flush result (0 or NATS_E_*). */
int natstest_flush(struct loop *l, struct nats_client *c);

/* Waits until msgs->count reaches n. */
bool natstest_wait_msgs(struct loop *l, struct natstest_msgs *msgs, size_t n, int timeout_ms);

#endif
