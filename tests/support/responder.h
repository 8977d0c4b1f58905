/*
 * tests/support/responder.h — NATS responders written directly against our
 * NATS client, for gateway tests: a loop and a client on their own thread,
 * to which a test adds subscriptions whose callbacks answer requests the
 * way any responder (a plain one, the Go h8s, our agent) would.
 *
 * Threads: callbacks, timers and every function marked "responder thread"
 * run on the responder's thread. The test thread uses responder_start,
 * responder_sub, responder_call and responder_stop; state shared with
 * callbacks must be atomic or protected by the test.
 *
 * Every wait is bounded (RESPONDER_WAIT_MS); failures return -errno.
 */
#ifndef H8S_TESTS_SUPPORT_RESPONDER_H
#define H8S_TESTS_SUPPORT_RESPONDER_H

#include <stddef.h>
#include <stdint.h>

#include "proto/nats_client.h"
#include "proto/nats_hdr.h"
#include "proto/span.h"

#define RESPONDER_WAIT_MS 10000

struct responder;

/* A message for a subscription (responder thread; spans valid during the
 * call only). */
typedef void (*responder_fn)(struct responder *r, const struct nats_msg *m, void *arg);

/* Starts the thread, connects to url and waits until connected. */
int responder_start(struct responder **out, const char *url);

/* Stops the thread and frees everything. NULL is a no-op. */
void responder_stop(struct responder *r);

/*
 * Subscribes (in queue group queue when not NULL) and returns once the
 * server has seen the subscription (a flush round trip), so a request
 * published afterwards by anyone reaches it.
 */
int responder_sub(struct responder *r, const char *subject, const char *queue, responder_fn fn,
                  void *arg);

/* Runs fn(r, arg) on the responder thread and waits for it to return. */
int responder_call(struct responder *r, void (*fn)(struct responder *r, void *arg), void *arg);

/* Responder thread: publishes (hdr and payload may be empty). Returns the
 * nats_client result. */
int responder_pub(struct responder *r, struct span subject, struct span hdr, struct span payload);

/* Responder thread: runs fn(r, arg) once after ms milliseconds. A timer
 * still pending when the responder stops is dropped without running. */
int responder_after(struct responder *r, unsigned ms, void (*fn)(struct responder *r, void *arg),
                    void *arg);

/* The same, and arg (from malloc) is freed after fn runs, or at stop. */
int responder_after_owned(struct responder *r, unsigned ms,
                          void (*fn)(struct responder *r, void *arg), void *arg);

/* Responder thread: a fresh random token usable in a subject. */
void responder_token(struct responder *r, char out[23]);

/* The client, for anything else (responder thread only). */
struct nats_client *responder_client(struct responder *r);

/*
 * First value of header name (case-insensitive) in m's header block, as
 * a NUL-terminated copy in out (cap bytes, truncated). Returns 1 when
 * found, 0 otherwise.
 */
int responder_hdr(const struct nats_msg *m, const char *name, char *out, size_t cap);

/* Number of values of header name (case-insensitive) in m. */
int responder_hdr_count(const struct nats_msg *m, const char *name);

#endif
